"""Numba kernels of method="sweep": one Gauss–Seidel pass of a monotone scheme per call.

Every pass visits the nodes in one of the 2^d alternating orderings (signs ``s`` = +-1 per axis),
updates V in place by ``V <- min(V, scheme(neighbours))`` and returns the largest decrease. Nodes
with ``fixed`` set (the start set near the attractor) are never changed; ``lock`` implements the
"locking" speed-up of fast sweeping: a node is recomputed only if one of its neighbours decreased
since its last visit (1 = nothing changed around it). Unreached nodes hold +inf; no fastmath.

Schemes (theory.md §3):
- semi-Lagrangian (``sl_pass_2d``, ``sl_pass_3d``): dynamic programming over short segments from
  the node x to a point y on the faces of rings of neighbours, V(x) = min_y [V(y) + cost(y -> x)],
  V(y) interpolated linearly. Gaussian noise: cost = |b|_A |l|_A - <b, A l>, l = x - y, b and
  A = a^-1 at the midpoint of the segment, interpolated linearly between the half-grid midpoints
  (as OLIM-midpoint does); the minimisation over a face is solved in closed form for frozen b, A
  and refined. 2-D: the square rings of Chebyshev radius 1, 2, ..., K, searched around the
  direction of the best segment found so far (``sl_pass_2d``; the one-point updates from the ring
  nodes along all these lattice directions are what makes it accurate, as OLIM's ball of radius
  K); ``sl_ordered_pass_2d`` runs the same update in increasing order of V (heap) to start the
  iteration close to the fixed point, and ``sl_pass_2d`` also takes an explicit node order.
  3-D: the 26 neighbours, 72 edges and 48 triangles of the 3x3x3 cube surface.
- table semi-Lagrangian (``sl_table_pass_2d``): same stencil, any noise law, cost from a table of
  the geometric cost per unit length at the nodes, for directions x - y on the ring at Q points per
  face (trapezoidal rule in space, piecewise linear along the face, parabolic refinement of the
  best point); +inf costs give +inf candidates.
- Lax–Friedrichs (``lf_pass``): Kao, Osher & Qian (2004) on H itself, H(x, p) = <b, p> + Lambda,
  Lambda Gaussian (a tabulated) or discrete (atoms z_k tabulated, scale s:
  Lambda = s log mean_k exp(-<p/s, z_k>)). H is clipped to a box |p_k| <= P_k and extended
  linearly with slope alpha_k outside it, which keeps the scheme monotone and lets +inf
  neighbours enter exactly (the +inf parts cancel).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from fwpotential.solvers.olim._kernels import heap_pop as _heap_pop
from fwpotential.solvers.olim._kernels import heap_push as _heap_push
from fwpotential.solvers.olim._kernels import heap_sift_up as _heap_sift_up

INF = np.inf
_NO_ORDER = np.empty(0, dtype=np.int64)  # sl_pass_2d: raster ordering

#: 2-D ring of the 8 neighbours, counter-clockwise; face k joins RING2[k] and RING2[(k + 1) % 8]
RING2 = np.array([[1, 0], [1, 1], [0, 1], [-1, 1], [-1, 0], [-1, -1], [0, -1], [1, -1]], dtype=np.int64)


def ring3():
    """The 26 neighbour offsets in 3-D, the 48 Kuhn triangles of the cube surface and their 72 edges.

    Triangle (perm, signs): axis offset s_i e_i, edge offset s_i e_i + s_j e_j, corner offset
    s_i e_i + s_j e_j + s_k e_k. Returned as index arrays into the offset list.
    """
    import itertools

    offs = [o for o in itertools.product((-1, 0, 1), repeat=3) if any(o)]
    index = {o: n for n, o in enumerate(offs)}
    tris = []
    for perm in itertools.permutations(range(3)):
        for signs in itertools.product((-1, 1), repeat=3):
            v = [0, 0, 0]
            verts = []
            for axis in perm:
                v[axis] = signs[axis]
                verts.append(index[tuple(v)])
            tris.append(verts)
    edges = set()
    for a, b, c in tris:
        for e in ((a, b), (b, c), (a, c)):
            edges.add(tuple(sorted(e)))
    return (
        np.array(offs, dtype=np.int64),
        np.array(tris, dtype=np.int64),
        np.array(sorted(edges), dtype=np.int64),
    )


# ---------------------------------------------------------------------------------------------
# 2-D semi-Lagrangian, Gaussian noise
# ---------------------------------------------------------------------------------------------
@njit(cache=True)
def cost2c(lx, ly, c, Abx, Aby, a11, a12, a22):
    """Geometric cost c |l|_A - <Ab, l> with c = |b|_A and Ab = A b precomputed."""
    lAl = lx * (a11 * lx + a12 * ly) + ly * (a12 * lx + a22 * ly)
    return max(c * np.sqrt(max(lAl, 0.0)) - (lx * Abx + ly * Aby), 0.0)


@njit(cache=True)
def face_lambda2c(Va, Vb, l0x, l0y, ex, ey, c, Abx, Aby, a11, a12, a22):
    """face_lambda2 with c = |b|_A and Ab = A b given."""
    c2 = c * c
    G = ex * (a11 * ex + a12 * ey) + ey * (a12 * ex + a22 * ey)
    if c2 <= 0.0 or G <= 0.0:
        return -1.0
    w = (Vb - Va) - (ex * Abx + ey * Aby)
    q2 = w * w / G
    if q2 >= c2:
        return -1.0
    eAl0 = ex * (a11 * l0x + a12 * l0y) + ey * (a12 * l0x + a22 * l0y)
    l0Al0 = l0x * (a11 * l0x + a12 * l0y) + l0y * (a12 * l0x + a22 * l0y)
    r2 = max(l0Al0 - eAl0 * eAl0 / G, 0.0)
    s = np.sqrt(r2 / (1.0 - q2 / c2))
    return (-(s / c) * w - eAl0) / G


@njit(cache=True)
def ring_offset(q, K):
    """Offset (cell units) of node q (0 <= q < 8K) of the square ring of radius K, counter-clockwise
    from (K, 0); the same order as rings_2d."""
    if q <= K:
        return K, q
    if q <= 3 * K:
        return 2 * K - q, K
    if q <= 5 * K:
        return -K, 4 * K - q
    if q <= 7 * K:
        return q - 6 * K, -K
    return K, q - 8 * K


@njit(cache=True)
def ring_position(dx, dy, K):
    """Fractional ring index (0 <= pos < 8K) where the ray from the node in direction (dx, dy)
    (cell units) crosses the ring of radius K."""
    ax = abs(dx)
    ay = abs(dy)
    if ax >= ay:
        py = K * dy / ax
        if dx > 0:
            return py if py >= 0 else 8 * K + py
        return 4 * K - py
    px = K * dx / ay
    if dy > 0:
        return 2 * K - px
    return 6 * K + px


@njit(cache=True)
def _face2p(Va, Vb, oai, oaj, obi, obj, i, j, h0, h1, C, n_refine):
    """Best value over the open segment from node (i, j) + oa to (i, j) + ob (cell offsets) with the
    midpoint cost; returns (value, lam) or (inf, -1) when the minimum is not interior. C (..., 8)
    holds (|b|_A, Ab, b, a11, a12, a22) on the half grid; b and A are interpolated linearly between
    the midpoints of the two end segments, and re-evaluated n_refine times at the minimiser."""
    l0x = -oai * h0
    l0y = -oaj * h1
    ex = -(obi - oai) * h0
    ey = -(obj - oaj) * h1
    ma_i = 2 * i + oai
    ma_j = 2 * j + oaj
    mb_i = 2 * i + obi
    mb_j = 2 * j + obj
    bxa = C[ma_i, ma_j, 3]
    bya = C[ma_i, ma_j, 4]
    a11a = C[ma_i, ma_j, 5]
    a12a = C[ma_i, ma_j, 6]
    a22a = C[ma_i, ma_j, 7]
    dbx = C[mb_i, mb_j, 3] - bxa
    dby = C[mb_i, mb_j, 4] - bya
    d11 = C[mb_i, mb_j, 5] - a11a
    d12 = C[mb_i, mb_j, 6] - a12a
    d22 = C[mb_i, mb_j, 7] - a22a
    lam = 0.5
    for _it in range(n_refine + 1):
        bx = bxa + lam * dbx
        by = bya + lam * dby
        a11 = a11a + lam * d11
        a12 = a12a + lam * d12
        a22 = a22a + lam * d22
        abx = a11 * bx + a12 * by
        aby = a12 * bx + a22 * by
        c = np.sqrt(max(bx * abx + by * aby, 0.0))
        lam_new = face_lambda2c(Va, Vb, l0x, l0y, ex, ey, c, abx, aby, a11, a12, a22)
        if not (0.0 < lam_new < 1.0):
            return INF, -1.0
        lam = lam_new
    bx = bxa + lam * dbx
    by = bya + lam * dby
    a11 = a11a + lam * d11
    a12 = a12a + lam * d12
    a22 = a22a + lam * d22
    abx = a11 * bx + a12 * by
    aby = a12 * bx + a22 * by
    c = np.sqrt(max(bx * abx + by * aby, 0.0))
    return (1.0 - lam) * Va + lam * Vb + cost2c(l0x + lam * ex, l0y + lam * ey, c, abx, aby, a11, a12, a22), lam


def ring_table(radii):
    """Offsets of the nodes of the rings ``radii`` (as ring_offset), concatenated: (offs (M, 2),
    base (len(radii),)), ring k occupying offs[base[k] : base[k] + 8 radii[k]]."""
    parts = []
    base = []
    n = 0
    for r in radii:
        o = np.array([ring_offset(q, int(r)) for q in range(8 * int(r))], dtype=np.int64)
        parts.append(o)
        base.append(n)
        n += len(o)
    return np.ascontiguousarray(np.concatenate(parts)), np.array(base, dtype=np.int64)


@njit(cache=True)
def _ring_scan(V, roff, base, r, q0, nq, i, j, h0, h1, C, n_refine, best, ybest, vq, uq, dp, dm):
    """Smallest candidate through the nodes q0, ..., q0 + nq - 1 (mod 8r) of the square ring of
    Chebyshev radius r around node (i, j) (offsets roff[base + q]) and the faces between
    consecutive ones: one-point updates from the nodes, interior minima of the faces. Returns
    min(best, candidate); ybest (2,) receives the ring point (cell offsets) of the candidate when
    it is below ``best``.

    A face can hold an interior minimum only if the objective decreases into it from both ends;
    the one-sided derivatives at the nodes (coefficients frozen at the end's midpoint) are cheap,
    so the closed-form face update runs only on faces whose tangent-line lower bound is below
    ``best``. Nodes whose value and both neighbours' values are >= best are skipped (no candidate
    through them can win). vq, uq, dp, dm: scratch arrays of length >= nq."""
    n0, n1 = V.shape
    nr = 8 * r
    for t in range(nq):
        q = base + (q0 + t) % nr
        ni = i + roff[q, 0]
        nj = j + roff[q, 1]
        vq[t] = V[ni, nj] if (0 <= ni < n0 and 0 <= nj < n1) else INF
    # one-point updates and one-sided derivatives along the ring
    for t in range(nq):
        v = vq[t]
        uq[t] = INF
        if v == INF:
            continue
        vm = vq[t - 1] if t > 0 else INF
        vp = vq[t + 1] if t < nq - 1 else INF
        if v >= best and vm >= best and vp >= best:
            continue
        q = base + (q0 + t) % nr
        oi = roff[q, 0]
        oj = roff[q, 1]
        mi = 2 * i + oi
        mj = 2 * j + oj
        c = C[mi, mj, 0]
        abx = C[mi, mj, 1]
        aby = C[mi, mj, 2]
        a11 = C[mi, mj, 5]
        a12 = C[mi, mj, 6]
        a22 = C[mi, mj, 7]
        lx = -oi * h0
        ly = -oj * h1
        alx = a11 * lx + a12 * ly
        aly = a12 * lx + a22 * ly
        nl = np.sqrt(max(lx * alx + ly * aly, 0.0))
        u = v + max(c * nl - (lx * abx + ly * aby), 0.0)
        uq[t] = u
        if u < best:
            best = u
            ybest[0] = oi
            ybest[1] = oj
        # derivatives of V_interp + cost towards the next / previous node: l moves by -(o' - o) h
        g = c / nl if nl > 0.0 else 0.0
        if vp < INF:
            qq = base + (q0 + t + 1) % nr
            ex = -(roff[qq, 0] - oi) * h0
            ey = -(roff[qq, 1] - oj) * h1
            dp[t] = (vp - v) + g * (ex * alx + ey * aly) - (ex * abx + ey * aby)
        if vm < INF:
            qq = base + (q0 + t - 1) % nr
            ex = -(roff[qq, 0] - oi) * h0
            ey = -(roff[qq, 1] - oj) * h1
            dm[t] = (vm - v) + g * (ex * alx + ey * aly) - (ex * abx + ey * aby)
    # faces with an interior minimum below best
    for t in range(nq - 1):
        ua = uq[t]
        ub = uq[t + 1]
        if ua == INF or ub == INF:
            continue
        da = dp[t]
        db = dm[t + 1]
        if not (da < 0.0 and db < 0.0):
            continue
        # the tangents ua + da s and ub + db (1 - s) meet below the (convex) face objective
        s = (ub + db - ua) / (da + db)
        if ua + da * s >= best:
            continue
        qa = base + (q0 + t) % nr
        qb = base + (q0 + t + 1) % nr
        oi = roff[qa, 0]
        oj = roff[qa, 1]
        pi = roff[qb, 0]
        pj = roff[qb, 1]
        cand, lam = _face2p(vq[t], vq[t + 1], oi, oj, pi, pj, i, j, h0, h1, C, n_refine)
        if cand < best:
            best = cand
            ybest[0] = (1.0 - lam) * oi + lam * pi
            ybest[1] = (1.0 - lam) * oj + lam * pj
    return best


@njit(cache=True)
def _sl_node(V, i, j, C, h0, h1, radii, roff, rbase, width, n_refine, vq, uq, dp, dm, yb):
    """The semi-Lagrangian update of node (i, j) (see sl_pass_2d) from the current V; inf if none."""
    best = INF
    for k in range(radii.shape[0]):
        r = radii[k]
        if r == 1 or best == INF:
            best = _ring_scan(V, roff, rbase[k], r, 0, 8 * r + 1, i, j, h0, h1, C, n_refine, best, yb, vq, uq, dp, dm)
        else:
            q0 = (int(np.floor(ring_position(yb[0], yb[1], r))) - width) % (8 * r)
            best = _ring_scan(
                V, roff, rbase[k], r, q0, 2 * width + 2, i, j, h0, h1, C, n_refine, best, yb, vq, uq, dp, dm
            )
    return best


@njit(cache=True)
def _sl_unlock(lock, i, j, R, unlock_ring):
    """Unlock the nodes whose update reads node (i, j): the 8 neighbours, or with ``unlock_ring``
    the whole square of half-width R (the stencil is symmetric)."""
    n0, n1 = lock.shape
    if unlock_ring:
        for ni in range(max(i - R, 0), min(i + R + 1, n0)):
            for nj in range(max(j - R, 0), min(j + R + 1, n1)):
                lock[ni, nj] = 0
    else:
        for k in range(8):
            ni = i + RING2[k, 0]
            nj = j + RING2[k, 1]
            if 0 <= ni < n0 and 0 <= nj < n1:
                lock[ni, nj] = 0


@njit(cache=True)
def sl_pass_2d(
    V,
    fixed,
    lock,
    C,
    h0,
    h1,
    radii,
    roff,
    rbase,
    width,
    s0,
    s1,
    n_refine,
    unlock_ring=True,
    eps=0.0,
    order=_NO_ORDER,
):
    """One semi-Lagrangian Gauss–Seidel pass, 2-D Gaussian noise.

    V (n0, n1) updated in place; fixed, lock (n0, n1) uint8; C (2n0-1, 2n1-1, 8) holds
    (|b|_A, (Ab)_0, (Ab)_1, b_0, b_1, a11, a12, a22) on the half grid (A = a^-1); h0, h1 spacings.
    Segments from the node x end on the square rings of the Chebyshev radii ``radii``
    (increasing, radii[0] = 1; node offsets from ring_table: roff, rbase): every node and face of
    ring 1; on each larger ring r, the 2 width + 2 nodes (and the faces between them) around the
    point where the ray from x through the best segment end found so far crosses ring r. The
    direction is thus refined ring by ring; a ring node is a one-point update along a lattice
    direction (no interpolation error): the more rings, the closer one lies to the
    characteristic, as in OLIM's ball of radius K. n_refine re-evaluations of b, A at the current minimiser of a face.
    Nodes are visited in the ordering s0, s1 = +-1 of the rows and columns, or, when ``order``
    (flat C-order indices) is not empty, in that order. A decrease larger than ``eps`` unlocks
    the 8 neighbours, or every node of the square of half-width radii[-1] when ``unlock_ring``.
    Returns the largest decrease of V (inf when a node was first reached).
    """
    n0, n1 = V.shape
    nbuf = 8 * radii[radii.shape[0] - 1] + 1
    vq = np.empty(nbuf)
    uq = np.empty(nbuf)
    dp = np.empty(nbuf)
    dm = np.empty(nbuf)
    yb = np.zeros(2)
    largest = 0.0
    R = radii[radii.shape[0] - 1]
    n_list = order.shape[0]
    total = n_list if n_list > 0 else n0 * n1
    for t in range(total):
        if n_list > 0:
            i = order[t] // n1
            j = order[t] - i * n1
        else:
            ii = t // n1
            jj = t - ii * n1
            i = ii if s0 > 0 else n0 - 1 - ii
            j = jj if s1 > 0 else n1 - 1 - jj
        if fixed[i, j] or lock[i, j]:
            continue
        lock[i, j] = 1
        v_old = V[i, j]
        best = _sl_node(V, i, j, C, h0, h1, radii, roff, rbase, width, n_refine, vq, uq, dp, dm, yb)
        if best < v_old:
            V[i, j] = best
            d = v_old - best
            if d > largest:
                largest = d
            if d > eps:  # smaller decreases leave the dependent nodes locked
                _sl_unlock(lock, i, j, R, unlock_ring)
    return largest


@njit(cache=True)
def sl_ordered_pass_2d(V, fixed, C, h0, h1, radii, roff, rbase, width, n_refine):
    """A Gauss–Seidel pass of the sl_pass_2d update visiting the nodes in increasing order of V.

    Dijkstra-like ordering, so that one pass brings most nodes close to the fixed point (the
    passes that follow then only correct it): a binary heap holds the nodes reached so far,
    keyed by their current value; the smallest is taken, receives the full update of sl_pass_2d
    from the current values, and gives each of its 8 neighbours the one-point updates through it
    and the ring-1 face updates through it and a node already taken (cheap, for the ordering).
    Every value written is a candidate of the scheme computed from values >= the discrete
    solution, so V stays an upper bound of it: the iteration still decreases monotonically from
    above. V must be +inf off the start set. Returns the number of nodes taken.
    """
    n0, n1 = V.shape
    N = n0 * n1
    heap = np.zeros(N + 1, dtype=np.int64)
    hv = np.zeros(N + 1)
    pos = np.zeros(N, dtype=np.int64)
    done = np.zeros((n0, n1), dtype=np.uint8)
    nbuf = 8 * radii[radii.shape[0] - 1] + 1
    vq = np.empty(nbuf)
    uq = np.empty(nbuf)
    dp = np.empty(nbuf)
    dm = np.empty(nbuf)
    yb = np.zeros(2)
    count = 0
    for i in range(n0):
        for j in range(n1):
            if fixed[i, j]:
                count = _heap_push(heap, hv, pos, count, i * n1 + j, V[i, j])
    taken = 0
    while count > 0:
        p, count = _heap_pop(heap, hv, pos, count)
        i = p // n1
        j = p - i * n1
        if V[i, j] == INF:
            break
        done[i, j] = 1
        taken += 1
        if not fixed[i, j]:
            best = _sl_node(V, i, j, C, h0, h1, radii, roff, rbase, width, n_refine, vq, uq, dp, dm, yb)
            if best < V[i, j]:
                V[i, j] = best
        vp = V[i, j]
        for k in range(8):
            oi = RING2[k, 0]
            oj = RING2[k, 1]
            ni = i + oi
            nj = j + oj
            if ni < 0 or ni >= n0 or nj < 0 or nj >= n1 or done[ni, nj] or fixed[ni, nj]:
                continue
            # one-point update of (ni, nj) through (i, j): segment l = o h, midpoint 2 x + o
            mi = 2 * i + oi
            mj = 2 * j + oj
            cand = vp + cost2c(
                oi * h0, oj * h1, C[mi, mj, 0], C[mi, mj, 1], C[mi, mj, 2], C[mi, mj, 5], C[mi, mj, 6], C[mi, mj, 7]
            )
            # faces of the neighbour's ring 1 through (i, j) and a node already taken
            kk = (k + 4) % 8  # (i, j) seen from (ni, nj)
            for side in range(2):
                k2 = (kk + 1) % 8 if side == 0 else (kk + 7) % 8
                pi = ni + RING2[k2, 0]
                pj = nj + RING2[k2, 1]
                if pi < 0 or pi >= n0 or pj < 0 or pj >= n1 or not done[pi, pj]:
                    continue
                fc, lam = _face2p(
                    vp, V[pi, pj], RING2[kk, 0], RING2[kk, 1], RING2[k2, 0], RING2[k2, 1], ni, nj, h0, h1, C, 0
                )
                if fc < cand:
                    cand = fc
            if cand < V[ni, nj]:
                V[ni, nj] = cand
                q = ni * n1 + nj
                if pos[q] > 0:
                    _heap_sift_up(heap, hv, pos, pos[q], q, cand)
                else:
                    count = _heap_push(heap, hv, pos, count, q, cand)
    return taken


# ---------------------------------------------------------------------------------------------
# 2-D semi-Lagrangian from a table of geometric costs (any noise law, +inf allowed)
# ---------------------------------------------------------------------------------------------
def table_offsets_2d(Q):
    """Offsets o_r (cell units) of the 8Q ring points, r = k Q + q on face k at t = q/Q.

    The table entry C[i, j, r] is the geometric cost at node (i, j) of the segment l = -o_r h
    (moving from x + o_r h to x).
    """
    out = np.empty((8 * Q, 2))
    for k in range(8):
        a, b = RING2[k], RING2[(k + 1) % 8]
        for q in range(Q):
            t = q / Q
            out[k * Q + q] = (1 - t) * a + t * b
    return out


@njit(cache=True)
def sl_table_pass_2d(V, fixed, lock, C, Q, s0, s1):
    """One semi-Lagrangian pass with costs from the table C (n0, n1, 8Q); see table_offsets_2d.

    Candidate at ring point r = kQ + q of face k (t = q/Q): (1-t) V_a + t V_b +
    (C[x, r] + (1-t) C[y_a, r] + t C[y_b, r]) / 2; the best point of a face is refined by a parabola
    through it and its two neighbours on the face when all three are finite.
    """
    n0, n1 = V.shape
    largest = 0.0
    vn = np.empty(8)
    vi = np.empty(8, dtype=np.int64)
    vj = np.empty(8, dtype=np.int64)
    F = np.empty(Q + 1)
    for ii in range(n0):
        i = ii if s0 > 0 else n0 - 1 - ii
        for jj in range(n1):
            j = jj if s1 > 0 else n1 - 1 - jj
            if fixed[i, j] or lock[i, j]:
                continue
            lock[i, j] = 1
            v_old = V[i, j]
            best = v_old
            for k in range(8):
                ni = i + RING2[k, 0]
                nj = j + RING2[k, 1]
                vi[k] = ni
                vj[k] = nj
                if ni < 0 or ni >= n0 or nj < 0 or nj >= n1:
                    vn[k] = INF
                else:
                    vn[k] = V[ni, nj]
            for k in range(8):
                k1 = (k + 1) % 8
                Va = vn[k]
                Vb = vn[k1]
                if min(Va, Vb) >= best:  # also skips faces with both ends +inf
                    continue
                fbest = INF
                qbest = -1
                for q in range(Q + 1):
                    if q == 0:
                        if Va == INF:
                            F[q] = INF
                        else:
                            r = k * Q
                            F[q] = Va + 0.5 * (C[i, j, r] + C[vi[k], vj[k], r])
                    elif q == Q:
                        if Vb == INF:
                            F[q] = INF
                        else:
                            r = k1 * Q
                            F[q] = Vb + 0.5 * (C[i, j, r] + C[vi[k1], vj[k1], r])
                    else:
                        if Va == INF or Vb == INF:
                            F[q] = INF
                        else:
                            t = q / Q
                            r = k * Q + q
                            cy = (1.0 - t) * C[vi[k], vj[k], r] + t * C[vi[k1], vj[k1], r]
                            F[q] = (1.0 - t) * Va + t * Vb + 0.5 * (C[i, j, r] + cy)
                    if F[q] < fbest:
                        fbest = F[q]
                        qbest = q
                if qbest < 0:
                    continue
                if 0 < qbest < Q:
                    fm = F[qbest - 1]
                    fp = F[qbest + 1]
                    if fm < INF and fp < INF:
                        den = fm - 2.0 * fbest + fp
                        if den > 0.0:
                            delta = 0.5 * (fm - fp) / den
                            fbest = fbest - 0.25 * (fm - fp) * delta
                if fbest < best:
                    best = fbest
            if best < v_old:
                V[i, j] = best
                d = v_old - best
                if d > largest:
                    largest = d
                for k in range(8):
                    ni = vi[k]
                    nj = vj[k]
                    if 0 <= ni < n0 and 0 <= nj < n1:
                        lock[ni, nj] = 0
    return largest


# ---------------------------------------------------------------------------------------------
# 3-D semi-Lagrangian, Gaussian noise (26 neighbours, 72 edges, 48 triangles)
# ---------------------------------------------------------------------------------------------
@njit(cache=True)
def _quad3(u, A, v):
    """u' A v for 3-vectors, A symmetric stored as (11, 12, 13, 22, 23, 33)."""
    return (
        u[0] * (A[0] * v[0] + A[1] * v[1] + A[2] * v[2])
        + u[1] * (A[1] * v[0] + A[3] * v[1] + A[4] * v[2])
        + u[2] * (A[2] * v[0] + A[4] * v[1] + A[5] * v[2])
    )


