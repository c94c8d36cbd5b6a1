"""Landscapes: energies, global potential, ground states, Hwang weights, SGD vs Langevin."""

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.integrate import quad

import fwpotential as fw
from fwpotential.analysis.comparison import compare
from fwpotential.analysis.landscapes import landscape

pytestmark = pytest.mark.filterwarnings("ignore::fwpotential.FWWarning")

DEMO_LOSS = "(x**2 - 1)**2 / 4 + 0.15*x"


def test_langevin_1d_energies_are_loss_gaps():
    loss = fw.Loss.from_expr("x**6/6 - 5*x**4/4 + 2*x**2 + x/5")  # three wells
    g = fw.Grid([(-2.6, 2.6)], (2001,))
    L = landscape(fw.langevin(loss), g)
    assert len(L.attractors) == 3
    f = L.attractor_values
    assert np.allclose(L.energies, f - f.min(), atol=1e-9)
    fx = loss.value(g.points())
    assert np.max(np.abs(L.potential - (fx - f.min()))) < 1e-9
    assert list(L.ground_states) == [int(np.argmin(f))]
    assert len(L.saddles) == 2
    # each saddle joins two different wells
    assert all(a != b and min(a, b) >= 0 for a, b in L.saddle_joins)


@pytest.mark.parametrize(
    "expr, box, n_min",
    [
        ("((x**2 + y - 11)**2 + (x + y**2 - 7)**2)/50", [(-5, 5), (-5, 5)], 4),  # Himmelblau
        ("2*x**2 - 1.05*x**4 + x**6/6 + x*y + y**2", [(-2.5, 2.5), (-2, 2)], 3),  # three-hump camel
    ],
)
def test_langevin_2d_potential_is_loss(expr, box, n_min):
    loss = fw.Loss.from_expr(expr)
    g = fw.Grid(box, (257, 257))
    L = landscape(fw.langevin(loss), g, method="fmm")
    assert len(L.attractors) == n_min
    f = L.attractor_values
    # fmm error at 257² (measured ~1e-3 relative to the loss range); the estimate must cover it
    assert np.allclose(L.energies, f - f.min(), atol=5e-3 * (1 + np.ptp(f)))  # measured <= 3.2e-3
    fx = loss.value(g.points())
    inner = np.zeros(g.shape, bool)
    inner[8:-8, 8:-8] = True
    err = np.abs(L.potential - (fx - f.min()))[inner]
    assert err.max() < 0.02 * (1 + np.ptp(fx[inner])), err.max()
    assert np.all(np.abs(L.energies - (f - f.min())) <= 3 * L.energy_errors + 1e-6)


def test_isotropic_constant_sgd_noise_scales_energies():
    loss = fw.Loss.from_expr("2*x**2 - 1.05*x**4 + x**6/6 + x*y + y**2")
    s = 0.7  # a = s² I
    g = fw.Grid([(-2.5, 2.5), (-2, 2)], (257, 257))
    L = landscape(fw.sgd(loss, noise=fw.IsotropicNoise(s**2)), g, method="fmm")
    f = L.attractor_values
    assert np.allclose(L.energies, 2 * (f - f.min()) / s**2, atol=3e-3 * 2 / s**2)


def _exact_energies_demo(noise):
    loss = fw.Loss.from_expr(DEMO_LOSS)
    cps = fw.critical_points(loss, [(-2, 2)])
    xl, xr = np.sort(cps.points[cps.of_kind("minimum")][:, 0])
    xs = cps.points[cps.of_kind("maximum")][0, 0]

    def rate(y):
        fp = y**3 - y + 0.15
        return 2 * fp / noise(y)

    up_from_right = -quad(rate, xs, xr, epsabs=1e-13)[0]  # climb from xr down-left to the saddle
    up_from_left = quad(rate, xl, xs, epsabs=1e-13)[0]
    # W_left = cost(right -> left), W_right = cost(left -> right)
    return np.array([abs(up_from_right), abs(up_from_left)])


def test_1d_sgd_ground_state_differs_from_argmin_f():
    loss = fw.Loss.from_expr(DEMO_LOSS)
    g = fw.Grid([(-2, 2)], (4001,))
    L = landscape(fw.sgd(loss, noise=fw.GaussianNoise("0.2 + (x - 1)**2")), g)
    W_exact = _exact_energies_demo(lambda y: 0.2 + (y - 1) ** 2)
    assert np.allclose(L.energies, W_exact - W_exact.min(), rtol=1e-8, atol=1e-10)
    assert list(L.ground_states) == [1]  # the right well: f is higher there
    assert np.argmin(L.attractor_values) == 0
    cmp = compare(loss, noise=fw.GaussianNoise("0.2 + (x - 1)**2"), grid=g)
    assert not cmp.same_ground_states
    text = str(cmp)
    assert "DIFFERENT" in text and "0.91" in text
    d = cmp.to_dict()
    assert d["sgd"]["ground_states"] == [1] and d["langevin"]["ground_states"] == [0]


