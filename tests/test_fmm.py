"""method="fmm": the scikit-fmm eikonal reduction for b = -grad f, a = s(f) I (theory.md §3)."""

import numpy as np
import pytest

import fwpotential as fw
from fwpotential import problems


def _order(hs, errs):
    return np.polyfit(np.log(hs), np.log(errs), 1)[0]


def test_langevin_basin_accuracy_and_order():
    prob = problems.langevin_double_well_2d()
    errs, hs = [], []
    for n in (65, 129, 257, 513):
        g = prob.grid(n)
        qp = fw.quasipotential(prob.dynamics, g, prob.attractor, method="fmm", radius=0.1)
        errs.append(prob.max_error(qp))
        hs.append(g.spacing[0])
    order = _order(hs, errs)
    # measured: 6.2e-3, 1.4e-3, 3.9e-4, 1.4e-4 (order ~1.8)
    assert errs[-1] < 2.5e-4, errs
    assert order > 1.4, (errs, order)


def test_constant_isotropic_sgd_noise_scales_potential():
    prob = problems.langevin_double_well_2d()
    loss = prob.extra["loss"]
    s = 0.5
    dyn = fw.sgd(loss, noise=fw.IsotropicNoise(s))
    g = prob.grid(257)
    qp = fw.quasipotential(dyn, g, prob.attractor, method="fmm", radius=0.1)
    exact = prob.exact_on(g) * 2.0 / s  # V = 2(f - f*)/s² ... with a = s I: V = 2(f - f*)/s
    err = np.nanmax(np.abs(qp.values - exact))
    assert err < 2e-3 * (2.0 / s), err


def test_loss_value_dependent_variance_in_basin():
    """a = s(f) I with s = 0.5 + f - f_min: in the basin V = 2 (G(f) - G(f*)), G' = 1/s."""
    loss = fw.Loss.from_expr("(x**2 - 1)**2/4 + y**2/2 + x/10")
    cps = fw.critical_points(loss, [(-2, 2), (-2, 2)])
    fmin = float(cps.values[cps.of_kind("minimum")].min())
    dyn = fw.sgd(loss, noise=fw.IsotropicNoise(f"0.5 + f - ({fmin!r})"))
    prob = problems.langevin_double_well_2d()
    g = prob.grid(257)
    qp = fw.quasipotential(dyn, g, prob.attractor, method="fmm", radius=0.1)
    f = loss.value(g.points())
    fs = float(loss.value(np.array(prob.attractor)))
    exact = 2.0 * (np.log(0.5 + f - fmin) - np.log(0.5 + fs - fmin))
    basin = np.isfinite(prob.exact_on(g))
    err = np.max(np.abs(qp.values - exact)[basin])
    assert err < 2e-3, err


def test_beyond_the_saddle_matches_exact_1d_on_symmetry_axis():
    """f = g(x) + y²/2: the minimum action path to (x, 0) runs on the axis, so V(x, 0) is the
    1-D quasi-potential of g, flat across the other well and climbing beyond it."""
    g1 = fw.Loss.from_expr("(x**2 - 1)**2/4 + x/10")
    f2 = fw.Loss.from_expr("(x**2 - 1)**2/4 + x/10 + y**2/2")
    grid2 = fw.Grid([(-2, 2), (-1, 1)], (401, 201))
    qp2 = fw.quasipotential(fw.langevin(f2), grid2, (-1.0466805, 0.0), method="fmm", radius=0.1)
    grid1 = fw.Grid([(-2, 2)], (401,))
    qp1 = fw.quasipotential(fw.langevin(g1), grid1, -1.0466805, method="exact")
    axis = qp2.values[:, 100]
    right = grid1.axes[0] > 0.2  # past the saddle, in the other basin
    err = np.max(np.abs(axis[right] - qp1.values[right]))
    assert err < 2e-3, err
    # and it is really the flat-then-climb shape, not f - f*
    assert np.max(np.abs(qp1.values[right] - (g1.value(grid1.axes[0][right, None]) - g1.value(-1.0466805)))) > 0.05


def test_three_d_langevin():
    loss = fw.Loss.from_expr("(x**2 - 1)**2/4 + y**2/2 + z**2 + x*z/4")
    grid = fw.Grid([(0.2, 1.8), (-0.8, 0.8), (-0.8, 0.8)], (41, 41, 41))
    cps = fw.critical_points(loss, grid)
    xs = cps.points[cps.of_kind("minimum")][0]
    qp = fw.quasipotential(fw.langevin(loss), grid, xs, method="fmm", radius=0.15)
    exact = loss.value(grid.points()) - loss.value(xs)
    assert np.max(np.abs(qp.values - exact)) < 5e-3


def test_set_attractor_curve_of_minima():
    """f = (r² - 1)²/4 with Langevin: V = f on the plane (the circle is a curve of minima)."""
    loss = fw.Loss.from_expr("(x**2 + y**2 - 1)**2/4")
    grid = fw.Grid([(-1.6, 1.6), (-1.6, 1.6)], (161, 161))
    r = np.linalg.norm(grid.points(), axis=-1)
    mask = np.abs(r - 1) <= 0.5 * grid.spacing[0]
    qp = fw.quasipotential(fw.langevin(loss), grid, fw.Attractor.from_mask(mask), method="fmm")
    exact = loss.value(grid.points())
    away = np.abs(r - 1) > 0.1
    far = r < 1.55
    # first order at the set's interface: error of order h
    assert np.max(np.abs(qp.values - exact)[away & far]) < 2e-2


def test_non_reducible_dynamics_points_to_olim():
    dyn = fw.Diffusion(["-2*x - 10*y", "20*x - y"], cov=np.eye(2))
    with pytest.raises(fw.InputError, match="method='olim'"):
        fw.quasipotential(dyn, fw.Grid([(-1, 1), (-1, 1)], (33, 33)), (0, 0), method="fmm")
    loss = fw.Loss.from_expr("x**2 + y**2")
    aniso = fw.sgd(loss, noise=fw.GaussianNoise(np.diag([1.0, 2.0])))
    with pytest.raises(fw.InputError, match="isotropic"):
        fw.quasipotential(aniso, fw.Grid([(-1, 1), (-1, 1)], (33, 33)), (0, 0), method="fmm")
    xdep = fw.sgd(loss, noise=fw.IsotropicNoise("1 + x**2"))
    with pytest.raises(fw.InputError, match="loss"):
        fw.quasipotential(xdep, fw.Grid([(-1, 1), (-1, 1)], (33, 33)), (0, 0), method="fmm")


def test_bad_radius_and_order():
    prob = problems.langevin_double_well_2d()
    g = prob.grid(33)
    with pytest.raises(fw.GridError, match="smaller than a grid cell"):
        fw.quasipotential(prob.dynamics, g, prob.attractor, method="fmm", radius=1e-3)
    with pytest.raises(fw.InputError, match="order"):
        fw.quasipotential(prob.dynamics, g, prob.attractor, method="fmm", order=3)
