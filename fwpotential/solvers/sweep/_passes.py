"""The Gauss–Seidel pass skeleton and stencil geometry shared by the kernels of method="sweep".

Every pass visits the nodes in one of the 2^d alternating orderings (signs ``s`` = +-1 per axis,
``axis_index``), updates V in place by ``V <- min(V, scheme(neighbours))`` and returns the largest
decrease. Nodes with ``fixed`` set (the start set near the attractor) are never changed; ``lock``
implements the "locking" speed-up of fast sweeping: a node is recomputed only if a node its
stencil reads decreased since its last visit (1 = nothing changed around it); the ``unlock_*``
helpers clear the lock of those nodes after a decrease. Unreached nodes hold +inf; no fastmath.

The semi-Lagrangian Gaussian kernels (``_sl2d.sl_pass_2d``, ``_sl3d.sl_pass_3d``) are written
from these helpers (a loop over the raster, ``visit``, the scheme's update, ``unlock_*``). The
other kernels (Lax–Friedrichs, the two cost-table kernels, Godunov) write the same loop out:
with these helpers and their node update in a function of its own, Numba compiles them into
passes 7 % (Godunov) to 2x (2-D cost table) slower. The skeleton is not one kernel taking the update as a first-class
function either: Numba specialises such a kernel per function object and never finds it in its
cache, so every process would compile it again. Numba's cache checks only the file of the
cached function: after editing this file, clear the cache directory (``fwpotential._cache``).
"""

from __future__ import annotations

import itertools

import numpy as np
from numba import njit

#: 2-D ring of the 8 neighbours, counter-clockwise; face k joins RING2[k] and RING2[(k + 1) % 8]
RING2 = np.array([[1, 0], [1, 1], [0, 1], [-1, 1], [-1, 0], [-1, -1], [0, -1], [1, -1]], dtype=np.int64)


@njit(cache=True, inline="always")
def axis_index(a, n, s):
    """Index of the a-th node along an axis of n nodes in the ordering s = +-1."""
    return a if s > 0 else n - 1 - a


@njit(cache=True, inline="always")
def visit(fixed, lock, idx):
    """True when the node idx (an index or a tuple of indices) is to be recomputed; locks it."""
    if fixed[idx] or lock[idx]:
        return False
    lock[idx] = 1
    return True


@njit(cache=True, inline="always")
def unlock_ring1(lock, i, j):
    """Unlock the 8 neighbours of node (i, j) (2-D)."""
    n0, n1 = lock.shape
    for k in range(8):
        ni = i + RING2[k, 0]
        nj = j + RING2[k, 1]
        if 0 <= ni < n0 and 0 <= nj < n1:
            lock[ni, nj] = 0


@njit(cache=True, inline="always")
def unlock_square(lock, i, j, R):
    """Unlock the square of half-width R around node (i, j) (2-D)."""
    n0, n1 = lock.shape
    for ni in range(max(i - R, 0), min(i + R + 1, n0)):
        for nj in range(max(j - R, 0), min(j + R + 1, n1)):
            lock[ni, nj] = 0


@njit(cache=True, inline="always")
def unlock_offsets_3d(lock, i, j, m, offs):
    """Unlock the nodes (i, j, m) + offs[q] inside the grid (3-D)."""
    n0, n1, n2 = lock.shape
    for q in range(offs.shape[0]):
        ni = i + offs[q, 0]
        nj = j + offs[q, 1]
        nm = m + offs[q, 2]
        if 0 <= ni < n0 and 0 <= nj < n1 and 0 <= nm < n2:
            lock[ni, nj, nm] = 0


@njit(cache=True)
def ring_offset(q, K):
    """Offset (cell units) of node q (0 <= q < 8K) of the square ring of radius K, counter-clockwise
    from (K, 0); the same order as ring_table."""
    if q <= K:
        return K, q
    if q <= 3 * K:
        return 2 * K - q, K
    if q <= 5 * K:
        return -K, 4 * K - q
    if q <= 7 * K:
        return q - 6 * K, -K
    return K, q - 8 * K


@njit(cache=True)
def ring_position(dx, dy, K):
    """Fractional ring index (0 <= pos < 8K) where the ray from the node in direction (dx, dy)
    (cell units) crosses the ring of radius K."""
    ax = abs(dx)
    ay = abs(dy)
    if ax >= ay:
        py = K * dy / ax
        if dx > 0:
            return py if py >= 0 else 8 * K + py
        return 4 * K - py
    px = K * dx / ay
    if dy > 0:
        return 2 * K - px
    return 6 * K + px


def ring_table(radii):
    """Offsets of the nodes of the rings ``radii`` (as ring_offset), concatenated: (offs (M, 2),
    base (len(radii),)), ring k occupying offs[base[k] : base[k] + 8 radii[k]]."""
    parts = []
    base = []
    n = 0
    for r in radii:
        o = np.array([ring_offset(q, int(r)) for q in range(8 * int(r))], dtype=np.int64)
        parts.append(o)
        base.append(n)
        n += len(o)
    return np.ascontiguousarray(np.concatenate(parts)), np.array(base, dtype=np.int64)


def ring3():
    """The 26 neighbour offsets in 3-D, the 48 Kuhn triangles of the cube surface and their 72 edges.

    Triangle (perm, signs): axis offset s_i e_i, edge offset s_i e_i + s_j e_j, corner offset
    s_i e_i + s_j e_j + s_k e_k. Returned as index arrays into the offset list.
    """
    offs = [o for o in itertools.product((-1, 0, 1), repeat=3) if any(o)]
    index = {o: n for n, o in enumerate(offs)}
    tris = []
    for perm in itertools.permutations(range(3)):
        for signs in itertools.product((-1, 1), repeat=3):
            v = [0, 0, 0]
            verts = []
            for axis in perm:
                v[axis] = signs[axis]
                verts.append(index[tuple(v)])
            tris.append(verts)
    edges = set()
    for a, b, c in tris:
        for e in ((a, b), (b, c), (a, c)):
            edges.add(tuple(sorted(e)))
    return (
        np.array(offs, dtype=np.int64),
        np.array(tris, dtype=np.int64),
        np.array(sorted(edges), dtype=np.int64),
    )
