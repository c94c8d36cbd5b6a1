"""The global picture: attractors, saddles, pairwise costs, Freidlin–Wentzell energies, the global
potential W, ground states and Hwang's weights (theory.md §4–5); SGD vs Langevin side by side."""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from fwpotential import _progress
from fwpotential.analysis import wgraph
from fwpotential.analysis.weights import hwang_weights, manifold_density
from fwpotential.errors import AttractorError, ConvergenceError, FWWarning, InputError
from fwpotential.geometry import flow as _flow
from fwpotential.geometry.attractor import Attractor
from fwpotential.geometry.equilibria import critical_points, stable_in_higher_order
from fwpotential.geometry.grid import Grid
from fwpotential.model.dynamics import coerce_dynamics, langevin, sgd
from fwpotential.model.loss import coerce_loss
from fwpotential.solvers.api import check_method, quasipotential

__all__ = ["Landscape", "landscape", "Comparison", "compare"]


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
        solver, grid, options, seconds per step, estimates.
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
    info: dict = field(default_factory=dict)

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
        from fwpotential.analysis.prefactor import log_K

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
            from fwpotential.analysis.prefactor import KINDS

            if kind not in KINDS:
                raise InputError(f"unknown kind {kind!r}; choose one of {list(KINDS)}")
            return np.ones(1)
        c = self.prefactors(kind)[self.ground_states]
        return c / c.sum()

    def predicted_masses(self, eps, kind="hwang") -> np.ndarray:
        """Basin masses at noise level ε (step size γ for SGD): ∝ prefactor_i exp(-W_i/ε) over all
        attractors, normalised (the Laplace approximation; relative error O(ε)). NaN everywhere when
        no energy is finite (attractors that cannot reach each other: the masses depend on the start)."""
        eps = float(eps)
        if not eps > 0:
            raise InputError(f"eps must be > 0, got {eps}")
        if len(self.ground_states) == 0:
            return np.full(len(self.attractors), np.nan)
        logc = np.log(self.prefactors(kind)) - self.energies / eps
        logc = np.where(np.isfinite(logc), logc, -np.inf)
        p = np.exp(logc - np.max(logc))
        return p / p.sum()

    # ---- presentation ----------------------------------------------------------------------
    def table(self) -> str:
        """A plain-text table: attractor, f, energy, ground state, Hwang weight."""
        gs = list(self.ground_states)
        try:
            w = self.hwang_weights()
        except InputError:
            w = np.full(len(gs), np.nan)
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
def default_method(dynamics, grid):
    """The solver a landscape uses when none is named: "exact" in 1-D, else "olim" (or "fmm"/"sweep")."""
    if grid.dim == 1:
        return "exact"
    from fwpotential.solvers.api import METHODS

    if "olim" in METHODS:
        return "olim"
    if dynamics.loss_variance() is not None:
        return "fmm"
    return "sweep" if "sweep" in METHODS else "fmm"


