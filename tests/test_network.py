"""Transition networks without a grid: exact energies and costs, agreement with the grid landscapes of
the gallery, SGD against Langevin by paths, weights, and the documented errors."""

import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy.integrate import quad

import fwpotential as fw
from fwpotential.app import config, problem
from fwpotential.errors import InputError

LANGEVIN_2D = {
    "himmelblau": ("(x**2 + y - 11)**2 + (x + y**2 - 7)**2", [(-5, 5), (-5, 5)]),
    "muller_brown": (
        "-200*exp(-(x-1)**2 - 10*y**2) - 100*exp(-x**2 - 10*(y-0.5)**2)"
        " - 170*exp(-6.5*(x+0.5)**2 + 11*(x+0.5)*(y-1.5) - 6.5*(y-1.5)**2)"
        " + 15*exp(0.7*(x+1)**2 + 0.6*(x+1)*(y-1) + 0.7*(y-1)**2)",
        [(-1.5, 1.2), (-0.5, 2.0)],
    ),
    "three_hump_camel": ("2*x**2 - 1.05*x**4 + x**6/6 + x*y + y**2", [(-2.5, 2.5), (-2.0, 2.0)]),
}


@pytest.mark.parametrize("name", sorted(LANGEVIN_2D))
def test_langevin_network_is_f_minus_fstar(name):
    """Langevin: W_i = f_i - f*, and the cost of every joined pair is f(saddle) - f(minimum), with the
    minima and saddles those of the package's 2-D critical-point search."""
    expr, box = LANGEVIN_2D[name]
    f = fw.Loss.from_expr(expr)
    lo, hi = np.array(box, float).T
    starts = lo + (hi - lo) * np.random.default_rng(0).random((30, 2))
    net = fw.transition_network(fw.langevin(f), starts=starts)
    cps = fw.critical_points(fw.langevin(f), box)
    stable = cps.points[np.array(cps.kinds) == "stable"]
    saddles = cps.points[np.array(cps.index) == 1]
    assert len(net.attractors) == len(stable) and len(net.saddles) >= len(stable) - 1
    for x in net.attractors:
        assert np.min(np.linalg.norm(stable - x, axis=1)) < 1e-6
    for s in net.saddles:
        assert np.min(np.linalg.norm(saddles - s, axis=1)) < 1e-6
    fa = net.attractor_values
    np.testing.assert_allclose(net.energies, fa - fa.min(), atol=1e-9 * (1 + np.abs(fa).max()))
    for s_val, (i, j) in zip(net.saddle_values, net.saddle_joins):
        assert net.costs[i, j] <= s_val - fa[i] + 1e-9 * (1 + abs(s_val))
    for (i, k), p in net.paths.items():  # the paths' own actions agree with the closed form
        assert abs(p.action - (net.saddle_values[k] - fa[i])) <= 1e-4 * max(1.0, net.saddle_values[k] - fa[i])
    assert net.info["closed_form_check"] < 1e-4


def _gallery(names):
    base = Path(fw.__file__).parent / "examples"
    return [(n, config.load(base / f"{n}.toml")) for n in names]


#: 2-D and 3-D gallery problems with point attractors (curve_of_minima and limit_cycle have set
#: attractors, which a network of points does not represent).
GALLERY = ["himmelblau", "three_hump_camel", "sgd_vs_langevin", "sharp_vs_flat", "maier_stein", "linear_3d"]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "spec"), _gallery(GALLERY), ids=GALLERY)
def test_network_agrees_with_the_grid_landscape(name, spec):
    """On the gallery's grid problems the network's energies agree with the grid landscape's within
    the two error estimates (3 × grid estimate + 3 × path estimate + 1e-3 of the largest energy)."""
    grid = problem.build_grid(spec)
    for label, dyn in problem.build_dynamics(spec).items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            land = fw.landscape(dyn, grid)
            net = fw.transition_network(dyn, minima=land.attractors)
        order = [int(np.argmin(np.linalg.norm(net.attractors - x, axis=1))) for x in land.attractors]
        E_net = net.energies[order]
        tol = 3 * land.energy_errors + 3 * net.energy_errors[order] + 1e-3 * (1 + np.nanmax(np.abs(land.energies)))
        finite = np.isfinite(land.energies)
        assert np.all(np.isfinite(E_net) == finite), (name, label)
        assert np.all(np.abs(E_net[finite] - land.energies[finite]) <= tol[finite]), (
            name,
            label,
            E_net,
            land.energies,
            tol,
        )


