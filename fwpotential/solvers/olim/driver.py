"""method="olim": the ordered line integral method for the quasi-potential on 2-D and 3-D grids.

A Dijkstra-like march (Dahiya & Cameron 2018; 3-D: Yang, Potter & Cameron 2019): nodes are far,
considered (in a binary heap), accepted front, or accepted. When a node is accepted, every
considered node within K grid steps of it is updated by the dynamic programming principle
V(x) = min_y [V(y) + cost(y -> x)] (theory.md section 3) over

* one-point updates from a single front node x0 (the straight segment x0 -> x),
* triangle updates from a front segment [x0, x1] (V linear on it, the best point on it),
* tetrahedron updates from a front triangle (3-D),

with the midpoint rule for the geometric action of a segment l, ||b||_A ||l||_A - <b, A l>,
A = a^-1 at the segment's midpoint (Gaussian noise), or with a tabulated local geometric cost
c(x, e) = min_s L(x, s e)/s sampled at the midpoints of sub-segments (any other noise law, 2-D).

The march is ``fwpotential.solvers.olim._kernels.march`` (Numba); this module validates input,
tabulates the drift and A = a^-1 on ``grid.half_points()`` (every one-point midpoint is a node of
it), starts from the Lyapunov quadratic near the attractor and packs the result.
"""

from __future__ import annotations

import time

import numpy as np

from fwpotential import _progress
from fwpotential.errors import CovarianceError, DimensionError, InputError, NonFiniteError
from fwpotential.solvers.olim import _kernels as _k
from fwpotential.solvers.start import default_radius, start_values
from fwpotential.solvers.tables import from_upper6 as _full
from fwpotential.solvers.tables import inverse_covariance, upper6

__all__ = ["solve", "OPTIONS", "ORDER", "default_K"]

#: keyword options of method="olim"
OPTIONS = frozenset({"K", "radius", "n_directions", "max_segment", "correction"})
#: observed order of OLIM with midpoint quadrature on smooth problems (first order, Dahiya & Cameron 2018)
ORDER = 1.0

# default update radius K at 65, 1025 and 4097 nodes per side, interpolated in log(n): the error
# is smallest when K grows slowly with the grid
_K_ANCHORS = (np.log([65.0, 1025.0, 4097.0]), np.array([8.0, 13.0, 20.0]))
_SLAB_POINTS = 2_000_000  # points per slab when tabulating the dynamics
_WHO = "method='olim' with Gaussian midpoint costs"
# curvature correction (3-D, constant A): the largest default K (the midpoint-quadrature error of
# a segment grows with its length, and the corrected updates need no long segments), and the
# radius in cells around a point attractor where the gradients are taken from the Lyapunov
# quadratic instead of the nodes' updates (there the characteristics curve on the cell scale and
# the gradient of an update is off by O(1))
_K_CORRECTED = 5
_GRAD_CELLS = 4.0
# the default correction only where the characteristics cross the level sets of V at most this
# obliquely near a point attractor (1 / cos of the angle, see ``obliquity``): for more oblique
# ones the updates find a simplex near, not on, the characteristic, their node gradients are off
# and the corrected values stop converging as the grid is refined. With the correction the
# default K is ceil(obliquity) + 1 within [3, 5] (5 where the obliquity is unknown).
_MAX_OBLIQUITY = 4.0


def obliquity(dynamics, grid, x_star) -> float:
    """Largest 1 / cos of the angle between the characteristic velocity b + a p and the normal p of
    the level sets of V near a stable equilibrium x*, in grid-index coordinates.

    From the linearisation b = J u, p = Q u (Q = ``potential_hessian``), over 2000 directions u;
    H = 0 gives <b + a p, p> = pᵀ a p / 2. 1 for gradient dynamics with isotropic noise on a
    square grid; grows like the rotation rate (about 1.7 kappa for ``problems.linear_3d(kappa)``).
    """
    xs = np.asarray(x_star, float)
    J = np.asarray(dynamics.drift_jacobian(xs), float).reshape(grid.dim, grid.dim)
    a = np.asarray(dynamics.noise_cov(xs), float).reshape(grid.dim, grid.dim)
    Q = np.asarray(dynamics.potential_hessian(xs), float)
    u = np.random.default_rng(0).normal(size=(2000, grid.dim))
    p = u @ Q.T
    v = u @ J.T + p @ a.T
    h = np.asarray(grid.spacing, float)
    cos = np.einsum("ij,ij->i", v, p) / (np.linalg.norm(v / h, axis=1) * np.linalg.norm(p * h, axis=1))
    return float(1.0 / max(cos.min(), 1e-300))


