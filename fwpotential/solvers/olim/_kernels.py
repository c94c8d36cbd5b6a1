"""Numba kernels of the ordered line integral method (OLIM), 2-D and 3-D.

Dijkstra-like OLIM with midpoint quadrature (Dahiya & Cameron 2018; 3-D: Yang, Potter &
Cameron 2019). Arrays and scalars only; the driver is ``fwpotential.solvers.olim.driver``.

Layout shared by every kernel
-----------------------------
* The grid is flat, C order, always handled as 3-D: a 2-D grid has ``shape[2] == 1`` and
  every offset has a zero third component. Node ``p`` sits at ``(i, j, k)`` with
  ``p = (i * n1 + j) * n2 + k``; its coordinates are ``lower + (i, j, k) * h``.
* The half grid (the grid refined by 2, shape ``2 n - 1``) is flat too; the midpoint of nodes
  ``(i, j, k)`` and ``(i', j', k')`` is its node ``(i + i', j + j', k + k')``.
* ``b`` has shape (n_half, 3): the drift on the half grid (third component 0 in 2-D).
  ``A`` has shape (n_half, 6) or (1, 6) when constant: the upper triangle
  ``(a00, a01, a02, a11, a12, a22)`` of A = a^-1 on the half grid.
* Status: 0 far, 1 considered, 2 accepted front, 3 accepted (interior).
* The tabulated (non-Gaussian) variant is 2-D only: ``C`` has shape (n_nodes, M), the
  geometric cost per unit length on the nodes for the M directions at angles 2 pi m / M
  (+inf allowed); between nodes it is bilinear, between directions periodic linear.

No fastmath anywhere: +inf must survive comparisons.
"""

from collections import namedtuple

import numpy as np
from numba import njit

FAR = 0
CONSIDERED = 1
FRONT = 2
ACCEPTED = 3

# status codes returned by the marching kernels
OK = 0

_NEWTON_TOL = 1e-10
_TINY = 1e-300

# Bundles for the 2-D fan kernel ``_fan2d`` (built inside ``march``; Numba passes them as structs).
# Front: the naf front neighbours x1 of the node p just accepted, as flat indices (nodes) and rows
# of the neighbour table (edges); refilled for every p.
Front = namedtuple("Front", ["nodes", "edges", "count"])
# FanTables (constant A, fixed for the march): b (n_half, 4) holds (L^T b, |L^T b|) on the half
# grid; lvec (n_ball, 3) = T offs; nvec (n_nbr, 3) = T nbr; nhoff (n_nbr,): half-grid flat offsets
# of nbr (mid(x, x1) = mid(x, p) + (x1 - p) / 2).
FanTables = namedtuple("FanTables", ["b", "lvec", "nvec", "nhoff"])


# ----------------------------------------------------------------------------- binary heap
# 1-based min-heap of node indices with their values stored alongside (hv[loc] = V[heap[loc]]),
# so sifting touches two contiguous arrays only; pos[node] is the node's slot (0 when out).
@njit(cache=True)
def heap_sift_up(heap, hv, pos, loc, node, v):
    """Place node with value v at slot loc or above."""
    while loc > 1:
        parent = loc >> 1
        if hv[parent] <= v:
            break
        heap[loc] = heap[parent]
        hv[loc] = hv[parent]
        pos[heap[loc]] = loc
        loc = parent
    heap[loc] = node
    hv[loc] = v
    pos[node] = loc


@njit(cache=True)
def heap_push(heap, hv, pos, count, node, v):
    """Insert node with value v; returns the new count."""
    count += 1
    heap_sift_up(heap, hv, pos, count, node, v)
    return count


@njit(cache=True)
def heap_pop(heap, hv, pos, count):
    """Remove the root; returns (node, new count)."""
    top = heap[1]
    pos[top] = 0
    last = heap[count]
    v = hv[count]
    count -= 1
    if count > 0:
        loc = 1
        while True:
            c = 2 * loc
            if c > count:
                break
            if c + 1 <= count and hv[c + 1] < hv[c]:
                c += 1
            if hv[c] >= v:
                break
            heap[loc] = heap[c]
            hv[loc] = hv[c]
            pos[heap[loc]] = loc
            loc = c
        heap[loc] = last
        hv[loc] = v
        pos[last] = loc
    return top, count


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
def one_point_cost(b, A, a_const, m, lx, ly, lz, a):
    """Cost of the segment whose midpoint is half-grid node m (an exact table lookup)."""
    _load_A(A, a_const, m, a)
    return segment_cost(b[m, 0], b[m, 1], b[m, 2], a, lx, ly, lz)


@njit(cache=True)
def triangle_update(u0, u1, l0x, l0y, l0z, dlx, dly, dlz, b, A, a_const, m0, m1, a, a1, kap):
    """Minimise over lambda in (0, 1) of u0 + lambda (u1 - u0) - kap lambda (1 - lambda) / 2
    + cost(x_lambda -> x) (kap: curvature correction, 0 for plain linear interpolation).

    l(lambda) = x - x_lambda = l0 + lambda dl (dl = x0 - x1); the drift at the segment's
    midpoint is interpolated linearly between half-grid nodes m0 = mid(x, x0) and
    m1 = mid(x, x1) (exact for linear drift). A is frozen at m0 during the search and
    interpolated at the minimiser for the value. Returns (value, lambda); value is +inf when
    the minimum is not interior (the one-point updates cover the endpoints).
    """
    b0x, b0y, b0z = b[m0, 0], b[m0, 1], b[m0, 2]
    dbx, dby, dbz = b[m1, 0] - b0x, b[m1, 1] - b0y, b[m1, 2] - b0z
    if a_const:
        # constant A arrives as the identity (the driver transformed b and l)
        return tri_const(u0, u1 - u0, b0x, b0y, b0z, dbx, dby, dbz, l0x, l0y, l0z, dlx, dly, dlz, 0.0, 0.0, np.inf, kap)
    _load_A(A, a_const, m0, a)
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
    g_hi = _tri_grad(1.0, du, p0, p1, p2, q0, q1, q2, r1, r2, kap)
    if not (g_hi > 0.0):
        return np.inf, 1.0
    lam = _tri_newton(du, p0, p1, p2, q0, q1, q2, r1, r2, g_lo / (g_lo - g_hi), kap)
    # value at lambda with A interpolated between m0 and m1
    for c in range(6):
        a1[c] = (1.0 - lam) * A[m0, c] + lam * A[m1, c]
    cost = segment_cost(
        b0x + lam * dbx, b0y + lam * dby, b0z + lam * dbz, a1, l0x + lam * dlx, l0y + lam * dly, l0z + lam * dlz
    )
    return u0 + lam * du + 0.5 * kap * lam * lam + cost, lam


