"""Fluctuation paths (shooting + Riccati) against a non-reversible problem with a known answer.

b = -∇U + κ(x) J∇U with a = I, U = (x² - 1)² + y², κ = 1 + x/2, J the rotation by 90°: J∇U ⟂ ∇U, so
V = 2U exactly, the fluctuation path solves ẋ = b + ∇V = ∇U + κJ∇U, Q = ∇²V = 2∇²U, and the
diffusion transport rate c = tr Db + ½ tr(aQ) = ∇κ·J∇U = -y. The reference integrals are computed
here along the exact path (closed-form right-hand side), independently of the solver.
"""

import numpy as np
import pytest
from scipy.integrate import solve_ivp

import fwpotential as fw
from fwpotential.analysis.fluctuation import fluctuation_path
from fwpotential.solvers.jet import third_order

UX, UY, KAPPA = "4*x*(x**2 - 1)", "2*y", "(1 + x/2)"
DYN = fw.Diffusion([f"-({UX}) - {KAPPA}*({UY})", f"-({UY}) + {KAPPA}*({UX})"], cov=np.eye(2))


def _exact_integrals(x_star):
    """∫c dt and ∫uᵀQu dt along the exact path from x* to the saddle (0, 0), integrated backward from s."""

    def rhs(t, z):
        x, y = z[:2]
        ux, uy = 4 * x * (x * x - 1), 2 * y
        k = 1 + 0.5 * x
        u = np.array([ux - k * uy, uy + k * ux])  # ẋ = ∇U + κJ∇U, J(a, b) = (-b, a)
        Q = 2 * np.array([[12 * x * x - 4, 0.0], [0.0, 2.0]])
        return np.concatenate([-u, [-y, u @ Q @ u]])

    D = np.diag([-4.0, 2.0]) + np.array([[0.0, -1.0], [1.0, 0.0]]) @ np.diag([-4.0, 2.0])
    w, vec = np.linalg.eig(D)
    v = np.real(vec[:, np.argmin(w)])
    v = v if v[0] * x_star[0] > 0 else -v
    sol = solve_ivp(rhs, (0, 60), np.concatenate([1e-10 * v, [0, 0]]), method="DOP853", rtol=1e-12, atol=1e-15)
    assert np.allclose(sol.y[:2, -1], x_star, atol=1e-8)
    return sol.y[2, -1], sol.y[3, -1]


@pytest.mark.parametrize("x_star", [(1.0, 0.0), (-1.0, 0.0)])  # a focus and a node
def test_non_reversible_path_q_and_transport_integrals(x_star):
    fp = fluctuation_path(DYN, x_star, (0.0, 0.0))
    int_c, int_uqu = _exact_integrals(np.array(x_star))
    assert abs(fp.action - 2.0) < 1e-6
    assert np.abs(fp.p - 2 * np.stack([4 * fp.x[:, 0] * (fp.x[:, 0] ** 2 - 1), 2 * fp.x[:, 1]], axis=1)).max() < 1e-5
    Q_exact = 2 * np.stack([np.diag([12 * x * x - 4, 2.0]) for x in fp.x[:, 0]])
    assert np.abs(fp.Q - Q_exact).max() < 1e-4  # measured 2.5e-6
    assert abs(fp.int_c["diffusion"] - int_c) < 1e-4, (fp.int_c, int_c)  # measured 1e-6
    assert abs(fp.int_c["chain"] - (int_c - 0.5 * int_uqu)) < 1e-3
    assert fp.info["riccati_mismatch"] < 1e-5
    # the two ends of the path
    assert np.linalg.norm(fp.x[0] - x_star) < 1e-3 and np.linalg.norm(fp.x[-1]) < 1e-6


def test_third_derivative_of_v_at_the_attractor():
    for xs in ((1.0, 0.0), (-1.0, 0.0)):
        x_star = np.array(xs)
        T, g = third_order(DYN, x_star, DYN.potential_hessian(x_star), 1e-4)
        T_exact = np.zeros((2, 2, 2))
        T_exact[0, 0, 0] = 48 * xs[0]  # ∇³(2U) = 2 · 24x
        assert np.abs(T - T_exact).max() < 1e-6
        assert np.allclose(g, [0.0, -1.0], atol=1e-6)  # ∇c = ∇(-y)


