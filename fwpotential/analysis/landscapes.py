"""The global picture: attractors, saddles, pairwise costs, Freidlin–Wentzell energies, the global
potential W, ground states and Hwang's weights (theory.md §4–5)."""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from fwpotential import _progress
from fwpotential.analysis import wgraph
from fwpotential.analysis.prefactor import KINDS, log_K
from fwpotential.analysis.weights import hwang_weights, laplace_masses, manifold_density
from fwpotential.errors import AttractorError, ConvergenceError, FWWarning, InputError
from fwpotential.geometry import flow
from fwpotential.geometry.attractor import Attractor
from fwpotential.geometry.equilibria import critical_points, stable_in_higher_order
from fwpotential.geometry.grid import Grid
from fwpotential.model.dynamics import coerce_dynamics
from fwpotential.solvers.api import check_method, quasipotential

__all__ = ["Landscape", "landscape", "default_method", "energy_summary"]


@dataclass(frozen=True, repr=False)
class Landscape:
    """Freidlin–Wentzell landscape of one dynamics on one grid.

    Attributes
    ----------
    dynamics, grid, method
        What produced it.
    attractors : ndarray (m, d)
        Stable equilibria in the box (for a set attractor, the mask node nearest its centroid).
    attractor_sets : tuple of Attractor
        The attractors as used by the solver (points or masks).
    attractor_values : ndarray (m,)
        f at the attractors (NaN without a loss).
    saddles : ndarray (k, d)
        Index-1 saddles in the box.
    saddle_values : ndarray (k,)
        f at the saddles (NaN without a loss).
    saddle_joins : ndarray (k, 2) of int
        The attractors the two branches of each saddle's unstable manifold reach (-1: none in the box).
    costs : ndarray (m, m)
        costs[i, j] = V(K_i → K_j): min of V_{K_i} over a neighbourhood of K_j; +inf if unreachable;
        0 on the diagonal.
    energies : ndarray (m,)
        W-graph energies, shifted so that their minimum is 0; +inf for an attractor no W-graph reaches
        (all +inf, unshifted, when the attractors cannot reach each other: a :class:`FWWarning` says so).
    energy_errors : ndarray (m,)
        Error estimates of the energies (difference with a solve on the grid coarsened by 2; rounding
        level for method="exact").
    ground_states : ndarray of int
        Attractors whose energy is within ``tie_tol`` of the minimum (empty when no energy is finite).
    near_ties : list of (i, j, gap)
        Pairs of attractors whose energies differ by less than 10 × tie_tol but more than tie_tol.
    tie_tol : float
    potential : ndarray (grid.shape)
        Global W(x) = min_i (W_i + V_{K_i}(x)) (min 0; +inf where unreachable).
    basins : ndarray (grid.shape) of int
        Basin of attraction (attractor index) of the deterministic flow at each node; -1 if none.
    quasipotentials : tuple of QuasiPotential
        V_{K_i}, one per attractor.
    info : dict
        Provenance: solver, solver_order, grid, options, neighbourhood_cells, error_estimate,
        unreachable (pairs (i, j) with costs[i, j] = +inf), seconds (total, float), stages (seconds
        per step: critical_points, basins, quasipotentials, error_estimate), critical_points,
        warnings (the messages of the :class:`FWWarning` the call raised).

    Build it with :func:`landscape`; the fields are set by keyword.
    """

    dynamics: object
    grid: Grid
    method: str
    attractors: np.ndarray
    attractor_sets: tuple
    attractor_values: np.ndarray
    saddles: np.ndarray
    saddle_values: np.ndarray
    saddle_joins: np.ndarray
    costs: np.ndarray
    energies: np.ndarray
    energy_errors: np.ndarray
    ground_states: np.ndarray
    near_ties: list
    tie_tol: float
    potential: np.ndarray
    basins: np.ndarray
    quasipotentials: tuple
    info: dict

    @cached_property
    def fluctuation_paths(self) -> dict:
        """The fluctuation paths :meth:`prefactors` computed so far (2-D and 3-D, kinds "diffusion" and
        "chain"), by (attractor, saddle): action, ∫c per kind and the shooting's diagnostics, or the
        error of a search that failed (not repeated). Filled as paths are needed; empty until then."""
        return {}

    # ---- Hessians and weights ----------------------------------------------------------------
    def hessians(self, source="lyapunov") -> np.ndarray:
        """∇²W at the point attractors, (m, d, d) (NaN for set attractors).

        ``"lyapunov"``: C⁻¹ from J C + C Jᵀ + a = 0 (exact); ``"grid"``: a least-squares quadratic fit
        of V_{K_i} on the nodes within 6 cells of x_i (a cross-check, error O(h)).
        """
        if source not in ("lyapunov", "grid"):
            raise InputError(f"source must be 'lyapunov' or 'grid', got {source!r}")
        d = self.grid.dim
        out = np.full((len(self.attractor_sets), d, d), np.nan)
        for i, att in enumerate(self.attractor_sets):
            if att.point is None:
                continue
            if source == "lyapunov":
                out[i] = self.dynamics.potential_hessian(att.point)
            else:
                out[i] = _grid_hessian(self.quasipotentials[i], att.point)
        return out

    def hwang_weights(self, source="lyapunov") -> np.ndarray:
        """Hwang's weights of W over ``ground_states`` (same order), summing to 1.

        Isolated minima: w_i ∝ det(∇²W(x_i))^(-1/2). If some ground states are sets (curves of
        minimisers given as masks), the sets of the largest dimension take all the mass, shared in
        proportion to ∫ det N^(-1/2) ds over each (N: normal Hessian of W, from the grid), and
        points get 0 (Hwang 1980, Thm 3.1). Use :meth:`set_density` for the density on a set.
        """
        gs = self.ground_states
        if len(gs) == 0:  # no finite energy: the attractors cannot reach each other
            return np.zeros(0)
        sets = [i for i in gs if self.attractor_sets[i].mask is not None]
        if sets:
            mass = np.array([self.set_density(i)[1].sum() if i in sets else 0.0 for i in gs])
            return mass / mass.sum()
        return hwang_weights(self.hessians(source)[gs])

    def set_density(self, i):
        """Hwang's density on a set attractor i (2-D curves): (points (n, d), density (n,)) at its mask
        nodes, density ∝ det N^(-1/2) × h (so that the sum approximates ∫ · ds), N the Hessian of W
        normal to the curve. For Langevin the Hessian is ∇²f exactly; otherwise a grid fit."""
        att = self.attractor_sets[i]
        if att.mask is None:
            raise InputError(f"attractor {i} is a point; use hessians()")
        pts = self.grid.points()[att.mask]
        if self.grid.dim != 2:
            raise InputError("set_density is implemented for curves in 2-D")
        H = _gibbs_hessians(self.dynamics, pts)
        if H is None:
            H = np.stack([_grid_hessian(self.quasipotentials[i], p) for p in pts])
        # tangent: the eigenvector of the smallest |eigenvalue| of the Hessian (along the curve)
        w, Q = np.linalg.eigh(H)
        tang = Q[:, :, 0]
        dens = manifold_density(H, tang) * float(np.min(self.grid.spacing))
        return pts, dens

    # ---- prefactor-corrected weights (theory.md §5) ------------------------------------------
    def prefactors(self, kind="hwang") -> np.ndarray:
        """K(x_i) det(∇²W(x_i))^(-1/2) per attractor, relative (max 1; NaN for set attractors or
        attractors not joined to the others through a saddle in the box).

        kind: ``"hwang"`` (K ≡ 1), ``"diffusion"`` (K of the diffusion with this H), ``"chain"`` (K of
        the discrete SGD chain: adds -½ uᵀ∇²V u to the transport rate).
        """
        logk = log_K(self, kind)
        H = self.hessians()
        with np.errstate(invalid="ignore"):
            logdet = np.array([np.linalg.slogdet(h)[1] if np.all(np.isfinite(h)) else np.nan for h in H])
        logc = logk - 0.5 * logdet
        return np.exp(logc - np.nanmax(logc))

    def weights(self, kind="hwang") -> np.ndarray:
        """Limit weights over ``ground_states`` (same order): ∝ K(x_i) det(∇²W(x_i))^(-1/2)."""
        if kind == "hwang" or len(self.ground_states) == 0:
            return self.hwang_weights()
        if len(self.ground_states) == 1:  # nothing to weigh: no fluctuation path is needed
            if kind not in KINDS:
                raise InputError(f"unknown kind {kind!r}; choose one of {list(KINDS)}")
            return np.ones(1)
        c = self.prefactors(kind)[self.ground_states]
        return c / c.sum()

    def predicted_masses(self, eps, kind="hwang") -> np.ndarray:
        """Basin masses at noise level ε (step size γ for SGD): ∝ prefactor_i exp(-W_i/ε) over all
        attractors, normalised (the Laplace approximation; relative error O(ε)). NaN everywhere when
        no energy is finite (attractors that cannot reach each other: the masses depend on the start)."""
        return laplace_masses(self, eps, kind)

    def weights_or_nan(self, kind="hwang") -> np.ndarray:
        """:meth:`weights` of one kind, NaN where they are not defined (set attractors, degenerate
        Hessians, a fluctuation path the shooting cannot compute); shape (len(ground_states),)."""
        try:
            return np.asarray(self.hwang_weights() if kind == "hwang" else self.weights(kind), float)
        except (InputError, ConvergenceError, np.linalg.LinAlgError):
            return np.full(len(self.ground_states), np.nan)

    def saddle_levels(self) -> list:
        """Per saddle: point, f, W there and V_{K_i} there for each attractor i it joins (dicts)."""
        out = []
        for s, joins, f in zip(self.saddles, self.saddle_joins, self.saddle_values):
            idx = self.grid.nearest_index(s)
            V = {int(i): float(self.quasipotentials[int(i)].values[idx]) for i in joins if i >= 0}
            out.append({"point": s.tolist(), "f": float(f), "W": float(self.potential[idx]), "V_from": V})
        return out

    def to_dict(self) -> dict:
        """Plain Python structure (lists, floats, str; +inf and NaN as floats) for reports: dynamics,
        method, attractors, f, energies, energy_errors, ground_states, weights (one list per kind,
        NaN where undefined), costs, saddles (:meth:`saddle_levels`), seconds, stages, error_estimate."""
        return {
            **energy_summary(self),
            "saddles": self.saddle_levels(),
            "seconds": self.info.get("seconds"),
            "stages": dict(self.info.get("stages", {})),
            "error_estimate": self.info.get("error_estimate"),
        }

    # ---- presentation ----------------------------------------------------------------------
    def table(self) -> str:
        """A plain-text table: attractor, f, energy, ground state, Hwang weight."""
        gs = list(self.ground_states)
        w = self.weights_or_nan()
        rows = [f"{'#':>2} {'attractor':>24} {'f':>10} {'energy W':>12} {'± est':>9}  ground  weight"]
        for i, x in enumerate(self.attractors):
            pos = "(" + ", ".join(f"{v:.4f}" for v in x) + ")"
            ground = i in gs
            wt = f"{w[gs.index(i)]:.4f}" if ground else ""
            rows.append(
                f"{i:>2} {pos:>24} {self.attractor_values[i]:10.5f} {self.energies[i]:12.6f} "
                f"{self.energy_errors[i]:9.2g}  {'yes' if ground else '':>6}  {wt}"
            )
        if not gs:
            rows.append("no ground state: the attractors cannot reach each other (every energy is +inf)")
        return "\n".join(rows)

    def __repr__(self):
        return (
            f"Landscape({self.dynamics.name!r}, method={self.method!r}, grid={self.grid.shape}, "
            f"{len(self.attractors)} attractors, ground states {list(self.ground_states)})"
        )


