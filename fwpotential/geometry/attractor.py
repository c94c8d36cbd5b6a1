"""Attractors of the deterministic flow on a grid: stable equilibria (snapped by Newton) or node sets."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from fwpotential.errors import AttractorError, DimensionError, FWWarning
from fwpotential.geometry.equilibria import critical_points, newton_equilibrium, stable_in_higher_order
from fwpotential.geometry.grid import Grid

__all__ = ["Attractor"]


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
        h = float(np.max(grid.spacing))
        tol = max(snap_cells * h, snap_fraction * float(np.max(grid.upper - grid.lower)))
        xs, ok = newton_equilibrium(dynamics, x)
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
