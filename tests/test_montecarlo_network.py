"""Monte Carlo in d dimensions against a TransitionNetwork (fw.simulate(..., network=net), mc_check):
quench labels, occupations against the exact finite-step chain, linear SGD in d = 20, the slope
verdict, checkpoints and the documented errors. Statistical tests use fixed seeds, a tolerance of 4
standard errors from the run, and assert the error bar is small enough to fail.

The double well is separable in rotated coordinates z = Qᵀx: f(x) = φ(z_0) + ½ Σ_k λ_k z_k², with
φ(z) = A (z² - 1)² + h z. The ULA chain x ← x - γ∇f + √(2γε) ξ in z is the 1-D chain of φ in z_0
(Qᵀξ is again standard normal), so the exact basin masses at finite γ come from the 1-D chain's
stationary law (GTH on a fine grid), and the basins are z_0 < z_s and z_0 > z_s exactly.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest

import fwpotential as fw
from fwpotential.analysis.network import TransitionNetwork
from fwpotential.montecarlo import mc_check, simulate
from fwpotential.montecarlo.labels import LABEL_Z, NetworkLabels, network_key
from fwpotential.stationary.chain import stationary_chain


@dataclasses.dataclass
class Well:
    dyn: object
    net: TransitionNetwork
    Q: np.ndarray
    lam: np.ndarray
    roots: np.ndarray  # z_0 of the left minimum, the saddle, the right minimum
    A: float
    h: float


def rotated_double_well(d, *, A=0.25, h=0.05, seed=0, expression=False):
    """Langevin on the rotated double well in d dimensions and its exact network (energies
    f(x_i) - min f, costs f(saddle) - f(x_i), zero errors)."""
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    lam = np.linspace(1.0, 2.0, d - 1)
    if expression:
        names = [f"w{i}" for i in range(d)]
        z = ["(" + " + ".join(f"{float(Q[i, k])!r}*{names[i]}" for i in range(d)) + ")" for k in range(d)]
        quad_terms = " + ".join(f"{float(0.5 * lam[k - 1])!r}*{z[k]}**2" for k in range(1, d))
        loss = fw.Loss.from_expr(f"{A}*({z[0]}**2 - 1)**2 + {h}*{z[0]} + {quad_terms}", variables=names)
    else:
        H_quad = np.diag(np.concatenate([[0.0], lam]))

        def value(x):
            z = x @ Q
            return A * (z[..., 0] ** 2 - 1) ** 2 + h * z[..., 0] + 0.5 * (lam * z[..., 1:] ** 2).sum(-1)

        def grad(x):
            z = x @ Q
            g0 = 4 * A * z[..., :1] * (z[..., :1] ** 2 - 1) + h
            return np.concatenate([g0, lam * z[..., 1:]], axis=-1) @ Q.T

        def hess(x):
            z = np.asarray(x) @ Q
            H = np.broadcast_to(H_quad, z.shape[:-1] + (d, d)).copy()
            H[..., 0, 0] = 4 * A * (3 * z[..., 0] ** 2 - 1)
            return Q @ H @ Q.T

        loss = fw.Loss.from_callable(value, dim=d, grad=grad, hess=hess, name=f"rotated double well d={d}")
    dyn = fw.langevin(loss)
    roots = np.sort(np.roots([4 * A, 0.0, -4 * A, h]).real)
    phi = A * (roots**2 - 1) ** 2 + h * roots
    fv, fs = phi[[0, 2]], phi[1]
    E = fv - fv.min()
    net = TransitionNetwork(
        dynamics=dyn, method="exact", attractors=np.outer(roots[[0, 2]], Q[:, 0]),
        attractor_values=fv, saddles=roots[1] * Q[:, 0][None, :], saddle_values=np.array([fs]),
        saddle_joins=np.array([[0, 1]]), costs=np.array([[0.0, fs - fv[0]], [fs - fv[1], 0.0]]),
        cost_errors=np.zeros((2, 2)), energies=E, energy_errors=np.zeros(2),
        ground_states=np.array([int(np.argmin(E))]), near_ties=[], tie_tol=1e-9, paths={}, info={},
    )  # fmt: skip
    return Well(dyn=dyn, net=net, Q=Q, lam=lam, roots=roots, A=A, h=h)


def exact_masses(w, gamma):
    """Basin masses (left, right) of the finite-γ ULA chain of φ: the 1-D chain in z_0, GTH."""
    dyn1 = fw.langevin(f"{w.A}*(x**2 - 1)**2 + {w.h}*x")
    st = stationary_chain(dyn1, gamma, fw.Grid([(-3.0, 3.0)], (1501,)))
    assert st.info["boundary_mass"] < 1e-12
    x = st.grid.axes[0]
    p = st.probabilities.reshape(-1)
    left = float(p[x < w.roots[1]].sum())
    return np.array([left, 1.0 - left])


def stationary_points(w, n, gamma, rng, z0):
    """Points with the given z_0 and the transverse coordinates of the stationary law (variance γ/λ)."""
    zt = rng.standard_normal((n, len(w.lam))) * np.sqrt(gamma / w.lam)
    return np.column_stack([z0, zt]) @ w.Q.T


# ---- labels ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("d", [10, 100])
def test_quench_labels_are_the_side_of_the_saddle(d):
    """Basin = sign of z_0 - z_s for points away from the saddle; core = basin and at most
    core_radius of the way (along z_0) from the minimum to the saddle."""
    w = rotated_double_well(d)
    rng = np.random.default_rng(1)
    z0 = rng.uniform(-1.8, 1.8, 600)
    z0 = z0[np.abs(z0 - w.roots[1]) > 0.02]
    x = stationary_points(w, len(z0), 0.1, rng, z0)
    lab = NetworkLabels(w.net, w.dyn, 0.5)
    basin, core = lab.lookup(x)
    truth = np.where(z0 > w.roots[1], 1, 0)
    assert np.array_equal(basin, truth)
    zmin = w.roots[[0, 2]][truth]
    frac = (z0 - zmin) / (w.roots[1] - zmin)
    assert np.array_equal(core, np.where(frac <= 0.5, truth, -1))
    assert 0.2 < np.mean(core >= 0) < 0.8  # both kinds of points occur


def test_label_interval_follows_the_noise_spread():
    """Default k from the per-step noise along z_0: std γ√2 / |x_s - x_i| (Langevin, a = 2I)
    measured from 256 draws (4 SE), and k = floor(((1 - c)/(LABEL_Z σ))²)."""
    w = rotated_double_well(10)
    g = 0.02
    run = simulate(w.dyn, step_size=g, n_steps=10, n_chains=8, x0=w.net.attractors[1], seed=0, network=w.net)
    info = run.info["labels"]
    dist = np.abs(w.roots[1] - w.roots[[0, 2]])
    sigma = g * np.sqrt(2.0) / dist.min()
    assert abs(info["noise_spread"] - sigma) < 4 * sigma / np.sqrt(2 * 256)
    k = int(np.floor((0.5 / (LABEL_Z * info["noise_spread"])) ** 2))
    assert info["label_every"] == k and info["chosen"] and 5 <= k <= 1000
    assert run.labels_key == network_key(w.net) and run.hist is None


def test_label_interval_sees_noise_at_the_saddle():
    """SGD in 1-D with a noise variance that nearly vanishes at the minima, s(x) = (x² - 1)² + 0.01:
    the spread behind k is the saddle's, γ√s(0) / |x_s - x_i| (4 SE of 256 draws), not the minima's."""
    dyn = fw.sgd(fw.Loss.from_expr("(x**2 - 1)**2"), noise=fw.IsotropicNoise("(x**2 - 1)**2 + 0.01"))
    net = TransitionNetwork(
        dynamics=dyn, method="exact", attractors=np.array([[-1.0], [1.0]]), attractor_values=np.zeros(2),
        saddles=np.array([[0.0]]), saddle_values=np.ones(1), saddle_joins=np.array([[0, 1]]),
        costs=np.array([[0.0, 1.0], [1.0, 0.0]]), cost_errors=np.zeros((2, 2)), energies=np.zeros(2),
        energy_errors=np.zeros(2),
        ground_states=np.array([0, 1]), near_ties=[], tie_tol=1e-9, paths={}, info={},
    )  # fmt: skip
    g = 0.01
    run = simulate(dyn, step_size=g, n_steps=10, n_chains=4, x0=[1.0], seed=0, network=net)
    sigma = g * np.sqrt(1.01)
    assert abs(run.info["labels"]["noise_spread"] - sigma) < 4 * sigma / np.sqrt(2 * 256)
    assert run.info["labels"]["label_every"] == int(
        np.floor((0.5 / (LABEL_Z * run.info["labels"]["noise_spread"])) ** 2)
    )


# ---- occupations against the exact finite-γ chain ------------------------------------------------
def _occupation_vs_exact(w, gamma, *, n_steps, n_chains, label_every, backend, seed):
    x0 = w.net.attractors[np.arange(n_chains) % 2]  # half the chains in each basin: a short transient
    run = simulate(
        w.dyn, step_size=gamma, n_steps=n_steps, n_chains=n_chains, x0=x0, seed=seed, network=w.net,
        burn_in=n_steps // 10, label_every=label_every, backend=backend,
    )  # fmt: skip
    occ = run.occupation(w.net)
    ref = exact_masses(w, gamma)
    return run, occ, ref


def test_network_occupation_matches_the_exact_chain_d10():
    """d = 10, rotated: the fraction of labelled samples per basin against the 1-D chain's exact
    masses at γ = 0.12 (no asymptotics involved), within 4 SE; 4 SE < 0.05 in the mass."""
    w = rotated_double_well(10)
    run, occ, ref = _occupation_vs_exact(w, 0.12, n_steps=5000, n_chains=128, label_every=4, backend="numpy", seed=3)
    assert run.info["backend"] == "numpy" and run.info["labels"]["label_every"] == 4
    assert occ.fractions[2] == 0.0  # every sample labelled
    assert occ.se[0] < 0.0125
    assert abs(occ.fractions[0] - ref[0]) <= 4 * occ.se[0], (occ, ref)
    ex = run.exits(w.net)
    assert ex.counts[0, 1] > 300 and ex.counts[1, 0] > 300


def test_three_well_network_occupations_d10():
    """Three minima and two saddles along z_0 (φ = a z²(z² - 4)²/16 + h z, rotated, d = 10): the
    middle attractor's core is cut toward both saddles, the outer ones toward one; occupations of
    the three basins against the exact 1-D chain (4 SE each), transitions between neighbours."""
    d, a, h, g = 10, 0.35, 0.02, 0.12
    rng = np.random.default_rng(2)
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    lam = np.linspace(1.0, 2.0, d - 1)
    c = [a / 16, 0.0, -8 * a / 16, 0.0, 16 * a / 16, h, 0.0]  # φ(z) as a polynomial, highest power first
    dc = np.polyder(c)

    def value(x):
        z = x @ Q
        return np.polyval(c, z[..., 0]) + 0.5 * (lam * z[..., 1:] ** 2).sum(-1)

    def grad(x):
        z = x @ Q
        return np.concatenate([np.polyval(dc, z[..., :1]), lam * z[..., 1:]], axis=-1) @ Q.T

    dyn = fw.langevin(fw.Loss.from_callable(value, dim=d, grad=grad))
    r = np.sort(np.roots(dc).real)  # minimum, saddle, minimum, saddle, minimum
    mins, sads = r[[0, 2, 4]], r[[1, 3]]
    fm, fs = np.polyval(c, mins), np.polyval(c, sads)
    costs = np.array([[0, fs[0] - fm[0], np.inf], [fs[0] - fm[1], 0, fs[1] - fm[1]], [np.inf, fs[1] - fm[2], 0]])
    net = TransitionNetwork(
        dynamics=dyn, method="exact", attractors=np.outer(mins, Q[:, 0]), attractor_values=fm,
        saddles=np.outer(sads, Q[:, 0]), saddle_values=fs, saddle_joins=np.array([[0, 1], [1, 2]]), costs=costs,
        cost_errors=np.zeros((3, 3)), energies=fm - fm.min(), energy_errors=np.zeros(3),
        ground_states=np.array([int(np.argmin(fm))]), near_ties=[], tie_tol=1e-9, paths={}, info={},
    )  # fmt: skip
    x0 = net.attractors[np.arange(150) % 3]
    run = simulate(dyn, step_size=g, n_steps=5000, n_chains=150, x0=x0, seed=4, network=net, burn_in=500, label_every=4)
    occ = run.occupation(net)
    one = fw.Loss.from_expr(" + ".join(f"{float(v)!r}*x**{6 - k}" for k, v in enumerate(c[:-1])))
    st = stationary_chain(fw.langevin(one), g, fw.Grid([(-3.5, 3.5)], (1751,)))
    x, p = st.grid.axes[0], st.probabilities.reshape(-1)
    exact = np.array([p[x < sads[0]].sum(), p[(x > sads[0]) & (x < sads[1])].sum(), p[x > sads[1]].sum()])
    assert st.info["boundary_mass"] < 1e-12 and np.all(occ.se[:3] < 0.0125)
    assert np.all(np.abs(occ.fractions[:3] - exact) <= 4 * occ.se[:3]), (occ, exact)
    ex = run.exits(net)
    assert min(ex.counts[0, 1], ex.counts[1, 0], ex.counts[1, 2], ex.counts[2, 1]) > 30, ex.counts


@pytest.mark.slow
@pytest.mark.parametrize("gamma", [0.09, 0.15])
def test_network_occupation_matches_the_exact_chain_numba(gamma):
    """The same with the expression loss in the compiled kernel, at two more step sizes."""
    w = rotated_double_well(10, expression=True)
    run, occ, ref = _occupation_vs_exact(w, gamma, n_steps=16_000, n_chains=256, label_every=8, backend="numba", seed=5)
    assert run.info["backend"] == "numba"
    assert occ.se[0] < 0.0125
    assert abs(occ.fractions[0] - ref[0]) <= 4 * occ.se[0], (occ, ref)


def test_labels_do_not_disturb_the_chains():
    """Labels draw no random numbers: the chains are the same for every label interval, and a
    coarser interval sees a subset of the transitions of label_every=1 (never more)."""
    w = rotated_double_well(10)
    kw = dict(step_size=0.08, n_steps=1200, n_chains=32, x0=w.net.attractors[0], seed=2, network=w.net)
    r1 = simulate(w.dyn, label_every=1, **kw)
    r6 = simulate(w.dyn, label_every=6, **kw)
    assert np.array_equal(r1.positions, r6.positions)
    assert r6.exits(w.net).counts.sum() <= r1.exits(w.net).counts.sum()
    assert r1.occupation(w.net).steps == 32 * 1200 and r6.occupation(w.net).steps == 32 * 200
    moved = dataclasses.replace(w.net, saddles=w.net.saddles * 1.01)
    with pytest.raises(fw.InputError, match="differs from the one this run was recorded with"):
        r1.occupation(moved)


# ---- linear SGD in d = 20 ------------------------------------------------------------------------
def test_linear_sgd_stationary_variance_d20():
    """f = ½ Σ A_k z_k², z = Qᵀx, Gaussian noise σ² I: per coordinate Var z_k = γσ²/(A_k(2 - γA_k)),
    from the final positions of independent chains (4 SE), with a one-attractor network's labels
    (every sample in basin 0)."""
    d, g, s2 = 20, 0.1, 0.5
    rng = np.random.default_rng(4)
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    Ak = np.linspace(0.5, 5.0, d)
    M = Q @ np.diag(Ak) @ Q.T
    loss = fw.Loss.from_callable(
        lambda x: 0.5 * np.einsum("...i,ij,...j->...", x, M, x), dim=d, grad=lambda x: x @ M,
        hess=lambda x: np.broadcast_to(M, np.shape(x)[:-1] + (d, d)),
    )  # fmt: skip
    dyn = fw.sgd(loss, fw.GaussianNoise(s2 * np.eye(d)))
    net = TransitionNetwork(
        dynamics=dyn, method="exact", attractors=np.zeros((1, d)), attractor_values=np.zeros(1),
        saddles=np.zeros((0, d)), saddle_values=np.zeros(0), saddle_joins=np.zeros((0, 2), int),
        costs=np.zeros((1, 1)), cost_errors=np.zeros((1, 1)), energies=np.zeros(1), energy_errors=np.zeros(1),
        ground_states=np.array([0]), near_ties=[], tie_tol=1e-9, paths={}, info={},
    )  # fmt: skip
    n = 3000
    run = simulate(dyn, step_size=g, n_steps=300, n_chains=n, x0=np.zeros(d), seed=7, network=net, label_every=50)
    z = run.positions @ Q
    var = z.var(axis=0, ddof=1)
    exact = g * s2 / (Ak * (2 - g * Ak))
    se = exact * np.sqrt(2.0 / (n - 1))
    assert np.all(se < 0.03 * exact)  # a 12 % error in any coordinate is > 4 SE
    assert np.all(np.abs(var - exact) <= 4 * se), np.abs(var - exact) / se
    occ = run.occupation(net)
    assert occ.fractions[0] == 1.0 and occ.steps == n * 6  # labels at steps 50, 100, ..., 300


def test_diffusion_euler_maruyama_covariance_d20():
    """fw.Diffusion dX = -A X dt + √ε σ dW with non-normal A in d = 20, Euler–Maruyama at ε = γ:
    the chain x ← (I - γA) x + γσξ has the stationary covariance S = (I - γA) S (I - γA)ᵀ + γ² σσᵀ
    exactly; Var <u, x> for a few directions u from independent chains' final positions, 4 SE."""
    import scipy.linalg as sla

    d, g = 20, 0.05
    rng = np.random.default_rng(8)
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    T = np.diag(np.linspace(0.5, 3.0, d)) + np.triu(rng.standard_normal((d, d)), 1) * 0.8  # non-normal
    Amat = Q @ T @ Q.T
    sig = np.diag(np.linspace(0.5, 1.5, d)) @ Q.T  # not isotropic, not aligned with A
    dyn = fw.Diffusion(
        lambda x: -x @ Amat.T, cov=sig @ sig.T, dim=d, jacobian=lambda x: -np.broadcast_to(Amat, np.shape(x) + (d,))
    )
    M = np.eye(d) - g * Amat
    S = sla.solve_discrete_lyapunov(M, g * g * sig @ sig.T)
    n = 2000
    run = simulate(dyn, step_size=g, n_steps=300, n_chains=n, x0=np.zeros(d), seed=12)
    assert "Euler–Maruyama" in run.info["model"] and run.info["backend"] == "numpy"
    U = np.vstack([np.eye(d)[:3], rng.standard_normal((3, d))])
    var = np.var(run.positions @ U.T, axis=0, ddof=1)
    exact = np.einsum("ki,ij,kj->k", U, S, U)
    se = exact * np.sqrt(2.0 / (n - 1))
    assert np.all(se < 0.035 * exact)  # a 15 % error in any direction is > 4 SE
    assert np.all(np.abs(var - exact) <= 4 * se), np.abs(var - exact) / se


