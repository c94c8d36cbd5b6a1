"""fwpotential: Freidlin–Wentzell quasi-potentials of SGD and Langevin dynamics.

Conventions (docs/theory, theory.md): H(x, p) = <b(x), p> + Λ(x, p); the stationary law
concentrates like exp(-W/ε), ε the noise level (the step size γ for SGD, the temperature for
Langevin dX = -∇f dt + √(2ε) dW); V = 0 on the attractor and +inf where unreachable.
"""

from . import _cache  # noqa: F401  (first: points Numba's cache outside the package before numba is imported)
from .critical import CriticalPoints, critical_points
from .dynamics import Diffusion, Dynamics, langevin, sgd
from .errors import (
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
from .fokkerplanck import FokkerPlanck, fokker_planck
from .grid import Attractor, Grid
from .landscape import Comparison, Landscape, compare, landscape
from .loss import FiniteSum, Loss
from .montecarlo import Exits, MCCheck, Occupation, Run, StationaryChain, mc_check, simulate, stationary_chain
from .noise import CustomNoise, FiniteSumNoise, GaussianNoise, IsotropicNoise, NoiseLaw
from .quasipotential import METHODS, QuasiPotential, quasipotential
from .weights import hwang_weights, manifold_density

__version__ = "0.1.0"

__all__ = [
    "Attractor",
    "Comparison",
    "Exits",
    "MCCheck",
    "Occupation",
    "Run",
    "StationaryChain",
    "mc_check",
    "simulate",
    "stationary_chain",
    "FokkerPlanck",
    "fokker_planck",
    "Landscape",
    "compare",
    "hwang_weights",
    "landscape",
    "manifold_density",
    "AttractorError",
    "ConvergenceError",
    "CovarianceError",
    "CriticalPoints",
    "CustomNoise",
    "Diffusion",
    "DimensionError",
    "Dynamics",
    "ExpressionError",
    "FWError",
    "FWWarning",
    "FiniteSum",
    "FiniteSumNoise",
    "GaussianNoise",
    "Grid",
    "GridError",
    "InputError",
    "IsotropicNoise",
    "Loss",
    "METHODS",
    "NoiseLaw",
    "NonFiniteError",
    "QuasiPotential",
    "critical_points",
    "langevin",
    "quasipotential",
    "sgd",
]
