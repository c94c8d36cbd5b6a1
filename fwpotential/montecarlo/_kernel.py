"""The Monte Carlo chain kernel (private; Numba).

``run_chains`` is compiled once (explicit signature, ``cache=True``): parallel over blocks of chains,
it calls the model hook ``block`` (printed from SymPy per model, :mod:`fwpotential.montecarlo.codegen`)
for up to K steps of a block and then takes the statistics of the buffered positions
(:func:`chain_stats`). ``BLOCK_SIG`` is the hook's signature.
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np
from numba import njit, prange, types
from numba.extending import intrinsic


class Chains(NamedTuple):
    """The chains' state, updated in place: positions X (C, d), status (C,) int8 (0 running, 1
    diverged, 2 negative noise variance), stop step (C,) and xoshiro256** states S (C, 4) uint64."""

    X: np.ndarray
    status: np.ndarray
    stop: np.ndarray
    S: np.ndarray


class Step(NamedTuple):
    """What the model hook gets besides the chains: step size γ, noise factor, divergence bound,
    finite-sum data (N, n_columns) and batch size; chains per block NB and steps per hook call K."""

    gamma: float
    factor: float
    bound: float
    data: np.ndarray
    batch: int
    NB: int
    K: int


class Lookup(NamedTuple):
    """Nearest-node lookup of the basin map (lab_*, ``basins`` and ``cores`` flat, empty: no
    landscape) and of the histogram grid (h_*); ``same_grid`` 1 when both grids are one."""

    lab_lower: np.ndarray
    lab_inv_h: np.ndarray
    lab_shape: np.ndarray
    basins: np.ndarray
    cores: np.ndarray
    h_lower: np.ndarray
    h_inv_h: np.ndarray
    h_shape: np.ndarray
    same_grid: int


class Stats(NamedTuple):
    """Statistics, accumulated in place: counts (C, m + 1), last core and its entry step (C,),
    transitions (C, m, m), exit-time sums tau_sum and tau_sq (C, m), histogram per thread
    (threads, nodes), stored positions traj (n_stored, C, d); steps counted after ``burn_in``,
    positions stored every ``store_every`` steps (0: none)."""

    counts: np.ndarray
    cur: np.ndarray
    entry: np.ndarray
    trans: np.ndarray
    tau_sum: np.ndarray
    tau_sq: np.ndarray
    hist: np.ndarray
    traj: np.ndarray
    burn_in: int
    store_every: int


@njit(cache=True)
def chain_stats(buf, b, c, t_start, nv, lk, st, hist):
    """Statistics of chain c's positions buf[k, :, b] (buf (K, d, NB)) after steps t_start + k + 1,
    k < nv: occupation counts and histogram ``hist`` (this thread's row) for t > burn_in,
    core-to-core transitions and first-passage times, stored positions every ``store_every`` steps.

    Nearest node: C-order flat index of floor(r + 1/2), r = (x - lower) / h, none (-1) unless
    -1/2 <= r < shape - 1/2 in every coordinate (truncation is the floor there). Counts are
    added per run of equal labels (cells), kept in registers: an increment in memory per step would
    make every step wait for the previous one's store."""
    d = lk.lab_lower.shape[0]
    m = st.counts.shape[1] - 1
    use_lab = lk.basins.shape[0] > 0
    use_hist = hist.shape[0] > 0
    reuse = use_lab and lk.same_grid != 0
    cc = st.cur[c]
    ent = st.entry[c]
    run_lab, run_n = m, 0
    run_cell, run_h = -1, 0
    for k in range(nv):
        t = t_start + k + 1
        node = node_of(buf, k, b, lk.lab_lower, lk.lab_inv_h, lk.lab_shape) if use_lab else -1
        if use_lab:
            if t > st.burn_in:
                lab = m
                if node >= 0:
                    lb = lk.basins[node]
                    if lb >= 0:
                        lab = lb
                if lab != run_lab:
                    if run_n > 0:
                        st.counts[c, run_lab] += run_n
                    run_lab, run_n = lab, 0
                run_n += 1
            core = lk.cores[node] if node >= 0 else -1
            if core >= 0 and core != cc:
                if cc >= 0:
                    tau = np.float64(t - ent)
                    st.trans[c, cc, core] += 1
                    st.tau_sum[c, cc] += tau
                    st.tau_sq[c, cc] += tau * tau
                cc = core
                ent = t
        if use_hist and t > st.burn_in:
            hn = node if reuse else node_of(buf, k, b, lk.h_lower, lk.h_inv_h, lk.h_shape)
            if hn >= 0:
                if hn != run_cell:
                    if run_h > 0:
                        hist[run_cell] += run_h
                    run_cell, run_h = hn, 0
                run_h += 1
        if st.store_every > 0 and t % st.store_every == 0:
            for i in range(d):
                st.traj[t // st.store_every - 1, c, i] = buf[k, i, b]
    if run_n > 0:
        st.counts[c, run_lab] += run_n
    if run_h > 0:
        hist[run_cell] += run_h
    st.cur[c] = cc
    st.entry[c] = ent


@njit(cache=True)
def node_of(buf, k, b, lower, inv_h, shape):
    """C-order flat index of the nearest node of position buf[k, :, b], -1 off the grid."""
    node = 0
    for i in range(lower.shape[0]):
        r = (buf[k, i, b] - lower[i]) * inv_h[i] + 0.5
        if not (r >= 0.0 and r < shape[i]):
            return -1
        node = node * shape[i] + np.int64(r)
    return node


# ---- the chain kernel -----------------------------------------------------------------------
A1, A2, A3 = types.float64[::1], types.float64[:, ::1], types.float64[:, :, ::1]
I1, I2, I3 = types.int64[::1], types.int64[:, ::1], types.int64[:, :, ::1]
P = types.CPointer(types.float64)  # the hook takes raw pointers (wrapped by numba.carray inside)
PU = types.CPointer(types.uint64)
PI = types.CPointer(types.int64)
i8, f8 = types.int64, types.float64
GAUSS_NB = 16  # chains per block for Gaussian updates (interleaved step by step)
SUM_NB = 4  # chains per block for finite sums (each step has B independent sample gradients already)
BUF_DOUBLES = 2048  # K d NB: positions buffered per hook call (16 kB)
# block(X, S, C, c0, nb, kk, gamma, factor, bound, data, N, batch, buf, alive, nvalid, code): a cfunc
# of raw pointers and scalars, the ABI of the hooks printed by codegen
BLOCK_SIG = types.void(P, PU, i8, i8, i8, i8, f8, f8, f8, P, i8, i8, P, PI, PI, PI)


@intrinsic
def _ptr(typingctx, arr):
    """Data pointer of a contiguous array (the array must outlive its use)."""
    sig = types.CPointer(arr.dtype)(arr)

    def codegen(context, builder, signature, args):
        return context.make_array(arr)(context, builder, args[0]).data

    return sig, codegen


_RUN_SIG = types.void(
    types.NamedTuple([A2, types.int8[::1], I1, types.uint64[:, ::1]], Chains),
    i8,
    i8,
    types.NamedTuple([f8, f8, f8, A2, i8, i8, i8], Step),
    types.NamedTuple([A1, A1, I1, I1, I1, A1, A1, I1, i8], Lookup),
    types.NamedTuple([I2, I1, I1, I3, A2, A2, I2, A3, i8, i8], Stats),
    types.FunctionType(BLOCK_SIG),
)


def run_chains(ch, t0, n, step, lk, st, block):
    """Advance every live chain of ``ch`` from step t0 to t0 + n (or until it stops).

    Chains go in blocks of ``step.NB`` (one block per parallel iteration); the model hook ``block``
    (printed from SymPy per model, see :func:`~fwpotential.montecarlo.codegen.gaussian_block_source`
    and :func:`~fwpotential.montecarlo.codegen.finite_sum_block_source`) advances a block by up to
    ``step.K`` steps and leaves the positions after each step in ``buf`` (K, d, NB), the number of
    admissible steps per chain in ``nvalid`` and the reason of a stop in ``code`` (1: non-finite or
    |x_i| > bound, at the step after the admissible ones; 2: negative noise variance, x unchanged).
    The statistics of those steps are then taken here (:func:`chain_stats`): counts[c, label]
    (label m: no basin) and hist for t > burn_in; core-to-core transitions trans[c, i, j] with
    first-passage times (steps) in tau_sum/tau_sq; positions at t % store_every == 0 into
    traj[t // store_every - 1].
    """
    X, status, stop, S = ch.X, ch.status, ch.stop, ch.S  # arrays written in the parallel loop: locals
    data, hist = step.data, st.hist
    C, d = X.shape
    NB, K = step.NB, step.K
    use_stats = lk.basins.shape[0] > 0 or hist.shape[1] > 0 or st.store_every > 0
    N = data.shape[0]
    for blk in prange((C + NB - 1) // NB):
        tid = numba.get_thread_id()
        c0 = blk * NB
        nb = min(NB, C - c0)
        alive = np.zeros(NB, np.int64)
        was = np.zeros(NB, np.int64)
        nvalid = np.zeros(NB, np.int64)
        code = np.zeros(NB, np.int64)
        buf = np.zeros((K, d, NB))
        n_alive = 0
        for b in range(nb):
            if status[c0 + b] == 0:
                alive[b] = 1
                n_alive += 1
        k0 = 0
        while k0 < n and n_alive > 0:
            kk = min(K, n - k0)
            for b in range(NB):
                was[b] = alive[b]
                nvalid[b] = 0
                code[b] = 0
            block(
                _ptr(X), _ptr(S), C, c0, nb, kk, step.gamma, step.factor, step.bound, _ptr(data), N, step.batch,
                _ptr(buf), _ptr(alive), _ptr(nvalid), _ptr(code),
            )  # fmt: skip
            if use_stats:
                for b in range(nb):
                    if was[b] != 0:
                        chain_stats(buf, b, c0 + b, t0 + k0, nvalid[b], lk, st, hist[tid])
            for b in range(nb):
                if was[b] != 0 and code[b] != 0:
                    status[c0 + b] = code[b]
                    stop[c0 + b] = t0 + k0 + nvalid[b] + (1 if code[b] == 1 else 0)
                    n_alive -= 1
            k0 += kk


_KERNEL = []


def chain_kernel():
    """``run_chains`` compiled (on first use; then loaded from Numba's cache) for its one signature."""
    if not _KERNEL:
        _KERNEL.append(njit(_RUN_SIG, parallel=True, cache=True)(run_chains))
    return _KERNEL[0]
