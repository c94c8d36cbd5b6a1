"""Figures of transition networks: the disconnectivity tree's merge levels, the action profile's data and
the principal plane of paths, on hand-made networks with known answers (Agg backend)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from matplotlib.figure import Figure

import fwpotential as fw
from fwpotential import plot
from fwpotential.analysis.comparison import Comparison
from fwpotential.analysis.network import TransitionNetwork
from fwpotential.paths.mam import ActionPath, min_action_path
from fwpotential.plot.network import disconnectivity_levels

D = 20
RNG = np.random.default_rng(17)
Q, _ = np.linalg.qr(RNG.standard_normal((D, D)))  # a random rotation of R^20: the paths' plane is Q[:, :2]

# Three minima and three saddles. f: minima (0, -0.1, 0.2), saddles s0 (0-1) at 0.5, s1 (1-2) at 0.3,
# s2 (0-2) at 0.8 (never merges). SGD costs V_ij through the saddles (by hand):
#   c01 = 1.0, c10 = 0.4, c12 = 0.5, c21 = 0.9, c02 = 1.5, c20 = 1.4.
# W-graph energies (all spanning arborescences of 3 nodes, by hand): W_0 = min(0.4+1.4, 0.4+0.9, 0.5+1.4) = 1.3,
# W_1 = min(1.0+0.9, 1.0+1.4, 1.5+0.9) = 1.9, W_2 = min(1.5+0.5, 1.0+0.5, 1.5+0.4) = 1.5 -> W = (0, 0.6, 0.2).
# W levels of the saddles: s0 min(0 + 1.0, 0.6 + 0.4) = 1.0, s1 min(0.6 + 0.5, 0.2 + 0.9) = 1.1,
# s2 min(0 + 1.5, 0.2 + 1.4) = 1.5. SGD's ground state is 0, Langevin's (lowest f) is 1.
F_MIN = np.array([0.0, -0.1, 0.2])
F_SAD = np.array([0.5, 0.3, 0.8])
JOINS = np.array([[0, 1], [1, 2], [0, 2]])
COSTS = np.array([[0.0, 1.0, 1.5], [0.4, 0.0, 0.5], [1.4, 0.9, 0.0]])
W_SGD = np.array([0.0, 0.6, 0.2])


def _embed(z):
    """Points (n, 2) of the plane to R^20: x = Q[:, :2] z + 0.3."""
    return np.asarray(z, float) @ Q[:, :2].T + 0.3


ATT_Z = np.array([[-1.0, 0.0], [1.0, 0.0], [0.0, 1.5]])
SAD_Z = np.array([[0.0, 0.2], [0.6, 0.8], [-0.5, 0.8]])


def _path(z0, z1, n=41, bow=0.25):
    """A planar arc from z0 to z1 (bowed sideways), embedded in R^20, with a made-up action profile."""
    t = np.linspace(0.0, 1.0, n)[:, None]
    e = np.asarray(z1, float) - z0
    z = z0 + t * e + bow * np.sin(np.pi * t) * np.array([-e[1], e[0]])
    pts = _embed(z)
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])
    prof = s**2
    return ActionPath(
        points=pts, action=float(prof[-1]), converged=True, method="gmam", arclength=s, action_profile=prof, info={}
    )


def _network(dyn, energies, costs, ground, *, saddles=True):
    k = 3 if saddles else 0
    paths = {(int(i), s): _path(ATT_Z[i], SAD_Z[s]) for s in range(k) for i in JOINS[s]}
    return TransitionNetwork(
        dynamics=dyn,
        method="gmam",
        attractors=_embed(ATT_Z),
        attractor_values=F_MIN,
        saddles=_embed(SAD_Z[:k]).reshape(k, D),
        saddle_values=F_SAD[:k],
        saddle_joins=JOINS[:k].reshape(k, 2),
        costs=costs,
        cost_errors=np.zeros((3, 3)),
        energies=energies,
        energy_errors=np.zeros(3),
        ground_states=np.array(ground),
        near_ties=[],
        tie_tol=1e-9,
        paths=paths,
        info={},
    )


@pytest.fixture(scope="module")
def loss():
    return fw.Loss.from_expr(" + ".join(f"x{i}**2/2" for i in range(D)), variables=[f"x{i}" for i in range(D)])


@pytest.fixture(scope="module")
def nets(loss):
    lang = _network(fw.langevin(loss), F_MIN - F_MIN.min(), np.where(COSTS > 0, 1.0, 0.0), [1])
    sgd = _network(fw.sgd(loss, noise=fw.IsotropicNoise("0.5")), W_SGD, COSTS, [0])
    return lang, sgd


def _horizontal_levels(ax):
    """y of the horizontal tree segments drawn on ax (the merge levels), sorted."""
    out = []
    for ln in ax.get_lines():
        (x0, x1), (y0, y1) = ln.get_xdata(), ln.get_ydata()
        if y0 == y1 and x0 != x1:
            out.append(float(y0))
    return sorted(out)


# ---- the tree --------------------------------------------------------------------------------------
def test_tree_merges_in_level_order():
    tree = plot.disconnectivity_tree(F_MIN, F_SAD, JOINS)
    assert [m.saddle for m in tree.merges] == [1, 0]  # s1 (0.3) first, then s0 (0.5); s2 joins nothing new
    assert [m.level for m in tree.merges] == [0.3, 0.5]
    assert tree.merges[0].left == (1,) and tree.merges[0].right == (2,)  # left: the lower minimum
    assert tree.merges[1].left == (1, 2) and tree.merges[1].right == (0,)
    assert tree.components == ((0, 1, 2),)
    assert tree.order.tolist() == [1, 2, 0]


def test_tree_keeps_unreachable_components_apart():
    # 5 minima: 0-1 at 2.0, 1-2 at 1.0, 3-4 at 0.5; a saddle of +inf level (2-3) and one with a lost branch (-1)
    lv = np.array([0.0, 0.2, 0.1, np.inf, 0.4])
    sv = np.array([2.0, 1.0, 0.5, np.inf, 0.7])
    joins = np.array([[0, 1], [1, 2], [3, 4], [2, 3], [4, -1]])
    tree = plot.disconnectivity_tree(lv, sv, joins)
    assert [(m.level, m.saddle) for m in tree.merges] == [(0.5, 2), (1.0, 1), (2.0, 0)]
    assert tree.merges[0].left == (4,) and tree.merges[0].right == (3,)
    assert tree.components == ((0, 1, 2), (3, 4))
    assert sorted(tree.order.tolist()) == [0, 1, 2, 3, 4] and tree.order.tolist()[:3] == [0, 2, 1]


def test_tree_without_saddles_is_all_leaves():
    tree = plot.disconnectivity_tree([0.3, 0.1], [], np.zeros((0, 2), int))
    assert tree.merges == () and tree.components == ((1,), (0,))


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (([], [], np.zeros((0, 2), int)), "at least one minimum"),
        (([0.0, 1.0], [0.5], [[0, 1, 1]]), r"shape \(k, 2\)"),
        (([0.0, 1.0], [0.5, 0.6], [[0, 1]]), r"shape \(k, 2\)"),
        (([0.0, np.nan], [0.5], [[0, 1]]), "NaN"),
        (([0.0, 1.0], [0.5], [[0, 2]]), r"-1 … 1"),
        (([0.0, 1.0], [0.5], [[0.0, 1.0]]), "integers"),
    ],
)
def test_tree_bad_input(args, match):
    with pytest.raises(fw.InputError, match=match):
        plot.disconnectivity_tree(*args)


# ---- the figures of the tree -------------------------------------------------------------------------
def test_disconnectivity_levels_from_the_network_fields(nets):
    _, sgd = nets
    lv, sv = disconnectivity_levels(sgd, "W")
    np.testing.assert_allclose(lv, W_SGD)
    np.testing.assert_allclose(sv, [1.0, 1.1, 1.5], rtol=0, atol=1e-15)
    lv, sv = disconnectivity_levels(sgd, "f")
    np.testing.assert_array_equal(sv, F_SAD)


@pytest.mark.parametrize(("level", "merges"), [("f", [(1, 0.3), (0, 0.5)]), ("W", [(0, 1.0), (1, 1.1)])])
def test_disconnectivity_draws_the_merge_levels(nets, level, merges):
    _, sgd = nets
    fig = plot.disconnectivity(sgd, level=level)
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    tree = ax.fwpotential_tree
    assert [m.saddle for m in tree.merges] == [k for k, _ in merges]
    assert [m.level for m in tree.merges] == pytest.approx([lv for _, lv in merges], abs=1e-14)
    assert _horizontal_levels(ax) == pytest.approx([lv for _, lv in merges], abs=1e-14)
    assert [t.get_text() for t in ax.get_xticklabels()] == [str(i) for i in tree.order]
    stars = [c for c in ax.collections if c.get_offsets().shape[0] == 1 and tuple(c.get_sizes()) == (90.0,)]
    assert len(stars) == 1  # one ground state
    x, y = stars[0].get_offsets()[0]
    assert tree.order[int(round(x))] == 0 and y == pytest.approx(0.0 if level == "W" else F_MIN[0])


def test_disconnectivity_on_given_axes_and_without_saddles(nets, loss):
    fig = Figure()
    ax = fig.add_subplot()
    assert plot.disconnectivity(nets[0], level="f", ax=ax) is fig
    bare = _network(fw.langevin(loss), F_MIN - F_MIN.min(), np.where(np.eye(3) > 0, 0.0, np.inf), [1], saddles=False)
    fig = plot.disconnectivity(bare, level="f")
    tree = fig.axes[0].fwpotential_tree
    assert tree.merges == () and len(tree.components) == 3
    assert len(fig.axes[0].get_xticklabels()) == 3  # the leaves are still drawn
    # over W no W-graph is finite: every leaf is +inf, drawn at the top and marked, none merges
    unreachable = TransitionNetwork(
        **{**bare.__dict__, "energies": np.full(3, np.inf), "ground_states": np.array([], int)}
    )
    ax = plot.disconnectivity(unreachable, level="W").axes[0]
    assert ax.fwpotential_tree.merges == () and len(ax.fwpotential_tree.components) == 3
    assert [t.get_text() for t in ax.texts] == ["+∞"] * 3


def test_disconnectivity_errors(nets):
    _, sgd = nets
    with pytest.raises(fw.InputError, match="unknown level 'V'"):
        plot.disconnectivity(sgd, level="V")
    with pytest.raises(fw.InputError, match="3 attractors but 2 labels"):
        plot.disconnectivity(sgd, labels=["a", "b"])
    no_f = TransitionNetwork(**{**sgd.__dict__, "attractor_values": np.full(3, np.nan)})
    with pytest.raises(fw.InputError, match="no loss: use level='W'"):
        plot.disconnectivity(no_f, level="f")


def test_disconnectivity_pair_shows_different_ground_states(nets):
    lang, sgd = nets
    cmp = Comparison(langevin=lang, sgd=sgd, matched=np.arange(3))
    fig = plot.disconnectivity_pair(cmp)
    a, b = fig.axes[:2]
    # Langevin over f - f*: the f tree shifted by min f = -0.1
    assert [m.level for m in a.fwpotential_tree.merges] == pytest.approx([0.4, 0.6])
    assert [m.level for m in b.fwpotential_tree.merges] == pytest.approx([1.0, 1.1])
    assert a.get_title() == "Langevin: ground state 1" and b.get_title() == "SGD: ground state 0"
    assert "DIFFERENT" in fig.get_suptitle()
    with pytest.raises(fw.InputError, match="pair of Axes"):
        plot.disconnectivity_pair(cmp, ax=[a])


@pytest.fixture(scope="module")
def grid_comparison():
    loss = fw.Loss.from_expr("(x**2 - 1)**2/4 + x/10 + y**2/2")
    grid = fw.Grid([(-2.0, 2.0), (-1.0, 1.0)], (81, 41))
    return fw.compare(loss, noise=fw.IsotropicNoise("0.5 + f"), grid=grid, method="fmm")


def test_disconnectivity_of_grid_landscapes(grid_comparison):
    """Landscapes have the same fields. Langevin: the W tree is the f tree shifted by f*. SGD: the W
    level of the merging saddle (from energies and costs) is the global W(x) the grid holds there."""
    L, S = grid_comparison.langevin, grid_comparison.sgd
    h = float(np.max(L.grid.spacing))
    lv, sv = disconnectivity_levels(L, "f")
    tw = plot.disconnectivity(L, level="W").axes[0].fwpotential_tree
    tf = plot.disconnectivity_tree(lv - lv.min(), sv - lv.min(), L.saddle_joins)
    assert len(tw.merges) == len(tf.merges) == 1
    assert tw.merges[0].level == pytest.approx(tf.merges[0].level, abs=0.1 * h)
    (mg,) = plot.disconnectivity(S, level="W").axes[0].fwpotential_tree.merges
    assert mg.level == pytest.approx(S.saddle_levels()[mg.saddle]["W"], abs=0.1 * h)
    fig = plot.disconnectivity_pair(grid_comparison)
    assert [m.level for m in fig.axes[1].fwpotential_tree.merges] == [mg.level]


# ---- paths ------------------------------------------------------------------------------------------
def test_principal_plane_recovers_the_plane_of_a_path_in_d20():
    p = _path(ATT_Z[0], SAD_Z[1], n=101, bow=0.4)
    plane = plot.principal_plane(p.points)
    assert plane.explained.sum() == pytest.approx(1.0, abs=1e-12)
    assert plane.explained[1] > 0.01  # the bow makes the second direction real
    # the components span Q[:, :2]: projecting the true basis onto them loses nothing
    B = Q[:, :2]
    np.testing.assert_allclose(np.linalg.norm(plane.components @ B, axis=0), 1.0, atol=1e-12)
    # and the projection is an isometry of the plane: distances between points are kept
    z = plane.project(p.points)
    np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=1e-12)  # coordinates about the cloud's mean
    np.testing.assert_allclose(np.linalg.norm(z[1:] - z[0], axis=1), np.linalg.norm(p.points[1:] - p.points[0], axis=1))


def test_principal_plane_of_a_noisy_plane_reports_the_small_third_direction():
    t = np.linspace(-1, 1, 200)
    pts = _embed(np.stack([t, t**2], axis=1)) + 1e-3 * np.outer(np.sin(40 * t), Q[:, 5])
    plane = plot.principal_plane(pts)
    var = np.var(pts - pts.mean(0), axis=0).sum()
    third = np.var(1e-3 * np.sin(40 * t))
    assert 1.0 - plane.explained.sum() == pytest.approx(third / var, rel=0.05)


def test_path_projection_draws_the_projected_points(nets):
    _, sgd = nets
    fig = plot.path_projection(sgd)
    ax = fig.axes[0]
    plane = ax.fwpotential_plane
    lines = ax.get_lines()
    assert len(lines) == len(sgd.paths) == 6
    first = next(iter(sgd.paths.values()))
    np.testing.assert_allclose(np.c_[lines[0].get_xdata(), lines[0].get_ydata()], plane.project(first.points))
    # every path lies in the plane, so the attractors drawn are at their planar coordinates up to a rigid motion
    za = plane.project(sgd.attractors)
    np.testing.assert_allclose(
        np.linalg.norm(za[1:] - za[0], axis=1), np.linalg.norm(ATT_Z[1:] - ATT_Z[0], axis=1), atol=1e-12
    )
    assert "PC1" in ax.get_xlabel() and "% of variance" in ax.get_ylabel()


def test_path_projection_errors(nets, loss):
    bare = _network(fw.langevin(loss), np.zeros(3), np.zeros((3, 3)), [0], saddles=False)
    with pytest.raises(fw.InputError, match="no paths to draw"):
        plot.path_projection(bare)
    p = _path(ATT_Z[0], SAD_Z[0])
    q = ActionPath(points=p.points[:, :5], action=1.0, converged=True, method="gmam",
                   arclength=p.arclength, action_profile=p.action_profile)  # fmt: skip
    with pytest.raises(fw.InputError, match="one dimension d"):
        plot.path_projection([p, q])
    with pytest.raises(fw.InputError, match="expected ActionPaths"):
        plot.path_projection([p, p.points])
    with pytest.raises(fw.InputError, match="all points coincide"):
        plot.principal_plane(np.ones((4, 3)))


def test_path_profile_data(loss):
    # f = |x|²/2, a straight path x = s u from 0 (|u| = 1): f - f(start) = s²/2 exactly
    u = Q[:, 3]
    s = np.linspace(0.0, 2.0, 31)
    prof = s**2 / 2
    p = ActionPath(points=np.outer(s, u), action=2.0, converged=True, method="gmam", arclength=s, action_profile=prof)
    fig = plot.path_profile(p, dynamics=fw.langevin(loss))
    ax, ax2 = fig.axes
    (act,) = ax.get_lines()
    (f,) = ax2.get_lines()
    np.testing.assert_array_equal(act.get_ydata(), prof)
    np.testing.assert_allclose(f.get_ydata(), s**2 / 2, atol=1e-14)
    assert len(plot.path_profile(p).axes) == 1  # no loss: the action only
    inf = ActionPath(points=p.points, action=np.inf, converged=True, method="gmam", arclength=s,
                     action_profile=np.where(s > 1.0, np.inf, prof))  # fmt: skip
    y = plot.path_profile(inf).axes[0].get_lines()[0].get_ydata()
    assert np.isnan(y[s > 1.0]).all() and np.array_equal(y[s <= 1.0], prof[s <= 1.0])  # +inf left blank


def test_path_profile_of_a_langevin_path_follows_f():
    """A real gMAM path of a Langevin double well in d = 10: the action along it is f - f(start)."""
    d = 10
    expr = "(x0**2 - 1)**2/4 + x0/10 + " + " + ".join(f"{k}*x{k}**2/2" for k in range(1, d))
    dyn = fw.langevin(fw.Loss.from_expr(expr, variables=[f"x{k}" for k in range(d)]))
    xm, xs, _ = np.sort(np.roots([1.0, 0.0, -1.0, 0.1]).real)  # f'(x0) = x0³ - x0 + 0.1
    start, saddle = np.zeros(d), np.zeros(d)
    start[0], saddle[0] = xm, xs
    t = np.linspace(0.0, 1.0, 30)[:, None]
    bent = start + t * (saddle - start) + 0.3 * np.sin(np.pi * t) * np.eye(d)[1]  # off the minimum energy path
    path = min_action_path(dyn, start, saddle, n_points=60, init=bent)
    fig = plot.path_profile(path, dynamics=dyn)
    act, f = fig.axes[0].get_lines()[0].get_ydata(), fig.axes[1].get_lines()[0].get_ydata()
    barrier = ((xs**2 - 1) ** 2 - (xm**2 - 1) ** 2) / 4 + (xs - xm) / 10
    assert f[-1] == pytest.approx(barrier, rel=1e-10)
    assert np.max(np.abs(act - f)) <= 2e-4 * barrier, np.max(np.abs(act - f))  # quadrature error O(n_points⁻²)
    assert np.max(np.abs(path.points[:, 1:])) <= 0.01  # the bend (0.3) is gone: the path runs along x0
