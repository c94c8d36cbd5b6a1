"""method="fmm" against its anchor, a bare scikit-fmm travel_time call on the same grid and speed.

Prints a Markdown table: grid, seconds (fmm total, best of 3), seconds of the bare travel_time call
(best of 3), their ratio, max and RMS error on the Langevin double well (V = f - f* in the left well).
Run: python benchmarks/fmm.py [--quick]
"""

from __future__ import annotations

import sys
import time
import warnings

import numpy as np
import skfmm

import fwpotential as fw
from fwpotential import problems


def best_of(fn, k=3):
    t = np.inf
    for _ in range(k):
        t0 = time.perf_counter()
        fn()
        t = min(t, time.perf_counter() - t0)
    return t


def main(sizes):
    prob = problems.langevin_double_well_2d()
    print("| grid | fmm seconds | bare skfmm.travel_time seconds | ratio | max error | RMS error |")
    print("|---|---|---|---|---|---|")
    for n in sizes:
        g = prob.grid(n)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", fw.FWWarning)
            qp = fw.quasipotential(prob.dynamics, g, prob.attractor, method="fmm", radius=0.1)
            t_fmm = best_of(lambda g=g: fw.quasipotential(prob.dynamics, g, prob.attractor, method="fmm", radius=0.1))
        X = g.points()
        speed = 2.0 / np.maximum(np.linalg.norm(prob.extra["loss"].grad(X), axis=-1), 1e-12)
        phi = np.linalg.norm(X - np.array(prob.attractor), axis=-1) - 0.1
        t_bare = best_of(
            lambda phi=phi, speed=speed, g=g: skfmm.travel_time(phi, speed, dx=[float(h) for h in g.spacing], order=2)
        )
        print(
            f"| {n}^2 | {t_fmm:.2f} | {t_bare:.2f} | {t_fmm / t_bare:.2f} | {prob.max_error(qp):.2e} | {prob.rms_error(qp):.2e} |",
            flush=True,
        )


if __name__ == "__main__":
    main([129, 257, 513] if "--quick" in sys.argv else [129, 257, 513, 1025])
