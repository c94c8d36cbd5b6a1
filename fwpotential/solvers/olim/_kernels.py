"""Numba kernels of the ordered line integral method (OLIM), 2-D and 3-D.

Dijkstra-like OLIM with midpoint quadrature (Dahiya & Cameron 2018; 3-D: Yang, Potter &
Cameron 2019). Arrays and scalars only; the driver is ``fwpotential.solvers.olim.driver``.
The one entry point is ``march``; every function it calls lives in this module (the binary
heap, shared with the sweep's ordered pass, in ``fwpotential.solvers.heap``), because Numba's
on-disk cache (``cache=True``) checks only the file of the function it compiles.
Sections: Gaussian costs and the simplex updates, curvature correction, tabulated
costs, marching.

Layout shared by every kernel
-----------------------------
* The grid is flat, C order, always handled as 3-D: a 2-D grid has ``shape[2] == 1`` and
  every offset has a zero third component. Node ``p`` sits at ``(i, j, k)`` with
  ``p = (i * n1 + j) * n2 + k``; its coordinates are ``lower + (i, j, k) * h``.
* The half grid (the grid refined by 2, shape ``2 n - 1``) is flat too; the midpoint of nodes
  ``(i, j, k)`` and ``(i', j', k')`` is its node ``(i + i', j + j', k + k')``.
* ``b`` has shape (n_half, 4): the drift on the half grid (third component 0 in 2-D; with a
  constant A the fourth column holds its norm, see ``Costs``). ``A`` has shape (n_half, 6) or
  (1, 6) when constant: the upper triangle ``(a00, a01, a02, a11, a12, a22)`` of A = a^-1.
* Status: 0 far, 1 considered, 2 accepted front, 3 accepted (interior).
* The tabulated (non-Gaussian) variant is 2-D only: ``C`` has shape (n_nodes, M), the
  geometric cost per unit length on the nodes for the M directions at angles 2 pi m / M
  (+inf allowed); between nodes it is bilinear, between directions periodic linear.
* A node passed to a helper is a tuple ``(flat index, i, j, k)``.

No fastmath anywhere: +inf must survive comparisons.
"""

from collections import namedtuple

import numpy as np
from numba import njit

from fwpotential.solvers.heap import heap_pop, heap_push, heap_sift_up

FAR = 0
CONSIDERED = 1
FRONT = 2
ACCEPTED = 3

_NEWTON_TOL = 1e-10
_TINY = 1e-300

# ----------------------------------------------------------------------------- bundles
# Named tuples of arrays and scalars (Numba passes each as one struct). The driver builds Costs
# (with Gauss and Tab), Stencil and Correction and passes them to ``march``, which builds the
# others. Numba raises and lowers the reference count of every array a call passes, so a bundle
# holds only what its kernels use.

#: Gaussian midpoint costs: b (n_half, 4) and A (n_half or 1, 6); with a constant A = L L^T
#: (a_const) the driver passes b' = (L^T b, |L^T b|) and A = I, so the cost of a segment
#: l' = T offset is |b'| |l'| - <b', l'>.
Gauss = namedtuple("Gauss", ["b", "A", "a_const"])
#: Tabulated costs (2-D): C (n_nodes, M) on a grid of n0 x n1 nodes with spacing (h0, h1),
#: segments split into pieces of at most sub_len cells.
Tab = namedtuple("Tab", ["C", "n0", "n1", "M", "h0", "h1", "sub_len"])
#: Everything a cost evaluation needs, fixed for the march: mode 0 Gaussian (gauss), mode 1
#: tabulated (tab); shp (3,): grid shape (2-D: shp[2] = 1); T (3, 3) maps an index offset to the
#: segment vector used in costs (diag(h), or L^T diag(h) when A is constant).
Costs = namedtuple("Costs", ["mode", "gauss", "tab", "shp", "T"])
#: The update stencils (the driver's ``_stencils``): offs (n_ball, 3) the update ball (radius K
#: cells, all neighbours included); nbr (n_nbr, 3) the L_inf = 1 neighbours (8 in 2-D, 26 in
#: 3-D); tri (n_tri, 3) base offsets x1 - x0 of triangle updates (2-D: the 4 axis steps; 3-D:
#: the 18 axis and face-diagonal steps); tri_lut (27,) neighbour offset -> row of tri or -1;
#: simp (n_tri, 8) rows of tri closing a simplex with x0, x1 (-1 padded; unused in 2-D).
Stencil = namedtuple("Stencil", ["offs", "nbr", "tri", "tri_lut", "simp"])
#: Curvature correction (constant A, mode 0): grad (N, 4) the gradients of V in cost coordinates
#: (first 3 columns) and 1 in column 3 where trusted; base (N, 4) the base point (index
#: coordinates, first 3 columns) of each node's best update; Tinv = T^-1; given (N,) where the
#: gradient is given (the start nodes). grad and base with one row: the correction is off.
Correction = namedtuple("Correction", ["grad", "base", "Tinv", "given"])

# Ball: per offset of the update ball, flat offsets on the grid (foff, valid for nodes at least
# Kb steps from every face) and the half grid (hoff), the segment vectors T offs (lvec) and
# their norms; tflat: flat offsets of the triangle bases (adjacency tests without dividing),
# |tflat| <= tmax.
Ball = namedtuple("Ball", ["foff", "hoff", "lvec", "lnorm", "Kb", "tflat", "tmax"])
# Front: the front neighbours x1 of the node p just accepted, as flat indices (nodes) and rows
# of the neighbour table (edges); refilled for every p.
Front = namedtuple("Front", ["nodes", "edges", "count"])
# FanTables (constant A): b (n_half, 4) holds (L^T b, |L^T b|) on the half grid; lvec (n_ball, 3)
# = T offs; nvec (n_nbr, 3) = T nbr; nhoff (n_nbr,): half-grid flat offsets of nbr
# (mid(x, x1) = mid(x, p) + (x1 - p) / 2).
FanTables = namedtuple("FanTables", ["b", "lvec", "nvec", "nhoff"])
# Pairs: the base segments [a[k], b[k]], k < count, of triangle updates.
Pairs = namedtuple("Pairs", ["a", "b", "count"])
# Scratch: A entries, Gram tables, simplex vectors and base points of the updates.
Scratch = namedtuple("Scratch", ["a", "a1", "G", "L", "B", "ybest", "ytmp"])
# Updates: what the triangle and tetrahedron updates read and write (V, status, the tables,
# the correction's gradients and base points, scratch, stats).
Updates = namedtuple("Updates", ["V", "status", "costs", "sten", "grad", "base", "work", "stats"])


# ----------------------------------------------------------------------------- Gaussian costs
@njit(cache=True)
def _load_A(A, a_const, m, out):
    r = 0 if a_const else m
    for c in range(6):
        out[c] = A[r, c]


@njit(cache=True)
def _dotA(a, ux, uy, uz, vx, vy, vz):
    """u^T A v for symmetric A stored as (a00, a01, a02, a11, a12, a22)."""
    return (
        ux * (a[0] * vx + a[1] * vy + a[2] * vz)
        + uy * (a[1] * vx + a[3] * vy + a[4] * vz)
        + uz * (a[2] * vx + a[4] * vy + a[5] * vz)
    )


@njit(cache=True)
def segment_cost(bx, by, bz, a, lx, ly, lz):
    """Midpoint geometric action |b|_A |l|_A - <b, A l> of a segment l with drift b there."""
    P = _dotA(a, bx, by, bz, bx, by, bz)
    Q = _dotA(a, lx, ly, lz, lx, ly, lz)
    R = _dotA(a, bx, by, bz, lx, ly, lz)
    c = np.sqrt(max(P * Q, 0.0)) - R
    return c if c > 0.0 else 0.0


