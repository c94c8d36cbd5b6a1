"""Kernels of the 3-D semi-Lagrangian scheme of method="sweep" with Gaussian noise.

V(x) = min_y [V(y) + cost(y -> x)] over the points y of the 26 neighbours, 72 edges and 48 Kuhn
triangles of the 3x3x3 cube surface around x (``_passes.ring3``), V(y) interpolated linearly; cost
|b|_A |l|_A - <b, A l>, l = x - y, b and A = a^-1 interpolated linearly between the half-grid
midpoints of the segments to the vertices (as the 2-D scheme), the stationary point of a simplex
in closed form for frozen b, A and refined ``n_refine`` times. Pass skeleton: ``_passes``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from fwpotential.solvers.sweep._passes import axis_index, unlock_offsets_3d, visit

INF = np.inf


class Gauss3D(NamedTuple):
    """Tables of the 3-D Gaussian update: Bh (2n0-1, 2n1-1, 2n2-1, 3) the drift and Ah (..., 6) the
    entries (11, 12, 13, 22, 23, 33) of a^-1 on the half grid; h (3,) spacings; offs (26, 3),
    tris (48, 3), edges (72, 2) from ``_passes.ring3``; n_refine re-evaluations of b, A."""

    Bh: np.ndarray
    Ah: np.ndarray
    h: np.ndarray
    offs: np.ndarray
    tris: np.ndarray
    edges: np.ndarray
    n_refine: int


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
def sl_pass_3d(V, fixed, lock, g, signs):
    """One semi-Lagrangian Gauss–Seidel pass, 3-D Gaussian noise, tables g (``Gauss3D``), in the
    ordering signs (3,): one-point updates from the 26 neighbours, then the edges and triangles.
    A decrease unlocks the 26 neighbours. Returns the largest decrease.

    One kernel: with the node update in functions of their own (inlined or not) Numba compiles a
    pass about 3x slower.
    """
    Bh, Ah, h, offs, tris, edges, n_refine = g
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
        i = axis_index(ii, n0, signs[0])
        for jj in range(n1):
            j = axis_index(jj, n1, signs[1])
            for kk in range(n2):
                m = axis_index(kk, n2, signs[2])
                if not visit(fixed, lock, (i, j, m)):
                    continue
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
                    unlock_offsets_3d(lock, i, j, m, offs)
    return largest
