"""min_action_path against exact answers (theory.md §3): non-normal OU (V = ½ xᵀC⁻¹x), the
non-reversible double well b = -(I + J)∇U (barrier 2ΔU/σ², and the antisymmetric part exercised),
Maier–Stein (0.5 for β ≤ 4, 0.340041 at β = 10, second order in n_points), separable problems in
rotated coordinates against the 1-D exact solver (state-dependent Gaussian and a custom cumulant
law), Langevin (V = f(saddle) - f(min), all three methods), the two-sample finite sum embedded in
d = 20 (rank-1 noise: the 1-D value or +inf), batch scaling of the minibatch law, and each
documented error."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import fwpotential as fw
from fwpotential import problems
from fwpotential.paths.local import local_hamiltonian
from fwpotential.paths.mam import min_action_path, path_action


def _rel(value, ref):
    return abs(value - ref) / abs(ref)


def _unit(d, seed):
    x = np.random.default_rng(seed).standard_normal(d)
    return x / np.linalg.norm(x)


# ---- linear OU with a non-normal drift -----------------------------------------------------------
@pytest.mark.parametrize("d, isotropic", [(10, False), (100, False), (100, True)])
def test_ou_nonnormal_action_is_half_x_cinv_x(d, isotropic):
    """V(0 → x) = ½ xᵀC⁻¹x, AC + CAᵀ = a, to 1e-5 relative with the defaults (n_points = 100,
    tol = 1e-6); observed 5.1e-8 (d = 10), 7.4e-7 (d = 100, a random SPD matrix: the "constant"
    form) and 5.5e-7 (d = 100, a = I as a scalar field: the "scalar" form). The straight segment
    (the path of a normal A) costs more, by more than 1 % (observed 1.4 %, 6.1 %, 5.5 %): the
    non-normal part shapes the path."""
    dyn, exact_V = problems.ou_nonnormal(d, seed=1, isotropic=isotropic)
    x = _unit(d, 5)
    path = min_action_path(dyn, np.zeros(d), x)
    assert path.info["form"] == ("scalar" if isotropic else "constant")
    assert path.converged
    assert _rel(path.action, exact_V(x)) <= 1e-5, (path.action, exact_V(x))
    assert path.points.shape == (100, d)
    assert path.action_profile[-1] == pytest.approx(path.action) and np.all(np.diff(path.action_profile) >= 0)
    straight = np.linspace(0.0, 1.0, 2001)[:, None] * x
    S_line = path_action(local_hamiltonian(dyn, np.zeros(d), x), straight)[0]
    assert S_line > exact_V(x) * (1 + 1e-2), (S_line, exact_V(x))


# ---- b = -(I + J)∇U, a = σ²I -------------------------------------------------------------------
@pytest.mark.parametrize(
    "d, rotation",
    [
        (10, "householder"),
        (10, "dense"),
        (100, "householder"),
        pytest.param(1000, "householder", marks=pytest.mark.slow),
    ],
)
def test_nonreversible_double_well_barrier(d, rotation):
    """V(minimum → saddle) = 2ΔU/σ² = 0.5 to 1e-4 relative with 100 points (observed 1.4e-5 at
    d = 10, 4.0e-6 at d = 10 with a dense rotation, 5.6e-6 at d = 100, 6.3e-5 at d = 1000), and the error estimate (action with half the
    points) is of the size of the error."""
    dyn, minimum, saddle, exact = problems.nonreversible_double_well(d, sigma=1.0, seed=0, rotation=rotation)
    path = min_action_path(dyn, minimum, saddle, n_points=100)
    assert path.converged
    err = _rel(path.action, exact)
    assert err <= 1e-4, (path.action, exact)
    assert err <= path.error_estimate / exact <= 100 * max(err, 1e-7)


def _swapped(dyn, *, jvp_t, vjp_t):
    """The same drift with Db v replaced by Dbᵀ v (``jvp_t``) and/or Dbᵀ w by Db w (``vjp_t``):
    what the solver would compute with h_px or h_x transposed."""
    return fw.Diffusion(
        dyn.drift,
        cov=1.0,
        dim=dyn.dim,
        jvp=dyn.drift_vjp if jvp_t else dyn.drift_jvp,
        vjp=dyn.drift_jvp if vjp_t else dyn.drift_vjp,
    )


def test_antisymmetric_part_is_exercised():
    """The antisymmetric part of Db changes the answer:

    - the straight segment from the minimum to the saddle (the reversed gradient path of U) costs
      (1 + √(1 + c²))/2 times the barrier, c = |J_z e₁| read off the drift there; the computed path
      leaves that segment (by 0.11 > 0.05) and reaches the barrier to 1e-4 (c = 0.86: the segment costs
      1.159 times the barrier);
    - with (∂ₓ∂ₚH) or ∂ₓH transposed (Db ↔ Dbᵀ in the jvp or the vjp, the ((∇b)ᵀ - ∇b)φ' term's
      sign flipped), the flow settles on another curve whose action is more than 1e-3 too high
      (observed +9.7 % with the jvp transposed, +15.9 % with the vjp or both: the straight segment)
      (the action itself, ∫<θ̂, φ'>, needs b only, so every curve's action is an upper bound)."""
    d = 10
    dyn, minimum, saddle, exact = problems.nonreversible_double_well(d, sigma=1.0, seed=0, kappa=1.0)
    line = minimum + np.linspace(0.0, 1.0, 4001)[:, None] * (saddle - minimum)
    lh = local_hamiltonian(dyn, minimum, saddle)
    S_line = path_action(lh, line)[0]
    b = dyn.drift(0.5 * minimum)
    c = np.sqrt(max(np.dot(b, b) / np.dot(b, minimum) ** 2 - 1.0, 0.0))
    assert c > 0.3
    assert S_line == pytest.approx((1 + np.sqrt(1 + c**2)) / 2 * exact, rel=1e-5)
    path = min_action_path(dyn, minimum, saddle, n_points=100)
    assert _rel(path.action, exact) <= 1e-4
    off = path.points - np.outer(path.points @ minimum, minimum)
    assert np.max(np.linalg.norm(off, axis=1)) > 0.05
    for jvp_t, vjp_t in [(True, False), (False, True), (True, True)]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", fw.FWWarning)
            wrong = min_action_path(_swapped(dyn, jvp_t=jvp_t, vjp_t=vjp_t), minimum, saddle, n_points=100)
        assert wrong.action > exact * (1 + 1e-3), (jvp_t, vjp_t, wrong.action)


# ---- Maier–Stein ---------------------------------------------------------------------------------
def _bump_init(beta):
    """β > 4: the x-axis is a critical but not minimal path; start off it."""
    if beta <= 4:
        return None
    s = np.linspace(0.0, 1.0, 20)
    return np.stack([1 - s, 0.3 * np.sin(np.pi * s)], axis=1)


@pytest.mark.parametrize("beta", [1.0, 3.0, 10.0])
def test_maier_stein_saddle_value(beta):
    """V((0, 0)) from (1, 0): 0.5 for β ≤ 4, 0.340041 for β = 10, to 1e-5 with 100 points
    (observed 1.6e-6, 1.6e-6, 3.1e-6)."""
    dyn, minimum, saddle, exact = problems.maier_stein(beta)
    path = min_action_path(dyn, minimum, saddle, n_points=100, init=_bump_init(beta))
    assert path.converged
    assert abs(path.action - exact) <= 1e-5, (path.action, exact)
    if beta > 4:
        assert np.max(np.abs(path.points[:, 1])) > 0.1  # the path leaves the axis


def test_maier_stein_order_in_n_points():
    """The midpoint sum the flow minimises converges at order 2 in n_points (observed errors
    7.3e-4, 1.7e-4, 4.3e-5, 1.1e-5 for n = 25 … 200: slope 2.02)."""
    dyn, minimum, saddle, exact = problems.maier_stein(10.0)
    ns = np.array([25, 50, 100, 200])
    err = [
        abs(
            min_action_path(dyn, minimum, saddle, n_points=int(n), init=_bump_init(10.0)).info["action_midpoint"]
            - exact
        )
        for n in ns
    ]
    order = -np.polyfit(np.log(ns), np.log(err), 1)[0]
    assert 1.8 <= order <= 2.3, (err, order)
    assert err[-1] <= 2e-5


# ---- separable problems in rotated coordinates ---------------------------------------------------
@pytest.mark.parametrize("noise", ["gaussian", "custom"])
def test_separable_rotated_equals_1d_exact(noise):
    """Cost from the minimum to the saddle in d = 6 equals the 1-D ``method="exact"`` value of the
    switching coordinate (grid node at z = 0) to 1e-5 relative (observed 2.8e-6 Gaussian, 2.9e-6
    custom); for the Gaussian law the 1-D value is 4(log 2 - ½)."""
    dyn, minimum, saddle, dyn_1d = problems.separable_rotated(6, seed=0, noise=noise)
    grid = fw.Grid([(-0.5, 1.5)], (4001,))
    qp = fw.quasipotential(dyn_1d, grid, (1.0,), method="exact")
    ref = float(qp.values[np.argmin(np.abs(grid.axes[0]))])
    if noise == "gaussian":
        assert ref == pytest.approx(4 * (np.log(2) - 0.5), rel=1e-9)
    path = min_action_path(dyn, minimum, saddle, n_points=100)
    assert path.converged and path.info["form"] == "general"
    assert _rel(path.action, ref) <= 1e-5, (path.action, ref)


# ---- Langevin --------------------------------------------------------------------------------------
_MB = [
    (-200, -1, 0, -10, 1, 0),
    (-100, -1, 0, -10, 0, 0.5),
    (-170, -6.5, 11, -6.5, -0.5, 1.5),
    (15, 0.7, 0.6, 0.7, -1, 1),
]
MULLER_BROWN = " + ".join(
    f"({A})*exp(({a})*(x - ({x0}))**2 + ({b})*(x - ({x0}))*(y - ({y0})) + ({c})*(y - ({y0}))**2)"
    for A, a, b, c, x0, y0 in _MB
)
CAMEL = "2*x**2 - 1.05*x**4 + x**6/6 + x*y + y**2"


@pytest.mark.parametrize(
    "expr, box",
    [(CAMEL, [(-2.5, 2.5), (-2.5, 2.5)]), (MULLER_BROWN, [(-1.5, 1.2), (-0.5, 2.0)])],
    ids=["three-hump camel", "Muller-Brown"],
)
def test_langevin_cost_is_f_difference_all_methods(expr, box):
    """V(minimum → saddle) = f(saddle) - f(minimum) for b = -∇f, a = 2I, for every minimum–saddle
    pair closer than 1 (the adjacent ones: 2 for the camel, 4 for Müller–Brown), minima and saddles
    from fw.critical_points; gmam, sgmam and string each within 5e-5 relative (observed 3.9e-6 to
    7.6e-6 for gmam and sgmam, 4.7e-6 to 2.4e-5 for string) and within 5e-5 of each other."""
    loss = fw.Loss.from_expr(expr)
    cps = fw.critical_points(loss, box)
    mins, sads = cps.points[list(cps.of_kind("minimum"))], cps.points[list(cps.of_kind("saddle"))]
    assert len(mins) == 3 and len(sads) == 2
    pairs = [(m, s) for m in mins for s in sads if np.linalg.norm(m - s) < 1.0]
    assert len(pairs) == (2 if expr == CAMEL else 4)
    for m, s in pairs:
        ref = float(loss.value(s) - loss.value(m))
        actions = []
        for method in ("gmam", "sgmam", "string"):
            path = min_action_path(fw.langevin(loss), m, s, n_points=100, method=method)
            assert path.converged and path.method == method
            assert _rel(path.action, ref) <= 5e-5, (method, m, s, path.action, ref)
            actions.append(path.action)
        assert np.ptp(actions) <= 5e-5 * ref


# ---- finite-sum minibatch noise ------------------------------------------------------------------
def test_two_sample_rank_one_in_d20():
    """f ± c z₁ rotated into d = 20: the noise has rank 1, the solver confines the path to the line
    (reduced_dim 1). c = 1.2 (> max |f'| = 0.385 on [0, 1]): the 1-D exact value to 1e-5 relative
    (observed 3e-6); c = 0.3: the path needs |f'| ≥ c, action = +inf with the reason."""
    dyn, minimum, saddle = problems.two_sample_rotated(20, c=1.2, seed=0)
    path = min_action_path(dyn, minimum, saddle, n_points=100)
    ref = float(problems.two_sample_1d(c=1.2).exact(np.array([[0.0]]))[0])
    assert path.info["reduced_dim"] == 1 and path.converged
    assert _rel(path.action, ref) <= 1e-5, (path.action, ref)
    dyn, minimum, saddle = problems.two_sample_rotated(20, c=0.3, seed=0)
    path = min_action_path(dyn, minimum, saddle, n_points=50)
    assert path.action == np.inf and np.isinf(path.action_profile[-1])
    assert "hull of the sample gradients" in path.info["reason"]


@pytest.mark.slow
def test_minibatch_scaling_and_shallow_gaussian_limit():
    """With replacement Λ_B(p) = BΛ₁(p/B), so V_B = B·V₁ exactly for the minibatch law and its
    Gaussian approximation alike (checked at B = 4 to 1e-6): the two do not approach each other as B
    grows. They do as the barrier flattens (height h → 0 at fixed c, θ̂c = O(h)): the relative gap
    falls like h² (observed 1.71e-2, 4.20e-3, 1.04e-3 for h = 0.5, 0.25, 0.125: slope 2.02)."""
    V = {}
    for h in (0.5, 0.25, 0.125):
        for noise in ("exact", "gaussian"):
            for B in (1, 4) if h == 0.5 else (1,):
                dyn, m, s = problems.two_sample_rotated(20, c=1.0, seed=0, height=h, batch_size=B, noise=noise)
                V[h, noise, B] = min_action_path(dyn, m, s, n_points=100).action
    for noise in ("exact", "gaussian"):
        assert V[0.5, noise, 4] == pytest.approx(4 * V[0.5, noise, 1], rel=1e-6)
    gap = np.array([V[h, "exact", 1] / V[h, "gaussian", 1] - 1 for h in (0.5, 0.25, 0.125)])
    assert np.all(gap > 0)
    slope = np.polyfit(np.log([0.5, 0.25, 0.125]), np.log(gap), 1)[0]
    assert 1.8 <= slope <= 2.2, (gap, slope)


# ---- errors ------------------------------------------------------------------------------------------
def test_errors():
    dyn, minimum, saddle, _ = problems.maier_stein(1.0)
    with pytest.raises(fw.InputError, match=r"unknown method 'gam'; choose one of \['gmam', 'sgmam', 'string'\]"):
        min_action_path(dyn, minimum, saddle, method="gam")
    with pytest.raises(fw.InputError, match="method='string' follows the minimum energy path"):
        min_action_path(dyn, minimum, saddle, method="string")
    with pytest.raises(fw.InputError, match=r"start must have shape \(2,\), got \(3,\)"):
        min_action_path(dyn, np.zeros(3), saddle)
    with pytest.raises(fw.InputError, match=r"init must have shape \(k >= 2, 2\)"):
        min_action_path(dyn, minimum, saddle, init=np.zeros((4, 3)))
    with pytest.raises(fw.InputError, match="n_points must be an integer >= 5"):
        min_action_path(dyn, minimum, saddle, n_points=3)
    with pytest.raises(fw.InputError, match=r"start is not an equilibrium .*, or snap=True"):
        min_action_path(dyn, np.array([0.5, 0.5]), saddle, snap=False)
    with pytest.raises(fw.ConvergenceError, match="did not converge in 3 steps"):
        min_action_path(dyn, minimum, saddle, max_iter=3, throw=True, refine=False)
    fs, m, s = problems.two_sample_rotated(5, c=1.2, seed=0)
    with pytest.raises(fw.InputError, match="method='sgmam' needs quadratic"):
        min_action_path(fs, m, s, method="sgmam")
    off_span = s + 0.1 * np.linalg.qr(np.stack([m, np.ones(5)], axis=1))[0][:, 1]  # leaves the noise's line
    with pytest.raises(fw.InputError, match=r"the noise covariance has rank 1 < d = 5"):
        min_action_path(fs, m, off_span)


def test_snap_moves_a_start_near_the_minimum():
    """A start 0.05 from (1, 0) is snapped to the equilibrium (warning, ``info["snap"]``) and the
    action is that from (1, 0)."""
    dyn, minimum, saddle, exact = problems.maier_stein(1.0)
    with pytest.warns(fw.FWWarning, match="start snapped"):
        path = min_action_path(dyn, minimum + [0.03, 0.04], saddle)
    assert path.info["snap"]["distance"] == pytest.approx(0.05, rel=1e-6)
    assert np.allclose(path.points[0], minimum, atol=1e-9)
    assert abs(path.action - exact) <= 1e-5


def test_nan_drift_on_the_path_names_the_point():
    """b is NaN for x₁ > 0.6: NonFiniteError with the point."""

    def drift(x):
        return np.where(x[..., :1] > 0.6, np.nan, -x)

    dyn = fw.Diffusion(drift, cov=1.0, dim=2, jvp=lambda x, v: -v, vjp=lambda x, w: -w)
    with pytest.raises(fw.NonFiniteError, match=r"drift is not finite at x = \[0\.6"):
        min_action_path(dyn, np.zeros(2), np.array([1.0, 0.0]))