@njit(cache=True)
def triangle_update(u, l0, dl, m, kap, gauss, a, a1):
    """Minimise over lambda in (0, 1) of u0 + lambda (u1 - u0) - kap lambda (1 - lambda) / 2
    + cost(x_lambda -> x) (kap: curvature correction, 0 for plain linear interpolation).

    u = (u0, u1): V at x0, x1; l(lambda) = x - x_lambda = l0 + lambda dl (3-tuples, dl = x0 - x1).
    The drift at the segment's midpoint is interpolated linearly between half-grid nodes
    m = (mid(x, x0), mid(x, x1)) of ``gauss.b`` (exact for linear drift). A is frozen at m0
    during the search and interpolated at the minimiser for the value; a, a1 (6,) scratch.
    Returns (value, lambda); value is +inf when the minimum is not interior (the one-point
    updates cover the endpoints).
    """
    u0, u1 = u
    m0, m1 = m
    b = gauss.b
    A = gauss.A
    b0x, b0y, b0z = b[m0, 0], b[m0, 1], b[m0, 2]
    dbx, dby, dbz = b[m1, 0] - b0x, b[m1, 1] - b0y, b[m1, 2] - b0z
    if gauss.a_const:
        # constant A arrives as the identity (the driver transformed b and l)
        return tri_const((u0, u1 - u0), (b0x, b0y, b0z), (dbx, dby, dbz), l0, dl, (0.0, 0.0), np.inf, kap)
    l0x, l0y, l0z = l0
    dlx, dly, dlz = dl
    _load_A(A, gauss.a_const, m0, a)
    du = u1 - u0 - 0.5 * kap
    # Gram entries: P = |b|_A^2, Q = |l|_A^2, R = <b, A l>, all quadratic in lambda.
    p0 = _dotA(a, b0x, b0y, b0z, b0x, b0y, b0z)
    p1 = _dotA(a, b0x, b0y, b0z, dbx, dby, dbz)
    q0 = _dotA(a, l0x, l0y, l0z, l0x, l0y, l0z)
    q1 = _dotA(a, l0x, l0y, l0z, dlx, dly, dlz)
    r1 = _dotA(a, b0x, b0y, b0z, dlx, dly, dlz) + _dotA(a, dbx, dby, dbz, l0x, l0y, l0z)
    # f'(0) < 0 is needed for an interior minimum (most calls stop here)
    PQ = p0 * q0
    if PQ > _TINY:
        g_lo = du + (p1 * q0 + p0 * q1) / np.sqrt(PQ) - r1
    else:
        g_lo = du - r1
    if not (g_lo < 0.0):
        return np.inf, 0.0
    p2 = _dotA(a, dbx, dby, dbz, dbx, dby, dbz)
    q2 = _dotA(a, dlx, dly, dlz, dlx, dly, dlz)
    r2 = _dotA(a, dbx, dby, dbz, dlx, dly, dlz)
    P, Q, R = (p0, p1, p2), (q0, q1, q2), (r1, r2)
    g_hi = _tri_grad(1.0, du, P, Q, R, kap)
    if not (g_hi > 0.0):
        return np.inf, 1.0
    lam = _tri_newton(du, P, Q, R, g_lo / (g_lo - g_hi), kap)
    # value at lambda with A interpolated between m0 and m1
    for c in range(6):
        a1[c] = (1.0 - lam) * A[m0, c] + lam * A[m1, c]
    cost = segment_cost(
        b0x + lam * dbx, b0y + lam * dby, b0z + lam * dbz, a1, l0x + lam * dlx, l0y + lam * dly, l0z + lam * dlz
    )
    return u0 + lam * du + 0.5 * kap * lam * lam + cost, lam


@njit(cache=True)
def _tri_newton(du, P3, Q3, R2, lam, kap):
    """Root in (0, 1) of f'(lam) = du + kap lam + (PQ)'/(2 sqrt(PQ)) - R' (f'(0) < 0 < f'(1)),
    P = p0 + 2 p1 lam + p2 lam^2 (P3 = (p0, p1, p2)), Q alike, R' = r1 + 2 r2 lam (R2 = (r1, r2)):
    safeguarded Newton from lam, bisection whenever a step leaves the bracket or f'' <= 0."""
    p0, p1, p2 = P3
    q0, q1, q2 = Q3
    r1, r2 = R2
    lo = 0.0
    hi = 1.0
    for _ in range(40):
        P = p0 + lam * (2.0 * p1 + lam * p2)
        Q = q0 + lam * (2.0 * q1 + lam * q2)
        dP = 2.0 * (p1 + lam * p2)
        dQ = 2.0 * (q1 + lam * q2)
        PQ = P * Q
        if PQ > _TINY:
            S = np.sqrt(PQ)
            num = dP * Q + P * dQ
            g = du + kap * lam + num / (2.0 * S) - (r1 + 2.0 * lam * r2)
            H = kap + (p2 * Q + dP * dQ + P * q2) / S - num * num / (4.0 * S * PQ) - 2.0 * r2
        else:
            g = du + kap * lam - (r1 + 2.0 * lam * r2)
            H = kap - 2.0 * r2
        if g < 0.0:
            lo = lam
        else:
            hi = lam
        if H > 0.0:
            new = lam - g / H
            if not (lo < new < hi):
                new = 0.5 * (lo + hi)
        else:
            new = 0.5 * (lo + hi)
        step = abs(new - lam)
        lam = new
        if step < _NEWTON_TOL or hi - lo < _NEWTON_TOL:
            break
    return lam


@njit(cache=True)
def tri_const(u, b0, db, l0, dl, c, vcut, kap):
    """Triangle update for constant A (the identity after the driver's transform).

    Minimises f(lam) = u0 + lam du - kap lam (1 - lam) / 2 + |b||l| - <b, l> with b = b0 + lam db,
    l = l0 + lam dl (3-tuples) over (0, 1); u = (u0, du); kap: curvature correction, 0 for linear
    interpolation; c = (c0, c1): the one-point costs at lam = 0 and 1. Returns (value, lam);
    +inf unless the minimum is interior, or when the tangent lines of f at both ends show that f
    stays above vcut (only used when f is convex, kap >= 0).
    """
    u0, du = u
    b0x, b0y, b0z = b0
    dbx, dby, dbz = db
    l0x, l0y, l0z = l0
    dlx, dly, dlz = dl
    du = du - 0.5 * kap
    p0 = b0x * b0x + b0y * b0y + b0z * b0z
    q0 = l0x * l0x + l0y * l0y + l0z * l0z
    p1 = b0x * dbx + b0y * dby + b0z * dbz
    q1 = l0x * dlx + l0y * dly + l0z * dlz
    r1 = (b0x * dlx + b0y * dly + b0z * dlz) + (dbx * l0x + dby * l0y + dbz * l0z)
    PQ = p0 * q0
    if PQ > _TINY:
        g_lo = du + (p1 * q0 + p0 * q1) / np.sqrt(PQ) - r1
    else:
        g_lo = du - r1
    if not (g_lo < 0.0):
        return np.inf, 0.0
    p2 = dbx * dbx + dby * dby + dbz * dbz
    q2 = dlx * dlx + dly * dly + dlz * dlz
    r2 = dbx * dlx + dby * dly + dbz * dlz
    P, Q, R = (p0, p1, p2), (q0, q1, q2), (r1, r2)
    g_hi = _tri_grad(1.0, du, P, Q, R, kap)
    if not (g_hi > 0.0):
        return np.inf, 1.0
    # lower bound of a convex f: where its tangents at the two ends meet
    f0 = u0 + c[0]
    f1 = u0 + du + 0.5 * kap + c[1]
    ls = (f1 - g_hi - f0) / (g_lo - g_hi)
    if kap >= 0.0 and f0 + g_lo * ls >= vcut:
        return np.inf, ls
    lam = _tri_newton(du, P, Q, R, g_lo / (g_lo - g_hi), kap)
    bx, by, bz = b0x + lam * dbx, b0y + lam * dby, b0z + lam * dbz
    lx, ly, lz = l0x + lam * dlx, l0y + lam * dly, l0z + lam * dlz
    cost = np.sqrt((bx * bx + by * by + bz * bz) * (lx * lx + ly * ly + lz * lz)) - (bx * lx + by * ly + bz * lz)
    return u0 + lam * du + 0.5 * kap * lam * lam + max(cost, 0.0), lam


@njit(cache=True)
def _tri_grad(lam, du, P3, Q3, R2, kap):
    """f'(lam) of the triangle objective (coefficients as in ``_tri_newton``)."""
    p0, p1, p2 = P3
    q0, q1, q2 = Q3
    r1, r2 = R2
    P = p0 + lam * (2.0 * p1 + lam * p2)
    Q = q0 + lam * (2.0 * q1 + lam * q2)
    dP = 2.0 * (p1 + lam * p2)
    dQ = 2.0 * (q1 + lam * q2)
    PQ = P * Q
    if PQ > _TINY:
        return du + kap * lam + (dP * Q + P * dQ) / (2.0 * np.sqrt(PQ)) - (r1 + 2.0 * lam * r2)
    return du + kap * lam - (r1 + 2.0 * lam * r2)


