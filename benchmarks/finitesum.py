"""method="olim" with the exact finite-sum (minibatch) noise against its Gaussian approximation.

SGD on f = (1/N) sum_i f_i with random quadratic samples f_i = a_i (x - u_i)^2/2 + c_i (y - t_i)^2/2
+ r_i x y (fixed seed), batch size 1 with replacement: the same olim solve on the same grid with
``fw.sgd(loss)`` (exact law, tabulated geometric costs) and ``fw.sgd(loss, noise="gaussian")``
(covariance-matched Gaussian, the closed-form midpoint cost). Prints a Markdown table: N, seconds of
each (best of ``--repeats``, after one warm-up solve that compiles the kernels), their ratio, and
max |V_fs - V_gauss| over the nodes where both are finite and V_gauss is below the median (for
information only: the two laws have different quasi-potentials).
Run: python benchmarks/finitesum.py [--quick] [--write] [--repeats N]
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np

# time the checkout this file belongs to, not another installed copy of the package
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import _tables  # noqa: E402

import fwpotential as fw  # noqa: E402

HEADER = [
    "N",
    "grid",
    "finite-sum seconds",
    "Gaussian seconds",
    "ratio",
    "max abs(V_fs - V_gauss) (V_gauss below median)",
]


def finite_sum(N, seed=0):
    """The loss and its minimiser (the mean of quadratics is a quadratic)."""
    rng = np.random.default_rng(seed)
    d = {
        "u": rng.normal(0, 0.5, N),
        "t": rng.normal(0, 0.5, N),
        "a": rng.uniform(0.6, 1.4, N),
        "c": rng.uniform(0.6, 1.4, N),
        "r": rng.uniform(-0.3, 0.3, N),
    }
    Hm = np.array([[d["a"].mean(), d["r"].mean()], [d["r"].mean(), d["c"].mean()]])
    x_star = np.linalg.solve(Hm, [np.mean(d["a"] * d["u"]), np.mean(d["c"] * d["t"])])
    return fw.FiniteSum.from_expr("a*(x - u)**2/2 + c*(y - t)**2/2 + r*x*y", data=d), x_star


def row(N, n, repeats):
    loss, x_star = finite_sum(N)
    grid = fw.Grid([(-2.0, 2.0), (-2.0, 2.0)], (n, n))
    out = {}
    for name, dyn in (("fs", fw.sgd(loss)), ("gauss", fw.sgd(loss, noise="gaussian"))):
        att = fw.Attractor.coerce(x_star, dyn, grid)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", fw.FWWarning)
            out[name] = _tables.best_of(
                lambda dyn=dyn, att=att: fw.quasipotential(dyn, grid, att, method="olim"), repeats
            )
    (t_fs, q_fs), (t_g, q_g) = out["fs"], out["gauss"]
    both = np.isfinite(q_fs.values) & np.isfinite(q_g.values)
    low = both & (q_g.values <= np.median(q_g.values[both]))
    diff = float(np.abs(q_fs.values - q_g.values)[low].max())
    return [N, f"{n}²", f"{t_fs:.2f}", f"{t_g:.2f}", f"{t_fs / t_g:.1f}", f"{diff:.3g}"]


def main(argv=None):
    args = _tables.arguments(__doc__.splitlines()[0]).parse_args(argv)
    Ns, n, repeats = ([4, 17], 65, 1) if args.quick else ([4, 17, 100], 257, args.repeats)
    row(4, 17, 1)  # warm-up: compiles the kernels
    rows = [row(N, n, repeats) for N in Ns]
    body = f"{_tables.machine(quick=args.quick)}\n\n{_tables.markdown(HEADER, rows)}"
    _tables.emit({"finitesum.py:olim_2d": body}, args)


if __name__ == "__main__":
    main()
