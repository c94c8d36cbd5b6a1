"""Stationary Fokker–Planck (FiPy) against exact densities, and its basin masses against the
prefactor-corrected predictions (theory.md §5, §7)."""

import numpy as np
import pytest

import fwpotential as fw

pytestmark = pytest.mark.filterwarnings("ignore::fwpotential.FWWarning")

DEMO = "(x**2 - 1)**2 / 4 + 0.15*x"


def _gibbs(values, eps, vol):
    p = np.exp(-(values - values.min()) / eps)
    return p / (p.sum() * vol)


def test_langevin_1d_is_gibbs_with_second_order_error():
    loss = fw.Loss.from_expr(DEMO)
    errs = []
    for n in (401, 801):
        g = fw.Grid([(-2, 2)], (n,))
        r = fw.fokker_planck(fw.langevin(loss), g, 0.05)
        ex = _gibbs(loss.value(g.points()), 0.05, g.spacing[0])
        keep = ex > 1e-10 * ex.max()
        errs.append(np.max(np.abs(r.density / ex - 1)[keep]))
    # measured 5.4e-4 and 2.7e-4
    assert errs[-1] < 5e-4 and errs[0] / errs[1] > 1.7, errs


def test_gaussian_sgd_1d_density_is_inverse_variance_times_exp():
    """a(x) = 0.5 + x²/2: p = a⁻¹ exp(-V/ε) exactly (K = 1/a), V = 2∫f'/a."""
    loss = fw.Loss.from_expr(DEMO)
    g = fw.Grid([(-2, 2)], (801,))
    r = fw.fokker_planck(fw.sgd(loss, noise=fw.GaussianNoise("0.5 + x**2/2")), g, 0.1)
    x = g.axes[0]
    V = 4 * (x**2 / 2 - np.log(1 + x**2) + 0.15 * np.arctan(x))
    ex = np.exp(-(V - V.min()) / 0.1) / (0.5 + x**2 / 2)
    ex /= ex.sum() * g.spacing[0]
    assert np.max(np.abs(r.density / ex - 1)) < 3e-4  # measured 8.4e-5


def test_langevin_2d_is_gibbs():
    loss = fw.Loss.from_expr("(x**2 - 1)**2/4 + y**2/2 + x/10")
    g = fw.Grid([(-2, 2), (-1.5, 1.5)], (161, 121))
    r = fw.fokker_planck(fw.langevin(loss), g, 0.1)
    ex = _gibbs(loss.value(g.points()), 0.1, np.prod(g.spacing))
    keep = ex > 1e-8 * ex.max()
    assert np.max(np.abs(r.density / ex - 1)[keep]) < 5e-3  # measured 2.4e-3
    assert r.info["nonpositive_nodes"] == 0


def test_rotational_linear_field_covariance_converges():
    """b = (-2x - 10y, 20x - y), a = I: p ∝ exp(-(2x² + y²)/ε) exactly; the exponential scheme's
    cross-flow numerical diffusion shrinks like h² (measured 4.6e-3, 1.1e-3); central differences
    are more accurate where the cell Péclet number is moderate (measured 1.7e-4 at 101²)."""
    dyn = fw.Diffusion(["-2*x - 10*y", "20*x - y"], cov=np.eye(2))
    exact = 0.1 * np.diag([0.25, 0.5])

    def cov_error(n, scheme):
        g = fw.Grid([(-1, 1), (-1, 1)], (n, n))
        r = fw.fokker_planck(dyn, g, 0.1, scheme=scheme)
        X = g.points()
        w = r.density * np.prod(g.spacing)
        return np.abs(np.einsum("ij,ija,ijb->ab", w, X, X) - exact).max()

    e1, e2 = cov_error(101, "exponential"), cov_error(201, "exponential")
    assert e2 < 2e-3 and e1 / e2 > 3.0, (e1, e2)
    assert cov_error(101, "central") < 5e-4


def test_minus_eps_log_p_approaches_w():
    """-ε log p_ε - W = ε log(1/K) + const: the gap shrinks like ε (Gaussian SGD, 1-D)."""
    loss = fw.Loss.from_expr(DEMO)
    dyn = fw.sgd(loss, noise=fw.GaussianNoise("0.5 + x**2/2"))
    g = fw.Grid([(-1.8, 1.8)], (721,))
    land = fw.landscape(dyn, g)
    gaps = []
    for eps in (0.2, 0.1, 0.05):
        r = fw.fokker_planck(dyn, g, eps)
        gaps.append(np.max(np.abs(r.minus_eps_log_p - land.potential)))
    assert gaps[2] < gaps[1] < gaps[0]
    assert 1.6 < gaps[1] / gaps[2] < 2.4, gaps  # first order in ε


