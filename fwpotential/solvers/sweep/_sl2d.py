"""Kernels of the 2-D semi-Lagrangian scheme of method="sweep" (see ``_passes`` for the pass skeleton).

Dynamic programming over short segments from the node x to a point y on the faces of rings of
neighbours, V(x) = min_y [V(y) + cost(y -> x)], V(y) interpolated linearly (theory.md §3).

- Gaussian noise (``sl_pass_2d``): cost = |b|_A |l|_A - <b, A l>, l = x - y, b and A = a^-1 at the
  midpoint of the segment, interpolated linearly between the half-grid midpoints (as
  OLIM-midpoint does); the minimisation over a face is solved in closed form for frozen b, A and
  refined. The square rings of Chebyshev radius 1, 2, ..., K, searched around the direction of
  the best segment found so far (the one-point updates from the ring nodes along all these
  lattice directions are what makes it accurate, as OLIM's ball of radius K);
  ``sl_ordered_pass_2d`` runs the same update in increasing order of V (heap) to start the
  iteration close to the fixed point, and ``sl_pass_2d`` also takes an explicit node order.
- cost table (``sl_table_pass_2d``): the ring of 8 neighbours, any noise law, cost from a table of
  the geometric cost per unit length at the nodes, for directions x - y on the ring at Q points per
  face (trapezoidal rule in space, piecewise linear along the face, parabolic refinement of the
  best point); +inf costs give +inf candidates.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from fwpotential.solvers.heap import heap_pop, heap_push, heap_sift_up
from fwpotential.solvers.sweep._passes import (
    RING2,
    axis_index,
    ring_position,
    unlock_ring1,
    unlock_square,
    visit,
)

INF = np.inf
_NO_ORDER = np.empty(0, dtype=np.int64)  # sl_pass_2d: raster ordering


class Rings2D(NamedTuple):
    """Tables of the 2-D Gaussian update: C (2n0-1, 2n1-1, 8) holds (|b|_A, (Ab)_0, (Ab)_1, b_0, b_1,
    a11, a12, a22) on the half grid (A = a^-1, ``tables.cost_pack_2d``); h0, h1 spacings; the rings
    ``radii`` (increasing, radii[0] = 1) with node offsets roff, rbase (``_passes.ring_table``);
    ``width`` ring nodes searched on each side of the current direction; ``n_refine``
    re-evaluations of b, A at the minimiser of a face."""

    C: np.ndarray
    h0: float
    h1: float
    radii: np.ndarray
    roff: np.ndarray
    rbase: np.ndarray
    width: int
    n_refine: int


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
def _scratch(g):
    """Scratch arrays (vq, uq, dp, dm, yb) of _ring_scan for the rings of g."""
    nbuf = 8 * g.radii[g.radii.shape[0] - 1] + 1
    return np.empty(nbuf), np.empty(nbuf), np.empty(nbuf), np.empty(nbuf), np.zeros(2)


@njit(cache=True)
def _sl_node(V, i, j, g, buf):
    """The semi-Lagrangian update of node (i, j) (see sl_pass_2d) from the current V; inf if none."""
    vq, uq, dp, dm, yb = buf
    C, h0, h1, radii, roff, rbase, width, n_refine = g
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
def sl_pass_2d(V, fixed, lock, g, signs, unlock_ring=True, eps=0.0, order=_NO_ORDER):
    """One semi-Lagrangian Gauss–Seidel pass, 2-D Gaussian noise; tables g (``Rings2D``).

    V (n0, n1) updated in place; fixed, lock (n0, n1) uint8. Segments from the node x end on the
    square rings of the Chebyshev radii g.radii: every node and face of ring 1; on each larger
    ring r, the 2 width + 2 nodes (and the faces between them) around the point where the ray
    from x through the best segment end found so far crosses ring r. The direction is thus
    refined ring by ring; a ring node is a one-point update along a lattice direction (no
    interpolation error): the more rings, the closer one lies to the characteristic, as in
    OLIM's ball of radius K. Nodes are visited in the ordering signs = (s0, s1), or, when
    ``order`` (flat C-order indices) is not empty, in that order. A decrease larger than ``eps``
    unlocks the 8 neighbours, or every node of the square of half-width radii[-1] when
    ``unlock_ring``. Returns the largest decrease of V (inf when a node was first reached).
    """
    n0, n1 = V.shape
    buf = _scratch(g)
    R = g.radii[g.radii.shape[0] - 1]
    largest = 0.0
    n_list = order.shape[0]
    total = n_list if n_list > 0 else n0 * n1
    for t in range(total):
        if n_list > 0:
            i = order[t] // n1
            j = order[t] - i * n1
        else:
            ii = t // n1
            i = axis_index(ii, n0, signs[0])
            j = axis_index(t - ii * n1, n1, signs[1])
        if not visit(fixed, lock, (i, j)):
            continue
        v_old = V[i, j]
        best = _sl_node(V, i, j, g, buf)
        if best < v_old:
            V[i, j] = best
            d = v_old - best
            if d > largest:
                largest = d
            if d > eps:  # smaller decreases leave the dependent nodes locked
                if unlock_ring:
                    unlock_square(lock, i, j, R)
                else:
                    unlock_ring1(lock, i, j)
    return largest


@njit(cache=True)
def sl_ordered_pass_2d(V, fixed, g):
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
    C, h0, h1 = g.C, g.h0, g.h1
    N = n0 * n1
    heap = np.zeros(N + 1, dtype=np.int64)
    hv = np.zeros(N + 1)
    pos = np.zeros(N, dtype=np.int64)
    done = np.zeros((n0, n1), dtype=np.uint8)
    buf = _scratch(g)
    count = 0
    for i in range(n0):
        for j in range(n1):
            if fixed[i, j]:
                count = heap_push(heap, hv, pos, count, i * n1 + j, V[i, j])
    taken = 0
    while count > 0:
        p, count = heap_pop(heap, hv, pos, count)
        i = p // n1
        j = p - i * n1
        if V[i, j] == INF:
            break
        done[i, j] = 1
        taken += 1
        if not fixed[i, j]:
            best = _sl_node(V, i, j, g, buf)
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
                    heap_sift_up(heap, hv, pos, pos[q], q, cand)
                else:
                    count = heap_push(heap, hv, pos, count, q, cand)
    return taken


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
def sl_table_pass_2d(V, fixed, lock, C, Q, signs):
    """One semi-Lagrangian pass with costs from the table C (n0, n1, 8Q); see table_offsets_2d.

    Candidate at ring point r = kQ + q of face k (t = q/Q): (1-t) V_a + t V_b +
    (C[x, r] + (1-t) C[y_a, r] + t C[y_b, r]) / 2; the best point of a face is refined by a parabola
    through it and its two neighbours on the face when all three are finite. signs (2,) the
    ordering; a decrease unlocks the 8 neighbours. Returns the largest decrease.
    One kernel, with the raster and the lock written out: with the node update in functions of
    its own and the ``_passes`` helpers Numba compiles a pass about 2x slower.
    """
    s0 = signs[0]
    s1 = signs[1]
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
