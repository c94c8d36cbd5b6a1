"""Dynamics: drift, Jacobian, H and L shapes, geometric cost, and the Lyapunov Hessian
``potential_hessian(x*)`` against finite differences of known quasi-potentials (theory.md §3)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

import fwpotential as fw
from fwpotential import problems

LOSS2 = "(x**2 - 1)**2 + 2*y**2 + a*x*y**2"


def fd_hessian(V, x0, h=2e-3):
    """Second differences of a scalar function V(points (..., d)) at x0 with Richardson extrapolation
    over steps h and h/2: error ~h⁴ V⁽⁶⁾ + rounding ~eps |V| / h² (both ≲ 1e-10 here)."""
    x0 = np.asarray(x0, float).reshape(-1)
    d = x0.size

    def D(h):
        E = h * np.eye(d)
        H = np.empty((d, d))
        for i in range(d):
            for j in range(d):
                pts = np.array([x0 + E[i] + E[j], x0 + E[i] - E[j], x0 - E[i] + E[j], x0 - E[i] - E[j]])
                v = np.asarray(V(pts), float).reshape(4)
                H[i, j] = (v[0] - v[1] - v[2] + v[3]) / (4 * h * h)
        return H

    H = (4 * D(h / 2) - D(h)) / 3
    return 0.5 * (H + H.T)


def assert_hessian(H, ref, rtol):
    assert H.shape == ref.shape
    np.testing.assert_allclose(H, ref, rtol=0, atol=rtol * np.abs(ref).max())


@pytest.mark.parametrize("x_star", [(1.0, 0.0), (-1.0, 0.0)])
def test_potential_hessian_langevin(x_star):
    """Langevin: V = f - f(x*) in the basin, so ∇²V(x*) = ∇²f(x*) = [[8, 0], [0, 4 + 2a x*]]."""
    loss = fw.Loss.from_expr(LOSS2, params={"a": 0.3})
    dyn = fw.langevin(loss)
    H = dyn.potential_hessian(x_star)
    V = lambda x: loss.value(x) - loss.value(np.array(x_star))  # noqa: E731
    assert_hessian(H, fd_hessian(V, x_star), 1e-6)
    np.testing.assert_allclose(H, [[8.0, 0.0], [0.0, 4.0 + 0.6 * x_star[0]]], rtol=1e-12, atol=1e-12)


def test_potential_hessian_langevin_3d_coupled():
    loss = fw.Loss.from_expr("x**2 + x*y + 2*y**2 + z**4 + z**2 + y*z/2 + x**3/3")
    x_star = np.zeros(3)
    H = fw.langevin(loss).potential_hessian(x_star)
    assert_hessian(H, fd_hessian(lambda x: loss.value(x), x_star), 1e-6)
    np.testing.assert_allclose(H, [[2, 1, 0], [1, 4, 0.5], [0, 0.5, 2]], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("s2", [0.36, 2.5])
def test_potential_hessian_isotropic_constant(s2):
    """b = -∇f, a = s² I: V = 2 (f - f*) / s², ∇²V = 2 ∇²f / s²."""
    loss = fw.Loss.from_expr(LOSS2, params={"a": 0.3})
    dyn = fw.sgd(loss, noise=fw.IsotropicNoise(s2))
    x_star = (1.0, 0.0)
    H = dyn.potential_hessian(x_star)
    V = lambda x: 2 * (loss.value(x) - loss.value(np.array(x_star))) / s2  # noqa: E731
    assert_hessian(H, fd_hessian(V, x_star), 1e-6)
    np.testing.assert_allclose(H, 2 * loss.hess(np.array(x_star)) / s2, rtol=1e-12)


def test_potential_hessian_isotropic_function_of_loss_value():
    """a = s(f) I with s = 0.5 + f: V = 2 (G(f) - G(f*)), G = log s, so ∇²V(x*) = 2 ∇²f / s(f*)."""
    loss = fw.Loss.from_expr(LOSS2 + " + 0.25", params={"a": 0.3})
    dyn = fw.sgd(loss, noise=fw.IsotropicNoise("0.5 + f"))
    x_star = (-1.0, 0.0)
    H = dyn.potential_hessian(x_star)
    f_star = float(loss.value(np.array(x_star)))
    V = lambda x: 2 * (np.log(0.5 + loss.value(x)) - np.log(0.5 + f_star))  # noqa: E731
    assert_hessian(H, fd_hessian(V, x_star), 1e-6)
    np.testing.assert_allclose(H, 2 * loss.hess(np.array(x_star)) / 0.75, rtol=1e-12)


@pytest.mark.parametrize("kappa,sigma", [(1.0, 1.0), (3.0, 0.7), (-2.0, 1.3)])
def test_potential_hessian_rotational(kappa, sigma):
    """b = -∇U + κ J∇U, a = σ² I: V = 2 (U - U*) / σ², ∇²V(1, 0) = 2 diag(2, 1) / σ²."""
    prob = problems.rotational_2d(kappa=kappa, sigma=sigma)
    x_star = np.array(prob.attractor)
    H = prob.dynamics.potential_hessian(x_star)
    fd = fd_hessian(prob.exact, x_star)
    assert np.all(np.isfinite(fd))
    assert_hessian(H, fd, 1e-6)
    np.testing.assert_allclose(H, 2 * np.diag([2.0, 1.0]) / sigma**2, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("make", [problems.linear_2d, problems.linear_3d])
def test_potential_hessian_linear_non_normal(make):
    """Linear drifts with a strong rotation (non-normal J): V = 2x² + y² and x² + 2y² + 3z²."""
    prob = make()
    x_star = np.array(prob.attractor)
    H = prob.dynamics.potential_hessian(x_star)
    assert_hessian(H, fd_hessian(prob.exact, x_star, h=1e-2), 1e-10)


def test_potential_hessian_langevin_saddle():
    """At a saddle of f with Hessian diag(-4, 1) the Lyapunov solution is C = (∇²f)⁻¹: ∇²V = ∇²f."""
    loss = fw.Loss.from_expr("(x**2 - 1)**2 + y**2/2 + x*y**2/5")
    H = fw.langevin(loss).potential_hessian((0.0, 0.0))
    assert_hessian(H, fd_hessian(lambda x: loss.value(x) - 1.0, (0.0, 0.0)), 1e-6)
    np.testing.assert_allclose(H, np.diag([-4.0, 1.0]), rtol=1e-12, atol=1e-12)


def test_potential_hessian_rotational_saddle():
    """b = -∇U + κJ∇U, U = (x² - 1)²/4 + y², a = σ² I: H(x, ∇V) = 0 for V = 2U/σ² everywhere, so at
    the saddle 0 (J has eigenvalues summing to -1, a unique Lyapunov solution) ∇²V = 2 diag(-1, 2)/σ²."""
    s2 = 0.8
    dyn = fw.Diffusion(["-(x**3 - x) - 0.5*2*y", "-2*y + 0.5*(x**3 - x)"], cov=s2 * np.eye(2))
    H = dyn.potential_hessian((0.0, 0.0))
    V = lambda x: 2 * ((x[..., 0] ** 2 - 1) ** 2 / 4 + x[..., 1] ** 2) / s2  # noqa: E731
    assert_hessian(H, fd_hessian(V, (0.0, 0.0)), 1e-6)
    np.testing.assert_allclose(H, 2 * np.diag([-1.0, 2.0]) / s2, rtol=1e-12, atol=1e-12)


def test_potential_hessian_saddle_with_opposite_eigenvalues():
    """Saddle of f = (x²-1)² + 2y² + 0.3xy² at 0: J = diag(4, -4), λ₁ + λ₂ = 0, so the Lyapunov
    equation is singular, but C = (∇²f)⁻¹ still solves it: expect ∇²f (or a documented FWError)."""
    loss = fw.Loss.from_expr(LOSS2, params={"a": 0.3})
    H = fw.langevin(loss).potential_hessian((0.0, 0.0))
    np.testing.assert_allclose(H, np.diag([-4.0, 4.0]), rtol=1e-10, atol=1e-10)
    # a non-gradient drift with the same singular Jacobian has no closed form: a clear error
    dyn = fw.Diffusion(["4*x", "-4*y + x**2"], cov=np.eye(2))
    with pytest.raises(fw.InputError, match="no unique solution"):
        dyn.potential_hessian((0.0, 0.0))


def test_potential_hessian_1d_sgd_gaussian_and_finite_sum():
    """1-D: ∇²V(x*) = 2 f''(x*) / a(x*); Gaussian a = 0.5 + x²/2 (FD of the closed form) and the
    two-sample finite sum with batch B, a = c²/B."""
    prob = problems.gaussian_sgd_1d()
    xs = np.array(prob.attractor)
    H = prob.dynamics.potential_hessian(xs)
    fpp = 3 * xs[0] ** 2 - 1
    np.testing.assert_allclose(H, [[2 * fpp / (0.5 + xs[0] ** 2 / 2)]], rtol=1e-12)
    assert_hessian(H, fd_hessian(prob.exact, xs), 1e-6)
    for B in (1, 3):
        ts = problems.two_sample_1d(c=1.2, batch_size=B)
        np.testing.assert_allclose(ts.dynamics.potential_hessian(1.0), [[2 * 2.0 * B / 1.2**2]], rtol=1e-12)


# ------------------------------------------------------------------------------------------------
def test_diffusion_drift_jacobian_and_shapes(rng):
    ms = fw.Diffusion(drift=["x - x**3 - 10*x*y**2", "-(1 + x**2)*y"], cov=np.eye(2))
    assert ms.dim == 2 and ms.kind == "diffusion" and ms.is_gaussian and not ms.is_gradient
    x = rng.uniform(-1.5, 1.5, (3, 4, 2))
    X, Y = x[..., 0], x[..., 1]
    np.testing.assert_allclose(ms.drift(x), np.stack([X - X**3 - 10 * X * Y**2, -(1 + X**2) * Y], -1), rtol=1e-14)
    J = ms.drift_jacobian(x)
    Jref = np.stack(
        [np.stack([1 - 3 * X**2 - 10 * Y**2, -20 * X * Y], -1), np.stack([-2 * X * Y, -(1 + X**2)], -1)], -2
    )
    np.testing.assert_allclose(J, Jref, rtol=1e-13, atol=1e-13)
    # a callable drift without a Jacobian: central differences (error ~1e-9 here)
    cb = fw.Diffusion(lambda z: ms.drift(z), cov=np.eye(2), dim=2)
    np.testing.assert_allclose(cb.drift_jacobian(x), Jref, rtol=1e-6, atol=1e-6)
    # H and L broadcast x (3, 1, 2) against p / v (1, 5, 2)
    xb = x[:, :1]
    p = rng.standard_normal((1, 5, 2))
    assert ms.hamiltonian(xb, p).shape == (3, 5)
    assert ms.hamiltonian_grad_p(xb, p).shape == (3, 5, 2)
    assert ms.lagrangian(xb, p).shape == (3, 5)


def test_langevin_and_sgd_fields(rng):
    loss = fw.Loss.from_expr(LOSS2, params={"a": 0.3})
    lang = fw.langevin(loss)
    x = rng.uniform(-1.5, 1.5, (10, 2))
    assert lang.kind == "langevin" and lang.is_gradient and lang.loss is loss
    np.testing.assert_allclose(lang.drift(x), -loss.grad(x), rtol=0)
    np.testing.assert_allclose(lang.noise_cov(x), np.broadcast_to(2 * np.eye(2), (10, 2, 2)), rtol=0)
    np.testing.assert_allclose(lang.drift_jacobian(x), -loss.hess(x), rtol=0)
    # a Langevin dynamics from an expression string
    assert fw.langevin("x**2").dim == 1
    s = fw.sgd(loss, noise=fw.GaussianNoise(0.5))
    assert s.kind == "sgd"
    np.testing.assert_allclose(s.noise_cov(x), np.broadcast_to(0.5 * np.eye(2), (10, 2, 2)), rtol=0)


@pytest.mark.parametrize(
    "make",
    [
        lambda: fw.Diffusion(
            ["x - x**3 - 10*x*y**2", "-(1 + x**2)*y"], cov=[["1 + x**2", "0.3*x*y"], ["0.3*x*y", "1 + y**2"]]
        ),
        lambda: fw.sgd(
            fw.FiniteSum(
                [
                    fw.Loss.from_expr(f"(x**2 + y**2)/2 + ({a})*x + ({b})*y + x**2*y**2/4")
                    for a, b in ((1, 0), (-0.5, 0.8), (-0.5, -0.8))
                ]
            )
        ),
    ],
    ids=["gaussian", "finite-sum"],
)
def test_geometric_cost_is_min_over_speeds(make, rng):
    """geometric_cost(x, e) = min_{s>0} L(x, s e)/s, checked by a bounded scalar search on log s."""
    dyn = make()
    x = rng.uniform(-1, 1, (8, 2))
    ang = rng.uniform(0, 2 * np.pi, 8)
    e = np.stack([np.cos(ang), np.sin(ang)], -1)
    got = dyn.geometric_cost(x, e)
    for k in range(8):
        ts = np.linspace(-8, 6, 281)
        s = np.exp(ts)
        with np.errstate(over="ignore", invalid="ignore"):
            vals = dyn.lagrangian(np.broadcast_to(x[k], (ts.size, 2)), s[:, None] * e[k]) / s
        i = int(np.argmin(vals))
        if not np.isfinite(vals[i]):
            assert got[k] == np.inf
            continue

        def phi(t, k=k):
            val = float(dyn.lagrangian(x[k], np.exp(t) * e[k])) / np.exp(t)
            return val if np.isfinite(val) else 1e300

        lo, hi = ts[max(i - 1, 0)], ts[min(i + 1, ts.size - 1)]
        ref = min(minimize_scalar(phi, bounds=(lo, hi), method="bounded", options={"xatol": 1e-9}).fun, vals[i])
        assert got[k] == pytest.approx(ref, rel=1e-6, abs=1e-9), k
    # homogeneous of degree 1 in e
    np.testing.assert_allclose(dyn.geometric_cost(x, 2.5 * e), 2.5 * got, rtol=1e-6, atol=1e-12)


# ---- any dimension d >= 1 --------------------------------------------------------------------
@pytest.mark.parametrize("d", [4, 12])
def test_high_dimensional_dynamics_build(d):
    """The noise law takes the loss's variable names: d > 3 builds and evaluates like d <= 3."""
    names = [f"w{i}" for i in range(d)]
    loss = fw.Loss.from_expr(" + ".join(f"{k + 1}*{n}**2" for k, n in enumerate(names)), variables=names)
    x = np.linspace(-1.0, 1.0, 3 * d).reshape(3, d)
    p = np.ones((3, d))
    built = [
        fw.langevin(loss),
        fw.sgd(loss, noise=fw.GaussianNoise(0.5)),
        fw.sgd(loss, noise=fw.IsotropicNoise("0.5 + f")),
        fw.sgd(loss, noise=fw.GaussianNoise(0.5), batch_size=4),
    ]
    s = [2.0, 0.5, 0.5 + loss.value(x), 0.125]
    for dyn, s_x in zip(built, s):
        assert dyn.dim == d
        np.testing.assert_allclose(dyn.drift(x), -2.0 * np.arange(1, d + 1) * x)
        np.testing.assert_allclose(dyn.hamiltonian(x, p), np.sum(dyn.drift(x), -1) + 0.5 * d * s_x)
    np.testing.assert_allclose(built[0].potential_hessian(np.zeros(d)), np.diag(2.0 * np.arange(1, d + 1)))


