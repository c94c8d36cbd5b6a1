"""Exact 1-D quasi-potential by quadrature of the non-zero root of H(y, p) = 0 (theory.md §3).

V(x) = ∫ r(y) dy from the attractor to x, with r(y) = σ p*(y) where the drift points back
(σ b(y) < 0, σ = sign(y - x*)) and p* is the non-zero root of H(y, p) = 0 on that side, and r = 0
where the path goes downhill (σ b ≥ 0): the minimum cost, continued past saddles into the
neighbouring basins. Where no root exists (bounded noise weaker than the drift), every point further
out is unreachable: V = +inf. So is every point beyond a place where the noise variance vanishes and
the integral of r diverges there (e.g. a(x) = x² at a saddle at 0: r ~ 2|b'|/|x|): such pieces are
found from the integral over dyadic shells towards the point, which stays of one size when it
diverges; the same shells integrate pieces next to such a point when the integral is finite.

The integral is split at the attractor, at the zeros of b and at the grid nodes, and each piece uses
8-point Gauss–Legendre quadrature, so the error is at rounding level for smooth problems.
"""

from __future__ import annotations

import time

import numpy as np
from scipy.optimize import brentq, minimize_scalar

from fwpotential.errors import GridError, InputError

OPTIONS = frozenset({"quad_points"})
ORDER = 16.0


def solve(dynamics, grid, attractor, *, quad_points=8):
    if grid.dim != 1 or dynamics.dim != 1:
        raise GridError(
            f"method='exact' needs a 1-D grid and 1-D dynamics, got a {grid.dim}-D grid; "
            "use method='olim', 'fmm' or 'sweep' in 2-D and 3-D"
        )
    if not isinstance(quad_points, (int, np.integer)) or quad_points < 1:
        raise InputError(f"quad_points must be a positive integer, got {quad_points!r}")
    t0 = time.perf_counter()
    xs = grid.axes[0]
    b_nodes = dynamics.drift(xs[:, None])[:, 0]
    zeros = _drift_zeros(dynamics, xs, b_nodes)
    quiet = _noise_zeros(dynamics, xs)
    zeros = np.unique(np.concatenate([zeros, quiet]))
    gl_t, gl_w = np.polynomial.legendre.leggauss(int(quad_points))
    if attractor.mask is not None:
        idx = np.flatnonzero(attractor.mask)
        left, right = xs[idx[0]], xs[idx[-1]]
    else:
        left = right = float(attractor.point[0])
    V = np.full(grid.shape, np.inf)
    V[(xs >= left) & (xs <= right)] = 0.0
    for sigma, start, nodes in (
        (1.0, right, np.flatnonzero(xs > right)),
        (-1.0, left, np.flatnonzero(xs < left)[::-1]),
    ):
        if nodes.size == 0:
            continue
        ends = xs[nodes]
        # sub-intervals from start through all nodes, split at the zeros of b
        brk = np.concatenate([[start], ends])
        z_in = zeros[(sigma * (zeros - start) > 0) & (sigma * (zeros - ends[-1]) < 0)]
        pts = np.sort(np.concatenate([brk, z_in]))[:: int(sigma)]
        a, bnd = pts[:-1], pts[1:]
        mid = 0.5 * (a + bnd)
        half = 0.5 * (bnd - a)
        y = mid[:, None] + half[:, None] * gl_t[None, :]
        rate, reach = climb_rate(dynamics, y, sigma)
        # the end points: a root must exist there too for the piece to be crossed
        _, reach_end = climb_rate(dynamics, bnd[:, None], sigma)
        piece = np.abs(half) * np.sum(rate * gl_w, axis=1)
        piece = _graded(dynamics, piece, a, bnd, quiet, sigma, gl_t, gl_w)
        ok = reach.all(axis=1) & reach_end[:, 0] & np.isfinite(piece)
        first_bad = np.argmin(ok) if not ok.all() else len(ok)
        piece[first_bad:] = np.inf
        cum = np.cumsum(piece)
        # values at the grid nodes (the pieces' ends that are nodes)
        at = np.searchsorted(pts[1:] * sigma, ends * sigma)  # index of the piece ending at each node
        V[nodes] = cum[at]
    info = {
        "seconds": time.perf_counter() - t0,
        "quadrature": f"Gauss-Legendre, {quad_points} points per piece",
        "drift_zeros": zeros,
    }
    return V, info


def _drift_zeros(dynamics, xs, b):
    """Zeros of b between grid nodes (sign changes, refined by Brent's method), and exact node zeros."""
    out = list(xs[b == 0.0])
    s = np.sign(b)
    for i in np.flatnonzero(s[:-1] * s[1:] < 0):
        out.append(brentq(lambda t: float(dynamics.drift(np.array([t]))[0]), xs[i], xs[i + 1], xtol=1e-15, rtol=1e-15))
    return np.array(sorted(out))


def _noise_zeros(dynamics, xs):
    """Where the noise variance a vanishes: nodes with a = 0, and local minima of a between nodes
    (refined by bounded minimisation) whose value is below 1e-13 of the largest a on the grid."""
    a = dynamics.noise_cov(xs[:, None])[:, 0, 0]
    scale = float(np.max(a)) if a.size and np.isfinite(a).all() else 0.0
    out = list(xs[a == 0.0])
    inner = np.flatnonzero((a[1:-1] <= a[:-2]) & (a[1:-1] <= a[2:]) & (a[1:-1] > 0)) + 1
    for i in inner:
        res = minimize_scalar(
            lambda t: float(dynamics.noise_cov(np.array([[t]]))[0, 0, 0]),
            bounds=(xs[i - 1], xs[i + 1]),
            method="bounded",
            options={"xatol": 1e-15 * max(1.0, abs(xs[i]))},
        )
        if res.fun <= 1e-13 * scale:
            out.append(float(res.x))
    return np.unique(np.array(out, dtype=float))


