"""Speed regression guard: a few fixed solves timed as ratios to a bare ``skfmm.travel_time`` call.

Each solve and the anchor (scikit-fmm's compiled fast marching on a fixed 1025^2 grid, timed just
before and just after that solve) run in the same process, so the machine's speed cancels from the
ratios. Times are CPU seconds of this
process (``time.process_time``; the solvers run on one thread), which other jobs on a shared machine
disturb far less than wall-clock seconds; best of ``--repeats`` after one warm-up call per solve
(Numba compilation or cache loading apart). The ratios are compared with the committed baseline
``guard_baseline.json`` next to this file: a ratio more than 20 % above its baseline is flagged and
the exit status is 1. ``--update`` rewrites the baseline from this run (do that only after a
deliberate change of speed, and commit it with the change).

Run before a change to the solvers is submitted (not in CI, and no test asserts a time):

    python benchmarks/guard.py            # quick: olim 2-D 513^2, sweep 257^2, olim 3-D 33^3, fmm 1025^2
    python benchmarks/guard.py --full     # also olim 2-D 1025^2, sweep 513^2, olim 3-D 65^3
    python benchmarks/guard.py --update   # rewrite the baseline entries that were run
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import skfmm

# time the checkout this file belongs to, not another installed copy of the package
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import fwpotential as fw  # noqa: E402
from fwpotential import problems  # noqa: E402

BASELINE = Path(__file__).with_name("guard_baseline.json")
TOLERANCE = 0.20  # flag a ratio more than 20 % above its baseline
ANCHOR_N = 1025

# (name, problem constructor, method, grid size, options); names are the baseline's keys
QUICK = [
    ("olim linear_2d 513^2", problems.linear_2d, "olim", 513, {}),
    ("sweep linear_2d 257^2", problems.linear_2d, "sweep", 257, {}),
    ("olim linear_3d 33^3", problems.linear_3d, "olim", 33, {}),
    ("fmm langevin_double_well_2d 1025^2", problems.langevin_double_well_2d, "fmm", 1025, {"radius": 0.1}),
]
FULL = [
    ("olim linear_2d 1025^2", problems.linear_2d, "olim", 1025, {}),
    ("sweep linear_2d 513^2", problems.linear_2d, "sweep", 513, {}),
    ("olim linear_3d 65^3", problems.linear_3d, "olim", 65, {}),
]


def cpu_best(fn, repeats):
    """Smallest CPU time of `repeats` calls of fn (and the last result)."""
    best = np.inf
    for _ in range(repeats):
        t = time.process_time()
        out = fn()
        best = min(best, time.process_time() - t)
    return best, out


def anchor_seconds(repeats):
    """CPU seconds of bare skfmm.travel_time (order 2) on a fixed grid and speed field."""
    x = np.linspace(-1.0, 1.0, ANCHOR_N)
    X, Y = np.meshgrid(x, x, indexing="ij")
    phi = np.hypot(X, Y) - 0.1
    speed = 1.0 + 0.5 * np.sin(3.0 * X) * np.cos(2.0 * Y)
    dx = float(x[1] - x[0])
    return cpu_best(lambda: skfmm.travel_time(phi, speed, dx=[dx, dx], order=2), repeats)[0]


def time_entry(make_problem, method, n, options, repeats):
    """(CPU seconds, max error) of one solve through fw.quasipotential, after a warm-up call."""
    prob = make_problem()
    grid = prob.grid(n)

    def solve():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", fw.FWWarning)
            return fw.quasipotential(prob.dynamics, grid, prob.attractor_for(grid), method=method, **options)

    solve()  # warm-up: compilation or cache loading
    seconds, qp = cpu_best(solve, repeats)
    if method == "fmm":
        return seconds, float(prob.max_error(qp))
    # as benchmarks/solvers.py: without the K cells next to the box and the nodes below its boundary
    margin = int(qp.info.get("K", 1))
    return seconds, float(prob.max_error(qp, margin_cells=margin, exclude=~prob.below_boundary(grid)))


def compare(ratios, baseline, tolerance=TOLERANCE):
    """Rows (name, ratio, baseline ratio or None, relative change or None, flagged) per entry."""
    rows = []
    for name, ratio in ratios.items():
        ref = baseline.get(name, {}).get("ratio")
        change = None if ref is None else ratio / ref - 1.0
        rows.append((name, ratio, ref, change, change is not None and change > tolerance))
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="also the larger grids")
    ap.add_argument("--update", action="store_true", help="rewrite the baseline entries that were run")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    entries = QUICK + (FULL if args.full else [])
    measured = {}
    ratios = {}
    anchors = []
    for name, make_problem, method, n, options in entries:
        # the anchor just before and after each solve, so that a change of the machine's load
        # during the run shifts both sides of that solve's ratio alike
        before = anchor_seconds(3)
        measured[name] = time_entry(make_problem, method, n, options, args.repeats)
        anchor = min(before, anchor_seconds(3))
        anchors.append(anchor)
        ratios[name] = measured[name][0] / anchor
    stored = json.loads(BASELINE.read_text()) if BASELINE.exists() else {"entries": {}}
    base = stored["entries"]
    print(
        f"Machine: {platform.processor() or platform.machine()}, {platform.system()}, Python {platform.python_version()}"
    )
    print(f"Package: {Path(fw.__file__).parent}")
    print(
        f"Anchor: bare skfmm.travel_time, {ANCHOR_N}^2, order 2: {min(anchors):.3f} to {max(anchors):.3f} CPU s "
        "(best of 6 around each solve)"
    )
    print("")
    print("| solve | CPU seconds | ratio to anchor | baseline ratio | change | max error | verdict |")
    print("|---|---|---|---|---|---|---|")
    rows = compare(ratios, base)
    for name, ratio, ref, change, flagged in rows:
        sec, err = measured[name]
        verdict = "SLOWER" if flagged else ("new" if ref is None else "ok")
        ref_s = "" if ref is None else f"{ref:.2f}"
        change_s = "" if change is None else f"{100 * change:+.0f} %"
        print(f"| {name} | {sec:.2f} | {ratio:.2f} | {ref_s} | {change_s} | {err:.2e} | {verdict} |")
    if args.update:
        for name, ratio in ratios.items():
            base[name] = {"ratio": round(ratio, 3), "max_error": measured[name][1]}
        stored["anchor"] = f"skfmm.travel_time {ANCHOR_N}^2 order 2, CPU seconds"
        BASELINE.write_text(json.dumps(stored, indent=2, sort_keys=True) + "\n")
        print(f"\nbaseline updated: {BASELINE}")
        return 0
    slow = [r[0] for r in rows if r[4]]
    if slow:
        print(
            f"\nslower than the baseline by more than {100 * TOLERANCE:.0f} %: {', '.join(slow)}. Find the cause "
            f"(compare with the previous commit in one run); if the slowdown is intended, rerun with --update "
            f"and commit {BASELINE.name} with the change."
        )
        return 1
    if any(r[2] is None for r in rows):
        print(f"\nentries without a baseline are not checked; add them with --update ({BASELINE.name})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
