"""Chain-steps per second of fw.simulate (Numba kernel, all cores) against a vectorised NumPy chain.

Run: python benchmarks/montecarlo.py [--quick] [--write] [--repeats N]   (warm-up call first, best of 3)

1. 2-D polynomial loss f = (x² - 1)² + 2y² + 0.3 x y², SGD with state-dependent Gaussian noise
   a(x) = (0.5 + f(x)) I.
2. Finite sum, linear regression in d = 10 with N = 1000 samples, minibatches of B = 32 (with
   replacement): each step evaluates only the 32 drawn samples' gradients.
The anchor is a plain NumPy loop over steps, vectorised over chains, doing the same update.
Every simulate call is timed whole (seeding, stability check, kernel launches), not just the kernel.

Compile time: the first simulate call of each model in a fresh process, once with empty Numba and
hook caches (a temporary NUMBA_CACHE_DIR and FWPOTENTIAL_CACHE_DIR: the cold compile of the chain
kernel and the model hooks) and once more with those caches filled.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numba
import numpy as np

# time the checkout this file belongs to, not another installed copy of the package
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import _tables  # noqa: E402

import fwpotential as fw  # noqa: E402
from fwpotential.montecarlo import simulate  # noqa: E402

LOOP = {"rate": 0.0}  # best run.info["chain_steps_per_second"]: the stepping loop without the set-up
REPEATS = {"n": 3}  # timed calls after the warm-up (``--repeats``)
THROUGHPUT = [
    "problem",
    "chains × steps",
    "fw.simulate, all threads",
    "fw.simulate, 1 thread",
    "NumPy loop (anchor)",
    "ratio (all / 1 thread)",
    "stepping loop only, all threads",
]
FIRST_CALL = ["first simulate call in a fresh process", "2-D polynomial", "finite sum"]


def best_of(fn, repeat=None):
    repeat = REPEATS["n"] if repeat is None else repeat
    fn()  # warm-up (compilation, caches)
    best = np.inf
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
        if out is not None:
            LOOP["rate"] = max(LOOP["rate"], out.info["chain_steps_per_second"])
    return best


def one_thread(fn):
    """Chain-steps/s of a kernel run with one Numba thread (per-core speed, free of core sharing)."""
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        return fn()
    finally:
        numba.set_num_threads(before)


def poly2d(n_chains=4096, n_steps=2000, gamma=0.02, first_only=False):
    dyn = fw.sgd(fw.Loss.from_expr("(x**2 - 1)**2 + 2*y**2 + 0.3*x*y**2"), noise=fw.IsotropicNoise("0.5 + f"))

    def kernel():
        return simulate(dyn, step_size=gamma, n_steps=n_steps, n_chains=n_chains, x0=[1.0, 0.0], seed=0, progress=False)

    if first_only:
        return kernel()

    def numpy_loop():
        rng = np.random.default_rng(0)
        x = np.ones(n_chains)
        y = np.zeros(n_chains)
        for _ in range(n_steps):
            x2 = x * x
            f = (x2 - 1) ** 2 + 2 * y * y + 0.3 * x * y * y
            gx = 4 * x * (x2 - 1) + 0.3 * y * y
            gy = 4 * y + 0.6 * x * y
            r = np.sqrt(0.5 + f)
            xi = rng.standard_normal((2, n_chains))
            x, y = x - gamma * (gx + r * xi[0]), y - gamma * (gy + r * xi[1])

    n = n_chains * n_steps
    LOOP["rate"] = 0.0
    k = n / best_of(kernel)
    loop = LOOP["rate"]
    return k, n / one_thread(lambda: best_of(kernel)), n / best_of(numpy_loop), loop


def finite_sum(n_chains=1024, n_steps=300, gamma=0.05, N=1000, d=10, B=32, first_only=False):
    rng = np.random.default_rng(1)
    A = rng.standard_normal((N, d))
    w_true = rng.standard_normal(d)
    t = A @ w_true + 0.3 * rng.standard_normal(N)
    names = [f"w{k}" for k in range(d)]
    expr = "(" + " + ".join(f"w{k}*a{k}" for k in range(d)) + " - t)**2 / 2"
    data = {f"a{k}": A[:, k] for k in range(d)} | {"t": t}
    loss = fw.FiniteSum.from_expr(expr, data=data, variables=names)
    dyn = fw.sgd(loss, batch_size=B)

    def kernel():
        return simulate(
            dyn, step_size=gamma, n_steps=n_steps, n_chains=n_chains, x0=np.zeros(d), seed=0, progress=False
        )

    if first_only:
        return kernel()

    def numpy_loop():
        g = np.random.default_rng(0)
        w = np.zeros((n_chains, d))
        for _ in range(n_steps):
            idx = g.integers(0, N, size=(n_chains, B))
            Ab = A[idx]  # (C, B, d)
            r = np.einsum("cbd,cd->cb", Ab, w) - t[idx]
            w -= gamma * np.einsum("cb,cbd->cd", r, Ab) / B

    n = n_chains * n_steps
    LOOP["rate"] = 0.0
    k = n / best_of(kernel)
    loop = LOOP["rate"]
    return k, n / one_thread(lambda: best_of(kernel)), n / best_of(numpy_loop), loop


def first_calls():
    """Seconds of the first simulate call of each benchmark model (compilation or cache loading)."""
    out = []
    for fn in (poly2d, finite_sum):
        t = time.perf_counter()
        fn(n_chains=64, n_steps=10, first_only=True)
        out.append(time.perf_counter() - t)
    return out


def compile_times():
    """First-call seconds in fresh processes: empty caches, then the same caches again."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, NUMBA_CACHE_DIR=os.path.join(tmp, "numba"), FWPOTENTIAL_CACHE_DIR=tmp)
        for _ in range(2):
            cmd = [sys.executable, __file__, "--first-calls"]
            res = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
            rows.append([float(v) for v in res.stdout.split()])
    return rows


