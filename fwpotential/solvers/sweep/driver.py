"""method="sweep": Gauss–Seidel sweeping of a monotone scheme for H(x, ∇V) = 0 (2-D and 3-D).

The scheme is iterated in the 2^d alternating orderings of the grid (Zhao 2005; Kao, Osher &
Qian 2004), anchored at the attractor: V is fixed to the Lyapunov quadratic on a small ball around
a point attractor (0 on a set attractor) and starts at +inf elsewhere, so the iterates decrease
monotonically to the discrete solution. H(x, 0) = 0, so without this anchoring the constant would
solve the problem too. Unreachable nodes stay +inf.

Schemes (option ``scheme``):

- ``"semi-lagrangian"`` (default): dynamic programming V(x) = min_y [V(y) + cost(y -> x)] over
  points y on the faces of the ring of neighbours of x (Falcone & Ferretti), V(y) by linear
  interpolation. Gaussian noise: midpoint geometric cost |b|_A |l|_A - <b, A l>, b and A = a^-1 at
  the midpoint (2-D and 3-D); in 2-D the segments end on the square rings of radius 1, 2, ..., K
  (every node and face of ring 1; on each larger ring the few nodes and faces around the ray
  through the best end point found so far, so the direction is refined ring by ring): the
  one-point updates along this many lattice directions remove most of the interpolation error,
  as OLIM's ball of radius K does. Before the alternating sweeps, passes in increasing order of V
  (a heap pass from the start set, then passes over the nodes sorted by their current V) bring V
  close to the fixed point: the sweeps that follow only verify it. Any other noise law: the geometric cost per unit length tabulated
  once per node and direction, +inf included; 2-D: ``face_points`` directions per face of the
  ring (from ``Dynamics.geometric_cost``); 3-D: the lattice of step 1/``face_points`` on the
  faces of the 3x3x3 cube (26 neighbours and the points between them on the 48 triangles), the
  cost being the support function of {H(x, .) <= 0} found by Newton on H (``table3d``), so a
  noise law given only through Λ (``CustomNoise``) works in 3-D. First order.
- ``"godunov"`` (2-D): the upwind (Godunov) scheme for convex H on H itself, for any noise law
  given only through Λ (``CustomNoise``), finite sums and Gaussian noise. By convex duality its
  update on a face of the stencil is min_t [(1-t) V_a + t V_b + sigma_S(x - y(t))] with sigma_S the
  support function of S(x) = {p : H(x, p) <= 0} (see ``godunov``): the Gaussian part of H in
  closed form (b, a^-1 at the midpoint, as above) plus the non-Gaussian correction tabulated per
  node at ``directions`` directions from the boundary of S, found by root-finding of H along rays
  (finite sums in Numba, other laws through ``Dynamics.noise.cgf``). +inf where S is unbounded
  towards a direction (bounded noise). Same stencil (rings 1 and K) and accuracy as the
  semi-Lagrangian scheme; first order.
- ``"lax-friedrichs"``: the Lax–Friedrichs sweeping scheme of Kao, Osher & Qian (2004) on H itself,
  for Gaussian noise and the discrete (finite-sum minibatch) noise laws, whose Λ the kernel
  evaluates from tabulated a(x) or atoms z_k(x). First order, far more diffusive (kept for
  comparison; use "godunov").
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from fwpotential import _progress
from fwpotential.errors import ConvergenceError, GridError, InputError
from fwpotential.solvers import tables
from fwpotential.solvers.start import default_radius, start_values
from fwpotential.solvers.sweep import _laxfriedrichs, _passes, _sl2d, _sl3d, godunov, table3d

OPTIONS = frozenset({"tol", "max_sweeps", "scheme", "radius", "K", "cost", "face_points", "directions", "ordered"})
ORDER = 1.0
SCHEMES = ("semi-lagrangian", "godunov", "lax-friedrichs")

_WIDTH = 2  # godunov: faces searched on each side of the ring-1 direction on the ring of radius K
# semi-Lagrangian, Gaussian, 2-D: ring nodes searched on each side of the current direction on rings
# 2..K (a narrower search misses the characteristic where the direction turns between rings)
_SL_WIDTH = 2
# at most this many passes in increasing order of V: after a heap pass and a few sorted passes the
# characteristics are followed and the alternating cycles verify the fixed point faster
_MAX_ORDERED = 5
_TOL_REL = 1e-6  # default tol, relative to max(1, largest finite V)
_LF_BOX = 1.2  # clipping box of the Lax–Friedrichs scheme, relative to the bound on |grad V|
_UNLOCK = 0.1  # a decrease below _UNLOCK * tol does not unlock the neighbours
# re-evaluations of b, A at the current minimiser of a face update (the fixed point of the
# midpoint rule; more do not change the error)
_N_REFINE = 1
_ROWS_PER_CHUNK_EVALS = 200_000  # geometric-cost evaluations per chunk when building tables


@dataclass(frozen=True)
class _Scheme:
    """A scheme bound to the arrays it updates in place.

    ``sweep(signs, full, eps)`` runs one Gauss–Seidel pass in the ordering ``signs`` and returns the
    largest decrease (``full``: a decrease unlocks every node whose stencil reads the node, not
    only the 8 neighbours; ``eps``: smaller decreases unlock nothing, where the kernel supports it).
    ``ordered(first, eps)`` runs one pass in increasing order of V (None: the scheme has none).
    ``ring``: the stencil reaches beyond the 8 neighbours (a verifying cycle with ``full`` ends).
    """

    kind: str
    sweep: Callable
    ordered: Callable | None = None
    ring: bool = False
    warnings: tuple = ()


def solve(
    dynamics,
    grid,
    attractor,
    *,
    tol=None,
    max_sweeps=500,
    scheme="semi-lagrangian",
    radius=None,
    K=None,
    cost="auto",
    face_points=None,
    directions=32,
    ordered=True,
    _generic_table=False,
):
    """Solve H(x, ∇V) = 0 off A, V = 0 on A by sweeping (see the module docstring).

    Parameters
    ----------
    tol : float, optional
        Stop when the largest decrease of V over a full cycle of the 2^d orderings is <= tol
        (absolute). Default: 1e-6 times max(1, largest finite V), re-evaluated each cycle; the
        decrease per cycle falls geometrically, so this is far below the discretisation error.
    max_sweeps : int
        Sweeps allowed (full cycles of the 2^d orderings, and the passes in increasing order of V
        that precede them for the 2-D semi-Lagrangian scheme with Gaussian noise);
        ConvergenceError beyond.
    scheme : {"semi-lagrangian", "godunov", "lax-friedrichs"}
    radius : float, optional
        Radius (physical units) of the ball around a point attractor on which V is fixed to the
        Lyapunov quadratic. Default (as olim): 3 grid spacings (the largest spacing), shrunk to
        where the cubic term of V at the attractor is 10 % of the quadratic one, at least one
        cell diagonal (``fwpotential.solvers.start.default_radius``); it never depends on the
        size of the box. Ignored for set attractors.
    K : int, optional
        Semi-Lagrangian with Gaussian noise, 2-D: the segments end on the square rings of radius 1,
        2, ..., K cells around the node; godunov: rings 1 and K (as OLIM's update radius: longer
        segments, less interpolation error, more quadrature error where the drift is nonlinear).
        Default ``default_K``: round(2 n^(1/3)) for n nodes on the longest side (8 at 65, 20 at 1025).
    cost : {"auto", "table"}
        Semi-Lagrangian only: "auto" uses the closed-form Gaussian cost when the noise is Gaussian
        and the cost table otherwise; "table" forces the table.
    face_points : int, optional
        Semi-Lagrangian with a cost table: directions per face of the ring (8 faces in 2-D;
        default 8); in 3-D the lattice step 1/face_points on the cube faces (default 2: 98
        directions; 3: 218, error about 0.7x, table and sweeps about 2.5x slower).
    directions : int
        Godunov with non-Gaussian noise: directions (>= 8) at which the support function of
        {H(x, .) <= 0} is tabulated per node (cubic Hermite in between).
    ordered : bool
        Semi-Lagrangian with Gaussian noise, 2-D: start with passes in increasing order of V (a
        heap pass, then passes over the nodes sorted by V; default True). They only accelerate:
        the alternating cycles that follow verify the fixed point either way, so False gives a
        fixed point of the same scheme up to tol (the ring search depends on the iterates, so
        the two differ slightly).

    Returns
    -------
    values : ndarray, grid.shape
    info : dict
        ``scheme``, ``sweeps`` (full cycles of the 2^d orderings, plus the passes in increasing
        order of V), ``ordered_passes`` (those passes; 2-D semi-Lagrangian with Gaussian noise),
        ``passes``, ``last_change`` (largest decrease of V in the last cycle, <= tol),
        ``residual`` (HJ residual in the units of H: max over nodes of the smallest |H(x, p)| over
        the 2^d one-sided difference gradients p, on the nodes below the lowest V on the box
        faces, away from the faces, the start set and +inf; O(h) on smooth problems; see
        ``hj_residual``), ``residual_nodes``, ``start_nodes``, ``radius``, ``K`` (ring radius, when the scheme uses the ring), ``seconds``,
        ``warnings``.
    """
    t_start = time.perf_counter()
    _check_grid(dynamics, grid)
    relative = tol is None  # tol relative to max(1, largest finite V), re-evaluated each cycle
    tol, max_sweeps = _check_tol(_TOL_REL if relative else tol, max_sweeps)
    K, radius = _check_options(dynamics, grid, attractor, scheme, cost, face_points, K, radius, ordered)
    V, init = start_values(dynamics, grid, attractor, radius)
    V = np.ascontiguousarray(V, dtype=np.float64)
    fixed = np.ascontiguousarray(init, dtype=np.uint8)
    lock = np.zeros(grid.shape, dtype=np.uint8)
    if scheme == "semi-lagrangian":
        sch = _semi_lagrangian(dynamics, grid, (V, fixed, lock, init), K, cost, face_points, ordered)
    elif scheme == "godunov":
        sch = _godunov(dynamics, grid, (V, fixed, lock), K, directions, _generic_table)
    else:
        sch = _lax_friedrichs(dynamics, grid, (V, fixed, lock))
    counts = _iterate(sch, V, lock, grid.dim, tol, relative, max_sweeps, scheme)
    warnings_list = list(sch.warnings)
    n_neg = int(np.sum(V < 0))
    if n_neg:
        V = np.maximum(V, 0.0)
        warnings_list.append(f"{n_neg} slightly negative values set to 0")
    residual, n_res = hj_residual(dynamics, grid, V, init)
    info = {
        "scheme": sch.kind,
        **counts,
        "residual": residual,
        "residual_nodes": n_res,
        "start_nodes": int(init.sum()),
        "radius": radius if attractor.mask is None else None,
        "seconds": time.perf_counter() - t_start,
        "warnings": warnings_list,
    }
    if sch.ring:
        info["K"] = K
    return V, info


def _check_grid(dynamics, grid):
    d = grid.dim
    if d == 1:
        raise GridError("method='sweep' needs a 2-D or 3-D grid, got 1-D; use method='exact'")
    if d > 3:
        raise GridError(
            f"method='sweep' needs a 2-D or 3-D grid, got {d}-D; method='fmm' takes any dimension for "
            "gradient dynamics with noise a = s(f) I"
        )
    if dynamics.dim != d:
        raise InputError(f"the dynamics is {dynamics.dim}-D but the grid is {d}-D")


def _check_options(dynamics, grid, attractor, scheme, cost, face_points, K, radius, ordered):
    """Validate the scheme options; returns (K, radius) with their defaults filled in."""
    if scheme not in SCHEMES:
        raise InputError(f"scheme={scheme!r}: choose one of {list(SCHEMES)}")
    if cost not in ("auto", "table"):
        raise InputError(f"cost={cost!r}: choose 'auto' (closed form for Gaussian noise) or 'table'")
    if face_points is not None and (
        isinstance(face_points, bool) or not isinstance(face_points, (int, np.integer)) or face_points < 1
    ):
        raise InputError(f"face_points must be a positive integer, got {face_points!r}")
    if not isinstance(ordered, (bool, np.bool_)):
        raise InputError(f"ordered must be True or False, got {ordered!r}")
    if K is None:
        K = default_K(grid)
    if isinstance(K, bool) or not isinstance(K, (int, np.integer)) or K < 1:
        raise InputError(f"K must be a positive integer (cells), got {K!r}")
    if radius is None:
        radius = default_radius(dynamics, grid, attractor)
    else:
        radius = float(radius)
        if not (np.isfinite(radius) and radius > 0):
            raise InputError(f"radius must be a positive length, got {radius!r}")
    return int(K), radius


# ---------------------------------------------------------------------------------------------
# schemes: the tables of each, and its pass bound to the arrays
# ---------------------------------------------------------------------------------------------
def _semi_lagrangian(dynamics, grid, arrays, K, cost, face_points, ordered):
    """The semi-Lagrangian scheme: Gaussian midpoint cost where the noise is Gaussian with a
    positive-definite covariance on the half grid (and cost="auto"), else the cost table."""
    V, fixed, lock, init = arrays
    notes = ()
    A = None
    if cost == "auto" and dynamics.is_gaussian:
        B, A = tables.half_grid_coefficients(dynamics, grid)
        if A is None:
            notes = ("noise covariance singular somewhere: used the cost table",)
    if A is None and grid.dim == 3:
        sch = _sl_table_3d(dynamics, grid, (V, fixed, lock), face_points)
    elif A is None:
        Q = 8 if face_points is None else int(face_points)
        C = _cost_table_2d(dynamics, grid, Q)

        def sweep(s, full, eps):
            return _sl2d.sl_table_pass_2d(V, fixed, lock, C, Q, s)

        sch = _Scheme(f"semi-lagrangian, cost table ({8 * Q} directions)", sweep)
    elif grid.dim == 2:
        sch = _sl_gaussian_2d(grid, (V, fixed, lock, init), B, A, K, ordered)
    else:
        g = _sl3d.Gauss3D(B, A, grid.spacing, *_passes.ring3(), 0)

        def sweep(s, full, eps):
            return _sl3d.sl_pass_3d(V, fixed, lock, g, s)

        sch = _Scheme("semi-lagrangian, Gaussian midpoint cost", sweep)
    return replace(sch, warnings=notes)


def _sl_gaussian_2d(grid, arrays, B, A, K, ordered):
    """2-D semi-Lagrangian with the Gaussian midpoint cost on the rings 1..K, with the passes in
    increasing order of V first when ``ordered``."""
    V, fixed, lock, init = arrays
    h = grid.spacing
    radii = np.arange(1, K + 1, dtype=np.int64)
    C = tables.cost_pack_2d(B, A, with_A=True)
    g = _sl2d.Rings2D(C, h[0], h[1], radii, *_passes.ring_table(radii), _SL_WIDTH, _N_REFINE)
    raster = np.ones(2, dtype=np.int64)

    def sweep(s, full, eps):
        return _sl2d.sl_pass_2d(V, fixed, lock, g, s, full, eps)

    def ordered_pass(first, eps):
        if first:
            _sl2d.sl_ordered_pass_2d(V, fixed, g)
            return np.inf
        idx = np.flatnonzero(np.isfinite(V) & ~init)
        order = np.ascontiguousarray(idx[np.argsort(V.reshape(-1)[idx], kind="stable")], dtype=np.int64)
        return _sl2d.sl_pass_2d(V, fixed, lock, g, raster, False, eps, order)

    kind = f"semi-lagrangian, Gaussian midpoint cost, rings 1 to K={K}"
    return _Scheme(kind, sweep, ordered_pass if ordered else None, ring=K > 1)


def _sl_table_3d(dynamics, grid, arrays, face_points):
    """3-D semi-Lagrangian with a per-node table of the support function of {H <= 0}."""
    V, fixed, lock = arrays
    if dynamics.noise.is_discrete:
        raise InputError(
            "scheme='semi-lagrangian' with finite-sum (bounded) noise is implemented in 2-D only; "
            "in 3-D use scheme='lax-friedrichs'"
        )
    Q = 2 if face_points is None else int(face_points)
    C = table3d.cost_table(dynamics, grid, Q)
    g = table3d.Table3D(C, _passes.ring3()[0], *table3d.triangle_samples(Q))

    def sweep(s, full, eps):
        return table3d.sl_table_pass_3d(V, fixed, lock, g, s)

    return _Scheme(f"semi-lagrangian, 3-D cost table ({C.shape[-1]} directions, face_points={Q})", sweep)


def _godunov(dynamics, grid, arrays, K, directions, generic):
    V, fixed, lock = arrays
    if grid.dim != 2:
        raise InputError(
            "scheme='godunov' is implemented in 2-D; in 3-D use scheme='semi-lagrangian' (Gaussian noise), "
            "scheme='lax-friedrichs' or method='olim'"
        )
    M = _check_directions(directions)
    T, Bh, Ah, gauss, corr = godunov.tables(dynamics, grid, M, generic=generic)
    h = grid.spacing
    g = godunov.GodunovTables(T, Bh, Ah, gauss, corr, h[0], h[1], K, _WIDTH)

    def sweep(s, full, eps):
        return godunov.godunov_pass_2d(V, fixed, lock, g, s, full)

    kind = "godunov (support function of {H <= 0}" + (f", {M} directions" if corr else "") + f"), rings 1 and K={K}"
    return _Scheme(kind, sweep, ring=K > 1)


def _lax_friedrichs(dynamics, grid, arrays):
    V, fixed, lock = arrays
    t = _laxfriedrichs.LFTables(np.array(grid.shape, dtype=np.int64), grid.spacing, *_lf_tables(dynamics, grid))
    Vf, fixedf, lockf = V.reshape(-1), fixed.reshape(-1), lock.reshape(-1)

    def sweep(s, full, eps):
        return _laxfriedrichs.lf_pass(Vf, fixedf, lockf, t, s)

    return _Scheme("lax-friedrichs", sweep)


# ---------------------------------------------------------------------------------------------
# Gauss–Seidel iteration
# ---------------------------------------------------------------------------------------------
def _iterate(sch, V, lock, d, tol, relative, max_sweeps, scheme):
    """Ordered passes (if any), then cycles of the 2^d orderings until a cycle decreases V by at most
    tol; with a ring stencil, a verifying cycle with the full dependency must agree. Returns the
    counts of info; ConvergenceError after max_sweeps.

    With the ring of radius K, a node is recomputed when one of its 8 neighbours decreased
    (locking, Bak, McLaughlin & Renzi 2010); values reach it through them. Once a cycle changes
    nothing by more than tol, a verification cycle recomputes every node with the full dependency
    (a decrease anywhere on the ring unlocks the node): the result is a fixed point of the complete
    scheme up to tol. Semi-Lagrangian with Gaussian noise (2-D): a decrease below _UNLOCK * tol
    unlocks nothing (most late decreases are tiny), and the full dependency is the square of
    half-width K (every ring).
    """

    def current_tol():
        return tol * max(1.0, float(np.max(V, where=np.isfinite(V), initial=0.0))) if relative else tol

    c = {"sweeps": 0, "ordered_passes": 0, "passes": 0}
    tol_now = current_tol()
    verify = False
    change = np.inf
    if sch.ordered is not None:
        # on rotational fields the characteristics spiral and every alternating ordering follows
        # them only a quarter turn; passes in increasing order of V follow them, so they do most of
        # the work and the alternating cycles below verify
        while c["sweeps"] < max_sweeps:
            change = sch.ordered(c["ordered_passes"] == 0, _UNLOCK * tol_now)
            c["ordered_passes"] += 1
            c["sweeps"] += 1
            c["passes"] += 1
            tol_now = current_tol()
            _progress.advance(text=f"ordered pass {c['ordered_passes']}, change {change:.2g} (tol {tol_now:.2g})")
            if change <= tol_now:
                verify = True
                break
            if c["ordered_passes"] >= _MAX_ORDERED:
                break
    orderings = [np.array(s, dtype=np.int64) for s in itertools.product((1, -1), repeat=d)]
    while c["sweeps"] < max_sweeps:
        c["sweeps"] += 1
        if verify:
            lock[...] = 0
        change = 0.0
        for s in orderings:
            change = max(change, sch.sweep(s, verify or not sch.ring, _UNLOCK * tol_now))
            c["passes"] += 1
        tol_now = current_tol()
        _progress.advance(text=f"sweep {c['sweeps']}, change {change:.2g} (tol {tol_now:.2g})")
        if change <= tol_now:
            if verify or not sch.ring:
                return {**c, "last_change": float(change)}
            verify = True
        else:
            verify = False
    raise ConvergenceError(
        f"method='sweep' ({scheme}) did not converge in max_sweeps={max_sweeps} "
        f"(last change {change:.3g} > tol={tol_now:g}); raise max_sweeps or tol"
    )


# ---------------------------------------------------------------------------------------------
def default_K(grid):
    """Ring radius round(2 n^(1/3)), n the nodes on the longest side: 8 at 65, 13 at 257, 20 at 1025.

    n^(1/3) balances the interpolation error (falling with longer segments) and the midpoint
    quadrature error (growing with them). It is a different rule from olim's ``default_K``
    (interpolated between anchors, 13 at 1025) because the radii belong to different stencils:
    here every ring 1..K, searched around the best direction found so far; there the ball of
    radius K of the ordered march.
    """
    n = max(grid.shape)
    return max(1, int(round(2.0 * n ** (1.0 / 3.0))))


def _check_directions(M):
    if isinstance(M, bool) or not isinstance(M, (int, np.integer)) or M < 8:
        raise InputError(f"directions must be an integer >= 8, got {M!r}")
    return int(M)


def _check_tol(tol, max_sweeps):
    try:
        tol = float(tol)
    except (TypeError, ValueError) as exc:
        raise InputError(f"tol must be a positive number, got {tol!r}") from exc
    if not (np.isfinite(tol) and tol > 0):
        raise InputError(f"tol must be a positive number, got {tol!r}")
    if isinstance(max_sweeps, bool) or not isinstance(max_sweeps, (int, np.integer)) or max_sweeps < 1:
        raise InputError(f"max_sweeps must be a positive integer, got {max_sweeps!r}")
    return tol, int(max_sweeps)


def _cost_table_2d(dynamics, grid, Q):
    """C[i, j, r] = geometric cost at node (i, j) of the segment -o_r h, o_r = table_offsets_2d(Q)[r]."""
    dirs = -_sl2d.table_offsets_2d(Q) * grid.spacing  # (8Q, 2) segments l = x - y
    X = grid.points()
    n0, n1 = grid.shape
    C = np.empty((n0, n1, len(dirs)))
    rows = max(1, _ROWS_PER_CHUNK_EVALS // (n1 * len(dirs)))
    with np.errstate(over="ignore", invalid="ignore"):
        for r0 in range(0, n0, rows):
            x = X[r0 : r0 + rows, :, None, :]
            C[r0 : r0 + rows] = dynamics.geometric_cost(x, dirs)
    if np.isnan(C).any():
        i, j, r = np.argwhere(np.isnan(C))[0]
        raise InputError(f"the geometric cost is NaN at x = {X[i, j]} in direction {dirs[r]}")
    return np.ascontiguousarray(C)


def _lf_tables(dynamics, grid):
    """Arrays of _laxfriedrichs.LFTables after shape and h: b, kind, a, Z, scale, alpha, P (all
    flattened over the nodes)."""
    d = grid.dim
    X = grid.points().reshape(-1, d)
    b = np.ascontiguousarray(dynamics.drift(X), dtype=np.float64)
    a = np.ascontiguousarray(dynamics.noise_cov(X), dtype=np.float64)
    noise = dynamics.noise
    atoms = None if dynamics.is_gaussian else noise.atom_form(X)
    if dynamics.is_gaussian:
        kind, Z, scale = 0, np.zeros((1, 1, d)), 1.0
    elif atoms is not None:
        kind = 1
        Z, scale = atoms
    else:
        raise InputError(
            f"scheme='lax-friedrichs' evaluates Λ in compiled code for Gaussian and finite-sum noise only, "
            f"not {type(noise).__name__}; use scheme='semi-lagrangian' (cost table) or method='olim'"
        )
    # box |p_k| <= P_k holding the zero level set of the Gaussian H (Gaussian approximation for
    # other laws): p in {<b,p> + 1/2 p'ap <= 0}, |p_k| <= |(Ab)_k| + |b|_A sqrt(A_kk), A = a^-1
    A = tables.inverse_covariance(a, X, who="scheme='lax-friedrichs'")
    Ab = np.einsum("nij,nj->ni", A, b)
    nb = np.sqrt(np.maximum(np.einsum("ni,ni->n", b, Ab), 0.0))
    bound = np.abs(Ab) + nb[:, None] * np.sqrt(np.einsum("nii->ni", A))
    P = _LF_BOX * bound + 0.05 * bound.max(axis=0, keepdims=True) + 1e-12
    if kind == 0:
        # max of |dH/dp_k| = |b_k + (a p)_k| over the box: the scheme is then monotone everywhere
        alpha = np.abs(b) + np.einsum("nij,nj->ni", np.abs(a), P)
    else:
        alpha = np.abs(b) + np.abs(Z).max(axis=1)
    alpha = np.maximum(alpha, 1e-12)
    return (
        b,
        kind,
        a,
        Z,
        scale,
        np.ascontiguousarray(alpha),
        np.ascontiguousarray(P),
    )


def hj_residual(dynamics, grid, V, init, margin=2):
    """HJ residual of the computed V (info["residual"]), in the units of H.

    Discrete gradient: at each node the 2^d one-sided (backward) difference gradients
    p_s = (s_k (V(x) - V(x - s_k h_k e_k)) / h_k)_k, one per orthant s in {-1, 1}^d, and the
    residual of the node is the smallest |H(x, p_s)| over the orthants with finite neighbours. This
    is O(h) where V is smooth and stays so at the kinks of V: the viscosity solution of a convex H
    is semiconcave, its kinks are minima of smooth branches and one orthant sees a single branch
    (centred differences would not). Nodes: V finite and below its smallest value on the faces of
    the box (there the minimum action paths stay in the box: no boundary effect), at least
    ``margin`` cells from the faces and more than two cells from the start set and from +inf
    nodes. Returns (max
    residual, node count); (nan, 0) when no node qualifies. Compare it with the size of the terms
    of H, e.g. max |<b, ∇V>| over the same nodes.
    """
    d = grid.dim
    h = grid.spacing
    m = max(int(margin), 1)
    core = tuple(slice(m, n - m) for n in grid.shape)
    Vc = V[core]
    ok = np.isfinite(Vc)
    face = np.zeros(grid.shape, bool)
    for k in range(d):
        idx = [slice(None)] * d
        idx[k] = [0, -1]
        face[tuple(idx)] = True
    vf = V[face]
    if np.isfinite(vf).any():
        ok &= Vc < vf[np.isfinite(vf)].min()
    # away from the start set and from unreachable nodes: dilate them by two cells
    near = init | ~np.isfinite(V)
    for _ in range(2):
        grown = near.copy()
        for k in range(d):
            grown[(slice(None),) * k + (slice(1, None),)] |= near[(slice(None),) * k + (slice(None, -1),)]
            grown[(slice(None),) * k + (slice(None, -1),)] |= near[(slice(None),) * k + (slice(1, None),)]
        near = grown
    ok &= ~near[core]
    if not ok.any():
        return float("nan"), 0
    X = grid.points()[core][ok]
    b = dynamics.drift(X)
    best = np.full(X.shape[0], np.inf)
    for signs in itertools.product((1, -1), repeat=d):
        p = np.empty(X.shape)
        finite = np.ones(X.shape[0], bool)
        for k, sk in enumerate(signs):
            sl = list(core)
            sl[k] = slice(m - sk, grid.shape[k] - m - sk)
            Vn = V[tuple(sl)][ok]
            finite &= np.isfinite(Vn)
            with np.errstate(invalid="ignore"):
                p[:, k] = sk * (Vc[ok] - Vn) / h[k]
        p[~finite] = 0.0
        with np.errstate(over="ignore", invalid="ignore"):
            Hv = np.abs(np.einsum("ni,ni->n", b, p) + dynamics.noise.cgf(X, p))
        best = np.minimum(best, np.where(finite & np.isfinite(Hv), Hv, np.inf))
    has = np.isfinite(best)
    if not has.any():
        return float("nan"), 0
    return float(best[has].max()), int(has.sum())
