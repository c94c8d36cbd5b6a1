"""Basin and core labels of points for the Monte Carlo statistics: the nearest node of a landscape's
grid, its basin, and the cores of the attractors (for exit statistics); or, for a transition
network in any dimension, the attractor a quench of the drift reaches and the cores cut toward the
network's saddles (:class:`NetworkLabels`)."""

from __future__ import annotations

import hashlib
import math

import numpy as np

from fwpotential.errors import InputError
from fwpotential.paths.quench import capture_radius, quench

__all__ = ["Labels", "NetworkLabels", "core_labels", "labels_key", "network_key", "same_grid"]


def same_grid(a, b):
    """True when grids a and b have the same bounds and shape."""
    return tuple(a.bounds) == tuple(b.bounds) and tuple(a.shape) == tuple(b.shape)


def labels_key(land):
    """A short hash of a landscape's basin map, attractors and grid, or of a transition network's
    attractors and saddles (:func:`network_key`): which run recorded what."""
    if getattr(land, "grid", None) is None:
        return network_key(land)
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


#: Local error per Heun step (relative to the step's length) of the labelling quench: a basin
#: decision needs the flow's destination, not its path, and a crude path costs far fewer drift
#: evaluations (tests/test_montecarlo_network.py checks the labels against the exact separatrix
#: for points 0.02 or more from it, in d = 10 and 100).
LABEL_RTOL = 0.2
#: Largest label interval in steps chosen automatically.
MAX_LABEL_EVERY = 1000
#: Standard deviations of one interval's noise displacement that fit in the gap between a core and
#: the saddles (see :meth:`NetworkLabels.interval`).
LABEL_Z = 3.0


def network_key(net):
    """A short hash of a transition network's attractors and saddles (which run recorded what)."""
    h = hashlib.sha256(b"network")
    h.update(np.ascontiguousarray(np.asarray(net.attractors, dtype=float)).tobytes())
    h.update(np.ascontiguousarray(np.asarray(net.saddles, dtype=float).reshape(-1)).tobytes())
    return h.hexdigest()[:16]


def _milestones(att, sad, joins):
    """Per attractor, the points its core is cut toward: the saddles that join it (``joins``), else
    every saddle, else the midpoints to the other attractors. Returns U (m, q, d) with rows
    (s - a) / |s - a|² (zero rows pad), so that <x - a, u> is the fraction of the way to s, and the
    points s (m, q, d) (the attractor itself in padding rows)."""
    m, d = att.shape
    targets = []
    for i in range(m):
        mine = sad[np.any(joins == i, axis=1)] if len(sad) and joins.shape == (len(sad), 2) else sad[:0]
        if len(mine) == 0:
            mine = sad if len(sad) else 0.5 * (np.delete(att, i, axis=0) + att[i])
        targets.append(mine)
    q = max(1, max(len(t) for t in targets))
    U = np.zeros((m, q, d))
    S = np.repeat(att[:, None, :], q, axis=1)
    for i, t in enumerate(targets):
        v = t - att[i]
        n2 = np.einsum("qd,qd->q", v, v)
        U[i, : len(t)] = v / np.where(n2 > 0, n2, 1.0)[:, None]
        S[i, : len(t)] = t
    return U, S


class NetworkLabels:
    """Basins and cores of a :class:`~fwpotential.analysis.network.TransitionNetwork`'s attractors,
    for points in any dimension (no grid).

    The basin of a point is the attractor its quench reaches (:func:`fwpotential.paths.quench.quench`
    of ẋ = b(x), capture radius :func:`~fwpotential.paths.quench.capture_radius` of the network's
    attractors and saddles, local error ``LABEL_RTOL``); -1 when it reaches none. The core of
    attractor i is the part of its basin that has gone less than ``core_radius`` of the way from
    x_i to each saddle joining i: <x - x_i, s - x_i> <= core_radius |s - x_i|² (a slab, not a
    ball: in d dimensions the stationary spread in the directions along no saddle grows like √d
    and would leave every ball of fixed radius).

    Parameters
    ----------
    net : TransitionNetwork
        Its ``attractors`` (m, d), ``saddles`` (k, d) and ``saddle_joins`` (k, 2).
    dynamics : Dynamics
        The drift b of the quench.
    core_radius : float
        Fraction of the way to the saddles, in (0, 1).
    """

    def __init__(self, net, dynamics, core_radius):
        d = dynamics.dim
        att = np.asarray(net.attractors, dtype=float)
        if att.ndim != 2 or att.shape[0] == 0:
            raise InputError(f"network.attractors must have shape (m, d) with m >= 1, got {att.shape}")
        if att.shape[1] != d:
            raise InputError(f"the network is {att.shape[1]}-D, the dynamics {d}-D; pass the network of these dynamics")
        sad = np.asarray(net.saddles, dtype=float)
        sad = np.zeros((0, d)) if sad.size == 0 else sad
        if sad.ndim != 2 or sad.shape[1] != d:
            raise InputError(f"network.saddles must have shape (k, {d}), got {sad.shape}")
        if not (np.all(np.isfinite(att)) and np.all(np.isfinite(sad))):
            raise InputError("network.attractors and network.saddles must be finite")
        if not 0.0 < float(core_radius) < 1.0:
            raise InputError(
                f"core_radius must be in (0, 1) for a network (fraction of the way to the saddles), got {core_radius!r}"
            )
        joins = np.asarray(getattr(net, "saddle_joins", np.zeros((0, 2))), dtype=np.int64).reshape(-1, 2)
        self.dyn, self.att, self.saddles = dynamics, att, sad
        self.m, self.core_radius = len(att), float(core_radius)
        self.radius = capture_radius(att, sad if len(sad) else None)
        self.U, self.milestones = _milestones(att, sad, joins)
        self.key = network_key(net)

    def lookup(self, x):
        """(basin label, core label) of points (n, d): quench labels, -1 for none."""
        basin = quench(self.dyn, x, self.att, radius=self.radius, rtol=LABEL_RTOL)
        core = np.full_like(basin, -1)
        for i in range(self.m):
            mine = np.flatnonzero(basin == i)
            frac = (x[mine] - self.att[i]) @ self.U[i].T  # (n_i, q): fractions of the way to the saddles
            core[mine[frac.max(axis=1) <= self.core_radius]] = i
        return basin, core

    def interval(self, noise_std):
        """The label interval k (steps) for a per-step noise displacement of standard deviation
        ``noise_std[i, q]`` along the direction from attractor i to its milestone q (in units of
        that distance, as the rows of ``U``; the larger of the values at the two ends).

        Over k steps the noise moves a chain along such a direction by √k σ (one standard
        deviation, σ the largest per-step value); k is the largest interval with
        LABEL_Z √k σ <= 1 - core_radius, the gap between a core's boundary and the saddles:
        k = floor(((1 - core_radius) / (LABEL_Z σ))²), clipped to [1, MAX_LABEL_EVERY]. A chain can
        then enter a core and leave it again between two labels only by an excursion of LABEL_Z
        standard deviations (probability about 0.3 % per interval at LABEL_Z = 3), so core entries
        are rarely missed and each transition is counted at its first label inside the new core,
        at most k steps late. Occupations do not depend on k.
        """
        s = float(np.max(noise_std)) if np.size(noise_std) else 0.0
        if not s > 0:
            return MAX_LABEL_EVERY
        k = math.floor(((1.0 - self.core_radius) / (LABEL_Z * s)) ** 2)
        return int(min(max(k, 1), MAX_LABEL_EVERY))
