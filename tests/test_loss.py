"""Loss: expressions (values, SymPy gradient and Hessian, params, variables), callables (with and without
derivatives; finite differences in chunks for large d), vectorisation, and finite sums."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import fwpotential as fw
from fwpotential.model import loss as loss_mod

A = 0.3


def _f2(x, y):
    return (x**2 - 1) ** 2 + 2 * y**2 + A * x * y**2


def _g2(x, y):  # hand-derived gradient of f2
    return np.stack([4 * x * (x**2 - 1) + A * y**2, 4 * y + 2 * A * x * y], axis=-1)


def _h2(x, y):  # hand-derived Hessian of f2
    return np.stack([np.stack([12 * x**2 - 4, 2 * A * y], -1), np.stack([2 * A * y, 4 + 2 * A * x], -1)], axis=-2)


def test_from_expr_1d_values_grad_hess():
    f = fw.Loss.from_expr("(x**2 - 1)**2 / 4 + 0.15*x")
    assert f.dim == 1 and f.variables == ("x",)
    x = np.array([-1.7, -1.0, 0.0, 0.3, 1.25])
    np.testing.assert_allclose(f.value(x), (x**2 - 1) ** 2 / 4 + 0.15 * x, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(f.grad(x)[:, 0], x**3 - x + 0.15, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(f.hess(x)[:, 0, 0], 3 * x**2 - 1, rtol=1e-14, atol=1e-15)
    # scalars and (n,) arrays are points in 1-D
    assert f.value(0.5).shape == () and float(f.value(0.5)) == pytest.approx((0.25 - 1) ** 2 / 4 + 0.075, rel=1e-15)
    assert f(x).shape == (5,) and f.grad(x).shape == (5, 1) and f.hess(x).shape == (5, 1, 1)


def test_from_expr_params_2d(loss2, rng):
    assert loss2.dim == 2 and loss2.variables == ("x", "y")
    x = rng.uniform(-2, 2, (50, 2))
    X, Y = x[:, 0], x[:, 1]
    np.testing.assert_allclose(loss2.value(x), _f2(X, Y), rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(loss2.grad(x), _g2(X, Y), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(loss2.hess(x), _h2(X, Y), rtol=1e-13, atol=1e-13)
    # the parameter really enters: a different a gives a different gradient
    other = fw.Loss.from_expr("(x**2 - 1)**2 + 2*y**2 + a*x*y**2", params={"a": -1.0})
    assert np.abs(other.grad(x) - loss2.grad(x)).max() > 0.1


def test_variables_order_and_names():
    f = fw.Loss.from_expr("w**2 + 3*w*u + u**4", variables=["u", "w"])
    assert f.dim == 2 and f.variables == ("u", "w")
    pt = np.array([2.0, -1.0])  # u = 2, w = -1
    assert float(f.value(pt)) == pytest.approx(1 - 6 + 16, rel=1e-15)
    np.testing.assert_allclose(f.grad(pt), [3 * -1 + 4 * 8, 2 * -1 + 3 * 2], rtol=1e-15)
    np.testing.assert_allclose(f.hess(pt), [[48.0, 3.0], [3.0, 2.0]], rtol=1e-15)
    # default variables: x, y, z up to the last one used (a loss in y only is still 2-D)
    assert fw.Loss.from_expr("y**2").dim == 2
    assert fw.Loss.from_expr("x + z").dim == 3


@pytest.mark.parametrize("lead", [(), (7,), (4, 5), (2, 3, 2)])
def test_vectorised_over_leading_axes(loss2, rng, lead):
    x = rng.uniform(-2, 2, lead + (2,))
    v, g, H = loss2.value(x), loss2.grad(x), loss2.hess(x)
    assert v.shape == lead and g.shape == lead + (2,) and H.shape == lead + (2, 2)
    flat = x.reshape(-1, 2)
    np.testing.assert_allclose(v.reshape(-1), [loss2.value(p) for p in flat], rtol=1e-15)
    np.testing.assert_allclose(g.reshape(-1, 2), [loss2.grad(p) for p in flat], rtol=1e-15)
    np.testing.assert_allclose(H.reshape(-1, 2, 2), _h2(flat[:, 0], flat[:, 1]), rtol=1e-13, atol=1e-13)


def test_constant_and_linear_terms_broadcast():
    """Derivatives that are constants (2, 0) must still come back with the points' shape."""
    f = fw.Loss.from_expr("x**2 + 3*y")
    x = np.zeros((4, 3, 2))
    assert f.grad(x).shape == (4, 3, 2) and f.hess(x).shape == (4, 3, 2, 2)
    np.testing.assert_array_equal(f.grad(x)[..., 1], 3.0)
    np.testing.assert_array_equal(f.hess(x)[..., 0, 0], 2.0)
    np.testing.assert_array_equal(f.hess(x)[..., 1, 1], 0.0)


