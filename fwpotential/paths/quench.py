"""Quenches: the deterministic flow ẋ = b(x) followed from many points at once to the attractor it
reaches, in any dimension. Monte Carlo labels chains by it; saddle searches read a saddle's joins
off it."""

from __future__ import annotations

import numpy as np

from fwpotential.errors import InputError, NonFiniteError

__all__ = ["quench", "capture_radius"]


def capture_radius(attractors, saddles=None, *, fraction=0.25):
    """A radius r_i per attractor inside which a point is taken to belong to it: ``fraction`` of the
    distance to the nearest other attractor or saddle (all attractors: the smallest such distance when
    there is one attractor and no saddle, 1.0). Shape (m,)."""
    att = np.atleast_2d(np.asarray(attractors, dtype=float))
    others = att if saddles is None or len(saddles) == 0 else np.vstack([att, np.atleast_2d(saddles)])
    dist = np.linalg.norm(att[:, None, :] - others[None, :, :], axis=-1)
    dist[np.arange(len(att)), np.arange(len(att))] = np.inf
    near = dist.min(axis=1)
    return fraction * np.where(np.isfinite(near), near, 4.0)


def quench(dyn, x, attractors, *, radius=None, rtol=1e-3, max_steps=20_000, chunk=4096):
    """Follow ẋ = b(x) from each point until it enters the capture ball of an attractor.

    Heun steps with a per-point step size (local error ≤ ``rtol`` × the step's length), vectorised
    over the points: cost per step linear in n·d.

    Parameters
    ----------
    dyn : Dynamics
    x : (n, d) or (d,)
        Starting points.
    attractors : (m, d)
        Stable equilibria.
    radius : float or (m,), optional
        Capture radius per attractor (default :func:`capture_radius`).
    rtol : float
        Local error per step relative to its length.
    max_steps : int
        Points still free after this many steps get label -1.

    Returns
    -------
    labels : ndarray (n,) of int
        Index of the attractor reached, -1 when none (the flow stalled at another equilibrium, left
        every ball for ``max_steps`` steps, or the drift was not finite).
    """
    att = np.atleast_2d(np.asarray(attractors, dtype=float))
    pts = np.atleast_2d(np.asarray(x, dtype=float))
    if att.shape[-1] != dyn.dim or pts.shape[-1] != dyn.dim:
        raise InputError(f"points and attractors must have {dyn.dim} coordinates, got {pts.shape} and {att.shape}")
    r = capture_radius(att) if radius is None else np.broadcast_to(np.asarray(radius, dtype=float), (len(att),))
    out = np.full(len(pts), -1, dtype=np.int64)
    for k0 in range(0, len(pts), chunk):
        out[k0 : k0 + chunk] = _quench_block(dyn, pts[k0 : k0 + chunk].copy(), att, r, rtol, max_steps)
    return out


def _drift_or_nan(dyn, x):
    """b at each row of x, NaN rows where the drift is not finite (those points stop)."""
    try:
        return dyn.drift(x)
    except NonFiniteError:
        out = np.full_like(x, np.nan)
        for i, xi in enumerate(x):
            try:
                out[i] = dyn.drift(xi)
            except NonFiniteError:
                pass
        return out


def _captured(x, att, r):
    dist = np.linalg.norm(x[:, None, :] - att[None, :, :], axis=-1) / r
    k = np.argmin(dist, axis=1)
    return np.where(dist[np.arange(len(x)), k] <= 1.0, k, -1)


def _quench_block(dyn, x, att, r, rtol, max_steps):
    labels = _captured(x, att, r)
    free = np.flatnonzero(labels < 0)
    scale = float(np.min(r))
    dt = np.full(len(x), np.nan)
    for _ in range(max_steps):
        if free.size == 0:
            break
        xf = x[free]
        b0 = _drift_or_nan(dyn, xf)
        speed = np.linalg.norm(b0, axis=1)
        ok = np.isfinite(speed) & (speed > 1e-12 * scale)
        dtf = np.where(np.isnan(dt[free]), 0.1 * scale / np.maximum(speed, 1e-300), dt[free])
        b1 = _drift_or_nan(dyn, xf + dtf[:, None] * np.nan_to_num(b0))
        err = 0.5 * dtf * np.linalg.norm(b1 - b0, axis=1)
        step = dtf * speed
        good = ok & np.isfinite(err) & (err <= rtol * np.maximum(step, 1e-300) + 1e-14 * scale)
        xf[good] += 0.5 * dtf[good, None] * (b0[good] + b1[good])
        grow = np.where(good, np.minimum(2.0, 0.9 * np.sqrt(rtol * step / np.maximum(err, 1e-300))), 0.5)
        dt[free] = np.minimum(dtf * np.maximum(grow, 0.1), 0.5 * scale / np.maximum(speed, 1e-300))
        x[free] = xf
        lab = _captured(xf, att, r)
        labels[free] = lab
        dead = ~ok  # stalled away from every attractor, or not finite
        keep = (lab < 0) & ~dead
        free = free[keep]
    return labels