def test_costs_and_potential_definitions():
    loss = fw.Loss.from_expr(DEMO_LOSS)
    g = fw.Grid([(-2, 2)], (2001,))
    L = landscape(fw.sgd(loss, noise=fw.GaussianNoise("0.5 + x**2/2")), g)
    assert L.costs[0, 0] == 0 and L.costs[1, 1] == 0
    W = np.min([L.energies[i] + L.quasipotentials[i].values for i in range(2)], axis=0)
    assert np.array_equal(W, L.potential)
    assert 0.0 <= L.potential.min() < 1e-6  # x* lies between nodes


def test_basins_1d_split_at_the_saddle():
    loss = fw.Loss.from_expr(DEMO_LOSS)
    g = fw.Grid([(-2, 2)], (401,))
    L = landscape(fw.langevin(loss), g)
    x = g.axes[0]
    xs = fw.critical_points(loss, g).points[1, 0]
    far = np.abs(x - xs) > 2 * g.spacing[0]
    expect = np.where(x < xs, 0, 1)
    assert np.array_equal(L.basins[far], expect[far])


# ---- Hwang weights vs exact Gibbs integrals -------------------------------------------------------
def test_hwang_weights_standalone():
    w = fw.hwang_weights([np.diag([1.0, 4.0]), np.diag([4.0, 4.0])])
    assert np.allclose(w, [2 / 3, 1 / 3])
    with pytest.raises(fw.InputError, match="positive definite"):
        fw.hwang_weights([np.diag([1.0, -1.0])])


def test_hwang_1d_vs_gibbs_integrals():
    # tied minima at ±1 (f = 0) with curvatures 8 g(±1), g = 1 + 0.5 x: weights ∝ g^(-1/2)
    f = lambda x: (x**2 - 1) ** 2 * (1 + 0.5 * x)  # noqa: E731
    loss = fw.Loss.from_expr("(x**2 - 1)**2 * (1 + 0.5*x)")
    g = fw.Grid([(-1.8, 1.8)], (1801,))
    L = landscape(fw.langevin(loss), g)
    assert len(L.ground_states) == 2
    w = L.hwang_weights()
    ratio_hwang = w[0] / w[1]  # left / right
    assert np.isclose(ratio_hwang, np.sqrt(1.5 / 0.5), rtol=1e-8)
    errs = []
    for eps in (0.02, 0.01, 0.005):
        left = quad(lambda x, eps=eps: np.exp(-f(x) / eps), -1.8, -0.0, epsabs=0, epsrel=1e-12, points=[-1.0])[0]
        right = quad(lambda x, eps=eps: np.exp(-f(x) / eps), 0.0, 1.8, epsabs=0, epsrel=1e-12, points=[1.0])[0]
        errs.append(abs(left / right / ratio_hwang - 1))
    # O(eps): halving eps roughly halves the error
    assert errs[-1] < 0.02 and errs[0] / errs[-1] > 2.5, errs


def test_hwang_2d_vs_gibbs_integrals():
    expr = "(x**2 - 1)**2 + y**2 * (1 + 0.5*x)**2"
    loss = fw.Loss.from_expr(expr)
    g = fw.Grid([(-1.8, 1.8), (-1.2, 1.2)], (181, 121))
    L = landscape(fw.langevin(loss), g, method="fmm")
    assert len(L.ground_states) == 2
    w = L.hwang_weights()
    assert np.isclose(w[0] / w[1], 3.0, rtol=1e-8)  # dets 4·2·0.25·... : sqrt(36/4)
    wg = L.hwang_weights(source="grid")
    assert np.isclose(wg[0] / wg[1], 3.0, rtol=0.1)
    x = np.linspace(-1.8, 1.8, 1441)
    y = np.linspace(-1.2, 1.2, 961)
    X, Y = np.meshgrid(x, y, indexing="ij")
    F = (X**2 - 1) ** 2 + Y**2 * (1 + 0.5 * X) ** 2
    errs = []
    for eps in (0.02, 0.01):
        p = np.exp(-F / eps)
        left, right = p[x < 0].sum(), p[x > 0].sum()
        errs.append(abs(left / right / 3.0 - 1))
    assert errs[-1] < 0.03 and errs[0] > errs[-1], errs


