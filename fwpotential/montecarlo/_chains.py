"""Numba kernels of the Monte Carlo chains (private).

Random numbers: every chain owns a xoshiro256** state (4 uint64, a row of ``S``) seeded from
``np.random.SeedSequence(seed).spawn(n_chains)``; normals by Doornik's ziggurat (ZIGNOR, 128 blocks).
A chain's stream never depends on the thread that runs it, nor on how chains and steps are blocked,
so results are identical for any thread count and across checkpoints.

The chain kernel ``run_chains`` is compiled once (explicit signature, ``cache=True``): parallel over
blocks of chains, it calls the model hook ``block`` for up to K steps of a block and then takes the
statistics of the buffered positions. The hook is printed from SymPy per model (gradient, noise
variance or Cholesky factor, finite-sum sample gradients inline, sharing common subexpressions), a
``numba.cfunc`` taking raw pointers: :func:`gaussian_block_source` steps NB chains side by side (no
data-dependent branch, the chains' latencies overlap) with normals drawn per chain into a buffer
first (:func:`fill_normals`, state in registers), :func:`finite_sum_block_source` draws each chain's
minibatch indices and sums only those samples' gradients from row-major data. :func:`compile_block`
compiles a hook in 1-2 s and caches it across processes.
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
import os
import sys
import weakref

import numba
import numpy as np
from numba import njit, prange, types
from numba.extending import intrinsic

from fwpotential._cache import cache_root
from fwpotential.model.expressions import derivative, drop_point_masses


# ---- random numbers -------------------------------------------------------------------------
@njit(cache=True)
def rng_next(st):
    """xoshiro256** (Blackman & Vigna 2018): next uint64 of the state ``st`` (4 uint64, updated in place)."""
    s0, s1, s2, s3 = st[0], st[1], st[2], st[3]
    t = s1 * np.uint64(5)
    r = ((t << np.uint64(7)) | (t >> np.uint64(57))) * np.uint64(9)
    u = s1 << np.uint64(17)
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= u
    s3 = (s3 << np.uint64(45)) | (s3 >> np.uint64(19))
    st[0], st[1], st[2], st[3] = s0, s1, s2, s3
    return r


@njit(cache=True)
def rng_uniform(st):
    """Uniform double in [0, 1) with 53 random bits."""
    return np.float64(np.int64(rng_next(st) >> np.uint64(11))) * 1.1102230246251565e-16  # int64: one cvtsi2sd


@njit(cache=True)
def rng_index(st, n):
    """Uniform integer in [0, n), n < 2^32 (from a 53-bit uniform; relative bias below n 2^-53)."""
    k = np.int64(rng_uniform(st) * n)
    return k if k < n else n - 1


def _zignor_tables(C=128, R=3.442619855899, V=9.91256303526217e-3):
    X = np.zeros(C + 1)
    f = math.exp(-0.5 * R * R)
    X[0] = V / f
    X[1] = R
    for i in range(2, C):
        X[i] = math.sqrt(-2.0 * math.log(V / X[i - 1] + f))
        f = math.exp(-0.5 * X[i] * X[i])
    return X, X[1:] / X[:-1]


ZIG_X, ZIG_RATIO = _zignor_tables()
ZIG_R = 3.442619855899


@njit(cache=True)
def _normal_slow(st, i, u):
    """Rejected fast-path draw of :func:`rng_normal`: the wedge test of layer i, or the tail (i = 0).
    Returns NaN when the draw is rejected (the caller then starts over)."""
    if i == 0:  # tail beyond R (Marsaglia)
        while True:
            x = math.log(1.0 - rng_uniform(st)) / ZIG_R
            y = math.log(1.0 - rng_uniform(st))
            if -2.0 * y >= x * x:
                return x - ZIG_R if u < 0 else ZIG_R - x
    x = u * ZIG_X[i]
    f0 = math.exp(-0.5 * (ZIG_X[i] * ZIG_X[i] - x * x))
    f1 = math.exp(-0.5 * (ZIG_X[i + 1] * ZIG_X[i + 1] - x * x))
    if f1 + rng_uniform(st) * (f0 - f1) < 1.0:
        return x
    return np.nan


@njit(cache=True)
def rng_normal(st):
    """Standard normal by the ziggurat method (Doornik 2005, ZIGNOR): layer from the low 7 bits and
    the uniform from the top 53 bits of one draw; exact tail by Marsaglia's method. The fast path
    (98.8 % of draws) is inlined; wedges and the tail are an out-of-line call."""
    while True:
        r = rng_next(st)
        i = np.int64(r & np.uint64(127))
        # 2 (k 2^-53) - 1 = k 2^-52 - 1 exactly; k < 2^53 converts exactly through int64
        u = np.float64(np.int64(r >> np.uint64(11))) * 2.220446049250313e-16 - 1.0
        if abs(u) < ZIG_RATIO[i]:
            return u * ZIG_X[i]
        z = _normal_slow(st, i, u)
        if z == z:
            return z


@njit(cache=True)
def fill_normals(st, z, start, stride, count):
    """``count`` normals of the stream ``st`` into z[start], z[start + stride], ...: the same numbers
    as ``count`` calls of :func:`rng_normal`, with the state held in registers in between."""
    s0, s1, s2, s3 = st[0], st[1], st[2], st[3]
    for j in range(count):
        while True:
            t = s1 * np.uint64(5)
            r = ((t << np.uint64(7)) | (t >> np.uint64(57))) * np.uint64(9)
            w = s1 << np.uint64(17)
            s2 ^= s0
            s3 ^= s1
            s1 ^= s2
            s0 ^= s3
            s2 ^= w
            s3 = (s3 << np.uint64(45)) | (s3 >> np.uint64(19))
            i = np.int64(r & np.uint64(127))
            u = np.float64(np.int64(r >> np.uint64(11))) * 2.220446049250313e-16 - 1.0
            if abs(u) < ZIG_RATIO[i]:
                z[start + j * stride] = u * ZIG_X[i]
                break
            st[0], st[1], st[2], st[3] = s0, s1, s2, s3
            v = _normal_slow(st, i, u)
            s0, s1, s2, s3 = st[0], st[1], st[2], st[3]
            if v == v:
                z[start + j * stride] = v
                break
    st[0], st[1], st[2], st[3] = s0, s1, s2, s3


@njit(cache=True)
def fill_indices(st, idx, count, n):
    """``count`` indices uniform in [0, n) into idx[:count]: the same as ``count`` calls of
    :func:`rng_index`, with the state held in registers in between."""
    s0, s1, s2, s3 = st[0], st[1], st[2], st[3]
    for j in range(count):
        t = s1 * np.uint64(5)
        r = ((t << np.uint64(7)) | (t >> np.uint64(57))) * np.uint64(9)
        w = s1 << np.uint64(17)
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= w
        s3 = (s3 << np.uint64(45)) | (s3 >> np.uint64(19))
        k = np.int64(np.float64(np.int64(r >> np.uint64(11))) * 1.1102230246251565e-16 * n)
        idx[j] = k if k < n else n - 1
    st[0], st[1], st[2], st[3] = s0, s1, s2, s3


@njit(cache=True)
def floyd_indices(st, idx, count, n):
    """``count`` distinct indices in [0, n) by Floyd's algorithm (uniform subset, in draw order)."""
    for j in range(count):
        jj = n - count + j
        pick = rng_index(st, jj + 1)
        for q in range(j):
            if idx[q] == pick:
                pick = jj
                break
        idx[j] = pick


