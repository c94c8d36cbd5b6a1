"""3-D semi-Lagrangian sweep with a per-node cost table: any convex noise law given through Λ.

The geometric cost of a segment l is the support function of S(x) = {p : H(x, p) <= 0}
(godunov, theory.md §3): sigma(x, l) = sup_{p in S(x)} <p, l>, +inf where S is unbounded towards
l. It is tabulated per node for the segments l = -o h to the points o of the surface of the cube
[-1, 1]^3 on the lattice of step 1/Q (``cube_directions``): the 26 neighbours and Q - 1 points
between them along every edge and face of the 48 Kuhn triangles of the ring (as the 2-D table
scheme of ``_sl2d.sl_table_pass_2d``). The support point of each direction solves the KKT
system of max <p, l> s.t. H(x, p) <= 0,

    b + ∇Λ(x, p) = kappa l,   <b, p> + Λ(x, p) = 0,   kappa > 0,

by damped Newton from the support point of the Gaussian approximation Λ ~ ½ pᵀ a p (a = ∇²Λ(x, 0)),
vectorised over nodes and directions, with Λ, ∇Λ, ∇²Λ from ``Dynamics.noise``; +inf where the
recession test <b, u> + support(-Z, u) <= 0 holds along a lattice direction u with <u, l> > 0
(bounded noise). Gaussian noise: the closed form |b|_A |l|_A - <b, A l>.
sweep.solve refuses finite sums here: near their +inf costs the lattice recession test is only
approximate and Newton may not converge (it then raises ConvergenceError, never a wrong number).

Kernel (``sl_table_pass_3d``): V(x) = min over the sample points y = x + o h on the 48 triangles of
sum_q w_q V(y_q) + (C[x, o] + sum_q w_q C[y_q, o]) / 2 (V and C linear on the triangle, trapezoidal
rule in space), +inf costs giving +inf candidates. First order; the direction lattice adds an
O(1/Q^2) error per unit length (``face_points`` = Q).
"""

from __future__ import annotations

import itertools
from typing import NamedTuple

import numpy as np
from numba import njit

from fwpotential.errors import ConvergenceError
from fwpotential.solvers import tables
from fwpotential.solvers.sweep._passes import ring3

INF = np.inf
_NEWTON_ITERS = 60
_POINTS_PER_CHUNK = 200_000


def cube_directions(Q):
    """Integer points m in {-Q..Q}^3 with max |m_k| = Q (the cube surface at step 1/Q).

    Returns (M (D, 3) int64, index (2Q+1, 2Q+1, 2Q+1) int64: m -> row of M, -1 off the surface)."""
    pts = [m for m in itertools.product(range(-Q, Q + 1), repeat=3) if max(abs(c) for c in m) == Q]
    M = np.array(pts, dtype=np.int64)
    index = -np.ones((2 * Q + 1,) * 3, dtype=np.int64)
    index[tuple((M + Q).T)] = np.arange(len(M))
    return M, index


def triangle_samples(Q):
    """Sample points of the 48 Kuhn triangles of the cube surface.

    Returns (verts (48, 3) indices into ring3 offsets, rows (48, P) rows of cube_directions,
    w (48, P, 3) barycentric weights), P = (Q + 1)(Q + 2)/2."""
    offs, tris, _ = ring3()
    _, index = cube_directions(Q)
    bary = [(Q - jb - jc, jb, jc) for jb in range(Q + 1) for jc in range(Q + 1 - jb)]
    P = len(bary)
    rows = np.empty((len(tris), P), dtype=np.int64)
    w = np.empty((len(tris), P, 3))
    for t, (a, b, c) in enumerate(tris):
        for s, (ja, jb, jc) in enumerate(bary):
            m = ja * offs[a] + jb * offs[b] + jc * offs[c]
            rows[t, s] = index[tuple(m + Q)]
            w[t, s] = (ja / Q, jb / Q, jc / Q)
    assert (rows >= 0).all()
    return np.ascontiguousarray(tris), rows, w