def test_minibatch_sgd_network_occupation_matches_the_exact_chain():
    """SGD with the real minibatch noise (B = 1, two samples with tilts ±c along z_0) on the rotated
    double well in d = 10: the noise acts along z_0 only, so z_0 is the 1-D SGD chain of the 1-D
    finite sum (atoms ±c), whose exact basin masses come from GTH; occupation within 4 SE."""
    d, A, h, c, g = 10, 0.25, 0.05, 1.4, 0.12
    w = rotated_double_well(d, A=A, h=h)  # the mean loss of the two samples: its network
    Q, lam = w.Q, w.lam

    def sample(u):
        def value(x):
            z = x @ Q
            return A * (z[..., 0] ** 2 - 1) ** 2 + (h + u) * z[..., 0] + 0.5 * (lam * z[..., 1:] ** 2).sum(-1)

        def grad(x):
            z = x @ Q
            g0 = 4 * A * z[..., :1] * (z[..., :1] ** 2 - 1) + h + u
            return np.concatenate([g0, lam * z[..., 1:]], axis=-1) @ Q.T

        return fw.Loss.from_callable(value, dim=d, grad=grad, hvp=lambda x, v: w.dyn.loss.hvp(x, v))

    loss = fw.FiniteSum([sample(c), sample(-c)])
    dyn = fw.sgd(loss, batch_size=1)
    net = dataclasses.replace(w.net, dynamics=dyn)
    run = simulate(
        dyn, step_size=g, n_steps=5000, n_chains=128, x0=net.attractors[1], seed=6, network=net, burn_in=500,
        label_every=4, backend="numpy",
    )  # fmt: skip
    occ = run.occupation(net)
    one = fw.sgd(fw.FiniteSum.from_expr(f"{A}*(x**2 - 1)**2 + ({h} + u)*x", data={"u": [c, -c]}), batch_size=1)
    st = stationary_chain(one, g, fw.Grid([(-3.0, 3.0)], (3001,)))
    x = st.grid.axes[0]
    left = float(st.probabilities.reshape(-1)[x < w.roots[1]].sum())
    assert occ.se[0] < 0.0125
    assert abs(occ.fractions[0] - left) <= 4 * occ.se[0], (occ, left)


