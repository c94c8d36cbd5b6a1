"""Monte Carlo runs (fwpotential.montecarlo): exact stationary laws, basin masses, energy gaps,
checkpoint/resume identity, divergence and finite-sum sampling. Statistical tests use fixed seeds,
a tolerance of 4 standard errors from the run, and assert the error bar is small enough to fail."""

from __future__ import annotations

import dataclasses
import os
import signal
import warnings
from dataclasses import dataclass

import numba
import numpy as np
import pytest
from scipy.integrate import quad

import fwpotential as fw
from fwpotential.montecarlo import _kernel, _rng, codegen, mc_check, runners, seeding, simulate
from fwpotential.montecarlo import check as check_mod
from fwpotential.stationary.chain import stationary_chain

DW = "(x**2 - 1)**2 / 4 + 0.15*x"  # minima -1.0679, 0.9143; maximum 0.1536


@dataclass
class StandIn:
    """The attributes of fw.Landscape that the Monte Carlo code reads."""

    grid: object
    basins: np.ndarray
    attractors: np.ndarray
    saddles: np.ndarray
    saddle_joins: np.ndarray
    costs: np.ndarray
    energies: np.ndarray
    potential: np.ndarray


def double_well_land(dyn, n=1001):
    """1-D landscape of the tilted double well from the exact 1-D solver."""
    grid = fw.Grid([(-2.5, 2.5)], (n,))
    roots = np.sort(np.roots([1.0, 0.0, -1.0, 0.15]).real)
    mins, sad = roots[[0, 2]], roots[1]
    qps = [fw.quasipotential(dyn, grid, [m], method="exact") for m in mins]
    # V_i at the other minimum: the cost to reach it
    xs = grid.axes[0]
    costs = np.zeros((2, 2))
    for i in range(2):
        costs[i, 1 - i] = np.interp(mins[1 - i], xs, qps[i].values)
    E = np.array([costs[1, 0], costs[0, 1]])
    E -= E.min()
    W = np.minimum(E[0] + qps[0].values, E[1] + qps[1].values)
    basins = np.where(xs < sad, 0, 1)
    return StandIn(grid, basins, mins[:, None], np.array([[sad]]), np.array([[0, 1]]), costs, E, W - W.min())


def _lyap_S(A, Sig, g):
    """S solving A S + S A - γ A S A = γ Σ (vectorised, row-major)."""
    d = len(A)
    I = np.eye(d)
    M = np.kron(A, I) + np.kron(I, A) - g * np.kron(A, A)
    return np.linalg.solve(M, g * Sig.reshape(-1)).reshape(d, d)


def _per_chain_cov(traj):
    """Per-chain second moments (n_chains, d, d) of stored samples (mean zero law)."""
    return np.einsum("tci,tcj->cij", traj, traj) / traj.shape[0]


def test_linear_sgd_1d_variance():
    A, s2, g = 1.5, 0.8, 0.2
    dyn = fw.sgd(fw.Loss.from_expr(f"{A}*x**2/2"), noise=fw.GaussianNoise(s2))
    run = simulate(dyn, step_size=g, n_steps=4000, n_chains=256, x0=[0.0], seed=11, store_every=4, progress=False)
    exact = g * s2 / (A * (2 - g * A))
    v = _per_chain_cov(run.trajectory[50:])[:, 0, 0]
    est, se = v.mean(), v.std(ddof=1) / np.sqrt(len(v))
    assert run.info["backend"] == "numba"
    assert se < 0.01 * exact  # resolves a 4 % error
    assert abs(est - exact) < 4 * se, (est, exact, se)


def test_linear_sgd_2d_covariance():
    A = np.array([[2.0, 0.5], [0.5, 1.0]])
    Sig = np.array([[0.5, 0.1], [0.1, 0.3]])
    g = 0.15
    dyn = fw.sgd(fw.Loss.from_expr("x**2 + 0.5*x*y + y**2/2"), noise=fw.GaussianNoise(Sig))
    run = simulate(dyn, step_size=g, n_steps=3000, n_chains=256, x0=[0.0, 0.0], seed=5, store_every=3, progress=False)
    S = _lyap_S(A, Sig, g)
    C = _per_chain_cov(run.trajectory[50:])
    est, se = C.mean(0), C.std(0, ddof=1) / np.sqrt(C.shape[0])
    assert np.all(se < 0.02 * np.abs(S).max())
    assert np.all(np.abs(est - S) < 4 * se), (est, S, se)