@njit(cache=True)
def _tri_newton(du, p0, p1, p2, q0, q1, q2, r1, r2, lam, kap):
    """Root in (0, 1) of f'(lam) = du + kap lam + (PQ)'/(2 sqrt(PQ)) - R' (f'(0) < 0 < f'(1)):
    safeguarded Newton from lam, bisection whenever a step leaves the bracket or f'' <= 0."""
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
def tri_const(u0, du, b0x, b0y, b0z, dbx, dby, dbz, l0x, l0y, l0z, dlx, dly, dlz, c0, c1, vcut, kap):
    """Triangle update for constant A (the identity after the driver's transform).

    Minimises f(lam) = u0 + lam du - kap lam (1 - lam) / 2 + |b||l| - <b, l> with b = b0 + lam db,
    l = l0 + lam dl over (0, 1) (kap: curvature correction, 0 for linear interpolation); c0, c1 are
    the one-point costs at lam = 0 and 1. Returns (value, lam); +inf unless the minimum is
    interior, or when the tangent lines of f at both ends show that f stays above vcut (only
    used when f is convex, kap >= 0).
    """
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
    g_hi = _tri_grad(1.0, du, p0, p1, p2, q0, q1, q2, r1, r2, kap)
    if not (g_hi > 0.0):
        return np.inf, 1.0
    # lower bound of a convex f: where its tangents at the two ends meet
    f0 = u0 + c0
    f1 = u0 + du + 0.5 * kap + c1
    ls = (f1 - g_hi - f0) / (g_lo - g_hi)
    if kap >= 0.0 and f0 + g_lo * ls >= vcut:
        return np.inf, ls
    lam = _tri_newton(du, p0, p1, p2, q0, q1, q2, r1, r2, g_lo / (g_lo - g_hi), kap)
    bx, by, bz = b0x + lam * dbx, b0y + lam * dby, b0z + lam * dbz
    lx, ly, lz = l0x + lam * dlx, l0y + lam * dly, l0z + lam * dlz
    cost = np.sqrt((bx * bx + by * by + bz * bz) * (lx * lx + ly * ly + lz * lz)) - (bx * lx + by * ly + bz * lz)
    return u0 + lam * du + 0.5 * kap * lam * lam + max(cost, 0.0), lam


@njit(cache=True)
def _tri_grad(lam, du, p0, p1, p2, q0, q1, q2, r1, r2, kap):
    P = p0 + lam * (2.0 * p1 + lam * p2)
    Q = q0 + lam * (2.0 * q1 + lam * q2)
    dP = 2.0 * (p1 + lam * p2)
    dQ = 2.0 * (q1 + lam * q2)
    PQ = P * Q
    if PQ > _TINY:
        return du + kap * lam + (dP * Q + P * dQ) / (2.0 * np.sqrt(PQ)) - (r1 + 2.0 * lam * r2)
    return du + kap * lam - (r1 + 2.0 * lam * r2)


