"""The grid quasi-potential solvers on the exact problems of ``fwpotential.problems``.

Columns: problem, method, grid, K (the update radius in cells, olim and sweep), seconds (best of
``--repeats`` calls of the solver's ``solve`` after one warm-up call per entry, which compiles or
loads the Numba caches), max and RMS error (on nodes at least K cells from the boundary and below
the boundary's lowest exact V, see tests/test_olim.py), observed order (slope of log max error
against log h over the rows of one entry so far), sweeps (method="sweep": ordered passes plus
cycles of the four orderings).

3-D entries also get a table of the same errors on a fixed interior box (|x_i| <= 1/2 of the
half-width around the box centre, below the boundary's lowest exact V, no K margin): the same
physical region at every grid. The K-cell margin of the main table shrinks as the grid is refined
while the error grows with V along the characteristics, so the main table's 3-D order is biased
low. ``benchmarks/olim3d_one.py N`` runs one 3-D grid and prints both errors, the seconds and the
peak memory.

The anchor, a bare ``skfmm.travel_time`` call (order 2) on a fixed 1025^2 grid, is timed in the
same run and printed above the tables, so that tables from different machines can be compared.

Run: ``python benchmarks/solvers.py [--quick] [--write] [--repeats N] [--3d]`` (``--quick``: grids
up to 257 per side and 33^3, one repeat; ``--3d``: only the 3-D olim entries; ``--write``: rewrite
the tables in docs/benchmarks.md).
"""

from __future__ import annotations

import importlib
import sys
import warnings
from pathlib import Path

import numpy as np
import skfmm

# time the checkout this file belongs to, not another installed copy of the package
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import _tables  # noqa: E402

from fwpotential import METHODS, Attractor, QuasiPotential, problems  # noqa: E402
from fwpotential.errors import FWWarning  # noqa: E402