def test_langevin_ula_basin_masses():
    """ULA at a small step: masses of the two basins match ∫ exp(-f/ε) (the step's bias, measured by
    the exact chain, is below the run's standard error)."""
    eps, h = 0.25, 0.005
    dyn = fw.langevin(DW)
    land = double_well_land(dyn, n=501)
    f = fw.Loss.from_expr(DW)
    sad = float(land.saddles[0, 0])
    Z = [quad(lambda x: np.exp(-float(f.value([x])) / eps), a, b)[0] for a, b in ((-4, sad), (sad, 4))]
    p_exact = Z[0] / sum(Z)
    run = simulate(
        dyn,
        step_size=h,
        temperature=eps,
        n_steps=40_000,
        n_chains=200,
        x0=land.attractors[0],
        seed=3,
        landscape=land,
        burn_in=2000,
        progress=False,
    )
    occ = run.occupation(land)
    se = occ.se[0]
    assert occ.fractions[2] == 0.0
    assert se < 0.02
    chain = stationary_chain(dyn, h, fw.Grid([(-3, 3)], (3001,)), temperature=eps)
    assert abs(chain.basin_masses(land)[0] - p_exact) < se  # ULA bias is invisible at this precision
    assert abs(occ.fractions[0] - p_exact) < 4 * se, (occ, p_exact)


def test_energy_gap_fit_recovers_exact_solver():
    dyn = fw.langevin(DW)
    land = double_well_land(dyn)
    with warnings.catch_warnings():
        warnings.simplefilter("error", fw.FWWarning)
        chk = mc_check(land, dyn, step_sizes=[0.2, 0.14, 0.1], n_steps=30_000, n_chains=128, seed=0)
    gap = chk.slope_expected
    assert gap == pytest.approx(-(land.energies[0] - land.energies[1]))
    assert chk.slope_se < 0.1 * abs(gap)
    assert abs(chk.slope - gap) < 4 * chk.slope_se, str(chk)
    assert "slope" in str(chk) and "Arrhenius" in str(chk)
    arr = [a for a in chk.arrhenius if a["n_points"] >= 2]
    assert arr, str(chk)
    # three step sizes: a plain line, which the O(γ) term biases, and no verdict
    assert chk.model == "c + b/γ" and chk.consistent is None and "no verdict" in str(chk)


LADDER = [0.08, 0.1, 0.13, 0.17, 0.22]


@pytest.fixture(scope="module")
def langevin_ladder():
    """mc_check of the 1-D Langevin double well over five step sizes (the fit with the aγ term)."""
    dyn = fw.langevin(DW)
    land = double_well_land(dyn)
    with warnings.catch_warnings():
        warnings.simplefilter("error", fw.FWWarning)
        chk = mc_check(land, dyn, step_sizes=LADDER, n_steps=40_000, n_chains=128, seed=1)
    return dyn, land, chk


def test_slope_check_passes_a_correct_landscape(langevin_ladder):
    _, land, chk = langevin_ladder
    assert chk.model == "c + b/γ + aγ" and np.isfinite(chk.linear_se)
    assert chk.slope_se < 0.1 * abs(chk.slope_expected)  # a 30 % error in the gap is > 3 se away
    assert chk.consistent is True and abs(chk.z) <= 3, str(chk)
    assert chk.z == pytest.approx((chk.slope_expected - chk.slope) / chk.slope_se)  # StandIn: no energy_errors
    assert "consistent (z = " in str(chk) and "consistent" in repr(chk)


