"""Exact stationary law of the finite-step SGD / ULA chain on a grid (theory.md §5, last paragraph).

The transition kernel of x ← x - γ(∇f(x) + Z) is discretised on the grid nodes: from node x_i the
next state is the node whose cell holds the continuous update — cell-integrated Gaussian increments
(N(x_i - γ∇f(x_i), γ² a(x_i)); ULA: N(x_i - γ∇f, 2γε I)), or the finite sum's atoms (each landing
point split linearly between its neighbouring nodes). Mass leaving the grid is kept in the boundary
cells and reported. The stationary vector comes from the Grassmann–Taksar–Heyman algorithm (state
reduction without subtractions: stable for the nearly decomposable chains of small γ), on a
profile-stored matrix (rows keep a column interval, extended by fill-in).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components
from scipy.special import ndtr

from fwpotential import _progress
from fwpotential.errors import ConvergenceError, GridError, InputError
from fwpotential.geometry.grid import Grid
from fwpotential.stationary.gth import gth_stationary

__all__ = ["stationary_chain", "StationaryChain"]

MAX_ATOMS = 20_000
WINDOW = 8.0  # Gaussian rows are cut at ±WINDOW standard deviations (mass beyond < 1.3e-15)


@dataclass(frozen=True, repr=False)
class StationaryChain:
    """Stationary law of the discretised finite-γ chain.

    Attributes
    ----------
    probabilities : ndarray (grid shape)
        Stationary probability of each node (sums to 1).
    density : ndarray (grid shape)
        probabilities / cell volume.
    grid : Grid
    step_size : float
    info : dict
        n_states, kernel ("gaussian" or "atoms"), boundary_mass (largest one-step mass of a row that
        left the grid and was kept in a boundary cell), boundary_flux (the same weighted by the
        stationary law), seconds.
    """

    probabilities: np.ndarray
    density: np.ndarray
    grid: Grid
    step_size: float
    info: dict = field(default_factory=dict)

    def basin_masses(self, land) -> np.ndarray:
        """Stationary mass of each basin of ``land`` (nearest node of ``land.grid``), shape (m + 1,):
        entry i for attractor i, the last entry no basin or off the landscape's grid (as
        :meth:`FokkerPlanck.basin_masses` and :attr:`Occupation.fractions`)."""
        m = len(np.atleast_2d(land.attractors))
        pts = self.grid.points().reshape(-1, self.grid.dim)
        flat = land.grid.flat_index(pts)
        inside = flat >= 0
        lab = np.asarray(land.basins).reshape(-1)[np.where(inside, flat, 0)]
        lab = np.where(inside & (lab >= 0) & (lab < m), lab, m)
        return np.bincount(lab, weights=self.probabilities.reshape(-1), minlength=m + 1)

    def moments(self):
        """Mean (d,) and covariance (d, d) of the stationary law on the nodes."""
        pts = self.grid.points().reshape(-1, self.grid.dim)
        p = self.probabilities.reshape(-1)
        mu = p @ pts
        c = pts - mu
        return mu, (c * p[:, None]).T @ c

    def __repr__(self):
        return f"StationaryChain(γ={self.step_size:g}, {self.grid!r}, boundary mass {self.info.get('boundary_mass', 0):.2g})"


@_progress.tracked("stationary_chain", unit="stage")
def stationary_chain(dynamics, step_size, grid, *, temperature=None, max_states=6000, progress=None) -> StationaryChain:
    """Stationary law of the SGD (or ULA) chain with step ``step_size`` discretised on ``grid``.

    Parameters
    ----------
    dynamics : Dynamics
        ``fw.sgd`` with Gaussian or finite-sum noise, or ``fw.langevin``.
    step_size : float
        γ.
    grid : Grid
        1-D, or 2-D with at most ``max_states`` nodes. Choose it fine against the increment's
        standard deviation γ√a and wide enough that little mass leaves it (``info['boundary_mass']``).
    temperature : float, optional
        Langevin only: ε (default γ), as in :func:`simulate`.
    progress : bool, optional
        A progress bar on stderr, per stage: by default when stderr is a terminal and the call runs
        over ~2 s; True always, False never.

    Returns
    -------
    StationaryChain

    Raises
    ------
    GridError
        Grid of dimension > 2 or with more than ``max_states`` nodes.
    InputError
        Noise with no discretisable kernel (custom samplers, matrix-valued 2-D covariance is fine).
    ConvergenceError
        The discretised chain is not irreducible (a state cannot reach lower-numbered ones).
    """
    t0 = time.perf_counter()
    gamma = _check_args(dynamics, step_size, grid, temperature, max_states)
    _progress.advance(text="transition kernel")
    rows, cov, kernel = _transition_rows(dynamics, gamma, grid, temperature)
    _progress.advance(text="GTH")
    try:
        keep, n_transient = _closed_class(rows.lo, rows.seg, grid.size)
    except ConvergenceError as exc:
        raise ConvergenceError(f"{exc}; {_closed_class_advice(grid, gamma, cov)}") from None
    pi = np.zeros(grid.size)
    pi[keep] = _gth(rows.lo, rows.seg, keep)
    P = pi.reshape(grid.shape)
    info = {
        "n_states": grid.size,
        "kernel": kernel,
        "boundary_mass": float(rows.lost.max()),
        "boundary_flux": float(pi @ rows.lost),
        "transient_states": n_transient,
        "seconds": time.perf_counter() - t0,
        "method": "gth",
    }
    return StationaryChain(
        probabilities=P, density=P / float(np.prod(grid.spacing)), grid=grid, step_size=gamma, info=info
    )


def _check_args(dynamics, step_size, grid, temperature, max_states):
    """γ as a float, or the error that says which argument breaks which rule."""
    gamma = float(step_size)
    if not (gamma > 0 and math.isfinite(gamma)):
        raise InputError(f"step_size must be a positive number, got {step_size!r}")
    if grid.dim != dynamics.dim:
        raise GridError(f"grid is {grid.dim}-D, dynamics {dynamics.dim}-D")
    if grid.dim > 2 or grid.size > max_states:
        raise GridError(
            f"stationary_chain handles 1-D grids and small 2-D grids (<= max_states={max_states} nodes), "
            f"got {grid!r}; use fw.simulate for larger problems"
        )
    if dynamics.kind not in ("sgd", "langevin") or dynamics.loss is None:
        raise InputError(f"stationary_chain needs fw.sgd(...) or fw.langevin(...) dynamics, got kind={dynamics.kind!r}")
    if temperature is not None and dynamics.kind != "langevin":
        raise InputError("temperature= is for Langevin dynamics")
    return gamma


class _Rows(NamedTuple):
    """Profile-stored transition matrix: row i holds columns lo[i]..hi[i] as seg[i]; lost[i] is the
    one-step mass of row i that left the grid (kept in a boundary cell)."""

    lo: np.ndarray
    hi: np.ndarray
    seg: list
    lost: np.ndarray


def _transition_rows(dynamics, gamma, grid, temperature):
    """The chain's rows on the grid, the per-node increment covariance (n, d, d) and the kernel's name."""
    pts = grid.points().reshape(-1, grid.dim)
    mean = pts - gamma * dynamics.loss.grad(pts)
    noise = dynamics.noise
    eps = gamma if temperature is None else float(temperature)
    masses = None if dynamics.kind == "langevin" else _point_masses(noise, pts)
    if masses is not None:
        atoms, w = masses
        rows = _atom_rows(grid, mean[:, None, :] - gamma * atoms, w)
        cov = gamma**2 * noise.cov(pts)
        kernel = f"atoms ({atoms.shape[1]} per node)"
    elif noise.is_gaussian:  # N(x - γ∇f, γ² a) for SGD, N(x - γ∇f, γ ε a) = N(x - γ∇f, 2γε I) for ULA
        cov = (gamma * eps if dynamics.kind == "langevin" else gamma**2) * dynamics.noise_cov(pts)
        rows = _gaussian_rows(grid, mean, cov)
        kernel = f"gaussian (ULA, ε={eps:g})" if dynamics.kind == "langevin" else "gaussian"
    else:
        raise InputError(
            f"stationary_chain needs Gaussian or finite-sum noise, got {noise.describe()}; use fw.simulate"
        )
    return _Rows(*rows), cov, kernel


def _coo(lo, seg):
    """Row, column and value of every stored entry of the rows ``seg`` (row i from column lo[i])."""
    rows = np.repeat(np.arange(len(seg)), [len(r) for r in seg])
    cols = np.concatenate([lo[i] + np.arange(len(r)) for i, r in enumerate(seg)])
    return rows, cols, np.concatenate(seg)


def _closed_class(lo, seg, n):
    """States of the unique closed communicating class (sorted) and the number left out (transient:
    e.g. beyond the reach of bounded finite-sum noise, where V = +inf)."""
    rows, cols, vals = _coo(lo, seg)
    nz = vals > 0
    G = csr_matrix((np.ones(int(nz.sum())), (rows[nz], cols[nz])), shape=(n, n))
    n_comp, comp = connected_components(G, directed=True, connection="strong")
    if n_comp == 1:
        return np.arange(n), 0
    leaves = np.ones(n_comp, bool)
    leaves[np.unique(comp[rows[nz]][comp[rows[nz]] != comp[cols[nz]]])] = False
    closed = np.flatnonzero(leaves)
    if len(closed) != 1:
        raise ConvergenceError(
            f"the discretised chain has {len(closed)} closed classes: its stationary law is not unique "
            "(sets of nodes the chain cannot leave)"
        )
    keep = np.flatnonzero(comp == closed[0])
    return keep, n - len(keep)


def _gth(lo, seg, keep):
    """GTH on the sub-chain of the states ``keep`` (a closed class: rows stay stochastic)."""
    n = len(lo)
    rows, cols, vals = _coo(lo, seg)
    if len(keep) < n:
        new = np.full(n, -1, np.int64)
        new[keep] = np.arange(len(keep))
        use = (new[rows] >= 0) & (vals > 0)
        rows, cols, vals = new[rows[use]], new[cols[use]], vals[use]
        if np.any(cols < 0):
            raise ConvergenceError("internal: a closed class leaks")  # pragma: no cover
    pi, status = gth_stationary(len(keep), rows, cols, vals)
    if status != 0:
        raise ConvergenceError("GTH met a state with no way down: the discretised chain is not irreducible")
    return pi


def _closed_class_advice(grid, gamma, cov):
    """What to change when the discretised chain splits into several closed classes."""
    spread = np.sqrt(np.median(np.linalg.eigvalsh(np.asarray(cov))[:, -1]))  # noise per step, typical node
    h = float(np.max(grid.spacing))
    if spread < h:
        n = int(np.ceil(float(np.max(grid.upper - grid.lower)) / (0.5 * spread))) + 1
        return (
            f"the noise moves a chain by about {spread:.3g} per step (γ√a at step_size={gamma:g}), less than the "
            f"cell size h = {h:.3g}, so the discretised chain cannot leave some nodes: refine the grid to "
            f"h <= {0.5 * spread:.3g} (about {n} nodes per dimension), or use a larger step_size"
        )
    return (
        f"the noise per step ({spread:.3g}) exceeds the cell size h = {h:.3g}, so the reachable sets are truly "
        "disconnected (bounded noise): restrict the grid's box to one of them"
    )


def _axis_probs(ax, m, s):
    """Cell probabilities along one axis for N(m, s²): (first index, probs, mass beyond the axis ends)."""
    n = len(ax)
    h = ax[1] - ax[0]
    if s <= 1e-6 * h:  # (nearly) deterministic: split the point linearly
        r = np.clip((m - ax[0]) / h, 0.0, n - 1.0)
        j = min(int(math.floor(r)), n - 2)
        f = r - j
        lost = 1.0 if (m < ax[0] - 0.5 * h or m > ax[-1] + 0.5 * h) else 0.0
        return j, np.array([1.0 - f, f]), lost
    a = int(math.floor((m - WINDOW * s - ax[0]) / h + 0.5))
    b = int(math.floor((m + WINDOW * s - ax[0]) / h + 0.5))
    a, b = min(max(a, 0), n - 1), max(min(b, n - 1), 0)
    if a > b:
        a = b
    j = np.arange(a, b + 1)
    lower = np.where(j == 0, -np.inf, ax[0] + (j - 0.5) * h)
    upper = np.where(j == n - 1, np.inf, ax[0] + (j + 0.5) * h)
    p = ndtr((upper - m) / s) - ndtr((lower - m) / s)
    lost = float(ndtr((ax[0] - 0.5 * h - m) / s) + ndtr((m - ax[-1] - 0.5 * h) / s))
    return a, p, lost


def _gaussian_rows(grid, mean, cov):
    n = grid.size
    lo, hi = np.zeros(n, np.int64), np.zeros(n, np.int64)
    seg, lost = [], np.zeros(n)
    axes = grid.axes
    if grid.dim == 2:
        n1 = grid.shape[1]
    for i in range(n):
        if grid.dim == 1:
            a, p, l0 = _axis_probs(axes[0], mean[i, 0], math.sqrt(max(cov[i, 0, 0], 0.0)))
            lo[i], hi[i] = a, a + len(p) - 1
            seg.append(p / p.sum())
            lost[i] = l0
            continue
        C = cov[i]
        if abs(C[0, 1]) <= 1e-14 * (abs(C[0, 0]) + abs(C[1, 1])):
            a0, p0, l0 = _axis_probs(axes[0], mean[i, 0], math.sqrt(max(C[0, 0], 0.0)))
            a1, p1, l1 = _axis_probs(axes[1], mean[i, 1], math.sqrt(max(C[1, 1], 0.0)))
            block = np.outer(p0, p1)
        else:  # correlated: node density × cell area on the window, renormalised
            s0, s1 = math.sqrt(C[0, 0]), math.sqrt(C[1, 1])
            a0, q0, l0 = _axis_probs(axes[0], mean[i, 0], s0)
            a1, q1, l1 = _axis_probs(axes[1], mean[i, 1], s1)
            x0 = axes[0][a0 : a0 + len(q0)] - mean[i, 0]
            x1 = axes[1][a1 : a1 + len(q1)] - mean[i, 1]
            Ci = np.linalg.inv(C)
            X0, X1 = np.meshgrid(x0, x1, indexing="ij")
            block = np.exp(-0.5 * (Ci[0, 0] * X0**2 + 2 * Ci[0, 1] * X0 * X1 + Ci[1, 1] * X1**2))
        full = np.zeros((block.shape[0] - 1) * n1 + block.shape[1])
        for r in range(block.shape[0]):
            full[r * n1 : r * n1 + block.shape[1]] = block[r]
        lo[i] = a0 * n1 + a1
        hi[i] = lo[i] + len(full) - 1
        seg.append(full / full.sum())
        lost[i] = min(1.0, l0 + l1)
    return lo, hi, seg, lost


def _point_masses(noise, pts):
    """The law's atoms (n, K, d) and weights (K,) at the nodes, or None when it has none."""
    try:
        return noise.point_masses(pts, max_atoms=MAX_ATOMS)
    except InputError as exc:
        raise InputError(f"{exc}; use fw.simulate") from None


