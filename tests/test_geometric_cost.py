"""Geometric cost of finite-sum noise (theory.md section 3): c(x, e) = sup {<p, e> : H(x, p) <= 0},
+inf outside the cone of the achievable velocities. ``Dynamics.geometric_cost`` against the
optimality conditions, a closed form for two atoms, and the generic search over speeds."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linprog

import fwpotential as fw
from fwpotential.model.dynamics import _geometric_cost_search

LAWS = [(2, 1, True), (2, 2, True), (4, 1, True), (4, 2, False), (17, 1, True), (17, 2, False)]


def _dynamics(N, B, replace, seed=0):
    rng = np.random.default_rng(seed)
    data = {k: rng.normal(0, 0.5, N) for k in "ut"}
    data.update(a=rng.uniform(0.6, 1.4, N), c=rng.uniform(0.6, 1.4, N), r=rng.uniform(-0.3, 0.3, N))
    loss = fw.FiniteSum.from_expr("a*(x - u)**2/2 + c*(y - t)**2/2 + r*x*y", data=data)
    return fw.sgd(loss, batch_size=B, replace=replace)


def _pairs(dyn, n, seed=1):
    """Points near the minimum; half the directions positive combinations of two achievable
    velocities (reachable), half uniform (mostly +inf); lengths in [0.5, 2]."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-0.8, 0.8, (n, 2))
    W = dyn.drift(x)[:, None, :] - dyn.noise.atoms(x)
    pick = np.stack([rng.choice(W.shape[1], 2, replace=False) for _ in range(n)])
    mix = np.einsum("nk,nkd->nd", rng.uniform(0.1, 1.0, (n, 2)), np.take_along_axis(W, pick[..., None], 1))
    th = np.where(np.arange(n) % 2 == 0, np.arctan2(mix[:, 1], mix[:, 0]), rng.uniform(0, 7, n))
    return x, rng.uniform(0.5, 2.0, n)[:, None] * np.stack([np.cos(th), np.sin(th)], -1)


def _cone_side(W, e, margin):
    """+1 when e and e turned by +-margin lie in the cone of the rows of W, -1 when all three lie
    outside it, 0 otherwise (decided by linear programming)."""
    inside = []
    for a in (-margin, 0.0, margin):
        r = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]) @ e
        res = linprog(np.zeros(len(W)), A_eq=W.T, b_eq=r, bounds=(0, None), method="highs")
        inside.append(res.status == 0)
    return 1 if all(inside) else -1 if not any(inside) else 0


def _velocities(dyn, x):
    return dyn.drift(x) - dyn.noise.atoms(x)  # (K, 2): b - z_k


@pytest.mark.parametrize("N, B, replace", LAWS)
def test_finite_sum_cost_is_the_support_function(N, B, replace):
    """Finite exactly inside the cone; there the maximiser p satisfies H(x, p) = 0 and
    dH/dp = tau e with tau > 0 (the optimality conditions of the convex problem) and c = <p, e>."""
    from fwpotential.model import _cost_kernels

    dyn = _dynamics(N, B, replace)
    x, e = _pairs(dyn, 60)
    c = dyn.geometric_cost(x, e)
    s = dyn.noise.scale
    n_in = 0
    for k in range(len(x)):
        W = _velocities(dyn, x[k])
        side = _cone_side(W, e[k], 1e-3)
        if side < 0:
            assert c[k] == np.inf, (k, c[k])
        if side <= 0:
            continue
        n_in += 1
        assert np.isfinite(c[k]), (k, x[k], e[k])
        ne = np.linalg.norm(e[k])
        out, status, Q = np.empty(1), np.empty(1, np.int8), np.empty((1, 2))
        _cost_kernels.support_pairs(
            np.ascontiguousarray(W[None]), e[k][None] / ne, np.zeros(1, np.int64), np.zeros(1, np.int64), out, status, Q
        )
        p = s * Q[0]
        scale = 1 + np.abs(W @ Q[0]).max()
        assert abs(dyn.hamiltonian(x[k], p)) <= 1e-12 * s * scale
        v = dyn.hamiltonian_grad_p(x[k], p)
        assert v @ e[k] > 0 and abs(v[0] * e[k][1] - v[1] * e[k][0]) <= 1e-10 * np.linalg.norm(v) * ne
        assert c[k] == pytest.approx(p @ e[k], rel=1e-12, abs=1e-300)
        if W.shape[0] == 2:  # closed form: c = s sum l_k log(2 l_k / sum l), l >= 0 with sum l_k w_k = e
            lam = np.linalg.solve(W.T, e[k])
            assert c[k] == pytest.approx(s * np.sum(lam * np.log(2 * lam / lam.sum())), rel=1e-10)
    assert n_in >= 10, n_in