def test_slope_check_flags_a_wrong_energy_gap(langevin_ladder):
    """The same chains against a landscape whose energy gap is 30 % too small: flagged, with z < -3."""
    dyn, land, chk = langevin_ladder
    E = land.energies.copy()
    E[int(np.argmax(E))] *= 0.7
    wrong = dataclasses.replace(land, energies=E)
    with warnings.catch_warnings():
        warnings.simplefilter("error", fw.FWWarning)
        bad = mc_check(wrong, dyn, step_sizes=LADDER, n_steps=40_000, n_chains=128, seed=1)
    assert bad.slope == chk.slope and bad.slope_se == chk.slope_se  # same seeds, same runs
    assert bad.consistent is False and bad.z < -3, str(bad)
    assert "INCONSISTENT" in str(bad) and "INCONSISTENT" in repr(bad)


def test_slope_check_counts_the_landscape_error(langevin_ladder):
    """energy_errors widen the denominator of z: z = (expected - fit) / √(se² + e_i² + e_j²)."""
    dyn, land, chk = langevin_ladder
    fit = {"model": chk.model, "slope": chk.slope, "slope_se": chk.slope_se}
    z, ok = check_mod._slope_z(fit, chk.slope + 5 * chk.slope_se, expected_se=0.0)
    assert z == pytest.approx(5.0) and ok is False
    z, ok = check_mod._slope_z(fit, chk.slope + 5 * chk.slope_se, expected_se=2 * chk.slope_se)
    assert z == pytest.approx(5 / np.sqrt(5)) and ok is True


def test_mc_check_warns_on_too_few_crossings():
    dyn = fw.langevin(DW)
    land = double_well_land(dyn, n=201)
    with pytest.warns(fw.FWWarning, match="crossings"):
        chk = mc_check(land, dyn, step_sizes=[0.05, 0.04], n_steps=500, n_chains=16, seed=1)
    assert chk.info["warnings"] and "warning: " in str(chk)
    with pytest.warns(DeprecationWarning, match=r'info\["warnings"\]'):
        assert chk.notes == chk.info["warnings"]  # the old name, deprecated