@njit(cache=True)
def _cost3(l, b, A):
    c = np.sqrt(max(_quad3(b, A, b), 0.0)) * np.sqrt(max(_quad3(l, A, l), 0.0)) - _quad3(b, A, l)
    return max(c, 0.0)


@njit(cache=True)
def _interp_coef3(Bh, Ah, mids, nv, w, b, A):
    """b, A at weights w over the nv half-grid midpoints mids (nv, 3)."""
    for c in range(3):
        b[c] = 0.0
    for c in range(6):
        A[c] = 0.0
    for m in range(nv):
        mi, mj, mk = mids[m, 0], mids[m, 1], mids[m, 2]
        for c in range(3):
            b[c] += w[m] * Bh[mi, mj, mk, c]
        for c in range(6):
            A[c] += w[m] * Ah[mi, mj, mk, c]


@njit(cache=True)
def _stationary3(nv, Vs, L, b, A, lam, tmp, e2):
    """Stationary point of sum_m w_m V_m + |b|_A |l|_A - <b, A l>, l = sum_m w_m L[m], for frozen b, A.

    nv = 2 (edge, lam[0] = weight of vertex 1) or 3 (triangle, lam[0], lam[1] weights of vertices
    1, 2). Returns True when a stationary point exists (lam filled, may lie outside the simplex).
    """
    c2 = _quad3(b, A, b)
    if c2 <= 0.0:
        return False
    c = np.sqrt(c2)
    l0 = L[0]
    if nv == 2:
        for q in range(3):
            tmp[q] = L[1, q] - l0[q]
        G = _quad3(tmp, A, tmp)
        if G <= 0.0:
            return False
        w = (Vs[1] - Vs[0]) - _quad3(tmp, A, b)
        q2 = w * w / G
        if q2 >= c2:
            return False
        eAl0 = _quad3(tmp, A, l0)
        r2 = max(_quad3(l0, A, l0) - eAl0 * eAl0 / G, 0.0)
        s = np.sqrt(r2 / (1.0 - q2 / c2))
        lam[0] = (-(s / c) * w - eAl0) / G
        return True
    e1 = tmp
    for q in range(3):
        e1[q] = L[1, q] - l0[q]
        e2[q] = L[2, q] - l0[q]
    G11 = _quad3(e1, A, e1)
    G12 = _quad3(e1, A, e2)
    G22 = _quad3(e2, A, e2)
    det = G11 * G22 - G12 * G12
    if det <= 1e-300:
        return False
    w1 = (Vs[1] - Vs[0]) - _quad3(e1, A, b)
    w2 = (Vs[2] - Vs[0]) - _quad3(e2, A, b)
    # G^-1 w
    gw1 = (G22 * w1 - G12 * w2) / det
    gw2 = (-G12 * w1 + G11 * w2) / det
    q2 = w1 * gw1 + w2 * gw2
    if q2 >= c2:
        return False
    f1 = _quad3(e1, A, l0)
    f2 = _quad3(e2, A, l0)
    gf1 = (G22 * f1 - G12 * f2) / det
    gf2 = (-G12 * f1 + G11 * f2) / det
    r2 = max(_quad3(l0, A, l0) - (f1 * gf1 + f2 * gf2), 0.0)
    s = np.sqrt(r2 / (1.0 - q2 / c2))
    lam[0] = -(s / c) * gw1 - gf1
    lam[1] = -(s / c) * gw2 - gf2
    return True