def test_three_dimensional_path_reduces_to_the_plane():
    """U₃ = U + z², rotation in (x, y) only: the path stays at z = 0 and c gains tr(∂b_z) + ½Q_zz = 0."""
    dyn3 = fw.Diffusion([f"-({UX}) - {KAPPA}*({UY})", f"-({UY}) + {KAPPA}*({UX})", "-2*z"], cov=np.eye(3))
    for xs in ((1.0, 0.0), (-1.0, 0.0)):
        fp = fluctuation_path(dyn3, (*xs, 0.0), (0.0, 0.0, 0.0))
        int_c, _ = _exact_integrals(np.array(xs))
        assert np.abs(fp.x[:, 2]).max() < 1e-8
        assert abs(fp.action - 2.0) < 1e-6
        assert abs(fp.int_c["diffusion"] - int_c) < 1e-4


def test_landscape_weights_use_the_path_prefactors():
    """W ties by symmetry of U, det ∇²W is equal at both minima: the diffusion weights are ∝ exp(∫c)."""
    land = fw.landscape(DYN, fw.Grid([(-1.8, 1.8), (-1.2, 1.2)], (73, 49)))
    assert list(land.ground_states) == [0, 1] and np.allclose(land.attractors[:, 0], [-1, 1], atol=1e-8)
    assert np.allclose(land.weights("hwang"), [0.5, 0.5])
    i_left, _ = _exact_integrals(np.array([-1.0, 0.0]))
    i_right, _ = _exact_integrals(np.array([1.0, 0.0]))
    w = land.weights("diffusion")
    assert abs(np.log(w[1] / w[0]) - (i_right - i_left)) < 1e-4  # exact: -0.4839
    paths = land.fluctuation_paths
    assert len(paths) == 2 and all(abs(p["action"] - 2.0) < 1e-6 for p in paths.values())
    assert land.weights("chain")[0] > 0.9  # the chain term moves most of the mass left (measured 0.980)


@pytest.mark.parametrize("stiff", [1, 3])  # saddle rates 4 / 2 (strong) and 4 / 6 (weak: forward shooting)
def test_path_matches_the_closed_form_for_loss_dependent_noise(stiff):
    """b = -∇f, a = s(f) I given as a plain diffusion (no loss attached, so the path solver runs) against
    the closed form of the gradient class (K = 1/s(f) and the chain integral along steepest descent)."""
    f = f"((x**2 - 1)**2 + {stiff}*y**2 + x/10)"
    loss = fw.Loss.from_expr(f)
    grid = fw.Grid([(-1.7, 1.7), (-1.0, 1.0)], (69, 41))
    closed = fw.landscape(fw.sgd(loss, noise=fw.IsotropicNoise("0.3 + 2*(f + 0.2)")), grid, method="olim")
    plain = fw.Diffusion([f"-({UX} + 1/10)", f"-{2 * stiff}*y"], cov=f"(0.3 + 2*({f} + 0.2))")
    path = fw.landscape(plain, grid, method="olim")
    tol = {"diffusion": 1e-4, "chain": 1e-3}  # measured 2e-8 / 2.5e-4 (strong), 2.2e-5 / 2.7e-4 (weak)
    for kind in ("diffusion", "chain"):
        a, b = closed.prefactors(kind), path.prefactors(kind)
        assert abs(np.log(a[1] / a[0]) - np.log(b[1] / b[0])) < tol[kind], (kind, a, b)
    assert not closed.fluctuation_paths  # the closed form needs no path
    paths = path.fluctuation_paths
    assert len(paths) == 2
    # this family has V = log(s(f_s)/s(f*)) = ∫ c_diffusion dt
    for (xs, s), p in paths.items():
        exact = np.log(
            float(0.3 + 2 * (loss.value(np.array(s)) + 0.2)) / float(0.3 + 2 * (loss.value(np.array(xs)) + 0.2))
        )
        assert abs(p["action"] - exact) < 1e-5 and abs(p["int_c"]["diffusion"] - exact) < 1e-4


def test_bad_saddles_are_clear_errors():
    with pytest.raises(fw.InputError, match="not an index-1 saddle"):
        fluctuation_path(DYN, (1.0, 0.0), (-1.0, 0.0))
    weak3 = fw.Diffusion(["x - x**3", "-3*y", "-z"], cov=np.eye(3))  # at s = 0: unstable rate 1 < decay rate 3
    with pytest.raises(fw.InputError, match="2-D only"):
        fluctuation_path(weak3, (1.0, 0.0, 0.0), (0.0, 0.0, 0.0))
    with pytest.raises(fw.InputError, match="coincide"):
        fluctuation_path(DYN, (0.0, 0.0), (0.0, 0.0))