def _run_all(run):
    return [
        run.positions,
        run.status,
        run.counts,
        run.transitions,
        run.tau_sum,
        run.tau_sq,
        run.hist,
        run.trajectory,
        run.series,
    ]


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_resume_is_bit_identical(tmp_path, backend):
    dyn = fw.sgd(fw.Loss.from_expr(DW), noise=fw.IsotropicNoise("0.5 + x**2/2"))
    land = double_well_land(fw.langevin(DW), n=201)
    kw = dict(
        step_size=0.1,
        n_chains=64,
        x0=[1.0],
        seed=7,
        landscape=land,
        store_every=50,
        progress=False,
        backend=backend,
        burn_in=100,
    )
    n = 1500 if backend == "numpy" else 3000
    ref = simulate(dyn, n_steps=n, **kw)
    path = tmp_path / "ck.npz"
    simulate(dyn, n_steps=n // 3, checkpoint=path, **kw)
    assert path.exists()
    res = simulate(dyn, n_steps=n, checkpoint=path, checkpoint_every=100, **kw)
    assert res.info["resumed_from"] == n // 3
    for a, b in zip(_run_all(ref), _run_all(res)):
        np.testing.assert_array_equal(a, b)


def test_ctrl_c_leaves_valid_checkpoint(tmp_path, monkeypatch):
    dyn = fw.sgd(fw.Loss.from_expr(DW), noise=fw.GaussianNoise(0.5))
    kw = dict(step_size=0.1, n_steps=30_000, n_chains=512, x0=[1.0], seed=2, progress=False)
    ref = simulate(dyn, **kw)
    orig = runners.NumbaRunner.advance
    calls = {"n": 0}

    def advance(self, st, t0, n):
        orig(self, st, t0, n)
        calls["n"] += 1
        if calls["n"] == 2:
            os.kill(os.getpid(), signal.SIGINT)  # handled between blocks

    monkeypatch.setattr(runners.NumbaRunner, "advance", advance)
    path = tmp_path / "int.npz"
    with pytest.raises(KeyboardInterrupt):
        simulate(dyn, checkpoint=path, **kw)
    monkeypatch.setattr(runners.NumbaRunner, "advance", orig)
    res = simulate(dyn, checkpoint=path, **kw)
    assert 0 < res.info["resumed_from"] < kw["n_steps"]
    np.testing.assert_array_equal(ref.positions, res.positions)


def test_checkpoint_with_other_parameters_raises(tmp_path):
    dyn = fw.sgd(fw.Loss.from_expr("x**2"), noise=fw.GaussianNoise(0.5))
    path = tmp_path / "c.npz"
    simulate(dyn, step_size=0.1, n_steps=10, n_chains=4, x0=[0.0], seed=1, checkpoint=path, progress=False)
    with pytest.raises(fw.InputError, match="different parameters"):
        simulate(dyn, step_size=0.2, n_steps=10, n_chains=4, x0=[0.0], seed=1, checkpoint=path, progress=False)


def test_thread_count_does_not_change_results():
    dyn = fw.sgd(fw.Loss.from_expr(DW), noise=fw.IsotropicNoise("0.5 + f"))
    land = double_well_land(fw.langevin(DW), n=201)
    kw = dict(step_size=0.1, n_steps=2000, n_chains=50, x0=[1.0], seed=9, landscape=land, progress=False)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = simulate(dyn, **kw)
    finally:
        numba.set_num_threads(before)
    two = simulate(dyn, **kw)
    for a, b in zip(_run_all(one), _run_all(two)):
        np.testing.assert_array_equal(a, b)


def test_divergence_is_counted_and_reported():
    dyn = fw.sgd(fw.Loss.from_expr("x**4/4 + x**2/2"), noise=fw.GaussianNoise(0.1))
    x0 = np.array([[0.0]] * 6 + [[4.0]] * 4)  # γ f'' = 0.5 (1 + 3 x²) > 2 at x = 4: those blow up
    with pytest.warns(fw.FWWarning, match="4 of 10 chains stopped"):
        run = simulate(dyn, step_size=0.5, n_steps=100, n_chains=10, x0=x0, seed=0, progress=False)
    assert run.n_diverged == 4 and run.info["n_diverged"] == 4
    assert np.all(run.status[6:] == 1) and np.all(run.status[:6] == 0)
    assert np.all(run.stopped_at[6:] < 100) and np.all(run.stopped_at[:6] == 100)
    assert "4 diverged" in repr(run)


def test_step_size_above_stability_limit_warns():
    dyn = fw.sgd(fw.Loss.from_expr("x**2"), noise=fw.GaussianNoise(0.01))
    with pytest.warns(fw.FWWarning, match="stability limit"):
        run = simulate(dyn, step_size=1.05, n_steps=10, n_chains=2, x0=[0.0], seed=0, progress=False)
    assert run.info["stability"][0]["limit"] == pytest.approx(1.0)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_finite_sum_step_uses_one_drawn_sample(backend):
    """B = 1: after one step every chain sits at x0 - γ ∇f_i(x0) for some i, each i with frequency 1/N."""
    cs = (1.2, -0.4, 2.0)
    data = fw.FiniteSum([fw.Loss.from_expr(f"x**4/4 - x**2/2 + {c}*x") for c in cs])
    run = simulate(
        fw.sgd(data), step_size=0.05, n_steps=1, n_chains=3000, x0=[0.5], seed=4, progress=False, backend=backend
    )
    targets = np.array([0.5 - 0.05 * (0.125 - 0.5 + c) for c in cs])
    dist = np.abs(run.positions[:, 0, None] - targets[None, :])
    assert np.all(dist.min(axis=1) < 1e-12)
    freq = np.bincount(dist.argmin(axis=1), minlength=3) / 3000
    se = np.sqrt(freq * (1 - freq) / 3000)
    assert np.all(np.abs(freq - 1 / 3) < 4 * se) and np.all(se < 0.01)


def test_finite_sum_callables_evaluate_only_drawn_samples():
    calls = np.zeros(4, int)

    def make(c, k):
        def grad(x):
            calls[k] += x.shape[0]
            return x - c

        return fw.Loss.from_callable(
            lambda x: ((x - c) ** 2).sum(-1) / 2, dim=1, grad=grad, hess=lambda x: np.ones(x.shape + (1,))
        )

    data = fw.FiniteSum([make(c, k) for k, c in enumerate((0.0, 1.0, 2.0, 3.0))])
    calls[:] = 0
    run = simulate(fw.sgd(data, batch_size=2), step_size=0.1, n_steps=50, n_chains=40, x0=[1.5], seed=0, progress=False)
    used = calls.sum()
    assert run.info["backend"] == "numpy"
    assert used <= 40 * 2 * 50 + 8  # at most B gradients per chain-step (+ the stability check)
    assert used < 40 * 4 * 50 / 1.5


def test_histogram_and_occupation_shapes():
    dyn = fw.langevin(DW)
    land = double_well_land(dyn, n=201)
    run = simulate(
        dyn,
        step_size=0.2,
        n_steps=500,
        n_chains=20,
        x0=land.attractors[1],
        seed=0,
        landscape=land,
        store_every=5,
        progress=False,
        burn_in=100,
    )
    h = run.histogram()
    assert h.shape == land.grid.shape and h.sum() == 20 * 400
    other = fw.Grid([(-2, 2)], (41,))
    h2 = run.histogram(other)  # from the stored trajectory
    assert h2.shape == (41,) and 0 < h2.sum() <= 20 * 80
    occ = run.occupation(land)
    assert occ.fractions.shape == (3,) and occ.fractions.sum() == pytest.approx(1.0)
    ex = run.exits(land)
    assert ex.counts.shape == (2, 2)


def test_errors():
    dyn = fw.sgd(fw.Loss.from_expr("x**2"), noise=fw.GaussianNoise(0.5))
    with pytest.raises(fw.InputError, match="unknown backend"):
        simulate(dyn, step_size=0.1, n_steps=1, n_chains=1, x0=[0.0], seed=0, backend="gpu")
    with pytest.raises(fw.InputError, match="x0 must have shape"):
        simulate(dyn, step_size=0.1, n_steps=1, n_chains=3, x0=np.zeros((2, 1)), seed=0)
    other = fw.Dynamics(lambda x: -x, fw.GaussianNoise(1.0), dim=1, kind="jump")
    with pytest.raises(fw.InputError, match="SGD, Langevin or diffusion"):
        simulate(other, step_size=0.1, n_steps=1, n_chains=1, x0=[0.0], seed=0)
    with pytest.raises(fw.InputError, match="temperature= is for Langevin"):
        simulate(dyn, step_size=0.1, n_steps=1, n_chains=1, x0=[0.0], seed=0, temperature=0.1)
    run = simulate(dyn, step_size=0.1, n_steps=1, n_chains=1, x0=[0.0], seed=0, progress=False)
    with pytest.raises(fw.InputError, match="no basin statistics"):
        run.occupation()


def test_ziggurat_normals_moments():
    keys = np.stack([s.generate_state(4, np.uint64) for s in np.random.SeedSequence(0).spawn(4)])
    z = _rng.normals(keys, 250_000).reshape(-1)
    n = z.size
    assert abs(z.mean()) < 4 / np.sqrt(n)
    assert abs(z.var() - 1) < 4 * np.sqrt(2 / n)
    assert abs(np.mean(z**4) - 3) < 4 * np.sqrt(96 / n)
    assert abs(np.mean(np.abs(z) > 3.442619855899) - 2 * 0.5 * 0.000576) < 1e-3  # tail beyond R


def test_one_kernel_step_matches_reference_update():
    """The compiled step (SymPy gradient and variance, powers as products, CSE) against
    x - γ(∇f(x) + √s(x) ξ) evaluated by NumPy with the same normals (same seeds, same order)."""
    loss = fw.Loss.from_expr("(x**2 - 1)**2 + 2*y**2 + 0.3*x*y**2 + 1/(1 + x**2)**3 + exp(-y)*sin(x)")
    dyn = fw.sgd(loss, noise=fw.IsotropicNoise("0.5 + f/(1 + x**4)"))
    X0 = np.random.default_rng(0).uniform(-1.5, 1.5, (50, 2))
    run = simulate(dyn, step_size=0.05, n_steps=1, n_chains=50, x0=X0, seed=12, progress=False)
    assert run.info["backend"] == "numba"
    keys = np.stack([s.generate_state(4, np.uint64) for s in np.random.SeedSequence(12).spawn(50)])
    xi = _rng.normals(keys, 2)
    ref = X0 - 0.05 * (loss.grad(X0) + np.sqrt(dyn.noise.scalar(X0))[:, None] * xi)
    np.testing.assert_allclose(run.positions, ref, rtol=1e-13, atol=1e-13)


def test_spawned_states_equal_seed_sequence_spawn():
    for seed in (0, 9, 2**32 - 1, 2**32 + 7, 2**70 + 3, 2**140 + 1):
        ref = np.stack([s.generate_state(4, np.uint64) for s in np.random.SeedSequence(seed).spawn(37)])
        np.testing.assert_array_equal(seeding.spawned_states(seed, 37), ref)


@pytest.mark.parametrize("model", ["gaussian", "finite_sum"])
def test_blocking_does_not_change_results(monkeypatch, model):
    """Chains per block (NB, printed into the hook) and steps per hook call (K) only regroup the work:
    every chain's stream and arithmetic stay the same. 21 chains: a partial last block; some stop."""
    if model == "gaussian":
        dyn = fw.sgd(fw.Loss.from_expr(DW), noise=fw.IsotropicNoise("0.5 - x/2"))  # a < 0 beyond x = 1
        x0 = np.linspace(-1.5, 0.95, 21)[:, None]  # chains of the right well stop after 7 to 216 steps
        kw = dict(step_size=0.2)
    else:
        rng = np.random.default_rng(0)
        a, t = rng.standard_normal(50), rng.standard_normal(50)
        dyn = fw.sgd(
            fw.FiniteSum.from_expr("(w*a - t)**2/2 + w**4/4", data={"a": a, "t": t}, variables=["w"]), batch_size=3
        )
        x0 = np.linspace(-1.0, 3.0, 21)[:, None]  # γ f'' > 2 at the right end: those diverge (step 4, 5)
        kw = dict(step_size=0.3)
    land = double_well_land(fw.langevin(DW), n=201)
    kw.update(n_steps=700, n_chains=21, x0=x0, seed=3, landscape=land, store_every=7, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fw.FWWarning)
        ref = simulate(dyn, **kw)
        runs = []
        for nb, buf in ((1, 7), (32, 5000)):
            monkeypatch.setattr(_kernel, "GAUSS_NB", nb)
            monkeypatch.setattr(_kernel, "SUM_NB", nb)
            monkeypatch.setattr(_kernel, "BUF_DOUBLES", buf)
            runs.append(simulate(dyn, **kw))
    assert ref.info["backend"] == "numba"
    assert 0 < ref.n_diverged < 21 and ref.counts.sum() > 0
    for run in runs:
        for a, b in zip(_run_all(ref), _run_all(run)):
            np.testing.assert_array_equal(a, b)


def test_hook_cache_file_and_in_memory_fallback(tmp_path, monkeypatch):
    dyn = fw.sgd(fw.Loss.from_expr("x**2/2 + 0.123*x**4"), noise=fw.IsotropicNoise("0.5 + x**2"))
    kw = dict(step_size=0.1, n_steps=50, n_chains=20, x0=[0.3], seed=1, progress=False)
    monkeypatch.setenv("FWPOTENTIAL_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(codegen, "_HOOKS", {})
    cached = simulate(dyn, **kw)
    files = list((tmp_path / "mc_hooks").glob("fwpotential_hook_*.py"))
    assert len(files) == 1 and "def block(" in files[0].read_text()
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("")
    monkeypatch.setenv("FWPOTENTIAL_CACHE_DIR", str(blocker))  # cannot make a folder there
    monkeypatch.setattr(codegen, "_HOOKS", {})
    memory = simulate(dyn, **kw)
    np.testing.assert_array_equal(cached.positions, memory.positions)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "other_npz"])