def test_from_callable_with_derivatives_no_warning(rng):
    f = fw.Loss.from_callable(
        lambda x: _f2(x[..., 0], x[..., 1]),
        dim=2,
        grad=lambda x: _g2(x[..., 0], x[..., 1]),
        hess=lambda x: _h2(x[..., 0], x[..., 1]),
    )
    x = rng.uniform(-2, 2, (6, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(f.grad(x), _g2(x[:, 0], x[:, 1]))
        np.testing.assert_array_equal(f.hess(x), _h2(x[:, 0], x[:, 1]))


def test_from_callable_finite_differences_warn_and_are_accurate(rng):
    f = fw.Loss.from_callable(lambda x: _f2(x[..., 0], x[..., 1]), dim=2, name="f2")
    x = rng.uniform(-2, 2, (40, 2))
    with pytest.warns(fw.FWWarning, match="no gradient; using central finite differences"):
        g = f.grad(x)
    # central differences with h ~ eps^(1/3): truncation + rounding ~1e-10 here
    np.testing.assert_allclose(g, _g2(x[:, 0], x[:, 1]), rtol=1e-6, atol=1e-6)
    assert np.abs(g - _g2(x[:, 0], x[:, 1])).max() <= 1e-7
    with pytest.warns(fw.FWWarning, match="no Hessian"):
        H = f.hess(x)
    # differences of differences: rounding ~eps^(1/3) relative
    np.testing.assert_allclose(H, _h2(x[:, 0], x[:, 1]), rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(H, np.swapaxes(H, -1, -2))


def test_from_callable_hessian_from_exact_gradient_is_accurate(rng):
    f = fw.Loss.from_callable(lambda x: _f2(x[..., 0], x[..., 1]), dim=2, grad=lambda x: _g2(x[..., 0], x[..., 1]))
    x = rng.uniform(-2, 2, (40, 2))
    with pytest.warns(fw.FWWarning, match="no Hessian"):
        H = f.hess(x)
    np.testing.assert_allclose(H, _h2(x[:, 0], x[:, 1]), rtol=1e-6, atol=1e-6)


def test_large_dimension_callable_fd_gradient_in_chunks(monkeypatch):
    """d = 2000 with a finite-difference gradient: the callable sees bounded batches, the result
    matches the analytic gradient x - sin(x) of sum(x²)/2 + sum(cos x)."""
    d = 2000
    seen = []

    def value(x):
        seen.append(x.size)
        return 0.5 * np.sum(x**2, axis=-1) + np.sum(np.cos(x), axis=-1)

    f = fw.Loss.from_callable(value, dim=d)
    x = np.random.default_rng(3).uniform(-3, 3, d)
    with pytest.warns(fw.FWWarning, match="finite differences"):
        g = f.grad(x)
    assert g.shape == (d,)
    np.testing.assert_allclose(g, x - np.sin(x), rtol=1e-6, atol=1e-6)
    # chunked: no single call held all d perturbed copies (d² = 4e6 floats > the chunk size)
    assert max(seen) <= 2 * loss_mod._CHUNK < 2 * d * d
    assert len(seen) >= 4  # at least 2 chunks, each evaluated at x + h e_k and x - h e_k
    # force much smaller chunks, with leading axes: same answer
    monkeypatch.setattr(loss_mod, "_CHUNK", 50_000)
    seen.clear()
    xs = np.stack([x, -x])
    g2 = f.grad(xs)
    assert max(seen) <= 2 * 50_000 and len(seen) >= 2 * (2 * d * d) // (2 * 50_000)
    np.testing.assert_allclose(g2, xs - np.sin(xs), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(g2[0], g, rtol=0, atol=1e-12)


def test_finite_sum_mean_of_samples(rng):
    cs = (-2.0, 0.0, 2.0)
    fs = fw.FiniteSum([fw.Loss.from_expr(f"(x**2 - 1)**2 + {c}*x") for c in cs])
    assert fs.n_samples == 3 and fs.dim == 1
    x = rng.uniform(-2, 2, 11)
    np.testing.assert_allclose(fs.value(x), (x**2 - 1) ** 2, rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(fs.grad(x)[:, 0], 4 * x * (x**2 - 1), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(fs.hess(x)[:, 0, 0], 12 * x**2 - 4, rtol=1e-13, atol=1e-13)
    sg = fs.sample_grads(x)
    assert sg.shape == (11, 3, 1)
    np.testing.assert_allclose(sg[..., 0] - fs.grad(x), np.broadcast_to(np.array(cs), (11, 3)), atol=1e-13)
    assert fs.sample_values(x).shape == (11, 3)


def test_finite_sum_from_expr_matches_list_of_samples(rng):
    u = np.array([0.5, -1.0, 2.0, 0.0, 1.5])
    t = np.array([1.0, 0.2, -0.7, 0.4, -1.1])
    expr = "(x*u + y - t)**2 / 2 + x**4/12"
    vec = fw.FiniteSum.from_expr(expr, data={"u": u, "t": t})
    lst = fw.FiniteSum([fw.Loss.from_expr(expr, params={"u": ui, "t": ti}) for ui, ti in zip(u, t)])
    assert vec.n_samples == lst.n_samples == 5 and vec.dim == lst.dim == 2
    x = rng.uniform(-2, 2, (3, 4, 2))
    for name in ("value", "grad", "hess", "sample_values", "sample_grads"):
        a, b = getattr(vec, name)(x), getattr(lst, name)(x)
        assert a.shape == b.shape, name
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-13, err_msg=name)
    # and against the hand-derived gradient of the mean
    X, Y = x[..., 0], x[..., 1]
    r = X[..., None] * u + Y[..., None] - t
    g = np.stack([(r * u).mean(-1) + X**3 / 3, r.mean(-1)], axis=-1)
    np.testing.assert_allclose(vec.grad(x), g, rtol=1e-13, atol=1e-13)
