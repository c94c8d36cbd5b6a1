"""Parse SymPy expressions and turn them into vectorised NumPy functions of points (..., d)."""

from __future__ import annotations

import numpy as np
import sympy as sp

from .errors import ExpressionError

DEFAULT_VARIABLES = ("x", "y", "z")


def parse(expr, names, params=None, *, what="expression"):
    """Parse ``expr`` (str or SymPy) and check its free symbols are in ``names`` or ``params``.

    Returns the expression with parameters substituted.
    """
    params = dict(params or {})
    local = {n: sp.Symbol(n, real=True) for n in list(names) + list(params)}
    if isinstance(expr, str):
        try:
            e = sp.sympify(expr, locals=local)
        except (sp.SympifyError, SyntaxError, TypeError) as exc:
            raise ExpressionError(f"cannot parse {what} {expr!r}: {exc}") from exc
    elif isinstance(expr, (int, float)):
        e = sp.Float(expr) if isinstance(expr, float) else sp.Integer(expr)
    elif isinstance(expr, sp.Basic):
        e = expr.subs({s: local[s.name] for s in expr.free_symbols if s.name in local})
    else:
        raise ExpressionError(f"{what} must be a string or SymPy expression, got {type(expr).__name__}")
    for k, v in params.items():
        if not np.isscalar(v) or not np.isfinite(float(v)):
            raise ExpressionError(f"parameter {k!r} must be a finite number, got {v!r}")
        e = e.subs(local[k], sp.Float(float(v)))
    unknown = sorted(s.name for s in e.free_symbols if s.name not in names)
    if unknown:
        raise ExpressionError(
            f"{what} {expr!r} uses unknown symbol(s) {unknown}; variables are {list(names)}"
            + (f", parameters {sorted(params)}" if params else "")
            + "; pass variables=[...] or params={...}"
        )
    if e.has(sp.I) or e.has(sp.zoo) or e.has(sp.nan):
        raise ExpressionError(f"{what} {expr!r} is not a real expression")
    return e


def infer_variables(exprs, params=None, variables=None):
    """Variables of a set of expressions: ``variables`` if given, else x, y, z up to the last used."""
    if variables is not None:
        variables = tuple(str(v) for v in variables)
        if len(set(variables)) != len(variables) or not variables:
            raise ExpressionError(f"variables must be distinct names, got {list(variables)}")
        return variables
    used = set()
    params = set(params or {})
    for e in exprs:
        if isinstance(e, str):
            try:
                e = sp.sympify(e, locals={n: sp.Symbol(n) for n in DEFAULT_VARIABLES + tuple(params)})
            except (sp.SympifyError, SyntaxError, TypeError) as exc:
                raise ExpressionError(f"cannot parse expression {e!r}: {exc}") from exc
        if isinstance(e, sp.Basic):
            used |= {s.name for s in e.free_symbols}
    last = max([DEFAULT_VARIABLES.index(n) for n in used if n in DEFAULT_VARIABLES], default=0)
    return DEFAULT_VARIABLES[: last + 1]


def vectorize(e, names, extra=()):
    """A function ``fn(x, *extra_values)`` evaluating ``e`` at points ``x`` of shape (..., d).

    ``names`` are the coordinate symbols (d of them), ``extra`` further scalar-field symbols (such as
    the loss value ``f``) whose values are passed as arrays of shape (...). Returns shape (...).
    """
    syms = [sp.Symbol(n, real=True) for n in list(names) + list(extra)]
    raw = sp.lambdify(syms, e, modules="numpy")
    d = len(names)

    def fn(x, *fields):
        x = np.asarray(x, dtype=float)
        args = [x[..., k] for k in range(d)] + [np.asarray(v, dtype=float) for v in fields]
        with np.errstate(all="ignore"):
            out = raw(*args)
        return np.broadcast_to(np.asarray(out, dtype=float), x.shape[:-1]).copy()

    fn.expr = e
    return fn
