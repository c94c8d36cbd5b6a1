"""Start region of the grid solvers (fwpotential.solvers.start): sized from the attractor, not the box.

The problem: b = -(I + κJ)∇U with a = I, J the rotation by 90° and the shallow double well
U = s((x² - 1)²/4 + y²/2); J∇U ⟂ ∇U, so V = 2(U - U(x*)) exactly in the right well below the
saddle level (a forward-invariant set). Attractor x* = (1, 0), saddle (0, 0), barrier V = s/2.
"""

import numpy as np
import pytest

import fwpotential as fw
from fwpotential import problems
from fwpotential.geometry.attractor import Attractor
from fwpotential.geometry.grid import Grid
from fwpotential.solvers.olim import driver as olim
from fwpotential.solvers.start import START_CELLS, default_radius, quadratic_scale
from fwpotential.solvers.sweep import driver as sweep

S, KAPPA = 0.01, 1.0
SOLVERS = {"olim": olim, "sweep": sweep}


def _U(x):
    return S * ((x[..., 0] ** 2 - 1) ** 2 / 4 + x[..., 1] ** 2 / 2)


def _drift(x):
    gx, gy = S * (x[..., 0] ** 3 - x[..., 0]), S * x[..., 1]
    return np.stack([-gx + KAPPA * gy, -gy - KAPPA * gx], axis=-1)


DYN = fw.Diffusion(_drift, cov=np.eye(2), dim=2)
X_STAR = np.array([1.0, 0.0])


def _grid(half_width, cells_per_unit):
    """Square box of half-width ``half_width`` centred on x*, spacing 1 / cells_per_unit."""
    n = int(round(2 * half_width * cells_per_unit)) + 1
    return Grid(((1 - half_width, 1 + half_width), (-half_width, half_width)), (n, n))


def _solve(method, grid, **options):
    att = Attractor.coerce(tuple(X_STAR), DYN, grid)
    return SOLVERS[method].solve(DYN, grid, att, **options)


def _valid(pts):
    """Where V = 2(U - U*) holds: the right well below the saddle level."""
    return (pts[..., 0] > 0) & (_U(pts) < _U(np.zeros(2)))


def _node(grid, x):
    return tuple(np.round((np.asarray(x) - grid.lower) / grid.spacing).astype(int))


def test_quadratic_scale_from_the_third_derivative():
    """3 uᵀQu / |T[u,u,u]| at x*: Q = 2U'' = 4s, T = 2U''' = 12s along x, so 1 (the distance to
    the saddle); +inf for a linear field, where the quadratic is exact."""
    assert quadratic_scale(DYN, X_STAR, 1e-4) == pytest.approx(1.0, rel=1e-3)
    linear = fw.Diffusion(["-2*x - 10*y", "20*x - y"], cov=np.eye(2))
    assert quadratic_scale(linear, [0.0, 0.0], 1e-4) > 1e6


def test_default_radius_is_cells_shrunk_by_the_cubic_term():
    """3 cells where the cubic term is small there; 10 % of the quadratic scale (here 0.1) where not,
    but at least a cell diagonal; the same for every box at a given spacing."""
    for half_width in (1.5, 6.0):
        fine = _grid(half_width, 64)
        att = Attractor.from_point(X_STAR)
        assert default_radius(DYN, fine, att) == pytest.approx(START_CELLS / 64)
        coarse = _grid(half_width, 16)
        assert default_radius(DYN, coarse, att) == pytest.approx(0.1, rel=1e-3)
    coarse = _grid(6.0, 4)
    assert default_radius(DYN, coarse, Attractor.from_point(X_STAR)) == pytest.approx(np.sqrt(2) / 4)
    rot3 = problems.rotational_3d()  # V = 2U, U quadratic plus x⁴/4: no cubic term at 0
    for half_width in (1.0, 4.0):
        grid = Grid(((-half_width, half_width),) * 3, (int(16 * half_width) + 1,) * 3)
        assert default_radius(rot3.dynamics, grid, Attractor.from_point([0.0] * 3)) == pytest.approx(3 / 8)
    mask = Attractor.from_mask(np.linalg.norm(coarse.points() - X_STAR, axis=-1) < 0.5)
    assert default_radius(DYN, coarse, mask) == 0.0


@pytest.mark.parametrize("method", ["olim", "sweep"])
def test_growing_the_box_keeps_v_inside(method):
    """At spacing 1/16 and fixed K, a 4x wider box changes V in the valid region by far less than
    the largest discretisation error there (measured: no change; largest error 6.5e-4 olim,
    7.0e-4 sweep). A start radius of 3 % of the box started the wide box from the quadratic 5.8
    cells out: a change of 5.4e-4 (olim and sweep), 6 % of V at (0.5, 0.25) for olim."""
    small, wide = _grid(1.5, 16), _grid(6.0, 16)
    Vs, info_s = _solve(method, small, K=8)
    Vw, info_w = _solve(method, wide, K=8)
    assert info_s["radius"] == info_w["radius"]
    pts = small.points()
    keep = _valid(pts)
    offset = _node(wide, small.lower)
    Vw_on_small = Vw[tuple(slice(o, o + n) for o, n in zip(offset, small.shape))]
    change = np.abs(Vw_on_small - Vs)[keep].max()
    error = np.abs(Vs - 2 * (_U(pts) - _U(X_STAR)))[keep].max()
    assert error > 1e-6  # the discretisation error is resolved by the comparison
    assert change < 0.1 * error, (change, error)


@pytest.mark.parametrize("method", ["olim", pytest.param("sweep", marks=pytest.mark.slow)])
def test_saddle_thirty_cells_away_in_a_wide_box(method):
    """Saddle 30 cells from x*, box 480 cells wide: V at the saddle and at (0.5, 0.25) within the
    discretisation error (measured olim +0.06 % and +2.8 %, sweep +0.4 % and +2.8 %). A start
    radius of 3 % of the box (14 cells, half the way) gave olim +7.2 % and +33 %, sweep +5.0 % and
    +17 %."""
    grid = _grid(8.0, 30)
    V, info = _solve(method, grid)
    assert info["radius"] == pytest.approx(0.1, rel=1e-3)
    saddle, side = np.zeros(2), np.array([0.5, 0.25])
    for x, rel in ((saddle, 0.015), (side, 0.04)):
        exact = 2 * float(_U(x) - _U(X_STAR))
        assert abs(V[_node(grid, x)] / exact - 1) <= rel, (x, V[_node(grid, x)], exact)


@pytest.mark.parametrize("method", ["olim", "sweep"])
def test_explicit_radius_is_kept(method):
    grid = _grid(1.5, 16)
    _, info = _solve(method, grid, radius=0.3)
    assert info["radius"] == pytest.approx(0.3)
    assert info["start_nodes"] == int((np.linalg.norm(grid.points() - X_STAR, axis=-1) <= 0.3).sum())
