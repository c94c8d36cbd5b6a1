"""Numba kernel: the geometric cost of a discrete (finite-sum) noise law in 2-D, for many
(node, direction) pairs at once.

For Λ(p) = s log mean_k exp(-<z_k, p>/s) and drift b, H(p) = s F(p/s) with
F(q) = log mean_k exp(<q, w_k>), w_k = b - z_k the achievable velocities. The geometric cost
c(e) = min_t L(t e)/t is the support function of S = {H <= 0} (theory.md section 3):

    c(e) = s sup {<q, e> : F(q) <= 0}.

It is +inf exactly when e lies outside the closed cone spanned by the w_k (then S is unbounded
towards e), which is decided from the angles of the w_k around e. Otherwise the supremum is
attained at the point q of the boundary F = 0 whose outward normal grad F(q) is a positive
multiple of e, found by Newton's method on F(q) = 0 and angle(grad F(q), e) = 0 with backtracking on
the squared residual. Newton alone diverges from far starting points (the softmax saturates on
one atom and the Jacobian vanishes), so every solve is a continuation in the angle of e: from the
direction of b = mean w_k, where q = 0 (moving with the drift is free), or from the previous
direction at the same node, along the shorter arc (inside the cone when both ends are). Pairs
where the continuation stalls get status 0 and are left to the caller.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

_TOL = 1e-14  # residuals at which a Newton solve has converged (relative to the terms' size)
_MAX_NEWTON = 40
_MAX_HALVING = 40
_MAX_CONTINUE = 60  # Newton solves per continuation
_EDGE = 1e-9  # radians: directions this close to an edge of the cone are not solved here


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
    """pi minus the smallest angle of a pair of rows of W enclosing the unit direction e: >= 0 when e
    lies in the closed cone they span, > 0 inside it."""
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
def support_pairs(W, E, ix, ie, out, status, Q):
    """out[k] = sup {<q, E[ie[k]]> : F(q) <= 0} at node ix[k] (rows of W[ix[k]] are the w_j), for unit
    directions E, with the maximiser in Q[k]; +inf outside the cone of the w_j. status[k] = 1
    solved, 0 not converged (out NaN).

    Each node's first pair is reached by continuation in the angle from the direction of its drift
    b = mean w_j (where q = 0); the following pairs at the same node from the previous solution."""
    q = np.zeros(2)
    th_prev = wmax = 0.0
    warm = False
    for k in range(ix.shape[0]):
        n, m = ix[k], ie[k]
        ex, ey = E[m, 0], E[m, 1]
        Wn = W[n]
        status[k] = 1
        Q[k, 0] = Q[k, 1] = np.nan
        if k > 0 and ix[k - 1] != n:
            warm = False
        margin = _cone_margin(Wn, ex, ey)
        if margin < 0.0:
            out[k] = np.inf
            continue
        if margin < _EDGE:  # on the edge of the cone to rounding: left to the caller
            out[k] = np.nan
            status[k] = 0
            continue
        if not warm:
            bx = by = wmax = 0.0
            for j in range(Wn.shape[0]):
                bx += Wn[j, 0]
                by += Wn[j, 1]
                wmax = max(wmax, math.sqrt(Wn[j, 0] ** 2 + Wn[j, 1] ** 2))
            if math.sqrt(bx * bx + by * by) / Wn.shape[0] <= 1e-14 * wmax:  # b = 0: S = {0}
                out[k] = 0.0
                Q[k, 0] = Q[k, 1] = 0.0
                continue
            q[0] = q[1] = 0.0
            th_prev = math.atan2(by, bx)
        th = math.atan2(ey, ex)
        if _continue(Wn, th_prev, q, th, wmax):
            out[k] = max(q[0] * ex + q[1] * ey, 0.0)
            Q[k, 0], Q[k, 1] = q[0], q[1]
            th_prev = th
            warm = True
        else:
            out[k] = np.nan
            status[k] = 0
            warm = False
    return out, status