def _double_well(d, noise_expr):
    names = [f"w{i}" for i in range(d)]
    k = np.linspace(1.0, 3.0, d - 1)
    expr = "(w0**2 - 1)**2/4 + w0/10 + " + " + ".join(f"{k[i - 1]:.6f}*w{i}**2/2" for i in range(1, d))
    f = fw.Loss.from_expr(expr, variables=names)
    noise = fw.IsotropicNoise(noise_expr, variables=names)
    return f, noise


def test_compare_by_paths_in_ten_dimensions():
    """d = 10, a = s(w0) I with s = 0.3 exp(-w0): SGD's cost from a minimum m to the saddle s along the
    w0 axis is 2 ∫ f'(w0)/s(w0) dw0 (the other directions stay at 0); Langevin's is f(s) - f(m)."""
    d = 10
    f, noise = _double_well(d, "0.3*exp(-w0)")
    starts = np.zeros((2, d))
    starts[:, 0] = [-1.2, 1.1]
    cmp = fw.compare(f, noise=noise, method="paths", starts=starts, n_points=100)
    L, S = cmp.langevin, cmp.sgd
    assert len(L.attractors) == 2 and len(L.saddles) == 1

    def fp(z):
        return z**3 - z + 0.1

    zs = float(L.saddles[0][0])
    for i, x in enumerate(S.attractors):
        exact = abs(quad(lambda z: 2 * fp(z) / (0.3 * np.exp(-z)), float(x[0]), zs, epsabs=1e-13)[0])
        j = 1 - i
        assert abs(S.costs[i, j] - exact) <= 1e-4 * exact, (i, S.costs[i, j], exact)
        assert abs(L.costs[i, j] - (L.saddle_values[0] - L.attractor_values[i])) <= 1e-12
    assert S.energy_errors.max() < 1e-3
    left = int(np.argmin(S.attractors[:, 0]))
    # Langevin prefers the deeper left well (f has +w0/10); the noise is larger on the left, so SGD
    # leaves it more easily and its ground state is the right well
    assert list(L.ground_states) == [left] and list(S.ground_states) == [1 - left]
    assert not cmp.same_ground_states


def test_hwang_weights_of_tied_minima():
    """Two minima at the same depth with different curvature: the weights are det(∇²f)^(-1/2), normalised."""
    d = 5
    names = [f"w{i}" for i in range(d)]
    expr = "(w0**2 - 1)**2/4 + " + " + ".join(f"(1 + 0.5*w0)**2*w{i}**2/2" for i in range(1, d))
    f = fw.Loss.from_expr(expr, variables=names)
    starts = np.zeros((2, d))
    starts[:, 0] = [-1.1, 1.1]
    net = fw.transition_network(fw.langevin(f), starts=starts)
    assert len(net.ground_states) == 2
    H = np.stack([f.hess(x) for x in net.attractors[net.ground_states]])
    np.testing.assert_allclose(net.hwang_weights(), fw.hwang_weights(H), rtol=1e-6)
    det = np.array([np.linalg.det(h) for h in H])
    w = det**-0.5 / np.sum(det**-0.5)
    np.testing.assert_allclose(net.weights("hwang"), w, rtol=1e-6)
    np.testing.assert_allclose(net.weights("diffusion"), w, rtol=1e-6)  # a = 2 I: K ≡ 1


def test_single_minimum_network():
    f = fw.Loss.from_expr("x**2 + y**2/2")
    net = fw.transition_network(fw.langevin(f), minima=[[0.1, -0.1]])
    assert net.attractors.shape == (1, 2) and np.allclose(net.attractors, 0, atol=1e-8)
    assert net.costs.tolist() == [[0.0]] and list(net.ground_states) == [0]
    assert net.hwang_weights().tolist() == [1.0]
    assert "1 attractors" in repr(net) and net.to_dict()["ground_states"] == [0]


def test_network_errors():
    dyn = fw.langevin(fw.Loss.from_expr("(x**2 - 1)**2 + y**2"))
    with pytest.raises(InputError, match="exactly one of starts"):
        fw.transition_network(dyn)
    with pytest.raises(InputError, match="exactly one of starts"):
        fw.transition_network(dyn, starts=[[1, 0]], minima=[[1, 0]])
    with pytest.raises(InputError, match=r"shape \(k, 2\)"):
        fw.transition_network(dyn, starts=[[1, 0, 0]])
    with pytest.raises(InputError, match="unknown method"):
        fw.transition_network(dyn, starts=[[1, 0], [-1, 0]], method="nope")
    with pytest.raises(InputError, match="drop grid="):
        fw.compare(
            "(x**2 - 1)**2 + y**2", noise=fw.IsotropicNoise(1.0), method="paths", grid=fw.Grid([(-2, 2)] * 2, (9, 9))
        )
    with pytest.raises(InputError, match="compare needs grid="):
        fw.compare("(x**2 - 1)**2 + y**2", noise=fw.IsotropicNoise(1.0))