@njit(cache=True)
def tetra_update(u0, u1, u2, L, B, A, a_const, m0, m1, m2, lam_start, a, a1, G, c11, c22, c12):
    """Minimise over the open simplex of u(s) + cost(x_s -> x), x_s = x0 + s1 (x1-x0) + s2 (x2-x0).

    L[0] = x - x0, L[1] = x0 - x1, L[2] = x0 - x2 (so l(s) = L0 + s1 L1 + s2 L2); B[0] = b(m0),
    B[1] = b(m1) - b(m0), B[2] = b(m2) - b(m0) (midpoint drift interpolated on the half grid).
    Starts at (lam_start, 0), the successful triangle update over (x0, x1), with the KKT test of
    Yang, Potter & Cameron: if the cost increases into the simplex there, the face is optimal.
    Newton on the 2x2 system (steepest descent when the Hessian is not definite), steps kept
    inside. c11, c22, c12: curvature correction (estimates of e_i^T H e_j, e_i = x_i - x0; zeros
    for plain linear interpolation): the objective gets -(s1 (1 - s1) c11 + s2 (1 - s2) c22
    - 2 s1 s2 c12) / 2. Returns (value, s1, s2); value +inf unless the gradient vanishes at an
    interior point.
    """
    _load_A(A, a_const, m0, a)
    # G[0, i, j] = B_i.A B_j, G[1] = L_i.A L_j, G[2] = B_i.A L_j
    for i in range(3):
        for j in range(3):
            G[0, i, j] = _dotA(a, B[i, 0], B[i, 1], B[i, 2], B[j, 0], B[j, 1], B[j, 2])
            G[1, i, j] = _dotA(a, L[i, 0], L[i, 1], L[i, 2], L[j, 0], L[j, 1], L[j, 2])
            G[2, i, j] = _dotA(a, B[i, 0], B[i, 1], B[i, 2], L[j, 0], L[j, 1], L[j, 2])
    du1 = u1 - u0
    du2 = u2 - u0
    s1 = lam_start
    s2 = 0.0
    ok = False
    for it in range(30):
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
            H12 = (2.0 * G[0, 1, 2] * Q + P1 * Q2 + P2 * Q1 + 2.0 * P * G[1, 1, 2]) / (2.0 * S) - n1 * n2 / (
                4.0 * S * PQ
            )
        else:
            g1 = du1 - R1
            g2 = du2 - R2
            H11 = 0.0
            H22 = 0.0
            H12 = 0.0
        H11 -= 2.0 * G[2, 1, 1]
        H22 -= 2.0 * G[2, 2, 2]
        H12 -= G[2, 1, 2] + G[2, 2, 1]
        g1 += -0.5 * (1.0 - 2.0 * s1) * c11 + s2 * c12
        g2 += -0.5 * (1.0 - 2.0 * s2) * c22 + s1 * c12
        H11 += c11
        H22 += c22
        H12 += c12
        if it == 0 and not (g2 < 0.0):
            return np.inf, 0.0, 0.0  # KKT: the face s2 = 0 holds the minimum
        scale = abs(du1) + abs(du2) + np.sqrt(max(G[0, 0, 0] * G[1, 0, 0], 0.0)) + _TINY
        if abs(g1) + abs(g2) <= 1e-11 * scale:
            ok = True
            break
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
            ok = abs(g1) + abs(g2) <= 1e-7 * scale
            break
    if not ok or s1 <= 0.0 or s2 <= 0.0 or s1 + s2 >= 1.0:
        return np.inf, s1, s2
    if not a_const:
        s0 = 1.0 - s1 - s2
        for c in range(6):
            a1[c] = s0 * A[m0, c] + s1 * A[m1, c] + s2 * A[m2, c]
    else:
        for c in range(6):
            a1[c] = a[c]
    bx = B[0, 0] + s1 * B[1, 0] + s2 * B[2, 0]
    by = B[0, 1] + s1 * B[1, 1] + s2 * B[2, 1]
    bz = B[0, 2] + s1 * B[1, 2] + s2 * B[2, 2]
    lx = L[0, 0] + s1 * L[1, 0] + s2 * L[2, 0]
    ly = L[0, 1] + s1 * L[1, 1] + s2 * L[2, 1]
    lz = L[0, 2] + s1 * L[1, 2] + s2 * L[2, 2]
    corr = -0.5 * (s1 * (1.0 - s1) * c11 + s2 * (1.0 - s2) * c22 - 2.0 * s1 * s2 * c12)
    return u0 + s1 * du1 + s2 * du2 + corr + segment_cost(bx, by, bz, a1, lx, ly, lz), s1, s2


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
def node_grad(b, shp, T, Tinv, i, j, k, y, out, yg):
    """Gradient of V at node (i, j, k) from its best update with base point y (index coordinates);
    yg (3,) out: the gradient V must have at y for y to be a stationary base (-d cost / dy).

    Constant A only (the driver's transform makes A the identity): the derivative in x of the
    midpoint cost |b(m)| |l| - <b(m), l> at the fixed base, l = T (x - y), m = (x + y) / 2, i.e.
    |b| l / |l| - b + (1/2) J^T (|l| b / |b| - l) with J = db/dx (cost coordinates) from central
    differences of the half-grid drift table (second order in the segment length). out (3,).
    """
    H1 = 2 * shp[1] - 1
    H2 = 2 * shp[2] - 1
    nh = (2 * shp[0] - 1, H1, H2)
    lx0 = i - y[0]
    ly0 = j - y[1]
    lz0 = k - y[2]
    lx = T[0, 0] * lx0 + T[0, 1] * ly0 + T[0, 2] * lz0
    ly = T[1, 0] * lx0 + T[1, 1] * ly0 + T[1, 2] * lz0
    lz = T[2, 0] * lx0 + T[2, 1] * ly0 + T[2, 2] * lz0
    # drift at the midpoint: multilinear on the half grid (coordinates x + y)
    c0 = i + y[0]
    c1 = j + y[1]
    c2 = k + y[2]
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
    r0 = min(max(int(np.floor(c0 + 0.5)), 1), max(nh[0] - 2, 0))
    r1 = min(max(int(np.floor(c1 + 0.5)), 1), max(nh[1] - 2, 0))
    r2 = min(max(int(np.floor(c2 + 0.5)), 1), max(nh[2] - 2, 0))
    Dv0 = 0.0  # (D^T v)_a
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
    for c in range(3):
        JTv = Tinv[0, c] * Dv0 + Tinv[1, c] * Dv1 + Tinv[2, c] * Dv2
        lc = lx if c == 0 else (ly if c == 1 else lz)
        bc = bx if c == 0 else (by if c == 1 else bz)
        out[c] = nb * lc / nl - bc + 0.5 * JTv
        yg[c] = out[c] - JTv


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
def tab_segment_cost(C, n0, n1, M, fi0, fj0, di, dj, h0, h1, sub_len):
    """Cost of the segment from index-space point (fi0, fj0) by (di, dj) cells, split into
    pieces of at most sub_len cells, each sampled at its midpoint (theory.md section 3); +inf if the
    direction is not achievable at either end or at any sample."""
    lx = di * h0
    ly = dj * h1
    length = np.sqrt(lx * lx + ly * ly)
    if length == 0.0:
        return 0.0
    ncell = np.sqrt(di * di + dj * dj)
    nsub = int(np.ceil(ncell / sub_len - 1e-12))
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
def tab_triangle_update(u0, u1, fi0, fj0, di0, dj0, ei, ej, C, n0, n1, M, h0, h1, sub_len):
    """min over lambda of u0 + lambda (u1 - u0) + cost(x_lambda -> x), x_lambda = x0 + lambda e.

    (fi0, fj0): index coordinates of x0; (di0, dj0) = x - x0 and (ei, ej) = x1 - x0 in cells.
    Coarse sampling (so +inf stretches are skipped) then golden-section refinement.
    Returns (value, lambda); +inf when no interior finite value exists.
    """
    du = u1 - u0
    ns = 8
    best = np.inf
    kbest = -1
    for k in range(1, ns):
        lam = k / ns
        v = (
            u0
            + lam * du
            + tab_segment_cost(
                C, n0, n1, M, fi0 + lam * ei, fj0 + lam * ej, di0 - lam * ei, dj0 - lam * ej, h0, h1, sub_len
            )
        )
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
    fc = (
        u0
        + c * du
        + tab_segment_cost(C, n0, n1, M, fi0 + c * ei, fj0 + c * ej, di0 - c * ei, dj0 - c * ej, h0, h1, sub_len)
    )
    fd = (
        u0
        + d * du
        + tab_segment_cost(C, n0, n1, M, fi0 + d * ei, fj0 + d * ej, di0 - d * ei, dj0 - d * ej, h0, h1, sub_len)
    )
    for _ in range(30):
        if fc <= fd:
            hi = d
            d = c
            fd = fc
            c = hi - gr * (hi - lo)
            fc = (
                u0
                + c * du
                + tab_segment_cost(
                    C, n0, n1, M, fi0 + c * ei, fj0 + c * ej, di0 - c * ei, dj0 - c * ej, h0, h1, sub_len
                )
            )
        else:
            lo = c
            c = d
            fc = fd
            d = lo + gr * (hi - lo)
            fd = (
                u0
                + d * du
                + tab_segment_cost(
                    C, n0, n1, M, fi0 + d * ei, fj0 + d * ej, di0 - d * ei, dj0 - d * ej, h0, h1, sub_len
                )
            )
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
def _one_point_e(mode, V, p0, m, e, sgn, lvec, lnorm, b, A, a_const, Ctab, M, sub_len, shp, h, i0, j0, a):
    """u(x0) + cost(x0 -> x) with x - x0 = sgn * offs[e]; m: half-grid index of the midpoint.

    Constant A: b holds (L^T b, |L^T b|) and lvec = L^T offs h, so the cost is 4 multiply-adds.
    """
    if mode == 0:
        if a_const:
            c = b[m, 3] * lnorm[e] - sgn * (b[m, 0] * lvec[e, 0] + b[m, 1] * lvec[e, 1] + b[m, 2] * lvec[e, 2])
            return V[p0] + (c if c > 0.0 else 0.0)
        _load_A(A, a_const, m, a)
        return V[p0] + segment_cost(b[m, 0], b[m, 1], b[m, 2], a, sgn * lvec[e, 0], sgn * lvec[e, 1], sgn * lvec[e, 2])
    return V[p0] + tab_segment_cost(
        Ctab,
        shp[0],
        shp[1],
        M,
        float(i0),
        float(j0),
        float(sgn * lvec[e, 0] / h[0]),
        float(sgn * lvec[e, 1] / h[1]),
        h[0],
        h[1],
        sub_len,
    )


