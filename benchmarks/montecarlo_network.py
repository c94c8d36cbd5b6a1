"""Time and memory per chain-step of fw.simulate(..., network=net) in d = 10, 100, 1000.

Run: python benchmarks/montecarlo_network.py [--quick] [--write] [--repeats N]   (warm-up call first, best of 3)

Langevin (ULA, ε = γ = 0.05) on f(x) = φ(x_0) + ½ Σ_k λ_k x_k², φ(z) = (z² - 1)²/4 + z/20,
λ_k from 1 to 2: a double well along x_0 with quadratic directions, whose gradient costs O(d) per
point. The network is the exact one (attractors, saddle). Columns, per chain-step:

- the chains alone (``fw.simulate`` without a network), NumPy runner (a vectorised callable) and,
  for d <= 100, the compiled kernel (expression loss);
- the same with network labels every k steps: k chosen by ``fw.simulate`` (``run.info["labels"]``)
  and k = 50, with the share of the time spent in the quench labels;
- the anchor: a bare NumPy loop doing the same update, vectorised over chains;
- peak memory traced by ``tracemalloc`` during the labelled NumPy run (NumPy's arrays are traced),
  and the same divided by chains × d (floats of 8 bytes).
Every simulate call is timed whole (seeding, stability check, labels).
"""

from __future__ import annotations

import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

# time the checkout this file belongs to, not another installed copy of the package
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import _tables  # noqa: E402

import fwpotential as fw  # noqa: E402
from fwpotential.analysis.network import TransitionNetwork  # noqa: E402
from fwpotential.montecarlo import simulate  # noqa: E402

GAMMA = 0.05
A, H = 0.25, 0.05
HEADER = [
    "d",
    "chains × steps",
    "chains only, NumPy",
    "chains only, Numba",
    "labelled, k chosen (k)",
    "labelled, k = 50",
    "label share (k chosen / 50)",
    "NumPy loop (anchor)",
    "peak memory (labelled, k = 50)",
    "bytes / (chains × d)",
]


def problem(d, *, expression=False):
    """Langevin on the double well with quadratic directions in d dimensions, and its exact network."""
    lam = np.linspace(1.0, 2.0, d - 1)
    if expression:
        names = [f"w{i}" for i in range(d)]
        quad = " + ".join(f"{0.5 * float(v)!r}*w{i + 1}**2" for i, v in enumerate(lam))
        loss = fw.Loss.from_expr(f"{A}*(w0**2 - 1)**2 + {H}*w0 + {quad}", variables=names)
    else:

        def value(x):
            return A * (x[..., 0] ** 2 - 1) ** 2 + H * x[..., 0] + 0.5 * (lam * x[..., 1:] ** 2).sum(-1)

        def grad(x):
            g0 = 4 * A * x[..., :1] * (x[..., :1] ** 2 - 1) + H
            return np.concatenate([g0, lam * x[..., 1:]], axis=-1)

        def hvp(x, v):
            h0 = 4 * A * (3 * x[..., :1] ** 2 - 1) * v[..., :1]
            return np.concatenate([h0, lam * v[..., 1:]], axis=-1)

        loss = fw.Loss.from_callable(value, dim=d, grad=grad, hvp=hvp, name=f"double well d={d}")
    dyn = fw.langevin(loss)
    roots = np.sort(np.roots([4 * A, 0.0, -4 * A, H]).real)
    phi = A * (roots**2 - 1) ** 2 + H * roots
    e0 = np.eye(d)[0]
    E = phi[[0, 2]] - phi[[0, 2]].min()
    net = TransitionNetwork(
        dynamics=dyn, method="exact", attractors=np.outer(roots[[0, 2]], e0), attractor_values=phi[[0, 2]],
        saddles=roots[1] * e0[None, :], saddle_values=phi[[1]], saddle_joins=np.array([[0, 1]]),
        costs=np.array([[0.0, phi[1] - phi[0]], [phi[1] - phi[2], 0.0]]), cost_errors=np.zeros((2, 2)),
        energies=E, energy_errors=np.zeros(2), ground_states=np.array([int(np.argmin(E))]), near_ties=[],
        tie_tol=1e-9, paths={}, info={},
    )  # fmt: skip
    return dyn, net, lam