@njit(cache=True)
def seed_states(keys):
    """Copy of the seeds, rejecting the all-zero xoshiro state (never produced in practice)."""
    S = keys.copy()
    for c in range(S.shape[0]):
        if S[c, 0] == 0 and S[c, 1] == 0 and S[c, 2] == 0 and S[c, 3] == 0:
            S[c, 0] = np.uint64(1)
    return S


@njit(cache=True)
def normals(keys, n):
    """n normals per chain from fresh states (tests of the generator), shape (n_chains, n)."""
    S = seed_states(keys)
    out = np.empty((S.shape[0], n))
    for c in range(S.shape[0]):
        st = S[c]
        for k in range(n):
            out[c, k] = rng_normal(st)
    return out


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
# Finite sums: reassociation and FMA contraction let LLVM vectorise the per-sample dot products and
# gradient sums (1.7x). Results stay independent of threads and checkpoints (the same machine code
# runs every chain) but may differ in the last bits between CPUs. No nnan/ninf: the divergence test
# must still see NaN.
SUM_FASTMATH = frozenset({"reassoc", "contract"})
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


# ---- model hooks from SymPy -------------------------------------------------------------------
class Unsupported(Exception):
    """The loss or noise cannot be printed as Numba code; the driver falls back to NumPy."""


