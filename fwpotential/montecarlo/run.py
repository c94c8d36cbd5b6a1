"""Monte Carlo runs of the real discrete algorithms with streaming statistics (theory.md §1, §6).

SGD:       x <- x - γ (∇f(x) + Z),  Z drawn from the noise law (Gaussian with covariance a(x); the
           mean of B drawn samples' gradients for a finite sum; a custom sampler), ε = γ.
Langevin:  the unadjusted Langevin algorithm x <- x - γ ∇f(x) + √(2γε) ξ at temperature ε (default
           ε = γ, the same scaling as SGD: the law concentrates like exp(-f/γ)).

Expression losses and noises run in a Numba kernel over all chains in parallel (:mod:`._chains`:
blocks of chains, the model's update printed from SymPy and compiled per model, cached across
processes); callables fall back to NumPy, one vectorised call per step for all chains
(``run.info["backend"]``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import signal
import threading
import time
import warnings
import zipfile
from dataclasses import dataclass, field

import numba
import numpy as np

from fwpotential import _progress
from fwpotential.errors import FWWarning, InputError, NonFiniteError
from fwpotential.geometry.grid import Grid
from fwpotential.model.noise import psd_sqrt
from fwpotential.montecarlo import _chains as _k

__all__ = ["simulate", "Run", "Occupation", "Exits", "BACKENDS", "STATUS"]

BACKENDS = ("auto", "numba", "numpy")
STATUS = {0: "ran to the end", 1: "diverged (non-finite or left the box |x_i| <= bound)", 2: "negative noise variance"}
CHAIN_STEPS_PER_BLOCK = 1 << 21  # steps per kernel call = this // n_chains (fixed: results never depend on timing)


# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, repr=False)
class Occupation:
    """Fraction of (post burn-in) steps spent in each basin of the deterministic flow.

    Attributes
    ----------
    fractions : ndarray (m + 1,)
        Per attractor basin; the last entry is time with no basin (label -1 or off the grid).
    se : ndarray (m + 1,)
        Standard errors from the spread between chains (batch means, one batch per chain).
    n_chains : int
        Chains contributing.
    steps : int
        Chain-steps counted.
    series_steps, series : ndarray (k,), (k, m + 1)
        Cumulative counts over all chains at the end of each block of steps: the time series.
    per_chain : ndarray (n_chains, m + 1)
        Counted steps per chain and basin.
    """

    fractions: np.ndarray
    se: np.ndarray
    n_chains: int
    steps: int
    series_steps: np.ndarray
    series: np.ndarray
    per_chain: np.ndarray

    def log_ratio(self, i, j):
        """log(P_i / P_j) and its standard error (delta method over chains); ±inf when a basin was never visited."""
        return _log_ratio(self.per_chain, i, j)

    def __repr__(self):
        parts = ", ".join(f"{p:.4g}±{s:.2g}" for p, s in zip(self.fractions, self.se))
        return f"Occupation([{parts}], chains={self.n_chains}, steps={self.steps:.3g})"


@dataclass(frozen=True, repr=False)
class Exits:
    """Core-to-core transitions (milestoning) and mean exit times from each basin.

    An exit from basin i is counted when a chain that last visited the core of attractor i (nodes of
    basin i within ``core_radius`` × the distance to the nearest saddle or other attractor) enters
    the core of another attractor j; its exit time runs from the entry into core i.

    The mean exit time to report is ``rate_time``: it counts the chains still waiting at the end.
    ``mean_time`` averages completed exits only and is biased low under censoring (a chain that
    leaves during the run left early), badly so when most chains never leave.

    Attributes
    ----------
    counts : ndarray (m, m)
        counts[i, j]: transitions i → j over all chains.
    n_exits : ndarray (m,)
    rate_time, rate_se : ndarray (m,)
        Mean exit time in units of t = n γ (steps × step size), exponential maximum-likelihood
        (censoring-aware) estimate: total residence time after core entries, completed and still
        running, divided by the number of exits; SE = value/√n. NaN where no exit happened.
    mean_time, se_time : ndarray (m,)
        Mean over completed exits only, and its standard error (units of t); biased low under
        censoring. NaN where no exit happened.
    mean_steps : ndarray (m,)
        ``mean_time`` in steps.
    censored : ndarray (m,)
        Chains still in (the last core of) each basin at the end: counted in ``rate_time``, not in
        ``mean_time``.
    """

    counts: np.ndarray
    n_exits: np.ndarray
    mean_time: np.ndarray
    se_time: np.ndarray
    mean_steps: np.ndarray
    censored: np.ndarray
    rate_time: np.ndarray
    rate_se: np.ndarray

    def __repr__(self):
        parts = ", ".join(
            f"{t:.4g}±{s:.2g} (n={n}, {c} waiting)"
            for t, s, n, c in zip(self.rate_time, self.rate_se, self.n_exits, self.censored)
        )
        return f"Exits(mean exit times [{parts}])"


@dataclass(frozen=True, repr=False)
class Run:
    """Result of :func:`simulate`: final state and streaming statistics.

    Attributes
    ----------
    positions : ndarray (n_chains, d)
        Final positions (the first non-admissible iterate for chains that stopped).
    status : ndarray (n_chains,)
        0 ran to the end, 1 diverged (NaN/inf or left the box ``|x_i| <= bound``), 2 negative
        noise variance (see ``STATUS``). Stopped chains keep their statistics up to the stop.
    stopped_at : ndarray (n_chains,)
        Step at which each chain stopped (``n_steps`` for chains that ran to the end).
    step_size, n_steps, n_chains, seed, burn_in : run parameters
    counts : ndarray (n_chains, m + 1) or None
        Steps per basin (last column: no basin) after burn-in, per chain.
    transitions : ndarray (n_chains, m, m) or None
    tau_sum, tau_sq : ndarray (n_chains, m) or None
        Sums of exit times (steps) and of their squares, per chain and origin basin.
    core, core_entry : ndarray (n_chains,) or None
        Last core visited per chain (-1: none yet) and the step it was entered.
    hist, hist_grid : ndarray (grid shape) of int, Grid, or None
        Visit counts of the nearest grid node after burn-in.
    series_steps, series : block-end steps and cumulative occupation counts (k, m + 1)
    trajectory : ndarray (n_stored, n_chains, d) or None
        Positions every ``store_every`` steps (row k: after step (k + 1) store_every; NaN after a stop).
    info : dict
        backend ("numba" or "numpy") and why, model, seconds, chain_steps_per_second, threads,
        stability (per minimum: λ_max, 2/λ_max), n_diverged, bound, checkpoint, resumed_from.
    """

    positions: np.ndarray
    status: np.ndarray
    stopped_at: np.ndarray
    step_size: float
    n_steps: int
    n_chains: int
    seed: int
    burn_in: int
    counts: np.ndarray | None
    transitions: np.ndarray | None
    tau_sum: np.ndarray | None
    tau_sq: np.ndarray | None
    core: np.ndarray | None
    core_entry: np.ndarray | None
    hist: np.ndarray | None
    hist_grid: Grid | None
    series_steps: np.ndarray
    series: np.ndarray
    trajectory: np.ndarray | None
    store_every: int | None
    labels_key: str | None
    info: dict = field(default_factory=dict)

    @property
    def n_diverged(self) -> int:
        """Chains stopped before the end (status != 0)."""
        return int(np.count_nonzero(self.status))

    def _check_land(self, land):
        if self.counts is None:
            raise InputError("this run recorded no basin statistics; pass landscape=land to fw.simulate")
        if land is not None and _labels_key(land) != self.labels_key:
            raise InputError("the landscape differs from the one this run was recorded with (basin map or attractors)")

    def occupation(self, land=None) -> Occupation:
        """Fraction of time per basin with standard errors (batch means over chains)."""
        self._check_land(land)
        a = self.counts.astype(float)
        n = a.sum(axis=1)
        use = n > 0
        a, n = a[use], n[use]
        C = len(n)
        if C == 0:
            raise InputError(self._why_nothing_counted())
        p = a.sum(0) / n.sum()
        nbar = n.mean()
        se = np.sqrt(np.sum((a - p * n[:, None]) ** 2, axis=0) / (C * max(C - 1, 1))) / nbar
        return Occupation(p, se, C, int(n.sum()), self.series_steps.copy(), self.series.copy(), a)

    def _why_nothing_counted(self):
        if self.burn_in >= self.n_steps:
            return f"no steps were counted: burn_in={self.burn_in} >= n_steps={self.n_steps}; give burn_in < n_steps"
        early = int(np.count_nonzero((self.status != 0) & (self.stopped_at <= self.burn_in)))
        limits = [s["limit"] for s in self.info.get("stability", []) if np.isfinite(s.get("limit", np.nan))]
        advice = (
            f"the stability limit 2/λ_max of SGD at the minima is {min(limits):.3g}; "
            if limits
            else "the chains left every bounded region; "
        )
        return (
            f"no steps were counted: {early} of {self.n_chains} chains diverged (NaN/inf or |x| > bound) before "
            f"the end of burn_in={self.burn_in}, at step_size={self.step_size:g}; {advice}"
            "use a smaller step_size, or start the chains (x0) closer to the minima"
        )

    def exits(self, land=None) -> Exits:
        """Transition counts and mean exit times (units of t = n γ; censoring-aware ``rate_time``)."""
        self._check_land(land)
        counts = self.transitions.sum(axis=0)
        n = counts.sum(axis=1)
        s1, s2 = self.tau_sum.sum(axis=0), self.tau_sq.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(n > 0, s1 / np.maximum(n, 1), np.nan)
            var = np.where(n > 1, (s2 / np.maximum(n, 1) - mean**2) * n / np.maximum(n - 1, 1), np.nan)
            se = np.sqrt(np.maximum(var, 0.0) / np.maximum(n, 1))
        se = np.where(n > 1, se, np.nan)
        m = counts.shape[0]
        alive = self.status == 0
        censored = np.array([np.count_nonzero(alive & (self.core == i)) for i in range(m)])
        running = np.array([np.sum((self.stopped_at - self.core_entry)[self.core == i]) for i in range(m)], dtype=float)
        with np.errstate(invalid="ignore", divide="ignore"):
            rate = np.where(n > 0, (s1 + running) / np.maximum(n, 1), np.nan)
            rate_se = rate / np.sqrt(np.maximum(n, 1))
        g = self.step_size
        return Exits(counts, n, mean * g, se * g, mean, censored, rate * g, rate_se * g)

    def histogram(self, grid=None) -> np.ndarray:
        """Visit counts (after burn-in) of the nearest node of ``grid`` (default: the run's grid).

        A different grid needs a stored trajectory (``store_every``); counts then come from it."""
        if grid is None or (self.hist_grid is not None and _same_grid(grid, self.hist_grid)):
            if self.hist is None:
                raise InputError("this run recorded no histogram; pass grid= (or landscape=) to fw.simulate")
            return self.hist.copy()
        if self.trajectory is None:
            raise InputError(
                f"this run's histogram is on {self.hist_grid!r}; for another grid store positions (store_every=)"
            )
        k0 = self.burn_in // self.store_every
        pts = self.trajectory[k0:].reshape(-1, self.trajectory.shape[-1])
        pts = pts[np.all(np.isfinite(pts), axis=1)]
        idx = _node_index_np(pts, grid)
        return np.bincount(idx[idx >= 0], minlength=grid.size).reshape(grid.shape)

    def __repr__(self):
        occ = ""
        if self.counts is not None:
            occ = ", occupation " + np.array2string(self.occupation().fractions, precision=3)
        return (
            f"Run(γ={self.step_size:g}, {self.n_chains} chains × {self.n_steps} steps, "
            f"{self.n_diverged} diverged, backend={self.info.get('backend')}{occ})"
        )


def _log_ratio(a, i, j):
    """log(Σa_i / Σa_j) with the delta-method standard error over chains."""
    ai, aj = a[:, i], a[:, j]
    Si, Sj = ai.sum(), aj.sum()
    if Si <= 0 or Sj <= 0:
        return -np.inf if Si <= 0 else np.inf, np.inf
    C = len(ai)
    r = ai / Si - aj / Sj  # influence of each chain on log Si - log Sj
    se = math.sqrt(C / max(C - 1, 1) * np.sum((r - r.mean()) ** 2))
    return math.log(Si / Sj), se


def _same_grid(a, b):
    return tuple(a.bounds) == tuple(b.bounds) and tuple(a.shape) == tuple(b.shape)


def _node_index_np(x, grid):
    """Nearest-node flat index of points (n, d) on ``grid``; -1 beyond half a cell outside."""
    r = (x - grid.lower) / grid.spacing
    shape = np.array(grid.shape)
    inside = np.all((r >= -0.5) & (r < shape - 0.5), axis=1)
    k = np.floor(np.where(inside[:, None], r, 0.0) + 0.5).astype(np.int64)
    flat = np.ravel_multi_index(tuple(k.T), grid.shape) if len(k) else np.zeros(0, np.int64)
    return np.where(inside, flat, -1)


def _labels_key(land):
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(np.asarray(land.basins, dtype=np.int64)).tobytes())
    h.update(np.ascontiguousarray(np.asarray(land.attractors, dtype=float)).tobytes())
    h.update(repr(land.grid).encode())
    return h.hexdigest()[:16]


def core_labels(land, core_radius=0.5):
    """Grid map of attractor cores: label k on nodes of basin k within ``core_radius`` × (distance
    from attractor k to its nearest saddle or other attractor), -1 elsewhere."""
    pts = land.grid.points().reshape(-1, land.grid.dim)
    basins = np.asarray(land.basins).reshape(-1)
    att = np.atleast_2d(np.asarray(land.attractors, dtype=float))
    sad = np.atleast_2d(np.asarray(getattr(land, "saddles", np.zeros((0, att.shape[1]))), dtype=float)).reshape(
        -1, att.shape[1]
    )
    cores = np.full(basins.shape, -1, dtype=np.int64)
    for k, a in enumerate(att):
        others = [np.linalg.norm(sad - a, axis=1)] if len(sad) else []
        if len(att) > 1:
            others.append(np.linalg.norm(np.delete(att, k, axis=0) - a, axis=1))
        dist = min((o.min() for o in others), default=np.inf)
        if not np.isfinite(dist):
            dist = float(np.max(land.grid.upper - land.grid.lower))
        r = core_radius * dist
        near = (basins == k) & (np.linalg.norm(pts - a, axis=1) <= max(r, 0.51 * float(np.max(land.grid.spacing))))
        cores[near] = k
    return cores


# ---------------------------------------------------------------------------------------------
class _Model:
    """What the kernel needs from the dynamics: the law's compiled form, hook source, constants; or
    the NumPy fallback's pieces."""

    def __init__(self, dyn, step_size, temperature, backend):
        self.dyn, self.d = dyn, dyn.dim
        if dyn.kind not in ("sgd", "langevin"):
            raise InputError(
                f"fw.simulate runs SGD or Langevin dynamics, got kind={dyn.kind!r}; build it with fw.sgd(...) or fw.langevin(...)"
            )
        if dyn.loss is None:
            raise InputError("fw.simulate needs the loss of the dynamics (b = -∇f)")
        if temperature is not None and dyn.kind != "langevin":
            raise InputError("temperature= is for Langevin dynamics; SGD's noise level is its step size")
        eps = step_size if temperature is None else float(temperature)
        if not (eps > 0 and math.isfinite(eps)):
            raise InputError(f"temperature must be a positive number, got {temperature!r}")
        self.temperature = eps
        noise = dyn.noise
        self.form = noise.compiled_form()
        self.minibatch = self.form is not None and self.form.kind == "minibatch"
        self.factor = 1.0
        self.data = np.zeros((1, 1))
        self.batch = 0
        if dyn.kind == "langevin":
            # x - γ∇f + √(2γε) ξ = x - γ(∇f + factor L ξ) with L Lᵀ = a (2I), factor = √(ε/γ)
            self.factor = math.sqrt(eps / step_size)
            self.description = f"ULA, temperature ε={eps:g}"
        elif self.minibatch:
            self.batch = self.form.draws
            self.description = noise.describe()
        else:
            self.factor = 1.0 / math.sqrt(self.form.draws if self.form is not None else 1)
            self.description = noise.describe()
        self.backend, self.reason, self.kernel = "numpy", "", None
        if backend == "numpy":
            self.reason = "backend='numpy' requested"
            return
        try:
            self._compile()
            self.backend = "numba"
        except _k.Unsupported as exc:
            if backend == "numba":
                raise InputError(
                    f"backend='numba' cannot compile this model: {exc}; use backend='auto' or 'numpy'"
                ) from None
            self.reason = f"NumPy fallback (one vectorised call per step for all chains): {exc}"

    def _compile(self):
        loss, form = self.dyn.loss, self.form
        fastmath = False
        if self.minibatch:
            self.nb = _k.SUM_NB
            replace = form.replace
            src, self.data = _k.memo_source(
                loss, ("sum", self.nb, replace), lambda: _k.finite_sum_block_source(loss, self.nb, replace)
            )
            fastmath = _k.SUM_FASTMATH
        else:
            self.nb = _k.GAUSS_NB
            if form is None:
                why = "a Python sampler, or a callable or matrix-field covariance"
                raise _k.Unsupported(f"{self.dyn.noise.describe()} has no compiled form ({why})")
            if form.kind == "constant":
                L = psd_sqrt(form.covariance)
                key = ("L", self.nb, L.tobytes())
                src = _k.memo_source(loss, key, lambda: _k.gaussian_block_source(loss, self.nb, L=L))
            else:
                s_expr = form.variance
                src = _k.memo_source(
                    loss,
                    ("s", self.nb, str(s_expr)),
                    lambda: _k.gaussian_block_source(loss, self.nb, scalar_expr=s_expr),
                )
        self.source = src
        self.block = _k.compile_block(src, fastmath)
        self.kernel = _k.chain_kernel()
        self.data = np.ascontiguousarray(self.data, dtype=float)


# ---------------------------------------------------------------------------------------------
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
        ``fw.sgd(...)`` or ``fw.langevin(...)``.
    step_size : float
        γ > 0.
    n_steps, n_chains : int
    x0 : array (d,) or (n_chains, d)
        Starting point(s).
    seed : int
        Chains are seeded by ``np.random.SeedSequence(seed).spawn(n_chains)``: results do not depend
        on the number of threads (NumPy fallback: one generator for all chains).
    temperature : float, optional
        Langevin only: ε (default γ).
    landscape : Landscape, optional
        Records occupation of ``landscape.basins`` (nearest node; off the grid: no basin), core-to-core
        transitions and exit times, and the histogram on ``landscape.grid``.
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
        Cores for exit statistics, as a fraction of the distance to the nearest saddle.
    backend : {"auto", "numba", "numpy"}
        "auto": Numba for expression losses/noises, NumPy otherwise (reason in ``info``).

    Returns
    -------
    Run

    Warns
    -----
    FWWarning
        γ > 2/λ_max(∇²f) at a minimum (the deterministic iteration is unstable there); chains that
        stopped (diverged).
    """
    if backend not in BACKENDS:
        raise InputError(f"unknown backend {backend!r}; choose one of {list(BACKENDS)}")
    gamma = _positive("step_size", step_size)
    n_steps = _count("n_steps", n_steps, 0)
    n_chains = _count("n_chains", n_chains, 1)
    burn_in = _count("burn_in", burn_in, 0)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"seed must be a non-negative integer, got {seed!r}")
    seed = int(seed)
    store_every = None if store_every is None else _count("store_every", store_every, 1)
    model = _Model(dynamics, gamma, temperature, backend)
    d = dynamics.dim
    X0 = np.asarray(x0, dtype=float)
    if X0.ndim <= 1:
        X0 = np.broadcast_to(X0.reshape(-1), (n_chains, X0.size))
    if X0.shape != (n_chains, d):
        raise InputError(f"x0 must have shape ({d},) or (n_chains, {d}) = ({n_chains}, {d}), got {np.shape(x0)}")
    if not np.all(np.isfinite(X0)):
        raise InputError("x0 must be finite")
    bound = float(1e6 * (1.0 + np.abs(X0).max())) if bound is None else _positive("bound", bound)
    if grid is None and landscape is not None:
        grid = landscape.grid
    if grid is not None and grid.dim != d:
        raise InputError(f"grid is {grid.dim}-D, dynamics {d}-D")
    info = {"backend": model.backend, "backend_reason": model.reason, "model": model.description, "bound": bound}
    if dynamics.kind == "langevin":
        info["temperature"] = model.temperature
    info["stability"] = _stability(dynamics, gamma, landscape, X0)

    lab = _Labels(landscape, core_radius, d)
    config = {
        "dynamics": dynamics.name, "step_size": gamma, "n_chains": n_chains, "seed": seed, "dim": d,
        "temperature": model.temperature, "burn_in": burn_in, "store_every": store_every, "bound": bound,
        "labels": lab.key, "grid": repr(grid), "backend": model.backend, "core_radius": core_radius,
        "x0": hashlib.sha256(np.ascontiguousarray(X0).tobytes()).hexdigest()[:16],
    }  # fmt: skip
    state = None
    if checkpoint is not None and os.path.exists(checkpoint):
        state = _load(checkpoint, config, n_steps)
        info["resumed_from"] = int(state["t"])
    if state is None:
        state = _fresh_state(X0, seed, n_chains, d, lab, grid, model, store_every, n_steps)
    elif store_every is not None:
        need = n_steps // store_every
        if state["traj"].shape[0] < need:
            pad = np.full((need - state["traj"].shape[0], n_chains, d), np.nan)
            state["traj"] = np.concatenate([state["traj"], pad])
    block = max(1, CHAIN_STEPS_PER_BLOCK // n_chains)
    every_s = 30.0 if checkpoint_every is None else None
    every_n = None if checkpoint_every is None else _count("checkpoint_every", checkpoint_every, 1)
    runner = (
        _NumbaRunner(model, lab, grid, gamma, bound, burn_in, store_every)
        if model.backend == "numba"
        else _NumpyRunner(model, lab, grid, gamma, bound, burn_in, store_every, state)
    )
    interrupted = {"flag": False}
    old_handler = None
    if threading.current_thread() is threading.main_thread():

        def _on_sigint(signum, frame):
            if interrupted["flag"]:  # second Ctrl-C: stop now (the last checkpoint stays valid)
                raise KeyboardInterrupt
            interrupted["flag"] = True

        old_handler = signal.signal(signal.SIGINT, _on_sigint)
    t_start = time.perf_counter()
    t_begin = int(state["t"])
    last_ckpt_t, last_ckpt_time = t_begin, t_start
    bars = contextlib.ExitStack()
    try:
        bars.enter_context(_progress.bar(f"simulate γ={gamma:g}", total=n_steps, unit="step", progress=progress))
        _progress.advance(t_begin)
        while state["t"] < n_steps:
            t = int(state["t"])
            nxt = min(n_steps, (t // block + 1) * block)
            runner.advance(state, t, nxt - t)
            state["t"] = nxt
            if nxt % block == 0:  # series points at fixed steps: the same for resumed runs
                _append_series(state, nxt)
            now = time.perf_counter()
            _progress.advance(
                nxt - t, text=f"{(nxt - t_begin) * n_chains / max(now - t_start, 1e-9):.3g} chain-steps/s"
            )
            if interrupted["flag"]:
                if checkpoint is not None:
                    _save(checkpoint, state, config, runner)
                raise KeyboardInterrupt(
                    f"interrupted at step {nxt}" + (f"; checkpoint {checkpoint}" if checkpoint else "")
                )
            if checkpoint is not None and nxt < n_steps:
                if (every_n is not None and nxt - last_ckpt_t >= every_n) or (
                    every_s is not None and now - last_ckpt_time >= every_s
                ):
                    _save(checkpoint, state, config, runner)
                    last_ckpt_t, last_ckpt_time = nxt, now
    finally:
        if old_handler is not None:
            signal.signal(signal.SIGINT, old_handler)
        bars.close()
    if checkpoint is not None:
        _save(checkpoint, state, config, runner)
    seconds = time.perf_counter() - t_start
    ends = np.where(state["status"] == 0, n_steps, state["stop"])
    done = int(np.clip(ends - t_begin, 0, None).sum())
    info.update(
        seconds=seconds,
        chain_steps_per_second=done / seconds if seconds > 0 and done > 0 else float("nan"),
        threads=numba.get_num_threads() if model.backend == "numba" else 1,
        block_steps=block,
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
            f"{n_bad} of {n_chains} chains stopped (diverged or invalid noise) — first at step {first}; "
            "their statistics up to the stop are kept, see run.status",
            FWWarning,
            stacklevel=2,
        )
    stopped = np.where(status == 0, n_steps, state["stop"])
    return Run(
        positions=state["X"].copy(),
        status=status,
        stopped_at=stopped.astype(np.int64),
        step_size=gamma,
        n_steps=n_steps,
        n_chains=n_chains,
        seed=seed,
        burn_in=burn_in,
        counts=state["counts"].copy() if lab.m else None,
        transitions=state["trans"].copy() if lab.m else None,
        tau_sum=state["tau_sum"].copy() if lab.m else None,
        tau_sq=state["tau_sq"].copy() if lab.m else None,
        core=state["cur"].copy() if lab.m else None,
        core_entry=state["entry"].copy() if lab.m else None,
        hist=state["hist"].reshape(grid.shape).copy() if grid is not None else None,
        hist_grid=grid,
        series_steps=np.asarray(state["series_steps"] + ([] if n_steps % block == 0 else [n_steps]), dtype=np.int64),
        series=np.asarray(
            state["series"] + ([] if n_steps % block == 0 else [state["counts"].sum(axis=0).tolist()]), dtype=np.int64
        ).reshape(-1, lab.m + 1),
        trajectory=state["traj"][: n_steps // store_every].copy() if store_every else None,
        store_every=store_every,
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


def _stability(dyn, gamma, land, X0):
    """λ_max(∇²f) at the minima (the landscape's attractors, or the minimum Newton finds from x0)."""
    if land is not None:
        mins = np.atleast_2d(np.asarray(land.attractors, dtype=float))
    else:
        from fwpotential.geometry.equilibria import _newton_equilibrium

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FWWarning)
                xs, ok = _newton_equilibrium(dyn, X0[0])
        except Exception:  # noqa: BLE001 - only a diagnostic
            ok = False
        mins = np.atleast_2d(xs) if ok else np.zeros((0, dyn.dim))
    out = []
    for x in mins:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FWWarning)  # finite-difference Hessians of callables
                lam = float(np.max(np.linalg.eigvalsh(np.atleast_2d(dyn.loss.hess(x)))))
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


