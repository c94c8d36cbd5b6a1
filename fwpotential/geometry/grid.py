"""Rectilinear grids and attractors (points or sets) on them."""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass, field

import numpy as np

from fwpotential.errors import AttractorError, DimensionError, FWWarning, GridError

__all__ = ["Grid", "Attractor"]


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
        """Index of the node nearest to ``x`` (clipped to the box)."""
        x = np.asarray(x, dtype=float).reshape(-1)
        idx = np.rint((x - self.lower) / self.spacing).astype(int)
        return tuple(int(i) for i in np.clip(idx, 0, np.array(self.shape) - 1))

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


@dataclass(frozen=True, repr=False)
class Attractor:
    """An attractor A of the deterministic flow: a stable equilibrium, or a set given as a mask.

    Use :meth:`from_point` / :meth:`from_mask`; :func:`fwpotential.solvers.api` accepts a bare
    point too and snaps it to the stable equilibrium nearby (Newton), recording the snap in
    ``snap`` and in the result's ``info``.

    Attributes
    ----------
    point : ndarray, shape (d,), or None
        The equilibrium x* for a point attractor.
    mask : ndarray of bool, or None
        For a set attractor, the grid nodes that belong to A (shape of the grid it is used on).
    snap : dict
        ``requested`` (point given), ``snapped`` (equilibrium used), ``distance`` and ``cells``
        (distance in grid cells); empty when no snapping was done.
    """

    point: np.ndarray | None = None
    mask: np.ndarray | None = None
    snap: dict = field(default_factory=dict)

    @classmethod
    def from_point(cls, x) -> Attractor:
        """A point attractor given near the equilibrium x* (solvers snap it to x* by Newton's method)."""
        x = np.atleast_1d(np.asarray(x, dtype=float)).reshape(-1)
        if not np.all(np.isfinite(x)):
            raise AttractorError(f"attractor point must be finite, got {x}")
        return cls(point=x)

    @classmethod
    def from_mask(cls, mask) -> Attractor:
        """A set attractor: the grid nodes where ``mask`` is True (e.g. a limit cycle, a curve of minima)."""
        mask = np.asarray(mask)
        if mask.dtype != bool:
            raise AttractorError(f"attractor mask must be boolean, got dtype {mask.dtype}")
        if not mask.any():
            raise AttractorError("attractor mask selects no grid node")
        return cls(mask=mask)

    @property
    def is_point(self) -> bool:
        return self.point is not None

    @classmethod
    def coerce(
        cls, attractor, dynamics, grid: Grid, *, snap_cells: float = 5.0, snap_fraction: float = 0.01
    ) -> Attractor:
        """Check ``attractor`` against ``grid`` and ``dynamics``; snap a point to the equilibrium near it.

        A point is moved by Newton's method on b(x) = 0 to the equilibrium x*; it must lie in the
        grid, within max(``snap_cells`` grid cells, ``snap_fraction`` of the largest box side) of the
        point given, and be stable (all eigenvalues of
        Db(x*) with negative real part). Otherwise :class:`AttractorError` names the equilibria found
        in the grid's box.
        """
        if isinstance(attractor, Attractor):
            if attractor.mask is not None:
                if attractor.mask.shape != grid.shape:
                    raise AttractorError(f"attractor mask has shape {attractor.mask.shape}, grid has {grid.shape}")
                return attractor
            if attractor.snap:
                _check_in_grid(attractor.point, grid)
                return attractor
            x = attractor.point
        else:
            x = np.atleast_1d(np.asarray(attractor, dtype=float)).reshape(-1)
        if x.size != grid.dim or x.size != dynamics.dim:
            raise DimensionError(
                f"attractor {x} has {x.size} coordinate(s); grid is {grid.dim}-D and dynamics {dynamics.dim}-D"
            )
        _check_in_grid(x, grid)
        from fwpotential.geometry.equilibria import _newton_equilibrium, critical_points, stable_in_higher_order

        h = float(np.max(grid.spacing))
        tol = max(snap_cells * h, snap_fraction * float(np.max(grid.upper - grid.lower)))
        xs, ok = _newton_equilibrium(dynamics, x)
        dist = float(np.linalg.norm(xs - x)) if ok else np.inf
        stable = degenerate = False
        if ok and dist <= tol:
            eig = np.linalg.eigvals(np.atleast_2d(dynamics.drift_jacobian(xs)))
            stable = bool(np.all(eig.real < 0))
            if not stable and stable_in_higher_order(dynamics, xs, snap_cells * h):
                stable = degenerate = True  # zero eigenvalue, attracting through higher-order terms
            if not stable and np.max(eig.real) <= 1e-9 * max(1.0, float(np.max(np.abs(eig)))):
                raise AttractorError(
                    f"attractor {_fmt(x)} is at a degenerate equilibrium {_fmt(xs)} (a zero eigenvalue of Db: "
                    f"{_fmt(eig)}), so higher-order terms decide its stability, and the drift does not point "
                    f"inwards on the spheres of radius <= {snap_cells * h:.3g} around it: it is not "
                    f"asymptotically stable that way; {_nearby(dynamics, grid, critical_points)}"
                )
            if not stable:
                raise AttractorError(
                    f"attractor {_fmt(x)} is at an equilibrium {_fmt(xs)} that is not stable "
                    f"(eigenvalues of Db: {_fmt(eig)}); {_nearby(dynamics, grid, critical_points)}"
                )
        if not (ok and dist <= tol and stable):
            raise AttractorError(
                f"no stable equilibrium within {tol:.3g} ({tol / h:.3g} grid cells) of attractor {_fmt(x)}; "
                f"{_nearby(dynamics, grid, critical_points)}"
            )
        _check_in_grid(xs, grid)
        snap = {"requested": x, "snapped": xs, "distance": dist, "cells": dist / h, "degenerate": degenerate}
        if dist > 1e-2 * h:  # a visible move; smaller snaps are only recorded in info
            warnings.warn(
                f"attractor {_fmt(x)} snapped to the equilibrium {_fmt(xs)} ({dist / h:.2g} grid cells away)",
                FWWarning,
                stacklevel=3,
            )
        return cls(point=xs, snap=snap)

    def __repr__(self):
        if self.point is not None:
            return f"Attractor(point={_fmt(self.point)})"
        return f"Attractor(mask with {int(self.mask.sum())} nodes)"


def _check_in_grid(x, grid):
    if not grid.contains(x):
        raise AttractorError(f"attractor {_fmt(x)} lies outside the grid {grid!r}; enlarge the grid's bounds")


def _fmt(x):
    x = np.atleast_1d(x)
    if np.iscomplexobj(x):
        return "[" + ", ".join(f"{v.real:.4g}{v.imag:+.4g}j" if v.imag else f"{v.real:.4g}" for v in x) + "]"
    return "(" + ", ".join(f"{v:.6g}" for v in x) + ")"


def _nearby(dynamics, grid, critical_points):
    try:
        cps = critical_points(dynamics, grid.bounds)
    except Exception as exc:  # noqa: BLE001 - the message is only a hint
        return f"(equilibrium search failed: {exc})"
    if len(cps.points) == 0:
        return "no equilibrium was found in the grid's box"
    parts = [f"{k} at {_fmt(p)}" for p, k in zip(cps.points, cps.kinds)]
    return "equilibria in the grid's box: " + "; ".join(parts)
