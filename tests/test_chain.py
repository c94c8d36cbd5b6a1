"""Exact stationary law of the finite-step chain (fwpotential.stationary_chain, GTH)."""

from __future__ import annotations

import numpy as np
import pytest
from test_montecarlo import DW, double_well_land

import fwpotential as fw
from fwpotential.montecarlo import simulate
from fwpotential.stationary import gth
from fwpotential.stationary.chain import stationary_chain


def test_linear_sgd_closed_form_1d():
    A, s2, g = 1.5, 0.8, 0.2
    dyn = fw.sgd(fw.Loss.from_expr(f"{A}*x**2/2"), noise=fw.GaussianNoise(s2))
    ch = stationary_chain(dyn, g, fw.Grid([(-2, 2)], (2001,)))
    mu, S = ch.moments()
    exact = g * s2 / (A * (2 - g * A))
    assert abs(mu[0]) < 1e-10
    assert S[0, 0] == pytest.approx(exact, rel=1e-3)
    assert ch.probabilities.sum() == pytest.approx(1.0)
    assert ch.info["boundary_flux"] < 1e-12


def test_2d_separable_chain_is_product_of_1d_chains():
    """f = x² + y²/2 with isotropic noise: the 2-D kernel is a product, so is its stationary law."""
    g, s2 = 0.2, 0.5
    grid = fw.Grid([(-1, 1), (-1.4, 1.4)], (25, 31))
    ch = stationary_chain(fw.sgd(fw.Loss.from_expr("x**2 + y**2/2"), noise=fw.GaussianNoise(s2)), g, grid)
    px = stationary_chain(fw.sgd(fw.Loss.from_expr("x**2"), noise=fw.GaussianNoise(s2)), g, fw.Grid([(-1, 1)], (25,)))
    py = stationary_chain(
        fw.sgd(fw.Loss.from_expr("x**2/2"), noise=fw.GaussianNoise(s2)), g, fw.Grid([(-1.4, 1.4)], (31,))
    )
    np.testing.assert_allclose(ch.probabilities, np.outer(px.probabilities, py.probabilities), rtol=1e-8, atol=1e-15)
    _, S = ch.moments()
    exact = np.diag([g * s2 / (2 * (2 - 2 * g)), g * s2 / (1 * (2 - g))])
    assert np.allclose(S, exact, rtol=0.05), (S, exact)  # h = 0.083: rounding to nodes adds ~h²/12


def test_gth_matches_dense_solve_on_random_chain():
    rng = np.random.default_rng(0)
    n = 30
    P = rng.random((n, n)) * (np.abs(np.subtract.outer(np.arange(n), np.arange(n))) <= 3)
    P /= P.sum(1, keepdims=True)
    lo = np.array([max(0, i - 3) for i in range(n)])
    hi = np.array([min(n - 1, i + 3) for i in range(n)])
    lo_f = gth.profile_lower(lo, hi)
    off = np.concatenate([[0], np.cumsum(hi - lo_f + 1)])
    vals = np.zeros(off[-1])
    for i in range(n):
        vals[off[i] : off[i + 1]] = P[i, lo_f[i] : hi[i] + 1]
    pi, status = gth.gth_solve(vals, off[:-1].copy(), lo_f, hi)
    assert status == 0
    w, V = np.linalg.eig(P.T)
    ref = np.real(V[:, np.argmin(np.abs(w - 1))])
    ref /= ref.sum()
    np.testing.assert_allclose(pi, ref, rtol=1e-10)


def test_nonlinear_sgd_matches_monte_carlo():
    """State-dependent Gaussian noise a = 0.5 + x²/2 on the tilted double well, γ = 0.15."""
    g = 0.15
    dyn = fw.sgd(fw.Loss.from_expr(DW), noise=fw.GaussianNoise("0.5 + x**2/2"))
    land = double_well_land(fw.langevin(DW), n=501)
    ch = stationary_chain(dyn, g, fw.Grid([(-2.4, 2.4)], (1601,)))
    assert ch.info["boundary_flux"] < 1e-9
    run = simulate(
        dyn,
        step_size=g,
        n_steps=20_000,
        n_chains=256,
        x0=land.attractors[1],
        seed=21,
        landscape=land,
        burn_in=1000,
        progress=False,
    )
    occ = run.occupation(land)
    exact = ch.basin_masses(land)
    assert occ.se[0] < 0.01
    assert np.all(np.abs(occ.fractions[:2] - exact[:2]) < 4 * occ.se[:2]), (occ, exact)


def test_finite_sum_chain_matches_monte_carlo():
    """Two samples f ± c x, c = 0.5 (Z = ±c; bounded reachable set): atoms split linearly between nodes."""
    data = fw.FiniteSum([fw.Loss.from_expr(f"x**4/4 - x**2/2 + {s}*x") for s in (0.5, -0.5)])
    dyn = fw.sgd(data)
    g = 0.2
    ch = stationary_chain(dyn, g, fw.Grid([(-2, 2)], (4001,)))
    mu, S = ch.moments()
    run = simulate(dyn, step_size=g, n_steps=20_000, n_chains=128, x0=[1.0], seed=5, store_every=10, progress=False)
    tr = run.trajectory[100:, :, 0]
    m2 = (tr**2).mean(0)
    se = m2.std(ddof=1) / np.sqrt(m2.size)
    assert se < 0.01 * m2.mean()
    assert abs(m2.mean() - (S[0, 0] + mu[0] ** 2)) < 4 * se + 1e-4


def test_errors():
    dyn = fw.sgd(fw.Loss.from_expr("x**2 + y**2 + z**2"), noise=fw.GaussianNoise(0.5))
    with pytest.raises(fw.GridError, match="1-D grids and small 2-D"):
        stationary_chain(dyn, 0.1, fw.Grid([(-1, 1)] * 3, (5, 5, 5)))


def test_two_closed_classes_raise():
    """c = 0.3 < max |f'| between the wells: the chain cannot cross, no unique stationary law."""
    data = fw.FiniteSum([fw.Loss.from_expr(f"x**4/4 - x**2/2 + {s}*x") for s in (0.3, -0.3)])
    with pytest.raises(fw.ConvergenceError, match="2 closed classes"):
        stationary_chain(fw.sgd(data), 0.2, fw.Grid([(-2, 2)], (801,)))


def test_split_chain_asks_for_a_finer_grid():
    """γ√a = 1e-4 per step against h = 0.04: the discretised chain cannot leave its nodes."""
    dyn = fw.sgd("(x**2 - 1)**2/4", noise=fw.GaussianNoise(0.01))
    with pytest.raises(
        fw.ConvergenceError,
        match=r"closed classes.*moves a chain by about 0\.0001 per step .* less than the cell size h = 0\.04, .*"
        r"refine the grid to h <= 5e-05 .*or use a larger step_size",
    ):
        stationary_chain(dyn, 0.001, fw.Grid([(-2, 2)], (101,)))


def test_gth_row_entirely_below_its_diagonal():
    """A row whose entries all lie left of the diagonal (the chain jumps far down from the last
    state): the profile still holds the diagonal, so the elimination reads only stored entries."""
    n = 6
    rows = np.array([0, 1, 2, 3, 4, 5])
    cols = np.array([1, 2, 3, 4, 5, 0])  # a cycle: 5 -> 0 only
    pi, status = gth.gth_stationary(n, rows, cols, np.ones(n))
    assert status == 0
    np.testing.assert_allclose(pi, np.full(n, 1.0 / n), rtol=1e-14)
