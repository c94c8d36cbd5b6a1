"""Numba kernels of the Monte Carlo chains and of the exact finite-step chain (private).

Random numbers: every chain owns a xoshiro256** state (4 uint64, a row of ``S``) seeded from
``np.random.SeedSequence(seed).spawn(n_chains)``; normals by Doornik's ziggurat (ZIGNOR, 128 blocks).
A chain's stream never depends on the thread that runs it, so results are identical for any thread
count.

The chain kernel ``run_chains`` is compiled once (explicit signature, ``cache=True``) and takes the
model as first-class functions taking raw pointers: ``step`` (one whole Gaussian update, printed from
SymPy with the gradient and the noise variance sharing common subexpressions and the normals drawn
inline) and ``sample_grad`` (one sample's gradient of a finite sum). :func:`compile_hooks` compiles
them per model in about a second (they are not cached across processes).
"""

from __future__ import annotations

import inspect
import math

import numba
import numpy as np
from numba import njit, prange, types
from numba.extending import intrinsic


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
    return np.float64(rng_next(st) >> np.uint64(11)) * 1.1102230246251565e-16


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
def rng_normal(st):
    """Standard normal by the ziggurat method (Doornik 2005, ZIGNOR): layer from the low 7 bits and
    the uniform from the top 53 bits of one draw; exact tail by Marsaglia's method."""
    while True:
        r = rng_next(st)
        i = np.int64(r & np.uint64(127))
        u = 2.0 * (np.float64(r >> np.uint64(11)) * 1.1102230246251565e-16) - 1.0
        if abs(u) < ZIG_RATIO[i]:
            return u * ZIG_X[i]
        if i == 0:  # tail beyond R
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
def node_index(x, lower, inv_h, shape):
    """Flat (C-order) index of the grid node nearest to ``x``; -1 beyond half a cell outside the box."""
    idx = 0
    for i in range(shape.shape[0]):
        r = (x[i] - lower[i]) * inv_h[i]
        if not (r >= -0.5 and r < shape[i] - 0.5):
            return -1
        idx = idx * shape[i] + np.int64(math.floor(r + 0.5))
    return idx


# ---- the chain kernel -----------------------------------------------------------------------
A1, A2, A3 = types.float64[::1], types.float64[:, ::1], types.float64[:, :, ::1]
I1, I2, I3 = types.int64[::1], types.int64[:, ::1], types.int64[:, :, ::1]
P = types.CPointer(types.float64)  # hooks take raw pointers: no reference counting per call
PU = types.CPointer(types.uint64)
STEP_SIG = types.int64(P, PU, types.float64, types.float64)  # step(x, st, gamma, factor) -> 0, or 2: a(x) < 0
SAMPLE_SIG = types.void(P, types.int64, P, types.int64, P)  # sample_grad(x, i, data, n, out): data[k * n + i]


@intrinsic
def _ptr(typingctx, arr):
    """Data pointer of a contiguous array (the array must outlive its use)."""
    sig = types.CPointer(arr.dtype)(arr)

    def codegen(context, builder, signature, args):
        return context.make_array(arr)(context, builder, args[0]).data

    return sig, codegen


_RUN_SIG = types.void(
    A2, types.int8[::1], I1, types.uint64[:, ::1], types.int64, types.int64, types.float64, types.float64,
    A2, types.int64, types.float64, A1, A1, I1, I1, I1, I2, I1, I1, I3, A2, A2,
    I2, A1, A1, I1, types.int64, types.int64, A3, types.int64,
    types.FunctionType(STEP_SIG), types.FunctionType(SAMPLE_SIG),
)  # fmt: skip