def _atom_rows(grid, ys, w):
    """Rows for point masses w_k at ys (n, K, d), each split (multi)linearly between its nodes."""
    n, K, d = ys.shape
    lo, hi = np.zeros(n, np.int64), np.zeros(n, np.int64)
    seg, lost = [], np.zeros(n)
    shape = np.array(grid.shape)
    for i in range(n):
        r = (ys[i] - grid.lower) / grid.spacing  # (K, d)
        out = np.any((r < -0.5) | (r > shape - 0.5), axis=1)
        lost[i] = float(w[out].sum())
        r = np.clip(r, 0.0, shape - 1.0)
        j = np.minimum(np.floor(r).astype(np.int64), shape - 2)
        f = r - j
        idx, wt = [], []
        for corner in range(2**d):
            bits = [(corner >> k) & 1 for k in range(d)]
            jj = j + np.array(bits)
            ww = w * np.prod(np.where(np.array(bits) == 1, f, 1.0 - f), axis=1)
            idx.append(np.ravel_multi_index(tuple(jj.T), grid.shape))
            wt.append(ww)
        idx, wt = np.concatenate(idx), np.concatenate(wt)
        a, b = int(idx.min()), int(idx.max())
        row = np.bincount(idx - a, weights=wt, minlength=b - a + 1)
        lo[i], hi[i] = a, b
        seg.append(row / row.sum())
    return lo, hi, seg, lost
