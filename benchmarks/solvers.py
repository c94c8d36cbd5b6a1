"""Benchmark of the grid quasi-potential solvers: prints a Markdown table.

Columns: problem, method, grid, K (olim), seconds (best of 3 after a warm-up call that compiles),
max and RMS error (on nodes at least K cells from the boundary and below the boundary's lowest exact
V, see tests/test_olim.py), observed order (slope of log max error vs log h over the rows of one
entry). Other solvers append entries to ``ENTRIES``:

    ENTRIES.append(("linear_2d", "sweep", [129, 257, 513], {}))

3-D entries also get a second table: the same errors on a fixed interior box (|x_i| <= 1/2 of the
half-width around the box centre, below the boundary's lowest exact V, no K margin), so that every grid is
measured on the same physical region. The K-cell margin of the main table shrinks as the grid is
refined (17^3, K = 5: |x| <= 0.38; 33^3, K = 5: |x| <= 0.69; 129^3, K = 5: |x| <= 0.92; without the curvature correction
K = 7 / 9: |x| <= 0.56 / 0.86), and the error grows with V along the characteristics, so the main
table's 3-D order is biased low. ``benchmarks/olim3d_one.py N`` runs one 3-D grid (e.g. 257^3) and
prints both errors, the seconds and the peak memory.

Run: ``python benchmarks/solvers.py [--quick] [--3d]`` (``--quick``: only grids up to 257 per side /
33^3; ``--3d``: only the 3-D olim entries).
"""

from __future__ import annotations

import platform
import sys
import time
import warnings

import numpy as np

from fwpotential import problems
from fwpotential.errors import FWWarning
from fwpotential.geometry.attractor import Attractor
from fwpotential.solvers.api import QuasiPotential

#: (problem name, method, grid sizes per side, options). Options may hold "K": {n: K} per grid.
ENTRIES = [
    ("linear_2d", "olim", [129, 257, 513], {}),
    ("linear_2d", "olim", [1025], {}),  # the 1.2e-4 / 21 s target row (default K = 13)
    ("rotational_2d(kappa=5)", "olim", [129, 257, 513], {}),
    ("limit_cycle_2d", "olim", [129, 257, 513], {}),
    ("linear_3d", "olim", [17, 33, 65, 129], {}),  # 3-D: curvature correction on, K = 3 (obliquity 2)
    ("rotational_3d", "olim", [17, 33, 65, 129], {}),  # K = 5 (obliquity 3.6)
    ("linear_3d", "olim", [33, 65], {"correction": False}),  # plain linear interpolation, K = 7 / 8
    ("rotational_3d", "olim", [33, 65], {"correction": False}),
    # method="sweep" (semi-Lagrangian); the target is within 3x of olim's time at equal error at 513^2
    # (the sweep reaches olim's 513^2 error at about 321^2)
    ("linear_2d", "sweep", [129, 257, 321, 513], {}),
    ("rotational_2d(kappa=5)", "sweep", [129, 257, 513], {}),
    ("limit_cycle_2d", "sweep", [129, 257, 513], {}),
    ("langevin_double_well_2d", "sweep", [129, 257], {}),
    ("linear_3d", "sweep", [17, 33], {}),
    # method="sweep", scheme="godunov" (on H through the support function of {H <= 0})
    ("linear_2d", "sweep", [129, 257, 513], {"scheme": "godunov"}),
    ("rotational_2d(kappa=5)", "sweep", [129, 257, 513], {"scheme": "godunov"}),
]
# method="fmm" against bare scikit-fmm: benchmarks/fmm.py

PROBLEMS = {
    "linear_2d": problems.linear_2d,
    "rotational_2d(kappa=5)": lambda: problems.rotational_2d(kappa=5.0),
    "limit_cycle_2d": problems.limit_cycle_2d,
    "langevin_double_well_2d": problems.langevin_double_well_2d,
    "linear_3d": problems.linear_3d,
    "rotational_3d": problems.rotational_3d,
}


def _solver(method):
    import importlib

    return importlib.import_module(f"fwpotential.solvers.{method}")


def _interior(grid, frac=0.5):
    """Nodes in the centred box of half-width `frac` times the grid's half-widths."""
    c = 0.5 * (grid.lower + grid.upper)
    w = 0.5 * (grid.upper - grid.lower)
    return np.all(np.abs(grid.points() - c) <= frac * w + 1e-12, axis=-1)


