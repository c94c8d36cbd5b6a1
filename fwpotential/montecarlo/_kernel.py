"""The Monte Carlo chain kernel (private; Numba).

``run_chains`` is compiled once (explicit signature, ``cache=True``): parallel over blocks of chains,
it calls the model hook ``block`` (printed from SymPy per model, :mod:`fwpotential.montecarlo.codegen`)
for up to K steps of a block and then takes the statistics of the buffered positions
(:func:`chain_stats`). ``BLOCK_SIG`` is the hook's signature.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange, types
from numba.extending import intrinsic


@njit(cache=True)
def chain_stats(
    buf, nv, b, nb, c, t_start, burn_in, lab_lower, lab_inv_h, lab_shape, basins, cores, counts, cur, entry,
    trans, tau_sum, tau_sq, hist, h_lower, h_inv_h, h_shape, same_grid, store_every, traj,
):  # fmt: skip
    """Statistics of chain c's positions buf[k, :, b] (buf flat (kk, d, nb)) after steps t_start + k + 1,
    k < nv: occupation counts and histogram for t > burn_in, core-to-core transitions and first-passage
    times, stored positions every ``store_every`` steps.

    Nearest node: C-order flat index of floor(r + 1/2), r = (x - lower) / h, none (-1) unless
    -1/2 <= r < shape - 1/2 in every coordinate (truncation is the floor there). Counts are
    added per run of equal labels (cells), kept in registers: an increment in memory per step would
    make every step wait for the previous one's store."""
    d = lab_lower.shape[0]
    m = counts.shape[1] - 1
    use_lab = basins.shape[0] > 0
    use_hist = hist.shape[0] > 0
    cc = cur[c]
    ent = entry[c]
    run_lab, run_n = m, 0
    run_cell, run_h = -1, 0
    for k in range(nv):
        t = t_start + k + 1
        base = k * d * nb + b
        node = -1
        if use_lab:
            node = 0
            for i in range(d):
                r = (buf[base + i * nb] - lab_lower[i]) * lab_inv_h[i] + 0.5
                if not (r >= 0.0 and r < lab_shape[i]):
                    node = -1
                    break
                node = node * lab_shape[i] + np.int64(r)
            if t > burn_in:
                lab = m
                if node >= 0:
                    lb = basins[node]
                    if lb >= 0:
                        lab = lb
                if lab != run_lab:
                    if run_n > 0:
                        counts[c, run_lab] += run_n
                    run_lab, run_n = lab, 0
                run_n += 1
            core = cores[node] if node >= 0 else -1
            if core >= 0 and core != cc:
                if cc >= 0:
                    tau = np.float64(t - ent)
                    trans[c, cc, core] += 1
                    tau_sum[c, cc] += tau
                    tau_sq[c, cc] += tau * tau
                cc = core
                ent = t
        if use_hist and t > burn_in:
            hn = node
            if not (use_lab and same_grid != 0):
                hn = 0
                for i in range(d):
                    r = (buf[base + i * nb] - h_lower[i]) * h_inv_h[i] + 0.5
                    if not (r >= 0.0 and r < h_shape[i]):
                        hn = -1
                        break
                    hn = hn * h_shape[i] + np.int64(r)
            if hn >= 0:
                if hn != run_cell:
                    if run_h > 0:
                        hist[run_cell] += run_h
                    run_cell, run_h = hn, 0
                run_h += 1
        if store_every > 0 and t % store_every == 0:
            for i in range(d):
                traj[t // store_every - 1, c, i] = buf[base + i * nb]
    if run_n > 0:
        counts[c, run_lab] += run_n
    if run_h > 0:
        hist[run_cell] += run_h
    cur[c] = cc
    entry[c] = ent


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
# block(X, S, C, c0, nb, kk, gamma, factor, bound, data, N, batch, buf, alive, nvalid, code)
BLOCK_SIG = types.void(P, PU, i8, i8, i8, i8, f8, f8, f8, P, i8, i8, P, PI, PI, PI)


@intrinsic
def _ptr(typingctx, arr):
    """Data pointer of a contiguous array (the array must outlive its use)."""
    sig = types.CPointer(arr.dtype)(arr)

    def codegen(context, builder, signature, args):
        return context.make_array(arr)(context, builder, args[0]).data

    return sig, codegen


_RUN_SIG = types.void(
    A2, types.int8[::1], I1, types.uint64[:, ::1], i8, i8, f8, f8,
    A2, i8, f8, A1, A1, I1, I1, I1, I2, I1, I1, I3, A2, A2,
    I2, A1, A1, I1, i8, i8, i8, A3, i8, i8, types.FunctionType(BLOCK_SIG),
)  # fmt: skip


def run_chains(
    X, status, stop, S, t0, n, gamma, factor, data, batch, bound,
    lab_lower, lab_inv_h, lab_shape, basins, cores, counts, cur, entry, trans, tau_sum, tau_sq,
    hist, h_lower, h_inv_h, h_shape, same_grid, burn_in, store_every, traj, NB, K, block,
):  # fmt: skip
    """Advance every live chain from step t0 to t0 + n (or until it stops).

    Chains go in blocks of ``NB`` (one block per parallel iteration); the model hook ``block``
    (printed from SymPy per model, see :func:`gaussian_block_source` and
    :func:`finite_sum_block_source`) advances a block by up to ``K`` steps and leaves the positions
    after each step in ``buf`` (kk, d, NB), the number of admissible steps per chain in ``nvalid``
    and the reason of a stop in ``code`` (1: non-finite or |x_i| > bound, at the step after the
    admissible ones; 2: negative noise variance, x unchanged). The statistics of those steps are then
    taken here: counts[c, label] (label m: no basin) and hist for t > burn_in; core-to-core transitions
    trans[c, i, j] with first-passage times (steps) in tau_sum/tau_sq; positions at
    t % store_every == 0 into traj[t // store_every - 1].
    """
    C = X.shape[0]
    d = X.shape[1]
    use_lab = basins.shape[0] > 0
    use_hist = hist.shape[1] > 0
    use_stats = use_lab or use_hist or store_every > 0
    N = data.shape[0]
    nblk = (C + NB - 1) // NB
    for blk in prange(nblk):
        tid = numba.get_thread_id()
        c0 = blk * NB
        nb = min(NB, C - c0)
        alive = np.zeros(NB, np.int64)
        was = np.zeros(NB, np.int64)
        nvalid = np.zeros(NB, np.int64)
        code = np.zeros(NB, np.int64)
        buf = np.zeros(K * d * NB)
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
                _ptr(X), _ptr(S), C, c0, nb, kk, gamma, factor, bound, _ptr(data), N, batch,
                _ptr(buf), _ptr(alive), _ptr(nvalid), _ptr(code),
            )  # fmt: skip
            if use_stats:
                for b in range(nb):
                    if was[b] != 0:
                        chain_stats(
                            buf, nvalid[b], b, NB, c0 + b, t0 + k0, burn_in, lab_lower, lab_inv_h, lab_shape,
                            basins, cores, counts, cur, entry, trans, tau_sum, tau_sq, hist[tid],
                            h_lower, h_inv_h, h_shape, same_grid, store_every, traj,
                        )  # fmt: skip
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
