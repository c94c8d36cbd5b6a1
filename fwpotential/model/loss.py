"""Losses f : R^d -> R (expressions or callables) and finite sums f = (1/N) sum_i f_i."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import sympy as sp

from fwpotential.errors import DimensionError, ExpressionError, FWWarning, InputError, NonFiniteError
from fwpotential.model import expressions as _expr

__all__ = ["Loss", "FiniteSum", "SampleExpressions"]

_CHUNK = 2_000_000  # floats per finite-difference batch


def as_points(x, d):
    """``x`` as a float array of shape (..., d); a scalar or (n,) array is accepted when d == 1."""
    x = np.asarray(x, dtype=float)
    if x.ndim == 0:
        x = x.reshape(1)
    if x.shape[-1] != d:
        if d == 1:
            x = x[..., None]
        else:
            raise DimensionError(f"points must have shape (..., {d}), got {x.shape}")
    return x


def check_finite(name, values, x):
    """Raise :class:`NonFiniteError` naming the first point where ``values`` is not finite."""
    bad = ~np.isfinite(values)
    if bad.any():
        if bad.ndim > x.ndim - 1:
            bad = bad.reshape(x.shape[:-1] + (-1,)).any(axis=-1)
        where = np.argwhere(bad)[0]
        point = x[tuple(where)] if x.ndim > 1 else x
        raise NonFiniteError(
            f"{name} is not finite at x = {np.array2string(point, precision=6)}; "
            "check the expression's domain or restrict the grid/box"
        )
    return values


class Loss:
    """A loss f(x), x of shape (..., d), with its gradient and Hessian.

    Build one with :meth:`from_expr` (gradient and Hessian derived with SymPy) or
    :meth:`from_callable` (gradient and Hessian optional; central finite differences with a
    :class:`~fwpotential.errors.FWWarning` otherwise). All methods are vectorised over leading axes
    and raise :class:`~fwpotential.errors.NonFiniteError` on NaN or infinite values.

    Examples
    --------
    >>> f = Loss.from_expr("(x**2 - 1)**2 / 4 + 0.15*x")
    >>> f.dim, float(f.value([1.0]))
    (1, 0.15)
    """

    def __init__(self, value, grad=None, hess=None, *, dim, expr=None, variables=None, name=None, hvp=None):
        if int(dim) < 1:
            raise DimensionError(f"dim must be >= 1, got {dim}")
        self.dim = int(dim)
        self._value, self._grad, self._hess, self._hvp = value, grad, hess, hvp
        self.expr = expr
        self.variables = tuple(variables) if variables is not None else None
        self.name = name or (str(expr) if expr is not None else getattr(value, "__name__", "loss"))
        self._warned = set()

    # ---- construction -------------------------------------------------------------------
    @classmethod
    def from_expr(cls, expr, *, variables=None, params=None) -> Loss:
        """A loss from an expression in ``variables`` (default x, y, z up to the last used).

        Parameters
        ----------
        expr : str or sympy.Expr
            E.g. ``"(x**2 - 1)**2 + 2*y**2 + a*x*y**2"``. Strings follow the expression grammar of
            docs/conventions.md (numbers, names, arithmetic, comparisons, a fixed table of functions);
            they are parsed, never evaluated as Python.
        variables : sequence of str, optional
            Coordinate names, in order; fixes d. Default: ``x``, ``y``, ``z`` up to the last one used.
        params : dict, optional
            Numerical values of the other symbols.
        """
        names = _expr.infer_variables([expr], params, variables, what="loss expression")
        e = _expr.parse(expr, names, params, what="loss expression")
        syms = [sp.Symbol(n, real=True) for n in names]
        g = [_expr.derivative(e, s) for s in syms]
        fv = _expr.vectorize(e, names)
        grad = _expr.vectorize_many(g, names)
        hv = []  # the d² second derivatives, built on the first Hessian call (costly for large d)

        def hess(x):
            if not hv:
                hv.extend([_expr.vectorize(_expr.derivative(gi, s), names) for s in syms] for gi in g)
            return np.stack([np.stack([hk(x) for hk in row], axis=-1) for row in hv], axis=-2)

        return cls(fv, grad, hess, dim=len(names), expr=e, variables=names, name=str(expr), hvp=_HVP_FROM_GRAD)

    @classmethod
    def from_callable(cls, value, *, dim, grad=None, hess=None, hvp=None, name=None) -> Loss:
        """A loss from Python callables of points (..., d): ``value -> (...)``, ``grad -> (..., d)``,
        ``hess -> (..., d, d)``, ``hvp(x, v) -> (..., d)`` (∇²f(x) v, for the matrix-free methods of
        any dimension). Missing derivatives use central differences (with a warning)."""
        for nm, fn in (("value", value), ("grad", grad), ("hess", hess), ("hvp", hvp)):
            if fn is not None and not callable(fn):
                raise InputError(f"{nm} must be callable, got {type(fn).__name__}")
        return cls(value, grad, hess, dim=dim, name=name, hvp=hvp)

    # ---- evaluation ---------------------------------------------------------------------
    def value(self, x) -> np.ndarray:
        """f(x), shape (...)."""
        x = as_points(x, self.dim)
        v = np.asarray(self._value(x), dtype=float)
        if v.shape != x.shape[:-1]:
            v = np.broadcast_to(v, x.shape[:-1])
        return check_finite(f"loss {self.name!r}", v, x)

    __call__ = value

    def grad(self, x) -> np.ndarray:
        """∇f(x), shape (..., d)."""
        x = as_points(x, self.dim)
        if self._grad is None:
            self._warn_fd("gradient")
            g = fd_gradient(self._value, x)
        else:
            g = np.asarray(self._grad(x), dtype=float)
        if g.shape != x.shape:
            raise DimensionError(f"gradient of {self.name!r} returned shape {g.shape}, expected {x.shape}")
        return check_finite(f"gradient of loss {self.name!r}", g, x)

    def hess(self, x) -> np.ndarray:
        """∇²f(x), shape (..., d, d)."""
        x = as_points(x, self.dim)
        if self._hess is None:
            self._warn_fd("Hessian")
            grad = self._grad if self._grad is not None else (lambda y: fd_gradient(self._value, y))
            H = fd_jacobian(grad, x)
            H = 0.5 * (H + np.swapaxes(H, -1, -2))
        else:
            H = np.asarray(self._hess(x), dtype=float)
        if H.shape != x.shape + (self.dim,):
            raise DimensionError(f"Hessian of {self.name!r} returned shape {H.shape}, expected {x.shape + (self.dim,)}")
        return check_finite(f"Hessian of loss {self.name!r}", H, x)

    def hvp(self, x, v) -> np.ndarray:
        """∇²f(x) v, shape (..., d), without forming the Hessian when it can: the user's ``hvp``; else,
        for d <= 8 with a Hessian, the product; else a central difference of the exact gradient along v
        (relative error about 1e-10; a warning when the gradient itself is a finite difference)."""
        x, v = as_points(x, self.dim), as_points(v, self.dim)
        x, v = np.broadcast_arrays(x, v)
        if self._hvp is not None and self._hvp is not _HVP_FROM_GRAD:
            out = np.asarray(self._hvp(x, v), dtype=float)
        elif self._hess is not None and self._hvp is None and self.dim <= 8:
            out = np.einsum("...ij,...j->...i", self.hess(x), v)
        else:
            if self._hvp is None:
                self._warn_fd("Hessian-vector product")
            out = directional_derivative(self.grad, x, v)
        if out.shape != x.shape:
            raise DimensionError(f"hvp of {self.name!r} returned shape {out.shape}, expected {x.shape}")
        return check_finite(f"Hessian-vector product of loss {self.name!r}", out, x)

    def _warn_fd(self, what):
        if what not in self._warned:
            self._warned.add(what)
            warnings.warn(
                f"loss {self.name!r} has no {what}; using central finite differences "
                f"(pass {_FD_ARG.get(what, 'hess')}= to from_callable for exact values)",
                FWWarning,
                stacklevel=4,
            )

    def __repr__(self):
        return f"Loss({self.name!r}, dim={self.dim})"


_HVP_FROM_GRAD = object()  # marker: the gradient is exact, so a difference of it along v is accurate
_FD_ARG = {"gradient": "grad", "Hessian": "hess", "Hessian-vector product": "hvp"}


def directional_derivative(fn, x, v):
    """Central difference of ``fn`` (..., d) -> (..., q) at x along v: ≈ DF(x) v, shape (..., q).

    The step is scaled to |x| and |v| (relative error about eps^(2/3) for smooth F); v = 0 gives 0.
    """
    nv = np.linalg.norm(v, axis=-1, keepdims=True)
    h = np.cbrt(np.finfo(float).eps) * np.maximum(1.0, np.linalg.norm(x, axis=-1, keepdims=True))
    u = v / np.where(nv > 0, nv, 1.0)
    diff = np.asarray(fn(x + h * u), dtype=float) - np.asarray(fn(x - h * u), dtype=float)
    scale = (nv / (2.0 * h)).reshape(x.shape[:-1] + (1,) * (diff.ndim - x.ndim + 1))
    return diff * scale


def _fd_step(x):
    return np.cbrt(np.finfo(float).eps) * np.maximum(1.0, np.abs(x))


def _fd_partials(fn, x):
    """Central differences of ``fn`` along each coordinate, chunked over coordinates so d may be large.

    ``fn`` maps (..., d) to (...) or (..., q); returns (..., d) or (..., q, d) with [..., k] = ∂/∂x_k.
    """
    d = x.shape[-1]
    lead = x.shape[:-1]
    n_lead = int(np.prod(lead)) if lead else 1
    h = _fd_step(x)
    step = max(1, _CHUNK // max(1, n_lead * d))
    parts = []
    for k0 in range(0, d, step):
        ks = np.arange(k0, min(d, k0 + step))
        e = np.zeros((len(ks), d))
        e[np.arange(len(ks)), ks] = 1.0
        hk = h[..., ks]  # (..., m)
        xp = x[..., None, :] + hk[..., None] * e
        xm = x[..., None, :] - hk[..., None] * e
        diff = np.asarray(fn(xp)) - np.asarray(fn(xm))  # (..., m) or (..., m, q)
        if diff.ndim == hk.ndim:
            parts.append(diff / (2.0 * hk))
        else:
            parts.append(np.swapaxes(diff / (2.0 * hk[..., None]), -1, -2))
    return np.concatenate(parts, axis=-1)


def fd_gradient(fn, x):
    """Central-difference gradient of a scalar function, shape (..., d)."""
    return _fd_partials(fn, x)


def fd_jacobian(fn, x):
    """Central-difference Jacobian of a vector function (..., d) -> (..., d): J[..., i, k] = ∂F_i/∂x_k."""
    return _fd_partials(fn, x)


@dataclass(frozen=True)
class SampleExpressions:
    """The samples of :meth:`FiniteSum.from_expr`: f_i(x) = ``expr`` at the coordinates and at row
    i of the data columns (parameters already substituted).

    Attributes
    ----------
    expr : sympy.Expr
        The sample loss in the symbols ``variables`` and ``data_names`` (real SymPy symbols).
    variables : tuple of str
        Coordinate names, in order (d of them).
    data_names : tuple of str
        Data column names, in order.
    columns : tuple of ndarray (N,)
        The data columns, in the order of ``data_names``.
    """

    expr: sp.Expr
    variables: tuple
    data_names: tuple
    columns: tuple


class FiniteSum(Loss):
    """f = (1/N) Σ_i f_i, a loss with N samples (for SGD's minibatch noise).

    Parameters
    ----------
    samples : sequence of Loss
        The per-sample losses f_i, all of the same dimension.

    Notes
    -----
    ``sample_grads(x)`` gives ∇f_i(x) with shape (..., N, d); :func:`fwpotential.sgd` builds the
    exact minibatch noise law from them (theory.md §2). For many samples sharing one formula use
    :meth:`from_expr` with data arrays, which evaluates all samples in one vectorised call.

    Attributes
    ----------
    samples : list of Loss or None
        The per-sample losses (None for :meth:`from_expr`).
    sample_expressions : SampleExpressions or None
        The formula and data of :meth:`from_expr` (None for a list of samples).
    n_samples : int
    """

    def __init__(self, samples):
        samples = list(samples)
        if len(samples) < 1:
            raise InputError("a FiniteSum needs at least one sample loss")
        for s in samples:
            if not isinstance(s, Loss):
                raise InputError(f"FiniteSum samples must be Loss objects, got {type(s).__name__}")
        dims = {s.dim for s in samples}
        if len(dims) != 1:
            raise DimensionError(
                f"FiniteSum samples have different dimensions {sorted(dims)}; build them with the same variables=[...]"
            )
        self.samples = samples
        self.sample_expressions = None
        self.n_samples = len(samples)
        d = dims.pop()
        super().__init__(
            lambda x: self._sample_values(x).mean(axis=-1),
            lambda x: self._sample_grads(x).mean(axis=-2),
            lambda x: np.mean([s.hess(x) for s in self.samples], axis=0),
            dim=d,
            name=f"mean of {len(samples)} samples",
            hvp=lambda x, v: np.mean([s.hvp(x, v) for s in self.samples], axis=0),
        )
        self._sample_values = lambda x: np.stack([s.value(x) for s in self.samples], axis=-1)
        self._sample_grads = lambda x: np.stack([s.grad(x) for s in self.samples], axis=-2)

    @classmethod
    def from_expr(cls, expr, *, data, variables=None, params=None) -> FiniteSum:
        """Samples f_i(x) = expr(x; data_i) for columns ``data = {"u": array(N), ...}``.

        Example: ``FiniteSum.from_expr("(w*u - t)**2 / 2", data={"u": u, "t": t}, variables=["w"])``.
        """
        data = {str(k): np.asarray(v, dtype=float).reshape(-1) for k, v in dict(data).items()}
        if not data:
            raise InputError("FiniteSum.from_expr needs data={'name': array, ...}")
        sizes = {len(v) for v in data.values()}
        if len(sizes) != 1:
            raise DimensionError(f"data columns have different lengths {sorted(sizes)}")
        for k, v in data.items():
            if not np.all(np.isfinite(v)):
                raise NonFiniteError(f"data column {k!r} has non-finite entries")
        dnames = tuple(data)
        declared = {**(params or {}), **dict.fromkeys(dnames, 0)}
        names = _expr.infer_variables([expr], declared, variables, what="sample loss expression")
        e = _expr.parse(expr, names + dnames, params, what="sample loss expression")
        syms = [sp.Symbol(n, real=True) for n in names]
        fv = _expr.vectorize(e, names, dnames)
        gv = _expr.vectorize_many([_expr.derivative(e, s) for s in syms], names, dnames)
        hv = []  # the d² second derivatives, built on the first Hessian call (costly for large d)
        cols = [data[k] for k in dnames]

        def hess(x):
            if not hv:
                hv.extend([_expr.vectorize(_expr.derivative(e, s, t), names, dnames) for t in syms] for s in syms)
            return np.stack([np.stack([per_sample(h, x).mean(axis=-1) for h in row], axis=-1) for row in hv], axis=-2)

        def per_sample(fn, x):
            return fn(np.broadcast_to(x[..., None, :], x.shape[:-1] + (len(cols[0]), x.shape[-1])), *cols)

        obj = cls.__new__(cls)
        obj.samples = None
        obj.sample_expressions = SampleExpressions(
            expr=e, variables=tuple(names), data_names=dnames, columns=tuple(cols)
        )
        obj.n_samples = len(cols[0])
        obj._sample_values = lambda x: per_sample(fv, x)
        obj._sample_grads = lambda x: per_sample(gv, x)
        Loss.__init__(
            obj,
            lambda x: obj._sample_values(x).mean(axis=-1),
            lambda x: obj._sample_grads(x).mean(axis=-2),
            hess,
            dim=len(names),
            variables=names,
            name=f"mean over {len(cols[0])} data rows of {expr}",
            hvp=_HVP_FROM_GRAD,
        )
        return obj

    def sample_values(self, x) -> np.ndarray:
        """f_i(x), shape (..., N)."""
        x = as_points(x, self.dim)
        return check_finite("sample losses", np.asarray(self._sample_values(x), dtype=float), x)

    def sample_grads(self, x) -> np.ndarray:
        """∇f_i(x), shape (..., N, d)."""
        x = as_points(x, self.dim)
        return check_finite("sample gradients", np.asarray(self._sample_grads(x), dtype=float), x)

    def __repr__(self):
        return f"FiniteSum(N={self.n_samples}, dim={self.dim})"


def coerce_loss(loss) -> Loss:
    """Accept a Loss or an expression string."""
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, (str, sp.Basic)):
        return Loss.from_expr(loss)
    raise ExpressionError(f"expected a Loss or an expression string, got {type(loss).__name__}")
