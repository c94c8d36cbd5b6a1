"""Kernels of the Lax–Friedrichs scheme of method="sweep" (flattened arrays, d = 2 or 3).

Kao, Osher & Qian (2004) on H itself, H(x, p) = <b, p> + Lambda, Lambda Gaussian (a tabulated) or
discrete (atoms z_k tabulated, scale s: Lambda = s log mean_k exp(-<p/s, z_k>)). H is clipped to a
box |p_k| <= P_k and extended linearly with slope alpha_k outside it, which keeps the scheme
monotone and lets +inf neighbours enter exactly (the +inf parts cancel). Lock and ordering as in ``_passes``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

INF = np.inf


class LFTables(NamedTuple):
    """Tables of lf_pass, flattened over the nodes (C order): shape (d,) int64, h (d,) spacings,
    b (N, d), kind 0 (Gaussian, acov (N, d, d)) or 1 (atoms Z (N, K, d), scale), alpha and P (N, d)
    the viscosity constants and clipping box per node."""

    shape: np.ndarray
    h: np.ndarray
    b: np.ndarray
    kind: int
    acov: np.ndarray
    Z: np.ndarray
    scale: float
    alpha: np.ndarray
    P: np.ndarray


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
def lf_pass(V, fixed, lock, t, signs):
    """One Lax–Friedrichs Gauss–Seidel pass on flattened arrays (C order), tables t (``LFTables``),
    d = len(t.shape) in {2, 3}.

    V, fixed, lock (N,); signs (d,) the ordering. Update (Kao, Osher & Qian 2004), H~ = H(clip p) + sum alpha_k (|p_k| - P_k)+:
    V <- min(V, [sum_k alpha_k (V_k+ + V_k-) / (2 h_k) - H~(x, p_centred)] / sum_k alpha_k / h_k);
    a +inf neighbour in direction k contributes alpha_k (V_other / h_k + P_k). Nodes on the
    boundary of the box use the extrapolation min(V, max(2 V_1 - V_2, V_2)) along the inward axis.
    One kernel, with the raster and the lock written out: with the interior update in a function
    of its own (inlined or not) Numba compiles a pass about 3x slower, and with the ``_passes``
    helpers about 8 % slower (little work per node).
    """
    shape, h, b, kind, acov, Z, scale, alpha, P = t
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
