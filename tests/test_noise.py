"""Noise laws: Λ and its p-derivatives, H/L Legendre duality on random points, +inf outside the hull
of finite-sum noise, batch scaling, covariances, and samplers (theory.md §2)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import fwpotential as fw

MS_DRIFT = ["x - x**3 - 10*x*y**2", "-(1 + x**2)*y"]
A_CONST = np.array([[2.0, 0.5], [0.5, 1.0]])
C_RAD = np.array([0.8, 1.3])  # Rademacher amplitudes of the custom law


def _logcosh(t):
    return np.logaddexp(t, -t) - np.log(2.0)


def _entropy_conj(r):
    """Legendre transform of log cosh at r (|r| < 1): ((1+r) log(1+r) + (1-r) log(1-r)) / 2."""
    return 0.5 * ((1 + r) * np.log1p(r) + (1 - r) * np.log1p(-r))


def rademacher(with_derivatives=True):
    """Z_j = ±c_j independent signs: Λ(p) = Σ log cosh(c_j p_j), support of -Z: the box |u_j| ≤ c_j."""
    c = C_RAD

    def cgf(x, p):
        return np.sum(_logcosh(c * p), axis=-1) + 0.0 * x[..., 0]

    def grad(x, p):
        return c * np.tanh(c * p) + 0.0 * x

    def hess(x, p):
        return (c**2 / np.cosh(np.clip(c * p, -300, 300)) ** 2)[..., None] * np.eye(2) + 0.0 * x[..., None]

    def sampler(x, rng):
        return c * rng.choice([-1.0, 1.0], size=x.shape)

    def support(x, e):
        return np.sum(c * np.abs(e), axis=-1) + 0.0 * x[..., 0]

    if with_derivatives:
        return fw.CustomNoise(cgf, cgf_grad=grad, cgf_hess=hess, sampler=sampler, support=support)
    return fw.CustomNoise(cgf, sampler=sampler, support=support)


def _gauss_factor(x):
    return 1.0 + 0.1 * x[..., 0] ** 2


def gaussian_callable(with_derivatives=True):
    """A Gaussian law written as a user cgf: Λ = ½ (1 + x²/10) pᵀ A p (unbounded: no support)."""

    def cgf(x, p):
        return 0.5 * np.einsum("...i,ij,...j->...", p, A_CONST, p) * _gauss_factor(x)

    if not with_derivatives:
        return fw.CustomNoise(cgf)
    return fw.CustomNoise(
        cgf,
        cgf_grad=lambda x, p: (p @ A_CONST) * _gauss_factor(x)[..., None],
        cgf_hess=lambda x, p: A_CONST * _gauss_factor(x)[..., None, None] + 0.0 * p[..., None],
        sampler=lambda x, rng: (
            np.sqrt(_gauss_factor(x))[..., None] * (rng.standard_normal(x.shape) @ np.linalg.cholesky(A_CONST).T)
        ),
    )


def two_sample(c=1.2):
    return fw.FiniteSum([fw.Loss.from_expr(f"x**4/4 - x**2/2 + {s}*x") for s in (c, -c)])


def data2():
    u = np.array([0.0, 1.0, -1.5, 2.0])
    t = np.array([1.0, -0.5, 0.3, 0.8])
    return fw.FiniteSum.from_expr("((x - u)**2 + (y - t)**2)/2 + x**2*y**2/4 + u*t*x*y/3", data={"u": u, "t": t})


def loss2():
    return fw.Loss.from_expr("(x**2 - 1)**2 + 2*y**2 + a*x*y**2", params={"a": 0.3})


def loss1():
    return fw.Loss.from_expr("(x**2 - 1)**2 / 4 + 0.15*x")


#: name -> (dynamics factory, scale of the random momenta p)
CASES = {
    "diffusion-matrix-field": (
        lambda: fw.Diffusion(MS_DRIFT, cov=[["1 + x**2", "0.3*x*y"], ["0.3*x*y", "1 + y**2"]]),
        1.5,
    ),
    "isotropic-of-f": (lambda: fw.sgd(loss2(), noise=fw.IsotropicNoise("0.5 + f")), 1.5),
    "gaussian-scalar-1d": (lambda: fw.sgd(loss1(), noise=fw.GaussianNoise("0.5 + x**2/2")), 1.5),
    "gaussian-const-matrix": (lambda: fw.sgd(loss2(), noise=fw.GaussianNoise(A_CONST)), 1.5),
    "gaussian-callable-field": (
        lambda: fw.sgd(loss2(), noise=fw.GaussianNoise(lambda x: A_CONST * _gauss_factor(x)[..., None, None])),
        1.5,
    ),
    "gaussian-batched-B4": (lambda: fw.sgd(loss2(), noise=fw.GaussianNoise(A_CONST), batch_size=4), 4.0),
    "finite-sum-B1": (lambda: fw.sgd(data2(), batch_size=1), 1.5),
    "finite-sum-B3": (lambda: fw.sgd(data2(), batch_size=3), 4.5),
    "finite-sum-no-replacement-B2": (lambda: fw.sgd(data2(), batch_size=2, replace=False), 1.5),
    "finite-sum-1d-two-sample-B3": (lambda: fw.sgd(two_sample(), batch_size=3), 3.0),
    "custom-rademacher": (lambda: fw.sgd(loss2(), noise=rademacher()), 1.5),
    "custom-rademacher-batched-B3": (lambda: fw.sgd(loss2(), noise=rademacher(), batch_size=3), 4.5),
    "custom-gaussian-callable": (lambda: fw.sgd(loss2(), noise=gaussian_callable()), 1.5),
}


def _random_points(dyn, rng, n=200):
    return rng.uniform(-1.5, 1.5, (n, dyn.dim))


@pytest.mark.parametrize("case", sorted(CASES))
def test_legendre_duality(case, rng):
    """v = ∂ₚH(x, p) ⇒ L(x, v) = <p, v> - H(x, p) to 1e-10 relative; L ≥ 0; L(x, b(x)) = 0."""
    make, scale = CASES[case]
    dyn = make()
    x = _random_points(dyn, rng)
    p = scale * rng.standard_normal(x.shape)
    v = dyn.hamiltonian_grad_p(x, p)
    L = dyn.lagrangian(x, v)
    ref = np.einsum("...i,...i->...", p, v) - dyn.hamiltonian(x, p)
    assert L.shape == (len(x),) and np.all(np.isfinite(L))
    assert np.all(ref > 0)  # strictly convex Λ, p ≠ 0
    np.testing.assert_allclose(L, ref, rtol=1e-10, atol=0)
    # L >= 0 at arbitrary velocities too (may be +inf for bounded noise)
    v_any = dyn.drift(x) + scale * rng.standard_normal(x.shape)
    assert np.all(dyn.lagrangian(x, v_any) >= 0)
    # zero exactly on the deterministic flow
    assert np.abs(dyn.lagrangian(x, dyn.drift(x))).max() <= 1e-14


@pytest.mark.parametrize("case", sorted(CASES))
def test_cgf_derivatives_consistent(case, rng):
    """Λ(x, 0) = 0, ∇ₚΛ(x, 0) = 0 (E Z = 0), ∇²ₚΛ(x, 0) = Cov Z; ∇ₚΛ and ∇²ₚΛ match central
    differences of Λ and ∇ₚΛ (step 1e-5: error ~1e-9)."""
    make, scale = CASES[case]
    dyn = make()
    law, d = dyn.noise, dyn.dim
    x = _random_points(dyn, rng, 30)
    zero = np.zeros_like(x)
    np.testing.assert_allclose(law.cgf(x, zero), 0.0, atol=1e-14)
    np.testing.assert_allclose(law.cgf_grad(x, zero), 0.0, atol=1e-13)
    np.testing.assert_allclose(law.cgf_hess(x, zero), law.cov(x), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(dyn.noise_cov(x), law.cov(x), rtol=0, atol=0)
    p = scale * rng.standard_normal(x.shape)
    h = 1e-5
    eye = np.eye(d)
    fd_g = np.stack([(law.cgf(x, p + h * eye[k]) - law.cgf(x, p - h * eye[k])) / (2 * h) for k in range(d)], -1)
    fd_H = np.stack(
        [(law.cgf_grad(x, p + h * eye[k]) - law.cgf_grad(x, p - h * eye[k])) / (2 * h) for k in range(d)], -1
    )
    g, H = law.cgf_grad(x, p), law.cgf_hess(x, p)
    np.testing.assert_allclose(g, fd_g, rtol=1e-7, atol=1e-7)
    np.testing.assert_allclose(H, fd_H, rtol=1e-7, atol=1e-7)
    np.testing.assert_allclose(H, np.swapaxes(H, -1, -2), atol=1e-14)
    # the Hamiltonian is <b, p> + Λ and its p-derivatives are b + ∇Λ, ∇²Λ
    np.testing.assert_allclose(
        dyn.hamiltonian(x, p), np.einsum("...i,...i", dyn.drift(x), p) + law.cgf(x, p), rtol=1e-15
    )
    np.testing.assert_allclose(dyn.hamiltonian_grad_p(x, p), dyn.drift(x) + g, rtol=1e-15)
    np.testing.assert_allclose(dyn.hamiltonian_hess_p(x, p), H, rtol=1e-15)


@pytest.mark.parametrize(
    "case",
    [
        "diffusion-matrix-field",
        "isotropic-of-f",
        "gaussian-scalar-1d",
        "gaussian-callable-field",
        "gaussian-batched-B4",
    ],
)
def test_quadratic_closed_forms(case, rng):
    """Quadratic laws: H = <b, p> + ½ pᵀ a p and L = ½ (v - b)ᵀ a⁻¹ (v - b) with a computed by hand."""
    dyn = CASES[case][0]()
    assert dyn.is_gaussian
    x = _random_points(dyn, rng, 50)
    X = x[..., 0]
    if case == "diffusion-matrix-field":
        Y = x[..., 1]
        a = np.stack([np.stack([1 + X**2, 0.3 * X * Y], -1), np.stack([0.3 * X * Y, 1 + Y**2], -1)], -2)
    elif case == "isotropic-of-f":
        a = (0.5 + loss2().value(x))[..., None, None] * np.eye(2)
    elif case == "gaussian-scalar-1d":
        a = (0.5 + X**2 / 2)[..., None, None] * np.eye(1)
    elif case == "gaussian-callable-field":
        a = A_CONST * _gauss_factor(x)[..., None, None]
    else:
        a = np.broadcast_to(A_CONST / 4, (len(x), 2, 2))
    np.testing.assert_allclose(dyn.noise_cov(x), a, rtol=1e-14, atol=1e-15)
    p = rng.standard_normal(x.shape)
    b = dyn.drift(x)
    np.testing.assert_allclose(
        dyn.hamiltonian(x, p), np.einsum("...i,...i", b, p) + 0.5 * np.einsum("...i,...ij,...j", p, a, p), rtol=1e-13
    )
    v = b + rng.standard_normal(x.shape)
    u = v - b
    np.testing.assert_allclose(
        dyn.lagrangian(x, v), 0.5 * np.einsum("...i,...i", u, np.linalg.solve(a, u[..., None])[..., 0]), rtol=1e-12
    )


def test_custom_noise_finite_differences_warn_and_dual(rng):
    """CustomNoise without cgf_grad / cgf_hess: a FWWarning, and the duality still holds to 1e-10."""
    for law, closed in ((gaussian_callable(False), "gauss"), (rademacher(False), "rad")):
        dyn = fw.sgd(loss2(), noise=law)
        x = _random_points(dyn, rng, 100)
        p = 1.5 * rng.standard_normal(x.shape)
        with pytest.warns(fw.FWWarning, match="CustomNoise has no cgf_grad; using central finite differences"):
            v = dyn.hamiltonian_grad_p(x, p)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", fw.FWWarning)
            L = dyn.lagrangian(x, v)
        ref = np.einsum("...i,...i->...", p, v) - dyn.hamiltonian(x, p)
        assert np.all(np.isfinite(L)), f"{closed}: {np.sum(~np.isfinite(L))} non-finite L values"
        np.testing.assert_allclose(L, ref, rtol=1e-10)
        u = v - dyn.drift(x)
        if closed == "gauss":
            exact = 0.5 * np.einsum("...i,...i", u, np.linalg.solve(A_CONST, u[..., None])[..., 0]) / _gauss_factor(x)
        else:
            exact = _entropy_conj(u / C_RAD).sum(-1)
        np.testing.assert_allclose(L, exact, rtol=1e-9)


def test_custom_rademacher_conjugate_closed_form_and_box(rng):
    """Λ*(u) = Σ_j H(u_j / c_j) inside the box |u_j| < c_j, +inf outside it."""
    dyn = fw.sgd(loss2(), noise=rademacher())
    x = _random_points(dyn, rng, 100)
    b = dyn.drift(x)
    r = rng.uniform(-0.95, 0.95, x.shape)
    L = dyn.lagrangian(x, b + r * C_RAD)
    np.testing.assert_allclose(L, _entropy_conj(r).sum(-1), rtol=1e-10)
    out = r.copy()
    out[:, 0] = np.where(r[:, 0] >= 0, 1.0, -1.0) * rng.uniform(1.2, 3.0, len(r))
    assert np.all(np.isinf(dyn.lagrangian(x, b + out * C_RAD)))


# ------------------------------------------------------------------------------------------------
# finite-sum noise: the hull of the achievable noise velocities
Z_TRI = np.array([[1.0, 0.0], [-0.5, 0.8], [-0.5, -0.8]])  # gradient deviations z_k, Σ z_k = 0


def triangle_sum():
    """f_k = |x|²/2 + <z_k, x>: ∇f_k - ∇f = z_k at every x, so the noise velocities -Z are {-z_k}."""
    return fw.FiniteSum([fw.Loss.from_expr(f"(x**2 + y**2)/2 + ({z[0]})*x + ({z[1]})*y") for z in Z_TRI])


@pytest.mark.parametrize("B", [1, 3])
def test_finite_sum_plus_inf_outside_hull_2d(B, rng):
    dyn = fw.sgd(triangle_sum(), batch_size=B)
    verts = -Z_TRI
    mids = 0.5 * (verts + np.roll(verts, 1, axis=0))
    x = rng.uniform(-1, 1, (6, 2))
    b = dyn.drift(x)
    outside = np.concatenate([1.3 * verts, 1.3 * mids, 3.0 * verts, [[2.0, 0.0], [-1.2, 0.1]]])
    inside = np.concatenate([0.7 * verts, 0.9 * mids, 0.5 * verts[::-1], [[0.0, 0.0], [0.2, 0.3], [-0.6, 0.05]]])
    Lout = dyn.lagrangian(x[:, None, :], b[:, None, :] + outside[None])
    Lin = dyn.lagrangian(x[:, None, :], b[:, None, :] + inside[None])
    assert Lout.shape == (6, len(outside)) and np.all(Lout == np.inf)
    assert np.all(np.isfinite(Lin)) and np.all(Lin >= 0)
    assert np.all(Lin[:, :-3] > 0) and np.all(Lin[:, -3] == 0)
    # the bound log K: Λ₁* ≤ log 3 on the hull; batch B scales it
    assert Lin.max() <= B * np.log(3) * (1 + 1e-12)


def test_finite_sum_without_replacement_has_a_smaller_hull():
    """N = 3, B = 2 without replacement: batch means minus the mean are -z_k/2, so the noise velocities
    are z_k/2 and -0.7 z_1 (inside the with-replacement hull) becomes unreachable."""
    with_r = fw.sgd(triangle_sum(), batch_size=2)
    without = fw.sgd(triangle_sum(), batch_size=2, replace=False)
    x = np.array([[0.3, -0.2]])
    b = with_r.drift(x)
    u = np.array([[-0.7, 0.0]])  # = 0.7 (-z_1)
    assert np.isfinite(with_r.lagrangian(x, b + u)).all()
    assert np.isinf(without.lagrangian(x, b + u)).all()
    inner = 0.8 * Z_TRI / 2  # inside conv{z_k / 2}
    assert np.all(np.isfinite(without.lagrangian(x, b + inner)))
    assert np.all(np.isinf(without.lagrangian(x, b + 1.25 * Z_TRI / 2)))


def test_finite_sum_1d_hull_and_closed_form(rng):
    """Two samples f ± c x: Z = ±c, Λ = log cosh(p c), Λ* = H(u/c) for |u| < c and +inf for |u| > c."""
    c = 1.2
    dyn = fw.sgd(two_sample(c))
    x = rng.uniform(-1.8, 1.8, 40)[:, None]
    b = dyn.drift(x)
    r = rng.uniform(-0.97, 0.97, (40, 1))
    np.testing.assert_allclose(dyn.lagrangian(x, b + r * c), _entropy_conj(r[:, 0]), rtol=1e-10)
    out = np.where(r >= 0, 1.0, -1.0) * rng.uniform(1.05, 4.0, (40, 1))
    assert np.all(np.isinf(dyn.lagrangian(x, b + out * c)))
    np.testing.assert_allclose(dyn.noise.cgf(x, r), _logcosh(c * r[:, 0]), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("B", [2, 3, 7])
def test_batch_scaling_of_the_lagrangian(B, data2, rng):
    """With replacement Λ_B = B Λ₁(p/B), so L_B(x, v) = B L₁(x, v) (same drift)."""
    d1, dB = fw.sgd(data2, batch_size=1), fw.sgd(data2, batch_size=B)
    x = rng.uniform(-1.5, 1.5, (100, 2))
    v = d1.hamiltonian_grad_p(x, 1.5 * rng.standard_normal(x.shape))  # inside the hull
    L1, LB = d1.lagrangian(x, v), dB.lagrangian(x, v)
    np.testing.assert_allclose(LB, B * L1, rtol=1e-10)
    p = rng.standard_normal(x.shape)
    np.testing.assert_allclose(dB.noise.cgf(x, p), B * d1.noise.cgf(x, p / B), rtol=1e-13)


# ------------------------------------------------------------------------------------------------
def _S(data, x):
    g = data.sample_grads(x)
    z = g - g.mean(axis=-2, keepdims=True)
    return np.einsum("...ki,...kj->...ij", z, z) / z.shape[-2]


@pytest.mark.parametrize("B", [1, 2, 3, 4])
def test_finite_sum_covariances(B, data2, rng):
    """Cov Z = S/B with replacement, (N - B)/(B (N - 1)) S without (N = 4), S the sample covariance
    of the gradients; noise='gaussian' has the same covariance and is Gaussian."""
    N = data2.n_samples
    x = rng.uniform(-1.5, 1.5, (20, 2))
    S = _S(data2, x)
    assert np.all(np.linalg.eigvalsh(S)[:, 0] > 1e-3)  # the test is not vacuous
    for replace, factor in ((True, 1.0 / B), (False, (N - B) / (B * (N - 1)))):
        exact = fw.sgd(data2, batch_size=B, replace=replace)
        gauss = fw.sgd(data2, batch_size=B, replace=replace, noise="gaussian")
        assert not exact.is_gaussian and gauss.is_gaussian
        np.testing.assert_allclose(exact.noise_cov(x), factor * S, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(gauss.noise_cov(x), factor * S, rtol=1e-12, atol=1e-14)
        law = fw.FiniteSumNoise(B, replace=replace).bind(data2, 2)
        np.testing.assert_array_equal(law.gaussian_cov(x), gauss.noise_cov(x))
        assert law.sample_deviations(x).shape == (20, N, 2)
        np.testing.assert_allclose(exact.drift(x), gauss.drift(x), rtol=0, atol=0)
        if replace is False and B == N:
            np.testing.assert_array_equal(exact.noise_cov(x), 0.0)


# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", sorted(CASES))
def test_sampler_mean_and_covariance(case):
    """n = 40000 seeded draws of Z at one point: sample mean within 4 SE of 0 (SE_i = √(a_ii/n)),
    sample covariance within 4 SE of Cov Z (SE_ij = sd(Z_i Z_j)/√n, from the draws); the SEs are
    below 2% of the scale of a, small enough for a wrong covariance to fail."""
    make, _ = CASES[case]
    dyn = make()
    rng = np.random.default_rng(12345)
    n = 40_000
    x0 = np.full(dyn.dim, 0.4)
    x0[0] = -0.7
    xs = np.broadcast_to(x0, (n, dyn.dim))
    z = dyn.noise.sample(xs, rng)
    assert z.shape == (n, dyn.dim) and np.all(np.isfinite(z))
    a = dyn.noise_cov(x0)
    scale = np.abs(a).max()
    se_mean = np.sqrt(np.diag(a) / n)
    assert np.all(np.abs(z.mean(0)) <= 4 * se_mean), (z.mean(0), se_mean)
    prod = z[:, :, None] * z[:, None, :]
    se_cov = prod.std(0) / np.sqrt(n)
    assert se_cov.max() <= 0.02 * scale, (se_cov, a)
    emp = prod.mean(0)  # E Z = 0 is known: no mean subtraction
    assert np.all(np.abs(emp - a) <= 4 * se_cov + 1e-12 * scale), (emp, a, se_cov)  # Z_i² may be constant


def test_finite_sum_sampler_draws_batch_means(data2):
    """B = 1: every draw is one of the atoms ∇f_i - ∇f; without replacement B = 2: a pair mean, and
    the two indices are distinct (the pair (i, i) mean is not among the atoms here)."""
    rng = np.random.default_rng(7)
    x0 = np.array([0.3, -0.4])
    g = data2.sample_grads(x0)
    atoms1 = g - g.mean(0)
    z = fw.sgd(data2).noise.sample(np.broadcast_to(x0, (500, 2)), rng)
    dist = np.abs(z[:, None, :] - atoms1[None]).max(-1).min(-1)
    assert dist.max() <= 1e-12
    # each atom appears: uniform index (500 draws, 4 atoms: P(missing one) < 4 (3/4)^500)
    assert len(np.unique(np.abs(z[:, None, :] - atoms1[None]).max(-1).argmin(-1))) == 4
    z2 = fw.sgd(data2, batch_size=2, replace=False).noise.sample(np.broadcast_to(x0, (500, 2)), rng)
    pairs = np.array([(g[i] + g[j]) / 2 - g.mean(0) for i in range(4) for j in range(i + 1, 4)])
    same = np.array([g[i] - g.mean(0) for i in range(4)])
    assert np.abs(z2[:, None, :] - pairs[None]).max(-1).min(-1).max() <= 1e-12
    assert np.abs(z2[:, None, :] - same[None]).max(-1).min(-1).min() > 1e-6


def test_unbound_law_says_how_to_bind():
    with pytest.raises(fw.InputError, match=r"not bound to a loss/dimension; pass it to fw.sgd"):
        fw.GaussianNoise(1.0).cov(np.zeros(2))


@pytest.mark.parametrize("law", [fw.GaussianNoise, fw.IsotropicNoise])
@pytest.mark.parametrize("s", [-1.0, 0.0, np.nan, np.inf])
def test_constant_variance_must_be_positive(law, s):
    """s I with s <= 0 or not finite is refused where it is given, as the matrix form is."""
    with pytest.raises(fw.CovarianceError, match=r"noise variance must be a finite number > 0, got .*give s > 0"):
        law(s)


def test_asymmetric_matrix_is_called_asymmetric():
    with pytest.raises(fw.CovarianceError, match=r"asymmetric: max \|A - Aᵀ\| = 0\.3"):
        fw.GaussianNoise(np.array([[1.0, 0.3], [0.0, 1.0]])).bind(None, 2)
    field = fw.Diffusion(["-x", "-y"], cov=[["1", "x"], ["0", "1"]])
    with pytest.raises(fw.CovarianceError, match=r"asymmetric at x = \[2\. 0\.\]: max \|A - Aᵀ\| = 2"):
        field.noise_cov(np.array([[0.0, 0.0], [2.0, 0.0]]))


def test_matrix_field_uses_the_loss_value_only_through_the_symbol_f():
    """A parameter whose name contains the letter f is not the loss value."""
    loss = fw.Loss.from_expr("x**2 + y**2")
    cov = [["coef + x**2", "0"], ["0", "1 + f"]]
    assert fw.sgd(loss, noise=fw.GaussianNoise(cov, params={"coef": 0.5})).noise.uses_loss_value
    plain = fw.sgd(loss, noise=fw.GaussianNoise([["coef + x**2", "0"], ["0", "1"]], params={"coef": 0.5}))
    assert not plain.noise.uses_loss_value
    np.testing.assert_allclose(plain.noise_cov(np.array([[1.0, 2.0]]))[0], [[1.5, 0.0], [0.0, 1.0]])