def run_one(prob, method, n, options, repeats=3, warmup=True):
    """Returns (seconds best of `repeats`, max error, RMS error, K, interior max error, interior RMS
    error, sweeps); the interior errors are on the fixed box of `_interior` (same region at every grid)."""
    grid = prob.grid(n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FWWarning)
        att = Attractor.coerce(prob.attractor_for(grid), prob.dynamics, grid)
    solve = _solver(method).solve
    opts = dict(options)
    if isinstance(opts.get("K"), dict):
        K = opts.pop("K").get(n)
        if K is not None:
            opts["K"] = K
    if warmup:
        solve(prob.dynamics, grid, att, **opts)  # warm-up (compilation, caches)
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        values, info = solve(prob.dynamics, grid, att, **opts)
        best = min(best, time.perf_counter() - t)
    qp = QuasiPotential(values, grid, att, method, info)
    margin = int(info.get("K", 1))
    exclude = ~prob.below_boundary(grid)
    outside = exclude | ~_interior(grid)
    return (
        best,
        prob.max_error(qp, margin_cells=margin, exclude=exclude),
        prob.rms_error(qp, margin_cells=margin, exclude=exclude),
        info.get("K", ""),
        prob.max_error(qp, exclude=outside),
        prob.rms_error(qp, exclude=outside),
        info.get("sweeps", ""),
    )


def _order(rows, col):
    if len(rows) < 2:
        return ""
    if max(r[col] for r in rows) < 1e-9:
        return "exact"  # rounding-level errors (linear drift with the 3-D correction): no order
    hs = [2.0 / (r[0] - 1) for r in rows]
    return f"{np.polyfit(np.log(hs), np.log([r[col] for r in rows]), 1)[0]:.2f}"


def run(entries=ENTRIES, *, max_n2=None, max_n3=None, repeats=3, out=sys.stdout):
    """Run the entries and print the Markdown table."""
    print(
        f"Machine: {platform.processor() or platform.machine()}, {platform.system()}, Python {platform.python_version()}",
        file=out,
    )
    print("", file=out)
    print("| problem | method | grid | K | seconds | max error | RMS error | observed order | sweeps |", file=out)
    print("|---|---|---|---|---|---|---|---|---|", file=out)
    interior = []
    for name, method, ns, options in entries:
        prob = PROBLEMS[name]()
        d = len(prob.bounds)
        lim = max_n2 if d == 2 else max_n3
        ns = [n for n in ns if lim is None or n <= lim]
        rows = []
        label = method + (f" ({options['scheme']})" if "scheme" in options else "")
        label += " (plain)" if options.get("correction") is False else ""
        for i, n in enumerate(ns):
            # one warm-up per entry (compilation); numba caches the rest
            rows.append((n,) + run_one(prob, method, n, options, repeats, warmup=i == 0))
            n_, sec, mx, rms, K = rows[-1][:5]
            print(
                f"| {name} | {label} | {n_}^{d} | {K} | {sec:.2f} | {mx:.2e} | {rms:.2e} | {_order(rows, 2)} | {rows[-1][7]} |",
                file=out,
                flush=True,
            )
        if d == 3 and rows:
            interior.append((name, label, d, rows))
    if interior:
        print("", file=out)
        print("3-D, fixed interior box |x_i| <= 0.5 (same region at every grid):", file=out)
        print("", file=out)
        print("| problem | method | grid | K | max error | RMS error | order (max) | order (RMS) |", file=out)
        print("|---|---|---|---|---|---|---|---|", file=out)
        for name, label, d, rows in interior:
            for k, r in enumerate(rows):
                sub = rows[: k + 1]
                print(
                    f"| {name} | {label} | {r[0]}^{d} | {r[4]} | {r[5]:.2e} | {r[6]:.2e} | {_order(sub, 5)} | "
                    f"{_order(sub, 6)} |",
                    file=out,
                )


if __name__ == "__main__":
    entries = ENTRIES
    if "--3d" in sys.argv:
        entries = [e for e in ENTRIES if len(PROBLEMS[e[0]]().bounds) == 3 and e[1] == "olim"]
    if "--quick" in sys.argv:
        run(entries, max_n2=257, max_n3=33, repeats=1)
    else:
        run(entries, repeats=int(sys.argv[sys.argv.index("--repeats") + 1]) if "--repeats" in sys.argv else 3)
