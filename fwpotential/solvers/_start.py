"""Initial values near the attractor, shared by the grid solvers."""

from __future__ import annotations

import numpy as np

from ..errors import GridError


def start_values(dynamics, grid, attractor, radius):
    """Lyapunov quadratic ½ (x - x*)ᵀ ∇²V(x*) (x - x*) on nodes within ``radius`` of x*.

    For a set attractor, V = 0 on its mask. Returns ``(V0, init)``: V0 of ``grid.shape`` with +inf
    off the start set, and the boolean start set. The ball always holds the corners of the cell
    containing x* (radius at least one cell diagonal).
    """
    if attractor.mask is not None:
        V0 = np.where(attractor.mask, 0.0, np.inf)
        return V0, attractor.mask.copy()
    xs = attractor.point
    h = grid.spacing
    radius = max(float(radius), float(np.linalg.norm(h)) * (1 + 1e-9))
    # restrict to the bounding box of the ball for speed
    lo = np.maximum(np.floor((xs - radius - grid.lower) / h).astype(int), 0)
    hi = np.minimum(np.ceil((xs + radius - grid.lower) / h).astype(int), np.array(grid.shape) - 1)
    sl = tuple(slice(a, b + 1) for a, b in zip(lo, hi))
    axes = [ax[s] for ax, s in zip(grid.axes, sl)]
    pts = np.stack(np.meshgrid(*axes, indexing="ij"), -1)
    dx = pts - xs
    Hs = dynamics.potential_hessian(xs)
    q = 0.5 * np.einsum("...i,ij,...j->...", dx, Hs, dx)
    inside = np.linalg.norm(dx, axis=-1) <= radius
    V0 = np.full(grid.shape, np.inf)
    init = np.zeros(grid.shape, bool)
    V0[sl] = np.where(inside, q, np.inf)
    init[sl] = inside
    if init.all():
        raise GridError(f"the start ball of radius {radius:g} covers the whole grid; refine the grid or enlarge it")
    return V0, init
