"""The fwpotential command: exit codes (0 / 2 bad input / 1 internal), messages, output files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fwpotential.app import cli, render, report

PROBLEM_1D = """
name = "dw1d"
description = "A 1-D tilted double well: SGD with state-dependent Gaussian noise against Langevin."
kind = "compare"
[loss]
expr = "(x**2 - 1)**2 / 4 + 0.15*x"
[noise]
law = "gaussian"
cov = "0.2 + (x - 1)**2"
[grid]
bounds = [[-2, 2]]
shape = [801]
[solve]
method = "exact"
"""


def test_help_everywhere(capsys):
    for argv in (["--help"], ["demo", "--help"], ["run", "--help"], ["examples", "--help"], ["check", "--help"]):
        with pytest.raises(SystemExit) as exc:
            cli.main(argv)
        assert exc.value.code == 0
        assert "usage: fwpotential" in capsys.readouterr().out


def test_no_command_and_bad_usage(capsys):
    assert cli.main([]) == 2
    assert cli.main(["frobnicate"]) == 2
    assert "invalid choice" in capsys.readouterr().err
    assert cli.main(["run"]) == 2
    assert "give a problem file or --example NAME" in capsys.readouterr().err
    assert cli.main(["run", "--format", "jpg", "x.toml"]) == 2


def test_run_bad_input_exit_2(tmp_path, capsys):
    assert cli.main(["run", str(tmp_path / "missing.toml")]) == 2
    assert "no such problem file" in capsys.readouterr().err
    bad = tmp_path / "bad.toml"
    bad.write_text(PROBLEM_1D.replace("cov = ", "kov = "))
    assert cli.main(["run", str(bad)]) == 2
    assert "[noise] kov: unknown key" in capsys.readouterr().err
    assert cli.main(["run", "--example", "no_such_example"]) == 2
    assert "no such example" in capsys.readouterr().err
    assert cli.main(["check", str(bad)]) == 2


def test_run_writes_outputs(tmp_path, capsys):
    p = tmp_path / "p.toml"
    p.write_text(PROBLEM_1D)
    out = tmp_path / "out"
    assert cli.main(["run", str(p), "--out", str(out), "-q"]) == 0
    stdout = capsys.readouterr().out
    assert "DIFFERENT ground states" in stdout
    s = json.loads((out / "summary.json").read_text())
    assert s["same_ground_states"] is False
    assert s["landscapes"]["sgd"]["ground_states"] != s["landscapes"]["langevin"]["ground_states"]
    z = np.load(out / "results.npz")
    assert z["sgd/potential"].shape == (801,) and "grid/axis0" in z
    md = (out / "report.md").read_text()
    assert "| attractor |" in md and "![" in md
    assert (out / "figures" / "potential.png").stat().st_size > 1000


def test_run_with_fokker_planck(tmp_path, capsys):
    """[fokker_planck]: per ε the gap |(-ε log p) - W| shrinks like ε, and the FP basin masses are
    closer to the diffusion-prefactor prediction than to Hwang's (K = 1/a differs between the wells)."""
    p = tmp_path / "p.toml"
    p.write_text(PROBLEM_1D + '[fokker_planck]\neps = [0.1, 0.05]\ndynamics = "sgd"\n[report]\nenabled = false\n')
    out = tmp_path / "out"
    assert cli.main(["run", str(p), "--out", str(out), "-q"]) == 0
    rows = json.loads((out / "summary.json").read_text())["fokker_planck"]["sgd"]
    assert [r["eps"] for r in rows] == [0.1, 0.05]
    assert 1.6 < rows[0]["gap"] / rows[1]["gap"] < 2.4, rows
    for r in rows:
        lr = np.log(r["masses"][0] / r["masses"][1])
        d_diff = abs(lr - np.log(r["predicted_diffusion"][0] / r["predicted_diffusion"][1]))
        d_hwang = abs(lr - np.log(r["predicted_hwang"][0] / r["predicted_hwang"][1]))
        assert d_diff < 0.5 * d_hwang, (r, d_diff, d_hwang)
    assert "## Stationary Fokker–Planck (FiPy)" in (out / "report.md").read_text()


MC_1D = """
[montecarlo]
step_sizes = [0.08, 0.1, 0.13, 0.17, 0.22]
n_chains = 128
n_steps = 40000
burn_in = 4000
seed = 1
dynamics = ["langevin"]
"""


