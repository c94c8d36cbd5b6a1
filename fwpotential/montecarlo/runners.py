"""Runners of the Monte Carlo chains: the state of a run and the two ways to advance it, the compiled
chain kernel (:class:`NumbaRunner`) and one vectorised NumPy update per step (:class:`NumpyRunner`)."""

from __future__ import annotations

import contextlib
import time

import numba
import numpy as np

from fwpotential.errors import NonFiniteError
from fwpotential.montecarlo import _kernel
from fwpotential.montecarlo.labels import Labels
from fwpotential.montecarlo.seeding import chain_states, numpy_generator

__all__ = [
    "NetworkRunner",
    "NumbaRunner",
    "NumpyRunner",
    "append_series",
    "fresh_state",
    "noise_spread",
    "record_labels",
]


def fresh_state(X0, seed, lab, grid, model, *, store_every, n_steps):
    """The state of a new run at step 0: positions ``X0`` (n_chains, d), the generators (per-chain
    states for the Numba kernel, one generator for NumPy) and zeroed statistics."""
    n_chains, d = X0.shape
    m = lab.m
    st = {"t": 0, "X": np.ascontiguousarray(X0, dtype=float).copy()}
    if model.backend == "numba":
        st["S"] = chain_states(seed, n_chains)
    else:
        st["rng"] = numpy_generator(seed)
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


def record_labels(st, live, basin, core, t, *, burn_in):
    """Statistics of the labels of the live chains ``live`` at step t: occupation counts (t >
    burn_in; label -1 counted as no basin), and a core-to-core transition with its first-passage
    time (steps since the entry into the last core) where a chain is in a core other than its last."""
    m = st["counts"].shape[1] - 1
    if t > burn_in:
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


def append_series(state, t):
    """Record the cumulative basin counts over all chains at step t."""
    state["series_steps"].append(int(t))
    state["series"].append(state["counts"].sum(axis=0).tolist())