def energy_summary(res) -> dict:
    """The fields a Landscape and a TransitionNetwork report alike, as plain Python: dynamics, method,
    attractors, f, energies, energy_errors, ground_states, weights (one list per kind, NaN where
    undefined), costs."""
    return {
        "dynamics": res.dynamics.name,
        "method": res.method,
        "attractors": np.asarray(res.attractors).tolist(),
        "f": np.asarray(res.attractor_values).tolist(),
        "energies": np.asarray(res.energies).tolist(),
        "energy_errors": np.asarray(res.energy_errors).tolist(),
        "ground_states": [int(i) for i in res.ground_states],
        "weights": {k: res.weights_or_nan(k).tolist() for k in KINDS},
        "costs": np.asarray(res.costs).tolist(),
    }


def _gibbs_hessians(dynamics, pts):
    """∇²W where W is known in closed form: Langevin (∇²f) or SGD with constant isotropic noise
    s I (2∇²f/s); else None."""
    if dynamics.loss is None:
        return None
    s_of_f = dynamics.loss_variance()
    if s_of_f is None:
        return None
    s = s_of_f(dynamics.loss.value(pts))
    if not np.allclose(s, s.flat[0]):
        return None
    return 2.0 * dynamics.loss.hess(pts) / s[..., None, None]