def default_K(shape) -> int:
    """Default update radius in grid steps for a grid of this shape (grows like the anchors)."""
    n = float(max(shape))
    x, y = _K_ANCHORS
    t = np.log(n)
    if t <= x[0]:
        K = y[0] + (t - x[0]) * (y[1] - y[0]) / (x[1] - x[0])
    elif t >= x[-1]:
        K = y[-1] + (t - x[-1]) * (y[-1] - y[-2]) / (x[-1] - x[-2])
    else:
        K = np.interp(t, x, y)
    return int(max(3, min(40, round(K))))


def solve(dynamics, grid, attractor, *, K=None, radius=None, n_directions=128, max_segment=2.0, correction=None):
    """Quasi-potential by the ordered line integral method (midpoint quadrature).

    Solves H(x, grad V) = 0 off the attractor A with V = 0 on A (theory.md sections 2-3) by
    accepting nodes in the order of their values and setting
    V(x) = min_y [V(y) + cost(y -> x)] over straight segments of at most K grid steps from the
    accepted front (one-point, triangle and, in 3-D, tetrahedron updates).

    Parameters
    ----------
    dynamics : Dynamics
        Any dynamics with a Lagrangian. Gaussian noise (``dynamics.is_gaussian``) uses the exact
        midpoint rule with A = a^-1 tabulated on the half grid; other noise laws (2-D only) use the
        local geometric cost ``dynamics.geometric_cost`` tabulated on the nodes for
        ``n_directions`` directions.
    grid : Grid
        2-D or 3-D.
    attractor : Attractor
        Validated point (stable equilibrium) or mask.
    K : int, optional
        Update radius in grid steps (>= 1). Default: :func:`default_K` (8 at 65 nodes per side,
        13 at 1025, 20 at 4097); with the curvature correction ceil(obliquity) + 1 within [3, 5]
        (5 for a set attractor).
    radius : float, optional
        Radius (physical units) of the ball around a point attractor where V is set to the
        Lyapunov quadratic. Default: 3 grid spacings (the largest spacing), shrunk to where the
        cubic term of V at the attractor is 10 % of the quadratic one, at least one cell diagonal
        (``fwpotential.solvers.start.default_radius``); it never depends on the size of the box.
        An explicit radius is used as given, at least one cell diagonal.
    n_directions : int
        Tabulated costs only: directions per node (angles 2 pi m / n), linear interpolation.
    max_segment : float
        Tabulated costs only: segments longer than this many cells are split and each piece
        sampled at its midpoint (a single midpoint is not trusted where the cost varies fast or
        is +inf on part of the segment).
    correction : bool, optional
        Curvature correction of the triangle and tetrahedron updates (see Notes). Default (None):
        on for 3-D grids with Gaussian noise of constant covariance (the only case it supports)
        unless the obliquity at a point attractor exceeds 4; False gives the plain linear
        interpolation. True where it is not supported is an InputError.

    Returns
    -------
    values : ndarray, grid.shape
        V; +inf where unreachable (never NaN).
    info : dict
        ``seconds`` (total), ``seconds_march``, ``accepted`` (nodes), ``K``, ``radius``,
        ``start_nodes``, ``quadrature`` ("midpoint"), ``cost`` ("gaussian" or "tabulated"),
        ``correction`` (bool, the curvature correction was used), ``obliquity`` (float, or None
        where not computed: 2-D, a set attractor, or no correction possible), ``updates``
        (counts of one-point / triangle / tetrahedron updates), ``calls`` (triangle and
        tetrahedron updates tried), ``warnings`` (list of str); ``quasipotential`` adds
        ``unreachable`` (nodes at +inf) for every method.

    Raises
    ------
    DimensionError
        Grid not 2-D or 3-D, or non-Gaussian noise on a 3-D grid.
    InputError
        K < 1, or a bad option value.
    NonFiniteError
        The drift or covariance is NaN or infinite at some point of the (half) grid; the message
        gives the coordinates.
    CovarianceError
        Degenerate noise: the geometric cost is +inf in every direction near the attractor; or a
        singular covariance on a 3-D grid.

    Notes
    -----
    First order (``ORDER``). Each accepted node updates the considered nodes of its ball of
    radius K, so the march makes O(N K^d) updates for N nodes, plus O(log N) per heap change.
    It takes any dynamics with a Lagrangian on 2-D and 3-D grids (non-Gaussian noise: 2-D);
    ``method="fmm"`` (second order) is faster for gradient dynamics with isotropic noise whose
    variance depends on the loss value, ``method="exact"`` solves 1-D problems.

    With Gaussian noise in 2-D, every considered node of the ball is updated from all triangles
    (p, x1), p the node just accepted and x1 its front neighbours (Dahiya & Cameron). Otherwise
    (tabulated costs, or 3-D without the correction), a node is updated from the triangle
    (x0, p) when p is next to its best one-point base x0, or from the triangles of p when p is
    that base, in 3-D each followed by its tetrahedra (Yang, Potter & Cameron).

    Curvature correction (3-D, Gaussian noise of constant covariance): linear interpolation of V
    on a front segment or triangle overestimates a convex V by O(h^2) per update, which sums to
    the plain scheme's O(h) error. The corrected updates subtract the quadratic term estimated
    from gradients of V at the front nodes (each computed once, when its node is accepted, from
    the derivative of its best update's cost in x; from the Lyapunov quadratic within 4 cells of
    a point attractor) and minimise the corrected objective; a gradient is used only where its
    node's best update is stationary (an interior point of a simplex, or a grid node consistent
    with its own gradient). Every accepted node then updates the considered nodes of its ball
    from all triangles (p, x1) and from the tetrahedra on the two lowest of them. The midpoint
    rule with quadratic interpolation is exact for a linear drift, so V is found to rounding
    there. The correction is used by default only where the characteristics near a point
    attractor cross the level sets of V at most 4 times more obliquely than the normal
    (:func:`obliquity`, ``info["obliquity"]``): for more oblique flows the corrected updates stop
    converging and the plain scheme is used.

    References
    ----------
    Dahiya & Cameron, "Ordered line integral methods for computing the quasi-potential",
    J. Sci. Comput. 75 (2018). Yang, Potter & Cameron, "Computing the quasipotential for
    nongradient SDEs in 3D", J. Comput. Phys. 379 (2019).
    """
    t_start = time.perf_counter()
    d = grid.dim
    n_directions = _check_options(dynamics, grid, K, correction, radius, n_directions, max_segment)
    _check_degenerate(dynamics, grid, attractor)
    mode, b, A, a_const, warnings_list = _noise_tables(dynamics, grid)
    correction, obl = _choose_correction(dynamics, grid, attractor, correction, d == 3 and mode == 0 and a_const)
    K = _choose_K(grid, K, correction, obl)
    costs = _cost_tables(dynamics, grid, mode, b, A, a_const, n_directions, max_segment)
    if radius is None:
        radius = default_radius(dynamics, grid, attractor)
    V0, init = start_values(dynamics, grid, attractor, radius)
    V = np.ascontiguousarray(V0, dtype=np.float64).reshape(-1).copy()
    fixed = np.ascontiguousarray(init).reshape(-1)
    corr = _correction_tables(dynamics, grid, attractor, radius, fixed, costs.T, correction)
    sten = _stencils(d, K, grid.spacing)
    stats = np.zeros(8, dtype=np.int64)
    all_pairs = (d == 2 and mode == 0) or correction
    _progress.advance(text="march")
    t0 = time.perf_counter()
    _k.march(V, fixed, costs, sten, corr, all_pairs, stats)
    t_march = time.perf_counter() - t0
    values = V.reshape(grid.shape)
    if np.isnan(values).any():  # pragma: no cover - the kernel never makes NaN from finite tables
        raise NonFiniteError("method='olim' produced NaN values; please report this with the dynamics used")
    unreachable = int(np.isinf(values).sum())
    if unreachable:
        warnings_list.append(f"{unreachable} nodes unreachable (V = +inf)")
    info = {
        "seconds": time.perf_counter() - t_start,
        "seconds_march": t_march,
        "accepted": int(stats[0]),
        "K": K,
        "radius": float(max(radius, np.linalg.norm(grid.spacing))) if attractor.mask is None else 0.0,
        "start_nodes": int(init.sum()),
        "quadrature": "midpoint",
        "cost": "gaussian" if mode == 0 else "tabulated",
        "correction": correction,
        "obliquity": obl,
        **_update_counts(stats),
        "warnings": warnings_list,
    }
    return values, info


