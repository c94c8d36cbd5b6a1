"""Progress bars: shown with progress=True (or on a terminal), quiet otherwise, never a solver option."""

from __future__ import annotations

import inspect
import io
import warnings

import pytest

import fwpotential as fw
from fwpotential import _progress
from fwpotential.app import cli

DW = "(x**2 - 1)**2 / 4 + 0.15*x"
GRID = fw.Grid([(-2.5, 2.5)], (401,))


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_quasipotential_bar_only_when_asked(capsys):
    dyn = fw.langevin(DW)
    fw.quasipotential(dyn, GRID, attractor=-1.068, method="exact")
    assert capsys.readouterr().err == ""  # stderr is not a terminal under pytest
    qp = fw.quasipotential(dyn, GRID, attractor=-1.068, method="exact", progress=True)
    assert "exact 401" in capsys.readouterr().err
    assert "progress" not in qp.info["options"]
    fw.quasipotential(dyn, GRID, attractor=-1.068, method="exact", progress=False)
    assert capsys.readouterr().err == ""


def test_progress_is_not_a_method_option():
    dyn = fw.langevin(DW)
    with pytest.raises(fw.InputError, match="takes options"):
        fw.quasipotential(dyn, GRID, attractor=-1.068, method="exact", progress=True, K=3)
    with pytest.raises(fw.InputError, match="progress must be True, False or None"):
        fw.quasipotential(dyn, GRID, attractor=-1.068, method="exact", progress="yes")
    for func in (fw.landscape, fw.mc_check, fw.fokker_planck, fw.stationary_chain, fw.simulate, fw.quasipotential):
        p = inspect.signature(func).parameters["progress"]
        assert p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is None, func.__name__


def test_terminal_shows_bar_by_default(monkeypatch):
    term = _Terminal()
    monkeypatch.setattr("sys.stderr", term)
    monkeypatch.setattr(_progress, "DELAY", 0.0)
    fw.landscape(fw.langevin(DW), GRID)
    out = term.getvalue()
    assert "landscape: " in out and "2/2" in out  # one step per attractor solve
    assert "exact 401" in out  # the solves' nested bars inherit the choice


def test_landscape_false_silences_nested_solves(monkeypatch):
    term = _Terminal()
    monkeypatch.setattr("sys.stderr", term)
    monkeypatch.setattr(_progress, "DELAY", 0.0)
    fw.landscape(fw.langevin(DW), GRID, progress=False)
    assert term.getvalue() == ""


def test_monte_carlo_fokker_planck_and_chain_bars(capsys):
    dyn = fw.langevin(DW)
    land = fw.landscape(dyn, GRID)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fw.FWWarning)  # too few crossings in so short a run
        fw.mc_check(land, dyn, step_sizes=[0.2, 0.1], n_steps=400, n_chains=16, seed=1, progress=True)
    err = capsys.readouterr().err
    assert "mc_check" in err and "2/2" in err and "simulate γ=0.2" in err
    lin = fw.sgd(fw.Loss.from_expr("1.5*x**2/2"), noise=fw.GaussianNoise(0.8))
    fw.stationary_chain(lin, 0.2, fw.Grid([(-2, 2)], (401,)), progress=True)
    assert "stationary_chain" in capsys.readouterr().err
    fw.fokker_planck(dyn, fw.Grid([(-2.5, 2.5)], (201,)), 0.2, progress=True)
    assert "fokker_planck" in capsys.readouterr().err
    fw.simulate(dyn, step_size=0.1, n_steps=200, n_chains=8, x0=[1.0], seed=0)
    assert capsys.readouterr().err == ""


PROBLEM = """
name = "dw1d"
description = "A 1-D tilted double well."
kind = "langevin"
[loss]
expr = "(x**2 - 1)**2 / 4 + 0.15*x"
[grid]
bounds = [[-2, 2]]
shape = [401]
[solve]
method = "exact"
"""


def test_cli_no_progress(tmp_path, monkeypatch, capsys):
    p = tmp_path / "dw.toml"
    p.write_text(PROBLEM)
    term = _Terminal()
    monkeypatch.setattr("sys.stderr", term)
    monkeypatch.setattr(_progress, "DELAY", 0.0)
    assert cli.main(["run", str(p), "--out", str(tmp_path / "a"), "--no-montecarlo"]) == 0
    assert "landscape: " in term.getvalue() and "2/2" in term.getvalue()  # the tqdm bar
    term.seek(0)
    term.truncate()
    assert cli.main(["run", str(p), "--out", str(tmp_path / "b"), "--no-montecarlo", "--no-progress"]) == 0
    err = term.getvalue()
    assert "landscape: " not in err and "2/2" not in err and "landscape of Langevin" in err  # step messages stay
    assert _progress._DEFAULT["progress"] is None  # the command restores the process default
