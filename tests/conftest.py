"""Shared fixtures of the foundation tests (losses, noise laws, dynamics, exact 1-D solver)."""

from __future__ import annotations

import numpy as np
import pytest

import fwpotential as fw

#: f = (x² - 1)² + 2y² + a x y², a = 0.3: minima (±1, 0), saddle (0, 0)
LOSS2_EXPR = "(x**2 - 1)**2 + 2*y**2 + a*x*y**2"
LOSS2_A = 0.3


@pytest.fixture
def rng():
    return np.random.default_rng(20240611)


@pytest.fixture
def loss2():
    return fw.Loss.from_expr(LOSS2_EXPR, params={"a": LOSS2_A})


@pytest.fixture
def data2():
    """A 2-D finite sum of N = 4 samples whose gradient deviations depend on x (not a constant shift)."""
    u = np.array([0.0, 1.0, -1.5, 2.0])
    t = np.array([1.0, -0.5, 0.3, 0.8])
    return fw.FiniteSum.from_expr("((x - u)**2 + (y - t)**2)/2 + x**2*y**2/4 + u*t*x*y/3", data={"u": u, "t": t})
