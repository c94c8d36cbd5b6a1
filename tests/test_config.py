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
        if s.network is None:
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
        if plan.network is None:
            assert plan.method in fw.METHODS and plan.grid.dim in (1, 2, 3), p.name
        else:
            assert plan.grid is None and plan.method in config.PATH_METHODS, p.name
            (pts,) = plan.network.values()
            assert pts.shape[1] == next(iter(plan.dynamics.values())).dim, p.name


# ---- [network]: transition networks without a grid ---------------------------------------------
NET = """
name = "net"
description = "a network"
kind = "compare"
[loss]
sample_expr = "((w0 - u0)**2 - 1)**2/4 + w1**2/2 + w2**2/2"
data = { u0 = [0.9, 1.0, 1.1] }
variables = { prefix = "w", count = 3 }
[noise]
law = "isotropic"
variance = "0.5 + f"
[network]
starts = { random = 5, low = [-1, -1, -1], high = [2, 1, 1], seed = 3 }
n_points = 40
tol = 1e-7
"""


def test_network_file_loads_and_prepares():
    spec = loads(NET)
    assert spec.grid is None and spec.network["method"] == "gmam" and spec.network["n_points"] == 40
    assert spec.loss["variables"] == ["w0", "w1", "w2"]
    plan = problem.prepare(spec)
    assert plan.grid is None and set(plan.dynamics) == {"langevin", "sgd"}
    assert plan.options == {"n_points": 40, "tol": 1e-7}
    X = plan.network["starts"]
    assert X.shape == (5, 3)
    assert np.all((X >= [-1, -1, -1]) & (X <= [2, 1, 1]))
    assert np.array_equal(X, [-1, -1, -1] + np.array([3, 2, 2]) * np.random.default_rng(3).random((5, 3)))
    # a list of points, and known minima
    pts = loads(
        NET.replace(
            "starts = { random = 5, low = [-1, -1, -1], high = [2, 1, 1], seed = 3 }", "starts = [[0, 0, 0], [2, 0, 0]]"
        )
    )
    assert problem.prepare(pts).network["starts"].tolist() == [[0, 0, 0], [2, 0, 0]]
    mins = loads(
        NET.replace("starts = { random = 5, low = [-1, -1, -1], high = [2, 1, 1], seed = 3 }", "minima = [[0, 0, 0]]")
    )
    assert list(problem.prepare(mins).network) == ["minima"]
    # variables with a start index; a one-number box
    v = loads(
        NET.replace('{ prefix = "w", count = 3 }', '{ prefix = "w", count = 3, start = 0 }')
        .replace("[-1, -1, -1]", "-1")
        .replace("[2, 1, 1]", "2")
    )
    assert problem.prepare(v).network["starts"].shape == (5, 3)


RANDOM = "starts = { random = 5, low = [-1, -1, -1], high = [2, 1, 1], seed = 3 }"