# ------------------------------------------------------------------------------------ steps of solve
def _check_options(dynamics, grid, K, correction, radius, n_directions, max_segment):
    """Validate the grid's dimension and the options; returns n_directions as an int."""
    d = grid.dim
    if d not in (2, 3):
        hint = "use method='exact'" if d == 1 else "use a path method (minimum action paths) instead"
        raise DimensionError(f"method='olim' needs a 2-D or 3-D grid, got {d}-D; {hint}")
    if dynamics.dim != d:
        raise DimensionError(f"dynamics is {dynamics.dim}-D but the grid is {d}-D")
    if K is not None and (isinstance(K, bool) or not isinstance(K, (int, np.integer)) or K < 1):
        raise InputError(f"K (update radius in grid steps) must be an integer >= 1, got {K!r}")
    if correction is not None and not isinstance(correction, (bool, np.bool_)):
        raise InputError(f"correction must be True, False or None, got {correction!r}")
    if radius is not None and not (np.isscalar(radius) and np.isfinite(radius) and radius >= 0):
        raise InputError(f"radius must be a finite number >= 0 (physical units), got {radius!r}")
    n_directions = int(n_directions)
    if n_directions < 8:
        raise InputError(f"n_directions must be at least 8, got {n_directions}")
    if not (np.isfinite(max_segment) and max_segment > 0):
        raise InputError(f"max_segment must be a positive number of cells, got {max_segment!r}")
    return n_directions


