"""Stable equilibria in any dimension from many starts: L-BFGS on the loss (gradient dynamics) or
the drift followed to rest (any drift), a Newton–Krylov polish, a matrix-free stability check and
deduplication relative to the spread of the points."""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import scipy.optimize as so

from fwpotential.errors import FWWarning, InputError, NonFiniteError
from fwpotential.paths.spectrum import drift_spectrum, polish_equilibrium

__all__ = ["Minima", "find_minima", "dedup_points", "coerce_points"]

#: |Re λ| <= ZERO_TOL × |λ|_max counts as a zero eigenvalue of Db (zero modes of a saddle)
ZERO_TOL = 1e-9
#: a minimum whose smallest |Re λ| is <= FLAT_TOL × |λ|_max is flagged degenerate: at a minimum where f
#: grows like |x|⁴ the curvature at a point with |∇f| = tol is about tol^(2/3), far above ZERO_TOL
FLAT_TOL = 1e-6


@dataclass(frozen=True, repr=False)
class Minima:
    """Distinct stable equilibria found from a set of starts.

    Attributes
    ----------
    points : ndarray (m, d)
        The stable equilibria, sorted by ``values`` then by first coordinate.
    values : ndarray (m,)
        f at the points (NaN when the dynamics has no loss).
    hits : ndarray (m,) of int
        How many starts converged to each.
    info : dict
        ``status`` (counts per start of "stable", "degenerate", "unstable", "not_converged"),
        ``labels`` ((k,) index of the minimum each start reached, -1 for none), ``dedup_tol``,
        ``tol``, ``residuals`` ((m,) |b| at the points), ``max_real_eigenvalue`` ((m,) of Db),
        ``degenerate`` (indices of kept minima with an eigenvalue ≈ 0), ``seconds``, ``warnings``.
    """

    points: np.ndarray
    values: np.ndarray
    hits: np.ndarray
    info: dict = field(default_factory=dict)

    def __len__(self):
        return len(self.points)

    def __repr__(self):
        d = self.points.shape[1] if self.points.ndim == 2 else 0
        return f"Minima({len(self.points)} in d={d}, hits={self.hits.tolist()})"


def coerce_points(x, dim, what):
    """``x`` as a finite float array (..., dim), or InputError naming ``what``."""
    arr = np.asarray(x, dtype=float)
    if arr.ndim == 0 or arr.shape[-1] != dim:
        raise InputError(f"{what} must have shape (..., {dim}) for this {dim}-dimensional dynamics, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{what} must be finite, got NaN or inf entries")
    return arr


def dedup_points(points, tol):
    """Greedy clustering: each point joins the first representative within ``tol`` (Euclidean).
    Returns (representatives (m, d), label per point (n,))."""
    reps, labels = [], np.empty(len(points), dtype=np.int64)
    for i, p in enumerate(points):
        if reps:
            dist = np.linalg.norm(np.asarray(reps) - p, axis=1)
            j = int(np.argmin(dist))
            if dist[j] <= tol:
                labels[i] = j
                continue
        reps.append(p)
        labels[i] = len(reps) - 1
    return np.asarray(reps).reshape(-1, points.shape[1]), labels