def _representative(att, grid):
    if att.point is not None:
        return att.point
    pts = grid.points()[att.mask]
    c = pts.mean(axis=0)
    return pts[np.argmin(np.linalg.norm(pts - c, axis=1))]


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
        Quasi-potential solver (``fw.METHODS``); default "exact" in 1-D, else "olim" (or "fmm" where
        the eikonal reduction applies and olim is unavailable).
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
    method = default_method(dynamics, grid) if method is None else method
    solver = check_method(method, options, grid)
    timings = {}
    # 1. attractors and saddles
    cps = critical_points(dynamics, grid)
    timings["critical_points"] = time.perf_counter() - t0
    h = grid.spacing
    interior = (
        np.all((cps.points >= grid.lower + h) & (cps.points <= grid.upper - h), axis=1)
        if len(cps)
        else np.zeros(0, bool)
    )
    if attractors is None:
        r = 5.0 * float(np.max(h))  # Attractor.coerce's snap radius
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
        atts = [Attractor.coerce(cps.points[i], dynamics, grid) for i in idx]
    else:
        atts = [Attractor.coerce(a, dynamics, grid) for a in attractors]
        if not atts:
            raise AttractorError("attractors=[] is empty")
    m = len(atts)
    reps = np.array([_representative(a, grid) for a in atts])
    loss = dynamics.loss
    att_vals = loss.value(reps) if loss is not None else np.full(m, np.nan)
    # barriers: equilibria with exactly one unstable direction (in 1-D, the unstable points)
    sad_idx = [i for i in range(len(cps)) if interior[i] and cps.index[i] == 1 and cps.kinds[i] != "degenerate"]
    saddles = cps.points[sad_idx].reshape(-1, grid.dim)
    sad_vals = loss.value(saddles) if (loss is not None and len(saddles)) else np.full(len(saddles), np.nan)
    # 2. basins and saddle connections
    t1 = time.perf_counter()
    basins = _flow.basins(dynamics, grid, atts)
    joins = np.full((len(saddles), 2), -1, dtype=np.int64)
    if len(saddles):
        cap = _flow.capture_labels(grid, atts, 1.5 * float(np.linalg.norm(h)))
        starts = []
        for k in sad_idx:
            w, vecs = np.linalg.eig(cps.matrices[k])
            v = np.real(vecs[:, np.argmax(w.real)])
            v /= np.linalg.norm(v)
            delta = 2.0 * float(np.max(h))
            starts += [cps.points[k] + delta * v, cps.points[k] - delta * v]
        joins = _flow.follow(dynamics, np.array(starts), grid, cap).reshape(-1, 2)
    timings["basins"] = time.perf_counter() - t1
    # 3. one quasi-potential per attractor, pairwise costs
    t2 = time.perf_counter()
    _progress.set_total(m * (1 + (estimate_error and method != "exact" and grid.dim > 1)))
    qps = _solve_each(dynamics, grid, atts, method, options)
    near = _neighbourhoods(grid, atts, neighbourhood)
    costs = _costs(qps, near)
    timings["quasipotentials"] = time.perf_counter() - t2
    W_raw = wgraph.energies(costs)
    isolated = not np.isfinite(W_raw).any()
    if isolated:
        warnings.warn(_unreachable_message(dynamics, reps, costs), FWWarning, stacklevel=3)
    # 4. error estimate
    if isolated:
        err = np.full(m, np.nan)
        est = "not estimated (no finite energy)"
    elif method == "exact" or not estimate_error or grid.dim == 1:
        err = 1e-10 * (1.0 + np.abs(np.where(np.isfinite(W_raw), W_raw, 0.0)))
        est = "rounding (exact quadrature)" if method == "exact" else "not estimated"
    else:
        t3 = time.perf_counter()
        coarse = Grid(grid.bounds, tuple((n + 1) // 2 for n in grid.shape))
        catts = [
            a
            if a.mask is None
            else Attractor.from_mask(a.mask[tuple(slice(None, None, 2) for _ in grid.shape)])
            if all(n % 2 == 1 for n in grid.shape)
            else None
            for a in atts
        ]
        if any(c is None for c in catts):
            err = np.full(m, np.nan)
            est = "not estimated (set attractors on an even grid)"
        else:
            cq = _solve_each(dynamics, coarse, catts, method, options)
            Wc = wgraph.energies(_costs(cq, _neighbourhoods(coarse, catts, neighbourhood)))
            with np.errstate(invalid="ignore"):
                err = np.abs((W_raw - W_raw[np.isfinite(W_raw)].min()) - (Wc - Wc[np.isfinite(Wc)].min()))
            est = "|W(grid) - W(grid coarsened by 2)|"
        timings["error_estimate"] = time.perf_counter() - t3
    Wmin = float(np.min(W_raw[np.isfinite(W_raw)])) if not isolated else 0.0
    energies = W_raw - Wmin
    scale = 1e-9 * (1.0 + float(np.max(energies[np.isfinite(energies)], initial=0.0)))
    if tie_tol is None:
        finite_err = err[np.isfinite(err)]
        tie_tol = max(3.0 * float(finite_err.max()) if finite_err.size else 0.0, scale)
    elif tie_tol < 0:
        raise InputError(f"tie_tol must be >= 0, got {tie_tol}")
    ground = np.flatnonzero(energies <= tie_tol)
    near_ties = [
        (int(i), int(j), float(abs(energies[i] - energies[j])))
        for i in range(m)
        for j in range(i + 1, m)
        if np.isfinite(energies[i] - energies[j] if np.isfinite(energies[i]) else np.inf)
        and tie_tol < abs(energies[i] - energies[j]) < 10 * tie_tol
    ]
    # 5. global potential
    stack = np.stack([W_raw[i] - Wmin + qps[i].values for i in range(m)])
    potential = np.min(stack, axis=0)
    info = {
        "solver": method,
        "solver_order": getattr(solver, "ORDER", None),
        "grid": repr(grid),
        "options": dict(options),
        "neighbourhood_cells": neighbourhood,
        "error_estimate": est,
        "unreachable": [(int(i), int(j)) for i, j in zip(*np.nonzero(np.isinf(costs)))],
        "seconds": {**timings, "total": time.perf_counter() - t0},
        "critical_points": cps,
    }
    return Landscape(
        dynamics,
        grid,
        method,
        reps,
        tuple(atts),
        np.asarray(att_vals, float),
        saddles,
        np.asarray(sad_vals, float),
        joins,
        costs,
        energies,
        err,
        ground,
        near_ties,
        float(tie_tol),
        potential,
        basins,
        qps,
        info,
    )


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
            out.append(_flow.dilate(a.mask, int(np.ceil(cells))))
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


# -------------------------------------------------------------------------------------------------
@dataclass(frozen=True, repr=False)
class Comparison:
    """Langevin and SGD landscapes of one loss on one grid with one solver."""

    langevin: Landscape
    sgd: Landscape
    matched: np.ndarray  # for each SGD attractor, the index of the Langevin attractor at the same place (-1 none)

    def to_dict(self) -> dict:
        """Plain Python structure (lists, floats, str) for reports."""

        def land(L):
            return {
                "dynamics": L.dynamics.name,
                "method": L.method,
                "attractors": L.attractors.tolist(),
                "f": L.attractor_values.tolist(),
                "energies": L.energies.tolist(),
                "energy_errors": L.energy_errors.tolist(),
                "ground_states": L.ground_states.tolist(),
                "hwang_weights": _safe_weights(L).tolist(),
                "weights": {k: _safe_weights(L, k).tolist() for k in ("hwang", "diffusion", "chain")},
                "costs": L.costs.tolist(),
            }

        return {
            "langevin": land(self.langevin),
            "sgd": land(self.sgd),
            "matched": self.matched.tolist(),
            "same_ground_states": self.same_ground_states,
        }

    @property
    def same_ground_states(self) -> bool:
        g_sgd = {int(self.matched[i]) for i in self.sgd.ground_states}
        return g_sgd == set(int(i) for i in self.langevin.ground_states)

    def __str__(self):
        L, S = self.langevin, self.sgd
        wl = _safe_weights(L)
        ws = {k: _safe_weights(S, k) for k in ("hwang", "diffusion", "chain")}
        lines = [
            f"Langevin: {L.dynamics.name}  |  SGD: {S.dynamics.name}",
            f"solver {S.method!r} on {S.grid!r}; energies in units of eps (temperature / step size)",
            "weights among ground states: Langevin (Hwang = exact), SGD Hwang / diffusion / chain prefactors",
            "",
            f"{'attractor':>24} {'f':>10} {'W Langevin':>11} {'W SGD':>11} {'ground L/S':>11} {'w Langevin':>11} "
            f"{'w SGD hwang':>12} {'diffusion':>10} {'chain':>8}",
        ]
        for i, x in enumerate(S.attractors):
            j = int(self.matched[i])
            pos = "(" + ", ".join(f"{v:.4f}" for v in x) + ")"
            gl = j >= 0 and j in L.ground_states
            gs_ = i in S.ground_states
            wl_s = f"{wl[list(L.ground_states).index(j)]:.4f}" if gl else ""
            k = list(S.ground_states).index(i) if gs_ else None
            ws_s = [f"{ws[kind][k]:.4f}" if gs_ else "" for kind in ("hwang", "diffusion", "chain")]
            wL = f"{L.energies[j]:11.5f}" if j >= 0 else f"{'-':>11}"
            lines.append(
                f"{pos:>24} {S.attractor_values[i]:10.5f} {wL} {S.energies[i]:11.5f} "
                f"{('yes' if gl else 'no') + '/' + ('yes' if gs_ else 'no'):>11} {wl_s:>11} "
                f"{ws_s[0]:>12} {ws_s[1]:>10} {ws_s[2]:>8}"
            )
        lines.append("")
        lines.append(
            "SGD and Langevin have the same ground states."
            if self.same_ground_states
            else "SGD and Langevin have DIFFERENT ground states."
        )
        return "\n".join(lines)

    def __repr__(self):
        return f"Comparison(same_ground_states={self.same_ground_states})"


def _safe_weights(L, kind="hwang"):
    """Weights of one kind, NaN where they are not defined (set attractors, degenerate Hessians, a
    fluctuation path the shooting cannot compute)."""
    try:
        return L.hwang_weights() if kind == "hwang" else L.weights(kind)
    except (InputError, ConvergenceError):
        return np.full(len(L.ground_states), np.nan)


def compare(loss, *, noise=None, grid, method=None, batch_size=None, **kwargs) -> Comparison:
    """Langevin and SGD landscapes of one loss, same grid and solver, attractors matched by position.

    ``noise``/``batch_size`` are as in :func:`fwpotential.sgd`; other keywords go to :func:`landscape`.
    """
    loss = coerce_loss(loss)
    dyn_s = sgd(loss, noise=noise, batch_size=batch_size)
    dyn_l = langevin(loss)
    if method is None:
        method = default_method(dyn_s, grid)
    S = landscape(dyn_s, grid, method=method, **kwargs)
    L = landscape(dyn_l, grid, method=method, **kwargs)
    tol = 2.0 * float(np.linalg.norm(grid.spacing))
    matched = np.array(
        [
            int(np.argmin(np.linalg.norm(L.attractors - x, axis=1)))
            if np.min(np.linalg.norm(L.attractors - x, axis=1)) <= tol
            else -1
            for x in S.attractors
        ]
    )
    return Comparison(L, S, matched)