@pytest.mark.parametrize("N, B, replace", [law for law in LAWS if law[0] > 2])
def test_finite_sum_cost_matches_speed_search(N, B, replace):
    """The generic search over speeds min_t t L(x, e/t) gives an upper bound everywhere and the same
    value to 1e-10 where it is finite away from the edges of the cone (near them its log-grid
    bracket can miss the short range of speeds with finite L and return a larger value or +inf)."""
    dyn = _dynamics(N, B, replace)
    x, e = _pairs(dyn, 40, seed=2)
    c = dyn.geometric_cost(x, e)
    ref = _geometric_cost_search(dyn, x, e)
    inner = np.array([_cone_side(_velocities(dyn, x[k]), e[k], 0.2) > 0 for k in range(len(x))])
    assert inner.sum() >= 5
    fin = np.isfinite(ref)
    assert np.all(c[fin] <= ref[fin] * (1 + 1e-10))
    assert np.isfinite(c[inner]).all()
    np.testing.assert_allclose(c[inner & fin], ref[inner & fin], rtol=1e-10)


def test_finite_sum_cost_table_equals_single_pairs():
    """A node-by-direction table (each direction started from its neighbour's solution) equals the
    pairs solved one by one; zero-length directions cost 0; the batch law scales the set by B."""
    dyn = _dynamics(17, 1, True)
    x, _ = _pairs(dyn, 30, seed=3)
    th = 2 * np.pi * np.arange(64) / 64
    e = np.stack([np.cos(th), np.sin(th)], -1)
    table = dyn.geometric_cost(x[:, None, :], e[None])
    xs, es = (np.ascontiguousarray(np.broadcast_to(a, (30, 64, 2)).reshape(-1, 2)) for a in (x[:, None], e[None]))
    single = dyn.geometric_cost(xs, es).reshape(30, 64)
    assert np.isinf(table).any() and np.isfinite(table).any()
    tol = 1e-12 * np.max(table[np.isfinite(table)])  # c = <q, e> cancels near the drift direction
    np.testing.assert_allclose(table, single, rtol=1e-11, atol=tol)
    assert dyn.geometric_cost(x[0], np.zeros(2)) == 0.0
    np.testing.assert_allclose(
        _dynamics(17, 3, True).geometric_cost(x[:, None, :], e[None]), 3 * table, rtol=1e-11, atol=3 * tol
    )


def _kernel(W, e):
    """support_pairs on one node and the rows of e (unit vectors): values and statuses."""
    from fwpotential.model import _cost_kernels

    e = np.ascontiguousarray(e / np.linalg.norm(e, axis=-1, keepdims=True))
    n = len(e)
    out, status, Q = np.empty(n), np.empty(n, np.int8), np.empty((n, 2))
    _cost_kernels.support_pairs(
        np.ascontiguousarray(W[None], dtype=float), e, np.zeros(n, np.int64), np.arange(n), out, status, Q
    )
    return out, status


def _two_atom_cost(W, e):
    """Closed form for two atoms: sum l_k log(2 l_k / sum l), l >= 0 with sum l_k w_k = e."""
    lam = np.linalg.solve(W.T, e)
    lam = np.where(np.abs(lam) < 1e-300, 0.0, lam)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sum(np.where(lam > 0, lam * np.log(2 * lam / lam.sum()), 0.0))