def find_minima(dyn, starts, *, tol=None, max_iter=2000, dedup_tol=None) -> Minima:
    """Stable equilibria of ẋ = b(x) reached from ``starts``, deduplicated.

    Gradient dynamics (``dyn.loss`` set, b = -∇f): L-BFGS-B on f with the exact gradient from each
    start. Any other drift: the flow ẋ = b(x) followed by adaptive Heun steps until |b| has fallen
    by 10⁻⁴. Both then polish by Newton–Krylov (Db Δ = -b by MINRES/GMRES on Jacobian–vector
    products) to |b| <= ``tol``. A point is kept when the largest real part of the eigenvalues of
    Db there (Lanczos/Arnoldi, matrix-free above d = 200) is < 0; an eigenvalue within 10⁻⁶ |λ|_max
    of 0 marks it degenerate (kept, listed in ``info["degenerate"]``, with a warning). The points
    of one degenerate minimum of a loss scatter by about tol^(1/3); they are merged when f has no
    barrier on the segment between them.

    Parameters
    ----------
    dyn : Dynamics
    starts : (k, d) or (d,)
        Starting points.
    tol : float, optional
        Target |b(x)| (units of b). Default 1e-10 × max(1, max |b(start)|).
    max_iter : int
        L-BFGS iterations (or Heun steps) per start.
    dedup_tol : float, optional
        Two converged points closer than this are one minimum. Default 1e-6 × (1 + D), D =
        2 max_i |x_i - mean| over the converged points (an upper bound of their diameter).

    Returns
    -------
    Minima

    Raises
    ------
    InputError
        ``starts`` of the wrong shape, empty or not finite; ``tol``/``dedup_tol`` not positive.
    NonFiniteError
        The loss or drift is NaN/inf at a point visited (the message names the point).

    Examples
    --------
    >>> import fwpotential as fw
    >>> dyn = fw.langevin("(x**2 - 1)**2 + y**2")
    >>> m = fw.find_minima(dyn, [[0.5, 0.3], [-0.8, 0.1], [1.5, -0.5]])
    >>> m
    Minima(2 in d=2, hits=[1, 2])
    >>> m.points.round(6) + 0.0
    array([[-1.,  0.],
           [ 1.,  0.]])
    """
    t0 = time.perf_counter()
    X0 = np.atleast_2d(coerce_points(starts, dyn.dim, "starts"))
    if X0.ndim != 2 or len(X0) == 0:
        raise InputError(f"starts must be a non-empty (k, {dyn.dim}) array, got shape {X0.shape}")
    for name, val in (("tol", tol), ("dedup_tol", dedup_tol)):
        if val is not None and not (np.isfinite(val) and val > 0):
            raise InputError(f"{name} must be a positive number, got {val!r}")
    scale = max(1.0, float(np.max(np.linalg.norm(dyn.drift(X0), axis=-1))))
    tol = 1e-10 * scale if tol is None else float(tol)
    X, res = _descend(dyn, X0, tol, int(max_iter))
    done = res <= tol
    status = {"stable": 0, "degenerate": 0, "unstable": 0, "not_converged": int(np.sum(~done))}
    labels = np.full(len(X0), -1, dtype=np.int64)
    pts = X[done]
    if dedup_tol is None:
        spread = 2.0 * float(np.max(np.linalg.norm(pts - pts.mean(axis=0), axis=1))) if len(pts) else 0.0
        dedup_tol = 1e-6 * (1.0 + spread)
    reps, lab = dedup_points(pts, dedup_tol)
    kinds, top = _classify(dyn, reps)
    lab = _merge_flat(dyn, reps, kinds, lab)
    for kind in kinds[lab] if len(lab) else []:
        status[kind] += 1  # merged points map to their root, whose kind is counted
    keep = np.array([k in ("stable", "degenerate") for k in kinds], dtype=bool)
    values = dyn.loss.value(reps) if dyn.loss is not None and len(reps) else np.full(len(reps), np.nan)
    values = np.atleast_1d(values)
    idx = np.flatnonzero(keep)
    key = np.round(np.nan_to_num(values[idx], nan=0.0) / (1.0 + np.max(np.abs(np.nan_to_num(values)), initial=0.0)), 9)
    order = idx[np.lexsort((reps[idx, 0], key))]
    new_index = {int(j): n for n, j in enumerate(order)}
    for i, j in zip(np.flatnonzero(done), lab):
        labels[i] = new_index.get(int(j), -1)
    hits = np.bincount(labels[labels >= 0], minlength=len(order)).astype(np.int64)
    warns = []
    if status["not_converged"]:
        warns.append(f"{status['not_converged']} of {len(X0)} starts did not reach |b| <= {tol:.3g}")
    degenerate = [n for n, j in enumerate(order) if kinds[j] == "degenerate"]
    if degenerate:
        warns.append(f"minima {degenerate} are degenerate: an eigenvalue of Db within {FLAT_TOL:g} |λ|_max of 0")
    for w in warns:
        warnings.warn(w, FWWarning, stacklevel=2)
    rres = np.linalg.norm(dyn.drift(reps[order]), axis=-1) if len(order) else np.zeros(0)
    info = {
        "status": status,
        "labels": labels,
        "dedup_tol": float(dedup_tol),
        "tol": tol,
        "residuals": rres,
        "max_real_eigenvalue": top[order],
        "degenerate": degenerate,
        "method": "lbfgs" if dyn.loss is not None else "flow",
        "seconds": time.perf_counter() - t0,
        "warnings": warns,
    }
    return Minima(points=reps[order].reshape(-1, dyn.dim), values=values[order], hits=hits, info=info)