def _noise_tables(dynamics, grid):
    """How the costs are evaluated: (mode, b, A, a_const, warnings).

    Mode 0: Gaussian midpoint costs from the half-grid tables of ``_gaussian_tables``; mode 1:
    tabulated geometric costs (non-Gaussian noise, or a singular covariance, 2-D only; b and A
    None)."""
    d = grid.dim
    if dynamics.is_gaussian:
        b, A, a_const, ok = _gaussian_tables(dynamics, grid)
        if ok:
            return 0, b, A, a_const, []
        if d == 3:
            raise CovarianceError(
                "the noise covariance a(x) is singular somewhere in the grid's box; method='olim' "
                "handles singular covariances only on 2-D grids (tabulated costs)"
            )
        return 1, None, None, True, ["noise covariance singular somewhere: tabulated geometric costs used"]
    if d == 3:
        raise DimensionError(
            "method='olim' supports non-Gaussian noise only on 2-D grids for now; use a 2-D "
            "problem or the Gaussian approximation of the noise"
        )
    return 1, None, None, True, []


def _choose_correction(dynamics, grid, attractor, correction, supported):
    """Whether the curvature correction is used, and the obliquity (None where not computed).

    supported: 3-D grid and Gaussian noise of constant covariance."""
    if correction and not supported:
        raise InputError(
            "correction=True needs a 3-D grid and Gaussian noise with a constant covariance; "
            "leave correction=None (plain linear interpolation elsewhere)"
        )
    obl = None
    if supported and attractor.mask is None:
        obl = obliquity(dynamics, grid, attractor.point)
    if correction is None:
        correction = supported and (obl is None or obl <= _MAX_OBLIQUITY)
    return bool(correction), obl


