"""Quasi-potential solvers: one module per method string (see fwpotential.solvers.api.METHODS)."""