@njit(cache=True)
def _triangle(
    mode, V, iq, jq, kq, q0, i0, j0, k0, q1, i1, j1, k1, h, T, b, A, a_const, Ctab, M, sub_len, shp, a, a1, kap
):
    """Triangle update of node (iq, jq, kq) from the segment [x0, x1]; returns (value, lambda)."""
    if mode == 0:
        H1 = 2 * shp[1] - 1
        H2 = 2 * shp[2] - 1
        m0 = ((iq + i0) * H1 + (jq + j0)) * H2 + (kq + k0)
        m1 = ((iq + i1) * H1 + (jq + j1)) * H2 + (kq + k1)
        di, dj, dk = iq - i0, jq - j0, kq - k0
        ei, ej, ek = i0 - i1, j0 - j1, k0 - k1
        return triangle_update(
            V[q0],
            V[q1],
            T[0, 0] * di + T[0, 1] * dj + T[0, 2] * dk,
            T[1, 0] * di + T[1, 1] * dj + T[1, 2] * dk,
            T[2, 0] * di + T[2, 1] * dj + T[2, 2] * dk,
            T[0, 0] * ei + T[0, 1] * ej + T[0, 2] * ek,
            T[1, 0] * ei + T[1, 1] * ej + T[1, 2] * ek,
            T[2, 0] * ei + T[2, 1] * ej + T[2, 2] * ek,
            b,
            A,
            a_const,
            m0,
            m1,
            a,
            a1,
            kap,
        )
    return tab_triangle_update(
        V[q0],
        V[q1],
        float(i0),
        float(j0),
        float(iq - i0),
        float(jq - j0),
        float(i1 - i0),
        float(j1 - j0),
        Ctab,
        shp[0],
        shp[1],
        M,
        h[0],
        h[1],
        sub_len,
    )


@njit(cache=True)
def _simplices(
    V,
    status,
    iq,
    jq,
    kq,
    q0,
    i0,
    j0,
    k0,
    q1,
    i1,
    j1,
    k1,
    lam,
    tri,
    tri_lut,
    simp,
    h,
    T,
    b,
    A,
    a_const,
    shp,
    a,
    a1,
    G,
    L,
    B,
    Gr,
    ybest,
    ftri,
    vcut,
):
    """Tetrahedron updates (x0, x1, x2) for x2 a front neighbour of x0 that closes a small
    triangle with x0 and x1 (simp table); returns the smallest value (+inf if none) and writes
    its base point (index coordinates) to ybest (3,) when Gr is on (more than one row).

    ftri: the triangle update's value at (lam, 0); with constant A, a simplex is skipped before
    its Newton solve when the objective's slope g2 into it at (lam, 0) is >= 0 (KKT) or when the
    tangent-plane bound ftri + g2 of the (convex) objective is >= vcut."""
    n0, n1, n2 = shp[0], shp[1], shp[2]
    H1 = 2 * n1 - 1
    H2 = 2 * n2 - 1
    t = tri_lut[_lut(i1 - i0, j1 - j0, k1 - k0)]
    best = np.inf
    if t < 0:
        return best
    m0 = ((iq + i0) * H1 + (jq + j0)) * H2 + (kq + k0)
    m1 = ((iq + i1) * H1 + (jq + j1)) * H2 + (kq + k1)
    for s in range(simp.shape[1]):
        w = simp[t, s]
        if w < 0:
            break
        i2 = i0 + tri[w, 0]
        j2 = j0 + tri[w, 1]
        k2 = k0 + tri[w, 2]
        if not _in_grid(i2, j2, k2, n0, n1, n2):
            continue
        q2 = (i2 * n1 + j2) * n2 + k2
        if status[q2] != FRONT:
            continue
        m2 = ((iq + i2) * H1 + (jq + j2)) * H2 + (kq + k2)
        for c in range(3):
            L[0, c] = T[c, 0] * (iq - i0) + T[c, 1] * (jq - j0) + T[c, 2] * (kq - k0)
            L[1, c] = T[c, 0] * (i0 - i1) + T[c, 1] * (j0 - j1) + T[c, 2] * (k0 - k1)
            L[2, c] = T[c, 0] * (i0 - i2) + T[c, 1] * (j0 - j2) + T[c, 2] * (k0 - k2)
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
        if a_const:
            # slope into the simplex at (lam, 0) (A = I in cost coordinates)
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
            g2 = (
                V[q2]
                - V[q0]
                - (B[2, 0] * lx + B[2, 1] * ly + B[2, 2] * lz)
                - (bx * L[2, 0] + by * L[2, 1] + bz * L[2, 2])
            )
            g2 += -0.5 * c22 + lam * c12
            if nb > _TINY and nl > _TINY:
                g2 += nl / nb * bB + nb / nl * lL
            if not (g2 < 0.0) or ftri + g2 >= vcut:
                continue
        v, s1, s2 = tetra_update(V[q0], V[q1], V[q2], L, B, A, a_const, m0, m1, m2, lam, a, a1, G, c11, c22, c12)
        if v < best:
            best = v
            if Gr.shape[0] > 1:
                ybest[0] = i0 + s1 * (i1 - i0) + s2 * (i2 - i0)
                ybest[1] = j0 + s1 * (j1 - j0) + s2 * (j2 - j0)
                ybest[2] = k0 + s1 * (k1 - k0) + s2 * (k2 - k0)
    return best