@njit(cache=True)
def tetra_update(u, m, lam_start, c, gauss, work):
    """Minimise over the open simplex of u(s) + cost(x_s -> x), x_s = x0 + s1 (x1-x0) + s2 (x2-x0).

    u = (u0, u1, u2): V at x0, x1, x2; m: their midpoints with x on the half grid; gauss: the
    Gaussian tables (``Gauss``); work (``Scratch``): work.L[0] =
    x - x0, L[1] = x0 - x1, L[2] = x0 - x2 (so l(s) = L0 + s1 L1 + s2 L2); work.B[0] = b(m0),
    B[1] = b(m1) - b(m0), B[2] = b(m2) - b(m0) (midpoint drift interpolated on the half grid).
    Starts at (lam_start, 0), the successful triangle update over (x0, x1), with the KKT test of
    Yang, Potter & Cameron: if the cost increases into the simplex there, the face is optimal.
    Newton on the 2x2 system (steepest descent when the Hessian is not definite), steps kept
    inside. c = (c11, c22, c12): curvature correction (estimates of e_i^T H e_j, e_i = x_i - x0;
    zeros for plain linear interpolation): the objective gets -(s1 (1 - s1) c11 + s2 (1 - s2) c22
    - 2 s1 s2 c12) / 2. Returns (value, s1, s2); value +inf unless the gradient vanishes at an
    interior point.
    """
    L, B, a, a1, G = work.L, work.B, work.a, work.a1, work.G
    A, a_const = gauss.A, gauss.a_const
    m0, m1, m2 = m
    c11, c22, c12 = c
    _load_A(A, a_const, m0, a)
    # G[0, i, j] = B_i.A B_j, G[1] = L_i.A L_j, G[2] = B_i.A L_j
    for i in range(3):
        for j in range(3):
            G[0, i, j] = _dotA(a, B[i, 0], B[i, 1], B[i, 2], B[j, 0], B[j, 1], B[j, 2])
            G[1, i, j] = _dotA(a, L[i, 0], L[i, 1], L[i, 2], L[j, 0], L[j, 1], L[j, 2])
            G[2, i, j] = _dotA(a, B[i, 0], B[i, 1], B[i, 2], L[j, 0], L[j, 1], L[j, 2])
    du1 = u[1] - u[0]
    du2 = u[2] - u[0]
    s1, s2, ok = _tet_newton(G, du1, du2, lam_start, c)
    if not ok or s1 <= 0.0 or s2 <= 0.0 or s1 + s2 >= 1.0:
        return np.inf, s1, s2
    if not a_const:
        s0 = 1.0 - s1 - s2
        for k in range(6):
            a1[k] = s0 * A[m0, k] + s1 * A[m1, k] + s2 * A[m2, k]
    else:
        for k in range(6):
            a1[k] = a[k]
    bx = B[0, 0] + s1 * B[1, 0] + s2 * B[2, 0]
    by = B[0, 1] + s1 * B[1, 1] + s2 * B[2, 1]
    bz = B[0, 2] + s1 * B[1, 2] + s2 * B[2, 2]
    lx = L[0, 0] + s1 * L[1, 0] + s2 * L[2, 0]
    ly = L[0, 1] + s1 * L[1, 1] + s2 * L[2, 1]
    lz = L[0, 2] + s1 * L[1, 2] + s2 * L[2, 2]
    corr = -0.5 * (s1 * (1.0 - s1) * c11 + s2 * (1.0 - s2) * c22 - 2.0 * s1 * s2 * c12)
    return u[0] + s1 * du1 + s2 * du2 + corr + segment_cost(bx, by, bz, a1, lx, ly, lz), s1, s2


@njit(cache=True)
def _tet_newton(G, du1, du2, s1, c):
    """Newton iterations of ``tetra_update`` from (s1, 0) on the Gram tables G.

    Returns (s1, s2, converged); (0, 0, False) when the KKT test at the start shows that the face
    s2 = 0 holds the minimum."""
    c11, c22, c12 = c
    s2 = 0.0
    for it in range(30):
        g1, g2, H11, H22, H12 = _tet_derivs(G, du1, du2, s1, s2)
        g1 += -0.5 * (1.0 - 2.0 * s1) * c11 + s2 * c12
        g2 += -0.5 * (1.0 - 2.0 * s2) * c22 + s1 * c12
        H11 += c11
        H22 += c22
        H12 += c12
        if it == 0 and not (g2 < 0.0):
            return 0.0, 0.0, False  # KKT: the face s2 = 0 holds the minimum
        scale = abs(du1) + abs(du2) + np.sqrt(max(G[0, 0, 0] * G[1, 0, 0], 0.0)) + _TINY
        if abs(g1) + abs(g2) <= 1e-11 * scale:
            return s1, s2, True
        det = H11 * H22 - H12 * H12
        if det > 0.0 and H11 + H22 > 0.0:
            d1 = -(g1 * H22 - g2 * H12) / det
            d2 = -(H11 * g2 - H12 * g1) / det
        else:
            d1 = -g1
            d2 = -g2
        t = 1.0
        if d1 < 0.0:
            t = min(t, -s1 / d1)
        if d2 < 0.0:
            t = min(t, -s2 / d2)
        if d1 + d2 > 0.0:
            t = min(t, (1.0 - s1 - s2) / (d1 + d2))
        t *= 1.0 - 1e-12
        s1 += t * d1
        s2 += t * d2
        if t * (abs(d1) + abs(d2)) < _NEWTON_TOL:
            return s1, s2, abs(g1) + abs(g2) <= 1e-7 * scale
    return s1, s2, False


@njit(cache=True)
def _tet_derivs(G, du1, du2, s1, s2):
    """Gradient (g1, g2) and Hessian (H11, H22, H12) in (s1, s2) of the uncorrected tetrahedron
    objective u0 + s1 du1 + s2 du2 + |b(s)|_A |l(s)|_A - <b(s), A l(s)> (Gram tables G)."""
    c0, c1, c2 = 1.0, s1, s2
    P = 0.0
    Q = 0.0
    for i in range(3):
        ci = c0 if i == 0 else (c1 if i == 1 else c2)
        for j in range(3):
            cj = c0 if j == 0 else (c1 if j == 1 else c2)
            P += ci * cj * G[0, i, j]
            Q += ci * cj * G[1, i, j]
    # first derivatives (k = 1, 2)
    P1 = 2.0 * (G[0, 1, 0] + s1 * G[0, 1, 1] + s2 * G[0, 1, 2])
    P2 = 2.0 * (G[0, 2, 0] + s1 * G[0, 2, 1] + s2 * G[0, 2, 2])
    Q1 = 2.0 * (G[1, 1, 0] + s1 * G[1, 1, 1] + s2 * G[1, 1, 2])
    Q2 = 2.0 * (G[1, 2, 0] + s1 * G[1, 2, 1] + s2 * G[1, 2, 2])
    R1 = (G[2, 1, 0] + s1 * G[2, 1, 1] + s2 * G[2, 1, 2]) + (G[2, 0, 1] + s1 * G[2, 1, 1] + s2 * G[2, 2, 1])
    R2 = (G[2, 2, 0] + s1 * G[2, 2, 1] + s2 * G[2, 2, 2]) + (G[2, 0, 2] + s1 * G[2, 1, 2] + s2 * G[2, 2, 2])
    PQ = P * Q
    if PQ > _TINY:
        S = np.sqrt(PQ)
        n1 = P1 * Q + P * Q1
        n2 = P2 * Q + P * Q2
        g1 = du1 + n1 / (2.0 * S) - R1
        g2 = du2 + n2 / (2.0 * S) - R2
        H11 = (2.0 * G[0, 1, 1] * Q + 2.0 * P1 * Q1 + 2.0 * P * G[1, 1, 1]) / (2.0 * S) - n1 * n1 / (4.0 * S * PQ)
        H22 = (2.0 * G[0, 2, 2] * Q + 2.0 * P2 * Q2 + 2.0 * P * G[1, 2, 2]) / (2.0 * S) - n2 * n2 / (4.0 * S * PQ)
        H12 = (2.0 * G[0, 1, 2] * Q + P1 * Q2 + P2 * Q1 + 2.0 * P * G[1, 1, 2]) / (2.0 * S) - n1 * n2 / (4.0 * S * PQ)
    else:
        g1 = du1 - R1
        g2 = du2 - R2
        H11 = 0.0
        H22 = 0.0
        H12 = 0.0
    H11 -= 2.0 * G[2, 1, 1]
    H22 -= 2.0 * G[2, 2, 2]
    H12 -= G[2, 1, 2] + G[2, 2, 1]
    return g1, g2, H11, H22, H12


# ----------------------------------------------------------------------------- curvature correction
# Linear interpolation of V on a front segment or triangle overestimates a convex V by
# (1/2) sum_ij s_i (delta_ij - s_j) e_i^T H e_j (e_i = x_i - x0, s the barycentric weights): the
# O(h^2) error of every triangle / tetrahedron update, which accumulates to the scheme's O(h) error
# (and makes its observed order pre-asymptotic: lattice directions are exact). The correction
# estimates e_i^T H e_j from the gradients of the front nodes, (g_j - g_0) . e_i, each computed
# once when its node is accepted (``node_grad``). Gradients and e are in the cost coordinates
# (the vectors T offset of the driver).
@njit(cache=True)
def _gdiff(Gr, qa, qb, ex, ey, ez):
    """(g(qb) - g(qa)) . e; 0 (no correction) unless both gradients are trusted (Gr[:, 3] = 1)."""
    if Gr[qa, 3] == 0.0 or Gr[qb, 3] == 0.0:
        return 0.0
    return (Gr[qb, 0] - Gr[qa, 0]) * ex + (Gr[qb, 1] - Gr[qa, 1]) * ey + (Gr[qb, 2] - Gr[qa, 2]) * ez


