"""Model hooks of the Monte Carlo chain kernel, printed from SymPy and compiled with Numba.

A hook is a ``numba.cfunc`` taking raw pointers (signature ``BLOCK_SIG`` of
:mod:`fwpotential.montecarlo._kernel`), printed per model with the gradient, the noise variance or
Cholesky factor, or the finite-sum sample gradients inline, sharing common subexpressions.
:func:`gaussian_block_source` steps NB chains side by side (no data-dependent branch, the chains'
latencies overlap) with normals drawn per chain into a buffer first (``fill_normals``, state in
registers); :func:`finite_sum_block_source` draws each chain's minibatch indices and sums only
those samples' gradients from row-major data. :func:`compile_block` compiles a hook in 1-2 s and
caches it across processes.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import weakref

import numba
import numpy as np
import sympy as sp
from sympy.printing.codeprinter import PrintMethodNotImplementedError
from sympy.printing.pycode import PythonCodePrinter

from fwpotential._cache import cache_root
from fwpotential.model.expressions import derivative, drop_point_masses
from fwpotential.montecarlo import _kernel, _rng

# Finite-sum hooks: reassociation and FMA contraction let LLVM vectorise the per-sample dot products and
# gradient sums (1.7x). Results stay independent of threads and checkpoints (the same machine code
# runs every chain) but may differ in the last bits between CPUs. No nnan/ninf: the divergence test
# must still see NaN.
SUM_FASTMATH = frozenset({"reassoc", "contract"})


class Unsupported(Exception):
    """The loss or noise cannot be printed as Numba code; the driver falls back to NumPy."""


class _Printer(PythonCodePrinter):
    """Small integer powers as products: Numba lowers ``x**2`` to a pow() call (~2x slower)."""

    def _print_Pow(self, expr, rational=False):
        n = expr.exp
        if n.is_Integer and 2 <= abs(int(n)) <= 8:
            b = self.parenthesize(expr.base, 100)  # atoms stay bare, sums get parentheses
            prod = "*".join([b] * abs(int(n)))
            return f"({prod})" if n > 0 else f"(1.0/({prod}))"
        return super()._print_Pow(expr, rational=rational)


def _printer():
    return _Printer({"fully_qualified_modules": True})


def _assignments(exprs, targets, symbols):
    """Lines ``temporary = ...`` (common subexpressions) and ``target = expr``; ``symbols`` maps
    SymPy symbols to the local names the caller has set."""
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
    """The sources of :mod:`._rng` and :mod:`._kernel` and Numba's version: a hook's cached machine
    code links the RNG functions of ``_rng`` (and has the signature ``BLOCK_SIG`` of ``_kernel``),
    whose changes Numba's cache of the hook module would not notice."""
    if not _FINGERPRINT:
        h = hashlib.sha256()
        for module in (_rng, _kernel):
            with open(module.__file__, "rb") as fh:
                h.update(fh.read())
        h.update(numba.__version__.encode())
        _FINGERPRINT.append(h.hexdigest())
    return _FINGERPRINT[0]


_MODULE_HEAD = """# generated by fwpotential.montecarlo.codegen.compile_block: do not edit
import math

import numba
import numpy as np
from numba import njit

from fwpotential.montecarlo._kernel import BLOCK_SIG
from fwpotential.montecarlo._rng import fill_indices, fill_normals, floyd_indices

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