def _printer():
    from sympy.printing.pycode import PythonCodePrinter

    class _Printer(PythonCodePrinter):
        """Small integer powers as products: Numba lowers ``x**2`` to a pow() call (~2x slower)."""

        def _print_Pow(self, expr, rational=False):
            n = expr.exp
            if n.is_Integer and 2 <= abs(int(n)) <= 8:
                b = self.parenthesize(expr.base, 100)  # atoms stay bare, sums get parentheses
                prod = "*".join([b] * abs(int(n)))
                return f"({prod})" if n > 0 else f"(1.0/({prod}))"
            return super()._print_Pow(expr, rational=rational)

    return _Printer({"fully_qualified_modules": True})


def _assignments(exprs, targets, symbols):
    """Lines ``temporary = ...`` (common subexpressions) and ``target = expr``; ``symbols`` maps
    SymPy symbols to the local names the caller has set."""
    import sympy as sp
    from sympy.printing.codeprinter import PrintMethodNotImplementedError

    pr = _printer()
    exprs = [drop_point_masses(e).subs(symbols) for e in exprs]  # SymPy expressions, never strings
    reps, red = sp.cse(exprs, symbols=sp.numbered_symbols("_t"))
    try:
        body = [f"{sym} = {pr.doprint(val)}" for sym, val in reps]
        body += [f"{tgt} = {pr.doprint(val)}" for tgt, val in zip(targets, red)]
    except PrintMethodNotImplementedError as exc:
        raise Unsupported(f"the Numba printer cannot print {exc}") from None
    text = "\n".join(body)
    if "Not supported" in text or "# " in text:
        raise Unsupported("an expression uses a function the Numba printer does not support")
    return body


def _indent(lines, n):
    return [" " * n + line for line in lines]


def _coordinate_symbols(expr_list, names):
    import sympy as sp

    out = {}
    for e in expr_list:
        for s in e.free_symbols:
            if s.name in names:
                out[s] = sp.Symbol(f"_x{names.index(s.name)}")
    return out


def _noise_expr(scalar_expr, loss):
    """s(x) with the loss value ``f`` replaced by the loss expression."""

    e = scalar_expr
    fsym = [v for v in e.free_symbols if v.name == "f"]
    if fsym:
        if getattr(loss, "expr", None) is None:
            raise Unsupported("the noise variance uses the loss value of a callable loss")
        e = e.subs(fsym[0], loss.expr)
    return e


_BLOCK_HEAD = [
    "def block(px, pst, C, c0, nb, kk, gamma, factor, bound, pdata, N, batch, pbuf, palive, pnvalid, pcode):",
    "    X = numba.carray(px, (C, D))",
    "    S = numba.carray(pst, (C, 4))",
    "    alive = numba.carray(palive, (NB,))",
    "    nvalid = numba.carray(pnvalid, (NB,))",
    "    code = numba.carray(pcode, (NB,))",
]