@njit(cache=True)
def node_grad(b, shp, T, Tinv, ijk, y, out, yg):
    """Gradient of V at node ijk = (i, j, k) from its best update with base point y (index
    coordinates); yg (3,) out: the gradient V must have at y for y to be a stationary base
    (-d cost / dy).

    Constant A only (the driver's transform makes A the identity): the derivative in x of the
    midpoint cost |b(m)| |l| - <b(m), l> at the fixed base, l = T (x - y), m = (x + y) / 2, i.e.
    |b| l / |l| - b + (1/2) J^T (|l| b / |b| - l) with J = db/dx (cost coordinates) from central
    differences of the half-grid drift table (second order in the segment length). out (3,).
    """
    i, j, k = ijk
    nh = (2 * shp[0] - 1, 2 * shp[1] - 1, 2 * shp[2] - 1)
    lx0 = i - y[0]
    ly0 = j - y[1]
    lz0 = k - y[2]
    lx = T[0, 0] * lx0 + T[0, 1] * ly0 + T[0, 2] * lz0
    ly = T[1, 0] * lx0 + T[1, 1] * ly0 + T[1, 2] * lz0
    lz = T[2, 0] * lx0 + T[2, 1] * ly0 + T[2, 2] * lz0
    # the midpoint in half-grid coordinates x + y
    cm = (i + y[0], j + y[1], k + y[2])
    bx, by, bz = _mid_drift(b, nh, cm)
    nb = np.sqrt(bx * bx + by * by + bz * bz)
    nl = np.sqrt(lx * lx + ly * ly + lz * lz)
    if nl == 0.0:
        for c in range(3):
            out[c] = 0.0
            yg[c] = np.nan
        return
    vx = -lx
    vy = -ly
    vz = -lz
    if nb > _TINY:
        vx += nl * bx / nb
        vy += nl * by / nb
        vz += nl * bz / nb
    # J^T v with J = D Tinv, D[:, a] = b(r + u_a) - b(r - u_a) (one index step = T[:, a])
    Dv0, Dv1, Dv2 = _drift_diff_dot(b, nh, cm, vx, vy, vz)
    for c in range(3):
        JTv = Tinv[0, c] * Dv0 + Tinv[1, c] * Dv1 + Tinv[2, c] * Dv2
        lc = lx if c == 0 else (ly if c == 1 else lz)
        bc = bx if c == 0 else (by if c == 1 else bz)
        out[c] = nb * lc / nl - bc + 0.5 * JTv
        yg[c] = out[c] - JTv


@njit(cache=True)
def _mid_drift(b, nh, cm):
    """The drift table b (half grid of shape nh) interpolated multilinearly at the half-grid
    coordinates cm (a 3-tuple); the cell is clamped to the table."""
    H1 = nh[1]
    H2 = nh[2]
    c0, c1, c2 = cm
    f0 = min(max(int(np.floor(c0)), 0), nh[0] - 1)
    f1 = min(max(int(np.floor(c1)), 0), nh[1] - 1)
    f2 = min(max(int(np.floor(c2)), 0), nh[2] - 1)
    w0 = c0 - f0
    w1 = c1 - f1
    w2 = c2 - f2
    bx = 0.0
    by = 0.0
    bz = 0.0
    for d0 in range(2):
        g0 = f0 + d0
        if g0 >= nh[0]:
            continue
        v0 = w0 if d0 else 1.0 - w0
        for d1 in range(2):
            g1 = f1 + d1
            if g1 >= nh[1]:
                continue
            v1 = w1 if d1 else 1.0 - w1
            for d2 in range(2):
                g2 = f2 + d2
                if g2 >= nh[2]:
                    continue
                w = v0 * v1 * (w2 if d2 else 1.0 - w2)
                if w == 0.0:
                    continue
                mm = (g0 * H1 + g1) * H2 + g2
                bx += w * b[mm, 0]
                by += w * b[mm, 1]
                bz += w * b[mm, 2]
    return bx, by, bz


@njit(cache=True)
def _drift_diff_dot(b, nh, cm, vx, vy, vz):
    """(D^T v)_a for a = 0, 1, 2: D[:, a] = b(r + u_a) - b(r - u_a) the central difference of the
    drift table along index axis a at the half-grid node r nearest to cm (kept one node inside;
    0 along an axis of fewer than 3 half-grid nodes)."""
    H1 = nh[1]
    H2 = nh[2]
    r0 = min(max(int(np.floor(cm[0] + 0.5)), 1), max(nh[0] - 2, 0))
    r1 = min(max(int(np.floor(cm[1] + 0.5)), 1), max(nh[1] - 2, 0))
    r2 = min(max(int(np.floor(cm[2] + 0.5)), 1), max(nh[2] - 2, 0))
    Dv0 = 0.0
    Dv1 = 0.0
    Dv2 = 0.0
    if nh[0] > 2:
        ma = ((r0 + 1) * H1 + r1) * H2 + r2
        mb = ((r0 - 1) * H1 + r1) * H2 + r2
        Dv0 = (b[ma, 0] - b[mb, 0]) * vx + (b[ma, 1] - b[mb, 1]) * vy + (b[ma, 2] - b[mb, 2]) * vz
    if nh[1] > 2:
        ma = (r0 * H1 + r1 + 1) * H2 + r2
        mb = (r0 * H1 + r1 - 1) * H2 + r2
        Dv1 = (b[ma, 0] - b[mb, 0]) * vx + (b[ma, 1] - b[mb, 1]) * vy + (b[ma, 2] - b[mb, 2]) * vz
    if nh[2] > 2:
        ma = (r0 * H1 + r1) * H2 + r2 + 1
        mb = (r0 * H1 + r1) * H2 + r2 - 1
        Dv2 = (b[ma, 0] - b[mb, 0]) * vx + (b[ma, 1] - b[mb, 1]) * vy + (b[ma, 2] - b[mb, 2]) * vz
    return Dv0, Dv1, Dv2


# ----------------------------------------------------------------------------- tabulated costs (2-D)
@njit(cache=True)
def _tab_point_cost(C, n0, n1, fi, fj, lx, ly, M):
    """Cost per unit length at index-space point (fi, fj) in direction (lx, ly), |l| = 1 assumed
    by the caller's scaling. Bilinear in space, linear in angle; +inf if any used entry is +inf."""
    if fi < 0.0:
        fi = 0.0
    if fj < 0.0:
        fj = 0.0
    i = int(fi)
    j = int(fj)
    if i > n0 - 2:
        i = n0 - 2
    if j > n1 - 2:
        j = n1 - 2
    wi = fi - i
    wj = fj - j
    th = np.arctan2(ly, lx)
    if th < 0.0:
        th += 2.0 * np.pi
    t = th * M / (2.0 * np.pi)
    m = int(t)
    wm = t - m
    if m >= M:
        m = 0
        wm = 0.0
    m2 = m + 1
    if m2 >= M:
        m2 = 0
    total = 0.0
    for di in range(2):
        w1 = wi if di == 1 else 1.0 - wi
        if w1 == 0.0:
            continue
        for dj in range(2):
            w2 = wj if dj == 1 else 1.0 - wj
            if w2 == 0.0:
                continue
            p = (i + di) * n1 + (j + dj)
            c = 0.0
            if wm < 1.0:
                c += (1.0 - wm) * C[p, m]
            if wm > 0.0:
                c += wm * C[p, m2]
            if c == np.inf:
                return np.inf
            total += w1 * w2 * c
    return total


@njit(cache=True)
def tab_segment_cost(tab, fi0, fj0, di, dj):
    """Cost of the segment from index-space point (fi0, fj0) by (di, dj) cells on the table
    ``tab.C`` (``Tab``), split into pieces of at most ``tab.sub_len`` cells, each sampled at its
    midpoint (theory.md section 3); +inf if the direction is not achievable at either end or at
    any sample."""
    C = tab.C
    n0 = tab.n0
    n1 = tab.n1
    M = tab.M
    lx = di * tab.h0
    ly = dj * tab.h1
    length = np.sqrt(lx * lx + ly * ly)
    if length == 0.0:
        return 0.0
    ncell = np.sqrt(di * di + dj * dj)
    nsub = int(np.ceil(ncell / tab.sub_len - 1e-12))
    if nsub < 1:
        nsub = 1
    # both ends must allow this direction too: a midpoint inside the reachable set must not carry a
    # segment out of it (finite-sum noise has +inf costs; theory.md section 3 pitfalls)
    if _tab_point_cost(C, n0, n1, fi0, fj0, lx, ly, M) == np.inf:
        return np.inf
    if _tab_point_cost(C, n0, n1, fi0 + di, fj0 + dj, lx, ly, M) == np.inf:
        return np.inf
    total = 0.0
    for s in range(nsub):
        t = (s + 0.5) / nsub
        c = _tab_point_cost(C, n0, n1, fi0 + t * di, fj0 + t * dj, lx, ly, M)
        if c == np.inf:
            return np.inf
        total += c
    return total * length / nsub


@njit(cache=True)
def _tab_objective(t, u0, du, x0, dx, ex, tab):
    """u0 + t du + cost(x_t -> x) of ``tab_triangle_update`` at lambda = t."""
    fi0, fj0 = x0
    di0, dj0 = dx
    ei, ej = ex
    return u0 + t * du + tab_segment_cost(tab, fi0 + t * ei, fj0 + t * ej, di0 - t * ei, dj0 - t * ej)