@pytest.mark.parametrize(
    "edit, match",
    [
        (
            ("[network]", "[grid]\nbounds = [[0, 1]]\nshape = [9]\n[network]"),
            r"\[grid\]: give exactly one of \[grid\] .* got both",
        ),
        ((RANDOM, ""), r"\[network\] starts: give exactly one of starts .* or minima .*; got none"),
        (
            (RANDOM, RANDOM + "\nminima = [[0, 0, 0]]"),
            r"\[network\] starts: give exactly one of .*got \['starts', 'minima'\]",
        ),
        ((RANDOM, "starts = 3"), r"\[network\] starts: expected a list of points, or \{ random = 20"),
        (
            (RANDOM, "starts = [[0, 0, 0], [1, 0]]"),
            r"\[network\] starts: points need one number of coordinates, got \[2, 3\]",
        ),
        (
            ("random = 5", "randum = 5"),
            r"\[network\] starts\.randum: unknown key; valid keys here: high, low, random, seed",
        ),
        (("random = 5, ", ""), r"\[network\] starts\.random: missing; expected an integer >= 1"),
        (("random = 5", "random = 0"), r"\[network\] starts\.random: expected an integer >= 1, got 0"),
        (("seed = 3", "seed = -1"), r"\[network\] starts\.seed: expected an integer >= 0"),
        (("low = [-1, -1, -1]", 'low = "a"'), r"\[network\] starts\.low: expected a number or a list of numbers"),
        (("high = [2, 1, 1]", "high = [2, -1, 1]"), r"\[network\] starts: expected low < high in every coordinate"),
        (("high = [2, 1, 1]", "high = [2, 1]"), r"\[network\] starts: low and high need one length, got 3 and 2"),
        (
            ("n_points = 40", 'method = "newton"'),
            r"\[network\] method: expected one of 'gmam', 'sgmam', 'string', got 'newton'",
        ),
        (("n_points = 40", "n_points = 2"), r"\[network\] n_points: expected an integer >= 3"),
        (("tol = 1e-7", "tol = 0"), r"\[network\] tol: expected a number > 0, got 0"),
        (("tol = 1e-7", "max_iter = 0"), r"\[network\] max_iter: expected an integer >= 1"),
        (("tol = 1e-7", "npoints = 4"), r"\[network\] npoints: unknown key; valid keys here: max_iter, method, minima"),
        (
            ("tol = 1e-7", 'tol = 1e-7\n[solve]\nmethod = "olim"'),
            r"\[solve\]: not used with \[network\] \(path options go in \[network\]\)",
        ),
        (("tol = 1e-7", "tol = 1e-7\n[fokker_planck]\neps = [0.1]"), r"\[fokker_planck\]: not used with \[network\]"),
        (("tol = 1e-7", 'tol = 1e-7\n[exact]\nV = "w0"'), r"\[exact\]: not used with \[network\]"),
        (
            ('{ prefix = "w", count = 3 }', '{ prefix = "w" }'),
            r"\[loss\] variables\.count: missing; expected an integer >= 1",
        ),
        (
            ('{ prefix = "w", count = 3 }', '{ prefix = "w", count = 3, stop = 2 }'),
            r"\[loss\] variables\.stop: unknown key",
        ),
        (
            ('{ prefix = "w", count = 3 }', '{ prefix = "_w", count = 3 }'),
            r"\[loss\] variables\.prefix: expected a name",
        ),
        (
            ('{ prefix = "w", count = 3 }', '{ prefix = "w-", count = 3 }'),
            r"\[loss\] variables\.prefix: expected a name",
        ),
        (('{ prefix = "w", count = 3 }', "7"), r"\[loss\] variables: expected a list of names, .* or \{ prefix"),
    ],
)
def test_network_errors_name_the_key(edit, match):
    old, new = edit
    text = NET.replace(old, new, 1)
    assert text != NET
    with pytest.raises(ConfigError, match=match):
        loads(text)


@pytest.mark.parametrize(
    "edit, match",
    [
        (("high = [2, 1, 1]", "high = [2, 1, 1, 1], low = [0, 0, 0, 0]"), None),
        (
            (RANDOM, "starts = [[0, 0]]"),
            r"\[network\] starts: points need 3 coordinates \(the dynamics is 3-D\), got 2",
        ),
        ((RANDOM, "minima = [[0, 0, 0, 0]]"), r"\[network\] minima: points need 3 coordinates"),
        (("count = 3", "count = 2"), r"\[loss\]: .*w2"),
    ],
)
def test_network_dimension_checked_by_prepare(edit, match):
    old, new = edit
    if match is None:  # a box of the wrong dimension
        text = NET.replace(RANDOM, "starts = { random = 5, low = [0, 0, 0, 0], high = [2, 1, 1, 1] }")
        match = r"\[network\] starts\.low: 4 numbers for 3 variables; give 3 or a single number"
    else:
        text = NET.replace(old, new, 1)
    spec = loads(text)
    with pytest.raises(ConfigError, match=match):
        problem.prepare(spec)


def test_minibatch_gaussian_law():
    """law = "minibatch_gaussian": SGD with the Gaussian law of the minibatch covariance, alone."""
    text = NET.replace('law = "isotropic"\nvariance = "0.5 + f"', 'law = "minibatch_gaussian"\nbatch_size = 2')
    dyns = problem.build_dynamics(loads(text))
    exact = fw.sgd(problem.build_loss(loads(text)), noise="gaussian", batch_size=2)
    x = np.array([0.3, 0.1, -0.2])
    assert set(dyns) == {"langevin", "sgd"}
    np.testing.assert_allclose(dyns["sgd"].noise_cov(x), exact.noise_cov(x), rtol=1e-12)
    assert dyns["sgd"].name == exact.name and "Gaussian approximation" in exact.name  # not the exact law
    p = np.array([0.7, -0.4, 0.9])
    quad = 0.5 * p @ exact.noise_cov(x) @ p
    assert dyns["sgd"].hamiltonian(x, p) == pytest.approx(exact.hamiltonian(x, p), rel=1e-12)
    assert dyns["sgd"].hamiltonian(x, p) - float(-dyns["sgd"].loss.grad(x) @ p) == pytest.approx(quad, rel=1e-10)
    with pytest.raises(ConfigError, match=r"\[noise\] compare_gaussian: not used with law = 'minibatch_gaussian'"):
        loads(text.replace("batch_size = 2", "batch_size = 2\ncompare_gaussian = true"))
