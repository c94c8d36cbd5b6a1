"""Monte Carlo runs of SGD and Langevin and their checks against the potentials (theory.md §5–6)."""

from fwpotential.montecarlo.check import MCCheck, mc_check
from fwpotential.montecarlo.run import BACKENDS, STATUS, Exits, Occupation, Run, simulate

__all__ = ["BACKENDS", "STATUS", "Exits", "MCCheck", "Occupation", "Run", "mc_check", "simulate"]