@njit(cache=True)
def sl_pass_3d(V, fixed, lock, Bh, Ah, h, offs, tris, edges, s0, s1, s2, n_refine):
    """One semi-Lagrangian Gauss–Seidel pass, 3-D Gaussian noise.

    Bh (2n0-1, 2n1-1, 2n2-1, 3), Ah (..., 6) entries (11, 12, 13, 22, 23, 33) of a^-1 on the half
    grid; h (3,) spacings; offs (26, 3), tris (48, 3), edges (72, 2) from ring3().
    """
    n0, n1, n2 = V.shape
    largest = 0.0
    vn = np.empty(26)
    Ls = np.empty((26, 3))
    for k in range(26):
        for c in range(3):
            Ls[k, c] = -offs[k, c] * h[c]
    mids = np.empty((3, 3), dtype=np.int64)
    Lsub = np.empty((3, 3))
    Vs = np.empty(3)
    w = np.empty(3)
    lam = np.empty(2)
    b = np.empty(3)
    A = np.empty(6)
    tmp = np.empty(3)
    tmp2 = np.empty(3)
    l = np.empty(3)
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
                for k in range(26):
                    ni = i + offs[k, 0]
                    nj = j + offs[k, 1]
                    nm = m + offs[k, 2]
                    if ni < 0 or ni >= n0 or nj < 0 or nj >= n1 or nm < 0 or nm >= n2:
                        vn[k] = INF
                        continue
                    vk = V[ni, nj, nm]
                    vn[k] = vk
                    if vk < best:
                        mi = 2 * i + offs[k, 0]
                        mj = 2 * j + offs[k, 1]
                        mm = 2 * m + offs[k, 2]
                        cand = vk + _cost3(Ls[k], Bh[mi, mj, mm], Ah[mi, mj, mm])
                        if cand < best:
                            best = cand
                # edges (nv = 2) then triangles (nv = 3)
                for pass_kind in range(2):
                    nv = 2 + pass_kind
                    nsimp = edges.shape[0] if nv == 2 else tris.shape[0]
                    for e in range(nsimp):
                        vmin = INF
                        finite = True
                        for q in range(nv):
                            kq = edges[e, q] if nv == 2 else tris[e, q]
                            Vs[q] = vn[kq]
                            if vn[kq] == INF:
                                finite = False
                            vmin = min(vmin, vn[kq])
                            for c in range(3):
                                Lsub[q, c] = Ls[kq, c]
                            mids[q, 0] = 2 * i + offs[kq, 0]
                            mids[q, 1] = 2 * j + offs[kq, 1]
                            mids[q, 2] = 2 * m + offs[kq, 2]
                        if not finite or vmin >= best:
                            continue
                        # initial weights: centre of the simplex
                        for q in range(nv):
                            w[q] = 1.0 / nv
                        ok = True
                        for _it in range(n_refine + 1):
                            _interp_coef3(Bh, Ah, mids, nv, w, b, A)
                            if not _stationary3(nv, Vs, Lsub, b, A, lam, tmp, tmp2):
                                ok = False
                                break
                            if nv == 2:
                                if not (0.0 < lam[0] < 1.0):
                                    ok = False
                                    break
                                w[0] = 1.0 - lam[0]
                                w[1] = lam[0]
                            else:
                                if not (lam[0] > 0.0 and lam[1] > 0.0 and lam[0] + lam[1] < 1.0):
                                    ok = False
                                    break
                                w[0] = 1.0 - lam[0] - lam[1]
                                w[1] = lam[0]
                                w[2] = lam[1]
                        if not ok:
                            continue
                        _interp_coef3(Bh, Ah, mids, nv, w, b, A)
                        vint = 0.0
                        for c in range(3):
                            l[c] = 0.0
                        for q in range(nv):
                            vint += w[q] * Vs[q]
                            for c in range(3):
                                l[c] += w[q] * Lsub[q, c]
                        cand = vint + _cost3(l, b, A)
                        if cand < best:
                            best = cand
                if best < v_old:
                    V[i, j, m] = best
                    d = v_old - best
                    if d > largest:
                        largest = d
                    for k in range(26):
                        ni = i + offs[k, 0]
                        nj = j + offs[k, 1]
                        nm = m + offs[k, 2]
                        if 0 <= ni < n0 and 0 <= nj < n1 and 0 <= nm < n2:
                            lock[ni, nj, nm] = 0
    return largest