@njit(cache=True)
def tab_triangle_update(u, x0, dx, ex, tab):
    """min over lambda of u0 + lambda (u1 - u0) + cost(x_lambda -> x), x_lambda = x0 + lambda e.

    u = (u0, u1); x0 = (fi0, fj0): index coordinates of x0; dx = x - x0 and ex = x1 - x0 in
    cells (2-tuples). Coarse sampling (so +inf stretches are skipped) then golden-section
    refinement. Returns (value, lambda); +inf when no interior finite value exists.
    """
    u0 = u[0]
    du = u[1] - u[0]
    ns = 8
    best = np.inf
    kbest = -1
    for k in range(1, ns):
        lam = k / ns
        v = _tab_objective(lam, u0, du, x0, dx, ex, tab)
        if v < best:
            best = v
            kbest = k
    if kbest < 0:
        return np.inf, 0.0
    lo = (kbest - 1) / ns
    hi = (kbest + 1) / ns
    gr = 0.6180339887498949
    c = hi - gr * (hi - lo)
    d = lo + gr * (hi - lo)
    fc = _tab_objective(c, u0, du, x0, dx, ex, tab)
    fd = _tab_objective(d, u0, du, x0, dx, ex, tab)
    for _ in range(30):
        if fc <= fd:
            hi = d
            d = c
            fd = fc
            c = hi - gr * (hi - lo)
            fc = _tab_objective(c, u0, du, x0, dx, ex, tab)
        else:
            lo = c
            c = d
            fc = fd
            d = lo + gr * (hi - lo)
            fd = _tab_objective(d, u0, du, x0, dx, ex, tab)
        if hi - lo < 1e-7:
            break
    if fc <= fd:
        lam, v = c, fc
    else:
        lam, v = d, fd
    if best < v:
        return best, kbest / ns
    return v, lam


# ----------------------------------------------------------------------------- marching
@njit(cache=True)
def _in_grid(i, j, k, n0, n1, n2):
    return 0 <= i < n0 and 0 <= j < n1 and 0 <= k < n2


@njit(cache=True)
def _inner(i, j, k, n0, n1, n2, Kb):
    """Whether the whole ball of half-width Kb around (i, j, k) lies in the grid."""
    if i < Kb or i >= n0 - Kb or j < Kb or j >= n1 - Kb:
        return False
    return n2 == 1 or (k >= Kb and k < n2 - Kb)


@njit(cache=True)
def _lut(di, dj, dk):
    """Index into the 27-entry neighbour tables, -1 if not a neighbour (L_inf > 1)."""
    if di < -1 or di > 1 or dj < -1 or dj > 1 or dk < -1 or dk > 1:
        return -1
    return (di + 1) * 9 + (dj + 1) * 3 + (dk + 1)


@njit(cache=True)
def _ijk(p, n1, n2):
    """Index coordinates (i, j, k) of the flat node p."""
    i = p // (n1 * n2)
    r = p - i * n1 * n2
    j = r // n2
    return i, j, r - j * n2


@njit(cache=True)
def march(V, fixed, costs, sten, corr, all_pairs, stats):
    """Ordered line integral method: fill V (flat, +inf where not started) in place.

    V, fixed: start values (finite on the start nodes, which are never updated) and their mask.
    costs (``Costs``), sten (``Stencil``): the cost tables and the update stencils.
    corr (``Correction``): with N rows in corr.grad, the curvature correction of the triangle
    and tetrahedron updates is on (constant A, mode 0 only): the gradients are given where
    corr.given, computed by ``node_grad`` when any other node is accepted, and trusted where
    given or where the best update is stationary (see ``_gdiff``); corr.base receives the base
    point of each node's best update. With one row the updates are the plain linear
    interpolation.
    all_pairs: when p is accepted, every considered node in its ball gets the triangle updates
    (p, x1) for all front neighbours x1 of p (Dahiya & Cameron's 2-D OLIM; in 3-D, with
    constant A, followed by the tetrahedra on the two lowest of them); otherwise only
    the triangle (x0, p) when p is next to x0, the best one-point base so far, or the fan of p
    when p is that base (the cheaper rule of the 3-D OLIM of Yang, Potter & Cameron).
    stats (8,) int64 out: accepted, one-point, triangle calls, triangle successes,
    simplex calls, tetrahedron successes, nodes left at +inf in the heap.
    Returns the status array (2 or 3 where accepted).

    The loops over the update ball stay in this function: Numba raises and lowers the reference
    count of every array a call passes, and a call per node of the ball costs more than its
    work in 2-D.
    """
    shp, b, offs = costs.shp, costs.gauss.b, sten.offs
    n0, n1, n2 = shp[0], shp[1], shp[2]
    N = n0 * n1 * n2
    status = np.zeros(N, dtype=np.int8)
    ind0 = np.full(N, -1, dtype=np.int64)
    U1 = np.full(N, np.inf)
    heap, hv, pos = np.zeros(N + 1, dtype=np.int64), np.zeros(N + 1), np.zeros(N, dtype=np.int64)
    work = Scratch(
        np.zeros(6), np.zeros(6), np.zeros((3, 3, 3)), np.zeros((3, 3)), np.zeros((3, 3)), np.zeros(3), np.zeros(3)
    )
    n_nbr = sten.nbr.shape[0]
    afl, afe, newl = np.zeros(n_nbr, dtype=np.int64), np.zeros(n_nbr, dtype=np.int64), np.zeros(n_nbr, dtype=np.int64)
    pa, pb = np.zeros(n_nbr + 1, dtype=np.int64), np.zeros(n_nbr + 1, dtype=np.int64)
    ygrad = np.zeros(3)
    Gr, Yb = corr.grad, corr.base
    upd = Updates(V, status, costs, sten, Gr, Yb, work, stats)
    (foff, hoff, lvec, lnorm, Kb, tflat, tmax), fan = _ball_tables(costs, sten)
    fast = costs.mode == 0 and costs.gauss.a_const
    corr_on = Gr.shape[0] > 1
    fan2d = all_pairs and fast and not (n2 > 1 or corr_on)
    count = 0
    for p in range(N):
        if fixed[p]:
            status[p] = CONSIDERED
            count = heap_push(heap, hv, pos, count, p, V[p])
    n_acc = 0
    while count > 0:
        p, count = heap_pop(heap, hv, pos, count)
        if V[p] == np.inf:
            stats[6] = count + 1
            break
        status[p] = FRONT
        n_acc += 1
        Vp = V[p]
        ip, jp, kp = _ijk(p, n1, n2)
        if corr_on and not corr.given[p]:
            _accept_gradient(costs, corr, p, (ip, jp, kp), ygrad)
        naf, nnew = _scan_neighbours(status, sten, shp, (ip, jp, kp), afl, afe, newl)
        front = Front(afl, afe, naf)
        # update the considered nodes in the ball around p (Dahiya & Cameron's two cases)
        inner = _inner(ip, jp, kp, n0, n1, n2, Kb)
        Hp = ((2 * ip) * (2 * n1 - 1) + 2 * jp) * (2 * n2 - 1) + 2 * kp
        for e in range(offs.shape[0]):
            if inner:
                q = p + foff[e]
            else:
                iq, jq, kq = ip + offs[e, 0], jp + offs[e, 1], kp + offs[e, 2]
                if not _in_grid(iq, jq, kq, n0, n1, n2):
                    continue
                q = (iq * n1 + jq) * n2 + kq
            if status[q] != CONSIDERED or fixed[q]:
                continue
            m = Hp + hoff[e]
            if fast:
                c = b[m, 3] * lnorm[e] - (b[m, 0] * lvec[e, 0] + b[m, 1] * lvec[e, 1] + b[m, 2] * lvec[e, 2])
                val = Vp + (c if c > 0.0 else 0.0)
            else:
                val = _one_point(Vp, m, (lvec[e, 0], lvec[e, 1], lvec[e, 2]), (ip, jp), costs, work.a)
            stats[1] += 1
            old = V[q]
            if val < old:
                V[q], ind0[q], U1[q] = val, p, val
                if corr_on:
                    Yb[q, 0], Yb[q, 1], Yb[q, 2] = ip, jp, kp
            elif val < U1[q]:
                ind0[q], U1[q] = p, val
            x = (q, ip + offs[e, 0], jp + offs[e, 1], kp + offs[e, 2])
            npair = 0
            if fan2d:
                stats[2] += naf
                val, n_found = _fan2d(V, Vp, m, e, val - Vp, V[q], front, fan)
                stats[3] += n_found
                if val < V[q]:
                    V[q] = val
            elif all_pairs and fast:
                # every triangle (p, x1), x1 a front neighbour of p (Dahiya & Cameron's 2-D code): the
                # best one-point base need not be a vertex of the best segment where the
                # characteristics run nearly along the front (in 3-D: and the tetrahedra on the two
                # lowest triangles)
                stats[2] += naf
                val = _fan_const(upd, fan, (p, ip, jp, kp), front, x, m, e, val - Vp)
                if val < V[q]:
                    V[q] = val
                    if corr_on:
                        Yb[q, 0], Yb[q, 1], Yb[q, 2] = ip + work.ybest[0], jp + work.ybest[1], kp + work.ybest[2]
            elif all_pairs or ind0[q] == p:
                # all pairs, or case 2: p is the best one-point base: triangles with its front neighbours
                for k in range(naf):
                    pa[k], pb[k] = p, afl[k]
                npair = naf
            elif ind0[q] >= 0 and -tmax <= p - ind0[q] <= tmax:
                # case 1: one triangle (x0, p), x0 the best one-point base, if p is next to x0
                npair = _base_pair(tflat, sten.tri, shp, ind0[q], (p, ip, jp, kp), pa, pb)
            if npair > 0:
                _pairs_update(upd, x, Pairs(pa, pb, npair))
            if V[q] < old:
                heap_sift_up(heap, hv, pos, pos[q], q, V[q])
        # far neighbours of p become considered: best one-point update over the front in the ball
        for mm in range(nnew):
            q = newl[mm]
            status[q] = CONSIDERED
            iq, jq, kq = _ijk(q, n1, n2)
            inner = _inner(iq, jq, kq, n0, n1, n2, Kb)
            Hq = ((2 * iq) * (2 * n1 - 1) + 2 * jq) * (2 * n2 - 1) + 2 * kq
            best = np.inf
            for e in range(offs.shape[0]):
                if inner:
                    q0 = q + foff[e]
                else:
                    i0, j0, k0 = iq + offs[e, 0], jq + offs[e, 1], kq + offs[e, 2]
                    if not _in_grid(i0, j0, k0, n0, n1, n2):
                        continue
                    q0 = (i0 * n1 + j0) * n2 + k0
                if status[q0] != FRONT:
                    continue
                m = Hq + hoff[e]
                if fast:
                    c = b[m, 3] * lnorm[e] + (b[m, 0] * lvec[e, 0] + b[m, 1] * lvec[e, 1] + b[m, 2] * lvec[e, 2])
                    val = V[q0] + (c if c > 0.0 else 0.0)
                else:
                    l = (-lvec[e, 0], -lvec[e, 1], -lvec[e, 2])
                    val = _one_point(V[q0], m, l, (iq + offs[e, 0], jq + offs[e, 1]), costs, work.a)
                stats[1] += 1
                if val < best:
                    best = val
                    ind0[q] = q0
            V[q] = best
            U1[q] = best
            if ind0[q] >= 0:
                npair = _base_pairs(status, sten.tri, shp, ind0[q], pa, pb)
                if corr_on:
                    Yb[q, 0], Yb[q, 1], Yb[q, 2] = _ijk(ind0[q], n1, n2)
                if npair > 0:
                    _pairs_update(upd, (q, iq, jq, kq), Pairs(pa, pb, npair))
            count = heap_push(heap, hv, pos, count, q, V[q])
    stats[0] = n_acc
    return status