def cost_table(dynamics, grid, Q):
    """C (n0, n1, n2, D): geometric cost at each node of the segments l = -m h / Q, m in cube_directions(Q)."""
    M, _ = cube_directions(Q)
    L = -(M / Q) * grid.spacing  # (D, 3)
    X = grid.points().reshape(-1, 3)
    N, D = len(X), len(L)
    C = np.empty((N, D))
    rows = max(1, _POINTS_PER_CHUNK // D)
    for n0 in range(0, N, rows):
        x = X[n0 : n0 + rows]
        C[n0 : n0 + rows] = support_function(dynamics, x, L)
    return np.ascontiguousarray(C.reshape(grid.shape + (D,)))


def support_function(dynamics, x, L):
    """sigma(x_n, l_r) (n, D) = sup {<p, l_r> : H(x_n, p) <= 0}; see the module docstring."""
    b, A = tables.gaussian_coefficients(dynamics, x, who="the 3-D cost table")
    Ab = np.einsum("nij,nj->ni", A, b)
    nb = np.sqrt(np.maximum(np.einsum("ni,ni->n", b, Ab), 0.0))
    AL = np.einsum("nij,rj->nri", A, L)
    nl = np.sqrt(np.einsum("nri,ri->nr", AL, L))
    sig_g = np.maximum(nb[:, None] * nl - np.einsum("ni,ri->nr", Ab, L), 0.0)
    if dynamics.is_gaussian:
        return sig_g
    with np.errstate(all="ignore"):  # overflow of Λ far out, 0/0 on inactive rows: checked below
        return _newton_support(dynamics, x, L, b, Ab, nb, AL, nl)


def _newton_support(dynamics, x, L, b, Ab, nb, AL, nl):
    n, D, d = len(x), len(L), x.shape[-1]
    out = np.zeros((n, D))
    active = nb > 1e-300 * (1.0 + np.linalg.norm(b, axis=1))  # b = 0: S = {0}, sigma = 0
    # bounded noise: S unbounded towards u when <b, u> + support(-Z, u) <= 0
    U = L / np.linalg.norm(L, axis=1, keepdims=True)
    xr = np.broadcast_to(x[:, None, :], (n, D, d))
    with np.errstate(invalid="ignore"):
        rec = np.einsum("nd,rd->nr", b, U) + np.asarray(dynamics.noise.support(xr, np.broadcast_to(U, (n, D, d))))
    unb = (rec <= 0.0) & active[:, None]
    inf_mask = np.einsum("nu,ur->nr", unb.astype(float), (U @ L.T > 1e-12 * np.abs(L).max()).astype(float)) > 0
    todo = active[:, None] & ~inf_mask
    # Newton on (p, kappa) from the Gaussian support point p = -A b + (|b|_A / |l|_A) A l
    kap = np.where(nl > 0, nb[:, None] / np.where(nl > 0, nl, 1.0), 0.0)
    P = -Ab[:, None, :] + kap[..., None] * AL
    Lb = np.broadcast_to(L, (n, D, d))
    bb = np.broadcast_to(b[:, None, :], (n, D, d))
    scale = nb[:, None] * nl + 1e-300  # size of sigma

    def residual(P, kap):
        with np.errstate(over="ignore", invalid="ignore"):
            lam = np.asarray(dynamics.noise.cgf(xr, P), dtype=float)
            g = bb + np.asarray(dynamics.noise.cgf_grad(xr, P), dtype=float)
        F1 = g - kap[..., None] * Lb
        F2 = np.einsum("nrd,nrd->nr", bb, P) + lam
        return F1, F2, g

    kap0 = np.maximum(kap, 1e-150)
    LL = np.broadcast_to(np.einsum("rd,rd->r", L, L), (n, D))
    F1, F2, g = residual(P, kap)
    f = _merit(F1, F2, kap0, LL, scale)
    conv = np.zeros((n, D), dtype=bool)
    for _ in range(_NEWTON_ITERS):
        conv = (
            todo
            & (np.abs(F2) <= 1e-12 * scale)
            & (np.sqrt(np.einsum("nrd,nrd->nr", F1, F1)) <= 1e-10 * kap0 * np.sqrt(LL))
        )
        act = todo & ~conv
        if not act.any():
            break
        ia, ra = np.nonzero(act)
        xa, Pa = x[ia], P[ia, ra]
        with np.errstate(over="ignore", invalid="ignore"):
            Hs = np.asarray(dynamics.noise.cgf_hess(xa, Pa), dtype=float)
        J = np.zeros((len(ia), d + 1, d + 1))
        J[:, :d, :d] = Hs
        J[:, :d, d] = -L[ra]
        J[:, d, :d] = g[ia, ra]
        rhs = -np.concatenate([F1[ia, ra], F2[ia, ra][:, None]], axis=1)
        step = _solve_steps(J, rhs)
        P[ia, ra], kap[ia, ra] = _damped_step(
            dynamics, x, b, L, P, kap, step, act=(ia, ra), f_old=f[ia, ra], norms=(kap0, LL, scale)
        )
        F1, F2, g = residual(P, kap)
        f = _merit(F1, F2, kap0, LL, scale)
    conv = (
        todo & (np.abs(F2) <= 1e-9 * scale) & (np.sqrt(np.einsum("nrd,nrd->nr", F1, F1)) <= 1e-7 * kap0 * np.sqrt(LL))
    )
    failed = todo & ~conv
    if failed.any():
        i, r = np.argwhere(failed)[0]
        raise ConvergenceError(
            f"the support function of {{H(x, .) <= 0}} did not converge at x = {x[i]} in direction {L[r]} "
            f"(Newton on the KKT system); check that Λ is convex and smooth with Λ(x, 0) = 0"
        )
    out[todo] = np.einsum("nrd,nrd->nr", P, Lb)[todo]
    out[inf_mask] = np.inf
    return np.maximum(out, 0.0)


def _merit(F1, F2, kap0, LL, scale):
    """Scaled squared residual of the KKT system, +inf where not finite."""
    m = np.einsum("...d,...d->...", F1, F1) / (kap0**2 * LL) + (F2 / scale) ** 2
    return np.where(np.isfinite(m), m, np.inf)


def _solve_steps(J, rhs):
    """Newton steps J s = rhs per pair (n, d + 1); 0 where J or rhs is not finite or J singular."""
    ok = np.all(np.isfinite(J), axis=(1, 2)) & np.all(np.isfinite(rhs), axis=1)
    step = np.zeros_like(rhs)
    try:
        step[ok] = np.linalg.solve(J[ok], rhs[ok][..., None])[..., 0]
    except np.linalg.LinAlgError:
        for q in np.flatnonzero(ok):
            try:
                step[q] = np.linalg.solve(J[q], rhs[q])
            except np.linalg.LinAlgError:
                step[q] = 0.0
    return np.where(np.isfinite(step), step, 0.0)


def _damped_step(dynamics, x, b, L, P, kap, step, *, act, f_old, norms):
    """New (p, kappa) of the active pairs act = (node rows, directions): the Newton step halved
    (at most 30 times) until the merit decreases below f_old and kappa stays positive; pairs
    without such a step keep their values. norms = (kappa_0, |l|^2, scale) of ``_merit``."""
    ia, ra = act
    kap0, LL, scale = norms
    d = x.shape[-1]
    t = np.ones(len(ia))
    pending = np.ones(len(ia), dtype=bool)
    newP, newk = P[ia, ra].copy(), kap[ia, ra].copy()
    for _h in range(30):
        if not pending.any():
            break
        q = np.flatnonzero(pending)
        Pq = P[ia[q], ra[q]] + t[q, None] * step[q, :d]
        kq = kap[ia[q], ra[q]] + t[q] * step[q, d]
        with np.errstate(over="ignore", invalid="ignore"):
            lam = np.asarray(dynamics.noise.cgf(x[ia[q]], Pq), dtype=float)
            gq = b[ia[q]] + np.asarray(dynamics.noise.cgf_grad(x[ia[q]], Pq), dtype=float)
        F1q = gq - kq[:, None] * L[ra[q]]
        F2q = np.einsum("nd,nd->n", b[ia[q]], Pq) + lam
        fq = _merit(F1q, F2q, kap0[ia[q], ra[q]], LL[ia[q], ra[q]], scale[ia[q], ra[q]])
        good = (kq > 0) & np.isfinite(fq) & (fq < f_old[q])
        gi = q[good]
        newP[gi], newk[gi] = Pq[good], kq[good]
        pending[gi] = False
        t[q[~good]] *= 0.5
    return newP, newk


# ---------------------------------------------------------------------------------------------
class Table3D(NamedTuple):
    """Tables of sl_table_pass_3d: C (n0, n1, n2, D) the costs; offs (26, 3) ring-1 offsets, tris
    (48, 3) their Kuhn triangles, rows (48, P) and w (48, P, 3) the sample points
    (``triangle_samples``)."""

    C: np.ndarray
    offs: np.ndarray
    tris: np.ndarray
    rows: np.ndarray
    w: np.ndarray


@njit(cache=True)
def sl_table_pass_3d(V, fixed, lock, g, signs):
    """One semi-Lagrangian Gauss–Seidel pass in 3-D with costs from the table g.C (n0, n1, n2, D)
    (``Table3D``), in the ordering signs (3,). Candidate of a sample point: sum_q w_q V_q + (C[x, r] +
    sum_q w_q C[y_q, r]) / 2 over the vertices with w_q > 0 (all finite). A decrease unlocks the 26
    neighbours. Returns the largest decrease.
    One kernel, with the raster and the lock written out: with the node update in functions of
    its own and the ``_passes`` helpers Numba compiles a pass about 15 % slower.
    """
    C, offs, tris, rows, w = g
    s0 = signs[0]
    s1 = signs[1]
    s2 = signs[2]
    n0, n1, n2 = V.shape
    largest = 0.0
    vn = np.empty(26)
    vi = np.empty(26, dtype=np.int64)
    vj = np.empty(26, dtype=np.int64)
    vk = np.empty(26, dtype=np.int64)
    nt = tris.shape[0]
    P = rows.shape[1]
    for ii in range(n0):
        i = ii if s0 > 0 else n0 - 1 - ii
        for jj in range(n1):
            j = jj if s1 > 0 else n1 - 1 - jj
            for kk in range(n2):
                m = kk if s2 > 0 else n2 - 1 - kk
                if fixed[i, j, m] or lock[i, j, m]:
                    continue
                lock[i, j, m] = 1
                v_old = V[i, j, m]
                best = v_old
                for q in range(26):
                    ni = i + offs[q, 0]
                    nj = j + offs[q, 1]
                    nm = m + offs[q, 2]
                    vi[q] = ni
                    vj[q] = nj
                    vk[q] = nm
                    if ni < 0 or ni >= n0 or nj < 0 or nj >= n1 or nm < 0 or nm >= n2:
                        vn[q] = INF
                    else:
                        vn[q] = V[ni, nj, nm]
                for t in range(nt):
                    a = tris[t, 0]
                    bq = tris[t, 1]
                    c = tris[t, 2]
                    if min(vn[a], min(vn[bq], vn[c])) >= best:
                        continue
                    for s in range(P):
                        r = rows[t, s]
                        val = 0.0
                        cy = 0.0
                        ok = True
                        for z in range(3):
                            wz = w[t, s, z]
                            if wz <= 0.0:
                                continue
                            q = tris[t, z]
                            if vn[q] == INF:
                                ok = False
                                break
                            val += wz * vn[q]
                            cy += wz * C[vi[q], vj[q], vk[q], r]
                        if not ok or val >= best:
                            continue
                        cand = val + 0.5 * (C[i, j, m, r] + cy)
                        if cand < best:
                            best = cand
                if best < v_old:
                    V[i, j, m] = best
                    d = v_old - best
                    if d > largest:
                        largest = d
                    for q in range(26):
                        if 0 <= vi[q] < n0 and 0 <= vj[q] < n1 and 0 <= vk[q] < n2:
                            lock[vi[q], vj[q], vk[q]] = 0
    return largest