def test_run_montecarlo_rates_and_verdict(tmp_path, capsys):
    """Exit times in the outputs are the censoring-aware estimate, and the slope check has a verdict
    in summary.json, report.md and on stdout."""
    from fwpotential.app.config import loads

    outc = report.solve_problem(loads(PROBLEM_1D + MC_1D))
    files = render.write_outputs(outc, tmp_path / "o")
    cli._print_tables(outc)
    stdout = capsys.readouterr().out
    rows, runs = outc.montecarlo["langevin"], outc.runs["langevin"]
    for row, run in zip(rows, runs):
        ex = run.exits()
        assert row["exit_time"] == pytest.approx(ex.rate_time.tolist())
        assert row["censored"] == ex.censored.tolist()
    ex = runs[0].exits()  # γ = 0.08: most chains never leave the left well
    assert ex.censored[0] >= 100 and ex.rate_time[0] > 1.2 * ex.mean_time[0]
    fit = json.loads(files["json"].read_text())["montecarlo_fits"]["langevin"]
    assert fit["model"] == "c + b/γ + aγ" and fit["consistent"] is True, fit
    assert fit["z"] == pytest.approx(
        (fit["predicted_slope"] - fit["slope"]) / np.hypot(fit["slope_se"], fit["predicted_slope_se"])
    )
    assert "consistent (z = " in stdout and fit["verdict"] in files["report"].read_text()


def test_check_and_examples(capsys):
    assert cli.main(["examples"]) == 0
    out = capsys.readouterr().out
    for name in ("sgd_vs_langevin", "maier_stein", "himmelblau", "linear_3d"):
        assert name in out
    ex = cli.examples_dir() / "maier_stein.toml"
    assert cli.main(["check", str(ex)]) == 0
    assert "valid" in capsys.readouterr().out