@njit(cache=True)
def _pairs_update(
    mode,
    V,
    status,
    q,
    iq,
    jq,
    kq,
    pa,
    pb,
    npair,
    n1,
    n2,
    is3d,
    h,
    T,
    b,
    A,
    a_const,
    Ctab,
    M,
    sub_len,
    shp,
    tri,
    tri_lut,
    simp,
    a,
    a1,
    G,
    L,
    B,
    stats,
    Gr,
    ybest,
    ytmp,
):
    """Triangle updates of node q from the front segments [pa[k], pb[k]] (then tetrahedra in 3-D).

    Returns the smallest value found (+inf if none is interior); with the curvature correction
    (Gr with more than one row) its base point goes to ybest (3,); ytmp (3,) is scratch."""
    best = np.inf
    for k in range(npair):
        q0 = pa[k]
        q1 = pb[k]
        i0 = q0 // (n1 * n2)
        r = q0 - i0 * n1 * n2
        j0 = r // n2
        k0 = r - j0 * n2
        i1 = q1 // (n1 * n2)
        r = q1 - i1 * n1 * n2
        j1 = r // n2
        k1 = r - j1 * n2
        stats[2] += 1
        kap = 0.0
        if Gr.shape[0] > 1:
            di, dj, dk = i1 - i0, j1 - j0, k1 - k0
            kap = _gdiff(
                Gr,
                q0,
                q1,
                T[0, 0] * di + T[0, 1] * dj + T[0, 2] * dk,
                T[1, 0] * di + T[1, 1] * dj + T[1, 2] * dk,
                T[2, 0] * di + T[2, 1] * dj + T[2, 2] * dk,
            )
        val, lam = _triangle(
            mode, V, iq, jq, kq, q0, i0, j0, k0, q1, i1, j1, k1, h, T, b, A, a_const, Ctab, M, sub_len, shp, a, a1, kap
        )
        if val < np.inf:
            stats[3] += 1
            if val < best:
                best = val
                if Gr.shape[0] > 1:
                    ybest[0] = i0 + lam * (i1 - i0)
                    ybest[1] = j0 + lam * (j1 - j0)
                    ybest[2] = k0 + lam * (k1 - k0)
            if is3d:
                stats[4] += 1
                val = _simplices(
                    V,
                    status,
                    iq,
                    jq,
                    kq,
                    q0,
                    i0,
                    j0,
                    k0,
                    q1,
                    i1,
                    j1,
                    k1,
                    lam,
                    tri,
                    tri_lut,
                    simp,
                    h,
                    T,
                    b,
                    A,
                    a_const,
                    shp,
                    a,
                    a1,
                    G,
                    L,
                    B,
                    Gr,
                    ytmp,
                    val,
                    np.inf,
                )
                if val < best:
                    stats[5] += 1
                    best = val
                    for c in range(3):
                        ybest[c] = ytmp[c]
    return best


