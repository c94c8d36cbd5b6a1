"""Shared by the benchmark scripts: the machine line, Markdown tables and the page writer.

``docs/benchmarks.md`` holds each table between two markers,

    <!-- benchmarks/solvers.py:linear_2d -->
    ...
    <!-- end -->

and a script run with ``--write`` replaces the text between the markers it owns (``write``), so the
page's numbers are always a script's output. A marker the page does not have is an error: add the
pair of markers to the page first, where the table belongs.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import time
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "benchmarks.md"
END = "<!-- end -->"


def arguments(description, *, repeats=3):
    """The options every script takes: ``--quick``, ``--write``, ``--repeats``."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--quick", action="store_true", help="the smallest sizes, one repeat (for a check, not the page)")
    ap.add_argument(
        "--write", action="store_true", help=f"also rewrite this script's tables in {PAGE.relative_to(ROOT)}"
    )
    ap.add_argument("--repeats", type=int, default=repeats, help="timed calls after the warm-up; the best counts")
    return ap


def best_of(fn, repeats):
    """Smallest wall-clock seconds (``time.perf_counter``) of ``repeats`` calls of ``fn``, and the
    last call's result (the warm-up call is the caller's)."""
    best, out = float("inf"), None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def _cpu():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(name):
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine(*, quick=False, packages=("numpy", "numba", "scikit-fmm")):
    """One line naming the machine and the versions, e.g. for the line above a table."""
    versions = ", ".join(f"{p} {_version(p)}" for p in packages)
    line = (
        f"Machine: {_cpu()}, {os.cpu_count()} logical cores, {platform.system()} {platform.machine()}; "
        f"Python {platform.python_version()}, {versions}."
    )
    if quick:
        line += " Quick run (`--quick`: smallest sizes, one repeat), not the full benchmark."
    return line


def _cell(v):
    return "" if v is None else str(v)


def markdown(header, rows):
    """A Markdown table from a header and rows (sequences of already formatted cells)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def marker(key):
    """The opening marker of table `key` ("solvers.py:linear_2d")."""
    return f"<!-- benchmarks/{key} -->"


def replace(text, key, body):
    """`text` with the part between the markers of `key` replaced by `body`."""
    pattern = re.compile(re.escape(marker(key)) + r"\n.*?" + re.escape(END), re.DOTALL)
    if not pattern.search(text):
        raise KeyError(f"{PAGE.name} has no {marker(key)} ... {END} block; add it where the table belongs")
    return pattern.sub(lambda _: f"{marker(key)}\n{body.strip()}\n{END}", text, count=1)


def write(tables, page=PAGE):
    """Replace every table in `tables` ({key: Markdown}) on the page, in one write."""
    text = page.read_text(encoding="utf-8")
    for key, body in tables.items():
        text = replace(text, key, body)
    page.write_text(text, encoding="utf-8")


def emit(tables, args, page=PAGE):
    """Print the tables; with ``--write`` also put them on the page."""
    for key, body in tables.items():
        print(f"{marker(key)}\n{body.strip()}\n{END}\n", flush=True)
    if args.write:
        write(tables, page)
        print(f"wrote {', '.join(tables)} to {page}")
