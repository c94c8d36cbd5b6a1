"""fw.fokker_planck on a 2-D Langevin double well: seconds, peak memory and error against Gibbs.

f = (x² - 1)²/4 + y²/2 + x/10 on [-2, 2] x [-1.5, 1.5], Langevin (a = 2I), ε = 0.1: the exact density
is exp(-f/ε)/Z. Each case runs in a fresh process, so the peak resident memory (ru_maxrss) is the
case's own (the import of FiPy, NumPy and SciPy included: see the "import only" row).
Columns: grid, solver, seconds of the solve (FiPy assembly + null vector), peak RSS, max relative
density error where p > 1e-6 max p, max |ε log p - ε log p_exact| there, error in the left basin's mass.
Run: python benchmarks/fokkerplanck.py [--quick]
"""

from __future__ import annotations

import json
import subprocess
import sys

CASE = r"""
import json, resource, sys, time, warnings
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


def run(n, solver):
    r = subprocess.run([sys.executable, "-c", CASE, str(n), solver], capture_output=True, text=True, check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def main(cases):
    base = run(0, "lu")
    print("| grid | solver | seconds | peak RSS (MiB) | max rel. density error | max eps-log error | left-mass error |")
    print("|---|---|---|---|---|---|---|")
    print(f"| (import only) | | | {base['rss'] / 1024:.0f} | | | |")
    for n, solver in cases:
        r = run(n, solver)
        print(
            f"| {n}² | {solver} | {r['seconds']:.2f} | {r['rss'] / 1024:.0f} | {r['rel']:.2e} | {r['log']:.2e} "
            f"| {r['mass']:.1e} |",
            flush=True,
        )


if __name__ == "__main__":
    quick = "--quick" in sys.argv
    cases = (
        [(129, "gth"), (129, "lu"), (257, "lu")]
        if quick
        else [(129, "gth"), (257, "gth"), (129, "lu"), (257, "lu"), (513, "lu")]
    )
    main(cases)
