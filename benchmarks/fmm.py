"""method="fmm" against its anchor, a bare scikit-fmm travel_time call on the same grid and speed.

Langevin double well (V = f - f* in the left well), start radius 0.1. Columns: grid, seconds of
``fw.quasipotential(..., method="fmm")`` (the whole call, best of ``--repeats`` after a warm-up
call), seconds of the bare ``skfmm.travel_time`` call on the same level-set function and speed
(best of ``--repeats``), their ratio, max and RMS error.
Run: python benchmarks/fmm.py [--quick] [--write] [--repeats N]
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import skfmm

# time the checkout this file belongs to, not another installed copy of the package
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import _tables  # noqa: E402

import fwpotential as fw  # noqa: E402
from fwpotential import problems  # noqa: E402

HEADER = ["grid", "fmm seconds", "bare skfmm.travel_time seconds", "ratio", "max error", "RMS error"]


def row(prob, n, repeats):
    g = prob.grid(n)

    def solve():
        return fw.quasipotential(prob.dynamics, g, prob.attractor, method="fmm", radius=0.1)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fw.FWWarning)
        qp = solve()  # warm-up
        t_fmm = _tables.best_of(solve, repeats)[0]
    X = g.points()
    speed = 2.0 / np.maximum(np.linalg.norm(prob.extra["loss"].grad(X), axis=-1), 1e-12)
    phi = np.linalg.norm(X - np.array(prob.attractor), axis=-1) - 0.1
    dx = [float(h) for h in g.spacing]
    t_bare = _tables.best_of(lambda: skfmm.travel_time(phi, speed, dx=dx, order=2), repeats)[0]
    return [f"{n}²", f"{t_fmm:.3f}", f"{t_bare:.3f}", f"{t_fmm / t_bare:.2f}"] + [
        f"{prob.max_error(qp):.2e}",
        f"{prob.rms_error(qp):.2e}",
    ]


def main(argv=None):
    args = _tables.arguments(__doc__.splitlines()[0]).parse_args(argv)
    sizes, repeats = ([129, 257], 1) if args.quick else ([129, 257, 513, 1025], args.repeats)
    prob = problems.langevin_double_well_2d()
    rows = [row(prob, n, repeats) for n in sizes]
    body = f"{_tables.machine(quick=args.quick)}\n\n{_tables.markdown(HEADER, rows)}"
    _tables.emit({"fmm.py:langevin_double_well_2d": body}, args)


if __name__ == "__main__":
    main()