# ---------------------------------------------------------------------------------------------
# Lax–Friedrichs sweeping on H (flattened arrays, d = 2 or 3)
# ---------------------------------------------------------------------------------------------
@njit(cache=True)
def hamiltonian_at(n, p, b, kind, acov, Z, scale):
    """H(x_n, p) = <b, p> + Lambda: kind 0 Gaussian (acov (N, d, d)), kind 1 discrete atoms
    (Z (N, K, d), Lambda = scale * log mean_k exp(-<p / scale, z_k>))."""
    d = p.shape[0]
    H = 0.0
    for c in range(d):
        H += b[n, c] * p[c]
    if kind == 0:
        q = 0.0
        for r in range(d):
            for c in range(d):
                q += p[r] * acov[n, r, c] * p[c]
        return H + 0.5 * q
    K = Z.shape[1]
    tmax = -INF
    for k in range(K):
        t = 0.0
        for c in range(d):
            t -= Z[n, k, c] * p[c]
        t /= scale
        if t > tmax:
            tmax = t
    ssum = 0.0
    for k in range(K):
        t = 0.0
        for c in range(d):
            t -= Z[n, k, c] * p[c]
        ssum += np.exp(t / scale - tmax)
    return H + scale * (tmax + np.log(ssum / K))


@njit(cache=True)
def hamiltonian_dp(n, p, c, b, kind, acov, Z, scale):
    """dH/dp_c at node n (see hamiltonian_at)."""
    d = p.shape[0]
    g = b[n, c]
    if kind == 0:
        for r in range(d):
            g += acov[n, c, r] * p[r]
        return g
    K = Z.shape[1]
    tmax = -INF
    for k in range(K):
        t = 0.0
        for r in range(d):
            t -= Z[n, k, r] * p[r]
        if t / scale > tmax:
            tmax = t / scale
    wsum = 0.0
    zsum = 0.0
    for k in range(K):
        t = 0.0
        for r in range(d):
            t -= Z[n, k, r] * p[r]
        w = np.exp(t / scale - tmax)
        wsum += w
        zsum += w * Z[n, k, c]
    return g - zsum / wsum