# ---- mc_check on a network -----------------------------------------------------------------------
LADDER = [0.08, 0.1, 0.13, 0.17, 0.22]


@pytest.fixture(scope="module")
def network_ladder():
    """mc_check of the d = 10 rotated tilted double well (φ = (z² - 1)²/4 + 0.15 z) over five γ."""
    w = rotated_double_well(10, h=0.15)
    with warnings.catch_warnings():
        warnings.simplefilter("error", fw.FWWarning)
        chk = mc_check(w.net, w.dyn, step_sizes=LADDER, n_steps=20_000, n_chains=128, seed=1, label_every=5)
    return w, chk


@pytest.mark.slow
def test_mc_check_network_consistent(network_ladder):
    w, chk = network_ladder
    assert chk.model == "c + b/γ + aγ"
    assert chk.slope_se < 0.1 * abs(chk.slope_expected)  # a 30 % error in the gap is > 3 se away
    assert chk.consistent is True and abs(chk.z) <= 3, str(chk)
    assert chk.density == {}  # no grid
    assert all(r.info["labels"]["label_every"] == 5 for r in chk.runs)
    assert chk.intercept_kind.startswith("landscape prefactors")


@pytest.mark.slow
def test_mc_check_network_flags_wrong_energies(network_ladder):
    """The same runs against a network whose energy gap is 30 % too small: INCONSISTENT, z < -3."""
    w, chk = network_ladder
    E = w.net.energies.copy()
    E[int(np.argmax(E))] *= 0.7
    wrong = dataclasses.replace(w.net, energies=E)
    with warnings.catch_warnings():
        warnings.simplefilter("error", fw.FWWarning)
        bad = mc_check(wrong, w.dyn, step_sizes=LADDER, n_steps=20_000, n_chains=128, seed=1, label_every=5)
    assert bad.slope == chk.slope and bad.slope_se == chk.slope_se  # same seeds, same runs
    assert bad.consistent is False and bad.z < -3, str(bad)
    assert "INCONSISTENT" in str(bad)