def _grid_hessian(qp, x0, cells=6):
    """Least-squares quadratic fit of qp.values on nodes within ``cells`` cells of x0."""
    g = qp.grid
    X = g.points()
    r = cells * float(np.max(g.spacing))
    near = (np.linalg.norm(X - x0, axis=-1) <= r) & np.isfinite(qp.values)
    dx = X[near] - x0
    d = g.dim
    iu = np.triu_indices(d)
    cols = (
        [np.ones(len(dx))]
        + [dx[:, k] for k in range(d)]
        + [dx[:, i] * dx[:, j] * (0.5 if i == j else 1.0) for i, j in zip(*iu)]
    )
    A = np.stack(cols, axis=1)
    coef, *_ = np.linalg.lstsq(A, qp.values[near], rcond=None)
    H = np.zeros((d, d))
    H[iu] = coef[1 + d :]
    return H + np.triu(H, 1).T


# -------------------------------------------------------------------------------------------------
def default_method(grid):
    """The solver a landscape uses when none is named: "exact" in 1-D, else "olim"."""
    return "exact" if grid.dim == 1 else "olim"


@_progress.tracked("landscape", unit="solve")
def landscape(
    dynamics,
    grid,
    *,
    method=None,
    attractors=None,
    estimate_error=True,
    tie_tol=None,
    neighbourhood=2.0,
    progress=None,
    **options,
) -> Landscape:
    """Attractors, saddles, pairwise costs, W-graph energies, global potential and ground states.

    Parameters
    ----------
    dynamics : Dynamics (or a Loss / expression, meaning its Langevin dynamics)
    grid : Grid
    method : str, optional
        Quasi-potential solver (``fw.METHODS``); default "exact" in 1-D, else "olim".
    attractors : sequence, optional
        Points (snapped to equilibria) or :class:`Attractor` sets (masks) to use instead of the stable
        equilibria found in the box.
    estimate_error : bool
        Estimate the energies' error by re-solving on the grid coarsened by 2 (grid solvers only).
    tie_tol : float, optional
        Energies within this of the minimum are tied ground states. Default: 3 × the largest
        energy error estimate, at least 1e-9 (1 + max W).
    neighbourhood : float
        Pairwise costs take the min of V_{K_i} over nodes within this many cells of K_j.
    progress : bool, optional
        A progress bar on stderr, one step per quasi-potential solve (the solves' own bars nested):
        by default when stderr is a terminal and the call runs over ~2 s; True always, False never.
    **options
        Passed to the solver.

    Returns
    -------
    Landscape

    Notes
    -----
    One quasi-potential solve per attractor (theory.md §3–4). W_i is the minimum-weight spanning
    in-arborescence rooted at i (Chu–Liu/Edmonds); W(x) = min_i (W_i + V_{K_i}(x)) - min_j W_j.
    """
    t0 = time.perf_counter()
    dynamics = coerce_dynamics(dynamics)
    if not isinstance(grid, Grid):
        raise InputError(f"grid must be a fw.Grid, got {type(grid).__name__}")
    method = default_method(grid) if method is None else method
    solver = check_method(method, options, grid)
    stages, notes = {}, []
    # 1. attractors and saddles
    cps = critical_points(dynamics, grid)
    stages["critical_points"] = time.perf_counter() - t0
    interior = _interior(cps, grid)
    atts = _attractors(dynamics, grid, cps, interior, attractors)
    reps = np.array([_representative(a, grid) for a in atts])
    sad_idx = [i for i in range(len(cps)) if interior[i] and cps.index[i] == 1 and cps.kinds[i] != "degenerate"]
    saddles = cps.points[sad_idx].reshape(-1, grid.dim)
    # 2. basins and saddle connections
    t1 = time.perf_counter()
    basins = flow.basins(dynamics, grid, atts)
    joins = _saddle_joins(dynamics, grid, atts, cps, sad_idx)
    stages["basins"] = time.perf_counter() - t1
    # 3. one quasi-potential per attractor, pairwise costs, energies
    t2 = time.perf_counter()
    _progress.set_total(len(atts) * (1 + (estimate_error and method != "exact" and grid.dim > 1)))
    qps = _solve_each(dynamics, grid, atts, method, options)
    costs = _costs(qps, _neighbourhoods(grid, atts, neighbourhood))
    stages["quasipotentials"] = time.perf_counter() - t2
    W_raw = wgraph.energies(costs)
    isolated = not np.isfinite(W_raw).any()
    if isolated:
        notes.append(_unreachable_message(dynamics, reps, costs))
        warnings.warn(notes[-1], FWWarning, stacklevel=3)
    # 4. error estimate, ground states, global potential
    t3 = time.perf_counter()
    err, est = _energy_errors(dynamics, grid, atts, W_raw, method, options, neighbourhood, estimate_error)
    stages["error_estimate"] = time.perf_counter() - t3
    energies, ground, near_ties, tie_tol = wgraph.ground_states(W_raw, err, tie_tol)
    potential = np.min(np.stack([energies[i] + qps[i].values for i in range(len(atts))]), axis=0)
    info = {
        "solver": method,
        "solver_order": getattr(solver, "ORDER", None),
        "grid": repr(grid),
        "options": dict(options),
        "neighbourhood_cells": neighbourhood,
        "error_estimate": est,
        "unreachable_pairs": [(int(i), int(j)) for i, j in zip(*np.nonzero(np.isinf(costs)))],
        "seconds": time.perf_counter() - t0,
        "stages": stages,
        "critical_points": cps,
        "warnings": notes,
    }
    return Landscape(
        dynamics=dynamics,
        grid=grid,
        method=method,
        attractors=reps,
        attractor_sets=tuple(atts),
        attractor_values=_loss_values(dynamics.loss, reps),
        saddles=saddles,
        saddle_values=_loss_values(dynamics.loss, saddles),
        saddle_joins=joins,
        costs=costs,
        energies=energies,
        energy_errors=err,
        ground_states=ground,
        near_ties=near_ties,
        tie_tol=float(tie_tol),
        potential=potential,
        basins=basins,
        quasipotentials=qps,
        info=info,
    )