def _classify(dyn, reps):
    """("stable" | "degenerate" | "unstable") and the largest Re λ of Db at each point."""
    kinds, top = [], np.zeros(len(reps))
    for i, x in enumerate(reps):
        spec = drift_spectrum(dyn, x, k=1)
        top[i] = float(np.real(spec.values[0]))
        n_unstable, _ = spec.count_unstable(ZERO_TOL)
        flat = spec.count_unstable(FLAT_TOL)[1]
        kinds.append("unstable" if n_unstable else ("degenerate" if flat else "stable"))
    return np.asarray(kinds, dtype=object), top


def _merge_flat(dyn, reps, kinds, lab, n_samples=9):
    """Labels with each degenerate point merged into an earlier kept point when f along the segment
    between them never rises above both ends (no barrier: the same flat minimum, whose converged
    points scatter by about tol^(1/3)). Merged points get kind "merged"; loss only."""
    if dyn.loss is None:
        return lab
    root = np.arange(len(reps))
    t = np.linspace(0.0, 1.0, n_samples + 2)[1:-1, None]
    for j in np.flatnonzero(kinds == "degenerate"):
        for i in range(j):
            if kinds[i] not in ("stable", "degenerate"):
                continue
            f = dyn.loss.value(reps[i] + t * (reps[j] - reps[i]))
            ends = dyn.loss.value(reps[[i, j]])
            if np.max(f) <= np.max(ends) + 1e-12 * (1.0 + np.max(np.abs(ends))):
                root[j], kinds[j] = i, "merged"
                break
    return root[lab]


def _value_and_grad(loss):
    """f and ∇f for L-BFGS-B; where f is not finite (a line-search trial step far out, e.g. into the
    growth of an exponential) the optimiser sees +inf, so it shortens the step."""

    def fg(z):
        try:
            return float(loss.value(z)), loss.grad(z)
        except NonFiniteError:
            return np.inf, np.zeros_like(z)

    return fg


def _descend(dyn, X0, tol, max_iter):
    """Each start taken to rest and polished; returns (points (k, d), |b| (k,))."""
    X = X0.copy()
    if dyn.loss is not None:
        loss = dyn.loss
        gtol = tol / np.sqrt(dyn.dim)  # L-BFGS-B tests the largest component
        for i, x in enumerate(X0):
            out = so.minimize(
                _value_and_grad(loss),
                x,
                jac=True,
                method="L-BFGS-B",
                options={"maxiter": max_iter, "gtol": gtol, "ftol": 1e-15, "maxcor": 20},
            )
            X[i] = out.x
    else:
        X = _flow_to_rest(dyn, X, max_iter)
    res = np.empty(len(X))
    for i in range(len(X)):
        X[i], res[i], _ = polish_equilibrium(dyn, X[i], tol=tol, max_iter=60)
    return X, res


def _flow_to_rest(dyn, X, max_steps, rtol=1e-3):
    """Adaptive Heun on ẋ = b(x), vectorised over the rows, until |b| <= 1e-4 |b(start)|."""
    b0 = dyn.drift(X)
    speed0 = np.linalg.norm(b0, axis=1)
    target = 1e-4 * np.maximum(speed0, 1e-300)
    dt = 1e-2 / np.maximum(speed0, 1e-300) * np.maximum(1.0, np.linalg.norm(X, axis=1))
    free = np.flatnonzero(speed0 > target)
    for _ in range(max_steps):
        if free.size == 0:
            break
        x, b, h = X[free], dyn.drift(X[free]), dt[free]
        b1 = dyn.drift(x + h[:, None] * b)
        err = 0.5 * h * np.linalg.norm(b1 - b, axis=1)
        step = h * np.linalg.norm(b, axis=1)
        good = err <= rtol * np.maximum(step, 1e-300) + 1e-15
        x[good] += 0.5 * h[good, None] * (b[good] + b1[good])
        X[free] = x
        fac = np.where(good, np.minimum(2.0, 0.9 * np.sqrt(rtol * step / np.maximum(err, 1e-300))), 0.5)
        dt[free] = h * np.maximum(fac, 0.1)
        free = free[np.linalg.norm(dyn.drift(X[free]), axis=1) > target[free]]
    return X