def _graded(dynamics, piece, a, bnd, quiet, sigma, gl_t, gl_w, levels=16):
    """Re-integrate the pieces that end where the noise vanishes, on dyadic shells towards that end.

    The shell at distance L·2^-(j+1) .. L·2^-j from the end gets its own Gauss–Legendre rule, down to
    the last shell that rounding resolves, so a near-singular r (a → 0) is resolved on its own scale.
    For an integrable r the shell integrals decay geometrically; for r ~ 1/distance or worse they stay
    of one size or grow: the deepest shell is compared with the one ``levels`` halvings further out,
    and such a piece costs +inf."""
    piece = piece.copy()
    for end, other in ((a, bnd), (bnd, a)):
        for k in np.flatnonzero(np.isin(end, quiet) & (other != end)):
            z, length = float(end[k]), float(other[k] - end[k])
            floor = 64 * np.finfo(float).eps * max(1.0, abs(z))
            deepest = int(np.floor(np.log2(abs(length) / floor)))
            j = np.arange(max(deepest, 0) + 1)
            lo, hi = z + length * 2.0 ** (-j - 1), z + length * 2.0 ** (-j)
            y = 0.5 * (lo + hi)[:, None] + 0.5 * (hi - lo)[:, None] * gl_t[None, :]
            rate, _ = climb_rate(dynamics, y, sigma)
            shells = np.abs(0.5 * (hi - lo)) * np.sum(rate * gl_w, axis=1)
            diverges = deepest >= 2 * levels and shells[-1] > 0 and shells[-1] >= 0.5 * shells[-1 - levels]
            piece[k] = np.inf if diverges or not np.isfinite(shells).all() else float(np.sum(shells))
    return piece


def climb_rate(dynamics, y, sigma):
    """The slope of the 1-D quasi-potential on the side ``sigma`` = ±1 of the attractor.

    r(y) = σ p*(y) ≥ 0 where σ b(y) < 0 (the path climbs against the drift), p*(y) the non-zero root of
    H(y, p) = 0; r = 0 where the drift carries the path; +inf where H(y, ·) has no such root. Returns
    ``(rate, reachable)``, arrays of the shape of ``y``.
    """
    shape = y.shape
    yf = y.reshape(-1, 1)
    b = dynamics.drift(yf)[:, 0]
    climb = sigma * b < 0
    rate = np.zeros(yf.shape[0])
    reach = np.ones(yf.shape[0], bool)
    if climb.any():
        yc, bc = yf[climb], b[climb]
        if dynamics.is_gaussian:
            a = dynamics.noise_cov(yc)[:, 0, 0]
            with np.errstate(divide="ignore"):
                r = np.where(a > 0, -2.0 * sigma * bc / a, np.inf)
            ok = np.isfinite(r)
        else:
            r, ok = _root(dynamics, yc, bc, sigma)
        rate[climb] = np.where(ok, r, np.inf)
        reach[climb] = ok
    return rate.reshape(shape), reach.reshape(shape)


def _root(dynamics, y, b, sigma, max_iter=100):
    """Positive root q of h(q) = H(y, σq) (convex, h(0) = 0, h'(0) = σb < 0), vectorised."""
    law = dynamics.noise
    e = np.full_like(y, sigma)
    slope_inf = sigma * b + law.support(y, e)  # lim h(q)/q
    ok = slope_inf > 0

    def h(q):
        return dynamics.hamiltonian(y, sigma * q[:, None])

    def dh(q):
        return sigma * (b + law.cgf_grad(y, sigma * q[:, None])[:, 0])

    # bracket: h(qhi) > 0
    scale = np.sqrt(np.maximum(dynamics.noise_cov(y)[:, 0, 0], 1e-300))
    qhi = np.where(ok, 2.0 * np.abs(b) / scale**2 + 1.0 / scale, np.nan)
    for _ in range(200):
        with np.errstate(over="ignore", invalid="ignore"):
            hv = h(np.where(ok, qhi, 0.0))
        need = ok & ~(hv > 0)
        if not need.any():
            break
        qhi = np.where(need, 2.0 * qhi, qhi)
    else:  # no sign change found: no root (bounded noise whose support= was not given)
        ok &= ~need
    ok &= np.isfinite(qhi)
    # Newton from the right converges monotonically for a convex h; safeguard with the bracket
    qlo = np.zeros_like(b)
    q = np.where(ok, qhi, 1.0)
    qhi = np.where(ok, qhi, 2.0)  # keep the ignored (rootless) entries finite: no NaN into user cgfs
    for _ in range(max_iter):
        hv, dv = h(q), dh(q)
        qlo = np.where(hv < 0, np.maximum(qlo, q), qlo)
        qhi = np.where(hv > 0, np.minimum(qhi, q), qhi)
        with np.errstate(divide="ignore", invalid="ignore"):
            qn = q - hv / dv
        bad = ~np.isfinite(qn) | (qn <= qlo) | (qn >= qhi)
        qn = np.where(bad, 0.5 * (qlo + qhi), qn)
        conv = np.abs(qn - q) <= 4e-16 * np.abs(q)
        q = qn
        if np.all(conv | ~ok):
            break
    return q, ok