def test_damaged_checkpoint_names_the_file(tmp_path, damage):
    dyn = fw.sgd(fw.Loss.from_expr("x**2"), noise=fw.GaussianNoise(0.5))
    path = tmp_path / "c.npz"
    kw = dict(step_size=0.1, n_steps=10, n_chains=4, x0=[0.0], seed=1, checkpoint=path, progress=False)
    simulate(dyn, **kw)
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(b"not a checkpoint" * 10)
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        np.savez(path, a=np.zeros(3))
    with pytest.raises(
        fw.InputError, match=r"checkpoint .*c\.npz cannot be read .*delete it .*another checkpoint= path"
    ):
        simulate(dyn, **kw)


def test_all_chains_diverged_is_said_with_step_size_advice():
    """Every chain blows up during burn-in: the error says so, not that burn_in >= n_steps."""
    dyn = fw.sgd(fw.Loss.from_expr("x**2"), noise=fw.GaussianNoise(0.01))
    land = fw.landscape(fw.langevin("x**2"), fw.Grid([(-2.0, 2.0)], (41,)))
    with pytest.warns(fw.FWWarning):
        run = simulate(
            dyn, step_size=1.5, n_steps=2000, n_chains=5, x0=[0.5], seed=0, landscape=land, burn_in=1000, progress=False
        )
    assert run.n_diverged == 5
    with pytest.raises(
        fw.InputError,
        match=r"5 of 5 chains diverged .* before the end of burn_in=1000, at step_size=1\.5; the stability limit 2/λ_max of SGD at the minima is 1; use a smaller step_size",
    ):
        run.occupation()
    ok = simulate(
        dyn, step_size=0.1, n_steps=10, n_chains=2, x0=[0.5], seed=0, landscape=land, burn_in=10, progress=False
    )
    with pytest.raises(fw.InputError, match=r"burn_in=10 >= n_steps=10; give burn_in < n_steps"):
        ok.occupation()


