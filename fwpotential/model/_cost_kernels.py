"""Numba kernel: the geometric cost of a discrete (finite-sum) noise law in 2-D, for many
(node, direction) pairs at once.

For Λ(p) = s log mean_k exp(-<z_k, p>/s) and drift b, H(p) = s F(p/s) with
F(q) = log mean_k exp(<q, w_k>), w_k = b - z_k the achievable velocities. The geometric cost
c(e) = min_t L(t e)/t is the support function of S = {H <= 0} (theory.md section 3):

    c(e) = s sup {<q, e> : F(q) <= 0}.

It is +inf exactly when e lies outside the closed cone spanned by the w_k (then S is unbounded
towards e), which is decided once per node from the sorted angles of the w_k (the cone is the
complement of an angular gap wider than pi), with an exact test relative to e for directions near
its edges. Otherwise the supremum is attained at the point q of the boundary F = 0 whose outward
normal grad F(q) is a positive multiple of e (or approached along it on an edge of the cone),
found by Newton's method on F(q) = 0 and angle(grad F(q), e) = 0 with backtracking on the squared
residual. Newton alone diverges from far starting points (the softmax saturates on one atom and
the Jacobian vanishes), so every solve is a continuation in the angle of e: from the direction of
b = mean w_k, where q = 0 (moving with the drift is free), or from the previous direction at the
same node, along the shorter arc, started from a prediction linear in the angle. Where the
continuation stalls (e between two nearly opposite velocities, where S is long and thin) the
kernel solves the concave 1-D problem max over beta of the extent of S along e at offset beta
along e_perp, by bracketing and bisection with a monotone Newton root find inside, so every pair
inside the cone gets a value.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

_TOL = 1e-14  # residuals at which a Newton solve has converged (relative to the terms' size)
_MAX_NEWTON = 40
_MAX_HALVING = 40
_MAX_CONTINUE = 60  # Newton solves per continuation
_EDGE = 1e-9  # margin (radians) below which the 1-D solve replaces the continuation


@njit(cache=True)
def _tilted(W, qx, qy):
    """F(q) = log mean exp(<q, w_k>), its gradient m (tilted mean) and Hessian C (tilted covariance)."""
    K = W.shape[0]
    tmax = -np.inf
    for k in range(K):
        t = qx * W[k, 0] + qy * W[k, 1]
        if t > tmax:
            tmax = t
    sw = mx = my = sxx = sxy = syy = 0.0
    for k in range(K):
        w = math.exp(qx * W[k, 0] + qy * W[k, 1] - tmax)
        sw += w
        mx += w * W[k, 0]
        my += w * W[k, 1]
        sxx += w * W[k, 0] * W[k, 0]
        sxy += w * W[k, 0] * W[k, 1]
        syy += w * W[k, 1] * W[k, 1]
    mx /= sw
    my /= sw
    F = tmax + math.log(sw / K)
    return F, mx, my, sxx / sw - mx * mx, sxy / sw - mx * my, syy / sw - my * my


@njit(cache=True)
def _cone_margin(W, ex, ey):
    """pi minus the smallest angle of a pair of rows of W enclosing the unit direction e (pi when e
    points along a row): > 0 exactly when e lies in the closed cone they span (e strictly inside a
    gap of width pi, between two opposite rows, is outside it)."""
    above = np.inf  # smallest angle from e counter-clockwise to a w_k
    below = np.inf  # smallest angle from e clockwise to a w_k
    for k in range(W.shape[0]):
        dot = W[k, 0] * ex + W[k, 1] * ey
        cross = ex * W[k, 1] - ey * W[k, 0]
        if dot == 0.0 and cross == 0.0:
            continue
        phi = math.atan2(cross, dot)
        if phi >= 0.0:
            above = min(above, phi)
        if phi <= 0.0:
            below = min(below, -phi)
        if phi == math.pi:
            below = min(below, math.pi)
    return math.pi - (above + below)


@njit(cache=True)
def _residual(W, qx, qy, ex, ey):
    """F(q), the angle from e to m = grad F(q) (zero only on the branch m = tau e, tau > 0) and the
    gradient of that angle in q."""
    F, mx, my, cxx, cxy, cyy = _tilted(W, qx, qy)
    u, v = mx * ex + my * ey, my * ex - mx * ey  # m in the frame (e, e_perp)
    r2 = math.atan2(v, u)
    mm = u * u + v * v
    # d(angle) = (u dv - v du) / |m|^2 with du = e'C dq, dv = e_perp'C dq
    cex, cey = cxx * ex + cxy * ey, cxy * ex + cyy * ey
    cpx, cpy = cxy * ex - cxx * ey, cyy * ex - cxy * ey
    g2x = (u * cpx - v * cex) / mm if mm > 0.0 else 0.0
    g2y = (u * cpy - v * cey) / mm if mm > 0.0 else 0.0
    return F, r2, mx, my, g2x, g2y


@njit(cache=True)
def _newton(W, ex, ey, q, wmax):
    """Newton on F(q) = 0, angle(grad F, e) = 0 from q (updated in place) until both residuals are
    at rounding level (F to 1e-14 of the size of the terms <q, w_k>, the angle to 1e-12). Returns 1 on convergence."""
    F, r2, mx, my, g2x, g2y = _residual(W, q[0], q[1], ex, ey)
    for _ in range(_MAX_NEWTON):
        qn = math.sqrt(q[0] * q[0] + q[1] * q[1])
        if abs(F) <= _TOL * (1.0 + wmax * qn) and abs(r2) <= 100.0 * _TOL:
            return 1
        det = mx * g2y - my * g2x
        if not (det != 0.0 and math.isfinite(det)):
            return 0
        dx = -(g2y * F - my * r2) / det
        dy = -(-g2x * F + mx * r2) / det
        if math.sqrt(dx * dx + dy * dy) <= 1e-8 * (qn + 1.0 / wmax):  # quadratic convergence: the
            q[0], q[1] = q[0] + dx, q[1] + dy  # step leaves an error of order its square
            return 1
        merit = F * F + r2 * r2
        t = 1.0
        accepted = False
        for _h in range(_MAX_HALVING):
            nx, ny = q[0] + t * dx, q[1] + t * dy
            Fn, r2n, mxn, myn, g2xn, g2yn = _residual(W, nx, ny, ex, ey)
            if Fn * Fn + r2n * r2n <= (1.0 - 1e-4 * t) * merit:
                accepted = True
                break
            t *= 0.5
        if not accepted:  # no decrease possible: at the root to rounding, or stuck
            return 1 if merit <= 1e-20 else 0
        q[0], q[1] = nx, ny
        F, r2, mx, my, g2x, g2y = Fn, r2n, mxn, myn, g2xn, g2yn
        if t * math.sqrt(dx * dx + dy * dy) <= 1e-15 * qn:  # no progress left
            return 1 if merit <= 1e-20 else 0
    return 0


@njit(cache=True)
def _continue(W, th0, q, th1, wmax):
    """Solve at angle th1 by continuation from the solution q at angle th0 (q updated in place),
    rotating along the shorter arc in steps halved until Newton converges. Returns 1 on success."""
    left = (th1 - th0 + math.pi) % (2.0 * math.pi) - math.pi
    th = th0
    step = left
    qx, qy = q[0], q[1]
    for _ in range(_MAX_CONTINUE):
        if left == 0.0:
            return 1
        if abs(step) < 1e-7:
            return 0
        q[0], q[1] = qx, qy
        if _newton(W, math.cos(th + step), math.sin(th + step), q, wmax):
            th += step
            left -= step
            qx, qy = q[0], q[1]
            step = left if abs(left) <= 2.0 * abs(step) else 2.0 * step
        else:
            step *= 0.5
    return 0


@njit(cache=True)
def _root_alpha(u, v, beta):
    """The largest root alpha of G(alpha) = log mean exp(alpha u_k + beta v_k) = 0 (G is convex),
    with the tilted means (dG/dalpha, dG/dbeta) there; NaN when G > 0 everywhere. Newton from the
    right of the root, where it converges monotonically: at alpha0 = min over u_k > 0 of
    (log K - beta v_k)/u_k one term alone makes G >= 0, and G > 0 beyond it."""
    K = u.shape[0]
    logk = math.log(K)
    a = np.inf
    for k in range(K):
        if u[k] > 0.0:
            a = min(a, (logk - beta * v[k]) / u[k])
    for _ in range(200):
        tmax = -np.inf
        for k in range(K):
            tmax = max(tmax, a * u[k] + beta * v[k])
        sw = mu = mv = 0.0
        for k in range(K):
            w = math.exp(a * u[k] + beta * v[k] - tmax)
            sw += w
            mu += w * u[k]
            mv += w * v[k]
        G, mu, mv = tmax + math.log(sw / K), mu / sw, mv / sw
        if G <= _TOL * (1.0 + abs(tmax)):
            return a, mu, mv
        if mu <= 0.0:  # G decreasing or flat to the left of a point where G > 0: no root
            return np.nan, mu, mv
        step = G / mu
        if step <= 1e-16 * abs(a):
            return a, mu, mv
        a -= step
    return a, mu, mv


@njit(cache=True)
def _support_1d(Wn, ex, ey, q):
    """sup {<q, e> : F(q) <= 0} for e in the closed cone of the rows of Wn, by the concave 1-D
    problem max over beta of alpha(beta), the largest alpha with F(alpha e + beta e_perp) <= 0
    (S is convex, so its extent along e is concave in the offset beta). The maximum is where
    d alpha/d beta = -m_perp/m_e vanishes (m = grad F, m_e > 0 on that boundary): the offset is
    bracketed by doubling steps from beta = 0 (q = 0 lies in S) and bisected on the sign of m_perp.
    On an edge of the cone the supremum is approached as beta -> infinity; the doubling stops once
    alpha no longer grows at rounding level. The maximiser goes to q; returns the supremum."""
    K = Wn.shape[0]
    u, v = np.empty(K), np.empty(K)
    wmax = 0.0
    for k in range(K):
        u[k] = Wn[k, 0] * ex + Wn[k, 1] * ey
        v[k] = Wn[k, 1] * ex - Wn[k, 0] * ey
        wmax = max(wmax, abs(u[k]), abs(v[k]))
    b0 = 0.0
    a0, _, m0 = _root_alpha(u, v, b0)
    best, bbest = a0, b0
    if m0 == 0.0:
        q[0], q[1] = a0 * ex, a0 * ey
        return a0
    sgn = -1.0 if m0 > 0.0 else 1.0  # alpha grows towards -m_perp
    h = 1.0 / wmax
    b1 = b0
    for _ in range(200):  # bracket: [b0, b1] with the maximum inside
        b1 = b0 + sgn * h
        a1, _, m1 = _root_alpha(u, v, b1)
        if not (a1 == a1) or m1 * sgn >= 0.0:
            break
        if a1 > best:
            best, bbest = a1, b1
        if a1 - a0 <= 1e-15 * (abs(a1) + 1.0 / wmax):
            break
        b0, a0, h = b1, a1, 2.0 * h
    lo, hi = b0, b1
    for _ in range(200):  # bisection on the sign of m_perp, lo on the rising side
        mid = 0.5 * (lo + hi)
        if mid == lo or mid == hi:
            break
        am, _, mm = _root_alpha(u, v, mid)
        if am == am and am > best:
            best, bbest = am, mid
        if am == am and mm * sgn < 0.0:
            lo = mid
        else:
            hi = mid
    q[0], q[1] = best * ex - bbest * ey, best * ey + bbest * ex
    return best


@njit(cache=True)
def _node_setup(Wn):
    """Per-node constants: the drift b = mean w_j, max |w_j|, and the cone of the w_j as the gap
    of their angles wider than pi (gap_lo, gap_width; width 0 when the cone is the whole plane or
    a half-plane, which leaves the decision to the exact test)."""
    K = Wn.shape[0]
    ang = np.empty(K)
    bx = by = wmax = 0.0
    n = 0
    for j in range(K):
        bx += Wn[j, 0]
        by += Wn[j, 1]
        r = math.sqrt(Wn[j, 0] ** 2 + Wn[j, 1] ** 2)
        wmax = max(wmax, r)
        if r > 0.0:
            ang[n] = math.atan2(Wn[j, 1], Wn[j, 0])
            n += 1
    a = np.sort(ang[:n])
    gap_lo, gap_w = 0.0, 0.0
    for j in range(n):
        nxt = a[j + 1] if j + 1 < n else a[0] + 2.0 * math.pi
        if nxt - a[j] > gap_w:
            gap_lo, gap_w = a[j], nxt - a[j]
    if n == 0:
        gap_w = 2.0 * math.pi
    return bx / K, by / K, wmax, gap_lo, gap_w


@njit(cache=True)
def support_pairs(W, E, ix, ie, out, status, Q):
    """out[k] = sup {<q, E[ie[k]]> : F(q) <= 0} at node ix[k] (rows of W[ix[k]] are the w_j), for unit
    directions E, with the maximiser in Q[k]; +inf outside the closed cone of the w_j. status[k] = 1
    by Newton continuation, 2 by the bracketed 1-D solve (e between two nearly opposite w_j, or
    where the continuation stalls).

    Each node's first pair is reached by continuation in the angle from the direction of its drift
    b = mean w_j (where q = 0); the following pairs at the same node from the previous solution.
    The cone is decided once per node from the angles of the w_j; only directions within 1e-6 rad
    of its edges take the exact test relative to e."""
    q, q1, q2 = np.zeros(2), np.zeros(2), np.zeros(2)  # solution, polished 1-D solution, previous
    th_prev = th_prev2 = wmax = bx = by = gap_lo = gap_w = 0.0
    n_warm = 0
    warm = False
    for k in range(ix.shape[0]):
        n, m = ix[k], ie[k]
        ex, ey = E[m, 0], E[m, 1]
        Wn = W[n]
        status[k] = 1
        Q[k, 0] = Q[k, 1] = np.nan
        if k == 0 or ix[k - 1] != n:
            warm = False
            bx, by, wmax, gap_lo, gap_w = _node_setup(Wn)
        th = math.atan2(ey, ex)
        if gap_w > math.pi + 2e-6:  # a cone narrower than a half-plane: e in the gap is outside
            off = (th - gap_lo) % (2.0 * math.pi)
            if 1e-6 < off < gap_w - 1e-6:
                out[k] = np.inf
                continue
            near = off <= 1e-6 or off >= gap_w - 1e-6
        else:
            near = gap_w >= math.pi - 2e-6
        margin = _cone_margin(Wn, ex, ey) if near else 1.0
        if margin <= 0.0:  # strictly inside a gap of width >= pi: no positive combination reaches e
            out[k] = np.inf
            continue
        if math.sqrt(bx * bx + by * by) <= 1e-14 * wmax:  # b = 0: S = {0}
            out[k] = 0.0
            Q[k, 0] = Q[k, 1] = 0.0
            continue
        if not warm:
            q[0] = q[1] = q2[0] = q2[1] = 0.0
            th_prev = math.atan2(by, bx)
            n_warm = 0
        elif n_warm >= 2:  # predict from the two previous solutions, linear in the angle
            dth = (th - th_prev + math.pi) % (2.0 * math.pi) - math.pi
            dth0 = (th_prev - th_prev2 + math.pi) % (2.0 * math.pi) - math.pi
            if dth0 != 0.0 and abs(dth) <= 2.0 * abs(dth0):
                r = dth / dth0
                q0x, q0y = q[0], q[1]
                q[0], q[1] = q0x + r * (q0x - q2[0]), q0y + r * (q0y - q2[1])
                q2[0], q2[1] = q0x, q0y
            else:
                q2[0], q2[1] = q[0], q[1]
        else:
            q2[0], q2[1] = q[0], q[1]
        th_start = th_prev
        if margin >= _EDGE and _continue(Wn, th_prev, q, th, wmax):
            th_prev2, th_prev = th_start, th
            n_warm += 1
            warm = True
        else:
            _support_1d(Wn, ex, ey, q)
            status[k] = 2
            q1[0], q1[1] = q[0], q[1]
            warm = _newton(Wn, ex, ey, q1, wmax) == 1  # polish the 1-D solution
            if warm and q1[0] * ex + q1[1] * ey >= q[0] * ex + q[1] * ey - 1e-12 * (1.0 + abs(q[0]) + abs(q[1])):
                q[0], q[1] = q1[0], q1[1]
                th_prev, n_warm = th, 1
            else:
                warm = False
        out[k] = max(q[0] * ex + q[1] * ey, 0.0)
        Q[k, 0], Q[k, 1] = q[0], q[1]
    return out, status