def run_chains(
    X, status, stop, S, t0, n, gamma, factor, data, batch, bound,
    lab_lower, lab_inv_h, lab_shape, basins, cores, counts, cur, entry, trans, tau_sum, tau_sq,
    hist, h_lower, h_inv_h, h_shape, burn_in, store_every, traj, mode, step, sample_grad,
):  # fmt: skip
    """Advance every live chain from step t0 to t0 + n (or until it stops).

    Update (mode 0, 1: the ``step`` hook): x <- x - gamma (g + factor z), g = grad f(x), z = L xi
    (L constant) or sqrt(s(x)) xi, xi standard normal; mode 2 / 3: x <- x - gamma g, g = mean of the
    gradients of ``batch`` samples drawn with / without replacement.
    status: 0 running, 1 diverged (non-finite or |x_i| > bound), 2 negative noise variance.
    Statistics after each step t (1-based): counts[c, label] (label m: no basin) and hist for
    t > burn_in; core-to-core transitions trans[c, i, j] with first-passage times (steps) in
    tau_sum/tau_sq; positions at t % store_every == 0 into traj[t // store_every - 1].
    """
    C = X.shape[0]
    d = X.shape[1]
    m = counts.shape[1] - 1
    use_lab = basins.shape[0] > 0
    use_hist = hist.shape[1] > 0
    N = data.shape[1]
    for c in prange(C):
        if status[c] != 0:
            continue
        tid = numba.get_thread_id()
        st = S[c]
        x = X[c].copy()
        g = np.zeros(d)
        tmp = np.zeros(d)
        idx = np.zeros(max(batch, 1), np.int64)
        px, ptmp, pdata, pst = _ptr(x), _ptr(tmp), _ptr(data), _ptr(st)
        for k in range(n):
            if mode <= 1:
                if step(px, pst, gamma, factor) != 0:
                    status[c] = 2
                    stop[c] = t0 + k
                    break
            else:
                if mode == 2:
                    for b in range(batch):
                        idx[b] = rng_index(st, N)
                else:  # Floyd's sampling of `batch` distinct indices
                    for b in range(batch):
                        jj = N - batch + b
                        pick = rng_index(st, jj + 1)
                        for q in range(b):
                            if idx[q] == pick:
                                pick = jj
                                break
                        idx[b] = pick
                for i in range(d):
                    g[i] = 0.0
                for b in range(batch):
                    sample_grad(px, idx[b], pdata, N, ptmp)
                    for i in range(d):
                        g[i] += tmp[i]
                for i in range(d):
                    x[i] -= gamma * g[i] / batch
            t = t0 + k + 1
            ok = True
            for i in range(d):
                if not (abs(x[i]) <= bound):  # NaN fails too
                    ok = False
            if not ok:
                status[c] = 1
                stop[c] = t
                break
            if use_lab:
                node = node_index(x, lab_lower, lab_inv_h, lab_shape)
                if t > burn_in:
                    lab = basins[node] if node >= 0 else -1
                    counts[c, lab if lab >= 0 else m] += 1
                core = cores[node] if node >= 0 else -1
                if core >= 0 and core != cur[c]:
                    if cur[c] >= 0:
                        tau = np.float64(t - entry[c])
                        trans[c, cur[c], core] += 1
                        tau_sum[c, cur[c]] += tau
                        tau_sq[c, cur[c]] += tau * tau
                    cur[c] = core
                    entry[c] = t
            if use_hist and t > burn_in:
                hn = node_index(x, h_lower, h_inv_h, h_shape)
                if hn >= 0:
                    hist[tid, hn] += 1
            if store_every > 0 and t % store_every == 0:
                for i in range(d):
                    traj[t // store_every - 1, c, i] = x[i]
        X[c] = x


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


def _function_src(header, prologue, exprs, targets, symbols):
    """Source of an njit function: ``header``, then ``prologue`` lines, CSE temporaries and
    ``target = expr`` lines. ``symbols`` maps SymPy symbols to the local names set in the prologue."""
    import sympy as sp

    pr = _printer()
    exprs = [sp.sympify(e).subs(symbols) for e in exprs]
    reps, red = sp.cse(exprs, symbols=sp.numbered_symbols("_t"))
    body = list(prologue)
    for sym, val in reps:
        body.append(f"{sym} = {pr.doprint(val)}")
    for tgt, val in zip(targets, red):
        body.append(f"{tgt} = {pr.doprint(val)}")
    text = "\n".join("    " + line for line in body)
    if "Not supported" in text or "# " in text:
        raise Unsupported("an expression uses a function the Numba printer does not support")
    return f"{header}\n{text}\n"


def _coordinate_symbols(expr_list, names):
    import sympy as sp

    out = {}
    for e in expr_list:
        for s in sp.sympify(e).free_symbols:
            if s.name in names:
                out[s] = sp.Symbol(f"_x{names.index(s.name)}")
    return out


def _prologue(names, arr="x"):
    return [f"_x{k} = {arr}[{k}]" for k in range(len(names))]


def _noise_expr(scalar_expr, loss):
    """s(x) with the loss value ``f`` replaced by the loss expression."""

    e = scalar_expr
    fsym = [v for v in e.free_symbols if v.name == "f"]
    if fsym:
        if getattr(loss, "expr", None) is None:
            raise Unsupported("the noise variance uses the loss value of a callable loss")
        e = e.subs(fsym[0], loss.expr)
    return e


def step_source(loss, *, scalar_expr=None, L=None):
    """``step(x, st, gamma, factor)``: one update x <- x - gamma (grad f + factor z) in place, with
    z = sqrt(s(x)) xi (``scalar_expr``: s, may use the loss value f) or z = L xi (constant L, baked in);
    xi drawn from the chain's generator ``st``. Returns 2 (x unchanged) where s(x) < 0 or is NaN."""
    import sympy as sp

    if getattr(loss, "expr", None) is None or loss.variables is None:
        raise Unsupported("the loss is a callable (no SymPy expression)")
    names = list(loss.variables)
    d = len(names)
    g = [sp.diff(loss.expr, sp.Symbol(n, real=True)) for n in names]
    exprs = list(g)
    targets = [f"_g{k}" for k in range(d)]
    if scalar_expr is not None:
        exprs.append(_noise_expr(scalar_expr, loss))
        targets.append("_s")
    subs = _coordinate_symbols(exprs, names)
    src = _function_src("def step(x, st, gamma, factor):", _prologue(names), exprs, targets, subs)
    lines = []
    if scalar_expr is not None:
        lines += ["if not (_s >= 0.0):", "    return 2", "_r = factor * math.sqrt(_s)"]
        lines += [f"_n{k} = rng_normal(st)" for k in range(d)]
        lines += [f"x[{k}] = _x{k} - gamma * (_g{k} + _r * _n{k})" for k in range(d)]
    else:
        L = np.asarray(L, dtype=float).reshape(d, d)
        lines += [f"_n{k} = rng_normal(st)" for k in range(d)]
        for k in range(d):
            terms = [f"{float(L[k, j])!r} * _n{j}" for j in range(d) if L[k, j] != 0.0]
            z = " + ".join(terms) if terms else "0.0"
            lines.append(f"x[{k}] = _x{k} - gamma * (_g{k} + factor * ({z}))")
    lines.append("return 0")
    return src + "\n".join("    " + line for line in lines) + "\n"


def sample_grad_source(loss):
    """``sample_grad(x, i, data, out)`` for a FiniteSum: per-sample gradient of sample i.

    Returns (source, data array (n_columns, N)). Samples given as expressions over data columns
    (FiniteSum.from_expr) read their data from ``data``; a list of expression samples becomes a
    chain of branches on i (N <= 256)."""
    import sympy as sp

    d = loss.dim
    names = list(loss.variables) if loss.variables else None
    if getattr(loss, "samples", None) is not None:
        samples = loss.samples
        if len(samples) > 256:
            raise Unsupported(f"{len(samples)} separate sample losses (> 256); use FiniteSum.from_expr with data")
        if any(s.expr is None or s.variables is None for s in samples):
            raise Unsupported("some sample losses are callables")
        parts = []
        for k, s in enumerate(samples):
            nm = list(s.variables)
            g = [sp.diff(s.expr, sp.Symbol(v, real=True)) for v in nm]
            subs = _coordinate_symbols([s.expr], nm)
            parts.append(
                "@njit\n"
                + _function_src(f"def _sg{k}(x, out):", _prologue(nm), g, [f"out[{j}]" for j in range(d)], subs)
            )
        body = ["def sample_grad(x, i, data, n, out):"]
        for k in range(len(samples)):
            body.append(f"    {'if' if k == 0 else 'elif'} i == {k}:\n        _sg{k}(x, out)")
        return "\n".join(parts) + "\n" + "\n".join(body) + "\n", np.zeros((1, len(samples)))
    # FiniteSum.from_expr: the per-sample gradient functions and data columns sit in closures
    try:
        fn = loss._sample_grads
        cells = dict(zip(fn.__code__.co_freevars, (c.cell_contents for c in fn.__closure__)))
        gv, per_sample = cells["gv"], cells["per_sample"]
        pcells = dict(zip(per_sample.__code__.co_freevars, (c.cell_contents for c in per_sample.__closure__)))
        cols = pcells["cols"]
        raw = gv[0].__closure__
        exprs = [g.expr for g in gv]
        raw_fn = [c.cell_contents for c in raw if callable(c.cell_contents) and hasattr(c.cell_contents, "__code__")][0]
        argnames = list(inspect.signature(raw_fn).parameters)
    except Exception as exc:  # noqa: BLE001 - any layout change means: not compilable
        raise Unsupported(f"cannot read the finite sum's sample expressions ({exc})") from None
    if names is None or argnames[:d] != names or len(argnames) != d + len(cols):
        raise Unsupported("unexpected finite-sum layout")
    dnames = argnames[d:]
    subs = _coordinate_symbols(exprs, names)
    for e in exprs:
        for s in e.free_symbols:
            if s.name in dnames:
                subs[s] = sp.Symbol(f"_d{dnames.index(s.name)}")
    pro = _prologue(names) + [f"_d{k} = data[{k} * n + i]" for k in range(len(dnames))]
    src = _function_src("def sample_grad(x, i, data, n, out):", pro, exprs, [f"out[{j}]" for j in range(d)], subs)
    return src, np.ascontiguousarray(np.stack([np.asarray(c, float) for c in cols]))


_KERNEL = []


def chain_kernel():
    """``run_chains`` compiled (on first use; then loaded from Numba's cache) for its one signature."""
    if not _KERNEL:
        _KERNEL.append(njit(_RUN_SIG, parallel=True, cache=True)(run_chains))
    return _KERNEL[0]


STUB_STEP = "def step(x, st, gamma, factor):\n    return 0\n"
STUB_SAMPLE = "def sample_grad(x, i, data, n, out):\n    pass\n"
_HOOKS = {}


def compile_hooks(step_src, sample_src):
    """Compile the model hooks (Python source) with the kernel's function signatures.

    The sources run in a namespace with ``math``, ``np``, ``njit`` and ``rng_normal``; compiled hooks
    are memoised per process by source text. Returns (step, sample_grad)."""
    out = []
    for name, src, sig in (("step", step_src, STEP_SIG), ("sample_grad", sample_src, SAMPLE_SIG)):
        key = (name, src)
        if key not in _HOOKS:
            ns = {"math": math, "np": np, "njit": njit, "rng_normal": rng_normal}
            exec(compile(src, f"<fwpotential {name}>", "exec"), ns)  # noqa: S102 - source printed by SymPy
            fn = ns[name]
            fn = getattr(fn, "py_func", fn)
            _HOOKS[key] = njit(sig)(fn)
        out.append(_HOOKS[key])
    return tuple(out)


# ---- exact finite-step chain: Grassmann–Taksar–Heyman on a profile-stored matrix ---------------
@njit(cache=True)
def profile_lower(lo, hi):
    """Leftmost column of each row after GTH fill-in. Row i keeps columns [lo_i, hi_i]; eliminating
    state k (from the last) adds columns [lo_k, k) to every earlier row i with lo_i <= k <= hi_i."""
    n = lo.shape[0]
    out = lo.copy()
    for k in range(n - 1, 0, -1):
        for i in range(k):
            if out[i] <= k <= hi[i] and out[k] < out[i]:
                out[i] = out[k]
    return out


@njit(cache=True)
def gth_solve(vals, off, lo, hi):
    """Stationary vector of the row-stochastic matrix stored by rows: P[i, j] = vals[off[i] + j - lo[i]]
    for lo[i] <= j <= hi[i] (lo already extended by fill-in). Grassmann, Taksar & Heyman (1985):
    state reduction from the last state without subtractions, then back substitution.

    Returns (pi, status): status 0 ok, 1 when a state has no way down (chain not irreducible).
    """
    n = lo.shape[0]
    S = np.zeros(n)
    for k in range(n - 1, 0, -1):
        s = 0.0
        for j in range(lo[k], k):
            s += vals[off[k] + j - lo[k]]
        if not (s > 0.0):
            return np.zeros(n), 1
        S[k] = s
        for i in range(k):
            if lo[i] <= k <= hi[i]:
                pik = vals[off[i] + k - lo[i]]
                if pik != 0.0:
                    w = pik / s
                    for j in range(lo[k], k):
                        vals[off[i] + j - lo[i]] += w * vals[off[k] + j - lo[k]]
    pi = np.zeros(n)
    pi[0] = 1.0
    for k in range(1, n):
        acc = 0.0
        for i in range(k):
            if lo[i] <= k <= hi[i]:
                acc += pi[i] * vals[off[i] + k - lo[i]]
        pi[k] = acc / S[k]
    tot = pi.sum()
    for k in range(n):
        pi[k] /= tot
    return pi, 0