@njit(cache=True)
def _ball_tables(costs, sten):
    """Flat offsets and segment vectors of the stencils (``Ball``, ``FanTables``)."""
    shp, T, offs, nbr, tri = costs.shp, costs.T, sten.offs, sten.nbr, sten.tri
    n1, n2 = shp[1], shp[2]
    H1 = 2 * n1 - 1
    H2 = 2 * n2 - 1
    nhoff = (nbr[:, 0] * H1 + nbr[:, 1]) * H2 + nbr[:, 2]
    nvec = np.zeros((nbr.shape[0], 3))
    for e in range(nbr.shape[0]):
        for c in range(3):
            nvec[e, c] = T[c, 0] * nbr[e, 0] + T[c, 1] * nbr[e, 1] + T[c, 2] * nbr[e, 2]
    nball = offs.shape[0]
    lvec = np.zeros((nball, 3))
    lnorm = np.zeros(nball)
    Kb = 0
    for e in range(nball):
        for c in range(3):
            lvec[e, c] = T[c, 0] * offs[e, 0] + T[c, 1] * offs[e, 1] + T[c, 2] * offs[e, 2]
            Kb = max(Kb, abs(offs[e, c]))
        lnorm[e] = np.sqrt(lvec[e, 0] ** 2 + lvec[e, 1] ** 2 + lvec[e, 2] ** 2)
    foff = (offs[:, 0] * n1 + offs[:, 1]) * n2 + offs[:, 2]
    hoff = (offs[:, 0] * H1 + offs[:, 1]) * H2 + offs[:, 2]
    tflat = (tri[:, 0] * n1 + tri[:, 1]) * n2 + tri[:, 2]
    ball = Ball(foff, hoff, lvec, lnorm, Kb, tflat, n1 * n2 + n2 + 1)
    return ball, FanTables(costs.gauss.b, lvec, nvec, nhoff)


@njit(cache=True)
def _accept_gradient(costs, corr, p, ijk, ygrad):
    """Gradient of V at the node p just accepted (``node_grad``) and whether it is trusted."""
    Gr = corr.grad
    Yb = corr.base
    node_grad(costs.gauss.b, costs.shp, costs.T, corr.Tinv, ijk, Yb[p], Gr[p], ygrad)
    # the envelope gradient holds where the base is a stationary point of the update: an
    # interior point of a triangle or tetrahedron, or a grid node whose (trusted) gradient
    # matches -d cost / dy (a characteristic through the node); otherwise it is the
    # gradient of an upper bound of V, and the node's gradient is not used (Gr[p, 3] = 0)
    y0 = Yb[p, 0]
    y1 = Yb[p, 1]
    y2 = Yb[p, 2]
    Gr[p, 3] = 1.0
    if y0 == np.floor(y0) and y1 == np.floor(y1) and y2 == np.floor(y2):
        qy = (int(y0) * costs.shp[1] + int(y1)) * costs.shp[2] + int(y2)
        dev = abs(Gr[qy, 0] - ygrad[0]) + abs(Gr[qy, 1] - ygrad[1]) + abs(Gr[qy, 2] - ygrad[2])
        scl = abs(ygrad[0]) + abs(ygrad[1]) + abs(ygrad[2])
        if Gr[qy, 3] == 0.0 or not (dev <= 1e-8 * scl + 1e-12):
            Gr[p, 3] = 0.0


@njit(cache=True)
def _scan_neighbours(status, sten, shp, ijk, afl, afe, newl):
    """Neighbours of the node ijk just accepted: retire front nodes with no unaccepted
    neighbour, list the other front nodes that can base a triangle with it (afl: nodes, afe:
    rows of sten.nbr) and the far nodes (newl). Returns (front count, far count)."""
    nbr = sten.nbr
    n0, n1, n2 = shp[0], shp[1], shp[2]
    ip, jp, kp = ijk
    naf = 0
    nnew = 0
    for e in range(nbr.shape[0]):
        iq = ip + nbr[e, 0]
        jq = jp + nbr[e, 1]
        kq = kp + nbr[e, 2]
        if not _in_grid(iq, jq, kq, n0, n1, n2):
            continue
        q = (iq * n1 + jq) * n2 + kq
        s = status[q]
        if s == FRONT:
            alive = False
            for f in range(nbr.shape[0]):
                i2 = iq + nbr[f, 0]
                j2 = jq + nbr[f, 1]
                k2 = kq + nbr[f, 2]
                if _in_grid(i2, j2, k2, n0, n1, n2) and status[(i2 * n1 + j2) * n2 + k2] < FRONT:
                    alive = True
                    break
            if not alive:
                status[q] = ACCEPTED
            elif sten.tri_lut[_lut(nbr[e, 0], nbr[e, 1], nbr[e, 2])] >= 0:
                afl[naf] = q
                afe[naf] = e
                naf += 1
        elif s == FAR:
            newl[nnew] = q
            nnew += 1
    return naf, nnew


@njit(cache=True)
def _base_pair(tflat, tri, shp, q0, s0, pa, pb):
    """Case 1 of the update: the pair (x0, p) in pa[0], pb[0] if p (s0 = (p, i, j, k)) is a
    triangle base neighbour of x0 = q0 (the best one-point base); returns the number of pairs."""
    p, ip, jp, kp = s0
    dflat = p - q0
    for t in range(tri.shape[0]):
        if tflat[t] == dflat:
            # confirm in index space (flat offsets alias near faces)
            i0, j0, k0 = _ijk(q0, shp[1], shp[2])
            if ip - i0 == tri[t, 0] and jp - j0 == tri[t, 1] and kp - k0 == tri[t, 2]:
                pa[0] = q0
                pb[0] = p
                return 1
            return 0
    return 0


@njit(cache=True)
def _base_pairs(status, tri, shp, q0, pa, pb):
    """The pairs (x0, x1) in pa, pb for the front nodes x1 that base a triangle with x0 = q0;
    returns their number."""
    n0, n1, n2 = shp[0], shp[1], shp[2]
    i0, j0, k0 = _ijk(q0, n1, n2)
    npair = 0
    for t in range(tri.shape[0]):
        i1 = i0 + tri[t, 0]
        j1 = j0 + tri[t, 1]
        k1 = k0 + tri[t, 2]
        if not _in_grid(i1, j1, k1, n0, n1, n2):
            continue
        q1 = (i1 * n1 + j1) * n2 + k1
        if status[q1] != FRONT:
            continue
        pa[npair] = q0
        pb[npair] = q1
        npair += 1
    return npair