def _loss_values(loss, x):
    """f at the points x (n, d); NaN without a loss."""
    return np.asarray(loss.value(x) if (loss is not None and len(x)) else np.full(len(x), np.nan), float)


def _interior(cps, grid):
    """Critical points at least one cell inside the box (bool per point)."""
    h = grid.spacing
    if not len(cps):
        return np.zeros(0, bool)
    return np.all((cps.points >= grid.lower + h) & (cps.points <= grid.upper - h), axis=1)


def _attractors(dynamics, grid, cps, interior, attractors):
    """The attractors as the solver takes them: the given ones, else the interior stable equilibria
    (and degenerate ones that higher-order terms make stable), snapped by Attractor.coerce."""
    if attractors is not None:
        atts = [Attractor.coerce(a, dynamics, grid) for a in attractors]
        if not atts:
            raise AttractorError("attractors=[] is empty")
        return atts
    r = 5.0 * float(np.max(grid.spacing))  # Attractor.coerce's snap radius
    idx = [
        i
        for i in range(len(cps))
        if interior[i]
        and (
            cps.kinds[i] == "stable"
            or (cps.kinds[i] == "degenerate" and stable_in_higher_order(dynamics, cps.points[i], r))
        )
    ]
    if not idx:
        raise AttractorError(
            f"no stable equilibrium inside the grid {grid!r} (found: {cps!r}); enlarge the box or pass attractors=[...]"
        )
    return [Attractor.coerce(cps.points[i], dynamics, grid) for i in idx]