def _choose_K(grid, K, correction, obl):
    """The update radius: K as given, or the default for the grid (and the correction)."""
    if K is not None:
        return int(K)
    K = default_K(grid.shape)
    if correction:
        # the segments must reach across the front along characteristics that cross it obliquely
        K = min(K, _K_CORRECTED if obl is None else int(np.clip(np.ceil(obl) + 1, 3, _K_CORRECTED)))
    return int(K)


def _cost_tables(dynamics, grid, mode, b, A, a_const, n_directions, max_segment):
    """The kernel's cost tables (``_kernels.Costs``).

    With a constant A = L L^T the costs are Euclidean in the coordinates b' = L^T b, l' = L^T l:
    b then holds (L^T b, |L^T b|), T = L^T diag(h) and A the identity."""
    d = grid.dim
    h3 = np.ones(3)
    h3[:d] = grid.spacing
    shp3 = np.array(list(grid.shape) + [1] * (3 - d), dtype=np.int64)
    T = np.diag(h3)
    C = np.zeros((1, 1))
    if mode == 1:
        _check_drift(dynamics, grid.points().reshape(-1, d), "grid")
        _progress.advance(text="cost table")
        C = _tabulate_cost(dynamics, grid, n_directions)
        b, A, a_const = np.zeros((1, 4)), np.zeros((1, 6)), True
    else:
        n_directions = 1
        if a_const:
            Am = np.eye(3)
            Am[:d, :d] = _full(A[0], d)
            Lc = np.linalg.cholesky(Am)
            b[:, :3] = b[:, :3] @ Lc
            b[:, 3] = np.sqrt(np.einsum("ij,ij->i", b[:, :3], b[:, :3]))
            T = Lc.T @ np.diag(h3)
            A = np.array([[1.0, 0.0, 0.0, 1.0, 0.0, 1.0]])
    tab = _k.Tab(C, shp3[0], shp3[1], n_directions, h3[0], h3[1], float(max_segment))
    return _k.Costs(mode, _k.Gauss(b, A, a_const), tab, shp3, T)


def _correction_tables(dynamics, grid, attractor, radius, fixed, T, correction):
    """The kernel's curvature-correction arrays (``_kernels.Correction``; one row when off).

    Gradients in cost coordinates p' = T^-T diag(h) p are given on the start nodes (0 on a mask)
    and, within ``_GRAD_CELLS`` cells of a point attractor, from the Lyapunov quadratic."""
    d = grid.dim
    Tinv = np.linalg.inv(T)
    if not correction:
        return _k.Correction(np.zeros((1, 4)), np.zeros((1, 4)), Tinv, np.zeros(1, dtype=np.bool_))
    h3 = np.ones(3)
    h3[:d] = grid.spacing
    Gr = np.zeros((fixed.size, 4))
    grad_given = fixed.copy()
    if attractor.mask is None:
        xs = np.asarray(attractor.point, float)
        rg = max(float(radius), _GRAD_CELLS * float(np.max(grid.spacing)))
        pts = grid.points().reshape(-1, d)
        near = np.flatnonzero(grad_given | (np.linalg.norm(pts - xs, axis=1) <= rg))
        grad_given[near] = True
        Hs = np.asarray(dynamics.potential_hessian(xs), float)
        Gr[near, :3] = (pts[near] - xs) @ Hs.T @ (Tinv.T @ np.diag(h3)).T
        del pts
    Gr[grad_given, 3] = 1.0  # trusted gradients (column 3; see _kernels._gdiff)
    return _k.Correction(Gr, np.zeros_like(Gr), Tinv, grad_given)