@njit(cache=True)
def _one_point(u0, m, l, ij0, costs, a):
    """u0 + cost(x0 -> x) with x - x0 = l (a 3-tuple, cost coordinates) and m the half-grid index
    of the midpoint; ij0: index coordinates of x0 (tabulated costs). Variable A or tabulated
    costs (the march evaluates constant-A costs inline); a (6,) scratch."""
    if costs.mode == 0:
        g = costs.gauss
        b = g.b
        _load_A(g.A, g.a_const, m, a)
        return u0 + segment_cost(b[m, 0], b[m, 1], b[m, 2], a, l[0], l[1], l[2])
    tab = costs.tab
    return u0 + tab_segment_cost(tab, float(ij0[0]), float(ij0[1]), float(l[0] / tab.h0), float(l[1] / tab.h1))


@njit(cache=True)
def _pairs_update(upd, x, pairs):
    """Triangle updates of node x = (q, i, j, k) from the front segments [pairs.a[k], pairs.b[k]]
    (then tetrahedra in 3-D); V[q] (and its base point with the curvature correction) takes the
    smallest value found when it is lower."""
    V, costs, work, stats, Gr = upd.V, upd.costs, upd.work, upd.stats, upd.grad
    T = costs.T
    ybest, ytmp, pa, pb = work.ybest, work.ytmp, pairs.a, pairs.b
    n1, n2 = costs.shp[1], costs.shp[2]
    corr = Gr.shape[0] > 1
    best = np.inf
    for k in range(pairs.count):
        q0 = pa[k]
        q1 = pb[k]
        i0, j0, k0 = _ijk(q0, n1, n2)
        i1, j1, k1 = _ijk(q1, n1, n2)
        stats[2] += 1
        kap = 0.0
        if corr:
            di, dj, dk = i1 - i0, j1 - j0, k1 - k0
            kap = _gdiff(
                Gr,
                q0,
                q1,
                T[0, 0] * di + T[0, 1] * dj + T[0, 2] * dk,
                T[1, 0] * di + T[1, 1] * dj + T[1, 2] * dk,
                T[2, 0] * di + T[2, 1] * dj + T[2, 2] * dk,
            )
        s0 = (q0, i0, j0, k0)
        s1 = (q1, i1, j1, k1)
        val, lam = _triangle(V, x, s0, s1, kap, costs, work.a, work.a1)
        if val < np.inf:
            stats[3] += 1
            if val < best:
                best = val
                if corr:
                    ybest[0] = i0 + lam * (i1 - i0)
                    ybest[1] = j0 + lam * (j1 - j0)
                    ybest[2] = k0 + lam * (k1 - k0)
            if n2 > 1:
                stats[4] += 1
                val = _simplices(upd, x, s0, s1, lam, val, np.inf)
                if val < best:
                    stats[5] += 1
                    best = val
                    for c in range(3):
                        ybest[c] = ytmp[c]
    q = x[0]
    if best < V[q]:
        V[q] = best
        if corr:
            for c in range(3):
                upd.base[q, c] = ybest[c]


@njit(cache=True)
def _triangle(V, x, s0, s1, kap, costs, a, a1):
    """Triangle update of node x from the segment [x0, x1] (nodes as (flat, i, j, k));
    returns (value, lambda). a, a1 (6,) scratch."""
    _, iq, jq, kq = x
    q0, i0, j0, k0 = s0
    q1, i1, j1, k1 = s1
    if costs.mode == 0:
        T = costs.T
        H1 = 2 * costs.shp[1] - 1
        H2 = 2 * costs.shp[2] - 1
        m0 = ((iq + i0) * H1 + (jq + j0)) * H2 + (kq + k0)
        m1 = ((iq + i1) * H1 + (jq + j1)) * H2 + (kq + k1)
        di, dj, dk = iq - i0, jq - j0, kq - k0
        ei, ej, ek = i0 - i1, j0 - j1, k0 - k1
        l0 = (
            T[0, 0] * di + T[0, 1] * dj + T[0, 2] * dk,
            T[1, 0] * di + T[1, 1] * dj + T[1, 2] * dk,
            T[2, 0] * di + T[2, 1] * dj + T[2, 2] * dk,
        )
        dl = (
            T[0, 0] * ei + T[0, 1] * ej + T[0, 2] * ek,
            T[1, 0] * ei + T[1, 1] * ej + T[1, 2] * ek,
            T[2, 0] * ei + T[2, 1] * ej + T[2, 2] * ek,
        )
        return triangle_update((V[q0], V[q1]), l0, dl, (m0, m1), kap, costs.gauss, a, a1)
    x0 = (float(i0), float(j0))
    dx = (float(iq - i0), float(jq - j0))
    ex = (float(i1 - i0), float(j1 - j0))
    return tab_triangle_update((V[q0], V[q1]), x0, dx, ex, costs.tab)


@njit(cache=True)
def _simplices(upd, x, s0, s1, lam, ftri, vcut):
    """Tetrahedron updates (x0, x1, x2) of node x for x2 a front neighbour of x0 that closes a
    small triangle with x0 and x1 (the simp table; nodes as (flat, i, j, k)); returns the
    smallest value (+inf if none) and writes its base point (index coordinates) to work.ytmp
    when the curvature correction is on.

    lam, ftri: the triangle update's minimiser on [x0, x1] and its value; with constant A, a
    simplex is skipped before its Newton solve when the objective's slope g2 into it at (lam, 0)
    is >= 0 (KKT) or when the tangent-plane bound ftri + g2 of the (convex) objective is >= vcut."""
    V, status, costs, work, Gr = upd.V, upd.status, upd.costs, upd.work, upd.grad
    L, B, ybest = work.L, work.B, work.ytmp
    b, tri, simp = costs.gauss.b, upd.sten.tri, upd.sten.simp
    n0, n1, n2 = costs.shp[0], costs.shp[1], costs.shp[2]
    H1 = 2 * n1 - 1
    H2 = 2 * n2 - 1
    _, iq, jq, kq = x
    q0, i0, j0, k0 = s0
    q1, i1, j1, k1 = s1
    t = upd.sten.tri_lut[_lut(i1 - i0, j1 - j0, k1 - k0)]
    best = np.inf
    if t < 0:
        return best
    m0 = ((iq + i0) * H1 + (jq + j0)) * H2 + (kq + k0)
    m1 = ((iq + i1) * H1 + (jq + j1)) * H2 + (kq + k1)
    for s in range(simp.shape[1]):
        w = simp[t, s]
        if w < 0:
            break
        i2, j2, k2 = i0 + tri[w, 0], j0 + tri[w, 1], k0 + tri[w, 2]
        if not _in_grid(i2, j2, k2, n0, n1, n2):
            continue
        q2 = (i2 * n1 + j2) * n2 + k2
        if status[q2] != FRONT:
            continue
        m2 = ((iq + i2) * H1 + (jq + j2)) * H2 + (kq + k2)
        _tet_vectors(costs.T, L, (iq - i0, jq - j0, kq - k0), (i0 - i1, j0 - j1, k0 - k1), (i0 - i2, j0 - j2, k0 - k2))
        for c in range(3):
            B[0, c] = b[m0, c]
            B[1, c] = b[m1, c] - b[m0, c]
            B[2, c] = b[m2, c] - b[m0, c]
        c11 = 0.0
        c22 = 0.0
        c12 = 0.0
        if Gr.shape[0] > 1:
            # e1 = T (x1 - x0) = -L[1], e2 = -L[2]
            c11 = -_gdiff(Gr, q0, q1, L[1, 0], L[1, 1], L[1, 2])
            c22 = -_gdiff(Gr, q0, q2, L[2, 0], L[2, 1], L[2, 2])
            c12 = -0.5 * (_gdiff(Gr, q0, q2, L[1, 0], L[1, 1], L[1, 2]) + _gdiff(Gr, q0, q1, L[2, 0], L[2, 1], L[2, 2]))
        if costs.gauss.a_const:
            g2 = _tet_slope(V[q2] - V[q0], L, B, lam, c22, c12)
            if not (g2 < 0.0) or ftri + g2 >= vcut:
                continue
        u = (V[q0], V[q1], V[q2])
        v, s1, s2 = tetra_update(u, (m0, m1, m2), lam, (c11, c22, c12), costs.gauss, work)
        if v < best:
            best = v
            if Gr.shape[0] > 1:
                ybest[0] = i0 + s1 * (i1 - i0) + s2 * (i2 - i0)
                ybest[1] = j0 + s1 * (j1 - j0) + s2 * (j2 - j0)
                ybest[2] = k0 + s1 * (k1 - k0) + s2 * (k2 - k0)
    return best