def gaussian_block_source(loss, nb, *, scalar_expr=None, L=None):
    """Source of the model hook ``block`` for Gaussian updates x <- x - gamma (grad f + factor z) with
    z = sqrt(s(x)) xi (``scalar_expr``: s, may use the loss value f) or z = L xi (constant L, baked in,
    zero entries dropped), xi standard normal.

    The normals of each chain for the kk steps are drawn first, in the chain's stream order (d per
    step), so the stream never depends on the blocking; the update then runs step by step over the
    ``nb`` chains of the block at once (independent chains: their latencies overlap, and the loop has
    no data-dependent branch). A chain whose s(x) is negative or NaN stops with code 2 and x
    unchanged; one whose new iterate is non-finite or beyond ``bound`` stops with code 1 there."""
    import sympy as sp

    if getattr(loss, "expr", None) is None or loss.variables is None:
        raise Unsupported("the loss is a callable (no SymPy expression)")
    names = list(loss.variables)
    d = len(names)
    g = [derivative(loss.expr, sp.Symbol(n, real=True)) for n in names]
    exprs, targets = list(g), [f"_g{k}" for k in range(d)]
    if scalar_expr is not None:
        exprs.append(_noise_expr(scalar_expr, loss))
        targets.append("_s")
    body = [f"_x{k} = xs[{k}, b]" for k in range(d)]
    body += _assignments(exprs, targets, _coordinate_symbols(exprs, names))
    body += [f"_n{k} = Z[k, {k}, b]" for k in range(d)]
    if scalar_expr is not None:
        body += ["_ok = _s >= 0.0", "_r = factor * math.sqrt(_s if _ok else 0.0)"]
        body += [f"_y{k} = _x{k} - gamma * (_g{k} + _r * _n{k})" for k in range(d)]
    else:
        body.append("_ok = True")
        L = np.asarray(L, dtype=float).reshape(d, d)
        for k in range(d):
            terms = [f"{float(L[k, j])!r} * _n{j}" for j in range(d) if L[k, j] != 0.0]
            z = " + ".join(terms) if terms else "0.0"
            body.append(f"_y{k} = _x{k} - gamma * (_g{k} + factor * ({z}))")
    inside = " & ".join(f"(abs(_y{k}) <= bound)" for k in range(d))
    body += [
        "_a = alive[b] != 0",
        "_u = _a & _ok",  # the update is applied (also to the first non-admissible iterate)
        f"_v = _u & {inside}",  # ... and the chain goes on
    ]
    body += [f"xs[{k}, b] = _y{k} if _u else _x{k}" for k in range(d)]
    body += [f"buf[k, {k}, b] = xs[{k}, b]" for k in range(d)]
    body += [
        "nvalid[b] += np.int64(_v)",
        "code[b] = code[b] if (_v or not _a) else (np.int64(1) if _ok else np.int64(2))",
        "alive[b] = np.int64(_v)",
    ]
    lines = [f"D = {d}", f"NB = {nb}", "", ""] + _BLOCK_HEAD
    lines += [
        "    buf = numba.carray(pbuf, (kk, D, NB))",
        "    xs = np.zeros((D, NB))",
        "    Z = np.zeros((kk, D, NB))",
        "    Zf = Z.reshape(-1)",
        "    for b in range(nb):",
        "        for i in range(D):",
        "            xs[i, b] = X[c0 + b, i]",
        "        if alive[b] != 0:",
        "            fill_normals(S[c0 + b], Zf, b, NB, kk * D)  # stream order: step k, coordinate i",
        "    for k in range(kk):",
        "        for b in range(NB):",
    ]
    lines += _indent(body, 12)
    lines += [
        "    for b in range(nb):",
        "        for i in range(D):",
        "            X[c0 + b, i] = xs[i, b]",
    ]
    return "\n".join(lines) + "\n"