def test_mc_check_refuses_dynamics_of_another_landscape():
    land = fw.landscape(fw.langevin(DW), fw.Grid([(-2.5, 2.5)], (201,)))
    kw = dict(step_sizes=[0.05, 0.04], n_steps=200, n_chains=4, seed=1)
    with pytest.raises(fw.InputError, match=r"simulates .*SGD.* but the landscape was computed for .*Langevin"):
        mc_check(land, fw.sgd(DW, noise=fw.GaussianNoise(2.0)), **kw)
    sgd_land = fw.landscape(fw.sgd(DW, noise=fw.GaussianNoise(0.5)), fw.Grid([(-2.5, 2.5)], (201,)))
    with pytest.raises(fw.InputError, match=r"their H\(x, p\) differ at x = .*another drift or noise law"):
        mc_check(sgd_land, fw.sgd(DW, noise=fw.GaussianNoise(0.4)), **kw)
    with pytest.warns(fw.FWWarning, match="crossings"):  # an equal dynamics built again is accepted
        mc_check(land, fw.langevin(DW), **kw)


def test_mc_check_warns_when_the_burn_in_is_too_short():
    """No burn-in: half the chains start in the less occupied well and the note says so."""
    dyn = fw.langevin(DW)
    land = double_well_land(dyn, n=201)
    with pytest.warns(fw.FWWarning, match="relaxation times"):
        chk = mc_check(land, dyn, step_sizes=[0.13, 0.17], n_steps=3000, n_chains=128, seed=1, burn_in=0)
    assert any("increase burn_in" in n for n in chk.info["warnings"])
    with warnings.catch_warnings():
        warnings.simplefilter("error", fw.FWWarning)
        mc_check(land, dyn, step_sizes=[0.13, 0.17], n_steps=3000, n_chains=128, seed=1, burn_in=1000)