@njit(cache=True)
def _fan_const(
    V,
    Vp,
    m,
    e,
    c0,
    vbest,
    naf,
    afl,
    afe,
    nhoff,
    nvec,
    b,
    lvec,
    stats,
    Gr,
    p,
    nbr,
    ybest,
    tet,
    status,
    ijk,
    qijk,
    tri,
    tri_lut,
    simp,
    h,
    T,
    A,
    shp,
    a,
    a1,
    G,
    L,
    B,
    ytmp,
):
    """Triangle updates (p, x1) of the node x = p + offs[e] for the naf front neighbours x1 of p
    (constant A: b holds (L^T b, |L^T b|), lvec the transformed offsets). m: half-grid index of
    mid(x, p); c0: the one-point cost from p; vbest: the node's current value. With tet (3-D),
    the two lowest interior triangles are followed by their tetrahedra (x0 = p, x1, x2; ijk,
    qijk: index coordinates of p and x; pruned by ``_simplices``). Returns the smallest value
    found (vbest if none is lower); its base point relative to p goes to ybest when Gr is on."""
    b0x = b[m, 0]
    b0y = b[m, 1]
    b0z = b[m, 2]
    l0x = lvec[e, 0]
    l0y = lvec[e, 1]
    l0z = lvec[e, 2]
    t1v = np.inf
    t2v = np.inf
    t1k = -1
    t2k = -1
    t1l = 0.0
    t2l = 0.0
    # slope of the objective at lambda = 0 (x_lambda = p) towards each x1, without the tables' square
    # roots: an interior minimum needs it negative (most triangles stop here)
    p0 = b0x * b0x + b0y * b0y + b0z * b0z
    q0 = l0x * l0x + l0y * l0y + l0z * l0z
    S0 = np.sqrt(p0 * q0)
    for k in range(naf):
        ee = afe[k]
        m1 = m + nhoff[ee]  # mid(x, x1) = mid(x, p) + (x1 - p) / 2
        kap = _gdiff(Gr, p, afl[k], nvec[ee, 0], nvec[ee, 1], nvec[ee, 2]) if Gr.shape[0] > 1 else 0.0
        if S0 > _TINY:
            dbx = b[m1, 0] - b0x
            dby = b[m1, 1] - b0y
            dbz = b[m1, 2] - b0z
            p1 = b0x * dbx + b0y * dby + b0z * dbz
            q1 = -(l0x * nvec[ee, 0] + l0y * nvec[ee, 1] + l0z * nvec[ee, 2])
            r1 = -(b0x * nvec[ee, 0] + b0y * nvec[ee, 1] + b0z * nvec[ee, 2]) + (dbx * l0x + dby * l0y + dbz * l0z)
            if V[afl[k]] - Vp - 0.5 * kap + (p1 * q0 + p0 * q1) / S0 - r1 >= 0.0:
                continue
        # l1 = x - x1 = l0 - T (x1 - p)
        l1x = l0x - nvec[ee, 0]
        l1y = l0y - nvec[ee, 1]
        l1z = l0z - nvec[ee, 2]
        c1 = b[m1, 3] * np.sqrt(l1x * l1x + l1y * l1y + l1z * l1z) - (b[m1, 0] * l1x + b[m1, 1] * l1y + b[m1, 2] * l1z)
        tv, lam = tri_const(
            Vp,
            V[afl[k]] - Vp,
            b0x,
            b0y,
            b0z,
            b[m1, 0] - b0x,
            b[m1, 1] - b0y,
            b[m1, 2] - b0z,
            l0x,
            l0y,
            l0z,
            -nvec[ee, 0],
            -nvec[ee, 1],
            -nvec[ee, 2],
            c0,
            max(c1, 0.0),
            vbest,
            kap,
        )
        if tv < np.inf:
            stats[3] += 1
            if tv < vbest:
                vbest = tv
                if Gr.shape[0] > 1:
                    ybest[0] = lam * nbr[ee, 0]  # relative to p
                    ybest[1] = lam * nbr[ee, 1]
                    ybest[2] = lam * nbr[ee, 2]
            if tet:
                # remember the two lowest interior triangles: their tetrahedra are tried below
                if tv < t1v:
                    t2v, t2k, t2l = t1v, t1k, t1l
                    t1v, t1k, t1l = tv, k, lam
                elif tv < t2v:
                    t2v, t2k, t2l = tv, k, lam
    if tet:
        for r in range(2):
            kk = t1k if r == 0 else t2k
            if kk < 0:
                break
            ee = afe[kk]
            stats[4] += 1
            lk = t1l
            fk = t1v
            if r == 1:
                lk = t2l
                fk = t2v
            tv = _simplices(
                V,
                status,
                qijk[0],
                qijk[1],
                qijk[2],
                p,
                ijk[0],
                ijk[1],
                ijk[2],
                afl[kk],
                ijk[0] + nbr[ee, 0],
                ijk[1] + nbr[ee, 1],
                ijk[2] + nbr[ee, 2],
                lk,
                tri,
                tri_lut,
                simp,
                h,
                T,
                b,
                A,
                True,
                shp,
                a,
                a1,
                G,
                L,
                B,
                Gr,
                ytmp,
                fk,
                vbest,
            )
            if tv < vbest:
                stats[5] += 1
                vbest = tv
                if Gr.shape[0] > 1:
                    for c in range(3):
                        ybest[c] = ytmp[c] - ijk[c]
    return vbest


@njit(cache=True)
def _fan2d(V, Vp, m, e, c0, vbest, front, tab):
    """2-D, constant A, plain interpolation: triangle updates (p, x1) of the node x = p + offs[e]
    for every front neighbour x1 of p (``Front``; ``FanTables``). m: half-grid index of mid(x, p);
    c0: the one-point cost from p; vbest: the node's current value. Returns (smallest value found,
    vbest if none is lower; number of interior triangle minima).

    The same updates, in the same floating-point order, as ``_fan_const`` without the curvature
    correction and the tetrahedra. Kept apart because the march calls the fan for every considered
    node in the ball of every accepted node, and a call of the 3-D fan passes some 20 arrays whose
    reference counts Numba raises and lowers on each call: in 2-D that doubled the march's time."""
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
            Vp, u1 - Vp, b0x, b0y, 0.0, dbx, dby, 0.0, l0x, l0y, 0.0, -nvec[ee, 0], -nvec[ee, 1], 0.0,
            c0, max(c1, 0.0), vbest, 0.0,
        )  # fmt: skip
        if tv < np.inf:
            n_found += 1
            vbest = min(vbest, tv)
    return vbest, n_found