def finite_sum_block_source(loss, nb, replace):
    """Source of the model hook ``block`` for minibatch SGD on a FiniteSum, and its data (N, n_columns).

    Per step each chain draws ``batch`` indices (with replacement, or without by Floyd's algorithm)
    and sums only those samples' gradients, evaluated inline from the sample's row of ``data``
    (row-major: one sample's columns are adjacent in memory). Samples given as expressions over data
    columns (FiniteSum.from_expr) are one printed expression; a list of expression samples becomes a
    chain of branches on the index (N <= 256)."""
    import sympy as sp

    d = loss.dim
    names = list(loss.variables) if loss.variables else None
    pre, inner = [], []
    if getattr(loss, "samples", None) is not None:
        samples = loss.samples
        if len(samples) > 256:
            raise Unsupported(f"{len(samples)} separate sample losses (> 256); use FiniteSum.from_expr with data")
        if any(s.expr is None or s.variables is None for s in samples):
            raise Unsupported("some sample losses are callables")
        for k, s in enumerate(samples):
            nm = list(s.variables)
            g = [derivative(s.expr, sp.Symbol(v, real=True)) for v in nm]
            pro = [f"_x{j} = x[{j}]" for j in range(len(nm))]
            body = pro + _assignments(g, [f"out[{j}]" for j in range(d)], _coordinate_symbols([s.expr], nm))
            pre += ["@njit", f"def _sg{k}(x, out):"] + _indent(body, 4) + ["", ""]
        pre += ["@njit", "def sample_grad(x, i, out):"]
        for k in range(len(samples)):
            pre += [f"    {'if' if k == 0 else 'elif'} i == {k}:", f"        _sg{k}(x, out)"]
        pre += ["", ""]
        inner = ["sample_grad(xv, _i, out)"] + [f"_h{j} = out[{j}]" for j in range(d)]
        data = np.zeros((len(samples), 1))
    else:  # FiniteSum.from_expr: one formula over the data columns
        rec = getattr(loss, "sample_expressions", None)
        if rec is None:
            raise Unsupported("the finite sum has neither sample losses nor sample expressions")
        names, dnames, cols = list(rec.variables), list(rec.data_names), rec.columns
        exprs = [derivative(rec.expr, sp.Symbol(n, real=True)) for n in names]
        subs = _coordinate_symbols(exprs, names)
        for e in exprs:
            for s in e.free_symbols:
                if s.name in dnames:
                    subs[s] = sp.Symbol(f"_d{dnames.index(s.name)}")
        inner = [f"_d{k} = data[_i, {k}]" for k in range(len(dnames))]
        inner += _assignments(exprs, [f"_h{j}" for j in range(d)], subs)
        data = np.stack([np.asarray(c, float) for c in cols], axis=1)
    data = np.ascontiguousarray(data)
    draw = ["fill_indices(st, idx, batch, N)" if replace else "floyd_indices(st, idx, batch, N)"]
    step = list(draw)
    step += [f"_g{j} = 0.0" for j in range(d)]
    if getattr(loss, "samples", None) is not None:
        step += [f"xv[{j}] = _x{j}" for j in range(d)]
    step += ["for j in range(batch):", "    _i = idx[j]"] + _indent(inner, 4)
    step += _indent([f"_g{j} += _h{j}" for j in range(d)], 4)
    step += [f"_x{j} = _x{j} - gamma * _g{j} / batch" for j in range(d)]
    step += [f"buf[k, {j}, b] = _x{j}" for j in range(d)]
    step += [
        "if not (" + " and ".join(f"abs(_x{j}) <= bound" for j in range(d)) + "):  # NaN fails too",
        "    code[b] = 1",
        "    alive[b] = 0",
        "    break",
        "nvalid[b] += 1",
    ]
    lines = [f"D = {d}", f"NB = {nb}", f"NCOL = {data.shape[1]}", "", ""] + pre + _BLOCK_HEAD
    lines += [
        "    buf = numba.carray(pbuf, (kk, D, NB))",
        "    data = numba.carray(pdata, (N, NCOL))",
        "    idx = np.zeros(max(batch, 1), np.int64)",
        "    xv = np.zeros(D)",
        "    out = np.zeros(D)",
        "    for b in range(nb):",
        "        if alive[b] == 0:",
        "            continue",
        "        st = S[c0 + b]",
    ]
    lines += _indent([f"_x{j} = X[c0 + b, {j}]" for j in range(d)], 8)
    lines += ["        for k in range(kk):"] + _indent(step, 12)
    lines += _indent([f"X[c0 + b, {j}] = _x{j}" for j in range(d)], 8)
    return "\n".join(lines) + "\n", data


