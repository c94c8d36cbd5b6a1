"""Safe parsing of expression strings into SymPy, and vectorised NumPy functions of points (..., d).

Every expression a user writes (losses, noise variances and covariance entries, drifts, set and exact
expressions of problem files, finite-sum sample expressions over data columns) is parsed here by a
whitelist walk over Python's ``ast``: the string is never handed to ``eval``, ``sympify`` or
``parse_expr``, so a problem file cannot run code. The grammar (docs/conventions.md, "Expressions"):

- numbers (``2``, ``0.15``, ``1e-3``), names (variables, parameters, data columns, ``f`` where the
  loss value is allowed; ``pi`` is the constant unless declared),
- ``+ - * / **`` (``^`` is also a power) and unary ``- +``; comparisons ``< <= > >= == !=`` (chains
  such as ``0 < x < 1`` allowed), ``&`` and ``|`` between conditions, ``True`` and ``False``,
- calls of :data:`FUNCTIONS` with positional arguments; ``Piecewise((value, condition), ...)``.

Anything else (attributes, subscripts, lambdas, comprehensions, strings, keywords, starred arguments,
names starting with ``_``) raises :class:`ExpressionError` naming the piece. So that no string makes
parsing or differentiation run for minutes, constants beyond :data:`MAX_BITS` bits, decimals longer
than :data:`MAX_DIGITS`, Max/Min of more than :data:`MAX_MINMAX` terms, strings over
:data:`MAX_LENGTH` characters and nesting deeper than :data:`MAX_DEPTH` are refused before the work.
"""

from __future__ import annotations

import ast
import keyword
import math
import operator

import numpy as np
import sympy as sp

from fwpotential.errors import ExpressionError

DEFAULT_VARIABLES = ("x", "y", "z")
MAX_LENGTH = 10_000  # characters of one expression string
MAX_DEPTH = 50  # nesting of parentheses, calls, powers and unary signs (flat sums and products do not count)
MAX_MINMAX = 5  # terms of one Max or Min: the terms of its Hessian grow combinatorially with their number
MAX_DIGITS = 40  # characters of a decimal literal (its precision carries into every derivative)
MAX_BITS = 1024  # exact integers and rationals (a float overflows at 2**1024 anyway)

# name -> (SymPy function, smallest and largest number of arguments; None: no upper bound)
FUNCTIONS = {
    "exp": (sp.exp, 1, 1),
    "log": (sp.log, 1, 2),  # log(x) natural, log(x, b) to base b
    "sqrt": (sp.sqrt, 1, 1),
    "sin": (sp.sin, 1, 1),
    "cos": (sp.cos, 1, 1),
    "tan": (sp.tan, 1, 1),
    "asin": (sp.asin, 1, 1),
    "acos": (sp.acos, 1, 1),
    "atan": (sp.atan, 1, 1),
    "atan2": (sp.atan2, 2, 2),
    "sinh": (sp.sinh, 1, 1),
    "cosh": (sp.cosh, 1, 1),
    "tanh": (sp.tanh, 1, 1),
    "asinh": (sp.asinh, 1, 1),
    "acosh": (sp.acosh, 1, 1),
    "atanh": (sp.atanh, 1, 1),
    "Abs": (sp.Abs, 1, 1),
    "abs": (sp.Abs, 1, 1),
    "sign": (sp.sign, 1, 1),
    "Heaviside": (sp.Heaviside, 1, 1),
    "Max": (sp.Max, 1, None),
    "Min": (sp.Min, 1, None),
    "Piecewise": (sp.Piecewise, 1, None),
}
CONSTANTS = {"pi": sp.pi}

