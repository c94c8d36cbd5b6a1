"""Figures render headlessly (Agg) to valid, non-blank PNGs of the expected size."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from PIL import Image

import fwpotential as fw
from fwpotential import plot

DPI = 80


def _check_png(fig, path, *, min_colours=8):
    fig.savefig(path, dpi=DPI)  # no tight bbox: the size is the figure size
    with Image.open(path) as im:
        im.verify()
    with Image.open(path) as im:
        w, h = im.size
        arr = np.asarray(im.convert("RGB"), dtype=float)
    ew, eh = fig.get_size_inches() * DPI
    assert abs(w - ew) <= 1 and abs(h - eh) <= 1, ((w, h), (ew, eh))
    assert arr.std() > 5.0, "blank image"
    assert len(np.unique(arr.reshape(-1, 3), axis=0)) >= min_colours


@pytest.fixture(scope="module")
def comparison():
    # b = -grad f with isotropic noise s(f): in fmm's class (a quick 2-D solve)
    loss = fw.Loss.from_expr("(x**2 - 1)**2/4 + y**2/2 + x/10")
    grid = fw.Grid([(-2.0, 2.0), (-1.5, 1.5)], (49, 41))
    return fw.compare(loss, noise=fw.IsotropicNoise("0.5 + f"), grid=grid, method="fmm")


@pytest.fixture(scope="module")
def land1d():
    loss = fw.Loss.from_expr("(x**2 - 1)**2 / 4 + 0.15*x")
    return fw.landscape(fw.sgd(loss, noise=fw.GaussianNoise("0.2 + (x - 1)**2")), fw.Grid([(-2.0, 2.0)], (801,)))


def test_potential_map(comparison, tmp_path):
    fig = plot.potential_map(comparison.sgd)
    _check_png(fig, tmp_path / "map.png")


def test_potential_map_quasipotential(comparison, tmp_path):
    fig = plot.potential_map(comparison.langevin.quasipotentials[0], title="V")
    _check_png(fig, tmp_path / "qp.png")


def test_compare_maps_shared_scale(comparison, tmp_path):
    fig = plot.compare_maps(comparison, vmax=0.6)
    _check_png(fig, tmp_path / "cmp.png")
    maps = [ax for ax in fig.axes if ax.get_title()]
    assert len(maps) >= 2


def test_descent_path_reaches_attractor(comparison):
    L = comparison.langevin
    s = L.saddles[0]
    for i in range(len(L.attractors)):
        d = L.attractors[i] - s
        p = plot.descent_path(L.quasipotentials[i], s + 0.1 * d / np.linalg.norm(d))
        assert np.linalg.norm(p[-1] - L.attractors[i]) <= 2 * np.max(L.grid.spacing)


def test_potential_curves(land1d, tmp_path):
    _check_png(plot.potential_curves(land1d, labels=["SGD"]), tmp_path / "c.png")


def test_potential_slices(tmp_path):
    loss = fw.Loss.from_expr("x**2 + 2*y**2 + 3*z**2")
    qp = fw.quasipotential(fw.langevin(loss), fw.Grid([(-1, 1)] * 3, (17, 17, 17)), (0, 0, 0), method="fmm")
    _check_png(plot.potential_slices(qp, n=3), tmp_path / "s.png")


def test_weights_bar(tmp_path):
    fig = plot.weights_bar(
        {"Hwang": [0.6, 0.4], "prefactor-corrected": [0.55, 0.45], "measured": [0.52, 0.48]},
        labels=["left", "right"],
        errors={"measured": [0.02, 0.02]},
    )
    _check_png(fig, tmp_path / "w.png")


def test_convergence_fits_order(tmp_path):
    h = np.array([0.1, 0.05, 0.025])
    fig = plot.convergence({"olim": (h, 2 * h)}, order=1.0)
    _check_png(fig, tmp_path / "conv.png")
    rows = [{"method": "fmm", "h": a, "max_error": 3 * a**2} for a in h]
    assert "order 2.00" in plot.convergence(rows).axes[0].get_legend().get_texts()[0].get_text()


def test_occupation_ratio_and_arrhenius(tmp_path):
    g = np.array([0.1, 0.13, 0.17])
    fig = plot.occupation_ratio(g, -0.2 / g - 1.0, [0.05, 0.03, 0.02], predicted_slope=-0.2)
    assert fig.fwpotential_fit["slope"] == pytest.approx(-0.2, abs=1e-9)
    _check_png(fig, tmp_path / "r.png")
    T = np.exp(np.stack([0.3 / g, 0.5 / g], axis=1))
    fig = plot.arrhenius(g, T, barrier=[0.3, 0.5])
    assert [f["slope"] for f in fig.fwpotential_fit] == pytest.approx([0.3, 0.5])
    _check_png(fig, tmp_path / "a.png")


def test_step_ladder_fits_absorb_the_linear_term():
    """With errors and four step sizes the figures fit c + b/γ + aγ: an exact law of that form gives b."""
    g = np.array([0.07, 0.09, 0.12, 0.16])
    fig = plot.occupation_ratio(g, -0.2 / g - 1.0 + 3.0 * g, np.full(4, 0.02), predicted_slope=-0.2)
    assert fig.fwpotential_fit["slope"] == pytest.approx(-0.2, abs=1e-9)
    T = np.exp(np.stack([0.3 / g + 2.0 * g, 0.5 / g - 4.0 * g], axis=1))
    fig = plot.arrhenius(g, T, 0.05 * T, barrier=[0.3, 0.5])
    assert [f["slope"] for f in fig.fwpotential_fit] == pytest.approx([0.3, 0.5], abs=1e-9)


def test_save_writes_at_200_dpi(land1d, tmp_path):
    """plot.save writes rasters at the style's savefig.dpi, not Matplotlib's default 100."""
    fig = plot.potential_curves(land1d, labels=["SGD"])
    (path,) = plot.save(fig, tmp_path / "c.png")
    fig.savefig(tmp_path / "ref.png", dpi=200, bbox_inches="tight")
    with Image.open(path) as im, Image.open(tmp_path / "ref.png") as ref:
        size, ref_size = im.size, ref.size
    assert size == ref_size
    assert size[0] >= 0.9 * plot.COLUMN * 200, size  # about 340 px at 100 dpi


def test_mc_histogram_from_counts(comparison, tmp_path):
    L = comparison.langevin
    gamma = 0.1
    counts = np.where(np.isfinite(L.potential), np.exp(-L.potential / gamma), 0.0) * 1e6
    fig = plot.mc_histogram(np.round(counts), L, step_size=gamma)
    _check_png(fig, tmp_path / "h.png")


def test_save_formats(comparison, tmp_path):
    paths = plot.save(plot.potential_map(comparison.sgd), tmp_path / "m", formats=("png", "pdf", "svg"))
    assert [p.suffix for p in paths] == [".png", ".pdf", ".svg"]
    assert paths[1].read_bytes()[:4] == b"%PDF"
    assert b"<svg" in paths[2].read_bytes()[:2000]


def test_errors(comparison, land1d):
    with pytest.raises(fw.DimensionError, match="potential_curves"):
        plot.potential_map(land1d)
    with pytest.raises(fw.InputError, match="one length"):
        plot.weights_bar({"a": [1.0], "b": [0.5, 0.5]})
    with pytest.raises(fw.InputError, match="png, pdf or svg"):
        plot.save(plot.weights_bar({"a": [1.0]}), "x.jpg")
    with pytest.raises(fw.InputError, match="Landscape or a QuasiPotential"):
        plot.potential_map(object())
