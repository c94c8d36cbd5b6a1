"""Deterministic flow dx/dt = b(x): basins of attraction on a grid, and where orbits end."""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def _unit_drift(dynamics, x):
    b = dynamics.drift(x)
    n = np.linalg.norm(b, axis=-1, keepdims=True)
    return np.where(n > 0, b / np.where(n > 0, n, 1.0), 0.0)


def _advance(dynamics, x, ds):
    """One midpoint (RK2) step of arc length ds along the normalised flow b/|b|."""
    xm = x + 0.5 * ds * _unit_drift(dynamics, x)
    return x + ds * _unit_drift(dynamics, xm)


def capture_labels(grid, targets, radius):
    """Grid-shaped int map: j on nodes within ``radius`` of target j (points or masks), else -1."""
    lab = np.full(grid.shape, -1, dtype=np.int64)
    X = grid.points()
    for j, t in enumerate(targets):
        if t.mask is not None:
            near = dilate(t.mask, int(np.ceil(radius / float(np.min(grid.spacing)))))
        else:
            near = np.linalg.norm(X - t.point, axis=-1) <= radius
        lab[near & (lab == -1)] = j
    return lab


def dilate(mask, k):
    """``mask`` grown by ``k`` steps to the 2·d face neighbours of each node (no wrap at the box edges)."""
    if k <= 0:
        return mask.copy()
    return ndimage.binary_dilation(mask, structure=ndimage.generate_binary_structure(mask.ndim, 1), iterations=k)


def _advance_time(dynamics, x, ds, tcap):
    """Midpoint step in time, dt = min(ds/|b|, tcap): arc length ds far from equilibria, a bounded
    time step near them (where orbits spiral or creep)."""
    b = dynamics.drift(x)
    nb = np.linalg.norm(b, axis=-1, keepdims=True)
    dt = np.minimum(ds / np.maximum(nb, 1e-300), tcap)
    xm = x + 0.5 * dt * b
    return x + dt * dynamics.drift(xm), nb[..., 0]


def follow(dynamics, x, grid, capture, *, ds=None, max_steps=None, tcap=None):
    """Integrate orbits from points x (n, d) until they enter a capture region.

    Returns labels (n,): the capture label reached, -1 if the orbit left the box or did not arrive
    within ``max_steps`` (e.g. it sits on a stable manifold of a saddle).
    """
    h = float(np.min(grid.spacing))
    ds = 2.0 * h if ds is None else ds
    if max_steps is None:
        max_steps = int(4 * np.sum(np.array(grid.shape)) + 400)
    if tcap is None:  # a fraction of the flow's time scale at the grid nodes (median)
        J = dynamics.drift_jacobian(grid.points().reshape(-1, grid.dim)[:: max(1, grid.size // 4096)])
        tcap = 0.1 / max(float(np.median(np.abs(J).sum(axis=-1).max(axis=-1))), 1e-300)
    sample = grid.points().reshape(-1, grid.dim)[:: max(1, grid.size // 4096)]
    stall = 1e-7 * float(np.median(np.linalg.norm(dynamics.drift(sample), axis=-1)))
    x = np.array(x, dtype=float, copy=True)
    labels = np.full(len(x), -1, dtype=np.int64)
    active = np.arange(len(x))
    outside = np.zeros(len(x), dtype=np.int64)  # consecutive steps spent outside the grid
    max_outside = int(np.sum(np.array(grid.shape)) // 2 + 20)
    # orbits may leave the box and come back: give up one box size beyond it
    lo, hi = grid.lower - (grid.upper - grid.lower), grid.upper + (grid.upper - grid.lower)
    for _ in range(max_steps):
        if active.size == 0:
            break
        idx = grid.nearest_indices(x[active])
        inside = np.all((x[active] >= lo) & (x[active] <= hi), axis=-1)
        lab = capture[tuple(idx.T)]
        in_grid = np.all((x[active] >= grid.lower) & (x[active] <= grid.upper), axis=-1)
        hit = inside & in_grid & (lab >= 0)
        labels[active[hit]] = lab[hit]
        outside[active] = np.where(in_grid, 0, outside[active] + 1)
        active = active[inside & ~hit & (outside[active] <= max_outside)]
        if active.size:
            x[active], speed = _advance_time(dynamics, x[active], ds, tcap)
            active = active[speed > stall]  # resting at an equilibrium that is not a target
    return labels


def basins(dynamics, grid, targets, *, capture_radius=None, hop_cells=3.0):
    """Basin map: for every node the index of the attractor its orbit reaches, -1 for none.

    Each node is moved ``hop_cells`` cells along the flow and linked to the nearest node there;
    pointer jumping resolves the links; nodes left unresolved (cycles of the links, slow spirals)
    are integrated in full with :func:`follow`.
    """
    h = float(np.min(grid.spacing))
    radius = 1.5 * float(np.linalg.norm(grid.spacing)) if capture_radius is None else capture_radius
    capture = capture_labels(grid, targets, radius)
    X = grid.points().reshape(-1, grid.dim)
    n = len(X)
    y = X.copy()
    n_sub = int(np.ceil(2 * hop_cells))
    for _ in range(n_sub):
        y = _advance(dynamics, y, hop_cells * h / n_sub)
    lo, hi = grid.lower - 0.5 * grid.spacing, grid.upper + 0.5 * grid.spacing
    out = ~np.all((y >= lo) & (y <= hi), axis=-1)
    idx = grid.nearest_indices(y)
    nxt = np.ravel_multi_index(tuple(idx.T), grid.shape)
    cap = capture.reshape(-1)
    # terminal states: captured (label >= 0) or out of the box (-2)
    SINK_OUT = n
    # a hop that leaves the box is left for full integration (orbits may come back)
    ptr = np.where(cap >= 0, np.arange(n), np.where(out, n + 1, nxt))
    ptr = np.append(ptr, [SINK_OUT, n + 1])
    for _ in range(int(np.ceil(np.log2(n + 2))) + 2):
        ptr = ptr[ptr]
    end = ptr[:n]
    labels = np.where(end < n, cap[np.minimum(end, n - 1)], -1)
    unresolved = labels < 0
    if unresolved.any():
        # chain into resolved territory: a node whose 3^d neighbourhood all reached the same
        # attractor captures an orbit that passes it
        lab = labels.reshape(grid.shape)
        interior = lab.copy()
        for shift in np.ndindex(*(3,) * grid.dim):
            sl_dst = tuple(slice(max(0, 1 - s), n - max(0, s - 1)) for s, n in zip(shift, grid.shape))
            sl_src = tuple(slice(max(0, s - 1), n - max(0, 1 - s)) for s, n in zip(shift, grid.shape))
            same = np.zeros(grid.shape, bool)
            same[sl_dst] = lab[sl_src] == lab[sl_dst]
            edge = np.ones(grid.shape, bool)
            edge[sl_dst] = False
            interior = np.where(same | edge, interior, -1)
        labels[unresolved] = follow(dynamics, X[unresolved], grid, np.where(capture >= 0, capture, interior))
    return labels.reshape(grid.shape)
