"""fwpotential: Freidlin–Wentzell quasi-potentials of SGD and Langevin dynamics.

Conventions (docs/theory, theory.md): H(x, p) = <b(x), p> + Λ(x, p); the stationary law
concentrates like exp(-W/ε), ε the noise level (the step size γ for SGD, the temperature for
Langevin dX = -∇f dt + √(2ε) dW); V = 0 on the attractor and +inf where unreachable.

The public names below are imported on first use (PEP 562), so ``import fwpotential`` does not
load SymPy, Numba or Matplotlib; a call imports the layer it needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from fwpotential import _cache  # noqa: F401  (first: points Numba's cache outside the package before numba is imported)
from fwpotential.errors import (
    AttractorError,
    ConvergenceError,
    CovarianceError,
    DimensionError,
    ExpressionError,
    FWError,
    FWWarning,
    GridError,
    InputError,
    NonFiniteError,
)

if TYPE_CHECKING:  # the same names for type checkers and the API docs; test_api_names keeps both in step
    from fwpotential.analysis.comparison import Comparison, compare
    from fwpotential.analysis.landscapes import Landscape, landscape
    from fwpotential.analysis.network import TransitionNetwork, transition_network
    from fwpotential.analysis.weights import hwang_weights, manifold_density
    from fwpotential.geometry.attractor import Attractor
    from fwpotential.geometry.equilibria import CriticalPoints, critical_points
    from fwpotential.geometry.grid import Grid
    from fwpotential.model.dynamics import Diffusion, Dynamics, langevin, sgd
    from fwpotential.model.loss import FiniteSum, Loss
    from fwpotential.model.noise import CustomNoise, FiniteSumNoise, GaussianNoise, IsotropicNoise, NoiseLaw
    from fwpotential.montecarlo.check import MCCheck, mc_check
    from fwpotential.montecarlo.results import Exits, Occupation, Run
    from fwpotential.montecarlo.run import simulate
    from fwpotential.paths.mam import ActionPath, min_action_path
    from fwpotential.paths.minima import Minima, find_minima
    from fwpotential.paths.saddles import Saddle, SaddleSearch, refine_saddle, saddle_between
    from fwpotential.solvers.api import METHODS, QuasiPotential, quasipotential
    from fwpotential.stationary.chain import StationaryChain, stationary_chain
    from fwpotential.stationary.fokkerplanck import FokkerPlanck, fokker_planck

__version__ = "0.1.0"

#: public name -> the module that defines it, grouped as in docs/api.md
_PUBLIC = {
    # model
    "Loss": "fwpotential.model.loss",
    "FiniteSum": "fwpotential.model.loss",
    "NoiseLaw": "fwpotential.model.noise",
    "GaussianNoise": "fwpotential.model.noise",
    "IsotropicNoise": "fwpotential.model.noise",
    "FiniteSumNoise": "fwpotential.model.noise",
    "CustomNoise": "fwpotential.model.noise",
    "Dynamics": "fwpotential.model.dynamics",
    "Diffusion": "fwpotential.model.dynamics",
    "langevin": "fwpotential.model.dynamics",
    "sgd": "fwpotential.model.dynamics",
    # geometry
    "Grid": "fwpotential.geometry.grid",
    "Attractor": "fwpotential.geometry.attractor",
    "CriticalPoints": "fwpotential.geometry.equilibria",
    "critical_points": "fwpotential.geometry.equilibria",
    # solvers
    "quasipotential": "fwpotential.solvers.api",
    "QuasiPotential": "fwpotential.solvers.api",
    "METHODS": "fwpotential.solvers.api",
    # paths (any dimension)
    "min_action_path": "fwpotential.paths.mam",
    "ActionPath": "fwpotential.paths.mam",
    "find_minima": "fwpotential.paths.minima",
    "Minima": "fwpotential.paths.minima",
    "saddle_between": "fwpotential.paths.saddles",
    "refine_saddle": "fwpotential.paths.saddles",
    "Saddle": "fwpotential.paths.saddles",
    "SaddleSearch": "fwpotential.paths.saddles",
    # analysis
    "landscape": "fwpotential.analysis.landscapes",
    "Landscape": "fwpotential.analysis.landscapes",
    "compare": "fwpotential.analysis.comparison",
    "Comparison": "fwpotential.analysis.comparison",
    "transition_network": "fwpotential.analysis.network",
    "TransitionNetwork": "fwpotential.analysis.network",
    "hwang_weights": "fwpotential.analysis.weights",
    "manifold_density": "fwpotential.analysis.weights",
    # Monte Carlo
    "simulate": "fwpotential.montecarlo.run",
    "Run": "fwpotential.montecarlo.results",
    "Occupation": "fwpotential.montecarlo.results",
    "Exits": "fwpotential.montecarlo.results",
    "mc_check": "fwpotential.montecarlo.check",
    "MCCheck": "fwpotential.montecarlo.check",
    # stationary laws
    "stationary_chain": "fwpotential.stationary.chain",
    "StationaryChain": "fwpotential.stationary.chain",
    "fokker_planck": "fwpotential.stationary.fokkerplanck",
    "FokkerPlanck": "fwpotential.stationary.fokkerplanck",
}

#: public submodules, also imported on first use
_SUBMODULES = (
    "plot",
    "problems",
    "montecarlo",
    "solvers",
    "paths",
    "model",
    "geometry",
    "analysis",
    "stationary",
    "app",
)

__all__ = [
    "Loss",
    "FiniteSum",
    "NoiseLaw",
    "GaussianNoise",
    "IsotropicNoise",
    "FiniteSumNoise",
    "CustomNoise",
    "Dynamics",
    "Diffusion",
    "langevin",
    "sgd",
    "Grid",
    "Attractor",
    "CriticalPoints",
    "critical_points",
    "quasipotential",
    "QuasiPotential",
    "METHODS",
    "min_action_path",
    "ActionPath",
    "find_minima",
    "Minima",
    "saddle_between",
    "refine_saddle",
    "Saddle",
    "SaddleSearch",
    "landscape",
    "Landscape",
    "compare",
    "Comparison",
    "transition_network",
    "TransitionNetwork",
    "hwang_weights",
    "manifold_density",
    "simulate",
    "Run",
    "Occupation",
    "Exits",
    "mc_check",
    "MCCheck",
    "stationary_chain",
    "StationaryChain",
    "fokker_planck",
    "FokkerPlanck",
    "AttractorError",
    "ConvergenceError",
    "CovarianceError",
    "DimensionError",
    "ExpressionError",
    "FWError",
    "FWWarning",
    "GridError",
    "InputError",
    "NonFiniteError",
]


def __getattr__(name):
    if name in _PUBLIC:
        value = getattr(importlib.import_module(_PUBLIC[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"fwpotential.{name}")
    else:
        raise AttributeError(f"module 'fwpotential' has no attribute {name!r}")
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__():
    return sorted({*globals(), *_PUBLIC, *_SUBMODULES})
