"""fwpotential: Freidlin–Wentzell quasi-potentials of SGD and Langevin dynamics.

Conventions (docs/theory, theory.md): H(x, p) = <b(x), p> + Λ(x, p); the stationary law
concentrates like exp(-W/ε), ε the noise level (the step size γ for SGD, the temperature for
Langevin dX = -∇f dt + √(2ε) dW); V = 0 on the attractor and +inf where unreachable.
"""

from fwpotential import _cache  # noqa: F401  (first: points Numba's cache outside the package before numba is imported)
from fwpotential.analysis.comparison import Comparison, compare
from fwpotential.analysis.landscapes import Landscape, landscape
from fwpotential.analysis.weights import hwang_weights, manifold_density
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
from fwpotential.geometry.equilibria import CriticalPoints, critical_points
from fwpotential.geometry.grid import Attractor, Grid
from fwpotential.model.dynamics import Diffusion, Dynamics, langevin, sgd
from fwpotential.model.loss import FiniteSum, Loss
from fwpotential.model.noise import CustomNoise, FiniteSumNoise, GaussianNoise, IsotropicNoise, NoiseLaw
from fwpotential.montecarlo import (
    Exits,
    MCCheck,
    Occupation,
    Run,
    StationaryChain,
    mc_check,
    simulate,
    stationary_chain,
)
from fwpotential.solvers.api import METHODS, QuasiPotential, quasipotential
from fwpotential.stationary.fokkerplanck import FokkerPlanck, fokker_planck

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
