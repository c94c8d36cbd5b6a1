"""Monte Carlo runs of SGD and Langevin, their checks against the potentials, and the exact
finite-step chain (theory.md §5–6)."""

from fwpotential.montecarlo.check import MCCheck, mc_check
from fwpotential.montecarlo.run import BACKENDS, STATUS, Exits, Occupation, Run, simulate
from fwpotential.stationary.chain import StationaryChain, stationary_chain

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