class _Labels:
    def __init__(self, land, core_radius, d):
        self.m = 0
        self.key = None
        if land is None:
            self.lower = np.zeros(d)
            self.inv_h = np.ones(d)
            self.shape = np.ones(d, np.int64)
            self.basins = np.zeros(0, np.int64)
            self.cores = np.zeros(0, np.int64)
            return
        g = land.grid
        if g.dim != d:
            raise InputError(f"landscape grid is {g.dim}-D, dynamics {d}-D")
        basins = np.asarray(land.basins)
        if basins.shape != g.shape:
            raise InputError(f"landscape.basins has shape {basins.shape}, its grid {g.shape}")
        self.m = len(np.atleast_2d(land.attractors))
        self.lower, self.inv_h, self.shape = g.lower.astype(float), 1.0 / g.spacing, np.array(g.shape, np.int64)
        self.basins = np.ascontiguousarray(basins.reshape(-1).astype(np.int64))
        self.basins[(self.basins < 0) | (self.basins >= self.m)] = -1
        self.cores = np.ascontiguousarray(core_labels(land, core_radius))
        self.key = _labels_key(land)

    def lookup(self, x):
        """(basin label, core label) of points (n, d)."""
        if not self.m:
            return None, None
        r = (x - self.lower) * self.inv_h
        inside = np.all((r >= -0.5) & (r < self.shape - 0.5), axis=1)
        k = np.floor(np.where(inside[:, None], r, 0.0) + 0.5).astype(np.int64)
        flat = np.ravel_multi_index(tuple(k.T), tuple(self.shape))
        return np.where(inside, self.basins[flat], -1), np.where(inside, self.cores[flat], -1)


