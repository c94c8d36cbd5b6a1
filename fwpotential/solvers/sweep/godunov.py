"""scheme="godunov" of method="sweep": the upwind (Godunov) scheme for a convex H, on H itself (2-D).

For convex H the upwind numerical Hamiltonian on a triangle of the stencil (neighbours y_a, y_b of x,
l_q = x - y_q, values u_q) has its zero at

    V(x) = max_{p in S(x)} min_q (u_q + <p, l_q>),   S(x) = {p : H(x, p) <= 0}        (1)

(the largest V with H(x, p) <= 0 for a p meeting both one-sided differences; Kao, Osher & Qian 2004,
Tsai, Cheng, Osher & Zhao 2003 for the Godunov form of convex H). By convex duality (minimax over the
segment [y_a, y_b], which is compact) this equals

    V(x) = min_{0 <= t <= 1} [(1 - t) u_a + t u_b + sigma_S(l(t))],   l(t) = (1 - t) l_a + t l_b,    (2)

where sigma_S(l) = sup_{p in S} <p, l> is the support function of the zero sublevel set of H (it is
also the geometric cost min_s L(x, s l)/s of theory.md, +inf in the directions the noise cannot
push). H therefore enters only through S(x): per node, sigma_S is tabulated with its angular
derivative at M equispaced directions (closed form for Gaussian noise; for any other law from the
boundary of S found by root-finding of H along M rays, the outward normals from dH/dp), and
interpolated in the direction by cubic Hermite polynomials. The kernel minimises (2) on the faces of
the ring of the 8 neighbours and of the ring of radius K (long segments, as OLIM), with sigma_S at
the middle of the segment approximated by the mean of the tables at x and at y (trapezoidal rule,
second order, the same role as OLIM's midpoint rule). Monotone and consistent; no Python per node.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from fwpotential.errors import CovarianceError, InputError
from fwpotential.solvers import tables as _tables
from fwpotential.solvers.sweep._passes import RING2, ring_offset, ring_position

INF = np.inf
TWO_PI = 2.0 * math.pi

_WHO = "scheme='godunov' with Gaussian noise"


# ---------------------------------------------------------------------------------------------
# tables: sigma_S and d sigma_S / d phi at phi_k = 2 pi k / M, per node
# ---------------------------------------------------------------------------------------------
def tables(dynamics, grid, M, *, generic=False, rays=None, chunk=20_000):
    """Arrays for godunov_pass_2d: (T, Bh, Ah, gauss, corr).

    Gaussian part: drift and A = a^-1 (a = Cov Z) on the half grid, when a is non-singular there.
    Correction: delta = sigma_S - sigma_G at the nodes, M directions (``support_table``); not built
    for Gaussian noise unless ``generic`` (then it checks the generic tabulation: delta ~ 0).
    """
    Bh, Ah = _tables.half_grid_coefficients(dynamics, grid)
    gauss = Ah is not None
    if gauss:
        Bh = _tables.cost_pack_2d(Bh, Ah)
    else:
        Bh, Ah = np.zeros((1, 1, 5)), np.zeros((1, 1, 3))
    corr = generic or not dynamics.is_gaussian
    if not corr:
        if not gauss:
            raise CovarianceError(f"{_WHO} needs a positive-definite noise covariance a(x) = Cov Z on every node")
        return np.zeros((2, 2, M, 2)), Bh, Ah, True, False
    T = support_table(dynamics, grid, M, generic=True, rays=rays, chunk=chunk)
    if gauss:
        X = grid.points().reshape(-1, 2)
        TG = _gaussian_table(*_tables.gaussian_coefficients(dynamics, X, who=_WHO), M).reshape(T.shape)
        with np.errstate(invalid="ignore"):
            T = np.where(np.isfinite(T), T - TG, np.inf)
    return np.ascontiguousarray(T), Bh, Ah, gauss, True


def support_table(dynamics, grid, M, *, generic=False, rays=None, chunk=20_000):
    """T (n0, n1, M, 2): support function of S(x) = {H(x, .) <= 0} and its angular derivative at the
    unit directions e_k = (cos, sin)(2 pi k / M), per node. +inf where S is unbounded towards e_k.

    Gaussian noise: closed form. Otherwise (or ``generic=True``): from the boundary of S along
    ``rays`` (default 2M) rays from an interior point, with H from ``dynamics.hamiltonian`` (finite
    sums: from their atoms, vectorised).
    """
    X = grid.points().reshape(-1, 2)
    if dynamics.is_gaussian and not generic:
        T = _gaussian_table(*_tables.gaussian_coefficients(dynamics, X, who=_WHO), M)
    else:
        b = np.asarray(dynamics.drift(X), dtype=float)
        a = np.asarray(dynamics.noise_cov(X), dtype=float)
        T = _generic_table(dynamics, X, b, a, M, 2 * M if rays is None else int(rays), chunk)
    return np.ascontiguousarray(T.reshape(grid.shape + (M, 2)))


def _directions(M):
    phi = TWO_PI * np.arange(M) / M
    return np.stack([np.cos(phi), np.sin(phi)], -1), np.stack([-np.sin(phi), np.cos(phi)], -1)


def _gaussian_table(b, A, M):
    """Support function of the Gaussian {<b, p> + p'ap/2 <= 0} and its angular derivative at the
    M directions, per row of b (N, 2) and A = a^-1 (N, 2, 2)."""
    e, et = _directions(M)
    Ab = np.einsum("nij,nj->ni", A, b)
    nb = np.sqrt(np.maximum(np.einsum("ni,ni->n", b, Ab), 0.0))
    Ae = np.einsum("nij,kj->nki", A, e)  # (N, M, 2)
    ne = np.sqrt(np.einsum("nki,ki->nk", Ae, e))
    P = -Ab[:, None, :] + (nb[:, None] / ne)[..., None] * Ae  # support points
    T = np.empty((len(b), M, 2))
    T[..., 0] = np.einsum("nki,ki->nk", P, e)
    T[..., 1] = np.einsum("nki,ki->nk", P, et)
    return T


class _H:
    """H(x_n, p) and dH/dp for node subsets, vectorised: laws on finitely many atoms from the atoms,
    else the dynamics."""

    def __init__(self, dynamics, X, b):
        self.dyn, self.X, self.b = dynamics, X, b
        self.Z = None
        atoms = dynamics.noise.atom_form(X)
        if atoms is not None:
            self.Z, self.s = atoms  # (N, K, 2), scale

    def __call__(self, idx, P, grad=False):
        """P (n, R, 2) momenta at nodes idx (n,): H (n, R) and, with grad, dH/dp (n, R, 2)."""
        b = self.b[idx][:, None, :]
        if self.Z is not None:
            Z = self.Z[idx]  # (n, K, 2)
            t = -np.einsum("nkd,nrd->nrk", Z, P) / self.s
            tm = t.max(-1, keepdims=True)
            w = np.exp(t - tm)
            sw = w.sum(-1)
            H = np.einsum("nrd,nrd->nr", b, P) + self.s * (tm[..., 0] + np.log(sw / Z.shape[1]))
            if not grad:
                return H
            G = b - np.einsum("nrk,nkd->nrd", w, Z) / sw[..., None]
            return H, G
        x = np.broadcast_to(self.X[idx][:, None, :], P.shape)
        noise = self.dyn.noise
        with np.errstate(over="ignore", invalid="ignore"):
            H = np.einsum("nrd,nrd->nr", np.broadcast_to(b, P.shape), P) + noise.cgf(x, P)
            if not grad:
                return H
            return H, b + noise.cgf_grad(x, P)


def _generic_table(dynamics, X, b, a, M, R, chunk):
    N = len(X)
    Hf = _H(dynamics, X, b)
    u, _ = _directions(R)
    T = np.empty((N, M, 2))
    for n0 in range(0, N, max(1, chunk // R)):
        idx = np.arange(n0, min(N, n0 + max(1, chunk // R)))
        T[idx] = _table_rows(dynamics, Hf, idx, X, b, a, u, M)
    if np.isnan(T).any():
        n = np.argwhere(np.isnan(T))[0][0]
        raise InputError(f"the Hamiltonian gave NaN near x = {X[n]} while tabulating {{H <= 0}}")
    return T


def _table_rows(dynamics, Hf, idx, X, b, a, u, M):
    n = len(idx)
    R = len(u)
    bb = b[idx]
    # interior point c = -tau a^-1 b (Gaussian approximation of S: centre -a^-1 b), tau the best
    # of 1/2, 1/4, ...: H(x, c) < 0 whenever b != 0
    A = np.linalg.pinv(a[idx] + 1e-12 * np.trace(a[idx], axis1=1, axis2=2)[:, None, None] * np.eye(2))
    Ab = np.einsum("nij,nj->ni", A, bb)
    taus = 0.5 ** np.arange(1, 16)
    Hc = Hf(idx, -taus[None, :, None] * Ab[:, None, :])  # (n, 15)
    Hc = np.where(np.isfinite(Hc), Hc, np.inf)
    kbest = np.argmin(Hc, axis=1)
    c = -taus[kbest][:, None] * Ab
    Hmin = Hc[np.arange(n), kbest]
    degenerate = ~(Hmin < 0.0)  # b = 0 (an equilibrium): S = {0}, sigma = 0
    # rays c + r u_j: unbounded iff <b, u> + support(-Z, u) <= 0 (recession cone of S)
    xr = np.broadcast_to(X[idx][:, None, :], (n, R, 2))
    ur = np.broadcast_to(u[None], (n, R, 2))
    with np.errstate(invalid="ignore"):
        rec = np.einsum("nd,rd->nr", bb, u) + np.asarray(dynamics.noise.support(xr, ur), dtype=float)
    unbounded = (rec <= 0.0) & ~degenerate[:, None]
    # bracket the root of H(c + r u) along each bounded ray (H convex in r, H(c) < 0), starting
    # from the root of the Gaussian approximation <b, p> + p'ap/2
    aa = a[idx]
    qa = 0.5 * np.einsum("rd,nde,re->nr", u, aa, u)
    qb = np.einsum("nd,rd->nr", bb, u) + np.einsum("rd,nde,ne->nr", u, aa, c)
    qc = (np.einsum("nd,nd->n", bb, c) + 0.5 * np.einsum("nd,nde,ne->n", c, aa, c))[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        rG = (-qb + np.sqrt(np.maximum(qb * qb - 4 * qa * qc, 0.0))) / (2 * qa)
    scale = np.linalg.norm(c, axis=1) + np.linalg.norm(Ab, axis=1) + 1e-300
    rG = np.where(np.isfinite(rG) & (rG > 0), rG, scale[:, None])
    todo = ~unbounded & ~degenerate[:, None]
    if Hf.Z is not None:
        B = np.zeros((n, R, 2))
        G = np.zeros((n, R, 2))
        bad = np.zeros((n, R), dtype=np.bool_)
        _discrete_rays(bb, Hf.Z[idx], Hf.s, c, u, rG, todo, B, G, bad)
        unbounded |= bad
        todo &= ~bad
    else:
        r, bad = _rays_generic(Hf, idx, c, u, rG, Hmin, todo)
        unbounded |= bad
        todo &= ~bad
        B = c[:, None, :] + np.where(todo, r, 0.0)[..., None] * u[None]
        _, G = Hf(idx, B, grad=True)
    nu = np.arctan2(G[..., 1], G[..., 0])
    gn = np.linalg.norm(G, axis=-1)
    nrm = G / np.where(gn > 0, gn, 1.0)[..., None]
    sig = np.einsum("nrd,nrd->nr", B, nrm)
    dsig = B[..., 1] * nrm[..., 0] - B[..., 0] * nrm[..., 1]  # <B, n_perp>, n_perp = (-n_y, n_x)
    ok = todo & (gn > 0) & np.isfinite(sig) & np.isfinite(dsig)
    T = np.empty((n, M, 2))
    _resample(nu, sig, dsig, ok, M, T)
    # exact +inf: S unbounded along a ray u with <u, e_k> > 0
    e, _ = _directions(M)
    pos_dot = (u @ e.T) > 1e-12  # (R, M)
    inf_k = (unbounded[:, :, None] & pos_dot[None]).any(axis=1)
    T[..., 0] = np.where(inf_k, np.inf, T[..., 0])
    T[degenerate] = 0.0
    return T


def _rays_generic(Hf, idx, c, u, r0, Hmin, todo):
    """Root r of H(x, c + r u) > 0 crossing along each ray (H convex in r, H(c) < 0), vectorised:
    bracket by doubling from r0, then the Illinois method. Returns (r, numerically unbounded)."""
    n, R = todo.shape

    def H(r):
        return Hf(idx, c[:, None, :] + r[..., None] * u[None])

    lo = np.zeros((n, R))
    flo = np.broadcast_to(Hmin[:, None], (n, R)).copy()
    hi = r0.copy()
    fhi = H(hi)
    up = todo & ~(fhi > 0)
    for _ in range(100):
        if not up.any():
            break
        lo = np.where(up, hi, lo)
        flo = np.where(up, fhi, flo)
        hi = np.where(up, 2.0 * hi, hi)
        fhi = np.where(up, H(hi), fhi)
        up = todo & ~(fhi > 0)
    bad = up.copy()
    act = todo & ~bad
    r = hi.copy()
    fr = fhi.copy()
    side = np.zeros((n, R), dtype=np.int8)
    Hs = np.abs(Hmin)[:, None]
    for _ in range(60):
        act &= (hi - lo > 1e-13 * hi) & (np.abs(fr) > 1e-14 * Hs)
        if not act.any():
            break
        with np.errstate(invalid="ignore", divide="ignore"):
            rn = hi - fhi * (hi - lo) / (fhi - flo)
        rn = np.where((rn > lo) & (rn < hi), rn, 0.5 * (lo + hi))
        r = np.where(act, rn, r)
        fr = np.where(act, H(r), fr)
        pos = act & (fr > 0)
        neg = act & ~(fr > 0)
        hi = np.where(pos, r, hi)
        lo = np.where(neg, r, lo)
        flo = np.where(pos & (side == 1), 0.5 * flo, np.where(neg, fr, flo))
        fhi = np.where(neg & (side == -1), 0.5 * fhi, np.where(pos, fr, fhi))
        side = np.where(pos, 1, np.where(neg, -1, side)).astype(np.int8)
    return r, bad


@njit(cache=True)
def _hdisc(b, Z, s, px, py):
    """H = <b, p> + s log mean exp(-<z_k, p>/s) and dH/dp for one node's atoms Z (K, 2)."""
    K = Z.shape[0]
    tmax = -INF
    for k in range(K):
        t = -(Z[k, 0] * px + Z[k, 1] * py) / s
        if t > tmax:
            tmax = t
    sw = 0.0
    zx = 0.0
    zy = 0.0
    for k in range(K):
        w = math.exp(-(Z[k, 0] * px + Z[k, 1] * py) / s - tmax)
        sw += w
        zx += w * Z[k, 0]
        zy += w * Z[k, 1]
    H = b[0] * px + b[1] * py + s * (tmax + math.log(sw / K))
    return H, b[0] - zx / sw, b[1] - zy / sw


@njit(cache=True)
def _discrete_rays(b, Z, s, c, u, r0, todo, B, G, bad):
    """Boundary points B and gradients G of S along the rays c + r u (finite sums): Newton from the
    right of the root (monotone for convex H) after bracketing by doubling from r0."""
    n, R = todo.shape
    for m in range(n):
        for q in range(R):
            if not todo[m, q]:
                continue
            r = r0[m, q]
            ok = False
            for _ in range(200):
                H, gx, gy = _hdisc(b[m], Z[m], s, c[m, 0] + r * u[q, 0], c[m, 1] + r * u[q, 1])
                if H > 0.0 and gx * u[q, 0] + gy * u[q, 1] > 0.0:
                    ok = True
                    break
                r *= 2.0
            if not ok:
                bad[m, q] = True
                continue
            for _ in range(100):
                dH = gx * u[q, 0] + gy * u[q, 1]
                if not (dH > 0.0):
                    break
                step = H / dH
                r -= step
                H, gx, gy = _hdisc(b[m], Z[m], s, c[m, 0] + r * u[q, 0], c[m, 1] + r * u[q, 1])
                if abs(step) <= 1e-14 * r or H <= 0.0:
                    break
            B[m, q, 0] = c[m, 0] + r * u[q, 0]
            B[m, q, 1] = c[m, 1] + r * u[q, 1]
            G[m, q, 0] = gx
            G[m, q, 1] = gy


@njit(cache=True)
def _resample(nu, sig, dsig, ok, M, T):
    """Hermite interpolation of the support samples (normal angle nu, value, derivative) of each row
    at phi_k = 2 pi k / M; +inf where the bracketing samples are not both valid."""
    n, R = nu.shape
    ang = np.empty(R)
    sv = np.empty(R)
    dv = np.empty(R)
    for row in range(n):
        # valid samples in ray order, normal angles unwrapped to increase
        m = 0
        for j in range(R):
            if ok[row, j]:
                a = nu[row, j]
                if m > 0:
                    while a < ang[m - 1] - 1e-12:
                        a += TWO_PI
                ang[m] = a
                sv[m] = sig[row, j]
                dv[m] = dsig[row, j]
                m += 1
        for k in range(M):
            T[row, k, 0] = INF
            T[row, k, 1] = 0.0
        if m == 0:
            continue
        full = m == R  # S bounded: the samples go once around
        for k in range(M):
            phi = TWO_PI * k / M
            # bring phi into [ang[0], ang[0] + 2 pi)
            while phi < ang[0]:
                phi += TWO_PI
            while phi >= ang[0] + TWO_PI:
                phi -= TWO_PI
            j = -1
            for q in range(m - 1):
                if ang[q] <= phi <= ang[q + 1]:
                    j = q
                    break
            if j >= 0:
                a0, a1 = ang[j], ang[j + 1]
                s0, s1, d0, d1 = sv[j], sv[j + 1], dv[j], dv[j + 1]
            elif full:  # the wrap-around interval [ang[m-1], ang[0] + 2 pi]
                a0, a1 = ang[m - 1], ang[0] + TWO_PI
                if phi < a0:
                    phi += TWO_PI
                s0, s1, d0, d1 = sv[m - 1], sv[0], dv[m - 1], dv[0]
            else:
                continue
            D = a1 - a0
            if D <= 1e-15:
                T[row, k, 0] = 0.5 * (s0 + s1)
                T[row, k, 1] = 0.5 * (d0 + d1)
                continue
            s = (phi - a0) / D
            s2 = s * s
            s3 = s2 * s
            T[row, k, 0] = (
                (2 * s3 - 3 * s2 + 1) * s0 + (s3 - 2 * s2 + s) * D * d0 + (-2 * s3 + 3 * s2) * s1 + (s3 - s2) * D * d1
            )
            T[row, k, 1] = (
                (6 * s2 - 6 * s) * s0
                + (3 * s2 - 4 * s + 1) * D * d0
                + (-6 * s2 + 6 * s) * s1
                + (3 * s2 - 2 * s) * D * d1
            ) / D


# ---------------------------------------------------------------------------------------------
# kernel
# ---------------------------------------------------------------------------------------------
@njit(cache=True)
def _sigma(T, i, j, k0, k1, s, D):
    """Hermite value and phi-derivative of node (i, j)'s table between directions k0, k1 = k0 + 1."""
    s0 = T[i, j, k0, 0]
    s1 = T[i, j, k1, 0]
    if s0 == INF or s1 == INF:
        return INF, 0.0
    d0 = T[i, j, k0, 1] * D
    d1 = T[i, j, k1, 1] * D
    s2 = s * s
    s3 = s2 * s
    v = (2 * s3 - 3 * s2 + 1) * s0 + (s3 - 2 * s2 + s) * d0 + (-2 * s3 + 3 * s2) * s1 + (s3 - s2) * d1
    dv = ((6 * s2 - 6 * s) * s0 + (3 * s2 - 4 * s + 1) * d0 + (-6 * s2 + 6 * s) * s1 + (3 * s2 - 2 * s) * d1) / D
    return v, dv


@njit(cache=True)
def _face_f(t, ua, ub, T, Bh, Ah, gauss, corr, i, j, oai, oaj, obi, obj, h0, h1):
    """f(t) = (1-t) ua + t ub + cost(l), l = x - y(t), y(t) = (1-t) y_a + t y_b, y_q = x + o_q h.

    cost(l) = sigma_G(m, l) + |l| delta(m, phi(l)) at the midpoint m = x - l/2 (midpoint rule):
    sigma_G = |b|_A |l|_A - <b, A l> the support function of the Gaussian part (A = a^-1, a = Cov Z),
    b and A interpolated linearly between the half-grid midpoints of the end segments (as OLIM and
    the semi-Lagrangian scheme); delta = sigma_S - sigma_G the non-Gaussian correction, tabulated
    (T, Hermite in phi) at the nodes and interpolated bilinearly at m. ``gauss``/``corr`` switch the
    parts. Returns (f, f'(t)) with b, A, m frozen in f' (their fixed point is the midpoint-rule
    stationary point, as the semi-Lagrangian scheme's refinement).
    """
    lx = -(oai + t * (obi - oai)) * h0
    ly = -(oaj + t * (obj - oaj)) * h1
    ex = -(obi - oai) * h0
    ey = -(obj - oaj) * h1
    cost = 0.0
    gx = 0.0  # gradient of the cost in l
    gy = 0.0
    if gauss:
        mai = 2 * i + oai
        maj = 2 * j + oaj
        mbi = 2 * i + obi
        mbj = 2 * j + obj
        t0 = 1.0 - t
        bx = t0 * Bh[mai, maj, 3] + t * Bh[mbi, mbj, 3]
        by = t0 * Bh[mai, maj, 4] + t * Bh[mbi, mbj, 4]
        a11 = t0 * Ah[mai, maj, 0] + t * Ah[mbi, mbj, 0]
        a12 = t0 * Ah[mai, maj, 1] + t * Ah[mbi, mbj, 1]
        a22 = t0 * Ah[mai, maj, 2] + t * Ah[mbi, mbj, 2]
        abx = a11 * bx + a12 * by
        aby = a12 * bx + a22 * by
        c = math.sqrt(max(bx * abx + by * aby, 0.0))
        alx = a11 * lx + a12 * ly
        aly = a12 * lx + a22 * ly
        nl = math.sqrt(max(lx * alx + ly * aly, 0.0))
        cost = c * nl - (lx * abx + ly * aby)
        if nl > 0.0:
            gx = c * alx / nl - abx
            gy = c * aly / nl - aby
    if corr:
        n0 = T.shape[0]
        n1 = T.shape[1]
        M = T.shape[2]
        r = math.sqrt(lx * lx + ly * ly)
        phi = math.atan2(ly, lx)
        if phi < 0.0:
            phi += TWO_PI
        D = TWO_PI / M
        q = phi / D
        k0 = int(q)
        if k0 >= M:
            k0 = M - 1
        k1 = k0 + 1
        if k1 == M:
            k1 = 0
        s = q - k0
        mi = i - 0.5 * lx / h0
        mj = j - 0.5 * ly / h1
        ci = min(max(int(math.floor(mi)), 0), n0 - 2)
        cj = min(max(int(math.floor(mj)), 0), n1 - 2)
        fi = mi - ci
        fj = mj - cj
        dl = 0.0
        dd = 0.0
        for corner in range(4):
            di = corner // 2
            dj = corner % 2
            w = (fi if di else 1.0 - fi) * (fj if dj else 1.0 - fj)
            if w <= 0.0:
                continue
            sv, dv = _sigma(T, ci + di, cj + dj, k0, k1, s, D)
            if sv == INF:
                return INF, 0.0
            dl += w * sv
            dd += w * dv
        cost += r * dl
        if r > 0.0:  # grad_l (r delta(phi)) = delta e_r + delta' e_phi
            gx += (dl * lx - dd * ly) / r
            gy += (dl * ly + dd * lx) / r
    if cost < 0.0:
        cost = 0.0
    f = ua + t * (ub - ua) + cost
    return f, (ub - ua) + gx * ex + gy * ey


@njit(cache=True)
def _face_min(ua, ub, T, Bh, Ah, gauss, corr, i, j, oai, oaj, obi, obj, h0, h1, best):
    """min over t in [0, 1] of _face_f (both ends finite): the end values, and the interior
    stationary point by the Illinois method on f' when f'(0) < 0 < f'(1)."""
    if min(ua, ub) >= best:
        return INF, -1.0
    f0, g0 = _face_f(0.0, ua, ub, T, Bh, Ah, gauss, corr, i, j, oai, oaj, obi, obj, h0, h1)
    f1, g1 = _face_f(1.0, ua, ub, T, Bh, Ah, gauss, corr, i, j, oai, oaj, obi, obj, h0, h1)
    out = f0
    tout = 0.0
    if f1 < out:
        out = f1
        tout = 1.0
    if not (g0 < 0.0 and g1 > 0.0) or f0 == INF or f1 == INF:
        return out, tout
    lo = 0.0
    hi = 1.0
    glo = g0
    ghi = g1
    side = 0
    for _it in range(40):
        t = hi - ghi * (hi - lo) / (ghi - glo)
        if not (lo < t < hi):
            t = 0.5 * (lo + hi)
        ft, gt = _face_f(t, ua, ub, T, Bh, Ah, gauss, corr, i, j, oai, oaj, obi, obj, h0, h1)
        if ft < out:
            out = ft
            tout = t
        if ft == INF:
            break
        if gt > 0.0:
            hi = t
            ghi = gt
            if side == 1:
                glo *= 0.5
            side = 1
        elif gt < 0.0:
            lo = t
            glo = gt
            if side == -1:
                ghi *= 0.5
            side = -1
        else:
            break
        if hi - lo <= 1e-10:
            break
    return out, tout


@njit(cache=True)
def _ring_face(V, T, Bh, Ah, gauss, corr, q, K, i, j, h0, h1, best):
    n0, n1 = V.shape
    oi, oj = ring_offset(q, K)
    pi, pj = ring_offset((q + 1) % (8 * K), K)
    ai = i + oi
    aj = j + oj
    bi = i + pi
    bj = j + pj
    Va = V[ai, aj] if (0 <= ai < n0 and 0 <= aj < n1) else INF
    Vb = V[bi, bj] if (0 <= bi < n0 and 0 <= bj < n1) else INF
    if Va == INF:
        return INF
    if Vb == INF:  # vertex a only
        f, _ = _face_f(0.0, Va, Va, T, Bh, Ah, gauss, corr, i, j, oi, oj, oi, oj, h0, h1)
        return f
    # no pruning by ``best`` here: the walk along the ring compares face minima
    f, _ = _face_min(Va, Vb, T, Bh, Ah, gauss, corr, i, j, oi, oj, pi, pj, h0, h1, INF)
    return f


class GodunovTables(NamedTuple):
    """Tables of godunov_pass_2d: T (n0, n1, M, 2) correction tables (used when ``corr``); Bh
    (2n0-1, 2n1-1, 5), Ah (..., 3) the Gaussian part on the half grid (used when ``gauss``); h0, h1
    spacings; K the outer ring; ``width`` the faces walked per cell of K."""

    T: np.ndarray
    Bh: np.ndarray
    Ah: np.ndarray
    gauss: bool
    corr: bool
    h0: float
    h1: float
    K: int
    width: int


@njit(cache=True)
def godunov_pass_2d(V, fixed, lock, g, signs, unlock_ring=True):
    """One Gauss–Seidel pass of the support-function (Godunov) scheme, 2-D; see the module docstring.

    V (n0, n1) in place; fixed, lock uint8 (see ``_passes``); tables g (``GodunovTables``); signs
    (2,) the ordering. Ring 1 (8 faces) always; when K > 1 the ring of radius K
    is searched from the face the best ring-1 segment points to, walking along the ring while the
    face minimum decreases (at most width * K faces). A decrease unlocks the 8 neighbours, and the
    ring-K nodes too when ``unlock_ring``. Returns the largest decrease.

    One kernel, with the raster and the lock written out: split into functions or with the
    ``_passes`` helpers Numba compiles a pass about 7 % slower.
    """
    T, Bh, Ah, gauss, corr, h0, h1, K, width = g
    s0 = signs[0]
    s1 = signs[1]
    n0, n1 = V.shape
    nK = 8 * K
    largest = 0.0
    vn = np.empty(8)
    for ii in range(n0):
        i = ii if s0 > 0 else n0 - 1 - ii
        for jj in range(n1):
            j = jj if s1 > 0 else n1 - 1 - jj
            if fixed[i, j] or lock[i, j]:
                continue
            lock[i, j] = 1
            v_old = V[i, j]
            for k in range(8):
                ni = i + RING2[k, 0]
                nj = j + RING2[k, 1]
                vn[k] = V[ni, nj] if (0 <= ni < n0 and 0 <= nj < n1) else INF
            best1 = INF
            dx = 0.0
            dy = 0.0
            for k in range(8):  # vertices
                if vn[k] < best1:
                    oi = RING2[k, 0]
                    oj = RING2[k, 1]
                    f, _ = _face_f(0.0, vn[k], vn[k], T, Bh, Ah, gauss, corr, i, j, oi, oj, oi, oj, h0, h1)
                    if f < best1:
                        best1 = f
                        dx = oi
                        dy = oj
            if best1 == INF:
                continue
            for k in range(8):  # faces
                k1 = (k + 1) % 8
                Va = vn[k]
                Vb = vn[k1]
                if Va == INF or Vb == INF or min(Va, Vb) >= best1:
                    continue
                oa0 = RING2[k, 0]
                oa1 = RING2[k, 1]
                ob0 = RING2[k1, 0]
                ob1 = RING2[k1, 1]
                f, t = _face_min(Va, Vb, T, Bh, Ah, gauss, corr, i, j, oa0, oa1, ob0, ob1, h0, h1, best1)
                if f < best1:
                    best1 = f
                    dx = (1.0 - t) * oa0 + t * ob0
                    dy = (1.0 - t) * oa1 + t * ob1
            best = min(v_old, best1)
            if K > 1:
                q0 = int(np.floor(ring_position(dx, dy, K))) % nK
                g0 = _ring_face(V, T, Bh, Ah, gauss, corr, q0, K, i, j, h0, h1, best)
                gl = _ring_face(V, T, Bh, Ah, gauss, corr, (q0 - 1) % nK, K, i, j, h0, h1, best)
                gr = _ring_face(V, T, Bh, Ah, gauss, corr, (q0 + 1) % nK, K, i, j, h0, h1, best)
                gbest = min(g0, min(gl, gr))
                if gl < g0 and gl <= gr:
                    step = -1
                    q = (q0 - 1) % nK
                    gq = gl
                elif gr < g0:
                    step = 1
                    q = (q0 + 1) % nK
                    gq = gr
                else:
                    step = 0
                    q = q0
                    gq = g0
                n_walk = 0
                while step != 0 and n_walk < width * K:
                    qn = (q + step) % nK
                    gn = _ring_face(V, T, Bh, Ah, gauss, corr, qn, K, i, j, h0, h1, best)
                    if not (gn < gq):
                        break
                    q = qn
                    gq = gn
                    n_walk += 1
                if gq < gbest:
                    gbest = gq
                if gbest < best:
                    best = gbest
            if best < v_old:
                V[i, j] = best
                d = v_old - best
                if d > largest:
                    largest = d
                for k in range(8):
                    ni = i + RING2[k, 0]
                    nj = j + RING2[k, 1]
                    if 0 <= ni < n0 and 0 <= nj < n1:
                        lock[ni, nj] = 0
                if K > 1 and unlock_ring:
                    for q in range(nK):
                        oi, oj = ring_offset(q, K)
                        ni = i + oi
                        nj = j + oj
                        if 0 <= ni < n0 and 0 <= nj < n1:
                            lock[ni, nj] = 0
    return largest
