"""Minima and index-1 saddles in any dimension (fwpotential.paths.minima, fwpotential.paths.saddles):
exact critical points of 2-D test functions, rotated double wells in d = 10 … 1000 (gradient and
non-gradient drifts), the discretised Allen–Cahn field on both sides of L = 2π, and the errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import fwpotential as fw
from fwpotential.paths.saddles import saddle_index
from fwpotential.paths.spectrum import drift_spectrum
from fwpotential.problems import allen_cahn

MULLER_BROWN = (
    "-200*exp(-(x-1)**2 - 10*y**2) - 100*exp(-x**2 - 10*(y-0.5)**2)"
    " - 170*exp(-6.5*(x+0.5)**2 + 11*(x+0.5)*(y-1.5) - 6.5*(y-1.5)**2)"
    " + 15*exp(0.7*(x+1)**2 + 0.6*(x+1)*(y-1) + 0.7*(y-1)**2)"
)
HIMMELBLAU = "(x**2 + y - 11)**2 + (x + y**2 - 7)**2"
CAMEL = "2*x**2 - 1.05*x**4 + x**6/6 + x*y + y**2"
KINK_PAIR = 4.0 * np.sqrt(2.0) / 3.0  # energy of two isolated kinks of (u² - 1)²/4, κ = 1


# ---- helpers ------------------------------------------------------------------------------------
def householder(d, rng, n_reflections=4):
    """A random orthogonal Q = H_1 ⋯ H_n (H_k = I - 2 w_k w_kᵀ, |w_k| = 1), applied in O(n d):
    returns (Q·, Qᵀ·) acting on the last axis."""
    W = rng.standard_normal((n_reflections, d))
    W /= np.linalg.norm(W, axis=1, keepdims=True)

    def reflect(v, w):
        return v - 2.0 * (v @ w)[..., None] * w

    def q(v):
        for w in W[::-1]:
            v = reflect(v, w)
        return v

    def qt(v):
        for w in W:
            v = reflect(v, w)
        return v

    return q, qt


def rotated_well(d, *, alpha=1.0, seed=0):
    """f(x) = α(z0² - 1)²/4 + Σ_k λ_k/2 (z_k - c_k z0²)², z = Qᵀ(x - x0), Q random orthogonal.

    Minima x0 + Q(±e0 + c) with f = 0; the one saddle between them is x0 (z = 0), f = α/4, and
    ∇²f there has the single negative eigenvalue -α (the other eigenvalues are the λ_k in [1, 100]).
    The c_k bend the minimum energy path, so the straight segment between the minima misses the saddle.
    Returns (U, grad, hvp, x0, minima, lam), the first three vectorised over leading axes; every
    evaluation costs O(d)."""
    rng = np.random.default_rng(seed)
    q, qt = householder(d, rng)
    x0 = rng.uniform(-1, 1, d)
    lam = np.concatenate([[0.0], rng.uniform(1.0, 100.0, d - 1)])
    c = np.concatenate([[0.0], rng.uniform(-1, 1, d - 1) * 0.6 / np.sqrt(d)])

    def value(x):
        z = qt(x - x0)
        r = z[..., 1:] - c[1:] * z[..., :1] ** 2
        return alpha * (z[..., 0] ** 2 - 1) ** 2 / 4 + 0.5 * np.sum(lam[1:] * r**2, axis=-1)

    def grad(x):
        z = qt(x - x0)
        r = z[..., 1:] - c[1:] * z[..., :1] ** 2
        g0 = alpha * z[..., 0] * (z[..., 0] ** 2 - 1) - 2 * z[..., 0] * np.sum(lam[1:] * c[1:] * r, axis=-1)
        return q(np.concatenate([g0[..., None], lam[1:] * r], axis=-1))

    def hvp(x, v):
        z, w = qt(x - x0), qt(v)
        z0 = z[..., :1]
        r = z[..., 1:] - c[1:] * z0**2
        h00 = alpha * (3 * z0**2 - 1) + np.sum(lam[1:] * ((2 * c[1:] * z0) ** 2 - 2 * c[1:] * r), -1, keepdims=True)
        off = -2 * lam[1:] * c[1:] * z0  # ∂²f/∂z0∂z_k
        out0 = h00 * w[..., :1] + np.sum(off * w[..., 1:], axis=-1, keepdims=True)
        return q(np.concatenate([out0, off * w[..., :1] + lam[1:] * w[..., 1:]], axis=-1))

    e0 = np.zeros(d)
    e0[0] = 1.0
    minima = np.stack([x0 + q(-e0 + c), x0 + q(e0 + c)])
    return value, grad, hvp, x0, minima, lam


def assert_same_points(found, expected, tol):
    """Every expected point matched by exactly one found point within tol, and no extra points."""
    found, expected = np.atleast_2d(found), np.atleast_2d(expected)
    assert len(found) == len(expected), (found, expected)
    dist = np.linalg.norm(found[:, None, :] - expected[None, :, :], axis=-1)
    assert np.all(dist.min(axis=0) <= tol), dist.min(axis=0)
    assert len(set(np.argmin(dist, axis=0))) == len(expected)


# ---- minima -------------------------------------------------------------------------------------
def test_many_starts_in_a_double_well_give_exactly_two_minima():
    dyn = fw.langevin("(x**2 - 1)**2 + 2*y**2 + 0.3*x*y**2")
    starts = np.random.default_rng(3).uniform([-2, -1.5], [2, 1.5], (80, 2))
    starts = starts[np.abs(starts[:, 0]) > 0.05]  # off the stable manifold x = 0 of the saddle
    m = fw.find_minima(dyn, starts)
    assert len(m) == 2 and m.hits.sum() == len(starts), m
    assert_same_points(m.points, [[-1.0, 0.0], [1.0, 0.0]], 1e-9)
    np.testing.assert_allclose(m.values, 0.0, atol=1e-15)
    assert m.points[0, 0] < 0 < m.points[1, 0]  # equal values: sorted by the first coordinate
    assert m.info["status"]["stable"] == len(starts) and m.info["dedup_tol"] < 1e-5


def test_minima_of_a_drift_without_loss_by_the_flow():
    # b = -(I + J)∇U, U = (x² - 1)² + y²: the same minima (±1, 0), reached by following b
    J = np.array([[0.0, 3.0], [-3.0, 0.0]])

    def drift(p):
        g = np.stack([4 * p[..., 0] * (p[..., 0] ** 2 - 1), 2 * p[..., 1]], axis=-1)
        return -g @ (np.eye(2) + J).T

    dyn = fw.Diffusion(drift=drift, dim=2)
    m = fw.find_minima(dyn, [[0.5, 1.0], [-0.7, -1.0], [1.8, 0.3], [-1.5, 1.2]])
    assert_same_points(m.points, [[-1.0, 0.0], [1.0, 0.0]], 1e-9)
    assert np.all(np.isnan(m.values)) and m.info["method"] == "flow"


def test_degenerate_minimum_is_kept_and_flagged():
    dyn = fw.langevin("x**4 + y**2")
    with pytest.warns(fw.FWWarning, match="within"):
        m = fw.find_minima(dyn, [[0.7, 0.3], [-0.4, -0.8]])
    assert len(m) == 1 and m.info["degenerate"] == [0]
    assert np.abs(m.points[0]).max() < 1e-3


# ---- 2-D test functions against fw.critical_points ----------------------------------------------
@pytest.mark.parametrize(
    ("expr", "box", "n_saddles"),
    [
        (MULLER_BROWN, [(-1.5, 1.2), (-0.4, 2.0)], 2),
        (HIMMELBLAU, [(-6, 6), (-6, 6)], 4),
        (CAMEL, [(-2.5, 2.5), (-2, 2)], 2),
    ],
)
def test_minima_and_saddles_match_the_critical_points(expr, box, n_saddles):
    cps = fw.critical_points(expr, box)
    dyn = fw.langevin(fw.Loss.from_expr(expr))
    lo, hi = np.array(box, dtype=float).T
    m = fw.find_minima(dyn, np.random.default_rng(1).uniform(lo, hi, (40, 2)))
    mins = cps.of_kind("minimum")
    assert_same_points(m.points, cps.points[mins], 1e-6)
    saddles, through = [], 0
    for i in range(len(m)):
        for j in range(i + 1, len(m)):
            res = fw.saddle_between(dyn, m.points[i], m.points[j], m.points)
            if res.saddle is None:
                assert "passes through another minimum" in res.reason, res.reason
                through += 1
                continue
            s = res.saddle
            k = int(np.argmin(np.linalg.norm(cps.points - s.point, axis=1)))
            assert cps.kinds[k] == "saddle" and np.linalg.norm(cps.points[k] - s.point) <= 1e-6, s
            assert abs(s.value - cps.values[k]) <= 1e-9 * (1 + abs(cps.values[k]))
            assert s.joins == (i, j) and s.info["residual"] <= s.info["tol"]
            hess = np.linalg.eigvalsh(dyn.loss.hess(s.point))
            assert abs(s.eigenvalue + hess[0]) <= 1e-6 * abs(hess[0])
            saddles.append(s.point)
    assert_same_points(np.unique(np.round(saddles, 7), axis=0), cps.points[cps.of_kind("saddle")], 1e-6)
    assert len(saddles) == n_saddles and through == len(m) * (len(m) - 1) // 2 - n_saddles


def test_saddle_index_counts_a_maximum_as_two():
    dyn = fw.langevin(HIMMELBLAU)
    n, ev = saddle_index(dyn, [-0.270845, -0.923039])  # Himmelblau's local maximum
    assert n == 2 and np.all(np.real(ev) > 0)


# ---- rotated double wells in high dimension -----------------------------------------------------
@pytest.mark.parametrize(("d", "alpha"), [(10, 1.0), (100, 1.0), (100, 1e-2), (1000, 1.0), (1000, 1e-2)])
def test_rotated_double_well_saddle_is_exact(d, alpha):
    value, grad, hvp, x0, minima, lam = rotated_well(d, alpha=alpha, seed=d)
    dyn = fw.langevin(fw.Loss.from_callable(value, dim=d, grad=grad, hvp=hvp))
    res = fw.saddle_between(dyn, minima[0], minima[1])
    s = res.saddle
    assert s is not None, res.reason
    assert np.linalg.norm(s.point - x0) <= 1e-7 * np.sqrt(d), np.linalg.norm(s.point - x0)
    assert abs(s.value - alpha / 4) <= 1e-10
    assert abs(s.eigenvalue - alpha) <= 1e-6 * alpha  # weak: α/λ_max = 1e-4 for α = 1e-2
    assert s.joins == (0, 1)
    n_unstable, ev = saddle_index(dyn, s.point, k=3)
    assert n_unstable == 1 and abs(np.real(ev[1]) + lam[1:].min()) <= 1e-6 * lam.max()


def antisymmetric(d, rng, *, rank=None):
    """(x ↦ x (I + J)ᵀ, x ↦ x (I + J)) on the last axis for a random antisymmetric J: dense
    (entries of size 1/√d) or, with ``rank``, J = 2 Σ_k (u_k w_kᵀ - w_k u_kᵀ), applied in O(rank d)."""
    if rank is None:
        A = rng.standard_normal((d, d)) / np.sqrt(d)
        M = np.eye(d) + A - A.T
        return (lambda v: v @ M.T), (lambda v: v @ M)
    U, W = rng.standard_normal((2, rank, d)) / np.sqrt(d)

    def jv(v, sign):
        return v + sign * 2 * ((v @ W.T) @ U - (v @ U.T) @ W)

    return (lambda v: jv(v, 1.0)), (lambda v: jv(v, -1.0))


@pytest.mark.parametrize(("d", "rank"), [(10, None), (100, None), (1000, 4)])
def test_non_gradient_drift_has_the_saddle_of_U(d, rank):
    value, grad, hvp, x0, minima, _ = rotated_well(d, seed=d + 1)
    m_t, m = antisymmetric(d, np.random.default_rng(7), rank=rank)  # b = -(I + J)∇U: zero where ∇U is
    dyn = fw.Diffusion(
        drift=lambda x: -m_t(grad(x)),
        dim=d,
        jvp=lambda x, v: -m_t(hvp(x, v)),
        vjp=lambda x, w: -hvp(x, m(w)),
    )
    res = fw.saddle_between(dyn, minima[0], minima[1])
    s = res.saddle
    assert s is not None, res.reason
    assert np.linalg.norm(s.point - x0) <= 1e-7 * np.sqrt(d) and np.isnan(s.value)
    assert saddle_index(dyn, s.point)[0] == 1 and s.joins == (0, 1)
    if d <= 100:  # the exact spectrum of Db = -(I + J)∇²U at x0, densely
        exact = np.linalg.eigvals(np.stack([-m_t(hvp(x0, e)) for e in np.eye(d)]).T)
        assert abs(s.eigenvalue - np.max(exact.real)) <= 1e-6 * np.abs(exact).max()
        assert np.sum(exact.real > 0) == 1 and np.abs(exact.imag).max() > 0.1  # really rotating


# ---- Allen–Cahn ---------------------------------------------------------------------------------
def allen_cahn_saddle(n_sites, length):
    dyn = fw.langevin(allen_cahn(n_sites, length))
    res = fw.saddle_between(dyn, np.ones(n_sites), -np.ones(n_sites))
    assert res.saddle is not None, res.reason
    return dyn, res.saddle


@pytest.mark.parametrize("n_sites", [64, pytest.param(1024, marks=pytest.mark.slow)])
def test_allen_cahn_below_critical_length_is_the_constant_state(n_sites):
    L = 5.0  # < 2π: u ≡ 0 has the single unstable mode u = const, eigenvalue h of Db
    dyn, s = allen_cahn_saddle(n_sites, L)
    assert np.abs(s.point).max() <= 1e-8
    assert abs(s.value - L / 4) <= 1e-10
    assert abs(s.eigenvalue - L / n_sites) <= 1e-9
    assert saddle_index(dyn, s.point)[0] == 1 and s.joins == (0, 1)


@pytest.mark.parametrize(
    ("n_sites", "L"), [(64, 10.0), (256, 10.0), (128, 16.0), pytest.param(1024, 10.0, marks=pytest.mark.slow)]
)
def test_allen_cahn_above_critical_length_is_a_kink_pair(n_sites, L):
    # L > 2π: u ≡ 0 has index 3; the lowest saddle is a kink–antikink pair, whose unstable mode
    # (changing the distance of the kinks) weakens like exp(-L/√2): 5e-6 of λ_max for L = 16, N = 128
    dyn, s = allen_cahn_saddle(n_sites, L)
    u = s.point
    assert s.value < L / 4 - 0.5 and 1.7 < s.value < KINK_PAIR, s.value
    assert u.max() - u.min() > 1.5  # not constant
    n_unstable, ev = saddle_index(dyn, u, k=3)
    assert n_unstable == 1
    radius = 4.0 * n_sites / L + L / n_sites  # |λ|_max of ∇²E ≈ 4κ/h
    assert 0 < s.eigenvalue < (1e-5 if L > 12 else 1e-3) * radius  # a weak unstable mode
    # the translation zero mode: an eigenvalue ≈ 0 by Lanczos, its eigenvector along u' (to O(h²))
    assert s.info["n_zero"] >= 1 and abs(np.real(ev[1])) <= 1e-9 * radius
    zero_mode = drift_spectrum(dyn, u, k=2, v0=s.unstable_direction).vectors[:, 1]
    t = np.roll(u, -1) - np.roll(u, 1)
    assert abs(zero_mode @ t) / np.linalg.norm(t) >= 0.999
    assert s.joins == (0, 1)


# ---- errors -------------------------------------------------------------------------------------
def test_bad_input_is_an_input_error():
    dyn = fw.langevin("(x**2 - 1)**2 + y**2")
    with pytest.raises(fw.InputError, match=r"starts must have shape \(\.\.\., 2\)"):
        fw.find_minima(dyn, np.zeros((3, 3)))
    with pytest.raises(fw.InputError, match="starts must be finite"):
        fw.find_minima(dyn, [[np.nan, 0.0]])
    with pytest.raises(fw.InputError, match="dedup_tol must be a positive number"):
        fw.find_minima(dyn, [[1.0, 0.0]], dedup_tol=-1.0)
    with pytest.raises(fw.InputError, match="a and b are the same point"):
        fw.saddle_between(dyn, [1.0, 0.0], [1.0, 0.0])
    with pytest.raises(fw.InputError, match="n_images must be an integer >= 5"):
        fw.saddle_between(dyn, [1.0, 0.0], [-1.0, 0.0], n_images=3)
    with pytest.raises(fw.InputError, match=r"b must have shape \(\.\.\., 2\)"):
        fw.saddle_between(dyn, [1.0, 0.0], [-1.0])


def test_non_finite_loss_on_the_string_names_the_point():
    def value(x):
        bad = np.sum(x**2, axis=-1) < 0.01
        return np.where(bad, np.nan, (x[..., 0] ** 2 - 1) ** 2 + x[..., 1] ** 2)

    def grad(x):
        g = np.stack([4 * x[..., 0] * (x[..., 0] ** 2 - 1), 2 * x[..., 1]], axis=-1)
        return np.where(np.sum(x**2, axis=-1, keepdims=True) < 0.01, np.nan, g)

    dyn = fw.langevin(fw.Loss.from_callable(value, dim=2, grad=grad, hess=lambda x: np.zeros(x.shape + (2,))))
    with pytest.raises(fw.NonFiniteError, match="not finite at x ="):
        fw.saddle_between(dyn, [1.0, 0.0], [-1.0, 0.0])


def test_no_saddle_found_returns_the_reason():
    dyn = fw.langevin("x**2 + y**2")  # one basin: from its minimum to another point f only rises
    with pytest.warns(fw.FWWarning, match="no maximum along the string"):
        res = fw.saddle_between(dyn, [0.0, 0.0], [1.0, 0.5])
    assert res.saddle is None and "no maximum along the string" in res.reason
    assert res.string.shape == (21, 2)


def test_refinement_that_cannot_reach_tol_reports_the_residual():
    def grad(x):  # a gradient with a rough error of size 1e-9: |b| <= 1e-14 is out of reach
        g = np.stack([4 * x[..., 0] * (x[..., 0] ** 2 - 1), 2 * x[..., 1]], axis=-1)
        return g + 1e-9 * np.sin(1e13 * x + 1.0)

    def hess(x):
        h = np.zeros(x.shape + (2,))
        h[..., 0, 0], h[..., 1, 1] = 12 * x[..., 0] ** 2 - 4, 2.0
        return h

    value = lambda x: (x[..., 0] ** 2 - 1) ** 2 + x[..., 1] ** 2  # noqa: E731
    dyn = fw.langevin(fw.Loss.from_callable(value, dim=2, grad=grad, hess=hess))
    with pytest.warns(fw.FWWarning, match=r"stopped at \|b\| ="):
        res = fw.saddle_between(dyn, [1.0, 0.0], [-1.0, 0.0], tol=1e-14)
    assert res.saddle is None and "tol = 1e-14" in res.reason
    dyn = fw.langevin("(x**2 - 1)**2 + y**2")
    with pytest.raises(fw.ConvergenceError, match=r"stopped at \|b\| = .* after 1 iterations"):
        fw.refine_saddle(dyn, [0.4, 0.3], max_iter=1)


def test_refine_saddle_rejects_a_minimum():
    dyn = fw.langevin("(x**2 - 1)**2 + y**2")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = fw.refine_saddle(dyn, [0.1, 0.2])
    assert np.abs(s.point).max() <= 1e-10 and s.eigenvalue == pytest.approx(4.0)
    with pytest.raises(fw.ConvergenceError, match="has 0 unstable directions"):
        fw.refine_saddle(dyn, [1.0, 0.0])


def test_more_documented_errors():
    dyn = fw.langevin("(x**2 - 1)**2 + y**2")
    with pytest.raises(fw.InputError, match="tol must be a positive number"):
        fw.find_minima(dyn, [[1.0, 0.0]], tol=0.0)
    with pytest.raises(fw.InputError, match="direction must be a non-zero vector"):
        fw.refine_saddle(dyn, [0.1, 0.0], direction=[0.0, 0.0])
    with pytest.raises(fw.InputError, match="x0 must have shape"):
        fw.refine_saddle(dyn, [0.1, 0.0, 0.0])
    log = fw.langevin(fw.Loss.from_callable(lambda x: np.log(x[..., 0]) ** 2 + x[..., 1] ** 2, dim=2))
    with pytest.raises(fw.NonFiniteError, match="not finite at x ="):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # finite-difference gradient warning, and log of x < 0
            with np.errstate(invalid="ignore", divide="ignore"):
                fw.find_minima(log, [[-0.5, 0.2]])
    with pytest.raises(fw.InputError, match="n_sites must be an integer >= 3"):
        allen_cahn(2, 5.0)
    with pytest.raises(fw.InputError, match="length and kappa must be positive"):
        allen_cahn(16, -1.0)


def test_allen_cahn_derivatives_are_exact():
    loss = allen_cahn(12, 3.0, kappa=0.7)
    rng = np.random.default_rng(5)
    u, v = rng.standard_normal((2, 3, 12))
    h = 1e-6
    fd = np.stack([(loss.value(u + h * e) - loss.value(u - h * e)) / (2 * h) for e in np.eye(12)], axis=-1)
    np.testing.assert_allclose(loss.grad(u), fd, rtol=1e-7, atol=1e-7)
    np.testing.assert_allclose(loss.hvp(u, v), np.einsum("...ij,...j->...i", loss.hess(u), v), rtol=1e-12)
    fdh = (loss.grad(u + h * v) - loss.grad(u - h * v)) / (2 * h)
    np.testing.assert_allclose(loss.hvp(u, v), fdh, rtol=1e-6, atol=1e-6)
    assert float(loss.value(np.zeros(12))) == pytest.approx(3.0 / 4)
    assert float(loss.value(np.ones(12))) == 0.0
