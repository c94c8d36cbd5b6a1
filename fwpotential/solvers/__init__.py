"""Quasi-potential solvers: one module per method string (see fwpotential.quasipotential.METHODS)."""
