"""Benchmark of the grid quasi-potential solvers: prints a Markdown table.

Columns: problem, method, grid, K (olim, sweep), seconds (best of 3 after a warm-up call that compiles),
max and RMS error (on nodes at least K cells from the boundary and below the boundary's lowest exact
V, see tests/test_olim.py), observed order (slope of log max error vs log h over the rows of one
entry), sweeps (method="sweep": full cycles of the 2^d orderings). Other solvers append entries to ``ENTRIES``:

    ENTRIES.append(("linear_2d", "sweep", [129, 257, 513], {}))

Run: ``python benchmarks/solvers.py [--quick]`` (``--quick``: only grids up to 257 per side / 33^3).
"""

from __future__ import annotations

import platform
import sys
import time
import warnings

import numpy as np

from fwpotential import problems
from fwpotential.errors import FWWarning
from fwpotential.grid import Attractor
from fwpotential.quasipotential import QuasiPotential

#: (problem name, method, grid sizes per side, options). Options may hold "K": {n: K} per grid.
ENTRIES = [
    ("linear_2d", "olim", [129, 257, 513], {}),
    ("linear_2d", "olim", [1025], {}),  # the 1.2e-4 / 21 s target row (default K = 13)
    ("rotational_2d(kappa=5)", "olim", [129, 257, 513], {}),
    ("limit_cycle_2d", "olim", [129, 257, 513], {}),
    ("linear_3d", "olim", [33, 65, 129], {}),
    ("rotational_3d", "olim", [33, 65, 129], {}),
    # method="sweep" (semi-Lagrangian); the target is within 3x of olim's time at equal error at 513^2
    ("linear_2d", "sweep", [129, 257, 513], {}),
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


def run_one(prob, method, n, options, repeats=3):
    """Returns (seconds best of `repeats`, max error, RMS error, K, sweeps)."""
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
    solve(prob.dynamics, grid, att, **opts)  # warm-up (compilation, caches)
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        values, info = solve(prob.dynamics, grid, att, **opts)
        best = min(best, time.perf_counter() - t)
    qp = QuasiPotential(values, grid, att, method, info)
    margin = int(info.get("K", 1))
    exclude = ~prob.below_boundary(grid)
    return (
        best,
        prob.max_error(qp, margin_cells=margin, exclude=exclude),
        prob.rms_error(qp, margin_cells=margin, exclude=exclude),
        info.get("K", ""),
        info.get("sweeps", ""),
    )


def run(entries=ENTRIES, *, max_n2=None, max_n3=None, repeats=3, out=sys.stdout):
    """Run the entries and print the Markdown table."""
    print(
        f"Machine: {platform.processor() or platform.machine()}, {platform.system()}, Python {platform.python_version()}",
        file=out,
    )
    print("", file=out)
    print("| problem | method | grid | K | seconds | max error | RMS error | observed order | sweeps |", file=out)
    print("|---|---|---|---|---|---|---|---|---|", file=out)
    for name, method, ns, options in entries:
        prob = PROBLEMS[name]()
        d = len(prob.bounds)
        lim = max_n2 if d == 2 else max_n3
        ns = [n for n in ns if lim is None or n <= lim]
        rows = []
        for n in ns:
            rows.append((n,) + run_one(prob, method, n, options, repeats))
            hs = [2.0 / (r[0] - 1) for r in rows]
            order = np.polyfit(np.log(hs), np.log([r[2] for r in rows]), 1)[0] if len(rows) > 1 else float("nan")
            n_, sec, mx, rms, K, sweeps = rows[-1]
            label = method + (f" ({options['scheme']})" if "scheme" in options else "")
            order_s = f"{order:.2f}" if np.isfinite(order) else ""
            print(
                f"| {name} | {label} | {n_}^{d} | {K} | {sec:.2f} | {mx:.2e} | {rms:.2e} | {order_s} | {sweeps} |",
                file=out,
                flush=True,
            )


if __name__ == "__main__":
    if "--quick" in sys.argv:
        run(max_n2=257, max_n3=33, repeats=1)
    else:
        run()