_M32 = np.uint64(0xFFFFFFFF)


def spawned_states(seed, n):
    """``np.stack([s.generate_state(4, np.uint64) for s in np.random.SeedSequence(seed).spawn(n)])``,
    vectorised over the children: NumPy's SeedSequence hash (O'Neill's seed_seq_fe, pool of 4 words)
    on the entropy words of ``seed`` (padded to 4) followed by the spawn index, bit for bit, about 100x
    faster than spawning n SeedSequence objects (0.1 s for 4096 chains)."""
    INIT_A, MULT_A, INIT_B, MULT_B = 0x43B0D7E5, 0x931E8875, 0x8B51F9DD, 0x58F38DED
    ML, MR = np.uint64(0xCA01F9DD), np.uint64(0x4973F715)
    run = []
    v = int(seed)
    while v > 0:
        run.append(v & 0xFFFFFFFF)
        v >>= 32
    run = run or [0]
    run += [0] * (4 - len(run))
    cols = [np.full(n, w, np.uint64) for w in run] + [np.arange(n, dtype=np.uint64)]
    h = [INIT_A]

    def hashmix(value):
        value = value ^ np.uint64(h[0])
        h[0] = (h[0] * MULT_A) & 0xFFFFFFFF
        value = (value * np.uint64(h[0])) & _M32
        return value ^ (value >> np.uint64(16))

    def mix(x, y):
        r = ((ML * x) - (MR * y)) & _M32
        return r ^ (r >> np.uint64(16))

    pool = [hashmix(cols[i]) for i in range(4)]
    for s in range(4):
        for d in range(4):
            if s != d:
                pool[d] = mix(pool[d], hashmix(pool[s]))
    for s in range(4, len(cols)):
        for d in range(4):
            pool[d] = mix(pool[d], hashmix(cols[s]))
    hb = INIT_B
    words = []
    for k in range(8):
        v = pool[k % 4] ^ np.uint64(hb)
        hb = (hb * MULT_B) & 0xFFFFFFFF
        v = (v * np.uint64(hb)) & _M32
        words.append(v ^ (v >> np.uint64(16)))
    return np.stack([words[2 * j] | (words[2 * j + 1] << np.uint64(32)) for j in range(4)], axis=1)