def test_internal_error_exit_1(tmp_path, monkeypatch, capsys):
    p = tmp_path / "p.toml"
    p.write_text(PROBLEM_1D)

    def boom(*a, **k):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(report, "solve_problem", boom)
    assert cli.main(["run", str(p), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "internal error: RuntimeError: kaboom" in err and "--traceback" in err


def test_unavailable_method_is_bad_input(tmp_path, capsys):
    p = tmp_path / "p.toml"
    p.write_text(PROBLEM_1D.replace('method = "exact"', 'method = "nosuch"'))
    assert cli.main(["run", str(p), "--out", str(tmp_path / "o"), "-q"]) == 2
    assert "[solve]: unknown method 'nosuch'; choose one of" in capsys.readouterr().err


@pytest.mark.slow
def test_demo_end_to_end(tmp_path, capsys):
    assert cli.main(["demo", "--out", str(tmp_path / "d"), "-q"]) == 0
    out = capsys.readouterr().out
    assert "SGD and Langevin" in out
    s = json.loads((tmp_path / "d" / "summary.json").read_text())
    assert s["same_ground_states"] is False
    assert (tmp_path / "d" / "figures" / "compare.png").exists()
    for lab in ("sgd", "langevin"):
        fit = s["montecarlo_fits"][lab]
        assert fit["model"] == "c + b/γ + aγ" and fit["consistent"] is True, fit
        assert fit["slope_se"] < 0.25 * abs(fit["predicted_slope"])  # able to fail
    assert out.count("consistent (z = ") == 2


def test_gallery_is_package_data(monkeypatch, tmp_path):
    """The gallery ships inside the package (pyproject package-data), so a plain ``pip install .`` has it."""
    import fwpotential as fw

    monkeypatch.delenv("FWPOTENTIAL_EXAMPLES", raising=False)
    d = cli.examples_dir()
    assert d == Path(fw.__file__).resolve().parent / "examples"
    assert (d / "maier_stein.toml").is_file() and (d / "data" / "regression.csv").is_file()
    # $FWPOTENTIAL_EXAMPLES still overrides it
    (tmp_path / "mine.toml").write_text((d / "maier_stein.toml").read_text())
    monkeypatch.setenv("FWPOTENTIAL_EXAMPLES", str(tmp_path))
    assert cli.examples_dir() == tmp_path and "mine" in cli.gallery()


NETWORK_3D = """
name = "tiny_network"
description = "A tilted double well in w0 plus two quadratic directions, d = 3, without a grid."
kind = "compare"
[loss]
sample_expr = "((w0 - 1)**2 - 1)**2/4 + w1**2/2 + w2**2 + 0.1*w0*u0"
data = { u0 = [1.0, 0.5, 1.5] }
variables = { prefix = "w", count = 3 }
[noise]
law = "isotropic"
variance = "0.5 + f"
[network]
starts = { random = 6, low = -1, high = 3, seed = 0 }
n_points = 30
"""


def test_run_network_end_to_end(tmp_path, capsys):
    """A [network] file: both transition networks, their energies exact (Langevin W = f - f*; SGD
    with a = (0.5 + f) I: W_1 - W_0 = 2 log((0.5 + f_1)/(0.5 + f_0))), the report files and figures."""
    p = tmp_path / "net.toml"
    p.write_text(NETWORK_3D)
    out = tmp_path / "out"
    assert cli.main(["run", str(p), "--out", str(out), "-q"]) == 0
    assert "paths ('gmam') in d = 3" in capsys.readouterr().out
    s = json.loads((out / "summary.json").read_text())
    assert "grid" not in s and s["network"] == {"dim": 3, "method": "gmam", "n_points": 30}
    L, S = s["landscapes"]["langevin"], s["landscapes"]["sgd"]
    f = np.array(L["f"])
    assert len(f) == 2 and L["ground_states"] == [int(np.argmin(f))]
    assert L["energies"] == pytest.approx(f - f.min(), abs=1e-12)
    assert S["energies"] == pytest.approx(np.abs(2 * np.log((0.5 + f) / (0.5 + f.min()))), abs=1e-9)
    assert abs(S["energies"][1] - L["energies"][1]) > 0.4  # the two energies differ visibly
    (sd,) = L["saddles"]
    assert sorted(sd["joins"]) == [0, 1] and sd["point"][0] == pytest.approx(1.1009, abs=1e-3)
    # the path's action to the saddle agrees with the closed form (Langevin: f(saddle) - f(x_i))
    z = np.load(out / "results.npz")
    for i in (0, 1):
        prof = z[f"langevin/path_{i}_s0/action_profile"]
        assert prof[-1] == pytest.approx(sd["f"] - f[i], rel=1e-3)
    assert z["sgd/costs"].shape == (2, 2) and z["langevin/saddles"].shape == (1, 3)
    md = (out / "report.md").read_text()
    assert "Transition networks without a grid in d = 3" in md and "| s0 |" in md
    for stem in ("disconnectivity_pair", "path_profile_langevin", "path_projection_sgd", "weights_sgd"):
        assert (out / "figures" / f"{stem}.png").stat().st_size > 1000, stem
    assert cli.main(["check", str(p)]) == 0
    assert "valid (compare, network)" in capsys.readouterr().out


def test_run_network_single_dynamics(tmp_path):
    """kind = "langevin" with known minima: one network, one disconnectivity graph over W."""
    from fwpotential.app.config import loads

    text = NETWORK_3D.replace('kind = "compare"', 'kind = "langevin"').split("[noise]")[0]
    text += "[network]\nminima = [[0.0, 0.0, 0.0], [2.0, 0.0, 0.0]]\nn_points = 20\n"
    outc = report.solve_problem(loads(text))
    files = render.write_outputs(outc, tmp_path / "o")
    (N,) = outc.landscapes.values()
    assert outc.comparison is None and N.energies == pytest.approx(N.attractor_values - N.attractor_values.min())
    assert (tmp_path / "o" / "figures" / "disconnectivity_langevin.png").is_file()
    assert json.loads(files["json"].read_text())["landscapes"]["langevin"]["ground_states"] == [0]


@pytest.mark.slow
def test_run_network_montecarlo(tmp_path):
    """[montecarlo] with [network]: fw.mc_check on the network (chains labelled by quench in d = 3);
    the slope of log(P_0/P_1) against 1/γ matches Langevin's W_1 - W_0 = f_1 - f_0 (about 0.2)."""
    from fwpotential.app.config import loads

    text = NETWORK_3D.replace('kind = "compare"', 'kind = "langevin"').split("[noise]")[0]
    text += "[network]\nminima = [[0.0, 0.0, 0.0], [2.0, 0.0, 0.0]]\nn_points = 20\n"
    text += (
        "[montecarlo]\nstep_sizes = [0.08, 0.1, 0.13, 0.17]\nn_chains = 96\nn_steps = 20000\nburn_in = 2000\nseed = 1\n"
    )
    outc = report.solve_problem(loads(text))
    N = outc.landscapes["langevin"]
    fit = outc.montecarlo_fits["langevin"]
    assert fit["predicted_slope"] == pytest.approx(N.attractor_values[1] - N.attractor_values[0], abs=1e-12)
    assert fit["consistent"] is True, fit
    assert fit["slope_se"] < 0.25 * abs(fit["predicted_slope"])  # able to fail: W_1 = 0 would give |z| > 4
    files = render.write_outputs(outc, tmp_path / "o")
    assert (tmp_path / "o" / "figures" / "mc_ratio_langevin.png").is_file()
    assert "## Monte Carlo" in files["report"].read_text()
