"""The olim solver (see driver.solve)."""

from fwpotential.solvers.olim.driver import OPTIONS, ORDER, solve

__all__ = ["OPTIONS", "ORDER", "solve"]
