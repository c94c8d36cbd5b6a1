"""min_action_path (gMAM) against exact answers: accuracy, seconds and time per iteration.

- Maier–Stein β = 10 (a = I) from (1, 0) to the saddle (0, 0): |action - 0.340041| and seconds for
  n_points = 50, 100, 200 (target: |error| ≤ 1e-5 in ≤ 1 s);
- the non-reversible double well b = -(I + J)∇U, a = I (``problems.nonreversible_double_well``,
  O(d) Householder rotation and tridiagonal J): relative error of the barrier 2ΔU/σ² and seconds
  for d = 10 … 10⁴ with 100 points (the default two stages: 51 points, then 100), and the
  milliseconds per iteration of one 100-point stage (``refine=False``: its seconds over its
  iterations), which should grow about linearly in d.

- a regression-type finite sum (``problems.regression_double_well``, N = 1000 samples, d = 50): the
  Langevin network, and one SGD path with the exact minibatch law (B = 10), seconds of one call.

Each case: one warm-up call, then the best of ``--repeats`` by ``time.perf_counter``.
Run: python benchmarks/paths.py [--quick] [--write] [--repeats N]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

# time the checkout this file belongs to, not another installed copy of the package
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import _tables  # noqa: E402

import fwpotential as fw  # noqa: E402
from fwpotential import problems  # noqa: E402
from fwpotential.paths.mam import min_action_path  # noqa: E402


def maier_stein_row(n, repeats):
    dyn, minimum, saddle, exact = problems.maier_stein(10.0)
    s = np.linspace(0.0, 1.0, 20)
    init = np.stack([1 - s, 0.3 * np.sin(np.pi * s)], axis=1)  # off the axis, a critical non-minimal path

    def run():
        return min_action_path(dyn, minimum, saddle, n_points=n, init=init)

    run()
    sec, path = _tables.best_of(run, repeats)
    return [n, f"{path.action:.7f}", f"{abs(path.action - exact):.2g}", path.info["iterations"], f"{sec:.3f}"]


def double_well_row(d, repeats):
    dyn, minimum, saddle, exact = problems.nonreversible_double_well(d, seed=0)

    def run():
        return min_action_path(dyn, minimum, saddle, n_points=100)

    run()
    sec, path = _tables.best_of(run, repeats)
    sec1, one = _tables.best_of(lambda: min_action_path(dyn, minimum, saddle, n_points=100, refine=False), repeats)
    return [
        d,
        f"{abs(path.action - exact) / exact:.2g}",
        f"{path.error_estimate / exact:.2g}",
        f"{sec:.2f}",
        one.info["iterations"],
        f"{1e3 * sec1 / one.info['iterations']:.2f}",
        path.converged,
    ]


def finite_sum_rows(n_samples, dim, batch_size):
    """``problems.regression_double_well``: the Langevin network (2 minima, 1 saddle) and one SGD path
    with the exact minibatch law, minimum → saddle, 50 points; one call each (they run for seconds)."""
    loss = problems.regression_double_well(n_samples, dim)
    starts = np.zeros((2, dim))
    starts[:, 0] = [-1.0, 1.0]
    t0 = time.perf_counter()
    net = fw.transition_network(fw.langevin(loss), starts=starts)
    t_net = time.perf_counter() - t0
    t0 = time.perf_counter()
    path = min_action_path(fw.sgd(loss, batch_size=batch_size), net.attractors[0], net.saddles[0], n_points=50)
    t_path = time.perf_counter() - t0
    return [
        [
            f"Langevin network (N = {n_samples}, d = {dim})",
            f"{len(net.attractors)} minima, {len(net.saddles)} saddle",
            f"{t_net:.1f}",
        ],
        [
            f"SGD path, exact minibatch law, B = {batch_size}",
            f"action {path.action:.5f} ± {path.error_estimate:.1g}, converged {path.converged}, "
            f"{path.info['iterations']} iterations",
            f"{t_path:.1f}",
        ],
    ]


def main(argv=None):
    args = _tables.arguments(__doc__.splitlines()[0]).parse_args(argv)
    ns, ds, repeats = (
        ([50, 100], [10, 100], 1) if args.quick else ([50, 100, 200], [10, 100, 1000, 10_000], args.repeats)
    )
    ms = [maier_stein_row(n, repeats) for n in ns]
    dw = [double_well_row(d, repeats) for d in ds]
    machine = _tables.machine(quick=args.quick, packages=("numpy", "scipy"))
    tables = {
        "paths.py:maier_stein": f"{machine}\n\n"
        + _tables.markdown(["n_points", "action", "abs(error)", "iterations", "seconds"], ms),
        "paths.py:double_well": _tables.markdown(
            [
                "d",
                "relative error",
                "error estimate",
                "seconds",
                "iterations (one stage)",
                "ms per iteration",
                "converged",
            ],
            dw,
        ),
    }
    fs = finite_sum_rows(200, 20, 10) if args.quick else finite_sum_rows(1000, 50, 10)
    tables["paths.py:finite_sum"] = _tables.markdown(["case", "result", "seconds"], fs)
    _tables.emit(tables, args)


if __name__ == "__main__":
    main()
