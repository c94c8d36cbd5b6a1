"""Initial values near the attractor, shared by the grid solvers.

A point attractor x* starts the solvers from the Lyapunov quadratic ½ (x - x*)ᵀ ∇²V(x*) (x - x*)
on a small ball. Its default radius comes from the grid spacing and from x*'s own scale, never
from the size of the box: ``START_CELLS`` grid spacings, shrunk where the cubic term of V at x*
(``_jet.third_order``) exceeds ``CUBIC_TOL`` times the quadratic, and at least one cell diagonal.
A ball of a fixed number of cells shrinks with h, so its error (the cubic term, O(h³)) stays below
the solvers' O(h) error; a ball of a fixed fraction of the box would reach the saddle of an
attractor whose basin is small compared with the box.
"""

from __future__ import annotations

import numpy as np

from fwpotential.errors import GridError
from fwpotential.solvers.jet import third_order

#: default start radius in grid spacings (the largest spacing)
START_CELLS = 3.0
#: largest relative size of the cubic term of V against the quadratic on the default start ball
CUBIC_TOL = 0.1
_N_DIRECTIONS = 2000  # unit directions sampled for the cubic-to-quadratic ratio


def quadratic_scale(dynamics, x_star, step) -> float:
    """Distance from x* at which the cubic term of V equals the quadratic one (+inf if V is quadratic).

    min over unit u of 3 uᵀQu / |T[u, u, u]|, Q = ∇²V(x*), T = ∇³V(x*) from H(x, ∇V) = 0 by central
    differences of step ``step``. About the distance to the nearest saddle for a double well.
    """
    xs = np.asarray(x_star, float)
    Q = np.asarray(dynamics.potential_hessian(xs), float)
    with np.errstate(all="ignore"):
        try:
            T, _ = third_order(dynamics, xs, Q, float(step))
        except np.linalg.LinAlgError:
            return np.inf
    if not np.all(np.isfinite(T)):
        return np.inf
    u = np.random.default_rng(0).normal(size=(_N_DIRECTIONS, xs.size))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    quad = np.einsum("ni,ij,nj->n", u, Q, u)
    cub = np.abs(np.einsum("ijk,ni,nj,nk->n", T, u, u, u))
    ratio = np.max(cub / (3.0 * quad))
    return float(1.0 / ratio) if ratio > 0 else np.inf


def default_radius(dynamics, grid, attractor) -> float:
    """Default start radius: ``START_CELLS`` · max(h), at most ``CUBIC_TOL`` · ``quadratic_scale``
    (where the cubic term is 10 % of the quadratic), at least one cell diagonal. 0 for a set."""
    if attractor.mask is not None:
        return 0.0
    h = np.asarray(grid.spacing, float)
    diag = float(np.linalg.norm(h))
    radius = START_CELLS * float(np.max(h))
    scale = quadratic_scale(dynamics, attractor.point, 1e-2 * float(np.min(h)))
    return max(min(radius, CUBIC_TOL * scale), diag)


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