def test_basin_masses_tend_to_diffusion_prefactor_weights():
    """log(P_right/P_left) + ΔW/ε → log(c_right/c_left) with c = K det(∇²W)^(-1/2), K = 1/a."""
    loss = fw.Loss.from_expr(DEMO)
    dyn = fw.sgd(loss, noise=fw.GaussianNoise("2 + 2*x**2"))
    g = fw.Grid([(-2.2, 2.2)], (1761,))
    land = fw.landscape(dyn, g)
    dW = land.energies[1] - land.energies[0]
    eps = np.array([0.04, 0.02, 0.01])
    vals = []
    for e in eps:
        P = fw.fokker_planck(dyn, g, e).basin_masses(land)[:-1]  # the attractors' basins
        vals.append(np.log(P[1] / P[0]) + dW / e)
    intercept = np.polyfit(eps, vals, 1)[1]
    c = {k: land.prefactors(k) for k in ("hwang", "diffusion")}
    target = np.log(c["diffusion"][1] / c["diffusion"][0])
    hwang = np.log(c["hwang"][1] / c["hwang"][0])
    assert abs(intercept - target) < 0.01, (vals, intercept, target)
    assert abs(intercept - hwang) > 0.1  # the correction is really there (0.154)
    # predicted masses at finite eps
    pm = land.predicted_masses(0.01, kind="diffusion")
    P = fw.fokker_planck(dyn, g, 0.01).basin_masses(land)[:-1]  # the attractors' basins
    assert np.allclose(pm, P / P.sum(), rtol=0.05)


def test_basins_behind_high_barriers_keep_their_mass():
    """Symmetric double well, barrier 50 ε: GTH keeps both basins (exact to rounding); plain LU
    loses the basin without the pin (documented limit)."""
    loss = fw.Loss.from_expr("(x**2-1)**2/4 + y**2/2")
    g = fw.Grid([(-1.5, 1.5), (-1.2, 1.2)], (61, 49))
    f = loss.value(g.points())
    ex = _gibbs(f, 0.005, np.prod(g.spacing))
    r = fw.fokker_planck(fw.langevin(loss), g, 0.005)
    assert r.info["solver"] == "gth"
    left, right = r.density[g.axes[0] < 0].sum(), r.density[g.axes[0] > 0].sum()
    assert abs(left / right - 1) < 1e-8
    ratio = (r.density / ex)[::6, 24]
    assert np.all(np.abs(ratio - 1) < 0.1), ratio
    lu = fw.fokker_planck(fw.langevin(loss), g, 0.005, solver="lu")
    assert lu.density[g.axes[0] > 0.2].sum() < 1e-3 * lu.density[g.axes[0] < -0.2].sum()


def test_bad_input():
    loss = fw.Loss.from_expr(DEMO)
    g = fw.Grid([(-2, 2)], (101,))
    with pytest.raises(fw.InputError, match="eps must be a positive"):
        fw.fokker_planck(fw.langevin(loss), g, 0.0)
    with pytest.raises(fw.GridError, match="too small for this grid"):
        fw.fokker_planck(fw.langevin(loss), g, 1e-4)
    with pytest.raises(fw.InputError, match="solver"):
        fw.fokker_planck(fw.langevin(loss), g, 0.1, solver="cg")
    with pytest.raises(fw.InputError, match="scheme"):
        fw.fokker_planck(fw.langevin(loss), g, 0.1, scheme="upwind")
    g3 = fw.Grid([(-1, 1)] * 3, (5, 5, 5))
    with pytest.raises(fw.GridError, match="1-D and 2-D"):
        fw.fokker_planck(fw.langevin("x**2 + y**2 + z**2"), g3, 0.1)


def test_tiny_eps_says_raise_eps_or_refine():
    """At cell Péclet numbers ~65 the generator splits in floating point; the error gives the numbers."""
    dyn = fw.langevin("(x**2 - 1)**2/4 + y**2/2")
    grid = fw.Grid([(-2, 2), (-2, 2)], (41, 41))
    with pytest.raises(
        fw.GridError,
        match=r"not irreducible .*eps=0\.01 is too small for this grid: the cell Péclet number .* reaches 6[0-9.]+, "
        r".*raise eps to about 0\.02[0-9]* or more, or refine the grid to about 8[0-9]x8[0-9] nodes",
    ):
        fw.fokker_planck(dyn, grid, 0.01)
    fw.fokker_planck(dyn, fw.Grid([(-2, 2), (-2, 2)], (89, 89)), 0.01)  # the advice works
