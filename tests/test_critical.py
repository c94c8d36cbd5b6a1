"""Critical points of losses and equilibria of drifts: counts, locations, kinds, values, matrices."""

from __future__ import annotations

import numpy as np
import pytest

import fwpotential as fw

HIMMELBLAU = "(x**2 + y - 11)**2 + (x + y**2 - 7)**2"
# known critical points of Himmelblau's function (to 6 decimals)
H_MINIMA = np.array([[3.0, 2.0], [-2.805118, 3.131312], [-3.779310, -3.283186], [3.584428, -1.848126]])
H_SADDLES = np.array([[0.086677, 2.884254], [-3.073026, -0.081353], [3.385154, 0.073852], [-0.127961, -1.953715]])
H_MAXIMUM = np.array([[-0.270845, -0.923039]])


def _match(found, expected, atol):
    """Every expected point has exactly one found point within atol (and vice versa)."""
    assert len(found) == len(expected), (found, expected)
    dist = np.linalg.norm(found[:, None, :] - expected[None, :, :], axis=-1)
    assert np.all(dist.min(axis=0) <= atol), (found, expected)
    assert np.all(dist.min(axis=1) <= atol), (found, expected)
    assert len(set(dist.argmin(axis=1))) == len(expected)


def test_double_well_1d():
    cps = fw.critical_points("(x**2 - 1)**2", [(-2, 2)])
    assert cps.kinds == ("minimum", "maximum", "minimum")
    np.testing.assert_allclose(cps.points[:, 0], [-1.0, 0.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(cps.values, [0.0, 1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(cps.matrices[:, 0, 0], [8.0, -4.0, 8.0], rtol=1e-12)
    np.testing.assert_array_equal(cps.index, [0, 1, 0])
    np.testing.assert_array_equal(cps.of_kind("minimum"), [0, 2])
    assert len(cps) == 3


def test_tilted_double_well_1d_values():
    """f = (x² - 1)²/4 + 0.15x: the roots of x³ - x + 0.15 = 0, classified by f'' = 3x² - 1."""
    f = fw.Loss.from_expr("(x**2 - 1)**2 / 4 + 0.15*x")
    cps = fw.critical_points(f, [(-2, 2)])
    roots = np.sort(np.roots([1.0, 0.0, -1.0, 0.15]).real)
    np.testing.assert_allclose(cps.points[:, 0], roots, atol=1e-12)
    assert cps.kinds == ("minimum", "maximum", "minimum")
    np.testing.assert_allclose(cps.values, f.value(roots), rtol=1e-12)


def test_himmelblau_4_minima_4_saddles_1_maximum():
    f = fw.Loss.from_expr(HIMMELBLAU)
    cps = fw.critical_points(f, [(-6, 6), (-6, 6)])
    assert sorted(cps.kinds) == ["maximum"] + ["minimum"] * 4 + ["saddle"] * 4, cps
    _match(cps.points[cps.of_kind("minimum")], H_MINIMA, 2e-6)
    _match(cps.points[cps.of_kind("saddle")], H_SADDLES, 2e-6)
    _match(cps.points[cps.of_kind("maximum")], H_MAXIMUM, 2e-6)
    # polished to Newton accuracy: (3, 2) exactly, |∇f| ~ rounding everywhere, f = 0 at the minima
    i3 = cps.of_kind("minimum")[np.argmin(np.linalg.norm(cps.points[cps.of_kind("minimum")] - [3, 2], axis=1))]
    np.testing.assert_allclose(cps.points[i3], [3.0, 2.0], atol=1e-12)
    assert np.abs(f.grad(cps.points)).max() <= 1e-9
    np.testing.assert_allclose(cps.values[cps.of_kind("minimum")], 0.0, atol=1e-18 + 1e-12)
    np.testing.assert_allclose(cps.values[cps.of_kind("maximum")], 181.616522, rtol=1e-8)
    # index = number of negative Hessian eigenvalues; matrices are the Hessians
    for k, idx in zip(cps.kinds, cps.index):
        assert idx == {"minimum": 0, "saddle": 1, "maximum": 2}[k]
    np.testing.assert_allclose(cps.matrices, f.hess(cps.points), rtol=1e-14)
    np.testing.assert_allclose(cps.eigenvalues, np.linalg.eigvalsh(cps.matrices), rtol=1e-12, atol=1e-12)


def test_himmelblau_smaller_box_keeps_only_inside():
    cps = fw.critical_points(HIMMELBLAU, [(0, 6), (0, 6)])
    assert sorted(cps.kinds) == ["minimum", "saddle", "saddle"]
    assert np.all((cps.points >= 0) & (cps.points <= 6))


def test_maier_stein_equilibria():
    ms = fw.Diffusion(drift=["x - x**3 - 10*x*y**2", "-(1 + x**2)*y"], cov=np.eye(2))
    cps = fw.critical_points(ms, [(-2, 2), (-1, 1)])
    order = np.argsort(cps.points[:, 0])
    np.testing.assert_allclose(cps.points[order], [[-1.0, 0.0], [0.0, 0.0], [1.0, 0.0]], atol=1e-12)
    assert [cps.kinds[i] for i in order] == ["stable", "saddle", "stable"]
    assert [int(cps.index[i]) for i in order] == [0, 1, 0]
    assert np.all(np.isnan(cps.values))  # a drift without a loss has no values
    # Jacobians: diag(-2, -2) at (±1, 0), diag(1, -1) at the saddle
    np.testing.assert_allclose(
        cps.matrices[order], [np.diag([-2.0, -2.0]), np.diag([1.0, -1.0]), np.diag([-2.0, -2.0])], atol=1e-12
    )


def test_dynamics_kinds_for_langevin():
    cps = fw.critical_points(fw.langevin("(x**2 - 1)**2"), [(-2, 2)])
    assert cps.kinds == ("stable", "unstable", "stable")
    np.testing.assert_allclose(cps.values, [0.0, 1.0, 0.0], atol=1e-12)


def test_degenerate_point_is_flagged():
    cps = fw.critical_points("x**4 + y**2", [(-1, 1), (-1, 1)])
    assert len(cps) == 1 and cps.kinds == ("degenerate",)
    assert np.abs(cps.points[0]).max() <= 1e-3


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_counts_do_not_depend_on_seed(seed):
    cps = fw.critical_points(HIMMELBLAU, [(-6, 6), (-6, 6)], seed=seed, n_starts=400)
    assert sorted(cps.kinds) == ["maximum"] + ["minimum"] * 4 + ["saddle"] * 4