def numpy_loop(d, lam, n_chains, n_steps):
    """The anchor: ULA x ← x - γ∇f + √(2γε) ξ, ε = γ, one vectorised update per step."""
    rng = np.random.default_rng(0)
    x = np.zeros((n_chains, d))
    x[:, 0] = 1.0
    s = np.sqrt(2.0) * GAMMA
    for _ in range(n_steps):
        g0 = 4 * A * x[:, :1] * (x[:, :1] ** 2 - 1) + H
        g = np.concatenate([g0, lam * x[:, 1:]], axis=1)
        x = x - GAMMA * g + s * rng.standard_normal((n_chains, d))
    return x


def per_step(seconds, n):
    return f"{seconds / n * 1e6:.3g} µs"


def one_size(d, n_chains, n_steps, repeats):
    """One row of the table (formatted cells)."""
    dyn, net, lam = problem(d)
    x0 = net.attractors[1]
    kw = dict(step_size=GAMMA, n_steps=n_steps, n_chains=n_chains, x0=x0, seed=0, progress=False)
    n = n_chains * n_steps

    def run(dynamics, **extra):
        return simulate(dynamics, **kw, **extra)

    t_np, _ = _timed(lambda: run(dyn, backend="numpy"), repeats)
    if d <= 100:
        dyn_e, _, _ = problem(d, expression=True)
        t_nb, _ = _timed(lambda: run(dyn_e, backend="numba"), repeats)
        numba_cell = per_step(t_nb, n)
    else:
        numba_cell = "not timed (SymPy derivation of the expression in d = 1000)"
    t_auto, r_auto = _timed(lambda: run(dyn, backend="numpy", network=net), repeats)
    t_50, r_50 = _timed(lambda: run(dyn, backend="numpy", network=net, label_every=50), repeats)
    t_loop, _ = _timed(lambda: numpy_loop(d, lam, n_chains, n_steps), repeats)
    tracemalloc.start()
    run(dyn, backend="numpy", network=net, label_every=50)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    k = r_auto.info["labels"]["label_every"]
    share = (
        f"{r_auto.info['labels']['seconds'] / r_auto.info['seconds']:.0%} / "
        f"{r_50.info['labels']['seconds'] / r_50.info['seconds']:.0%}"
    )
    return [
        d, f"{n_chains} × {n_steps}", per_step(t_np, n), numba_cell, f"{per_step(t_auto, n)} ({k})",
        per_step(t_50, n), share, per_step(t_loop, n), f"{peak / 2**20:.1f} MiB", f"{peak / (n_chains * d):.0f}",
    ]  # fmt: skip


def _timed(fn, repeats):
    fn()  # warm-up (compilation, caches)
    return _tables.best_of(fn, repeats)


def main(argv=None):
    args = _tables.arguments(__doc__.splitlines()[0]).parse_args(argv)
    repeats = 1 if args.quick else args.repeats
    sizes = [(10, 64, 400), (100, 64, 400)] if args.quick else [(10, 256, 4000), (100, 256, 2000), (1000, 256, 400)]
    rows = []
    for d, n_chains, n_steps in sizes:
        rows.append(one_size(d, n_chains, n_steps, repeats))
        print(" | ".join(str(c) for c in rows[-1]), file=sys.stderr, flush=True)
    head = _tables.machine(quick=args.quick, packages=("numpy", "numba"))
    _tables.emit({"montecarlo_network.py:per_chain_step": f"{head}\n\n{_tables.markdown(HEADER, rows)}"}, args)


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
