"""Uniform rectilinear grids on a box."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from fwpotential.errors import DimensionError, GridError

__all__ = ["Grid", "available_memory"]


@dataclass(frozen=True, repr=False)
class Grid:
    """A uniform rectilinear grid on a box, nodes on the box's faces included.

    Parameters
    ----------
    bounds : sequence of (lo, hi)
        One pair per dimension, ``lo < hi``, finite.
    shape : int or sequence of int
        Number of nodes per dimension (at least 3).

    Notes
    -----
    Node ``(i_0, ..., i_{d-1})`` sits at ``lo_k + i_k * spacing[k]``. Arrays on the grid
    have shape ``grid.shape``; points have shape ``grid.shape + (d,)``.

    Examples
    --------
    >>> g = Grid([(-2.0, 2.0)], (5,))
    >>> g.axes[0]
    array([-2., -1.,  0.,  1.,  2.])
    """

    bounds: tuple
    shape: tuple

    def __post_init__(self):
        try:
            bounds = tuple((float(lo), float(hi)) for lo, hi in self.bounds)
        except (TypeError, ValueError) as exc:
            raise GridError(
                f"bounds must be a sequence of (lo, hi) pairs, one per dimension, got {self.bounds!r}"
            ) from exc
        shape = (self.shape,) if np.isscalar(self.shape) else tuple(self.shape)
        try:
            shape = tuple(int(n) for n in shape)
        except (TypeError, ValueError) as exc:
            raise GridError(f"shape must be integers, got {self.shape!r}") from exc
        if len(bounds) == 0:
            raise GridError("a grid needs at least one dimension")
        if len(shape) != len(bounds):
            raise DimensionError(f"grid bounds have {len(bounds)} dimension(s) but shape {shape} has {len(shape)}")
        for k, ((lo, hi), n) in enumerate(zip(bounds, shape)):
            if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
                raise GridError(f"dimension {k}: need finite lo < hi, got ({lo}, {hi})")
            if n < 3:
                raise GridError(f"dimension {k}: a grid needs at least 3 points per dimension, got {n}")
        object.__setattr__(self, "bounds", bounds)
        object.__setattr__(self, "shape", shape)

    @property
    def dim(self) -> int:
        """Number of dimensions d."""
        return len(self.shape)

    @property
    def size(self) -> int:
        """Number of nodes."""
        return int(np.prod(self.shape))

    @property
    def lower(self) -> np.ndarray:
        """Lower corner, shape (d,)."""
        return np.array([b[0] for b in self.bounds])

    @property
    def upper(self) -> np.ndarray:
        """Upper corner, shape (d,)."""
        return np.array([b[1] for b in self.bounds])

    @property
    def spacing(self) -> np.ndarray:
        """Node spacing h_k per dimension, shape (d,)."""
        return (self.upper - self.lower) / (np.array(self.shape) - 1)

    @property
    def axes(self) -> tuple:
        """Node coordinates per dimension (tuple of 1-D arrays)."""
        return tuple(np.linspace(lo, hi, n) for (lo, hi), n in zip(self.bounds, self.shape))

    def points(self) -> np.ndarray:
        """All node coordinates, shape ``grid.shape + (d,)``."""
        return np.stack(np.meshgrid(*self.axes, indexing="ij"), axis=-1)

    def half_points(self) -> np.ndarray:
        """Nodes of the grid refined by 2 (nodes and all midpoints), shape ``(2n_k - 1, ...) + (d,)``.

        Entry ``(2i + a, 2j + b)`` is the point ``x_ij + (a h_0, b h_1)/2``: every midpoint of two
        grid nodes is a node of this grid.
        """
        axes = [np.linspace(lo, hi, 2 * n - 1) for (lo, hi), n in zip(self.bounds, self.shape)]
        return np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)

    def solve_bytes(self) -> int:
        """Bytes of the arrays a quasi-potential solve on this grid holds at once (an estimate from below).

        Per node: V, status, heap position and the solver's work arrays (8 floats), plus the drift b
        (d floats) and the noise matrix (d² floats) tabulated at the nodes and the midpoints between
        them (2^d points per node).
        """
        d = self.dim
        return 8 * math.prod(self.shape) * (8 + 2**d * (d + d * d))  # Python ints: no overflow

    def check_memory(self, what="a quasi-potential solve"):
        """Raise :class:`GridError` when :meth:`solve_bytes` exceeds the memory available now."""
        need, have = self.solve_bytes(), available_memory()
        if have is not None and need > have:
            raise GridError(
                f"{what} on the grid {self.shape} ({math.prod(self.shape):.3g} nodes) needs about {need / 2**30:.3g} GiB, "
                f"more than the {have / 2**30:.3g} GiB of memory available; use fewer nodes per dimension "
                f"(memory grows as the number of nodes) or a smaller box at the same spacing"
            )

    def contains(self, x, *, tol: float = 0.0) -> bool:
        """Whether point ``x`` (shape (d,)) lies in the box, up to ``tol`` cells."""
        x = np.asarray(x, dtype=float).reshape(-1)
        if x.size != self.dim:
            return False
        pad = tol * self.spacing
        return bool(np.all(x >= self.lower - pad) and np.all(x <= self.upper + pad))

    def nearest_index(self, x) -> tuple:
        """Index of the node nearest to the point ``x`` (d,), clipped to the box."""
        return tuple(int(i) for i in self.nearest_indices(np.asarray(x, dtype=float).reshape(-1)))

    def nearest_indices(self, x) -> np.ndarray:
        """Index (..., d) of the node nearest to each point of ``x`` (..., d), clipped to the box."""
        idx = np.rint((np.asarray(x, dtype=float) - self.lower) / self.spacing).astype(np.int64)
        return np.clip(idx, 0, np.array(self.shape) - 1)

    def flat_index(self, x) -> np.ndarray:
        """Flat (C-order) index (n,) of the node nearest to each point of ``x`` (n, d); -1 for a point
        more than half a cell outside the box."""
        r = (x - self.lower) / self.spacing
        shape = np.array(self.shape)
        inside = np.all((r >= -0.5) & (r < shape - 0.5), axis=1)
        k = np.floor(np.where(inside[:, None], r, 0.0) + 0.5).astype(np.int64)
        flat = np.ravel_multi_index(tuple(k.T), self.shape) if len(k) else np.zeros(0, np.int64)
        return np.where(inside, flat, -1)

    def __repr__(self):
        box = " x ".join(f"[{lo:g}, {hi:g}]" for lo, hi in self.bounds)
        return f"Grid({box}, shape={self.shape})"


def available_memory():
    """Bytes of memory available to this process: psutil's estimate if installed, else the physical
    memory (``os.sysconf``); None where neither is known."""
    try:
        import psutil
    except ImportError:
        psutil = None
    if psutil is not None:
        return int(psutil.virtual_memory().available)
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None