def _fresh_state(X0, seed, n_chains, d, lab, grid, model, store_every, n_steps):
    m = lab.m
    ss = np.random.SeedSequence(seed)
    st = {"t": 0, "X": np.ascontiguousarray(X0, dtype=float).copy()}
    if model.backend == "numba":
        st["S"] = _k.seed_states(spawned_states(seed, n_chains))
    else:
        st["rng"] = np.random.Generator(np.random.PCG64(ss))
    st["status"] = np.zeros(n_chains, np.int8)
    st["stop"] = np.zeros(n_chains, np.int64)
    st["counts"] = np.zeros((n_chains, m + 1), np.int64)
    st["trans"] = np.zeros((n_chains, m, m), np.int64)
    st["tau_sum"] = np.zeros((n_chains, m))
    st["tau_sq"] = np.zeros((n_chains, m))
    st["cur"] = np.full(n_chains, -1, np.int64)
    st["entry"] = np.zeros(n_chains, np.int64)
    if m:
        _, core = lab.lookup(st["X"])
        st["cur"] = core.astype(np.int64)
    st["hist"] = np.zeros(grid.size if grid is not None else 0, np.int64)
    st["traj"] = np.full(((n_steps // store_every) if store_every else 0, n_chains, d), np.nan)
    st["series_steps"] = []
    st["series"] = []
    return st


def _append_series(state, t):
    state["series_steps"].append(int(t))
    state["series"].append(state["counts"].sum(axis=0).tolist())


class _NumbaRunner:
    def __init__(self, model, lab, grid, gamma, bound, burn_in, store_every):
        self.model, self.lab, self.grid = model, lab, grid
        self.gamma, self.bound, self.burn_in, self.store_every = gamma, bound, burn_in, store_every or 0
        if grid is not None:
            self.h_lower, self.h_inv, self.h_shape = (
                grid.lower.astype(float),
                1.0 / grid.spacing,
                np.array(grid.shape, np.int64),
            )
        else:
            self.h_lower, self.h_inv, self.h_shape = np.zeros(1), np.ones(1), np.ones(1, np.int64)
        self.same_grid = (
            grid is not None
            and lab.m > 0
            and np.array_equal(self.h_lower, lab.lower)
            and np.array_equal(self.h_inv, lab.inv_h)
            and np.array_equal(self.h_shape, lab.shape)
        )  # the histogram reuses the basin lookup's node index

    def advance(self, st, t0, n):
        mdl, lab = self.model, self.lab
        nthreads = numba.config.NUMBA_NUM_THREADS
        hist = np.zeros((nthreads, st["hist"].shape[0]), np.int64)
        traj = st["traj"] if self.store_every else np.zeros((0, st["X"].shape[0], st["X"].shape[1]))
        K = max(4, _k.BUF_DOUBLES // (mdl.d * mdl.nb))  # steps per hook call: buffers stay in L1
        mdl.kernel(
            st["X"], st["status"], st["stop"], st["S"], t0, n, self.gamma, mdl.factor,
            mdl.data, max(mdl.batch, 1), self.bound,
            lab.lower, lab.inv_h, lab.shape, lab.basins, lab.cores, st["counts"], st["cur"], st["entry"],
            st["trans"], st["tau_sum"], st["tau_sq"], hist, self.h_lower, self.h_inv, self.h_shape,
            int(self.same_grid), self.burn_in, self.store_every, traj, mdl.nb, K, mdl.block,
        )  # fmt: skip
        if hist.shape[1]:
            st["hist"] += hist.sum(axis=0)


class _NumpyRunner:
    """One vectorised NumPy update per step for all live chains (callable losses or samplers)."""

    def __init__(self, model, lab, grid, gamma, bound, burn_in, store_every, state):
        self.model, self.lab, self.grid = model, lab, grid
        self.gamma, self.bound, self.burn_in, self.store_every = gamma, bound, burn_in, store_every or 0
        dyn = model.dyn
        self.samples = None
        if model.minibatch and getattr(dyn.loss, "samples", None) is not None:
            self.samples = dyn.loss.samples  # evaluate only the drawn samples' gradients

    def _increment(self, x, rng):
        """γ × (gradient + noise) at the points x (n, d)."""
        mdl, dyn, g = self.model, self.model.dyn, self.gamma
        if mdl.minibatch:
            form = mdl.form
            n, B = x.shape[0], form.draws
            N = dyn.loss.n_samples
            if form.replace:
                idx = rng.integers(0, N, size=(n, B))
            else:
                idx = np.argsort(rng.random((n, N)), axis=-1)[:, :B]
            if self.samples is None:  # from_expr finite sum: one vectorised evaluation of all samples
                G = dyn.loss.sample_grads(x)
                return g * np.take_along_axis(G, idx[..., None], axis=1).mean(axis=1)
            acc = np.zeros_like(x)
            for s in np.unique(idx):
                rows, cnt = np.unique(np.nonzero(idx == s)[0], return_counts=True)
                acc[rows] += cnt[:, None] * self.samples[s].grad(x[rows])
            return g * acc / B
        grad = -dyn.drift(x)
        z = dyn.noise.sample(x, rng)  # Langevin: N(0, a) with a = 2I, scaled by factor = √(ε/γ)
        return g * (grad + mdl.factor * z) if dyn.kind == "langevin" else g * (grad + z)

    def advance(self, st, t0, n):
        X, status, rng, lab = st["X"], st["status"], st["rng"], self.lab
        m = lab.m
        live = np.flatnonzero(status == 0)
        for k in range(n):
            if live.size == 0:
                break
            t = t0 + k + 1
            x = X[live]
            try:
                with np.errstate(all="ignore"):
                    new = x - self._increment(x, rng)
            except NonFiniteError:
                new = np.empty_like(x)
                for r in range(len(live)):  # find the chains at which the law is not finite
                    try:
                        with np.errstate(all="ignore"):
                            new[r] = x[r] - self._increment(x[r : r + 1], rng)[0]
                    except NonFiniteError:
                        new[r] = np.nan
            bad = ~np.all(np.abs(new) <= self.bound, axis=1)
            X[live] = new
            if bad.any():
                status[live[bad]] = 1
                st["stop"][live[bad]] = t
                live, new = live[~bad], new[~bad]
            if m:
                basin, core = lab.lookup(new)
                if t > self.burn_in:
                    np.add.at(st["counts"], (live, np.where(basin >= 0, basin, m)), 1)
                cur = st["cur"][live]
                hit = (core >= 0) & (core != cur)
                if hit.any():
                    ch, to, fr = live[hit], core[hit], cur[hit]
                    old = fr >= 0
                    tau = (t - st["entry"][ch[old]]).astype(float)
                    np.add.at(st["trans"], (ch[old], fr[old], to[old]), 1)
                    np.add.at(st["tau_sum"], (ch[old], fr[old]), tau)
                    np.add.at(st["tau_sq"], (ch[old], fr[old]), tau * tau)
                    st["cur"][ch] = to
                    st["entry"][ch] = t
            if self.grid is not None and t > self.burn_in:
                hn = _node_index_np(new, self.grid)
                st["hist"] += np.bincount(hn[hn >= 0], minlength=st["hist"].shape[0])
            if self.store_every and t % self.store_every == 0:
                st["traj"][t // self.store_every - 1, live] = new


# ---------------------------------------------------------------------------------------------
_ARRAYS = ("X", "status", "stop", "counts", "trans", "tau_sum", "tau_sq", "cur", "entry", "hist", "traj")


def _save(path, st, config, runner):
    """Atomic write: a temporary file in the same directory, then os.replace."""
    path = os.fspath(path)
    out = {k: st[k] for k in _ARRAYS}
    out["t"] = np.int64(st["t"])
    out["series_steps"] = np.asarray(st["series_steps"], np.int64)
    out["series"] = np.asarray(st["series"], np.int64)
    out["config"] = np.array(json.dumps(config, sort_keys=True))
    if "S" in st:
        out["S"] = st["S"]
    else:
        out["rng"] = np.array(json.dumps(st["rng"].bit_generator.state))
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    tmp = os.path.join(d, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        np.savez(fh, **out)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _read(path):
    """The arrays of a checkpoint file; InputError naming the file if it is not one (truncated by a
    crash during a copy, overwritten, or another file at that path)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            raw = {k: z[k].copy() for k in z.files}
        config = json.loads(str(raw["config"]))
        rng = json.loads(str(raw["rng"])) if "S" not in raw else None
        missing = [k for k in (*_ARRAYS, "t", "series_steps", "series") if k not in raw]
        if missing:
            raise KeyError(f"arrays {missing} are missing")
    except (zipfile.BadZipFile, EOFError, OSError, KeyError, ValueError) as exc:
        raise InputError(
            f"checkpoint {path} cannot be read ({type(exc).__name__}: {exc}): the file is truncated or is not a "
            "fw.simulate checkpoint; delete it to start afresh, or pass another checkpoint= path"
        ) from None
    return raw, config, rng


def _load(path, config, n_steps):
    z, saved, rng_state = _read(path)
    if saved != json.loads(json.dumps(config, sort_keys=True)):
        diff = sorted(k for k in set(saved) | set(config) if saved.get(k) != json.loads(json.dumps(config)).get(k))
        raise InputError(
            f"checkpoint {path} was written with different parameters ({diff}); use another path or delete it"
        )
    st = {k: z[k] for k in _ARRAYS}
    st["t"] = int(z["t"])
    st["series_steps"] = z["series_steps"].tolist()
    st["series"] = z["series"].tolist()
    if "S" in z:
        st["S"] = z["S"]
    else:
        rng = np.random.Generator(np.random.PCG64())
        rng.bit_generator.state = rng_state
        st["rng"] = rng
    if st["t"] > n_steps:
        raise InputError(f"checkpoint {path} is at step {st['t']} > n_steps={n_steps}")
    return st