def test_high_dimensional_noise_expression_needs_names():
    """A callable loss has no variable names: an expression noise law says how to give them."""
    loss = fw.Loss.from_callable(lambda x: np.sum(x**2, -1), dim=4, grad=lambda x: 2 * x)
    fw.sgd(loss, noise=fw.GaussianNoise(0.5))  # a constant needs no names
    with pytest.raises(fw.DimensionError, match=r"needs 4 coordinate names.*pass variables=\[\.\.\.\]"):
        fw.sgd(loss, noise=fw.IsotropicNoise("0.5 + x"))
    dyn = fw.sgd(loss, noise=fw.IsotropicNoise("0.5 + a**2", variables="abcd"))
    np.testing.assert_allclose(dyn.noise_cov(np.ones(4)), 1.5 * np.eye(4))


def test_grid_solvers_refuse_four_dimensions():
    dyn = fw.langevin(fw.Loss.from_expr("a**2 + b**2 + c**2 + d**2", variables=list("abcd")))
    grid = fw.Grid([(-1, 1)] * 4, (5,) * 4)
    for method in ("olim", "sweep"):
        with pytest.raises(fw.InputError, match=rf"method='{method}' needs a 2-D or 3-D grid, got 4-D"):
            fw.quasipotential(dyn, grid, np.zeros(4), method=method)
