"""Numba's cache stays out of the package directory (an installed package must hold only what pip put there)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import fwpotential

PKG = Path(fwpotential.__file__).resolve().parent

# compile one small cached kernel and report where Numba keeps its cache and which files it wrote
_PROBE = """
import json, os, sys, time
t0 = time.time()
{pre}
import numpy as np
import numba
import fwpotential
from fwpotential.solvers.sweep import godunov as _godunov
_godunov._hdisc(np.zeros(2), np.ones((3, 2)), 1.0, 0.5, -0.5)
pkg = os.path.dirname(fwpotential.__file__)
written = []
for root in (pkg, os.environ.get("NUMBA_CACHE_DIR") or pkg):
    for d, _, files in os.walk(root):
        written += [os.path.join(d, f) for f in files
                    if f.endswith((".nbi", ".nbc")) and os.path.getmtime(os.path.join(d, f)) >= t0 - 1]
print(json.dumps({{"cache_dir": numba.config.CACHE_DIR, "env": os.environ.get("NUMBA_CACHE_DIR"), "written": written}}))
"""


def _probe(env, pre=""):
    out = subprocess.run(
        [sys.executable, "-c", _PROBE.format(pre=pre)],
        env=env,
        cwd=PKG.parent,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _env(tmp_path, **extra):
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "FWPOTENTIAL_CACHE_DIR")}
    env.update(FWPOTENTIAL_CACHE_DIR=str(tmp_path / "fwcache"), **extra)
    return env


def _under(path, root):
    return Path(path).resolve().is_relative_to(Path(root).resolve())


def test_numba_cache_goes_to_the_user_cache_not_the_package(tmp_path):
    res = _probe(_env(tmp_path))
    root = tmp_path / "fwcache" / "numba"
    assert res["cache_dir"] == res["env"] == str(root)
    assert res["written"], "the kernel should have been cached"
    assert all(_under(p, root) for p in res["written"]), res["written"]
    assert not any(_under(p, PKG) for p in res["written"])
    # Numba keys each entry by the folder of its source file: another checkout gets another folder
    folders = {Path(p).parent.name for p in res["written"]}
    assert all(f.startswith("sweep_") for f in folders), folders  # fwpotential/solvers/sweep/godunov.py


def test_numba_imported_first_still_caches_outside(tmp_path):
    res = _probe(_env(tmp_path), pre="import numba")
    assert res["cache_dir"] == str(tmp_path / "fwcache" / "numba")
    assert res["written"] and not any(_under(p, PKG) for p in res["written"])


def test_user_numba_cache_dir_is_respected(tmp_path):
    mine = tmp_path / "mine"
    res = _probe(_env(tmp_path, NUMBA_CACHE_DIR=str(mine)))
    assert res["cache_dir"] == str(mine)
    assert res["written"] and all(_under(p, mine) for p in res["written"])


# ------------------------------------------------------------------------------------------ .ci/run
ROOT = PKG.parent
CI = ROOT / ".ci" / "run"


def _fake_checkout(tmp_path, demo, tests, ruff="exit 0"):
    """A checkout with .ci/run, a README holding the two commands and a stand-in ruff."""
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / ".ci").mkdir()
    (tmp_path / ".ci" / "run").write_text(CI.read_text())
    (tmp_path / "README.md").write_text(
        f"# x\n\n```bash\n{demo}\n```\n\ntext\n\n```bash\n{tests}\n```\n\n```python\nx = 1\n```\n"
    )
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    fake = tmp_path / ".venv" / "bin" / "ruff"
    fake.write_text(f'#!/usr/bin/env bash\necho "ruff $*" >> steps\n{ruff}\n')
    fake.chmod(0o755)
    return subprocess.run(["bash", ".ci/run"], cwd=tmp_path, capture_output=True, text=True, timeout=60)


def test_ci_runs_the_readme_commands_in_order_then_ruff(tmp_path):
    res = _fake_checkout(tmp_path, "echo fwpotential demo >> steps", "echo pytest >> steps")
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "steps").read_text().splitlines() == [
        "fwpotential demo",
        "pytest",
        "ruff check fwpotential tests benchmarks",
        "ruff format --check",
    ]


def test_ci_fails_if_any_step_fails(tmp_path):
    res = _fake_checkout(tmp_path / "a", "echo fwpotential demo; exit 3", "echo pytest")
    assert res.returncode == 1 and "demo failed (exit 3)" in res.stderr
    res = _fake_checkout(tmp_path / "b", "echo fwpotential demo", "echo pytest; exit 5")
    assert res.returncode == 1 and "collected no tests" in res.stderr
    res = _fake_checkout(tmp_path / "c", "echo fwpotential demo", "echo pytest", ruff="exit 1")
    assert res.returncode == 1 and "lint failed" in res.stderr and "format failed" in res.stderr


def test_ci_script_uses_this_readme():
    text = (ROOT / "README.md").read_text()
    blocks = [b.split("```", 1)[0].strip() for b in text.split("```bash\n")[1:3]]
    assert "fwpotential demo" in blocks[0] and "pytest" in blocks[1]
    assert "readme_command 1" in CI.read_text() and "readme_command 2" in CI.read_text()
