"""Monte Carlo runs of the real discrete algorithms with streaming statistics (theory.md §1, §6).

SGD:       x <- x - γ (∇f(x) + Z),  Z drawn from the noise law (Gaussian with covariance a(x); the
           mean of B drawn samples' gradients for a finite sum; a custom sampler), ε = γ.
Langevin:  the unadjusted Langevin algorithm x <- x - γ ∇f(x) + √(2γε) ξ at temperature ε (default
           ε = γ, the same scaling as SGD: the law concentrates like exp(-f/γ)), the noise N(0, a)
           of the dynamics' law (a = 2I for ``fw.langevin``) scaled by √(ε/γ).
Diffusion: Euler–Maruyama x <- x + γ b(x) + √(γε) σ(x) ξ (default ε = γ; NumPy runner).

Basin statistics come from a landscape's grid (the nearest node's basin, every step) or, in any
dimension, from a transition network: every k steps each chain is labelled by the attractor its
quench of ẋ = b(x) reaches (:class:`~fwpotential.montecarlo.labels.NetworkLabels`; k in
``run.info["labels"]``), memory and time per chain-step linear in d.

This module is the driver: it validates the arguments, builds the model (:mod:`.model`), starts or
resumes the state (:mod:`.runners`, :mod:`.checkpoint`) and advances it per block of steps, where
progress, Ctrl-C and checkpoints are handled. Expression losses and noises run in the Numba chain
kernel over all chains in parallel (:mod:`._kernel`, the model's update printed from SymPy and
compiled per model by :mod:`.codegen`, cached across processes); callables fall back to NumPy, one
vectorised call per step for all chains (``run.info["backend"]``).
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import signal
import threading
import time
import warnings
from typing import NamedTuple

import numba
import numpy as np

from fwpotential import _progress
from fwpotential.errors import FWWarning, InputError
from fwpotential.geometry.equilibria import newton_equilibrium
from fwpotential.montecarlo import checkpoint as _checkpoint
from fwpotential.montecarlo.labels import LABEL_RTOL, Labels, NetworkLabels
from fwpotential.montecarlo.model import ChainModel
from fwpotential.montecarlo.results import STATUS, Exits, Occupation, Run
from fwpotential.montecarlo.runners import (
    NetworkRunner,
    NumbaRunner,
    NumpyRunner,
    append_series,
    fresh_state,
    noise_spread,
)

__all__ = ["simulate", "Run", "Occupation", "Exits", "BACKENDS", "STATUS"]

BACKENDS = ("auto", "numba", "numpy")
DENSE_HESSIAN_DIM = 8  # above: λ_max of the stability check by Lanczos on Hessian-vector products (no d² derivatives)
CHAIN_STEPS_PER_BLOCK = 1 << 21  # steps per kernel call = this // n_chains (fixed: results never depend on timing)


class _Settings(NamedTuple):
    """The validated arguments of :func:`simulate`."""

    gamma: float
    n_steps: int
    n_chains: int
    seed: int
    burn_in: int
    store_every: int | None
    X0: np.ndarray
    bound: float
    grid: object
    block: int


def simulate(
    dynamics,
    *,
    step_size,
    n_steps,
    n_chains,
    x0,
    seed,
    temperature=None,
    landscape=None,
    network=None,
    label_every=None,
    grid=None,
    burn_in=0,
    store_every=None,
    checkpoint=None,
    checkpoint_every=None,
    progress=None,
    bound=None,
    core_radius=0.5,
    backend="auto",
) -> Run:
    """Run ``n_chains`` independent chains of the discrete algorithm for ``n_steps`` steps.

    SGD x ← x - γ(∇f(x) + Z(x)) with Z from the dynamics' noise law; Langevin by the unadjusted
    Langevin algorithm x ← x - γ∇f(x) + √(2γε) ξ (ε = ``temperature``, default γ). theory.md §1, §6.

    Parameters
    ----------
    dynamics : Dynamics
        ``fw.sgd(...)``, ``fw.langevin(...)`` or ``fw.Diffusion(...)`` (Euler–Maruyama
        x ← x + γ b(x) + √(γε) σ(x) ξ, ε = ``temperature``, default γ).
    step_size : float
        γ > 0.
    n_steps, n_chains : int
    x0 : array (d,) or (n_chains, d)
        Starting point(s).
    seed : int
        Chains are seeded by ``np.random.SeedSequence(seed).spawn(n_chains)``: results do not depend
        on the number of threads (NumPy fallback: one generator for all chains).
    temperature : float, optional
        Langevin or diffusion only: ε (default γ).
    landscape : Landscape, optional
        Records occupation of ``landscape.basins`` (nearest node; off the grid: no basin), core-to-core
        transitions and exit times, and the histogram on ``landscape.grid``.
    network : TransitionNetwork, optional
        Instead of a landscape, in any dimension (no grid): every ``label_every`` steps each live
        chain is labelled by the attractor of ``network.attractors`` its quench reaches
        (:class:`~fwpotential.montecarlo.labels.NetworkLabels`; -1, no basin, when none), and the
        run records the same statistics as with a landscape from these labels: occupation (one
        sample per chain and label), core-to-core transitions and exit times (cores: the part of a
        basin less than ``core_radius`` of the way to its saddles). No histogram unless ``grid``
        is given.
    label_every : int, optional
        Steps between labels of a network run (``run.info["labels"]["label_every"]``). Default:
        the largest k for which the noise moves a chain in k steps by at most 1/3 of the gap between
        a core and the saddles (one standard deviation, along the directions to the saddles,
        measured from one-step draws of the real update at the attractors), between 1 and 1000.
        Occupations are unbiased for any k (labels are exact at the labelled steps); the choice
        keeps core entries from being missed between labels and exit times within k steps.
    grid : Grid, optional
        Grid of the visit histogram (default ``landscape.grid``).
    burn_in : int
        Steps not counted in occupation and histogram (exits are tracked from the start).
    store_every : int, optional
        Keep positions every this many steps (memory n_steps/store_every × n_chains × d floats).
    checkpoint : str or path, optional
        ``.npz`` file: resumed from if it exists (same parameters required; a larger ``n_steps``
        extends the run), written atomically every ``checkpoint_every`` steps (default: every 30 s),
        at the end, and on Ctrl-C.
    progress : bool, optional
        A progress bar on stderr, moved per block of steps: by default when stderr is a terminal
        and the run lasts over ~2 s; True always, False never.
    bound : float, optional
        A chain with a non-finite coordinate or |x_i| > bound stops (counted in ``run.status``).
        Default 1e6 (1 + max |x0|).
    core_radius : float
        Cores for exit statistics, as a fraction of the distance to the nearest saddle (network:
        of the way to each saddle of the attractor, in (0, 1)).
    backend : {"auto", "numba", "numpy"}
        "auto": Numba for expression losses/noises, NumPy otherwise (reason in ``info``).

    Returns
    -------
    Run
        With a network, ``counts`` are labelled samples (one per chain every ``label_every`` steps
        after ``burn_in``), exit times are multiples of ``label_every`` steps, ``hist`` is None
        without ``grid``, ``labels_key`` is :func:`~fwpotential.montecarlo.labels.network_key`;
        ``info["labels"]`` holds label_every, the quench's rtol and capture radii, the seconds spent
        labelling and the per-step noise spread behind the default interval.

    Raises
    ------
    InputError
        Bad arguments; a network of another dimension, with no attractor or non-finite points;
        both ``landscape`` and ``network``; ``label_every`` without a network.

    Warns
    -----
    FWWarning
        γ > 2/λ_max(∇²f) at a minimum (the deterministic iteration is unstable there); chains that
        stopped (diverged).
    """
    if backend not in BACKENDS:
        raise InputError(f"unknown backend {backend!r}; choose one of {list(BACKENDS)}")
    st = _settings(
        dynamics, step_size=step_size, n_steps=n_steps, n_chains=n_chains, x0=x0, seed=seed, burn_in=burn_in,
        store_every=store_every, bound=bound, grid=grid, landscape=landscape, network=network,
    )  # fmt: skip
    model = ChainModel(dynamics, st.gamma, temperature, backend)
    if network is not None:
        lab = NetworkLabels(network, dynamics, core_radius)
        labels_info = _label_interval(lab, model, st.gamma, label_every)
    else:
        if label_every is not None:
            raise InputError(
                "label_every= is for network runs (network=...); a landscape labels every step on its grid"
            )
        lab, labels_info = Labels(landscape, core_radius, dynamics.dim), None
    info = {"backend": model.backend, "backend_reason": model.reason, "model": model.description, "bound": st.bound}
    if dynamics.kind != "sgd":
        info["temperature"] = model.temperature
    info["stability"] = _stability(dynamics, st.gamma, landscape if network is None else network, st.X0)
    config = _config(dynamics, st, model, lab, core_radius)
    if labels_info is not None:
        config["label_every"] = labels_info["label_every"]
    state, resumed = _start(st, lab, model, checkpoint, config)
    if resumed:
        info["resumed_from"] = int(state["t"])
    every = (30.0, None) if checkpoint_every is None else (None, _count("checkpoint_every", checkpoint_every, 1))
    runner = _runner(model, lab, st, labels_info)
    t_begin, seconds = _advance(runner, state, st, checkpoint, config, every, progress)
    if labels_info is not None:
        info["labels"] = {**labels_info, "seconds": runner.seconds}
    ends = np.where(state["status"] == 0, st.n_steps, state["stop"])
    done = int(np.clip(ends - t_begin, 0, None).sum())
    info.update(
        seconds=seconds,
        chain_steps_per_second=done / seconds if seconds > 0 and done > 0 else float("nan"),
        threads=numba.get_num_threads() if model.backend == "numba" else 1,
        block_steps=st.block,
        checkpoint=None if checkpoint is None else str(checkpoint),
        core_radius=core_radius,
    )
    status = state["status"].astype(np.int8)
    n_bad = int(np.count_nonzero(status))
    info["n_diverged"] = n_bad
    if n_bad:
        first = int(state["stop"][status != 0].min())
        info["first_stop"] = first
        warnings.warn(
            f"{n_bad} of {st.n_chains} chains stopped (diverged or invalid noise) — first at step {first}; "
            "their statistics up to the stop are kept, see run.status",
            FWWarning,
            stacklevel=2,
        )
    return _result(state, st, lab, info)


def _runner(model, lab, st, labels_info):
    """The Numba or NumPy runner; for a network run, built without basin labels and wrapped in a
    :class:`NetworkRunner` that labels every ``label_every`` steps."""
    cls = NumbaRunner if model.backend == "numba" else NumpyRunner
    if labels_info is None:
        return cls(model, lab, st.grid, st.gamma, st.bound, st.burn_in, st.store_every)
    inner = cls(model, Labels(None, 0.5, model.d), st.grid, st.gamma, st.bound, st.burn_in, st.store_every)
    return NetworkRunner(inner, lab, labels_info["label_every"], st.burn_in)


def _label_interval(lab, model, gamma, label_every):
    """``info["labels"]`` of a network run: the label interval (given, or from the per-step noise
    spread at the attractors, :meth:`NetworkLabels.interval`) and how the labels are made."""
    spread = noise_spread(model, gamma, lab)
    k = lab.interval(spread) if label_every is None else _count("label_every", label_every, 1)
    return {
        "method": "quench", "label_every": k, "chosen": label_every is None, "rtol": LABEL_RTOL,
        "capture_radius": lab.radius.tolist(), "core_radius": lab.core_radius,
        "noise_spread": float(np.max(spread)) if spread.size else 0.0,
    }  # fmt: skip


def _settings(
    dynamics, *, step_size, n_steps, n_chains, x0, seed, burn_in, store_every, bound, grid, landscape, network
):
    """Checked run parameters; x0 broadcast to (n_chains, d); the histogram grid."""
    gamma = _positive("step_size", step_size)
    n_steps = _count("n_steps", n_steps, 0)
    n_chains = _count("n_chains", n_chains, 1)
    burn_in = _count("burn_in", burn_in, 0)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"seed must be a non-negative integer, got {seed!r}")
    store_every = None if store_every is None else _count("store_every", store_every, 1)
    d = dynamics.dim
    X0 = np.asarray(x0, dtype=float)
    if X0.ndim <= 1:
        X0 = np.broadcast_to(X0.reshape(-1), (n_chains, X0.size))
    if X0.shape != (n_chains, d):
        raise InputError(f"x0 must have shape ({d},) or (n_chains, {d}) = ({n_chains}, {d}), got {np.shape(x0)}")
    if not np.all(np.isfinite(X0)):
        raise InputError("x0 must be finite")
    bound = float(1e6 * (1.0 + np.abs(X0).max())) if bound is None else _positive("bound", bound)
    if landscape is not None and network is not None:
        raise InputError("give landscape= (grid basins) or network= (quench labels in any dimension), not both")
    if grid is None and landscape is not None:
        grid = landscape.grid
    if grid is not None and grid.dim != d:
        raise InputError(f"grid is {grid.dim}-D, dynamics {d}-D")
    return _Settings(
        gamma=gamma, n_steps=n_steps, n_chains=n_chains, seed=int(seed), burn_in=burn_in, store_every=store_every,
        X0=X0, bound=bound, grid=grid, block=max(1, CHAIN_STEPS_PER_BLOCK // n_chains),
    )  # fmt: skip


def _config(dynamics, st, model, lab, core_radius):
    """The parameters a checkpoint must match to be resumed."""
    return {
        "dynamics": dynamics.name, "step_size": st.gamma, "n_chains": st.n_chains, "seed": st.seed,
        "dim": dynamics.dim, "temperature": model.temperature, "burn_in": st.burn_in,
        "store_every": st.store_every, "bound": st.bound, "labels": lab.key, "grid": repr(st.grid),
        "backend": model.backend, "core_radius": core_radius,
        "x0": hashlib.sha256(np.ascontiguousarray(st.X0).tobytes()).hexdigest()[:16],
    }  # fmt: skip


def _start(st, lab, model, checkpoint, config):
    """(state to advance, resumed): read from ``checkpoint`` if the file exists (the stored
    trajectory padded to a larger ``n_steps``), else fresh."""
    if checkpoint is None or not os.path.exists(checkpoint):
        return fresh_state(st.X0, st.seed, lab, st.grid, model, store_every=st.store_every, n_steps=st.n_steps), False
    state = _checkpoint.load(checkpoint, config, st.n_steps)
    if st.store_every is not None:
        need = st.n_steps // st.store_every
        if state["traj"].shape[0] < need:
            pad = np.full((need - state["traj"].shape[0], st.n_chains, st.X0.shape[1]), np.nan)
            state["traj"] = np.concatenate([state["traj"], pad])
    return state, True


@contextlib.contextmanager
def _deferred_sigint():
    """Ctrl-C sets a flag checked between blocks (the first time; a second Ctrl-C stops at once,
    the last checkpoint staying valid). Only in the main thread, where signal handlers live."""
    flag = {"set": False}
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def _on_sigint(signum, frame):
        if flag["set"]:
            raise KeyboardInterrupt
        flag["set"] = True

    old_handler = signal.signal(signal.SIGINT, _on_sigint)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, old_handler)


def _advance(runner, state, st, checkpoint, config, every, progress):
    """Advance ``state`` to ``st.n_steps`` per block of steps: series point, progress bar, Ctrl-C,
    checkpoint every ``every`` = (seconds, steps) (one of them None). Returns (first step, seconds)."""
    every_s, every_n = every
    n_steps, block = st.n_steps, st.block
    t_start = time.perf_counter()
    t_begin = int(state["t"])
    last_ckpt_t, last_ckpt_time = t_begin, t_start
    with (
        _deferred_sigint() as interrupted,
        _progress.bar(f"simulate γ={st.gamma:g}", total=n_steps, unit="step", progress=progress),
    ):
        _progress.advance(t_begin)
        while state["t"] < n_steps:
            t = int(state["t"])
            nxt = min(n_steps, (t // block + 1) * block)
            runner.advance(state, t, nxt - t)
            state["t"] = nxt
            if nxt % block == 0:  # series points at fixed steps: the same for resumed runs
                append_series(state, nxt)
            now = time.perf_counter()
            rate = (nxt - t_begin) * st.n_chains / max(now - t_start, 1e-9)
            _progress.advance(nxt - t, text=f"{rate:.3g} chain-steps/s")
            if interrupted["set"]:
                if checkpoint is not None:
                    _checkpoint.save(checkpoint, state, config)
                where = f"; checkpoint {checkpoint}" if checkpoint else ""
                raise KeyboardInterrupt(f"interrupted at step {nxt}{where}")
            due = (every_n is not None and nxt - last_ckpt_t >= every_n) or (
                every_s is not None and now - last_ckpt_time >= every_s
            )
            if checkpoint is not None and nxt < n_steps and due:
                _checkpoint.save(checkpoint, state, config)
                last_ckpt_t, last_ckpt_time = nxt, now
    if checkpoint is not None:
        _checkpoint.save(checkpoint, state, config)
    return t_begin, time.perf_counter() - t_start


def _result(state, st, lab, info):
    """The :class:`Run` of a finished state (the last series point at n_steps when it is not a
    block end)."""
    n_steps, block, m = st.n_steps, st.block, lab.m
    status = state["status"].astype(np.int8)
    stopped = np.where(status == 0, n_steps, state["stop"])
    partial = n_steps % block != 0
    series_steps = state["series_steps"] + ([n_steps] if partial else [])
    series = state["series"] + ([state["counts"].sum(axis=0).tolist()] if partial else [])

    def stat(key):
        return state[key].copy() if m else None

    return Run(
        positions=state["X"].copy(),
        status=status,
        stopped_at=stopped.astype(np.int64),
        step_size=st.gamma,
        n_steps=n_steps,
        n_chains=st.n_chains,
        seed=st.seed,
        burn_in=st.burn_in,
        counts=stat("counts"),
        transitions=stat("trans"),
        tau_sum=stat("tau_sum"),
        tau_sq=stat("tau_sq"),
        core=stat("cur"),
        core_entry=stat("entry"),
        hist=state["hist"].reshape(st.grid.shape).copy() if st.grid is not None else None,
        hist_grid=st.grid,
        series_steps=np.asarray(series_steps, dtype=np.int64),
        series=np.asarray(series, dtype=np.int64).reshape(-1, m + 1),
        trajectory=state["traj"][: n_steps // st.store_every].copy() if st.store_every else None,
        store_every=st.store_every,
        labels_key=lab.key,
        info=info,
    )


def _positive(name, v):
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a positive number, got {v!r}") from None
    if not (f > 0 and math.isfinite(f)):
        raise InputError(f"{name} must be a positive finite number, got {v!r}")
    return f


def _count(name, v, lo):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
        raise InputError(f"{name} must be an integer >= {lo}, got {v!r}")
    return int(v)


def _lambda_max(loss, x):
    """Largest eigenvalue of ∇²f(x): dense up to DENSE_HESSIAN_DIM, else Lanczos on Hessian-vector
    products (memory and time per product linear in d)."""
    d = x.shape[-1]
    if d <= DENSE_HESSIAN_DIM:
        return float(np.max(np.linalg.eigvalsh(np.atleast_2d(loss.hess(x)))))
    from scipy.sparse.linalg import LinearOperator, eigsh

    op = LinearOperator((d, d), matvec=lambda v: loss.hvp(x, np.ravel(v)), dtype=float)
    return float(eigsh(op, k=1, which="LA", tol=1e-3, return_eigenvectors=False)[0])


def _stability(dyn, gamma, land, X0):
    """λ_max(∇²f) at the minima (the landscape's or network's attractors, or for d <= DENSE_HESSIAN_DIM
    the minimum Newton finds from x0; none otherwise: Newton's dense Jacobians cost O(d²) memory)."""
    if land is not None:
        mins = np.atleast_2d(np.asarray(land.attractors, dtype=float))
    elif dyn.dim > DENSE_HESSIAN_DIM:
        mins = np.zeros((0, dyn.dim))
    else:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FWWarning)
                xs, ok = newton_equilibrium(dyn, X0[0])
        except Exception:  # noqa: BLE001 - only a diagnostic
            ok = False
        mins = np.atleast_2d(xs) if ok else np.zeros((0, dyn.dim))
    out = []
    for x in mins:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FWWarning)  # finite-difference Hessians of callables
                lam = _lambda_max(dyn.loss, x)
        except Exception:  # noqa: BLE001
            continue
        if lam <= 0:
            continue
        rec = {"minimum": x.tolist(), "lambda_max": lam, "limit": 2.0 / lam, "stable": bool(gamma < 2.0 / lam)}
        out.append(rec)
        if not rec["stable"]:
            warnings.warn(
                f"step_size={gamma:g} exceeds the stability limit 2/λ_max(∇²f) = {2.0 / lam:.4g} at the minimum "
                f"{np.round(x, 6)}: the deterministic iteration does not converge there",
                FWWarning,
                stacklevel=3,
            )
    return out