_ARITH = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}
_LOGIC = {ast.BitAnd: sp.And, ast.BitOr: sp.Or}
# Python's order operators on SymPy objects, as SymPy's own parser uses; == and != as Eq and Ne, since
# Python's == on SymPy objects compares structure
_COMPARE = {ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge}
_COMPARE |= {ast.Eq: sp.Eq, ast.NotEq: sp.Ne}
_KIND = {
    ast.Attribute: "attribute access",
    ast.Subscript: "subscript",
    ast.Lambda: "lambda",
    ast.ListComp: "comprehension",
    ast.SetComp: "comprehension",
    ast.DictComp: "comprehension",
    ast.GeneratorExp: "comprehension",
    ast.JoinedStr: "f-string",
    ast.Starred: "starred argument",
    ast.IfExp: "conditional expression",
    ast.BoolOp: "'and'/'or'",
    ast.NamedExpr: "assignment expression",
    ast.List: "list",
    ast.Dict: "dict",
    ast.Set: "set",
    ast.Tuple: "tuple",
}
_ADVICE = {
    ast.IfExp: "use Piecewise((value, condition), ...)",
    ast.BoolOp: "use & and | between parenthesised comparisons",
    ast.Tuple: "tuples are only the (value, condition) pairs of Piecewise",
}
GRAMMAR = (
    f"expressions hold numbers, names, + - * / ** (or ^), comparisons, & and |, and calls of {', '.join(FUNCTIONS)}"
)


class _Refused(Exception):
    """A piece of the expression outside the grammar; the message names it."""


def check_name(name, role="name"):
    """Raise unless ``name`` can be a variable, parameter or data column: an identifier that starts
    with a letter and is not a Python keyword (generated code uses names starting with ``_``)."""
    ok = isinstance(name, str) and name.isidentifier() and name[:1].isalpha() and not keyword.iskeyword(name)
    if not ok:
        raise ExpressionError(f"{role} {name!r} is not allowed: use letters, digits and _, starting with a letter")
    return name