_KERNEL = []


def chain_kernel():
    """``run_chains`` compiled (on first use; then loaded from Numba's cache) for its one signature."""
    if not _KERNEL:
        _KERNEL.append(njit(_RUN_SIG, parallel=True, cache=True)(run_chains))
    return _KERNEL[0]


_HOOKS = {}
_SOURCES = weakref.WeakKeyDictionary()


def memo_source(loss, key, make):
    """``make()`` memoised per loss object and key: printing with SymPy's CSE costs 10-20 ms a model."""
    try:
        per = _SOURCES.setdefault(loss, {})
    except TypeError:  # not weak-referenceable: no memo
        return make()
    if key not in per:
        per[key] = make()
    return per[key]


def _hook_dir():
    """Directory of the hooks' module files and Numba caches (None: not writable, compile in memory).

    Subfolder ``mc_hooks`` of :func:`fwpotential._cache.cache_root` (``$FWPOTENTIAL_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/fwpotential``, default ``~/.cache/fwpotential``)."""
    path = os.path.join(cache_root(), "mc_hooks")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError:
        return None
    return path if os.access(path, os.W_OK) else None


_FINGERPRINT = []


def _fingerprint():
    """This module's source and Numba's version: a hook's cached machine code links the RNG functions
    of this module, whose changes Numba's cache would not notice."""
    if not _FINGERPRINT:
        with open(__file__, "rb") as fh:
            h = hashlib.sha256(fh.read())
        h.update(numba.__version__.encode())
        _FINGERPRINT.append(h.hexdigest())
    return _FINGERPRINT[0]


_MODULE_HEAD = """# generated by fwpotential.montecarlo._chains.compile_block: do not edit
import math

import numba
import numpy as np
from numba import njit

from fwpotential.montecarlo._chains import BLOCK_SIG, fill_indices, fill_normals, floyd_indices

"""


def compile_block(src, fastmath=False):
    """Compile the model hook ``block`` (Python source) with the kernel's function signature.

    The source runs with ``math``, ``np``, ``numba``, ``njit``, ``fill_normals``, ``fill_indices``
    and ``floyd_indices`` in scope. The hook is a ``numba.cfunc`` (its address is read once; a
    dispatcher's is looked up again on every kernel call). Compiled hooks are memoised per process by
    source text and fastmath flags, and cached across processes by Numba (``cache=True``) in a module
    file named by the hash of the source (see :func:`_hook_dir`): about 1 s the first time a model
    is run, 0.1 s after."""
    fm = sorted(fastmath) if not isinstance(fastmath, bool) else fastmath
    key = (src, repr(fm))
    if key in _HOOKS:
        return _HOOKS[key]
    fm_src = "{" + ", ".join(map(repr, fm)) + "}" if isinstance(fm, list) else repr(fm)  # sorted: one file
    text = _MODULE_HEAD + src + f"\n\nblock = numba.cfunc(BLOCK_SIG, fastmath={fm_src}, cache=CACHE)(block)\n"
    digest = hashlib.sha256((_fingerprint() + text).encode()).hexdigest()[:20]
    name = f"fwpotential_hook_{digest}"
    folder = _hook_dir()
    module = None
    if folder is not None:
        path = os.path.join(folder, name + ".py")
        try:
            if not os.path.exists(path):  # never rewritten: a new stamp would void Numba's cache
                tmp = f"{path}.{os.getpid()}.tmp"
                with open(tmp, "w") as fh:
                    fh.write(text.replace("cache=CACHE", "cache=True"))
                os.replace(tmp, path)
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
        except Exception:  # noqa: BLE001 - any trouble with the cache: compile in memory
            sys.modules.pop(name, None)
            module = None
    if module is None:
        ns = {"CACHE": False, "__name__": name}
        exec(compile(text, f"<{name}>", "exec"), ns)  # noqa: S102 - source printed by SymPy
        hook = ns["block"]
    else:
        hook = module.block
    _HOOKS[key] = hook
    return hook