@njit(cache=True)
def _minimise_free(n, p, free, P, b, kind, acov, Z, scale):
    """Minimise H(x_n, p) over the coordinates p_c with free[c], |p_c| <= P[n, c] (convex; coordinate
    descent, each step a bisection on dH/dp_c)."""
    d = p.shape[0]
    for c in range(d):
        if free[c]:
            p[c] = 0.0
    for _sweep in range(4):
        for c in range(d):
            if not free[c]:
                continue
            lo = -P[n, c]
            hi = P[n, c]
            p[c] = lo
            if hamiltonian_dp(n, p, c, b, kind, acov, Z, scale) >= 0.0:
                continue
            p[c] = hi
            if hamiltonian_dp(n, p, c, b, kind, acov, Z, scale) <= 0.0:
                continue
            for _it in range(50):
                p[c] = 0.5 * (lo + hi)
                if hamiltonian_dp(n, p, c, b, kind, acov, Z, scale) > 0.0:
                    hi = p[c]
                else:
                    lo = p[c]
            p[c] = 0.5 * (lo + hi)


@njit(cache=True)
def lf_pass(V, fixed, lock, shape, h, b, kind, acov, Z, scale, alpha, P, signs):
    """One Lax–Friedrichs Gauss–Seidel pass on flattened arrays (C order), d = len(shape) in {2, 3}.

    V, fixed, lock (N,); b (N, d); alpha, P (N, d) viscosity constants and clipping box per node;
    signs (d,) the ordering. Update (Kao, Osher & Qian 2004), H~ = H(clip p) + sum alpha_k (|p_k| - P_k)+:
    V <- min(V, [sum_k alpha_k (V_k+ + V_k-) / (2 h_k) - H~(x, p_centred)] / sum_k alpha_k / h_k);
    a +inf neighbour in direction k contributes alpha_k (V_other / h_k + P_k). Nodes on the
    boundary of the box use the extrapolation min(V, max(2 V_1 - V_2, V_2)) along the inward axis.
    """
    d = shape.shape[0]
    n0 = shape[0]
    n1 = shape[1]
    n2 = shape[2] if d == 3 else 1
    st = np.empty(3, dtype=np.int64)
    st[2] = 1
    st[1] = n2
    st[0] = n1 * n2
    if d == 2:
        st[0] = n1
        st[1] = 1
    nn = np.empty(3, dtype=np.int64)
    nn[0] = n0
    nn[1] = n1
    nn[2] = n2
    idx = np.empty(3, dtype=np.int64)
    p = np.empty(d)
    free = np.zeros(d, dtype=np.bool_)
    largest = 0.0
    for a0 in range(n0):
        idx[0] = a0 if signs[0] > 0 else n0 - 1 - a0
        for a1 in range(n1):
            idx[1] = a1 if signs[1] > 0 else n1 - 1 - a1
            for a2 in range(n2):
                if d == 3:
                    idx[2] = a2 if signs[2] > 0 else n2 - 1 - a2
                else:
                    idx[2] = 0
                n = idx[0] * st[0] + idx[1] * st[1] + (idx[2] * st[2] if d == 3 else 0)
                if fixed[n] or lock[n]:
                    continue
                lock[n] = 1
                v_old = V[n]
                on_boundary = False
                for c in range(d):
                    if idx[c] == 0 or idx[c] == nn[c] - 1:
                        on_boundary = True
                new = INF
                if on_boundary:
                    for c in range(d):
                        if idx[c] == 0:
                            v1 = V[n + st[c]]
                            v2 = V[n + 2 * st[c]]
                        elif idx[c] == nn[c] - 1:
                            v1 = V[n - st[c]]
                            v2 = V[n - 2 * st[c]]
                        else:
                            continue
                        if v1 < INF and v2 < INF:
                            cand = max(2.0 * v1 - v2, v2)
                            if cand < new:
                                new = cand
                else:
                    num = 0.0
                    den = 0.0
                    n_free = 0
                    for c in range(d):
                        vm = V[n - st[c]]
                        vp = V[n + st[c]]
                        al = alpha[n, c]
                        Pc = P[n, c]
                        free[c] = False
                        if vm < INF and vp < INF:
                            pc = (vp - vm) / (2.0 * h[c])
                            excess = abs(pc) - Pc
                            if excess > 0.0:
                                pc = Pc if pc > 0 else -Pc
                                num -= al * excess
                            p[c] = pc
                            num += al * (vp + vm) / (2.0 * h[c])
                            den += al / h[c]
                        elif vm < INF:
                            p[c] = Pc
                            num += al * (vm / h[c] + Pc)
                            den += al / h[c]
                        elif vp < INF:
                            p[c] = -Pc
                            num += al * (vp / h[c] + Pc)
                            den += al / h[c]
                        else:
                            free[c] = True
                            n_free += 1
                    if n_free < d:
                        if n_free > 0:
                            # no neighbour along these axes yet: take their derivative as the one
                            # minimising H (neighbours extrapolated linearly through the node), the
                            # largest value any derivative there could give
                            _minimise_free(n, p, free, P, b, kind, acov, Z, scale)
                        new = (num - hamiltonian_at(n, p, b, kind, acov, Z, scale)) / den
                if new < v_old:
                    V[n] = new
                    dlt = v_old - new
                    if dlt > largest:
                        largest = dlt
                    for c in range(d):
                        if idx[c] > 0:
                            lock[n - st[c]] = 0
                        if idx[c] < nn[c] - 1:
                            lock[n + st[c]] = 0
                        # boundary extrapolation reads two nodes inward
                        if idx[c] == 1:
                            lock[n - st[c]] = 0
                        if idx[c] == 2:
                            lock[n - 2 * st[c]] = 0
                        if idx[c] == nn[c] - 3:
                            lock[n + 2 * st[c]] = 0
    return largest