def to_sympy(text, declared=(), *, what="expression"):
    """The SymPy expression of the string ``text`` (grammar in the module docstring).

    ``declared`` names become real Symbols; any other name also becomes a real Symbol (the caller
    reports it as unknown), except ``pi`` which is the constant.
    """
    if not isinstance(text, str):
        raise ExpressionError(f"{what} must be a string, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"{what} is {len(text)} characters long; at most {MAX_LENGTH} are accepted")
    source = text.strip().replace("^", "**")  # ^ is a power, as in SymPy (strings are refused anyway)
    tree = _tree(source, text, what)
    try:
        return _Builder(source, set(declared)).build(tree.body, 0)
    except _Refused as exc:
        raise ExpressionError(f"cannot use {what} {text!r}: {exc}") from None
    except (TypeError, ValueError, ArithmeticError, RecursionError) as exc:
        raise ExpressionError(f"cannot build {what} {text!r}: {exc}") from None


def _tree(source, text, what):
    try:
        return ast.parse(source, mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError) as exc:
        msg = getattr(exc, "msg", None) or str(exc)
        col = f" at column {exc.offset}" if getattr(exc, "offset", None) else ""
        raise ExpressionError(f"cannot parse {what} {text!r}: {msg}{col}") from None


class _Builder:
    """Walks an ``ast`` expression and builds the SymPy expression node by node."""

    def __init__(self, text, declared):
        self.text, self.declared = text, declared

    def piece(self, node):
        seg = ast.get_source_segment(self.text, node) or type(node).__name__
        return seg if len(seg) <= 60 else seg[:57] + "..."

    def build(self, node, depth):
        if depth > MAX_DEPTH:
            raise _Refused(f"nested deeper than {MAX_DEPTH} levels")
        if isinstance(node, ast.Constant):
            return self.constant(node)
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            v = self.build(node.operand, depth + 1)
            return -v if isinstance(node.op, ast.USub) else +v
        if isinstance(node, ast.BinOp) and type(node.op) in _ARITH:
            return self.chain(node, depth)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
            return self.power(self.build(node.left, depth + 1), self.build(node.right, depth + 1), node)
        if isinstance(node, ast.BinOp) and type(node.op) in _LOGIC:
            return _LOGIC[type(node.op)](self.build(node.left, depth + 1), self.build(node.right, depth + 1))
        if isinstance(node, ast.Compare):
            return self.compare(node, depth)
        if isinstance(node, ast.Call):
            return self.call(node, depth)
        kind = _KIND.get(type(node))
        if kind is None:
            op = getattr(node, "op", None)
            kind = f"operator {type(op).__name__}" if op is not None else type(node).__name__
        raise _Refused(f"{kind} {self.piece(node)!r} is not allowed; {_ADVICE.get(type(node), GRAMMAR)}")

    def constant(self, node):
        v = node.value
        if isinstance(v, bool):
            return sp.true if v else sp.false
        if isinstance(v, int):
            if v.bit_length() > MAX_BITS:
                raise _Refused(f"the number {self.piece(node)!r} has more than {MAX_BITS} bits")
            return sp.Integer(v)
        if isinstance(v, float):  # from the literal's text, so its precision matches what was written
            digits = ast.get_source_segment(self.text, node).replace("_", "")
            if len(digits) > MAX_DIGITS:
                raise _Refused(f"the number {self.piece(node)!r} has more than {MAX_DIGITS} characters")
            return sp.Float(digits)
        kind = {str: "string", bytes: "bytes", complex: "complex number"}.get(type(v), type(v).__name__)
        raise _Refused(f"{kind} {self.piece(node)!r} is not allowed; {GRAMMAR}")

    def name(self, node):
        n = node.id
        if n in self.declared:
            return sp.Symbol(n, real=True)
        if n.startswith("_"):
            raise _Refused(f"name {n!r} is not allowed: names start with a letter")
        if n in CONSTANTS:
            return CONSTANTS[n]
        if n in FUNCTIONS:
            raise _Refused(f"function {n!r} is used without arguments; call it as {n}(...)")
        return sp.Symbol(n, real=True)

    def chain(self, node, depth):
        """A flat run of + - (or * /) built left to right, without recursion along the run."""
        family = (ast.Add, ast.Sub) if isinstance(node.op, (ast.Add, ast.Sub)) else (ast.Mult, ast.Div)
        ops, rights = [], []
        while isinstance(node, ast.BinOp) and isinstance(node.op, family):
            ops.append(_ARITH[type(node.op)])
            rights.append(node.right)
            node = node.left
        out = self.build(node, depth + 1)
        for op, right in zip(reversed(ops), reversed(rights)):
            out = self.numeric_guard(op(out, self.build(right, depth + 1)), right)
        return out

    def power(self, base, exp, node):
        if isinstance(exp, sp.Number) and exp.is_finite:
            bits = max([_log2(a) for a in base.atoms(sp.Rational)] + [1.0])  # bits of the result per unit power
            if abs(float(exp)) * bits > MAX_BITS:
                raise _Refused(f"the power {self.piece(node)!r} is too large (a constant over {MAX_BITS} bits)")
        return self.numeric_guard(base**exp, node)

    def numeric_guard(self, value, node):
        if isinstance(value, sp.Rational) and _bits(value) > MAX_BITS:
            raise _Refused(f"the constant {self.piece(node)!r} has more than {MAX_BITS} bits")
        return value

    def compare(self, node, depth):
        left = self.build(node.left, depth + 1)
        parts = []
        for op, right_node in zip(node.ops, node.comparators):
            if type(op) not in _COMPARE:
                raise _Refused(f"comparison {type(op).__name__} in {self.piece(node)!r} is not allowed; {GRAMMAR}")
            right = self.build(right_node, depth + 1)
            parts.append(_COMPARE[type(op)](left, right))
            left = right
        return parts[0] if len(parts) == 1 else sp.And(*parts)

    def call(self, node, depth):
        if not isinstance(node.func, ast.Name):
            raise _Refused(f"call of {self.piece(node.func)!r} is not allowed; {GRAMMAR}")
        fname = node.func.id
        if fname.startswith("_"):
            raise _Refused(f"name {fname!r} is not allowed: names start with a letter")
        if fname not in FUNCTIONS:
            raise _Refused(f"unknown function {fname!r}; the functions are {', '.join(FUNCTIONS)}")
        if node.keywords:
            raise _Refused(f"keyword argument in {self.piece(node)!r} is not allowed; pass arguments by position")
        fn, lo, hi = FUNCTIONS[fname]
        if fname in ("Max", "Min") and len(node.args) > MAX_MINMAX:
            raise _Refused(self._minmax(node, fname, len(node.args)))
        if not lo <= len(node.args) <= (hi if hi is not None else math.inf):
            want = f"{lo}" if lo == hi else f"{lo} to {hi}" if hi else f"at least {lo}"
            raise _Refused(f"{fname} takes {want} argument(s), got {len(node.args)} in {self.piece(node)!r}")
        if fname == "Piecewise":
            return fn(*[self.pair(a, depth) for a in node.args])
        out = fn(*[self.build(a, depth + 1) for a in node.args])
        if isinstance(out, (sp.Max, sp.Min)) and len(out.args) > MAX_MINMAX:  # nested ones merge
            raise _Refused(self._minmax(node, type(out).__name__, len(out.args)))
        return out

    def _minmax(self, node, fname, n):
        return (
            f"{self.piece(node)!r} is a {fname} of {n} terms; at most {MAX_MINMAX} are accepted "
            "(the terms of its derivatives grow combinatorially with their number)"
        )

    def pair(self, node, depth):
        if not isinstance(node, ast.Tuple) or len(node.elts) != 2:
            raise _Refused(f"Piecewise takes (value, condition) pairs, got {self.piece(node)!r}")
        return tuple(self.build(e, depth + 1) for e in node.elts)


def _bits(q):
    return max(int(q.p).bit_length(), int(q.q).bit_length())


def _log2(q):
    return max(math.log2(abs(int(q.p)) or 1), math.log2(int(q.q)))


_HINTS = {
    "E": "E is not Euler's number here; write exp(1), or declare E as a parameter",
    "I": "complex numbers are not supported",
}


def parse(expr, names, params=None, *, what="expression"):
    """Parse ``expr`` (str, number or SymPy) and check its free symbols are in ``names`` or ``params``.

    Returns the expression with parameters substituted.
    """
    params = dict(params or {})
    for n in list(names) + list(params):
        check_name(n, "parameter" if n in params else "name")
    local = {n: sp.Symbol(n, real=True) for n in list(names) + list(params)}
    if isinstance(expr, str):
        e = to_sympy(expr, local, what=what)
    elif isinstance(expr, (int, float)) and not isinstance(expr, bool):
        e = sp.Float(expr) if isinstance(expr, float) else sp.Integer(expr)
    elif isinstance(expr, sp.Basic):
        e = expr.subs({s: local[s.name] for s in expr.free_symbols if s.name in local})
    else:
        raise ExpressionError(f"{what} must be a string or SymPy expression, got {type(expr).__name__}")
    for k, v in params.items():
        if not np.isscalar(v) or isinstance(v, (str, bytes)) or not np.isfinite(float(v)):
            raise ExpressionError(f"parameter {k!r} must be a finite number, got {v!r}")
        e = e.subs(local[k], sp.Float(float(v)))
    unknown = sorted(s.name for s in e.free_symbols if s.name not in names)
    if unknown:
        hints = "".join(f" ({_HINTS[u]})" for u in unknown if u in _HINTS)
        raise ExpressionError(
            f"{what} {expr!r} uses unknown symbol(s) {unknown}{hints}; variables are {list(names)}"
            + (f", parameters {sorted(params)}" if params else "")
            + "; pass variables=[...] or params={...}"
        )
    if not isinstance(e, sp.Expr) or e.has(sp.I) or e.has(sp.zoo) or e.has(sp.nan):
        raise ExpressionError(f"{what} {expr!r} is not a real expression")
    return e


def infer_variables(exprs, params=None, variables=None, *, what="expression"):
    """Variables of a set of expressions: ``variables`` if given, else x, y, z up to the last used."""
    if variables is not None:
        variables = tuple(str(v) for v in variables)
        if len(set(variables)) != len(variables) or not variables:
            raise ExpressionError(f"variables must be distinct names, got {list(variables)}")
        for v in variables:
            check_name(v, "variable")
        return variables
    used = set()
    for e in exprs:
        if isinstance(e, str):
            used |= {s.name for s in to_sympy(e, DEFAULT_VARIABLES + tuple(params or {}), what=what).free_symbols}
        elif isinstance(e, sp.Basic):
            used |= {s.name for s in e.free_symbols}
    last = max([DEFAULT_VARIABLES.index(n) for n in used if n in DEFAULT_VARIABLES], default=0)
    return DEFAULT_VARIABLES[: last + 1]


def derivative(e, *symbols):
    """∂e/∂symbols, taken where it exists: the point masses (DiracDelta) that differentiating Abs,
    sign, Heaviside, Max, Min or Piecewise produces sit on sets of measure zero that grids and
    chains do not resolve, so they are dropped, leaving a derivative that NumPy and Numba evaluate."""
    return drop_point_masses(sp.diff(e, *symbols))


def drop_point_masses(e):
    """``e`` with every DiracDelta term set to zero (see :func:`derivative`)."""
    if not isinstance(e, sp.Basic) or not e.has(sp.DiracDelta):
        return e
    return e.replace(lambda t: isinstance(t, sp.DiracDelta), lambda t: sp.S.Zero)


def _heaviside(a, at_zero=0.5):
    """NumPy's Heaviside step. Given to lambdify by name: SymPy's NumPy printer would otherwise
    rewrite every Heaviside as a simplified Piecewise, which takes minutes for the derivative of a
    Max or Min of ten terms."""
    return np.heaviside(a, at_zero)


def vectorize(e, names, extra=()):
    """A function ``fn(x, *extra_values)`` evaluating ``e`` at points ``x`` of shape (..., d).

    ``names`` are the coordinate symbols (d of them), ``extra`` further scalar-field symbols (such as
    the loss value ``f``) whose values are passed as arrays of shape (...). Returns shape (...).
    """
    syms = [sp.Symbol(n, real=True) for n in list(names) + list(extra)]
    e = drop_point_masses(e)
    raw = sp.lambdify(syms, e, modules=[{"Heaviside": _heaviside}, "numpy"])
    d = len(names)

    def fn(x, *fields):
        x = np.asarray(x, dtype=float)
        args = [x[..., k] for k in range(d)] + [np.asarray(v, dtype=float) for v in fields]
        with np.errstate(all="ignore"):
            out = raw(*args)
        return np.broadcast_to(np.asarray(out, dtype=float), x.shape[:-1]).copy()

    fn.expr = e
    return fn


def vectorize_many(exprs, names, extra=()):
    """Like :func:`vectorize` for several expressions at once, with their common subexpressions
    computed once (SymPy's ``cse``): ``fn(x, *extra_values)`` returns shape (..., len(exprs)).

    The gradient of a loss in d variables is d expressions sharing most of their terms (the residual
    of a regression, say), so this evaluates it in O(d) rather than O(d²) operations.
    """
    syms = [sp.Symbol(n, real=True) for n in list(names) + list(extra)]
    es = [drop_point_masses(e) for e in exprs]
    raw = sp.lambdify(syms, es, modules=[{"Heaviside": _heaviside}, "numpy"], cse=True)
    d = len(names)

    def fn(x, *fields):
        x = np.asarray(x, dtype=float)
        args = [x[..., k] for k in range(d)] + [np.asarray(v, dtype=float) for v in fields]
        with np.errstate(all="ignore"):
            outs = raw(*args)
        shape = np.broadcast_shapes(x.shape[:-1], *[np.shape(v) for v in fields])
        return np.stack([np.broadcast_to(np.asarray(o, dtype=float), shape) for o in outs], axis=-1)

    fn.exprs = es
    return fn
