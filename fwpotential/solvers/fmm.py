"""Eikonal reduction solved by scikit-fmm (theory.md §3).

For b = -∇f and isotropic noise whose variance is a function of the loss value, a = s(f) I
(Langevin: s = 2; constant isotropic SGD noise; ``IsotropicNoise("0.5 + f")``), the quasi-potential
is exactly

    V(x) = D(x) + G(f(x)) - G(f*),   G' = 1/s,   |∇D| = |∇f| / s,  D = 0 at x*,

valid everywhere, past saddles and in other basins. D is scikit-fmm's ``travel_time`` with speed
s/|∇f|, started from a level set {D = δ}
on a small ball around x* (the speed is singular at x*), where D = G(f) - G(f*) exactly. G is
integrated per node by Gauss–Legendre quadrature in f.
"""

from __future__ import annotations

import time

import numpy as np
import skfmm

from fwpotential.errors import CovarianceError, GridError, InputError

OPTIONS = frozenset({"radius", "order"})
ORDER = 2.0


def solve(dynamics, grid, attractor, *, radius=None, order=2):
    s_of_f = dynamics.loss_variance()
    if s_of_f is None:
        raise InputError(
            "method='fmm' needs b = -grad f with isotropic noise whose variance depends only on the loss "
            f"value (Langevin, IsotropicNoise(c) or IsotropicNoise('... f ...')); got {dynamics!r}; "
            "use method='olim' (or 'sweep') for other dynamics"
        )
    if order not in (1, 2):
        raise InputError(f"order must be 1 or 2, got {order!r}")
    t0 = time.perf_counter()
    h = grid.spacing
    X = grid.points()
    f = dynamics.loss.value(X)
    gf = np.linalg.norm(dynamics.loss.grad(X), axis=-1)
    s = s_of_f(f)
    if np.any(~np.isfinite(s)) or np.any(s <= 0):
        raise CovarianceError("noise variance s(f) must be positive and finite on the grid for method='fmm'")
    if attractor.mask is not None:
        fstar = float(f[attractor.mask].min())
        phi = np.where(attractor.mask, -1.0, 1.0)
        D_in = np.zeros(grid.shape)
        inside = attractor.mask
        delta = 0.0
        radius_used = None
    else:
        xs = attractor.point
        fstar = float(dynamics.loss.value(xs))
        HV = dynamics.potential_hessian(xs)
        dx = X - xs
        radius_used = 4.0 * float(np.linalg.norm(h)) if radius is None else float(radius)
        if radius_used < float(np.max(h)):
            raise GridError(f"radius={radius_used:g} is smaller than a grid cell ({np.max(h):g}); enlarge it")
        lam_min = float(np.linalg.eigvalsh(HV).min())
        # In the basin's sublevel sets D = G(f) - G(f*) exactly (the climb along reversed gradient lines
        # attains the eikonal bound), so the start region carries exact values; its level δ is chosen
        # so that {D <= δ} lies inside the ball (D ≈ ¼ dxᵀ ∇²V dx near x*; at a degenerate minimum,
        # such as x**4's, below the least D on the ball's outer shell of nodes).
        D_in = _G(s_of_f, fstar, f)
        dist = np.linalg.norm(dx, axis=-1)
        ball = dist <= radius_used
        if lam_min > 0:
            delta = 0.8 * 0.25 * lam_min * radius_used**2
        else:
            shell = ball & (dist > radius_used - float(np.max(h)))
            delta = 0.8 * float(D_in[shell].min()) if shell.any() else 0.0
            if not delta > 0:
                raise InputError(
                    f"the loss has no strict minimum at x* = {xs} within radius={radius_used:g} (D = 0 on the "
                    "start ball's shell); pass attractors as a set (fw.Attractor.from_mask) for a flat minimum"
                )
        phi = np.where(ball, np.sqrt(np.maximum(D_in, 0.0)) - np.sqrt(delta), radius_used)
        inside = phi <= 0
        if inside.all():
            raise GridError(f"the start region (radius {radius_used:g}) covers the whole grid; use a smaller radius")
        if not inside.any():
            raise GridError(f"the start region (radius {radius_used:g}) holds no grid node; enlarge radius")
    with np.errstate(divide="ignore"):
        speed = np.where(gf > 0, s / gf, np.inf)
    finite_speed = speed[np.isfinite(speed)]
    # speed is infinite at critical points of f; a cap 1e10 times the slowest speed keeps the
    # crossing time of such cells negligible without overflowing scikit-fmm's update
    cap = 1e10 * (float(finite_speed.min()) if finite_speed.size else 1.0)
    speed = np.minimum(speed, cap)
    t1 = time.perf_counter()
    T = skfmm.travel_time(phi, speed, dx=[float(v) for v in h], order=int(order))
    t_fmm = time.perf_counter() - t1
    T = np.ma.filled(T, np.inf) if np.ma.isMaskedArray(T) else np.asarray(T)
    n_fixed = _fill_nan(T)
    D = np.where(inside, D_in, delta + T)
    V = D + _G(s_of_f, fstar, f)
    V[attractor.mask if attractor.mask is not None else np.zeros(grid.shape, bool)] = 0.0
    info = {
        "seconds": time.perf_counter() - t0,
        "skfmm_seconds": t_fmm,
        "radius": radius_used,
        "start_level": delta,
        "order": int(order),
        "nan_nodes_filled": n_fixed,
        "reduction": "V = D + G(f) - G(f*), |grad D| = |grad f|/s, G' = 1/s",
    }
    return np.maximum(V, 0.0), info


def _G(s_of_f, fstar, f, n=16):
    """G(f) - G(f*) = ∫_{f*}^{f} dφ / s(φ), Gauss–Legendre with n points per node."""
    t, w = np.polynomial.legendre.leggauss(n)
    t, w = 0.5 * (t + 1.0), 0.5 * w
    df = f - fstar
    acc = np.zeros_like(f)
    for tk, wk in zip(t, w):
        acc += wk / s_of_f(fstar + tk * df)
    return df * acc


def _fill_nan(T):
    """scikit-fmm's second-order update can return NaN at a node of (capped) infinite speed, i.e. a
    critical point of f lying exactly on a node; the crossing time there is ~0, so the node takes the
    smallest finite travel time of its axis neighbours. Returns the number of nodes filled."""
    bad = np.isnan(T)
    n = int(bad.sum())
    for _ in range(4):
        if not bad.any():
            break
        best = np.full(T.shape, np.inf)
        for ax in range(T.ndim):
            for sh in (1, -1):
                nb = np.roll(T, sh, axis=ax)
                edge = [slice(None)] * T.ndim
                edge[ax] = 0 if sh == 1 else -1
                nb[tuple(edge)] = np.inf
                best = np.fmin(best, np.where(np.isnan(nb), np.inf, nb))
        T[bad] = best[bad]
        bad = np.isnan(T)
    return n
