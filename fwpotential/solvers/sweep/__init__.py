"""The sweep solver (see driver.solve)."""

from fwpotential.solvers.sweep.driver import OPTIONS, ORDER, solve

__all__ = ["OPTIONS", "ORDER", "solve"]
