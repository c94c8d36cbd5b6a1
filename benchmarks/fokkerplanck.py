"""fw.fokker_planck on a 2-D Langevin double well: seconds, peak memory and error against Gibbs.

f = (x² - 1)²/4 + y²/2 + x/10 on [-2, 2] x [-1.5, 1.5], Langevin (a = 2I), ε = 0.1: the exact density
is exp(-f/ε)/Z. Each case runs in a fresh process, so the peak resident memory (ru_maxrss) is the
case's own (the import of FiPy, NumPy and SciPy included: see the "import only" row).
Columns: grid, solver, seconds of the solve (FiPy assembly + null vector), peak RSS, max relative
density error where p > 1e-6 max p, max |ε log p - ε log p_exact| there, error in the left basin's mass.
Run: python benchmarks/fokkerplanck.py [--quick] [--write]
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

# time the checkout this file belongs to, not another installed copy of the package
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import _tables  # noqa: E402

CASE = r"""
import json, resource, sys, time, warnings
sys.path.insert(0, sys.argv[3])
import numpy as np
import fwpotential as fw
n, solver = int(sys.argv[1]), sys.argv[2]
out = {"rss0": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}
if n:
    loss = fw.Loss.from_expr("(x**2 - 1)**2/4 + y**2/2 + x/10")
    dyn, eps = fw.langevin(loss), 0.1
    g = fw.Grid([(-2, 2), (-1.5, 1.5)], (n, n))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        fp = fw.fokker_planck(dyn, g, eps, solver=solver)
        out["seconds"] = time.perf_counter() - t0
    X = g.points()
    fx = loss.value(X)
    ex = np.exp(-(fx - fx.min()) / eps)
    ex /= ex.sum() * float(np.prod(g.spacing))
    m = ex > 1e-6 * ex.max()
    out["rel"] = float(np.max(np.abs(fp.density[m] / ex[m] - 1)))
    out["log"] = float(np.max(np.abs(eps * np.log(fp.density[m] / ex[m]))))
    left = X[..., 0] < 0
    vol = float(np.prod(g.spacing))
    out["mass"] = float(abs(fp.density[left].sum() - ex[left].sum()) * vol)
out["rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps(out))
"""


HEADER = [
    "grid",
    "solver",
    "seconds",
    "peak RSS (MiB)",
    "max rel. density error",
    "max eps-log error",
    "left-mass error",
]


def run(n, solver):
    cmd = [sys.executable, "-c", CASE, str(n), solver, str(ROOT)]
    r = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def row(n, solver):
    r = run(n, solver)
    mib = f"{r['rss'] / 1024:.0f}"
    return [f"{n}²", solver, f"{r['seconds']:.2f}", mib, f"{r['rel']:.2e}", f"{r['log']:.2e}", f"{r['mass']:.1e}"]


def main(argv=None):
    args = _tables.arguments(__doc__.splitlines()[0], repeats=1).parse_args(argv)
    cases = [(129, "gth"), (129, "lu"), (257, "lu")]
    if not args.quick:
        cases = [(129, "gth"), (257, "gth"), (129, "lu"), (257, "lu"), (513, "lu")]
    base = run(0, "lu")
    rows = [["(import only)", "", "", f"{base['rss'] / 1024:.0f}", "", "", ""]] + [row(n, s) for n, s in cases]
    machine = _tables.machine(quick=args.quick, packages=("numpy", "scipy", "fipy"))
    _tables.emit({"fokkerplanck.py:double_well_2d": f"{machine}\n\n{_tables.markdown(HEADER, rows)}"}, args)


if __name__ == "__main__":
    main()
