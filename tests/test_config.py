"""Problem files: strict validation (errors name the key and the expected form), builders, gallery."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import fwpotential as fw
from fwpotential.app import config, problem
from fwpotential.app.config import ConfigError, loads

EXAMPLES = Path(fw.__file__).resolve().parent / "examples"  # package data

BASE = """
name = "t"
description = "a test"
kind = "compare"
[loss]
expr = "(x**2 - 1)**2/4 + y**2/2"
[noise]
law = "isotropic"
variance = "0.5 + x**2"
[grid]
bounds = [[-2, 2], [-1.5, 1.5]]
shape = [33, 33]
"""


def test_base_is_valid_and_builds():
    spec = loads(BASE)
    assert spec.kind == "compare" and spec.grid["shape"] == (33, 33)
    dyns = problem.build_dynamics(spec)
    assert set(dyns) == {"langevin", "sgd"} and dyns["sgd"].kind == "sgd"
    assert problem.build_grid(spec).shape == (33, 33)
    assert problem.build_attractors(spec, problem.build_grid(spec)) is None


@pytest.mark.parametrize(
    "edit, match",
    [
        (("variance = ", "varience = "), r"\[noise\] varience: unknown key; valid keys here: .*variance"),
        (
            ('law = "isotropic"', 'law = "cauchy"'),
            r"\[noise\] law: expected one of 'isotropic', 'gaussian', 'minibatch'",
        ),
        (('name = "t"\n', ""), r"name: missing; expected a string"),
        (("shape = [33, 33]", 'shape = "33"'), r"\[grid\] shape: expected a non-empty list of numbers"),
        (("shape = [33, 33]", "shape = [33]"), r"\[grid\] shape: expected 2 integer\(s\) >= 3"),
        (("shape = [33, 33]", "shape = [33, 2]"), r"\[grid\] shape: expected 2 integer\(s\) >= 3"),
        (("bounds = [[-2, 2]", "bounds = [[2, -2]"), r"\[grid\] bounds: expected \[\[lo, hi\], ...\] with lo < hi"),
        (('kind = "compare"', 'kind = "sde"'), r"kind: expected one of 'compare', 'sgd', 'langevin', 'diffusion'"),
        (("[grid]", "[grids]"), r"\[grids\]: unknown table; valid tables: "),
        (
            ('variance = "0.5 + x**2"', "variance = true"),
            r"\[noise\] variance: expected a number or an expression string",
        ),
        (('variance = "0.5 + x**2"\n', ""), r"\[noise\] variance: missing; law = 'isotropic' needs"),
        (
            ('expr = "(x**2 - 1)**2/4 + y**2/2"', 'samples = ["x", "y"]\nexpr = "x"'),
            r"\[loss\] expr: give exactly one of expr",
        ),
    ],
)
def test_errors_name_the_key(edit, match):
    old, new = edit
    text = BASE.replace(old, new, 1)
    assert text != BASE
    with pytest.raises(ConfigError, match=match):
        loads(text)


def test_config_error_is_input_error():
    assert issubclass(ConfigError, fw.InputError)


def test_missing_table_and_wrong_kind_tables():
    with pytest.raises(ConfigError, match=r"\[noise\]: missing table \(needed for kind = 'compare'\)"):
        loads(BASE.split("[noise]")[0] + "[grid]\nbounds = [[-2, 2], [-1, 1]]\nshape = [9, 9]\n")
    with pytest.raises(ConfigError, match=r"\[noise\]: not used with kind = 'langevin'"):
        loads(BASE.replace('kind = "compare"', 'kind = "langevin"'))


def test_not_toml_names_the_problem(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text("name = \n")
    with pytest.raises(ConfigError, match="bad.toml: not valid TOML"):
        config.load(p)
    with pytest.raises(ConfigError, match="no such problem file"):
        config.load(tmp_path / "none.toml")


def test_expression_errors_name_the_table():
    spec = loads(BASE.replace('variance = "0.5 + x**2"', 'variance = "0.5 + )"'))
    with pytest.raises(ConfigError, match=r"\[noise\]"):
        problem.build_dynamics(spec)


def test_montecarlo_defaults_and_errors():
    spec = loads(BASE + "[montecarlo]\nstep_sizes = [0.1]\n")
    assert spec.montecarlo["dynamics"] == ["sgd", "langevin"] and spec.montecarlo["n_chains"] == 500
    with pytest.raises(ConfigError, match=r"\[montecarlo\] step_sizes: step sizes must be > 0"):
        loads(BASE + "[montecarlo]\nstep_sizes = [0.0]\n")
    with pytest.raises(ConfigError, match=r"\[montecarlo\] n_chains: expected an integer >= 1"):
        loads(BASE + "[montecarlo]\nstep_sizes = [0.1]\nn_chains = 2.5\n")
    with pytest.raises(ConfigError, match=r"\[montecarlo\] dynamics: 'diffusion' cannot be simulated"):
        loads(BASE + '[montecarlo]\nstep_sizes = [0.1]\ndynamics = "diffusion"\n')


def test_fokker_planck_table():
    spec = loads(BASE + "[fokker_planck]\neps = [0.2, 0.1]\n")
    assert spec.fokker_planck == {"eps": [0.2, 0.1], "dynamics": ["sgd", "langevin"]}
    assert loads(BASE).fokker_planck is None
    with pytest.raises(ConfigError, match=r"\[fokker_planck\] eps: noise levels must be > 0"):
        loads(BASE + "[fokker_planck]\neps = [-0.1]\n")
    with pytest.raises(ConfigError, match=r"\[fokker_planck\] dynamics: 'diffusion' is not solved"):
        loads(BASE + '[fokker_planck]\neps = [0.1]\ndynamics = "diffusion"\n')
    three = BASE.replace("[[-2, 2], [-1.5, 1.5]]", "[[-2, 2], [-1.5, 1.5], [-1, 1]]").replace("[33, 33]", "[9, 9, 9]")
    with pytest.raises(ConfigError, match=r"1-D and 2-D"):
        loads(three + "[fokker_planck]\neps = [0.1]\n")


def test_finite_sum_inline_and_csv(tmp_path):
    (tmp_path / "d.csv").write_text("u,t\n0.5,1.0\n1.5,-1.0\n1.0,0.2\n")
    text = """
