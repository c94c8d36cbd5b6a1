"""Grid geometry and attractor handling (snapping to the equilibrium, recorded in ``snap``)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import fwpotential as fw

MS = ["x - x**3 - 10*x*y**2", "-(1 + x**2)*y"]


def test_grid_geometry():
    g = fw.Grid([(-2.0, 2.0), (0, 1)], (5, 3))
    assert g.dim == 2 and g.size == 15 and g.shape == (5, 3)
    assert g.bounds == ((-2.0, 2.0), (0.0, 1.0))
    np.testing.assert_array_equal(g.lower, [-2.0, 0.0])
    np.testing.assert_array_equal(g.upper, [2.0, 1.0])
    np.testing.assert_allclose(g.spacing, [1.0, 0.5], rtol=1e-15)
    np.testing.assert_array_equal(g.axes[0], [-2, -1, 0, 1, 2])
    np.testing.assert_array_equal(g.axes[1], [0, 0.5, 1])
    P = g.points()
    assert P.shape == (5, 3, 2)
    np.testing.assert_array_equal(P[3, 2], [1.0, 1.0])  # node (i, j) at lo + (i h0, j h1), "ij" indexing
    Hp = g.half_points()
    assert Hp.shape == (9, 5, 2)
    np.testing.assert_allclose(Hp[3, 1], [-0.5, 0.25])  # midpoint of nodes (1, 0) and (2, 1)
    np.testing.assert_allclose(Hp[::2, ::2], P)
    assert "Grid([-2, 2] x [0, 1], shape=(5, 3))" == repr(g)


def test_grid_scalar_shape_and_contains_and_nearest():
    g = fw.Grid([(-1.0, 1.0)], 21)
    assert g.shape == (21,) and g.spacing[0] == pytest.approx(0.1)
    assert g.contains([1.0]) and g.contains(-1.0) and not g.contains(1.05)
    assert g.contains(1.05, tol=1.0) and not g.contains(1.15, tol=1.0)
    assert not g.contains([0.0, 0.0])  # wrong dimension
    assert g.nearest_index(0.26) == (13,) and g.nearest_index(7.0) == (20,) and g.nearest_index(-7.0) == (0,)


@pytest.mark.parametrize(
    "bounds,shape,err,msg",
    [
        ([(1.0, -1.0)], (5,), fw.GridError, r"dimension 0: need finite lo < hi, got \(1\.0, -1\.0\)"),
        ([(0.0, 0.0)], (5,), fw.GridError, r"need finite lo < hi"),
        ([(0.0, np.inf)], (5,), fw.GridError, r"need finite lo < hi"),
        ([(-1, 1), (-1, 1)], (5,), fw.DimensionError, r"grid bounds have 2 dimension\(s\) but shape"),
        ([], (), fw.GridError, r"a grid needs at least one dimension"),
        ([(0, 1, 2)], (5,), fw.GridError, r"bounds must be a sequence of \(lo, hi\) pairs"),
        ([(0, 1)], ("a",), fw.GridError, r"shape must be integers"),
    ],
)
def test_grid_errors(bounds, shape, err, msg):
    with pytest.raises(err, match=msg):
        fw.Grid(bounds, shape)


def test_snap_2d_records_and_warns():
    ms = fw.Diffusion(drift=MS, cov=np.eye(2))
    grid = fw.Grid([(-2.0, 2.0), (-1.0, 1.0)], (81, 41))  # h = 0.05
    with pytest.warns(fw.FWWarning, match=r"attractor \(0\.97, 0\.02\) snapped to the equilibrium \(1, 0\)"):
        att = fw.Attractor.coerce((0.97, 0.02), ms, grid)
    np.testing.assert_allclose(att.point, [1.0, 0.0], atol=1e-14)
    assert att.is_point and att.mask is None
    np.testing.assert_array_equal(att.snap["requested"], [0.97, 0.02])
    assert att.snap["distance"] == pytest.approx(np.hypot(0.03, 0.02), rel=1e-12)
    assert att.snap["cells"] == pytest.approx(np.hypot(0.03, 0.02) / 0.05, rel=1e-12)
    # an already snapped attractor passes through unchanged, without a second warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert fw.Attractor.coerce(att, ms, grid) is att


def test_exact_equilibrium_does_not_warn():
    ms = fw.Diffusion(drift=MS, cov=np.eye(2))
    grid = fw.Grid([(-2.0, 2.0), (-1.0, 1.0)], (81, 41))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        att = fw.Attractor.coerce((-1.0, 0.0), ms, grid)
    np.testing.assert_array_equal(att.point, [-1.0, 0.0])
    assert att.snap["distance"] == 0.0


def test_snap_tolerance_is_a_few_cells():
    """Tolerance max(5 cells, 1% of the box): 0.914297 is 5.7 cells from 0.92 on h = 0.001 (snapped)
    but 0.086 away from 1.0, beyond 0.04 (error naming the equilibria)."""
    lang = fw.langevin("(x**2 - 1)**2 / 4 + 0.15*x")
    grid = fw.Grid([(-2.0, 2.0)], (4001,))
    with pytest.warns(fw.FWWarning):
        att = fw.Attractor.coerce(0.92, lang, grid)
    assert att.point[0] == pytest.approx(0.9142973158662134, abs=1e-14)
    with pytest.raises(fw.AttractorError, match=r"no stable equilibrium within 0\.04 .*stable at \(0\.914297\)"):
        fw.Attractor.coerce(1.0, lang, grid)
    # on a coarser grid 5 cells are larger: 1.0 is now within tolerance
    coarse = fw.Grid([(-2.0, 2.0)], (101,))  # h = 0.04, tol = 0.2
    with pytest.warns(fw.FWWarning):
        assert fw.Attractor.coerce(1.0, lang, coarse).point[0] == pytest.approx(0.9142973158662134, abs=1e-14)


def test_from_point_is_not_snapped():
    att = fw.Attractor.from_point([0.5])
    assert att.snap == {} and att.point.shape == (1,)
    with pytest.raises(fw.AttractorError, match=r"attractor point must be finite"):
        fw.Attractor.from_point([np.nan])


def test_attractor_coordinate_count():
    ms = fw.Diffusion(drift=MS, cov=np.eye(2))
    grid = fw.Grid([(-2.0, 2.0), (-1.0, 1.0)], (41, 21))
    with pytest.raises(
        fw.DimensionError, match=r"attractor \[1\.\] has 1 coordinate\(s\); grid is 2-D and dynamics 2-D"
    ):
        fw.Attractor.coerce(1.0, ms, grid)


def test_grid_too_large_for_memory_is_refused_up_front():
    """100000² nodes: the solve would need terabytes; the error says how much before allocating."""
    grid = fw.Grid([(-2, 2), (-2, 2)], (100_000, 100_000))
    assert grid.solve_bytes() > 1e12
    dyn = fw.langevin("x**2 + y**2")
    for call in (
        lambda: fw.quasipotential(dyn, grid, [0.0, 0.0], method="olim"),
        lambda: fw.landscape(dyn, grid),
    ):
        with pytest.raises(fw.GridError, match=r"grid \(100000, 100000\) \(1e\+10 nodes\) needs about [0-9.e+]+ GiB"):
            call()
    fw.Grid([(-2, 2), (-2, 2)], (65, 65)).check_memory()  # small grids pass


def test_degenerate_but_stable_minimum_is_an_attractor():
    """x**4: Db = 0 at the minimum, attracting through the cubic term; the solvers that start from a
    ball around it solve it, and the landscape finds it."""
    g1 = fw.Grid([(-1, 1)], (101,))
    q = fw.quasipotential(fw.langevin("x**4"), g1, 0.0, method="exact")
    np.testing.assert_allclose(q.values, g1.axes[0] ** 4, atol=1e-12)
    assert q.attractor.snap["degenerate"]
    dyn = fw.langevin("x**4 + y**2")
    g2 = fw.Grid([(-1, 1), (-1, 1)], (33, 33))
    exact = dyn.loss.value(g2.points())
    for method in ("olim", "sweep", "fmm"):
        err = np.max(np.abs(fw.quasipotential(dyn, g2, [0.0, 0.0], method=method).values - exact))
        assert err < 0.1, (method, err)
    assert len(fw.landscape(dyn, g2, estimate_error=False).attractors) == 1


def test_degenerate_equilibrium_that_does_not_attract_is_named():
    with pytest.raises(
        fw.AttractorError, match=r"degenerate equilibrium \(0\) \(a zero eigenvalue of Db: .*higher-order terms decide"
    ):
        fw.quasipotential(fw.langevin("x**3 + x**4"), fw.Grid([(-1, 1)], (101,)), 0.0, method="exact")


def test_degenerate_minimum_with_anisotropic_noise_says_to_use_a_set():
    dyn = fw.sgd("x**4 + y**2", noise=fw.GaussianNoise([[1.0, 0.3], [0.3, 1.0]]))
    grid = fw.Grid([(-1, 1), (-1, 1)], (33, 33))
    with pytest.raises(fw.InputError, match=r"x\* is degenerate .* give the attractor as a small set"):
        fw.quasipotential(dyn, grid, [0.0, 0.0], method="olim")
    mask = np.linalg.norm(grid.points(), axis=-1) <= 2.5 * grid.spacing[0]
    qp = fw.quasipotential(dyn, grid, fw.Attractor.from_mask(mask), method="olim")
    assert np.all(np.isfinite(qp.values)) and qp.values.max() > 1.0


def test_nearest_indices_and_flat_index():
    g = fw.Grid([(0.0, 1.0), (0.0, 2.0)], (11, 21))  # spacing 0.1 on both axes
    x = np.array([[0.26, 0.04], [0.5, 1.96], [1.04, 2.04], [-0.06, 0.5], [0.3, 2.2]])
    np.testing.assert_array_equal(g.nearest_indices(x), [[3, 0], [5, 20], [10, 20], [0, 5], [3, 20]])
    # strict: a point more than half a cell outside has no node (-1)
    np.testing.assert_array_equal(g.flat_index(x), [3 * 21 + 0, 5 * 21 + 20, 10 * 21 + 20, -1, -1])
    assert g.nearest_index([0.26, 0.04]) == (3, 0)
    assert g.flat_index(np.zeros((0, 2))).shape == (0,)
