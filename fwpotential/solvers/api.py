"""quasipotential(): solve H(x, ∇V) = 0 off the attractor A, V = 0 on A (theory.md §3)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

import numpy as np

from fwpotential import _progress
from fwpotential.errors import DimensionError, GridError, InputError
from fwpotential.geometry.attractor import Attractor
from fwpotential.geometry.grid import Grid
from fwpotential.model.dynamics import coerce_dynamics

__all__ = ["QuasiPotential", "quasipotential", "METHODS"]

#: method string -> solver module (imported on first use); each has solve(), OPTIONS, ORDER
METHODS = {
    "exact": "fwpotential.solvers.exact1d",
    "fmm": "fwpotential.solvers.fmm",
    "olim": "fwpotential.solvers.olim",
    "sweep": "fwpotential.solvers.sweep",
}


#: method string -> grid dimensions it solves (None: any)
DIMS = {"exact": (1,), "fmm": None, "olim": (2, 3), "sweep": (2, 3)}


def _solver(method):
    name = METHODS.get(method)
    if name is None:
        raise InputError(f"unknown method {method!r}; choose one of {sorted(METHODS)}")
    return importlib.import_module(name)


def check_method(method, options, grid=None):
    """The solver module of ``method`` after checking the method, its options and, given ``grid``,
    the grid's dimension and memory. Raises :class:`InputError` before any work is done."""
    solver = _solver(method)
    unknown = sorted(set(options) - set(solver.OPTIONS))
    if unknown:
        raise InputError(f"method={method!r} takes options {sorted(solver.OPTIONS)}, not {unknown}")
    if grid is not None:
        d, dims = grid.dim, DIMS.get(method)
        if dims == (1,) and d != 1:
            raise GridError(
                f"method={method!r} needs a 1-D grid and 1-D dynamics, got a {d}-D grid; "
                "use method='olim', 'fmm' or 'sweep' in 2-D and 3-D"
            )
        if dims is not None and d not in dims:
            hint = (
                "use method='exact'"
                if d == 1
                else "olim and sweep stop at 3-D; method='fmm' takes any dimension for gradient dynamics with noise a = s(f) I"
            )
            raise GridError(f"method={method!r} needs a 2-D or 3-D grid, got {d}-D; {hint}")
        grid.check_memory(f"method={method!r}")
    return solver


@dataclass(frozen=True, repr=False)
class QuasiPotential:
    """V_A on a grid (units of ε): 0 on the attractor, +inf where unreachable.

    Attributes
    ----------
    values : ndarray, shape grid.shape
    grid : Grid
    attractor : Attractor
        As used (a point snapped to the equilibrium, or a set).
    method : str
    info : dict
        Every method: ``options``, ``seconds`` (float, the whole solve) and ``unreachable`` (the number of
        nodes where V = +inf); ``snap`` when the attractor was moved; then the method's own entries.
    """

    values: np.ndarray
    grid: Grid
    attractor: Attractor
    method: str
    info: dict = field(default_factory=dict)

    def __repr__(self):
        fin = np.isfinite(self.values)
        vmax = float(self.values[fin].max()) if fin.any() else float("nan")
        return (
            f"QuasiPotential(method={self.method!r}, grid={self.grid.shape}, {self.attractor!r}, "
            f"max finite V={vmax:.4g}, unreachable={int((~fin).sum())})"
        )


#: grids with more nodes than this show their bar at once (such solves take seconds)
_BIG_GRID = 2**17


def quasipotential(dynamics, grid, attractor, *, method="olim", progress=None, **options) -> QuasiPotential:
    """Quasi-potential V_A(x) = inf of the action ∫L(φ, φ') dt over paths from A to x.

    Solves H(x, ∇V) = 0 off A, V = 0 on A, as the viscosity solution (theory.md §3), with
    H(x, p) = <b(x), p> + Λ(x, p).

    Parameters
    ----------
    dynamics : Dynamics
        From :func:`fwpotential.langevin`, :func:`fwpotential.sgd` or :class:`fwpotential.Diffusion`
        (a Loss or expression string means its Langevin dynamics).
    grid : Grid
    attractor : point (d,), scalar in 1-D, or Attractor
        A point is snapped (Newton) to the stable equilibrium within a few grid cells of it; the
        snap is recorded in ``info["snap"]``. Sets: :meth:`Attractor.from_mask`.
    method : str
        - ``"exact"``: 1-D quadrature of the root of H(y, p) = 0, any noise law; rounding-level error.
        - ``"olim"``: ordered line integral method, 2-D/3-D, any dynamics with a Lagrangian.
        - ``"fmm"``: scikit-fmm eikonal reduction, b = -∇f with isotropic noise s(f) I.
        - ``"sweep"``: Gauss–Seidel sweeping of a monotone scheme, 2-D/3-D, any convex H.
    progress : bool, optional
        A progress bar on stderr (per stage of the solve, per pass for ``"sweep"``): by default when
        stderr is a terminal and the solve runs over ~2 s (at once on grids over 2^17 nodes);
        True always, False never. Not a method option (never in ``info["options"]``).
    **options
        Method options; unknown ones raise, listing the valid ones.

    Returns
    -------
    QuasiPotential

    Examples
    --------
    >>> import fwpotential as fw
    >>> lang = fw.langevin("(x**2 - 1)**2 / 4 + 0.15*x")
    >>> qp = fw.quasipotential(lang, fw.Grid([(-2, 2)], (401,)), attractor=-1.0, method="exact")
    >>> round(float(qp.values[-1]), 6)   # f(2) - f(x*) for Langevin
    2.576525
    """
    dynamics = coerce_dynamics(dynamics)
    if not isinstance(grid, Grid):
        raise InputError(f"grid must be a fw.Grid, got {type(grid).__name__}")
    if grid.dim != dynamics.dim:
        raise DimensionError(f"grid is {grid.dim}-D but the dynamics is {dynamics.dim}-D")
    solver = check_method(method, options, grid)
    att = Attractor.coerce(attractor, dynamics, grid)
    shape = "x".join(map(str, grid.shape))
    with _progress.bar(f"{method} {shape}", unit="step", progress=progress, soon=grid.size > _BIG_GRID):
        values, info = solver.solve(dynamics, grid, att, **options)
    values = np.asarray(values, dtype=float)
    if np.isnan(values).any():  # a solver bug, never a user-facing value
        raise RuntimeError(f"solver {method!r} returned NaN values")
    info = {"options": dict(options), **info, "unreachable": int(np.sum(np.isinf(values)))}
    if att.snap:
        info["snap"] = att.snap
    return QuasiPotential(values=values, grid=grid, attractor=att, method=method, info=info)