@pytest.mark.parametrize("delta", [0.0, 1e-13, 1e-10, 1e-7])
def test_finite_sum_cost_at_a_cone_edge(delta):
    """Directions on an edge of the cone (delta = 0: the supremum is not attained, the cost is
    log 2 / |w_1|) and just inside it are solved by the kernel itself and match the closed form;
    just outside them the cost is +inf."""
    W = np.array([[1.3, 0.0], [-0.2, 0.9]])  # an edge along the x axis, exact in floating point
    phi = 0.0
    inside = np.array([[np.cos(phi + delta), np.sin(phi + delta)]])
    out, status = _kernel(W, inside)
    assert status[0] >= 1 and np.isfinite(out[0])
    assert out[0] == pytest.approx(_two_atom_cost(W, inside[0]), rel=1e-9)
    if delta == 0.0:
        assert out[0] == pytest.approx(np.log(2) / np.linalg.norm(W[0]), rel=1e-12)
    outside = np.array([[np.cos(phi - 1e-9 - delta), np.sin(phi - 1e-9 - delta)]])
    assert _kernel(W, outside)[0][0] == np.inf


def test_finite_sum_cost_between_nearly_opposite_velocities():
    """Two nearly opposite velocities span a cone just wider than a half-plane: the directions
    near its edges cost a lot but are finite, and match the closed form to 1e-9 (up to the
    rounding of its terms, which cancel near the drift direction)."""
    W = np.array([[1.0, 0.0], [-1.0, 1e-4]])
    th = np.concatenate([np.linspace(1e-6, np.pi - 1e-4 - 1e-6, 40), [np.pi - 1e-4 - 1e-10, 1e-12]])
    e = np.stack([np.cos(th), np.sin(th)], -1)
    out, status = _kernel(W, e)
    assert np.all(status >= 1) and np.isfinite(out).all()
    ref = np.array([_two_atom_cost(W, ek) for ek in e])
    size = np.abs(np.linalg.solve(W.T, e.T)).sum(0)  # sum l_k: both values cancel terms this large
    assert np.all(np.abs(out - ref) <= 1e-9 * ref + 1e-14 * size)
    assert np.all(_kernel(W, -e[1:-2])[0] == np.inf)


@pytest.mark.parametrize("N, B, replace", [law for law in LAWS if law[0] > 2])
def test_finite_sum_kernel_solves_every_pair(N, B, replace):
    """The kernel leaves no pair to the caller, near the edges of the cone included: each is
    +inf or finite with status >= 1, and the table equals the generic speed search where that
    is finite away from the edges."""
    dyn = _dynamics(N, B, replace)
    x, _ = _pairs(dyn, 8, seed=4)
    th = 2 * np.pi * np.arange(128) / 128
    e = np.stack([np.cos(th), np.sin(th)], -1)
    c = np.array([_kernel(_velocities(dyn, xk), e) for xk in x])  # (8, 2, 128): values, statuses
    out, status = c[:, 0], c[:, 1]
    fin = np.isfinite(out)
    assert np.all(status[fin] >= 1) and not np.isnan(out).any()
    assert fin.any() and (~fin).any()
    ref = _geometric_cost_search(dyn, x[:, None, :], e[None]) / dyn.noise.scale
    assert np.all(fin[np.isfinite(ref)]) and np.all(out[fin] <= ref[fin] * (1 + 1e-10) + 1e-12 * out[fin].max())


def test_finite_sum_cost_with_collinear_velocities():
    """Opposite velocities span only a line (a gap of exactly pi): directions off it cost +inf,
    also where the drift b = mean w_k vanishes; along it the cost is finite (0 with the drift)."""
    W = np.array([[1.0, 0.0], [-1.0, 0.0]])  # b = 0: S = {q_x = 0} is unbounded off the x axis
    out, status = _kernel(W, np.array([[0.0, 1.0], [0.6, 0.8], [1.0, 0.0], [-1.0, 0.0]]))
    np.testing.assert_array_equal(out, [np.inf, np.inf, 0.0, 0.0])
    W = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, -1.0]])  # the half-plane y <= 0
    out, status = _kernel(W, np.array([[0.0, 1.0], [0.0, -1.0], [1.0, 0.0]]))
    assert out[0] == np.inf and np.isfinite(out[1:]).all() and np.all(status[1:] >= 1)
    assert out[1] == pytest.approx(0.0, abs=1e-14)