def _saddle_joins(dynamics, grid, atts, cps, sad_idx):
    """(k, 2) attractor indices the two branches of each saddle's unstable manifold reach (-1: none)."""
    if not sad_idx:
        return np.full((0, 2), -1, dtype=np.int64)
    h = grid.spacing
    cap = flow.capture_labels(grid, atts, 1.5 * float(np.linalg.norm(h)))
    starts = []
    for k in sad_idx:
        w, vecs = np.linalg.eig(cps.matrices[k])
        v = np.real(vecs[:, np.argmax(w.real)])
        v /= np.linalg.norm(v)
        delta = 2.0 * float(np.max(h))
        starts += [cps.points[k] + delta * v, cps.points[k] - delta * v]
    return flow.follow(dynamics, np.array(starts), grid, cap).reshape(-1, 2)


def _energy_errors(dynamics, grid, atts, W_raw, method, options, neighbourhood, estimate_error):
    """Error estimates of the energies and how they were made: |W(grid) - W(grid coarsened by 2)|
    for grid solvers, rounding level for method="exact", NaN when not estimable."""
    m = len(atts)
    if not np.isfinite(W_raw).any():
        return np.full(m, np.nan), "not estimated (no finite energy)"
    if method == "exact" or not estimate_error or grid.dim == 1:
        err = 1e-10 * (1.0 + np.abs(np.where(np.isfinite(W_raw), W_raw, 0.0)))
        return err, "rounding (exact quadrature)" if method == "exact" else "not estimated"
    coarse = Grid(grid.bounds, tuple((n + 1) // 2 for n in grid.shape))
    odd = all(n % 2 == 1 for n in grid.shape)
    every_other = tuple(slice(None, None, 2) for _ in grid.shape)
    catts = [a if a.mask is None else Attractor.from_mask(a.mask[every_other]) if odd else None for a in atts]
    if any(c is None for c in catts):
        return np.full(m, np.nan), "not estimated (set attractors on an even grid)"
    cq = _solve_each(dynamics, coarse, catts, method, options)
    Wc = wgraph.energies(_costs(cq, _neighbourhoods(coarse, catts, neighbourhood)))
    with np.errstate(invalid="ignore"):
        err = np.abs((W_raw - W_raw[np.isfinite(W_raw)].min()) - (Wc - Wc[np.isfinite(Wc)].min()))
    return err, "|W(grid) - W(grid coarsened by 2)|"


def _representative(att, grid):
    if att.point is not None:
        return att.point
    pts = grid.points()[att.mask]
    c = pts.mean(axis=0)
    return pts[np.argmin(np.linalg.norm(pts - c, axis=1))]


def _unreachable_message(dynamics, reps, costs):
    """Which attractors cannot reach each other (both costs +inf) and the likely reason."""
    m = len(costs)
    pairs = [(i, j) for i in range(m) for j in range(i + 1, m) if np.isinf(costs[i, j]) and np.isinf(costs[j, i])]
    one_way = [(i, j) for i in range(m) for j in range(m) if i != j and np.isinf(costs[i, j])]
    names = "; ".join(f"{i} at {_pos(reps[i])} and {j} at {_pos(reps[j])}" for i, j in pairs)
    what = f"mutually unreachable attractors: {names}" if pairs else f"unreachable (from, to): {one_way}"
    e = np.eye(dynamics.dim)
    bounded = np.all(np.isfinite(dynamics.noise.support(reps[:, None, :], np.concatenate([e, -e])[None])))
    if bounded:
        why = (
            "the noise law is bounded (minibatch noise lies in the convex hull of the per-sample gradient "
            "deviations), "
            "and somewhere on every connecting path the drift is stronger than any noise it can produce, so "
            "the transition has probability 0 at small step size"
        )
    else:
        why = (
            "the quasi-potential of one is +inf all around the other on this grid: the noise is degenerate "
            "along every connecting path, or the box cuts those paths (then enlarge the bounds)"
        )
    return (
        f"every W-graph energy is +inf: {what}; {why}. Refining or enlarging the grid does not change a "
        "transition the dynamics cannot make; the Landscape has +inf costs and energies, no ground state "
        "and NaN masses (info['unreachable'] lists the pairs)"
    )


def _pos(x):
    return "(" + ", ".join(f"{v:.4g}" for v in x) + ")"


def _solve_each(dynamics, grid, atts, method, options):
    """One quasi-potential per attractor, moving the landscape's progress bar after each."""
    out = []
    for k, a in enumerate(atts):
        _progress.stage(f"V_{k} on {'x'.join(map(str, grid.shape))}")
        out.append(quasipotential(dynamics, grid, a, method=method, **options))
        _progress.advance()
    return tuple(out)


def _neighbourhoods(grid, atts, cells):
    X = grid.points()
    r = cells * float(np.max(grid.spacing))
    out = []
    for a in atts:
        if a.mask is not None:
            out.append(flow.dilate(a.mask, int(np.ceil(cells))))
        else:
            out.append(np.linalg.norm(X - a.point, axis=-1) <= r)
    return out


def _costs(qps, near):
    m = len(qps)
    C = np.zeros((m, m))
    for i in range(m):
        for j in range(m):
            if i != j:
                v = qps[i].values[near[j]]
                C[i, j] = float(v.min()) if v.size else np.inf
    return C
