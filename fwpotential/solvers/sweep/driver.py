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
  cost being the support function of {H(x, .) <= 0} found by Newton on H (``_table3``), so a
  noise law given only through Λ (``CustomNoise``) works in 3-D. First order.
- ``"godunov"`` (2-D): the upwind (Godunov) scheme for convex H on H itself, for any noise law
  given only through Λ (``CustomNoise``), finite sums and Gaussian noise. By convex duality its
  update on a face of the stencil is min_t [(1-t) V_a + t V_b + sigma_S(x - y(t))] with sigma_S the
  support function of S(x) = {p : H(x, p) <= 0} (see ``_godunov``): the Gaussian part of H in
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

import numpy as np

from fwpotential import _progress
from fwpotential.errors import ConvergenceError, CovarianceError, GridError, InputError
from fwpotential.solvers.start import default_radius, start_values
from fwpotential.solvers.sweep import _kernels as _k

OPTIONS = frozenset({"tol", "max_sweeps", "scheme", "radius", "K", "cost", "face_points", "directions"})
ORDER = 1.0
SCHEMES = ("semi-lagrangian", "godunov", "lax-friedrichs")

_WIDTH = 2  # godunov: faces searched on each side of the ring-1 direction on the ring of radius K
_ALL_FACES = True  # faces on every ring (False: rings 1 and K; 1.25x the error at 257^2)
_MAX_ORDERED = 5  # at most this many ordered passes (rotational kappa = 5, 257^2: 22 -> 5, 6.3 s -> 4.2 s)
_ORDERED = True  # 2-D semi-Lagrangian, Gaussian: passes in increasing order of V first
_SL_WIDTH = 2  # semi-Lagrangian: nodes searched on each side of the current direction on rings 2..K
# (1: 1.3x the error at 129^2)
_TOL_REL = 1e-6  # default tol, relative to max(1, largest finite V)
_LF_BOX = 1.2  # clipping box of the Lax–Friedrichs scheme, relative to the bound on |grad V|
_UNLOCK = 0.1  # a decrease below _UNLOCK * tol does not unlock the neighbours
_N_REFINE = 1  # re-evaluations of b, A at the current minimiser of a face update (2: same errors, slower)
_ROWS_PER_CHUNK_EVALS = 200_000  # geometric-cost evaluations per chunk when building tables


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
        Default grows with the grid like olim's, about 8 at 65^2 and 13 at 1025^2.
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

    Returns
    -------
    values : ndarray, grid.shape
    info : dict
        ``scheme``, ``sweeps`` (full cycles of the 2^d orderings, plus the passes in increasing
        order of V), ``ordered_passes`` (those passes; 2-D semi-Lagrangian with Gaussian noise),
        ``passes``, ``last_change`` (largest decrease of V
        in the last cycle, <= tol), ``residual`` (HJ residual in the units of H: max over nodes of
        the smallest |H(x, p)| over the 2^d one-sided difference gradients p, on the nodes below
        the lowest V on the box faces, away from the faces, the start set and +inf; O(h) on smooth
        problems; see ``hj_residual``), ``residual_nodes``, ``start_nodes``, ``unreachable_nodes``,
        ``K`` (ring radius, when the scheme uses the ring),
        ``seconds``, ``warnings``.
    """
    t_start = time.perf_counter()
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
    tol_abs = tol is not None
    tol, max_sweeps = _check_tol(_TOL_REL if tol is None else tol, max_sweeps)
    if scheme not in SCHEMES:
        raise InputError(f"scheme={scheme!r}: choose one of {list(SCHEMES)}")
    if cost not in ("auto", "table"):
        raise InputError(f"cost={cost!r}: choose 'auto' (closed form for Gaussian noise) or 'table'")
    if face_points is not None and (
        isinstance(face_points, bool) or not isinstance(face_points, (int, np.integer)) or face_points < 1
    ):
        raise InputError(f"face_points must be a positive integer, got {face_points!r}")
    h = grid.spacing
    if K is None:
        K = default_K(grid)
    if isinstance(K, bool) or not isinstance(K, (int, np.integer)) or K < 1:
        raise InputError(f"K must be a positive integer (cells), got {K!r}")
    K = int(K)
    if radius is None:
        radius = default_radius(dynamics, grid, attractor)
    else:
        radius = float(radius)
        if not (np.isfinite(radius) and radius > 0):
            raise InputError(f"radius must be a positive length, got {radius!r}")

    V, init = start_values(dynamics, grid, attractor, radius)
    V = np.ascontiguousarray(V, dtype=np.float64)
    fixed = np.ascontiguousarray(init, dtype=np.uint8)
    lock = np.zeros(grid.shape, dtype=np.uint8)
    warnings_list = []
    orderings = [np.array(s, dtype=np.int64) for s in itertools.product((1, -1), repeat=d)]
    ring = False
    ordered_pass = None  # 2-D semi-Lagrangian, Gaussian: passes in increasing order of V first

    if scheme == "semi-lagrangian":
        use_table = cost == "table" or not dynamics.is_gaussian
        if not use_table:
            B, A = _half_grid_coefficients(dynamics, grid)
            if A is None:
                use_table = True
                warnings_list.append("noise covariance singular somewhere: used the cost table")
        if use_table and d == 3:
            from fwpotential.model.noise import _DiscreteNoise
            from fwpotential.solvers.sweep import table3d as _table3

            if isinstance(dynamics.noise, _DiscreteNoise):
                raise InputError(
                    "scheme='semi-lagrangian' with finite-sum (bounded) noise is implemented in 2-D only; "
                    "in 3-D use scheme='lax-friedrichs'"
                )

            Q = 2 if face_points is None else int(face_points)
            C = _table3.cost_table(dynamics, grid, Q)
            offs, tris, _ = _k.ring3()
            tris, rows, wts = _table3.triangle_samples(Q)
            kind = f"semi-lagrangian, 3-D cost table ({C.shape[-1]} directions, face_points={Q})"

            def one_pass(s, full):
                return _table3.sl_table_pass_3d(V, fixed, lock, C, offs, tris, rows, wts, s[0], s[1], s[2])

        elif use_table:
            Q = 8 if face_points is None else int(face_points)
            C = _cost_table_2d(dynamics, grid, Q)
            kind = f"semi-lagrangian, cost table ({8 * Q} directions)"

            def one_pass(s, full):
                return _k.sl_table_pass_2d(V, fixed, lock, C, Q, s[0], s[1])

        elif d == 2:
            C8 = _pack8_2d(B, A)
            kind = f"semi-lagrangian, Gaussian midpoint cost, rings 1 to K={K}"
            radii = np.arange(1, K + 1, dtype=np.int64)
            geo = (C8, h[0], h[1], radii, *_k.ring_table(radii), _SL_WIDTH)

            def one_pass(s, full):
                return _k.sl_pass_2d(V, fixed, lock, *geo, s[0], s[1], _N_REFINE, full, _UNLOCK * tol_now, _ALL_FACES)

            if _ORDERED:

                def ordered_pass(first):
                    if first:
                        _k.sl_ordered_pass_2d(V, fixed, *geo, _N_REFINE, _ALL_FACES)
                        return np.inf
                    idx = np.flatnonzero(np.isfinite(V) & ~init)
                    order = np.ascontiguousarray(idx[np.argsort(V.reshape(-1)[idx], kind="stable")], dtype=np.int64)
                    return _k.sl_pass_2d(
                        V, fixed, lock, *geo, 1, 1, _N_REFINE, False, _UNLOCK * tol_now, _ALL_FACES, order
                    )

            ring = K > 1

        else:
            kind = "semi-lagrangian, Gaussian midpoint cost"
            offs, tris, edges = _k.ring3()

            def one_pass(s, full):
                return _k.sl_pass_3d(V, fixed, lock, B, A, h, offs, tris, edges, s[0], s[1], s[2], 0)

    elif scheme == "godunov":
        if d != 2:
            raise InputError(
                "scheme='godunov' is implemented in 2-D; in 3-D use scheme='semi-lagrangian' (Gaussian noise), "
                "scheme='lax-friedrichs' or method='olim'"
            )
        M = _check_directions(directions)
        from fwpotential.solvers.sweep import godunov as _godunov

        T, Bh, Ah, gauss, corr = _godunov.tables(dynamics, grid, M, generic=_generic_table)
        kind = "godunov (support function of {H <= 0}" + (f", {M} directions" if corr else "") + f"), rings 1 and K={K}"

        def one_pass(s, full):
            return _godunov.godunov_pass_2d(
                V, fixed, lock, T, Bh, Ah, gauss, corr, h[0], h[1], K, _WIDTH, s[0], s[1], full
            )

        ring = K > 1

    else:
        kind = "lax-friedrichs"
        tables = _lf_tables(dynamics, grid)
        Vf, fixedf, lockf = V.reshape(-1), fixed.reshape(-1), lock.reshape(-1)
        shape = np.array(grid.shape, dtype=np.int64)

        def one_pass(s, full):
            return _k.lf_pass(Vf, fixedf, lockf, shape, h, *tables, s)

    # Gauss–Seidel cycles. With the ring of radius K, a node is recomputed when one of its 8
    # neighbours decreased (locking, Bak, McLaughlin & Renzi 2010); values reach it through them.
    # Once a cycle changes nothing by more than tol, a verification cycle recomputes every node
    # with the full dependency (a decrease anywhere on the ring unlocks the node): the result is a
    # fixed point of the complete scheme up to tol. Semi-Lagrangian with Gaussian noise (2-D): a
    # decrease below _UNLOCK * tol unlocks nothing (most late decreases are tiny), and the full
    # dependency is the square of half-width K (every ring).
    tol_now = tol if tol_abs else tol * max(1.0, float(np.max(V, where=np.isfinite(V), initial=0.0)))
    n_passes = 0
    n_sweeps = 0
    n_ordered = 0
    change = np.inf
    verify = False
    converged = False
    if ordered_pass is not None:
        # Passes in increasing order of V (a heap pass from the start set, then passes sorted by the
        # current V): on rotational fields the characteristics spiral and every alternating
        # ordering follows them only a quarter turn, so these passes do most of the work (257^2
        # linear field: 12 cycles of the 4 orderings -> a heap pass, 3 to 4 sorted passes and one
        # verifying cycle, in which almost every node is computed once). The alternating cycles
        # below then verify: the result is a fixed point of the complete scheme up to tol.
        while n_sweeps < max_sweeps:
            change = ordered_pass(n_ordered == 0)
            n_ordered += 1
            n_sweeps += 1
            n_passes += 1
            tol_now = tol if tol_abs else tol * max(1.0, float(np.max(V, where=np.isfinite(V), initial=0.0)))
            _progress.advance(text=f"ordered pass {n_ordered}, change {change:.2g} (tol {tol_now:.2g})")
            if change <= tol_now:
                verify = True
                break
            if n_ordered >= _MAX_ORDERED:
                break
    while n_sweeps < max_sweeps:
        n_sweeps += 1
        if verify:
            lock[...] = 0
        change = 0.0
        for s in orderings:
            change = max(change, one_pass(s, verify or not ring))
            n_passes += 1
        tol_now = tol if tol_abs else tol * max(1.0, float(np.max(V, where=np.isfinite(V), initial=0.0)))
        _progress.advance(text=f"sweep {n_sweeps}, change {change:.2g} (tol {tol_now:.2g})")
        if change <= tol_now:
            if verify or not ring:
                converged = True
                break
            verify = True
        else:
            verify = False
    if not converged:
        raise ConvergenceError(
            f"method='sweep' ({scheme}) did not converge in max_sweeps={max_sweeps} "
            f"(last change {change:.3g} > tol={tol_now:g}); raise max_sweeps or tol"
        )
    n_neg = int(np.sum(V < 0))
    if n_neg:
        V = np.maximum(V, 0.0)
        warnings_list.append(f"{n_neg} slightly negative values set to 0")
    residual, n_res = hj_residual(dynamics, grid, V, init)
    info = {
        "scheme": kind,
        "sweeps": n_sweeps,
        "ordered_passes": n_ordered,
        "passes": n_passes,
        "last_change": float(change),
        "residual": residual,
        "residual_nodes": n_res,
        "start_nodes": int(init.sum()),
        "radius": radius if attractor.mask is None else None,
        "unreachable_nodes": int(np.sum(~np.isfinite(V))),
        "seconds": time.perf_counter() - t_start,
        "warnings": warnings_list,
    }
    if ring:
        info["K"] = K
    return V, info


# ---------------------------------------------------------------------------------------------
def default_K(grid):
    """Ring radius growing like n^(1/3) (the balance of interpolation and quadrature errors):
    about 8 at 65 nodes per side, 13 at 1025."""
    n = max(grid.shape)
    return max(1, int(round(2.0 * n ** (1.0 / 3.0))))


def _pack_2d(b, A):
    """(|b|_A, Ab, b) per half-grid node for sl_pass_2d."""
    Ab = np.einsum("...ij,...j->...i", _unpack2(A), b)
    c = np.sqrt(np.maximum(np.einsum("...i,...i->...", b, Ab), 0.0))
    return np.ascontiguousarray(np.concatenate([c[..., None], Ab, b], axis=-1))


def _pack8_2d(b, A):
    """(|b|_A, Ab, b, a11, a12, a22) per half-grid node for sl_pass_2d (one cache line each)."""
    Ab = np.einsum("...ij,...j->...i", _unpack2(A), b)
    c = np.sqrt(np.maximum(np.einsum("...i,...i->...", b, Ab), 0.0))
    return np.ascontiguousarray(np.concatenate([c[..., None], Ab, b, A], axis=-1))


def _unpack2(A):
    return np.stack([np.stack([A[..., 0], A[..., 1]], -1), np.stack([A[..., 1], A[..., 2]], -1)], -2)


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


def _half_grid_coefficients(dynamics, grid):
    """Drift and the packed entries of A = a^-1 on grid.half_points(); A None if a is singular."""
    X = grid.half_points()
    B = np.ascontiguousarray(dynamics.drift(X), dtype=np.float64)
    a = dynamics.noise_cov(X)
    try:
        np.linalg.cholesky(a)
    except np.linalg.LinAlgError:
        return B, None
    Ainv = np.linalg.inv(a)
    if grid.dim == 2:
        A = np.stack([Ainv[..., 0, 0], Ainv[..., 0, 1], Ainv[..., 1, 1]], axis=-1)
    else:
        A = np.stack(
            [Ainv[..., 0, 0], Ainv[..., 0, 1], Ainv[..., 0, 2], Ainv[..., 1, 1], Ainv[..., 1, 2], Ainv[..., 2, 2]],
            axis=-1,
        )
    return B, np.ascontiguousarray(A, dtype=np.float64)


def _cost_table_2d(dynamics, grid, Q):
    """C[i, j, r] = geometric cost at node (i, j) of the segment -o_r h, o_r = table_offsets_2d(Q)[r]."""
    dirs = -_k.table_offsets_2d(Q) * grid.spacing  # (8Q, 2) segments l = x - y
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
    """Arrays for _k.lf_pass: b, kind, a, Z, scale, alpha, P (all flattened over the nodes)."""
    from fwpotential.model.noise import _DiscreteNoise

    d = grid.dim
    X = grid.points().reshape(-1, d)
    b = np.ascontiguousarray(dynamics.drift(X), dtype=np.float64)
    a = np.ascontiguousarray(dynamics.noise_cov(X), dtype=np.float64)
    noise = dynamics.noise
    if dynamics.is_gaussian:
        kind, Z, scale = 0, np.zeros((1, 1, d)), 1.0
    elif isinstance(noise, _DiscreteNoise):
        kind = 1
        Z = np.ascontiguousarray(noise.atoms(X), dtype=np.float64)
        scale = float(noise.scale)
    else:
        raise InputError(
            f"scheme='lax-friedrichs' evaluates Λ in compiled code for Gaussian and finite-sum noise only, "
            f"not {type(noise).__name__}; use scheme='semi-lagrangian' (cost table) or method='olim'"
        )
    # box |p_k| <= P_k holding the zero level set of the Gaussian H (Gaussian approximation for
    # other laws): p in {<b,p> + 1/2 p'ap <= 0}, |p_k| <= |(Ab)_k| + |b|_A sqrt(A_kk), A = a^-1
    try:
        A = np.linalg.inv(a)
        np.linalg.cholesky(a)
    except np.linalg.LinAlgError as exc:
        raise CovarianceError("scheme='lax-friedrichs' needs a non-singular noise covariance on every node") from exc
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
    import itertools

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