class NumbaRunner:
    """The compiled chain kernel over all chains in parallel (``model.kernel`` with its hook)."""

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
        same_grid = (
            grid is not None
            and lab.m > 0
            and np.array_equal(self.h_lower, lab.lower)
            and np.array_equal(self.h_inv, lab.inv_h)
            and np.array_equal(self.h_shape, lab.shape)
        )  # the histogram reuses the basin lookup's node index
        self.lookup = _kernel.Lookup(
            lab_lower=lab.lower, lab_inv_h=lab.inv_h, lab_shape=lab.shape, basins=lab.basins, cores=lab.cores,
            h_lower=self.h_lower, h_inv_h=self.h_inv, h_shape=self.h_shape, same_grid=int(same_grid),
        )  # fmt: skip

    def advance(self, st, t0, n):
        """Advance the state ``st`` from step t0 by n steps (the per-thread histograms summed)."""
        mdl = self.model
        nthreads = numba.config.NUMBA_NUM_THREADS
        hist = np.zeros((nthreads, st["hist"].shape[0]), np.int64)
        traj = st["traj"] if self.store_every else np.zeros((0, st["X"].shape[0], st["X"].shape[1]))
        K = max(4, _kernel.BUF_DOUBLES // (mdl.d * mdl.nb))  # steps per hook call: buffers stay in L1
        chains = _kernel.Chains(X=st["X"], status=st["status"], stop=st["stop"], S=st["S"])
        step = _kernel.Step(
            gamma=float(self.gamma), factor=float(mdl.factor), bound=float(self.bound), data=mdl.data,
            batch=int(max(mdl.batch, 1)), NB=int(mdl.nb), K=int(K),
        )  # fmt: skip
        stats = _kernel.Stats(
            counts=st["counts"], cur=st["cur"], entry=st["entry"], trans=st["trans"], tau_sum=st["tau_sum"],
            tau_sq=st["tau_sq"], hist=hist, traj=traj, burn_in=int(self.burn_in), store_every=int(self.store_every),
        )  # fmt: skip
        mdl.kernel(chains, int(t0), int(n), step, self.lookup, stats, mdl.block)
        if hist.shape[1]:
            st["hist"] += hist.sum(axis=0)


class NumpyRunner:
    """One vectorised NumPy update per step for all live chains (callable losses or samplers)."""

    def __init__(self, model, lab, grid, gamma, bound, burn_in, store_every):
        self.model, self.lab, self.grid = model, lab, grid
        self.gamma, self.bound, self.burn_in, self.store_every = gamma, bound, burn_in, store_every or 0
        dyn = model.dyn
        self.samples = None
        if model.minibatch and getattr(dyn.loss, "samples", None) is not None:
            self.samples = dyn.loss.samples  # evaluate only the drawn samples' gradients

    def increment(self, x, rng):
        """γ × (gradient + noise) at the points x (n, d): x minus the next iterate."""
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
        return g * (grad + z) if dyn.kind == "sgd" else g * (grad + mdl.factor * z)

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
                    new = x - self.increment(x, rng)
            except NonFiniteError:
                new = np.empty_like(x)
                for r in range(len(live)):  # find the chains at which the law is not finite
                    try:
                        with np.errstate(all="ignore"):
                            new[r] = x[r] - self.increment(x[r : r + 1], rng)[0]
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
                record_labels(st, live, basin, core, t, burn_in=self.burn_in)
            if self.grid is not None and t > self.burn_in:
                hn = self.grid.flat_index(new)
                st["hist"] += np.bincount(hn[hn >= 0], minlength=st["hist"].shape[0])
            if self.store_every and t % self.store_every == 0:
                st["traj"][t // self.store_every - 1, live] = new


class NetworkRunner:
    """The chains of ``inner`` (a Numba or NumPy runner built without basin labels) labelled every
    ``every`` steps by a :class:`~fwpotential.montecarlo.labels.NetworkLabels` (a quench per live
    chain): occupation counts one labelled sample per chain and label, transitions and exit times
    are taken at the label steps (multiples of ``every``, so a resumed run labels the same steps).

    The positions of several label steps are quenched together (up to ``LABEL_POINTS`` points, or
    ``LABEL_FLOATS`` floats, per quench call: the quench's cost per call is mostly per iteration,
    not per point), then recorded in step order. The compiled kernel runs on one thread when an
    interval has fewer than ``SERIAL_CHAIN_STEPS`` chain-steps: a parallel region costs milliseconds
    to start on a loaded machine, more than such an interval's work (results do not depend on the
    number of threads)."""

    LABEL_POINTS = 4096
    LABEL_FLOATS = 1 << 23
    SERIAL_CHAIN_STEPS = 1 << 16

    def __init__(self, inner, lab, every, burn_in):
        self.inner, self.lab, self.every, self.burn_in = inner, lab, int(every), burn_in
        self.seconds = 0.0

    def advance(self, st, t0, n):
        """Advance the state ``st`` from step t0 by n steps, labelling at the multiples of ``every``."""
        t, end = t0, t0 + n
        pending, n_points = [], 0
        cap = max(1, min(self.LABEL_POINTS, self.LABEL_FLOATS // max(st["X"].shape[1], 1)))
        serial = self.every * st["X"].shape[0] < self.SERIAL_CHAIN_STEPS
        while t < end:
            nxt = min(end, (t // self.every + 1) * self.every)
            with _threads(1 if serial else None):
                self.inner.advance(st, t, nxt - t)
            t = nxt
            if t % self.every == 0:
                live = np.flatnonzero(st["status"] == 0)
                if live.size:
                    pending.append((t, live, st["X"][live].copy()))
                    n_points += live.size
            if n_points >= cap:
                self._label(st, pending)
                pending, n_points = [], 0
        self._label(st, pending)

    def _label(self, st, pending):
        """Quench the positions of ``pending`` [(step, live chains, positions)] in one call and record
        their labels in step order."""
        if not pending:
            return
        t_label = time.perf_counter()
        basin, core = self.lab.lookup(np.concatenate([x for _, _, x in pending]))
        k0 = 0
        for t, live, _ in pending:
            k1 = k0 + live.size
            record_labels(st, live, basin[k0:k1], core[k0:k1], t, burn_in=self.burn_in)
            k0 = k1
        self.seconds += time.perf_counter() - t_label


@contextlib.contextmanager
def _threads(n):
    """Numba's thread count for this thread set to n inside the block (None: unchanged)."""
    if n is None:
        yield
        return
    old = numba.get_num_threads()
    numba.set_num_threads(min(n, old))
    try:
        yield
    finally:
        numba.set_num_threads(old)


def noise_spread(model, gamma, lab, *, n_draws=256):
    """Per-step standard deviation of the noise displacement along the direction from each
    attractor of ``lab`` to each of its milestones (saddles), in fractions of the way (m, q): the
    larger of the values at the attractor and at the milestone (state-dependent noise may vanish at
    a minimum), each from ``n_draws`` one-step increments of the real update
    (:meth:`NumpyRunner.increment`, any noise law; the drift is the same in every draw), with a fixed
    generator (seed 0, not the run's)."""
    probe = NumpyRunner(model, Labels(None, 0.5, model.d), None, gamma, np.inf, 0, None)
    rng = np.random.default_rng(0)
    out = np.zeros(lab.U.shape[:2])
    for i, a in enumerate(lab.att):
        for where in (a[None, :], *lab.milestones[i][:, None, :]):
            with np.errstate(all="ignore"):
                inc = probe.increment(np.repeat(where, n_draws, axis=0), rng)
            proj = inc @ lab.U[i].T
            std = np.where(np.all(np.isfinite(proj), axis=0), proj.std(axis=0), np.inf)
            out[i] = np.maximum(out[i], std)
    return out