@njit(cache=True)
def _tet_vectors(T, L, d0, d1, d2):
    """L[r] = T d_r for the index offsets d0 = x - x0, d1 = x0 - x1, d2 = x0 - x2."""
    for c in range(3):
        L[0, c] = T[c, 0] * d0[0] + T[c, 1] * d0[1] + T[c, 2] * d0[2]
        L[1, c] = T[c, 0] * d1[0] + T[c, 1] * d1[1] + T[c, 2] * d1[2]
        L[2, c] = T[c, 0] * d2[0] + T[c, 1] * d2[1] + T[c, 2] * d2[2]


@njit(cache=True)
def _tet_slope(du2, L, B, lam, c22, c12):
    """Slope g2 of the tetrahedron objective into the simplex at (lam, 0), constant A (the
    identity in cost coordinates); du2 = V(x2) - V(x0)."""
    bx = B[0, 0] + lam * B[1, 0]
    by = B[0, 1] + lam * B[1, 1]
    bz = B[0, 2] + lam * B[1, 2]
    lx = L[0, 0] + lam * L[1, 0]
    ly = L[0, 1] + lam * L[1, 1]
    lz = L[0, 2] + lam * L[1, 2]
    nb = np.sqrt(bx * bx + by * by + bz * bz)
    nl = np.sqrt(lx * lx + ly * ly + lz * lz)
    bB = bx * B[2, 0] + by * B[2, 1] + bz * B[2, 2]
    lL = lx * L[2, 0] + ly * L[2, 1] + lz * L[2, 2]
    g2 = du2 - (B[2, 0] * lx + B[2, 1] * ly + B[2, 2] * lz) - (bx * L[2, 0] + by * L[2, 1] + bz * L[2, 2])
    g2 += -0.5 * c22 + lam * c12
    if nb > _TINY and nl > _TINY:
        g2 += nl / nb * bB + nb / nl * lL
    return g2


@njit(cache=True)
def _fan_const(upd, fan, s0, front, x, m, e, c0):
    """Triangle updates (p, x1) of the node x = p + offs[e] for the front neighbours x1 of p
    (s0; constant A: ``FanTables``), with the curvature correction when it is on; in 3-D the two
    lowest interior triangles are followed by their tetrahedra (x0 = p, x1, x2; pruned by
    ``_simplices``). m: half-grid index of mid(x, p); c0: the one-point cost from p. Returns the
    smallest value found (V[q] if none is lower); its base point relative to p goes to
    work.ybest when the correction is on. One function: a call per node of the ball passes
    every array again."""
    b, lvec, nvec, nhoff = fan.b, fan.lvec, fan.nvec, fan.nhoff
    V, Gr, nbr, ybest, stats = upd.V, upd.grad, upd.sten.nbr, upd.work.ybest, upd.stats
    edges, nodes = front.edges, front.nodes
    corr = Gr.shape[0] > 1
    p, ip, jp, kp = s0
    Vp = V[p]
    vbest = V[x[0]]
    b0x, b0y, b0z = b[m, 0], b[m, 1], b[m, 2]
    l0x, l0y, l0z = lvec[e, 0], lvec[e, 1], lvec[e, 2]
    t1 = (np.inf, -1, 0.0)  # (value, row of front, lambda) of the two lowest interior triangles
    t2 = (np.inf, -1, 0.0)
    # slope of the objective at lambda = 0 (x_lambda = p) towards each x1, without the tables' square
    # roots: an interior minimum needs it negative (most triangles stop here)
    p0 = b0x * b0x + b0y * b0y + b0z * b0z
    q0 = l0x * l0x + l0y * l0y + l0z * l0z
    S0 = np.sqrt(p0 * q0)
    for k in range(front.count):
        ee, x1 = edges[k], nodes[k]
        m1 = m + nhoff[ee]  # mid(x, x1) = mid(x, p) + (x1 - p) / 2
        nx, ny, nz = nvec[ee, 0], nvec[ee, 1], nvec[ee, 2]
        kap = _gdiff(Gr, p, x1, nx, ny, nz) if corr else 0.0
        dbx, dby, dbz = b[m1, 0] - b0x, b[m1, 1] - b0y, b[m1, 2] - b0z
        if S0 > _TINY:
            p1 = b0x * dbx + b0y * dby + b0z * dbz
            q1 = -(l0x * nx + l0y * ny + l0z * nz)
            r1 = -(b0x * nx + b0y * ny + b0z * nz) + (dbx * l0x + dby * l0y + dbz * l0z)
            if V[x1] - Vp - 0.5 * kap + (p1 * q0 + p0 * q1) / S0 - r1 >= 0.0:
                continue
        l1x, l1y, l1z = l0x - nx, l0y - ny, l0z - nz  # l1 = x - x1 = l0 - T (x1 - p)
        c1 = b[m1, 3] * np.sqrt(l1x * l1x + l1y * l1y + l1z * l1z) - (b[m1, 0] * l1x + b[m1, 1] * l1y + b[m1, 2] * l1z)
        tv, lam = tri_const(
            (Vp, V[x1] - Vp), (b0x, b0y, b0z), (dbx, dby, dbz), (l0x, l0y, l0z), (-nx, -ny, -nz),
            (c0, max(c1, 0.0)), vbest, kap,
        )  # fmt: skip
        if tv < np.inf:
            stats[3] += 1
            if tv < vbest:
                vbest = tv
                if corr:
                    ybest[0], ybest[1], ybest[2] = lam * nbr[ee, 0], lam * nbr[ee, 1], lam * nbr[ee, 2]
            if tv < t1[0]:
                t2 = t1
                t1 = (tv, k, lam)
            elif tv < t2[0]:
                t2 = (tv, k, lam)
    if upd.costs.shp[2] == 1:
        return vbest
    for r in range(2):
        fk, kk, lk = t1 if r == 0 else t2
        if kk < 0:
            break
        ee = edges[kk]
        stats[4] += 1
        tv = _simplices(upd, x, s0, (nodes[kk], ip + nbr[ee, 0], jp + nbr[ee, 1], kp + nbr[ee, 2]), lk, fk, vbest)
        if tv < vbest:
            stats[5] += 1
            vbest = tv
            if corr:
                ytmp = upd.work.ytmp
                ybest[0], ybest[1], ybest[2] = ytmp[0] - ip, ytmp[1] - jp, ytmp[2] - kp
    return vbest


@njit(cache=True)
def _fan2d(V, Vp, m, e, c0, vbest, front, tab):
    """2-D, constant A, plain interpolation: triangle updates (p, x1) of the node x = p + offs[e]
    for every front neighbour x1 of p (``Front``; ``FanTables``). m: half-grid index of mid(x, p);
    c0: the one-point cost from p; vbest: the node's current value. Returns (smallest value found,
    vbest if none is lower; number of interior triangle minima).

    The same updates, in the same floating-point order, as ``_fan_const`` without the
    curvature correction and the tetrahedra. Kept apart because the march calls the fan for
    every considered node in the ball of every accepted node: a kernel that reads only the 2-D
    components and passes only the arrays it uses keeps that inner loop short."""
    b = tab.b
    nvec = tab.nvec
    b0x = b[m, 0]
    b0y = b[m, 1]
    l0x = tab.lvec[e, 0]
    l0y = tab.lvec[e, 1]
    # slope of the objective at lambda = 0 (x_lambda = p) towards x1, as in ``tri_const`` but
    # without its square roots: an interior minimum needs it negative (most triangles stop here)
    p0 = b0x * b0x + b0y * b0y
    q0 = l0x * l0x + l0y * l0y
    S0 = np.sqrt(p0 * q0)
    n_found = 0
    for k in range(front.count):
        ee = front.edges[k]
        u1 = V[front.nodes[k]]
        m1 = m + tab.nhoff[ee]
        dbx = b[m1, 0] - b0x
        dby = b[m1, 1] - b0y
        if S0 > _TINY:
            p1 = b0x * dbx + b0y * dby
            q1 = -(l0x * nvec[ee, 0] + l0y * nvec[ee, 1])
            r1 = -(b0x * nvec[ee, 0] + b0y * nvec[ee, 1]) + (dbx * l0x + dby * l0y)
            if u1 - Vp + (p1 * q0 + p0 * q1) / S0 - r1 >= 0.0:
                continue
        l1x = l0x - nvec[ee, 0]  # l1 = x - x1 = l0 - T (x1 - p)
        l1y = l0y - nvec[ee, 1]
        c1 = b[m1, 3] * np.sqrt(l1x * l1x + l1y * l1y) - (b[m1, 0] * l1x + b[m1, 1] * l1y)
        tv, _ = tri_const(
            (Vp, u1 - Vp), (b0x, b0y, 0.0), (dbx, dby, 0.0), (l0x, l0y, 0.0), (-nvec[ee, 0], -nvec[ee, 1], 0.0),
            (c0, max(c1, 0.0)), vbest, 0.0,
        )  # fmt: skip
        if tv < np.inf:
            n_found += 1
            vbest = min(vbest, tv)
    return vbest, n_found