name = "fs"
description = "finite sum"
kind = "sgd"
[loss]
sample_expr = "(t - x*u)**2/2"
csv = "d.csv"
variables = ["x"]
[noise]
law = "minibatch"
compare_gaussian = true
[grid]
bounds = [[-3, 3]]
shape = [101]
"""
    p = tmp_path / "fs.toml"
    p.write_text(text)
    spec = config.load(p)
    dyns = problem.build_dynamics(spec)
    assert set(dyns) == {"sgd", "sgd_gaussian"}
    assert dyns["sgd"].loss.n_samples == 3
    inline = loads(text.replace('csv = "d.csv"', "data = {u = [0.5, 1.5, 1.0], t = [1.0, -1.0, 0.2]}"))
    x = np.array([[0.3]])
    assert problem.build_loss(inline).value(x) == pytest.approx(dyns["sgd"].loss.value(x))
    (tmp_path / "e.csv").write_text("u,t\n0.5,abc\n")
    with pytest.raises(ConfigError, match=r"\[loss\] csv: .*line 2, column 't': expected a number"):
        problem.build_loss(loads(text.replace("d.csv", str(tmp_path / "e.csv"))))
    with pytest.raises(ConfigError, match=r"\[noise\] law: 'minibatch' needs a finite-sum loss"):
        loads(BASE.replace('law = "isotropic"\nvariance = "0.5 + x**2"', 'law = "minibatch"'))


def test_sets_and_exact():
    text = """