def _update_counts(stats):
    """The ``updates`` and ``calls`` entries of info from the kernel's stats."""
    return {
        "updates": {"one_point": int(stats[1]), "triangle": int(stats[3]), "tetrahedron": int(stats[5])},
        "calls": {"triangle": int(stats[2]), "tetrahedron": int(stats[4])},
    }


# ------------------------------------------------------------------------------------ tables
def _stencils(d, K, h):
    """Update ball, neighbours, triangle bases and simplex table (all as 3-vectors): a
    ``_kernels.Stencil``."""
    h = np.asarray(h, float)
    hmax = float(h.max())
    r = [np.arange(-K, K + 1)] * d + [np.zeros(1, int)] * (3 - d)
    g = np.stack(np.meshgrid(*r, indexing="ij"), -1).reshape(-1, 3)
    hh = np.ones(3)
    hh[:d] = h
    dist2 = ((g * hh) ** 2).sum(1)
    linf = np.abs(g).max(1)
    keep = ((dist2 <= (K * hmax) ** 2 * (1 + 1e-12)) | (linf == 1)) & (linf > 0)
    offs = np.ascontiguousarray(g[keep], dtype=np.int64)
    nbr = offs[np.abs(offs).max(1) == 1]
    l1 = np.abs(nbr).sum(1)
    tri = nbr if d == 2 else nbr[l1 <= 2]
    tri = np.ascontiguousarray(tri, dtype=np.int64)
    lut_row = {tuple(v): i for i, v in enumerate(tri.tolist())}
    tri_lut = np.full(27, -1, dtype=np.int64)
    for v, i in lut_row.items():
        tri_lut[(v[0] + 1) * 9 + (v[1] + 1) * 3 + (v[2] + 1)] = i
    simp = np.full((len(tri), 8), -1, dtype=np.int64)
    if d == 3:
        for i, u in enumerate(tri.tolist()):
            row = []
            for j, w in enumerate(tri.tolist()):
                if j == i:
                    continue
                diff = tuple(wi - ui for wi, ui in zip(w, u))
                if diff not in lut_row:
                    continue
                # small triangles only: at least one edge along an axis
                if 1 in (sum(map(abs, u)), sum(map(abs, w)), sum(map(abs, diff))):
                    row.append(j)
            simp[i, : len(row)] = row
    return _k.Stencil(offs, np.ascontiguousarray(nbr), tri, tri_lut, simp)