# ---- checkpoints -----------------------------------------------------------------------------------
def test_network_checkpoint_resume_is_identical(tmp_path):
    w = rotated_double_well(10)
    kw = dict(step_size=0.08, n_chains=16, x0=w.net.attractors[0], seed=9, network=w.net, label_every=3)
    ref = simulate(w.dyn, n_steps=900, **kw)
    path = tmp_path / "net.npz"
    simulate(w.dyn, n_steps=301, checkpoint=path, **kw)  # stops between two labels
    res = simulate(w.dyn, n_steps=900, checkpoint=path, **kw)
    assert res.info["resumed_from"] == 301
    assert np.array_equal(res.positions, ref.positions) and np.array_equal(res.counts, ref.counts)
    assert np.array_equal(res.transitions, ref.transitions) and np.array_equal(res.tau_sum, ref.tau_sum)
    other = dataclasses.replace(w.net, attractors=w.net.attractors * 1.001)
    with pytest.raises(fw.InputError, match="different parameters.*labels"):
        simulate(w.dyn, n_steps=900, checkpoint=path, **{**kw, "network": other})


# ---- errors ----------------------------------------------------------------------------------------
def test_network_errors():
    w = rotated_double_well(10)
    w5 = rotated_double_well(5)
    kw = dict(step_size=0.05, n_steps=10, n_chains=4, seed=0)
    with pytest.raises(fw.InputError, match="network is 5-D, the dynamics 10-D"):
        simulate(w.dyn, x0=np.zeros(10), network=w5.net, **kw)
    with pytest.raises(fw.InputError, match="not both"):
        simulate(w.dyn, x0=np.zeros(10), network=w.net, landscape=w.net, **kw)
    with pytest.raises(fw.InputError, match="label_every= is for network runs"):
        simulate(w.dyn, x0=np.zeros(10), label_every=3, **kw)
    with pytest.raises(fw.InputError, match="label_every must be an integer >= 1"):
        simulate(w.dyn, x0=np.zeros(10), network=w.net, label_every=0, **kw)
    with pytest.raises(fw.InputError, match=r"core_radius must be in \(0, 1\)"):
        simulate(w.dyn, x0=np.zeros(10), network=w.net, core_radius=1.5, **kw)
    run = simulate(w.dyn, x0=w.net.attractors[0], network=w.net, label_every=20, progress=False, **kw)
    with pytest.raises(fw.InputError, match="no step was labelled after burn_in=0: labels every 20 steps"):
        run.occupation()
    empty = dataclasses.replace(w.net, attractors=np.zeros((0, 10)))
    with pytest.raises(fw.InputError, match=r"shape \(m, d\) with m >= 1"):
        simulate(w.dyn, x0=np.zeros(10), network=empty, **kw)
    bad_saddles = dataclasses.replace(w.net, saddles=np.zeros((1, 5)))
    with pytest.raises(fw.InputError, match=r"saddles must have shape \(k, 10\)"):
        simulate(w.dyn, x0=np.zeros(10), network=bad_saddles, **kw)
    nan = dataclasses.replace(w.net, attractors=np.full((2, 10), np.nan))
    with pytest.raises(fw.InputError, match="must be finite"):
        simulate(w.dyn, x0=np.zeros(10), network=nan, **kw)
    one = dataclasses.replace(
        w.net, attractors=w.net.attractors[:1], energies=np.zeros(1), costs=np.zeros((1, 1)), saddles=np.zeros((0, 10))
    )
    mk = dict(step_sizes=[0.1, 0.2], n_steps=10, n_chains=4)
    with pytest.raises(fw.InputError, match="at least two attractors, this one has 1"):
        mc_check(one, w.dyn, **mk)
    with pytest.raises(fw.InputError, match="pair must be two different attractor indices"):
        mc_check(w.net, w.dyn, pair=(0, 2), **mk)
    inf = dataclasses.replace(w.net, energies=np.array([0.0, np.inf]))
    with pytest.raises(fw.InputError, match="energies of the pair"):
        mc_check(inf, w.dyn, **mk)
    with pytest.raises(fw.InputError, match="landscape was computed for"):
        mc_check(w.net, w5.dyn, **mk)
