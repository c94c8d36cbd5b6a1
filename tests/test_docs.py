"""The documentation site builds with ``mkdocs build --strict`` (no warnings), API page included.

mkdocs and mkdocstrings[python] come with the ``test`` extra: if they are missing this test fails
(it is not skipped).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import fwpotential as fw

ROOT = Path(__file__).resolve().parent.parent


def test_mkdocs_build_strict(tmp_path):
    import mkdocs  # noqa: F401  (an ImportError here is a failure: install the test extra)
    import mkdocstrings  # noqa: F401

    site = tmp_path / "site"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "--config-file",
            str(ROOT / "mkdocs.yml"),
            "--site-dir",
            str(site),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    log = r.stdout + r.stderr
    assert r.returncode == 0, f"mkdocs build --strict failed:\n{log}"
    assert "WARNING" not in log, log
    api = (site / "api" / "index.html").read_text(encoding="utf-8")
    missing = [name for name in fw.__all__ if f'id="fwpotential.{name}"' not in api]
    assert not missing, f"public names without an API entry: {missing}"
    pages = ("theory", "conventions", "solvers", "landscape", "cli", "gallery", "quickstart", "benchmarks")
    for page in pages + ("dev/architecture", "dev/solver-contract", "dev/design-notes"):
        assert (site / page / "index.html").is_file(), page