def throughput(quick):
    """Rows of the chain-steps-per-second table."""
    sizes = {"poly": (4096, 2000), "fs": (1024, 300)} if not quick else {"poly": (1024, 200), "fs": (256, 50)}
    rows = []
    for name, fn, (chains, steps) in (
        ("2-D polynomial, Gaussian noise a = (0.5 + f) I", poly2d, sizes["poly"]),
        ("finite sum N=1000, B=32, d=10", finite_sum, sizes["fs"]),
    ):
        k, k1, a, loop = fn(n_chains=chains, n_steps=steps)
        rows.append([name, f"{chains} × {steps}", f"{k:.3g}", f"{k1:.3g}", f"{a:.3g}", f"{k / a:.2f} / {k1 / a:.2f}"])
        rows[-1].append(f"{loop:.3g}")
    return rows


def main(argv=None):
    if argv is None and "--first-calls" in sys.argv:
        print(*first_calls())
        return
    args = _tables.arguments(__doc__.splitlines()[0]).parse_args(argv)
    REPEATS["n"] = 1 if args.quick else args.repeats
    head = f"{_tables.machine(quick=args.quick, packages=('numpy', 'numba'))} Numba threads: {numba.get_num_threads()}."
    rows = throughput(args.quick)
    (c2, cs), (w2, ws) = compile_times()
    first = [
        ["empty caches (compiles the kernel and the hook)", f"{c2:.2f} s", f"{cs:.2f} s"],
        ["caches filled", f"{w2:.2f} s", f"{ws:.2f} s"],
    ]
    tables = {
        "montecarlo.py:throughput": f"{head}\n\n{_tables.markdown(THROUGHPUT, rows)}",
        "montecarlo.py:first_call": f"{head}\n\n{_tables.markdown(FIRST_CALL, first)}",
    }
    _tables.emit(tables, args)


if __name__ == "__main__":
    main()