name = "lc"
description = "limit cycle"
kind = "diffusion"
[diffusion]
drift = ["y + x*(1 - x**2 - y**2)", "-x + y*(1 - x**2 - y**2)"]
[grid]
bounds = [[-2, 2], [-2, 2]]
shape = [41, 41]
[solve]
sets = [{ expr = "x**2 + y**2 - 1" }]
[exact]
V = "(x**2 + y**2 - 1)**2/2"
where = "1 - x**2 - y**2"
"""
    spec = loads(text)
    g = problem.build_grid(spec)
    (att,) = problem.build_attractors(spec, g)
    r = np.linalg.norm(g.points()[att.mask], axis=-1)
    assert np.all(np.abs(r - 1) <= 0.06)
    ex = problem.exact_values(spec, g)
    assert np.isnan(ex[0, 0]) and ex[20, 20] == pytest.approx(0.5)
    with pytest.raises(ConfigError, match=r"\[solve\] sets\[0\]\.wdth: unknown key"):
        loads(text.replace('expr = "x**2 + y**2 - 1"', 'expr = "x**2 + y**2 - 1", wdth = 1'))


def test_demo_and_gallery_validate():
    from fwpotential.app import cli

    spec = config.load(cli.DEMO)
    assert spec.kind == "compare" and spec.montecarlo is not None
    files = sorted(EXAMPLES.glob("*.toml"))
    assert len(files) >= 11
    for p in files:
        s = config.load(p)
        assert len(s.description) > 100, p.name  # one paragraph
        problem.build_grid(s)
        problem.build_dynamics(s)
    assert cli.DEMO == EXAMPLES / "sgd_vs_langevin.toml"


# ---- check makes every check run makes ---------------------------------------------------------
@pytest.mark.parametrize(
    "extra, match",
    [
        ('[solve]\nmethod = "olimm"\n', r"\[solve\]: unknown method 'olimm'; choose one of \['exact', 'fmm', 'olim'"),
        (
            '[solve]\nmethod = "olim"\noptions = {k = 10}\n',
            r"\[solve\]: method='olim' takes options \[.*'K'.*\], not \['k'\]",
        ),
        ('[solve]\nmethod = "exact"\n', r"\[solve\]: method='exact' needs a 1-D grid .* got a 2-D grid"),
        (
            "[solve]\nattractors = [[5.0, 0.0]]\n",
            r"\[solve\] attractors: attractor \(5\.0, 0\.0\) lies outside the grid",
        ),
        (
            "[montecarlo]\nstep_sizes = [0.1]\ndynamics = 'sgd_gaussian'\n",
            r"\['sgd_gaussian'\] not computed.*compare_gaussian",
        ),
        ("[montecarlo]\nstep_sizes = [0.1]\nn_steps = 100\nburn_in = 100\n", r"burn_in: 100 >= n_steps = 100"),
        ('[exact]\nV = "foo(x) + y"\n', r"\[exact\]: .*unknown function 'foo'"),
    ],
)
def test_check_runs_the_checks_of_run(tmp_path, capsys, monkeypatch, extra, match):
    """``fwpotential check`` and ``run`` refuse the same files, with the same message, before computing."""
    from fwpotential.app import cli, render, report

    p = tmp_path / "p.toml"
    p.write_text(BASE + extra)
    assert cli.main(["check", str(p)]) == 2
    err = capsys.readouterr().err
    assert re.search(match, err), err

    def computing(*args, **kwargs):
        raise AssertionError("run computed before validating")

    monkeypatch.setattr(report, "landscape", computing)
    monkeypatch.setattr(render, "write_outputs", computing)
    assert cli.main(["run", str(p), "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err == err


def test_check_refuses_a_grid_too_large_for_memory(tmp_path, capsys):
    p = tmp_path / "p.toml"
    p.write_text(BASE.replace("shape = [33, 33]", "shape = [100000, 100000]"))
    from fwpotential.app import cli

    assert cli.main(["check", str(p)]) == 2
    err = capsys.readouterr().err
    assert re.search(r"grid \(100000, 100000\) .* needs about [0-9.]+e\+03 GiB, more than the", err), err


def test_description_is_optional():
    spec = loads(BASE.replace('description = "a test"\n', ""))
    assert spec.description == ""
    problem.prepare(spec)


def test_gallery_files_prepare():
    for p in sorted(EXAMPLES.glob("*.toml")):
        plan = problem.prepare(config.load(p))
        assert plan.method in fw.METHODS and plan.grid.dim in (1, 2, 3), p.name