#: (table, problem name, method, grid sizes per side, options). Options may hold "K": {n: K} per grid.
ENTRIES = [
    ("linear_2d", "linear_2d", "olim", [129, 257, 513, 1025], {}),
    ("linear_2d", "linear_2d", "sweep", [129, 257, 321, 513], {}),
    ("linear_2d", "linear_2d", "sweep", [129, 257, 513], {"scheme": "godunov"}),
    ("rotational_2d", "rotational_2d(kappa=5)", "olim", [129, 257, 513], {}),
    ("rotational_2d", "rotational_2d(kappa=5)", "sweep", [129, 257, 513], {}),
    ("rotational_2d", "rotational_2d(kappa=5)", "sweep", [129, 257, 513], {"scheme": "godunov"}),
    ("other_2d", "limit_cycle_2d", "olim", [129, 257, 513], {}),
    ("other_2d", "limit_cycle_2d", "sweep", [129, 257, 513], {}),
    ("other_2d", "langevin_double_well_2d", "sweep", [129, 257], {}),
    ("3d", "linear_3d", "olim", [17, 33, 65, 129], {}),  # curvature correction on, K = 3 (obliquity 2)
    ("3d", "rotational_3d", "olim", [17, 33, 65, 129], {}),  # K = 5 (obliquity 3.6)
    ("3d", "linear_3d", "olim", [33, 65], {"correction": False}),  # plain linear interpolation
    ("3d", "rotational_3d", "olim", [33, 65], {"correction": False}),
    ("3d", "linear_3d", "sweep", [17, 33], {}),
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
HEADER = ["problem", "method", "grid", "K", "seconds", "max error", "RMS error", "observed order", "sweeps"]
BOX_HEADER = ["problem", "method", "grid", "K", "max error", "RMS error", "order (max)", "order (RMS)"]
ANCHOR_N = 1025
POWER = {2: "²", 3: "³"}


def _solver(method):
    module = METHODS[method]
    return importlib.import_module(module) if isinstance(module, str) else module


def _interior(grid, frac=0.5):
    """Nodes in the centred box of half-width `frac` times the grid's half-widths."""
    c = 0.5 * (grid.lower + grid.upper)
    w = 0.5 * (grid.upper - grid.lower)
    return np.all(np.abs(grid.points() - c) <= frac * w + 1e-12, axis=-1)


def anchor_seconds(repeats=3):
    """Seconds of bare skfmm.travel_time (order 2) on a fixed 1025^2 grid and speed field."""
    x = np.linspace(-1.0, 1.0, ANCHOR_N)
    X, Y = np.meshgrid(x, x, indexing="ij")
    phi = np.hypot(X, Y) - 0.1
    speed = 1.0 + 0.5 * np.sin(3.0 * X) * np.cos(2.0 * Y)
    dx = float(x[1] - x[0])
    return _tables.best_of(lambda: skfmm.travel_time(phi, speed, dx=[dx, dx], order=2), repeats)[0]


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
    best, (values, info) = _tables.best_of(lambda: solve(prob.dynamics, grid, att, **opts), repeats)
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


def _label(method, options):
    label = method + (f" ({options['scheme']})" if "scheme" in options else "")
    return label + (" (plain)" if options.get("correction") is False else "")


def run_entry(name, method, ns, options, repeats):
    """Rows (n, seconds, max, RMS, K, box max, box RMS, sweeps) of one entry, one warm-up first."""
    prob = PROBLEMS[name]()
    # one warm-up per entry (compilation); numba caches the rest
    return [(n,) + run_one(prob, method, n, options, repeats, warmup=i == 0) for i, n in enumerate(ns)]


def run(entries=ENTRIES, *, max_n2=None, max_n3=None, repeats=3):
    """{table key: Markdown} for the entries (3-D entries also in the "3d_box" table)."""
    main, box = {}, []
    for table, name, method, ns, options in entries:
        d = len(PROBLEMS[name]().bounds)
        lim = max_n2 if d == 2 else max_n3
        rows = run_entry(name, method, [n for n in ns if lim is None or n <= lim], options, repeats)
        label = _label(method, options)
        for k, (n, sec, mx, rms, K, bmx, brms, sweeps) in enumerate(rows):
            cells = [name, label, f"{n}{POWER[d]}", K, f"{sec:.2f}", f"{mx:.2e}", f"{rms:.2e}"]
            main.setdefault(table, []).append(cells + [_order(rows[: k + 1], 2), sweeps])
            print("|", " | ".join(map(str, main[table][-1])), "|", file=sys.stderr, flush=True)
            if d == 3:
                sub = rows[: k + 1]
                box.append(
                    [name, label, f"{n}{POWER[d]}", K, f"{bmx:.2e}", f"{brms:.2e}", _order(sub, 5), _order(sub, 6)]
                )
    tables = {f"solvers.py:{key}": _tables.markdown(HEADER, rows) for key, rows in main.items()}
    if box:
        tables["solvers.py:3d_box"] = _tables.markdown(BOX_HEADER, box)
    return tables


def main(argv=None):
    ap = _tables.arguments(__doc__.splitlines()[0])
    ap.add_argument("--3d", dest="only_3d", action="store_true", help="only the 3-D olim entries")
    args = ap.parse_args(argv)
    entries = ENTRIES
    if args.only_3d:
        entries = [e for e in ENTRIES if e[0] == "3d" and e[2] == "olim"]
    limits = {"max_n2": 257, "max_n3": 33} if args.quick else {}
    repeats = 1 if args.quick else args.repeats
    anchor = anchor_seconds()
    tables = run(entries, repeats=repeats, **limits)
    head = (
        f"{_tables.machine(quick=args.quick)} Anchor, bare `skfmm.travel_time` {ANCHOR_N}² (order 2): {anchor:.3f} s."
    )
    _tables.emit({key: f"{head}\n\n{body}" for key, body in tables.items()}, args)


if __name__ == "__main__":
    main()
