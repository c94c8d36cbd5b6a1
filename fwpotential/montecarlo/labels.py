"""Basin and core labels of points for the Monte Carlo statistics: the nearest node of a landscape's
grid, its basin, and the cores of the attractors (for exit statistics)."""

from __future__ import annotations

import hashlib

import numpy as np

from fwpotential.errors import InputError

__all__ = ["Labels", "core_labels", "labels_key", "same_grid"]


def same_grid(a, b):
    """True when grids a and b have the same bounds and shape."""
    return tuple(a.bounds) == tuple(b.bounds) and tuple(a.shape) == tuple(b.shape)


def labels_key(land):
    """A short hash of a landscape's basin map, attractors and grid (which run recorded what)."""
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(np.asarray(land.basins, dtype=np.int64)).tobytes())
    h.update(np.ascontiguousarray(np.asarray(land.attractors, dtype=float)).tobytes())
    h.update(repr(land.grid).encode())
    return h.hexdigest()[:16]


def core_labels(land, core_radius=0.5):
    """Grid map of attractor cores: label k on nodes of basin k within ``core_radius`` × (distance
    from attractor k to its nearest saddle or other attractor), -1 elsewhere."""
    pts = land.grid.points().reshape(-1, land.grid.dim)
    basins = np.asarray(land.basins).reshape(-1)
    att = np.atleast_2d(np.asarray(land.attractors, dtype=float))
    sad = np.atleast_2d(np.asarray(getattr(land, "saddles", np.zeros((0, att.shape[1]))), dtype=float)).reshape(
        -1, att.shape[1]
    )
    cores = np.full(basins.shape, -1, dtype=np.int64)
    for k, a in enumerate(att):
        others = [np.linalg.norm(sad - a, axis=1)] if len(sad) else []
        if len(att) > 1:
            others.append(np.linalg.norm(np.delete(att, k, axis=0) - a, axis=1))
        dist = min((o.min() for o in others), default=np.inf)
        if not np.isfinite(dist):
            dist = float(np.max(land.grid.upper - land.grid.lower))
        r = core_radius * dist
        near = (basins == k) & (np.linalg.norm(pts - a, axis=1) <= max(r, 0.51 * float(np.max(land.grid.spacing))))
        cores[near] = k
    return cores


class Labels:
    """Basin map and cores of a landscape as flat arrays for the kernels (m = 0: no landscape)."""

    def __init__(self, land, core_radius, d):
        self.m = 0
        self.key = None
        if land is None:
            self.lower = np.zeros(d)
            self.inv_h = np.ones(d)
            self.shape = np.ones(d, np.int64)
            self.basins = np.zeros(0, np.int64)
            self.cores = np.zeros(0, np.int64)
            return
        g = land.grid
        if g.dim != d:
            raise InputError(f"landscape grid is {g.dim}-D, dynamics {d}-D")
        basins = np.asarray(land.basins)
        if basins.shape != g.shape:
            raise InputError(f"landscape.basins has shape {basins.shape}, its grid {g.shape}")
        self.m = len(np.atleast_2d(land.attractors))
        self.lower, self.inv_h, self.shape = g.lower.astype(float), 1.0 / g.spacing, np.array(g.shape, np.int64)
        self.basins = np.ascontiguousarray(basins.reshape(-1).astype(np.int64))
        self.basins[(self.basins < 0) | (self.basins >= self.m)] = -1
        self.cores = np.ascontiguousarray(core_labels(land, core_radius))
        self.key = labels_key(land)

    def lookup(self, x):
        """(basin label, core label) of points (n, d)."""
        if not self.m:
            return None, None
        r = (x - self.lower) * self.inv_h
        inside = np.all((r >= -0.5) & (r < self.shape - 0.5), axis=1)
        k = np.floor(np.where(inside[:, None], r, 0.0) + 0.5).astype(np.int64)
        flat = np.ravel_multi_index(tuple(k.T), tuple(self.shape))
        return np.where(inside, self.basins[flat], -1), np.where(inside, self.cores[flat], -1)