def _slabs(axes_half, d):
    """Yield (slice along axis 0, points (m, d)) over the half grid in slabs."""
    n0 = len(axes_half[0])
    per = int(np.prod([len(a) for a in axes_half[1:]]))
    step = max(1, _SLAB_POINTS // max(per, 1))
    for s in range(0, n0, step):
        sub = [axes_half[0][s : s + step]] + list(axes_half[1:])
        pts = np.stack(np.meshgrid(*sub, indexing="ij"), -1).reshape(-1, d)
        yield slice(s * per, min(n0, s + step) * per), pts


def _half_axes(grid):
    return [np.linspace(lo, hi, 2 * n - 1) for (lo, hi), n in zip(grid.bounds, grid.shape)]


def _fmt_point(x):
    return "(" + ", ".join(f"{v:.6g}" for v in np.atleast_1d(x)) + ")"


def _check_drift(dynamics, pts, where):
    with np.errstate(all="ignore"):
        b = np.asarray(dynamics.drift(pts), dtype=np.float64).reshape(len(pts), -1)
    bad = ~np.all(np.isfinite(b), axis=1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise NonFiniteError(
            f"the drift is not finite (b = {_fmt_point(b[i])}) at x = {_fmt_point(pts[i])} "
            f"({int(bad.sum())} bad point(s) on the {where}); method='olim' needs b(x) finite on the "
            f"whole grid: fix the drift or shrink the grid's box"
        )
    return b


def _gaussian_tables(dynamics, grid):
    """Drift and A = a^-1 on the half grid, flat. Returns (b (n, 3), A (n or 1, 6), a_const, ok)."""
    d = grid.dim
    axes = _half_axes(grid)
    nh = int(np.prod([len(a) for a in axes]))
    b = np.zeros((nh, 4))
    A_full = A_const = A_first = None
    a_const = True
    for sl, pts in _slabs(axes, d):
        b[sl, :d] = _check_drift(dynamics, pts, "grid refined by 2")
        with np.errstate(all="ignore"):
            a = np.asarray(dynamics.noise_cov(pts), dtype=np.float64).reshape(len(pts), d, d)
        bad = ~np.all(np.isfinite(a), axis=(1, 2))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise NonFiniteError(
                f"the noise covariance is not finite at x = {_fmt_point(pts[i])} ({int(bad.sum())} bad "
                f"point(s)); fix the covariance or shrink the grid's box"
            )
        if A_first is None:
            A_first = a[0].copy()
        if a_const and not np.all(a == A_first):
            a_const = False
            A_full = np.zeros((nh, 6))
            if sl.start:  # the slabs done so far hold the constant
                A_full[: sl.start] = A_const
        try:
            Ainv = upper6(inverse_covariance(A_first[None] if a_const else a, who=_WHO, symmetric=True))
        except CovarianceError:
            return b, None, True, False
        if a_const:
            A_const = Ainv
        else:
            A_full[sl] = Ainv
    if a_const:
        return b, A_const, True, True
    return b, A_full, False, True


def _tabulate_cost(dynamics, grid, M):
    """Geometric cost per unit length on the nodes for M directions: shape (n_nodes, M)."""
    pts = grid.points().reshape(-1, 2)
    th = 2 * np.pi * np.arange(M) / M
    e = np.stack([np.cos(th), np.sin(th)], -1)
    C = np.empty((len(pts), M))
    step = max(1, _SLAB_POINTS // (4 * M))
    for s in range(0, len(pts), step):
        x = pts[s : s + step]
        with np.errstate(all="ignore"):
            c = dynamics.geometric_cost(x[:, None, :], e[None, :, :])
        c = np.asarray(c, dtype=np.float64)
        if np.isnan(c).any():  # a failed cost evaluation, not an unreachable direction (that is +inf)
            i, r = np.argwhere(np.isnan(c))[0]
            raise InputError(f"the geometric cost is NaN at x = {x[i]} in direction {e[r]}")
        C[s : s + step] = np.maximum(c, 0.0)
    return np.ascontiguousarray(C)


def _check_degenerate(dynamics, grid, attractor):
    """Raise CovarianceError when no direction has a finite cost near the attractor."""
    d = grid.dim
    h = grid.spacing
    if attractor.mask is not None:
        idx = np.argwhere(attractor.mask)
        idx = idx[np.linspace(0, len(idx) - 1, min(len(idx), 16)).astype(int)]
        centres = grid.lower + idx * h
    else:
        centres = np.asarray(attractor.point, float)[None]
    dirs = np.stack(np.meshgrid(*[[-1, 0, 1]] * d, indexing="ij"), -1).reshape(-1, d)
    dirs = dirs[np.abs(dirs).sum(1) > 0].astype(float)
    pts = (centres[:, None, :] + 2.0 * dirs[None] * h).reshape(-1, d)
    e = np.repeat(dirs[None], len(pts), 0)
    x = np.repeat(pts[:, None, :], len(dirs), 1)
    with np.errstate(all="ignore"):
        c = np.asarray(dynamics.geometric_cost(x, e), dtype=np.float64)
    if not np.any(np.isfinite(c)):
        where = _fmt_point(centres[0])
        raise CovarianceError(
            f"degenerate noise: the geometric cost is +inf in every grid direction near the attractor "
            f"{where}, so V = +inf off it; method='olim' needs noise that moves the state away from "
            f"the attractor (check the covariance or noise law there)"
        )
