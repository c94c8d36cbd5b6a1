"""Exact 1-D solver (method="exact") against closed forms (theory.md §3): Langevin V = f - f*,
Gaussian SGD V' = 2f'/a, the two-sample finite sum log cosh(p c) = p f' with its +inf region, batch
scaling V_B = B V₁, and attractor snapping."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import fwpotential as fw
from fwpotential import problems

N = 4001


def _rel_err(V, ref, floor=1e-3):
    """max |V - ref| / max(|ref|, floor) on the finite reference values. The floor: the closed forms
    F(x) - F(x*) lose digits to cancellation where V is tiny next to the attractor (~1e-9 relative
    at V ~ 1e-7), so relative error is measured against at least 1e-3."""
    fin = np.isfinite(ref)
    return float(np.max(np.abs(V[fin] - ref[fin]) / np.maximum(np.abs(ref[fin]), floor)))


@pytest.mark.parametrize("make", [problems.langevin_double_well_1d, problems.gaussian_sgd_1d])
def test_gaussian_problems_closed_forms(make):
    """V on a 4001-node grid within 1e-8 relative of the closed form (observed ~1e-15), everywhere
    on [-2, 2]: through the basin, flat past the saddle, and climbing in the other well."""
    prob = make()
    grid = prob.grid(N)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the attractor is the exact equilibrium: no snap warning
        qp = fw.quasipotential(prob.dynamics, grid, prob.attractor, method="exact")
    ref = prob.exact_on(grid)
    assert qp.values.shape == grid.shape and qp.method == "exact"
    assert np.all(np.isfinite(ref)) and np.all(np.isfinite(qp.values))
    assert _rel_err(qp.values, ref) <= 1e-8
    assert np.abs(qp.values - ref).max() <= 1e-12  # V = O(1): absolute rounding level
    # V = 0 only at the attractor's node neighbourhood; V > 0 elsewhere; flat between the wells
    xs = grid.axes[0]
    mins, sad = prob.extra["minima"], prob.extra["saddle"]
    flat = (xs > mins[0] + 1e-3) & (xs < sad - 1e-3)
    assert np.ptp(qp.values[flat]) <= 1e-12 * qp.values[flat].max()
    assert np.all(qp.values[np.abs(xs - prob.attractor[0]) > 0.01] > 0)


def test_langevin_is_f_minus_fstar_in_basin():
    """A direct check of V = f - f* without the problem helper, at a non-snapped point attractor."""
    loss = fw.Loss.from_expr("(x**2 - 1)**2 / 4 + 0.15*x")
    roots = np.sort(np.roots([1.0, 0.0, -1.0, 0.15]).real)
    grid = fw.Grid([(-2.0, 2.0)], (N,))
    qp = fw.quasipotential(fw.langevin(loss), grid, attractor=fw.Attractor.from_point(roots[0]), method="exact")
    xs = grid.axes[0]
    basin = xs <= roots[1]
    ref = loss.value(xs) - loss.value(roots[0])
    assert _rel_err(qp.values[basin], ref[basin]) <= 1e-8
    # beyond the saddle (the right well) the path goes down to the right minimum, then up
    right = xs >= roots[2]
    Vsad = loss.value(roots[1]) - loss.value(roots[0])
    np.testing.assert_allclose(
        qp.values[right], Vsad + loss.value(xs[right]) - loss.value(roots[2]), rtol=1e-10, atol=1e-12
    )


def _two_sample_edge(c):
    roots = np.roots([1.0, 0.0, -1.0, -c])
    return float(np.max(roots[np.abs(roots.imag) < 1e-12].real))  # f'(y) = y³ - y = c, y > 1


@pytest.mark.parametrize("B", [1, 3])
def test_two_sample_closed_form_and_inf_set(B):
    """Z = ±c: V' solves B log cosh(p c / B) = p f'; V = +inf exactly where |x| ≥ y_edge,
    f'(y_edge) = c (beyond the well); 1e-8 relative on every 20th node (adaptive-quadrature reference,
    NaN within 0.02 of the edge, where V diverges logarithmically)."""
    c = 1.2
    prob = problems.two_sample_1d(c=c, batch_size=B)
    grid = prob.grid(N)
    qp = fw.quasipotential(prob.dynamics, grid, prob.attractor, method="exact")
    xs = grid.axes[0]
    y_edge = _two_sample_edge(c)
    expected_inf = np.abs(xs) >= y_edge
    assert expected_inf.sum() > 500 and (~expected_inf).sum() > 2000  # the test sees both regions
    np.testing.assert_array_equal(np.isinf(qp.values), expected_inf)
    assert np.all(qp.values[expected_inf] == np.inf) and not np.isnan(qp.values).any()
    assert qp.info["unreachable"] == int(expected_inf.sum())
    sub = np.arange(0, N, 20)
    ref = prob.exact(xs[sub, None])
    assert np.isfinite(ref).sum() >= 120
    np.testing.assert_array_equal(np.isinf(ref), expected_inf[sub])
    assert _rel_err(qp.values[sub], ref) <= 1e-8
    # finite right up to the edge, and growing towards it (log divergence)
    inside = np.flatnonzero(~expected_inf)
    last = qp.values[inside[-1]]
    assert np.isfinite(last) and last > qp.values[inside[-1] - 50]


def test_batch_scaling_V_B_equals_B_V_1():
    """With replacement Λ_B(p) = B Λ₁(p/B), so the root scales by B and V_B = B V₁ (inf set unchanged)."""
    grid = fw.Grid([(-2.0, 2.0)], (N,))
    V = {
        B: fw.quasipotential(problems.two_sample_1d(batch_size=B).dynamics, grid, 1.0, method="exact").values
        for B in (1, 3)
    }
    np.testing.assert_array_equal(np.isinf(V[3]), np.isinf(V[1]))
    fin = np.isfinite(V[1])
    np.testing.assert_allclose(V[3][fin], 3 * V[1][fin], rtol=1e-12, atol=1e-14)
    # a data-driven finite sum (x-dependent noise): same scaling, B = 2 and 5
    data = fw.FiniteSum(
        [fw.Loss.from_expr(f"(x**2 - 1)**2 / 4 + {a}*x + {b}*x**2") for a, b in ((0.4, 0.1), (-0.3, 0.0), (-0.1, -0.1))]
    )
    g = fw.Grid([(-1.8, 1.8)], (801,))
    W = {B: fw.quasipotential(fw.sgd(data, batch_size=B), g, 1.0, method="exact").values for B in (1, 2, 5)}
    fin = np.isfinite(W[1])
    assert fin.sum() > 100
    for B in (2, 5):
        np.testing.assert_array_equal(np.isinf(W[B]), ~fin)
        np.testing.assert_allclose(W[B][fin], B * W[1][fin], rtol=1e-12, atol=1e-14)


def test_custom_noise_matches_finite_sum():
    """The Rademacher law as a CustomNoise (with support=, or without it) reproduces the two-sample
    finite-sum V, +inf set included."""
    c = 1.2
    grid = fw.Grid([(-2.0, 2.0)], (801,))
    ref = fw.quasipotential(problems.two_sample_1d(c=c).dynamics, grid, 1.0, method="exact").values
    loss = fw.Loss.from_expr("x**4/4 - x**2/2")

    def cgf(x, p):
        return np.sum(np.logaddexp(c * p, -c * p) - np.log(2.0), axis=-1)

    kw = dict(
        cgf_grad=lambda x, p: c * np.tanh(c * p),
        cgf_hess=lambda x, p: (c**2 / np.cosh(np.clip(c * p, -300, 300)) ** 2)[..., None],
    )
    for support in (lambda x, e: c * np.abs(e[..., 0]), None):
        law = fw.CustomNoise(cgf, support=support, **kw)
        V = fw.quasipotential(fw.sgd(loss, noise=law), grid, 1.0, method="exact").values
        np.testing.assert_array_equal(np.isinf(V), np.isinf(ref))
        fin = np.isfinite(ref)
        np.testing.assert_allclose(V[fin], ref[fin], rtol=1e-12, atol=1e-14)


def test_attractor_snapping():
    prob = problems.gaussian_sgd_1d()
    grid = fw.Grid([(-2.0, 2.0)], (N,))
    with pytest.warns(fw.FWWarning, match=r"attractor \(0\.92\) snapped to the equilibrium \(0\.914297\)"):
        qp = fw.quasipotential(prob.dynamics, grid, attractor=0.92, method="exact")
    x_star = 0.9142973158662134  # root of x³ - x + 0.15
    assert qp.attractor.point[0] == pytest.approx(x_star, abs=1e-14)
    snap = qp.info["snap"]
    assert snap["requested"][0] == 0.92 and snap["snapped"][0] == pytest.approx(x_star, abs=1e-14)
    assert snap["distance"] == pytest.approx(0.92 - x_star, rel=1e-12)
    assert snap["cells"] == pytest.approx((0.92 - x_star) / 0.001, rel=1e-9)
    ref = fw.quasipotential(prob.dynamics, grid, attractor=x_star, method="exact")
    np.testing.assert_allclose(qp.values, ref.values, rtol=0, atol=1e-14)
    assert _rel_err(qp.values, prob.exact_on(grid)) <= 1e-8


def test_set_attractor_from_mask():
    """V = 0 on the mask and grows outward from its ends."""
    loss = fw.Loss.from_expr("(x**2 - 1)**2 / 4")
    grid = fw.Grid([(-2.0, 2.0)], (401,))
    xs = grid.axes[0]
    mask = (xs >= 0.9) & (xs <= 1.1)
    qp = fw.quasipotential(fw.langevin(loss), grid, fw.Attractor.from_mask(mask), method="exact")
    np.testing.assert_array_equal(qp.values[mask], 0.0)
    right = xs > 1.1
    f = loss.value(xs)
    np.testing.assert_allclose(qp.values[right], f[right] - loss.value(xs[mask][-1]), rtol=1e-12, atol=1e-14)
    left = (xs < 0.9) & (xs >= 0.0)
    np.testing.assert_allclose(qp.values[left], f[left] - loss.value(xs[mask][0]), rtol=1e-12, atol=1e-14)


def test_quad_points_option_and_info():
    prob = problems.gaussian_sgd_1d()
    grid = prob.grid(401)
    qp = fw.quasipotential(prob.dynamics, grid, prob.attractor, method="exact", quad_points=4)
    assert qp.info["options"] == {"quad_points": 4}
    assert "4 points" in qp.info["quadrature"]
    np.testing.assert_allclose(
        np.sort(qp.info["drift_zeros"]), np.sort(np.roots([1.0, 0.0, -1.0, 0.15]).real), atol=1e-14
    )
    assert np.abs(qp.values - prob.exact_on(grid)).max() <= 1e-9


@pytest.mark.parametrize(
    ("variance", "v_saddle"),
    [
        ("x**2", np.inf),  # r ~ 2/|x| at the saddle: log-divergent, the other well is unreachable
        ("(x - 0.3)**2", np.inf),  # a vanishes between nodes while the path climbs: divergent
        ("Abs(x)", 4.0 / 3.0),  # r bounded at the saddle: 2∫(x - x³)/x
        ("1e-14 + x**2", 31.236191301917014),  # near-singular, finite: 2∫(x - x³)/(1e-14 + x²)
    ],
)
def test_vanishing_noise_on_the_path(variance, v_saddle):
    """Where the noise variance vanishes on the way up, V is +inf beyond exactly when ∫ 2|b|/a diverges."""
    loss = fw.Loss.from_expr("(x**2 - 1)**2 / 4")
    grid = fw.Grid([(-2.0, 2.0)], (401,))
    V = fw.quasipotential(fw.sgd(loss, noise=fw.GaussianNoise(variance)), grid, 1.0, method="exact").values
    xs, i0 = grid.axes[0], 200  # x = 0, the saddle
    if np.isinf(v_saddle):
        edge = 0.0 if variance == "x**2" else 0.3  # where the noise vanishes
        assert np.all(np.isinf(V[xs < edge - 1e-9])) and np.all(np.isfinite(V[xs > edge + 1e-9]))
    else:
        assert V[i0] == pytest.approx(v_saddle, rel=1e-9)
        assert V[100] == pytest.approx(v_saddle, rel=1e-9)  # the left well, downhill from the saddle