@njit(cache=True)
def march(
    V,
    fixed,
    shp,
    h,
    T,
    offs,
    nbr,
    tri,
    tri_lut,
    simp,
    mode,
    b,
    A,
    a_const,
    Ctab,
    M,
    sub_len,
    all_pairs,
    stats,
    Gr,
    Yb,
    Tinv,
    grad_given,
):
    """Ordered line integral method: fill V (flat, +inf where not started) in place.

    V, fixed: start values (finite on the start nodes, which are never updated) and their mask.
    shp (3,), h (3,): grid shape and spacing (2-D: shp[2] = 1, h[2] = 1); T (3, 3) maps an index
    offset to the segment vector used in costs (diag(h), or L^T diag(h) when A = L L^T is
    constant and b holds L^T b).
    offs (n_ball, 3): offsets of the update ball (radius K cells, all neighbours included).
    nbr (n_nbr, 3): the L_inf = 1 neighbours (8 in 2-D, 26 in 3-D).
    tri (n_tri, 3): base offsets x1 - x0 of triangle updates (2-D: the 4 axis steps; 3-D: the
    18 axis and face-diagonal steps); tri_lut (27,): neighbour offset -> row of tri or -1.
    simp (n_tri, 8): rows of tri closing a simplex with x0, x1 (-1 padded; unused in 2-D).
    mode 0: Gaussian midpoint costs from b, A; mode 1: tabulated costs Ctab (2-D only).
    all_pairs: when p is accepted, every considered node in its ball gets the triangle updates
    (p, x1) for all front neighbours x1 of p (Dahiya & Cameron's 2-D OLIM; in 3-D, with
    constant A, followed by the tetrahedra on the two lowest of them); otherwise only
    the triangle (x0, p) when p is next to x0, the best one-point base so far, or the fan of p
    when p is that base (the cheaper rule of the 3-D OLIM of Yang, Potter & Cameron).
    stats (8,) int64 out: accepted, one-point, triangle calls, triangle successes,
    simplex calls, tetrahedron successes, nodes left at +inf in the heap.
    Gr (N, 4) or (1, 4): with N rows, the curvature correction of the triangle and tetrahedron
    updates is on (constant A, mode 0 only): Gr[:, :3] holds the gradients of V in cost
    coordinates, given where grad_given (N,) is True (the start nodes) and computed by
    ``node_grad`` when any other node is accepted, and Gr[:, 3] = 1 where that gradient is
    trusted (given, or the best update is stationary; see ``_gdiff``); Yb (N, 4) or (1, 4) out:
    base point (index coordinates, first 3 columns) of each node's best update; Tinv = T^-1.
    With one row the updates are the plain linear interpolation.
    Returns the status array (2 or 3 where accepted).
    """
    n0, n1, n2 = shp[0], shp[1], shp[2]
    N = n0 * n1 * n2
    status = np.zeros(N, dtype=np.int8)
    ind0 = np.full(N, -1, dtype=np.int64)
    U1 = np.full(N, np.inf)
    heap = np.zeros(N + 1, dtype=np.int64)
    hv = np.zeros(N + 1)
    pos = np.zeros(N, dtype=np.int64)
    a = np.zeros(6)
    a1 = np.zeros(6)
    G = np.zeros((3, 3, 3))
    L = np.zeros((3, 3))
    B = np.zeros((3, 3))
    afl = np.zeros(nbr.shape[0], dtype=np.int64)
    afe = np.zeros(nbr.shape[0], dtype=np.int64)
    # per neighbour offset: half-grid flat offset and the transformed vector T nbr
    nhoff = (nbr[:, 0] * (2 * shp[1] - 1) + nbr[:, 1]) * (2 * shp[2] - 1) + nbr[:, 2]
    nvec = np.zeros((nbr.shape[0], 3))
    for e in range(nbr.shape[0]):
        for c in range(3):
            nvec[e, c] = T[c, 0] * nbr[e, 0] + T[c, 1] * nbr[e, 1] + T[c, 2] * nbr[e, 2]
    newl = np.zeros(nbr.shape[0], dtype=np.int64)
    pa = np.zeros(nbr.shape[0] + 1, dtype=np.int64)
    pb = np.zeros(nbr.shape[0] + 1, dtype=np.int64)
    is3d = n2 > 1
    fast = mode == 0 and a_const
    corr = Gr.shape[0] > 1
    ybest = np.zeros(3)
    ytmp = np.zeros(3)
    pijk = np.zeros(3, dtype=np.int64)
    ygrad = np.zeros(3)
    qijk = np.zeros(3, dtype=np.int64)
    # flat offsets of the ball, valid for nodes at least Kb steps from every face
    foff = (offs[:, 0] * n1 + offs[:, 1]) * n2 + offs[:, 2]
    H1 = 2 * n1 - 1
    H2 = 2 * n2 - 1
    hoff = (offs[:, 0] * H1 + offs[:, 1]) * H2 + offs[:, 2]
    nball = offs.shape[0]
    lvec = np.zeros((nball, 3))
    lnorm = np.zeros(nball)
    for e in range(nball):
        for c in range(3):
            lvec[e, c] = T[c, 0] * offs[e, 0] + T[c, 1] * offs[e, 1] + T[c, 2] * offs[e, 2]
        lnorm[e] = np.sqrt(lvec[e, 0] ** 2 + lvec[e, 1] ** 2 + lvec[e, 2] ** 2)
    fan_tab = FanTables(b, lvec, nvec, nhoff)
    Kb = 0
    for e in range(nball):
        for c in range(3):
            Kb = max(Kb, abs(offs[e, c]))
    # flat offsets of the triangle bases, to test adjacency without dividing
    ntri = tri.shape[0]
    tflat = (tri[:, 0] * n1 + tri[:, 1]) * n2 + tri[:, 2]
    tmax = n1 * n2 + n2 + 1
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
        ip = p // (n1 * n2)
        r = p - ip * n1 * n2
        jp = r // n2
        kp = r - jp * n2
        if corr and not grad_given[p]:
            node_grad(b, shp, T, Tinv, ip, jp, kp, Yb[p], Gr[p], ygrad)
            # the envelope gradient holds where the base is a stationary point of the update: an
            # interior point of a triangle or tetrahedron, or a grid node whose (trusted) gradient
            # matches -d cost / dy (a characteristic through the node); otherwise it is the
            # gradient of an upper bound of V, and the node's gradient is not used (Gr[p, 3] = 0)
            y0 = Yb[p, 0]
            y1 = Yb[p, 1]
            y2 = Yb[p, 2]
            Gr[p, 3] = 1.0
            if y0 == np.floor(y0) and y1 == np.floor(y1) and y2 == np.floor(y2):
                qy = (int(y0) * n1 + int(y1)) * n2 + int(y2)
                dev = abs(Gr[qy, 0] - ygrad[0]) + abs(Gr[qy, 1] - ygrad[1]) + abs(Gr[qy, 2] - ygrad[2])
                scl = abs(ygrad[0]) + abs(ygrad[1]) + abs(ygrad[2])
                if Gr[qy, 3] == 0.0 or not (dev <= 1e-8 * scl + 1e-12):
                    Gr[p, 3] = 0.0
        # neighbours: retire front nodes with no unaccepted neighbour, list the rest, collect far
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
                elif tri_lut[_lut(nbr[e, 0], nbr[e, 1], nbr[e, 2])] >= 0:
                    afl[naf] = q
                    afe[naf] = e
                    naf += 1
            elif s == FAR:
                newl[nnew] = q
                nnew += 1
        # update the considered nodes in the ball around p (Dahiya & Cameron's two cases)
        inner = _inner(ip, jp, kp, n0, n1, n2, Kb)
        Hp = ((2 * ip) * H1 + 2 * jp) * H2 + 2 * kp
        for e in range(nball):
            if inner:
                q = p + foff[e]
                if status[q] != CONSIDERED or fixed[q]:
                    continue
            else:
                iq = ip + offs[e, 0]
                jq = jp + offs[e, 1]
                kq = kp + offs[e, 2]
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
                val = _one_point_e(
                    mode, V, p, m, e, 1.0, lvec, lnorm, b, A, a_const, Ctab, M, sub_len, shp, h, ip, jp, a
                )
            stats[1] += 1
            old = V[q]
            if val < old:
                V[q] = val
                ind0[q] = p
                U1[q] = val
                if corr:
                    Yb[q, 0] = ip
                    Yb[q, 1] = jp
                    Yb[q, 2] = kp
            elif val < U1[q]:
                ind0[q] = p
                U1[q] = val
            npair = 0
            if all_pairs:
                # every triangle (p, x1), x1 a front neighbour of p (Dahiya & Cameron's 2-D code):
                # the best one-point base need not be a vertex of the best segment where the
                # characteristics run nearly along the front (in 3-D, constant A: and the
                # tetrahedra on the two lowest triangles)
                if fast and not (is3d or corr):
                    stats[2] += naf
                    val, n_found = _fan2d(V, Vp, m, e, val - Vp, V[q], Front(afl, afe, naf), fan_tab)
                    stats[3] += n_found
                    if val < V[q]:
                        V[q] = val
                elif fast:
                    stats[2] += naf
                    if is3d:
                        pijk[0] = ip
                        pijk[1] = jp
                        pijk[2] = kp
                        qijk[0] = ip + offs[e, 0]
                        qijk[1] = jp + offs[e, 1]
                        qijk[2] = kp + offs[e, 2]
                    val = _fan_const(
                        V,
                        Vp,
                        m,
                        e,
                        val - Vp,
                        V[q],
                        naf,
                        afl,
                        afe,
                        nhoff,
                        nvec,
                        b,
                        lvec,
                        stats,
                        Gr,
                        p,
                        nbr,
                        ybest,
                        is3d,
                        status,
                        pijk,
                        qijk,
                        tri,
                        tri_lut,
                        simp,
                        h,
                        T,
                        A,
                        shp,
                        a,
                        a1,
                        G,
                        L,
                        B,
                        ytmp,
                    )
                    if val < V[q]:
                        V[q] = val
                        if corr:
                            Yb[q, 0] = ip + ybest[0]
                            Yb[q, 1] = jp + ybest[1]
                            Yb[q, 2] = kp + ybest[2]
                else:
                    for k in range(naf):
                        pa[k] = p
                        pb[k] = afl[k]
                    npair = naf
            elif ind0[q] != p:
                # case 1: one triangle (x0, p), x0 the best one-point base, if p is next to x0
                q0 = ind0[q]
                dflat = p - q0
                if q0 >= 0 and -tmax <= dflat <= tmax:
                    for t in range(ntri):
                        if tflat[t] == dflat:
                            # confirm in index space (flat offsets alias near faces)
                            i0 = q0 // (n1 * n2)
                            r = q0 - i0 * n1 * n2
                            j0 = r // n2
                            k0 = r - j0 * n2
                            if ip - i0 == tri[t, 0] and jp - j0 == tri[t, 1] and kp - k0 == tri[t, 2]:
                                pa[0] = q0
                                pb[0] = p
                                npair = 1
                            break
            else:
                # case 2: p is the best one-point base: triangles with its front neighbours
                for k in range(naf):
                    pa[k] = p
                    pb[k] = afl[k]
                npair = naf
            if npair > 0:
                iq = ip + offs[e, 0]
                jq = jp + offs[e, 1]
                kq = kp + offs[e, 2]
                val = _pairs_update(
                    mode,
                    V,
                    status,
                    q,
                    iq,
                    jq,
                    kq,
                    pa,
                    pb,
                    npair,
                    n1,
                    n2,
                    is3d,
                    h,
                    T,
                    b,
                    A,
                    a_const,
                    Ctab,
                    M,
                    sub_len,
                    shp,
                    tri,
                    tri_lut,
                    simp,
                    a,
                    a1,
                    G,
                    L,
                    B,
                    stats,
                    Gr,
                    ybest,
                    ytmp,
                )
                if val < V[q]:
                    V[q] = val
                    if corr:
                        for c in range(3):
                            Yb[q, c] = ybest[c]
            if V[q] < old:
                heap_sift_up(heap, hv, pos, pos[q], q, V[q])
        # far neighbours of p become considered: best one-point update over the front in the ball
        for mm in range(nnew):
            q = newl[mm]
            status[q] = CONSIDERED
            iq = q // (n1 * n2)
            r = q - iq * n1 * n2
            jq = r // n2
            kq = r - jq * n2
            inner = _inner(iq, jq, kq, n0, n1, n2, Kb)
            Hq = ((2 * iq) * H1 + 2 * jq) * H2 + 2 * kq
            best = np.inf
            for e in range(nball):
                if inner:
                    q0 = q + foff[e]
                    if status[q0] != FRONT:
                        continue
                else:
                    i0 = iq + offs[e, 0]
                    j0 = jq + offs[e, 1]
                    k0 = kq + offs[e, 2]
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
                    val = _one_point_e(
                        mode,
                        V,
                        q0,
                        m,
                        e,
                        -1.0,
                        lvec,
                        lnorm,
                        b,
                        A,
                        a_const,
                        Ctab,
                        M,
                        sub_len,
                        shp,
                        h,
                        iq + offs[e, 0],
                        jq + offs[e, 1],
                        a,
                    )
                stats[1] += 1
                if val < best:
                    best = val
                    ind0[q] = q0
            V[q] = best
            U1[q] = best
            q0 = ind0[q]
            if q0 >= 0:
                i0 = q0 // (n1 * n2)
                r = q0 - i0 * n1 * n2
                j0 = r // n2
                k0 = r - j0 * n2
                if corr:
                    Yb[q, 0] = i0
                    Yb[q, 1] = j0
                    Yb[q, 2] = k0
                npair = 0
                for t in range(ntri):
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
                if npair > 0:
                    val = _pairs_update(
                        mode,
                        V,
                        status,
                        q,
                        iq,
                        jq,
                        kq,
                        pa,
                        pb,
                        npair,
                        n1,
                        n2,
                        is3d,
                        h,
                        T,
                        b,
                        A,
                        a_const,
                        Ctab,
                        M,
                        sub_len,
                        shp,
                        tri,
                        tri_lut,
                        simp,
                        a,
                        a1,
                        G,
                        L,
                        B,
                        stats,
                        Gr,
                        ybest,
                        ytmp,
                    )
                    if val < V[q]:
                        V[q] = val
                        if corr:
                            for c in range(3):
                                Yb[q, c] = ybest[c]
            count = heap_push(heap, hv, pos, count, q, V[q])
    stats[0] = n_acc
    return status