def test_circle_beats_point_with_angular_density():
    expr = "(x**2 + y**2 - 1)**2 * ((x - 3)**2 + y**2)"
    loss = fw.Loss.from_expr(expr)
    g = fw.Grid([(-1.6, 3.6), (-1.6, 1.6)], (261, 161))
    r = np.linalg.norm(g.points(), axis=-1)
    circle = fw.Attractor.from_mask(np.abs(r - 1) <= 0.5 * g.spacing[0] * 1.0001)
    L = landscape(fw.langevin(loss), g, method="fmm", attractors=[circle, (3.0, 0.0)])
    assert set(L.ground_states) == {0, 1}
    w = L.hwang_weights()
    assert w[list(L.ground_states).index(0)] == 1.0 and w[list(L.ground_states).index(1)] == 0.0
    pts, dens = L.set_density(0)
    theta = np.arctan2(pts[:, 1], pts[:, 0])
    expect = (10 - 6 * np.cos(theta)) ** -0.5  # normal Hessian 8 (10 - 6 cos θ)
    ratio = dens / expect
    assert np.ptp(ratio) / ratio.mean() < 0.05
    # Gibbs: the circle's mass fraction -> 1 as eps -> 0
    x = np.linspace(-1.6, 3.6, 2081)
    y = np.linspace(-1.6, 1.6, 1281)
    X, Y = np.meshgrid(x, y, indexing="ij")
    F = (X**2 + Y**2 - 1) ** 2 * ((X - 3) ** 2 + Y**2)
    fr = []
    for eps in (0.01, 0.001):
        p = np.exp(-F / eps)
        fr.append(p[np.hypot(X, Y) < 2].sum() / p.sum())
    assert fr[1] > fr[0] > 0.5 and fr[1] > 0.9, fr


def test_no_attractor_in_box_is_an_error():
    loss = fw.Loss.from_expr("(x - 5)**2")
    with pytest.raises(fw.AttractorError, match="no stable equilibrium inside the grid"):
        landscape(fw.langevin(loss), fw.Grid([(-1, 1)], (101,)))


# ---- attractors that cannot reach each other -------------------------------------------------
BOUNDED_1D = ["(x**2 - 1)**2/4 + 0.1*x", "(x**2 - 1)**2/4 - 0.1*x"]  # minibatch noise ±0.1 < max |f'| = 0.385


def _bounded_landscape(samples, grid, **kw):
    dyn = fw.sgd(fw.FiniteSum([fw.Loss.from_expr(e) for e in samples]))
    with pytest.warns(
        fw.FWWarning, match=r"every W-graph energy is \+inf: mutually unreachable attractors: 0 at"
    ) as rec:
        L = fw.landscape(dyn, grid, **kw)
    assert "the noise law is bounded" in str(rec[0].message) and "does not change" in str(rec[0].message)
    assert rec[0].filename == __file__  # the warning points at the caller, not at the progress wrapper
    return L


def _check_isolated(L):
    assert np.isinf(L.costs[0, 1]) and np.isinf(L.costs[1, 0])
    assert np.all(np.isinf(L.energies)) and len(L.ground_states) == 0 and np.all(np.isinf(L.potential))
    assert L.info["unreachable_pairs"] == [(0, 1), (1, 0)]
    assert L.weights().shape == (0,) and L.weights("chain").shape == (0,)
    assert np.all(np.isnan(L.predicted_masses(0.1)))
    assert "no ground state: the attractors cannot reach each other" in L.table()


def test_unreachable_attractors_give_a_landscape_and_a_warning(tmp_path):
    """Bounded minibatch noise weaker than the drift: W is +inf on any grid; the landscape says why."""
    L = _bounded_landscape(BOUNDED_1D, fw.Grid([(-2.0, 2.0)], (201,)))
    _check_isolated(L)
    # downstream: the report of a problem file with these samples writes every file
    from fwpotential.app import config, render, report

    text = f"""name = "isolated"
kind = "compare"
[loss]
samples = {BOUNDED_1D!r}
[noise]
law = "minibatch"
[grid]
bounds = [[-2, 2]]
shape = [201]
[fokker_planck]
eps = [0.1]
dynamics = "langevin"
""".replace("'", '"')
    with pytest.warns(fw.FWWarning, match="mutually unreachable"):
        outc = report.solve_problem(config.loads(text))
    files = render.write_outputs(outc, tmp_path)
    summary = json.loads(Path(files["json"]).read_text())
    assert summary["landscapes"]["sgd"]["energies"] == ["inf", "inf"], summary["landscapes"]["sgd"]
    assert "different ground states" in Path(files["report"]).read_text()


@pytest.mark.slow
def test_unreachable_attractors_2d():
    base = "x**2/2 + (y**2 - 1)**2/4"
    samples = [base + s for s in (" + 0.1*x", " - 0.05*x + 0.0866*y", " - 0.05*x - 0.0866*y")]
    _check_isolated(_bounded_landscape(samples, fw.Grid([(-1.0, 1.0), (-1.6, 1.6)], (11, 11)), method="sweep"))
