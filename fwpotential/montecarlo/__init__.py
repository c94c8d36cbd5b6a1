"""Monte Carlo runs of SGD and Langevin and their checks against the potentials (theory.md §5–6)."""

import importlib
import warnings

from fwpotential.montecarlo.check import MCCheck, mc_check
from fwpotential.montecarlo.run import BACKENDS, STATUS, Exits, Occupation, Run, simulate

__all__ = ["BACKENDS", "STATUS", "Exits", "MCCheck", "Occupation", "Run", "mc_check", "simulate"]

#: names this package re-exported before the stationary laws got their own folder (one release)
_MOVED = {"stationary_chain": "fwpotential.stationary.chain", "StationaryChain": "fwpotential.stationary.chain"}


def __getattr__(name):
    if name in _MOVED:
        warnings.warn(
            f"fwpotential.montecarlo.{name} is deprecated; use fwpotential.{name} ({_MOVED[name]})",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(_MOVED[name]), name)
    raise AttributeError(f"module 'fwpotential.montecarlo' has no attribute {name!r}")
