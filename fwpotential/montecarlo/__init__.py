"""Monte Carlo runs of SGD and Langevin, their checks against the potentials, and the exact
finite-step chain (theory.md §5–6)."""

from .chain import StationaryChain, stationary_chain
from .check import MCCheck, mc_check
from .simulate import BACKENDS, STATUS, Exits, Occupation, Run, simulate

__all__ = [
    "BACKENDS",
    "STATUS",
    "Exits",
    "MCCheck",
    "Occupation",
    "Run",
    "StationaryChain",
    "mc_check",
    "simulate",
    "stationary_chain",
]
