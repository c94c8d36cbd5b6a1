"""Noise laws of SGD and diffusions: cumulant generating function Λ(x, p), its p-derivatives,
covariance, Legendre transform and a sampler (theory.md §2).

Convention: for SGD, x_{n+1} = x_n - γ(∇f(x_n) + Z), Λ(x, p) = log E exp(-<p, Z(x)>). For a
diffusion with covariance a(x), Λ = ½ pᵀ a p. Laws are declared unbound (``GaussianNoise("0.5 + f")``)
and bound to a loss and a dimension by :func:`fwpotential.sgd` / :class:`fwpotential.Diffusion`.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from itertools import combinations, combinations_with_replacement

import numpy as np
import sympy as sp
from scipy.special import logsumexp

from fwpotential.errors import CovarianceError, DimensionError, FWWarning, InputError
from fwpotential.model import _cost_kernels as _ck
from fwpotential.model import expressions as _expr
from fwpotential.model.loss import FiniteSum, as_points, check_finite, fd_gradient, fd_jacobian

__all__ = [
    "NoiseLaw",
    "GaussianNoise",
    "IsotropicNoise",
    "FiniteSumNoise",
    "CustomNoise",
    "BatchNoise",
    "CompiledNoise",
]

MAX_SUBSETS = 20_000  # exact without-replacement law enumerates at most this many batches


@dataclass(frozen=True)
class CompiledNoise:
    """How a compiled chain kernel draws Z for one step (from :meth:`NoiseLaw.compiled_form`).

    Attributes
    ----------
    kind : {"constant", "scalar", "minibatch"}
        "constant": Z is the mean of ``draws`` independent N(0, ``covariance``) vectors;
        "scalar": the mean of ``draws`` independent N(0, s(x) I) vectors, s = ``variance``;
        "minibatch": the minibatch noise of a FiniteSum, ``draws`` sample indices per step.
    draws : int
        Independent draws averaged per step (the batch size B).
    covariance : ndarray (d, d) or None
        The constant covariance of one draw ("constant").
    variance : sympy.Expr or None
        s in the coordinates and the loss value ``f`` ("scalar").
    replace : bool
        Minibatch indices drawn with replacement ("minibatch").
    """

    kind: str
    draws: int = 1
    covariance: np.ndarray | None = None
    variance: object = None
    replace: bool = True


class NoiseLaw:
    """Base class. A bound law has ``dim`` (and ``loss`` where it needs one) and gives

    - ``cgf(x, p)`` → (...): Λ(x, p), convex in p, Λ(x, 0) = 0, ∇ₚΛ(x, 0) = 0 (E Z = 0)
    - ``cgf_grad(x, p)`` → (..., d), ``cgf_hess(x, p)`` → (..., d, d)
    - ``cov(x)`` → (..., d, d): Cov Z(x) = ∇²ₚΛ(x, 0)
    - ``conjugate(x, u)`` → (...): Λ*(x, u) = sup_p <p, u> - Λ(x, p) (+inf where infinite)
    - ``support(x, e)`` → (...): sup over the support of -Z of <e, -Z> (+inf when unbounded)
    - ``sample(x, rng)`` → (..., d): one draw of Z at each point
    - ``atom_form(x)``: ``(Z (..., K, d), s)`` with Λ = s log mean_k exp(-<p, z_k>/s) for a law
      uniform on finitely many atoms (``is_discrete``), which compiled kernels evaluate from the
      tabulated atoms; None for every other law

    and, for the consumers that treat some laws in closed form (Monte Carlo kernels, the exact
    finite-step chain, the eikonal reduction): ``constant_covariance()``, ``loss_variance()``,
    ``compiled_form()``, ``point_masses(x)`` and ``describe()``; each returns None (or a generic
    answer) where the law has no such form.
    """

    is_gaussian = False
    is_discrete = False  # uniform on finitely many atoms z_k(x): bounded, with +inf costs
    needs_loss = False

    def bind(self, loss, dim):
        """A copy of this law attached to ``loss`` (may be None) in dimension ``dim``."""
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new.loss, new.dim = loss, int(dim)
        new._on_bind()
        return new

    def _on_bind(self):
        pass

    def _pts(self, x):
        if getattr(self, "dim", None) is None:
            raise InputError(f"{type(self).__name__} is not bound to a loss/dimension; pass it to fw.sgd(...)")
        return as_points(x, self.dim)

    def conjugate(self, x, u):
        return _conjugate_newton(self, self._pts(x), self._pts(u), bound=self._conj_bound(x))

    def _conj_bound(self, x):
        return None

    def support(self, x, e):
        x = self._pts(x)
        return np.full(np.broadcast_shapes(x.shape[:-1], self._pts(e).shape[:-1]), np.inf)

    def geometric_cost(self, x, b, e):
        """sup {<p, e> : <b, p> + Λ(x, p) <= 0} for drift b(x), shape broadcast(x, e)[:-1], by a method
        of the law itself; None when the law has none (the caller then searches over speeds)."""
        return None

    def constant_covariance(self):
        """Cov Z (d, d) when it does not depend on x, else None."""
        return None

    def loss_variance(self):
        """s as a function of the loss value, ``s(f) -> (...)``, when Cov Z = s(f(x)) I depends on x
        only through f (constants included), else None."""
        return None

    def compiled_form(self):
        """A :class:`CompiledNoise` when a compiled kernel can draw Z without calling Python, else
        None (the Monte Carlo driver then samples with :meth:`sample`)."""
        return None

    def point_masses(self, x, *, max_atoms=20_000):
        """The law of Z at points x (n, d) as point masses: atoms (n, K, d) and their
        probabilities (K,), when it is finitely supported, else None."""
        return None

    def describe(self):
        """What one draw of Z is, in words (``Run.info["model"]``)."""
        return f"{type(self).__name__} sampler"

    def atom_form(self, x):
        """(atoms (..., K, d), scale s) of a law uniform on finitely many atoms; None here."""
        return None


# ---------------------------------------------------------------------------------------------
#: Above this dimension a constant isotropic covariance s I is kept as the scalar s, not a matrix.
MAX_DENSE_CONSTANT = 64


class GaussianNoise(NoiseLaw):
    """Gaussian noise with covariance a(x): Λ(x, p) = ½ pᵀ a(x) p.

    Parameters
    ----------
    cov : number, str, sequence of sequences, ndarray (d, d) or callable
        - number or string expression: a scalar field s, a = s I (expressions may use the
          coordinates x, y, z and the loss value ``f``);
        - a d×d nested list of numbers/expressions: a matrix field;
        - an ndarray (d, d): a constant matrix;
        - a callable ``cov(x) -> (..., d, d)`` (or ``(...)`` for a scalar field).
    params : dict, optional
        Values of parameters in expressions.
    variables : sequence of str, optional
        Coordinate names in expressions (default x, y, z).

    Raises
    ------
    CovarianceError
        When a(x) is not symmetric positive semi-definite at an evaluation point.
    """

    is_gaussian = True

    def __init__(self, cov, *, params=None, variables=None):
        if isinstance(cov, (int, float, np.floating, np.integer)) and not isinstance(cov, bool):
            _check_variance(cov)
        self.spec, self.params = cov, dict(params or {})
        self.variables = tuple(str(v) for v in variables) if variables is not None else None
        self.loss = self.dim = None

    def _names(self):
        """Coordinate names for expressions: ``variables``, else the loss's, else x, y, z."""
        d = self.dim
        names = self.variables or getattr(self.loss, "variables", None) or _expr.DEFAULT_VARIABLES[:d]
        if len(names) < d:
            raise DimensionError(
                f"{d}-D noise expression {self.spec!r} needs {d} coordinate names, got {list(names)}; "
                f"pass variables=[...] ({d} names) to {type(self).__name__}"
            )
        return tuple(names)[:d]

    def _on_bind(self):
        cov, d = self.spec, self.dim
        self._scalar = None  # callable (x, f) -> (...) when a = s I
        self._matrix = None  # callable x -> (..., d, d)
        self._const = None
        self._iso = False  # a = s I with a constant s (decided once, not per call: O(d²))
        self._const_sqrt = None  # L with L Lᵀ = a for a constant a, on first use
        self.uses_loss_value = False
        self.uses_x = True
        if isinstance(cov, (int, float, np.floating, np.integer)) and not isinstance(cov, bool):
            self.uses_x = False
            if d <= MAX_DENSE_CONSTANT:
                self._const = float(cov) * np.eye(d)
                self._iso = True
            else:  # a = s I as a scalar field: no d × d matrix in high dimension
                c = float(cov)
                self._scalar = lambda x, f: np.full(np.shape(f), c)
                self.scalar_expr = sp.Float(c)  # compiled kernels draw it as a scalar variance
        elif isinstance(cov, str) or hasattr(cov, "free_symbols"):
            names = self._names()
            e = _expr.parse(cov, names + ("f",), self.params, what="noise variance expression")
            used = {s.name for s in e.free_symbols}
            self.uses_loss_value, self.uses_x = "f" in used, bool(used - {"f"})
            if self.uses_loss_value and self.loss is None:
                raise InputError(f"noise expression {cov!r} uses the loss value f, but no loss is attached")
            fn = _expr.vectorize(e, names, ("f",))
            self._scalar = lambda x, f: fn(x, f)
            self.scalar_expr = e
        elif isinstance(cov, np.ndarray) or (
            isinstance(cov, (list, tuple))
            and all(np.isscalar(c) and not isinstance(c, str) for row in cov for c in np.atleast_1d(row))
        ):
            A = np.atleast_2d(np.asarray(cov, dtype=float))
            if A.shape != (d, d):
                raise DimensionError(f"covariance matrix has shape {A.shape}, dynamics is {d}-D: need ({d}, {d})")
            _check_psd(A, None, "covariance")
            self._const = A
            self._iso = bool(np.allclose(A, A[0, 0] * np.eye(d)))
            self.uses_x = False
        elif isinstance(cov, (list, tuple)):
            if len(cov) != d or any(len(row) != d for row in cov):
                raise DimensionError(f"covariance field must be a {d}x{d} nested list")
            names = self._names()
            exprs = [[_expr.parse(c, names + ("f",), self.params, what="covariance entry") for c in row] for row in cov]
            fns = [[_expr.vectorize(e, names, ("f",)) for e in row] for row in exprs]
            self.uses_loss_value = any("f" in {s.name for s in e.free_symbols} for row in exprs for e in row)
            self._matrix = lambda x, f: np.stack([np.stack([g(x, f) for g in row], -1) for row in fns], -2)
        elif callable(cov):
            self._callable = cov
            self._matrix = lambda x, f: self._call_user(x)
        else:
            raise InputError(f"cannot use {cov!r} as a covariance; give a number, expression, matrix or callable")

    def _call_user(self, x):
        out = np.asarray(self._callable(x), dtype=float)
        if out.shape == x.shape[:-1]:
            return out[..., None, None] * np.eye(self.dim)
        if out.shape != x.shape + (self.dim,):
            raise DimensionError(f"cov callable returned shape {out.shape}, expected {x.shape + (self.dim,)}")
        return out

    def _fvals(self, x):
        return self.loss.value(x) if self.uses_loss_value else np.zeros(x.shape[:-1])

    def scalar(self, x):
        """The scalar s(x) when a = s I (else None)."""
        x = self._pts(x)
        if self._const is not None and self._iso:
            return np.full(x.shape[:-1], self._const[0, 0])
        if self._scalar is None:
            return None
        s = self._scalar(x, self._fvals(x))
        check_finite("noise variance", s, x)
        if np.any(s < 0):
            bad = x[np.argwhere(s < 0)[0][0]] if x.ndim > 1 else x
            raise CovarianceError(f"noise variance is negative at x = {bad}: covariance must be PSD")
        return s

    def cov(self, x):
        x = self._pts(x)
        if self._const is not None:
            return np.broadcast_to(self._const, x.shape[:-1] + (self.dim, self.dim)).copy()
        if self._scalar is not None:
            return self.scalar(x)[..., None, None] * np.eye(self.dim)
        A = self._matrix(x, self._fvals(x))
        check_finite("noise covariance", A, x)
        _check_psd(A, x, "noise covariance")
        return A

    def cgf(self, x, p):
        p = self._pts(p)
        return 0.5 * np.einsum("...i,...ij,...j->...", p, self.cov(x), p)

    def cgf_grad(self, x, p):
        return np.einsum("...ij,...j->...i", self.cov(x), self._pts(p))

    def cgf_hess(self, x, p):
        x, p = self._pts(x), self._pts(p)
        return np.broadcast_to(self.cov(x), np.broadcast_shapes(x.shape, p.shape) + (self.dim,)).copy()

    def conjugate(self, x, u):
        """½ uᵀ a⁻¹ u; +inf where u is not in the range of a singular a."""
        return quadratic_conjugate(self.cov(x), self._pts(u))

    def sample(self, x, rng):
        x = self._pts(x)
        xi = rng.standard_normal(x.shape)
        if self._scalar is not None or (self._const is not None and self._iso):
            return np.sqrt(self.scalar(x))[..., None] * xi
        if self._const is not None:  # one factor for all points: O(d²) per point, no decomposition per call
            if self._const_sqrt is None:
                self._const_sqrt = psd_sqrt(self._const)
            return xi @ self._const_sqrt.T
        return np.einsum("...ij,...j->...i", psd_sqrt(self.cov(x)), xi)

    def constant_covariance(self):
        return None if self._const is None else self._const.copy()

    def loss_variance(self):
        if self._const is not None:
            A = self._const
            if not np.allclose(A, A[0, 0] * np.eye(A.shape[0]), rtol=0, atol=1e-14 * abs(A[0, 0])):
                return None
            c = float(A[0, 0])
            return lambda fv: np.full(np.shape(fv), c)
        if self._scalar is not None and not self.uses_x:
            zero, d, s = np.zeros(self.dim), self.dim, self._scalar
            return lambda fv: s(np.broadcast_to(zero, np.shape(fv) + (d,)), np.asarray(fv, float))
        return None

    def compiled_form(self):
        if self._const is not None:
            return CompiledNoise(kind="constant", covariance=self._const.copy())
        if self._scalar is not None and getattr(self, "scalar_expr", None) is not None:
            return CompiledNoise(kind="scalar", variance=self.scalar_expr)
        return None  # a callable or a matrix field

    def describe(self):
        return "Gaussian noise"


class IsotropicNoise(GaussianNoise):
    """Isotropic Gaussian noise, a(x) = s I, s a constant, a function of x, or of the loss value ``f``.

    ``IsotropicNoise("0.5 + f")`` gives the class whose quasi-potential reduces to an eikonal
    equation (theory.md §3; ``method="fmm"``).
    """

    def __init__(self, variance, *, params=None, variables=None):
        if not (
            np.isscalar(variance)
            or isinstance(variance, str)
            or hasattr(variance, "free_symbols")
            or callable(variance)
        ):
            raise InputError("IsotropicNoise takes a scalar variance: number, expression or callable (..., d) -> (...)")
        super().__init__(variance, params=params, variables=variables)

    def _on_bind(self):
        super()._on_bind()
        if self._matrix is not None:  # callable: must return a scalar field
            user = self._callable
            self._matrix = None
            self._scalar = lambda x, f: np.broadcast_to(np.asarray(user(x), dtype=float), x.shape[:-1])


def _check_variance(s):
    """A constant noise variance must be a finite number > 0.

    Zero noise gives V = +inf off the attractor and a simulation without noise; a negative
    variance is not a covariance at all.
    """
    s = float(s)
    if not np.isfinite(s) or s <= 0:
        raise CovarianceError(
            f"noise variance must be a finite number > 0, got {s!r}: the covariance is s·I, so s < 0 is not "
            "positive semi-definite and s = 0 (no noise) makes the quasi-potential +inf everywhere; "
            "give s > 0 (for noise acting in some directions only, pass a PSD matrix)"
        )


def quadratic_conjugate(A, u):
    """½ uᵀ A⁺ u for PSD A, +inf where u has a component outside range(A)."""
    A = np.asarray(A, dtype=float)
    w, Q = np.linalg.eigh(A)
    c = np.einsum("...ji,...j->...i", Q, u)
    tol = 1e-12 * np.maximum(np.max(np.abs(w), axis=-1, keepdims=True), 1e-300)
    pos = w > tol
    with np.errstate(divide="ignore", invalid="ignore"):
        val = 0.5 * np.sum(np.where(pos, c**2 / np.where(pos, w, 1.0), 0.0), axis=-1)
    outside = np.any(~pos & (np.abs(c) > 1e-10 * (1.0 + np.linalg.norm(u, axis=-1, keepdims=True))), axis=-1)
    return np.where(outside, np.inf, val)


def psd_sqrt(A):
    """Symmetric square root of PSD matrices (..., d, d)."""
    w, Q = np.linalg.eigh(A)
    return (Q * np.sqrt(np.clip(w, 0.0, None))[..., None, :]) @ np.swapaxes(Q, -1, -2)


def _check_psd(A, x, what):
    A = np.asarray(A)
    asym = np.abs(A - np.swapaxes(A, -1, -2)).max(axis=(-1, -2))
    scale = 1.0 + np.abs(A).max(axis=(-1, -2))
    bad = asym > 1e-10 * scale
    if np.any(bad):
        idx = tuple(np.argwhere(np.atleast_1d(bad))[0]) if bad.ndim else ()
        raise CovarianceError(
            f"{what} is asymmetric{_where(x, idx)}: max |A - Aᵀ| = {float(asym[idx]):.3g}; "
            "a covariance must equal its transpose (give both off-diagonal entries the same value)"
        )
    w = np.linalg.eigvalsh(0.5 * (A + np.swapaxes(A, -1, -2)))
    bad = w.min(axis=-1) < -1e-10 * scale
    if np.any(bad):
        idx = tuple(np.argwhere(np.atleast_1d(bad))[0]) if bad.ndim else ()
        raise CovarianceError(
            f"{what} is not positive semi-definite{_where(x, idx)}: "
            f"eigenvalues {np.round(w[idx], 6)} (smallest must be >= 0)"
        )


def _where(x, idx):
    return "" if x is None or x.ndim == 1 else f" at x = {x[idx]}"


# ---------------------------------------------------------------------------------------------
class _DiscreteNoise(NoiseLaw):
    """Z uniform on atoms z_k(x) scaled: Λ(p) = s · log mean_k exp(-<p/s, z_k>)."""

    def atoms(self, x):  # (..., K, d)
        raise NotImplementedError

    is_discrete = True
    scale = 1.0
    n_atoms = 1

    def atom_form(self, x):
        """(atoms z_k(x) (..., K, d) as float64, scale s): Λ(x, p) = s log mean_k exp(-<p, z_k>/s)."""
        return np.ascontiguousarray(self.atoms(x), dtype=np.float64), float(self.scale)

    def cgf(self, x, p):
        z, p = self.atoms(self._pts(x)), self._pts(p)
        t = -np.einsum("...kd,...d->...k", z, p / self.scale)
        return self.scale * (logsumexp(t, axis=-1) - math.log(z.shape[-2]))

    def _tilt(self, x, p):
        z, p = self.atoms(self._pts(x)), self._pts(p)
        t = -np.einsum("...kd,...d->...k", z, p / self.scale)
        w = np.exp(t - t.max(axis=-1, keepdims=True))
        w /= w.sum(axis=-1, keepdims=True)
        return z, w

    def cgf_grad(self, x, p):
        z, w = self._tilt(x, p)
        return -np.einsum("...k,...kd->...d", w, z)

    def cgf_hess(self, x, p):
        z, w = self._tilt(x, p)
        m = np.einsum("...k,...kd->...d", w, z)
        S = np.einsum("...k,...ki,...kj->...ij", w, z, z)
        return (S - m[..., :, None] * m[..., None, :]) / self.scale

    def cov(self, x):
        z = self.atoms(self._pts(x))
        return np.einsum("...ki,...kj->...ij", z, z) / z.shape[-2] / self.scale

    def support(self, x, e):
        z = self.atoms(self._pts(x))
        return np.max(-np.einsum("...kd,...d->...k", z, self._pts(e)), axis=-1)

    def geometric_cost(self, x, b, e):
        """sup {<p, e> : <b, p> + Λ(x, p) <= 0} = s sup {<q, e> : log mean_k exp(<q, b - z_k>) <= 0}
        (2-D: compiled, atoms evaluated once per point, every pair solved by the kernel; +inf
        exactly outside the closed cone of the velocities b - z_k). None in other dimensions."""
        x, e = self._pts(x), self._pts(e)
        if self.dim != 2:
            return None
        lead = np.broadcast_shapes(x.shape[:-1], e.shape[:-1])
        W = np.asarray(b, dtype=float)[..., None, :] - self.atoms(x)
        W = np.ascontiguousarray(W.reshape(-1, W.shape[-2], 2), dtype=np.float64)
        ne = np.linalg.norm(e, axis=-1)
        E = np.ascontiguousarray((e / np.where(ne > 0, ne, 1.0)[..., None]).reshape(-1, 2), dtype=np.float64)
        ix = np.broadcast_to(np.arange(W.shape[0]).reshape(x.shape[:-1]), lead).ravel()
        ie = np.broadcast_to(np.arange(E.shape[0]).reshape(e.shape[:-1]), lead).ravel()
        h, _ = _ck.support_pairs(W, E, ix, ie, np.empty(ix.size), np.empty(ix.size, np.int8), np.empty((ix.size, 2)))
        with np.errstate(invalid="ignore"):
            c = self.scale * np.broadcast_to(ne, lead).ravel() * h
        return np.where(np.broadcast_to(ne, lead).ravel() == 0, 0.0, c).reshape(lead)

    def _conj_bound(self, x):
        # Λ*(u) = s · min{KL(q || uniform) : mean_q(-z) = u/...} ≤ s log K on the hull
        return self.scale * math.log(self.n_atoms)

    def sample(self, x, rng):
        raise NotImplementedError


class FiniteSumNoise(_DiscreteNoise):
    """Minibatch noise of a finite sum f = (1/N) Σ f_i with batch size B.

    Z = (1/B) Σ_{k≤B} ∇f_{i_k}(x) - ∇f(x). With replacement (default) the indices are i.i.d.
    uniform and Λ_B(x, p) = B Λ₁(x, p/B) exactly (theory.md §2). Without replacement the law of the
    batch mean is enumerated exactly over all C(N, B) batches (at most ``MAX_SUBSETS``; beyond that
    an error suggests ``noise="gaussian"``, the covariance-matched approximation).
    """

    needs_loss = True

    def __init__(self, batch_size=1, *, replace=True):
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise InputError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        self.batch_size, self.replace = int(batch_size), bool(replace)
        self.loss = self.dim = None

    def _on_bind(self):
        if not isinstance(self.loss, FiniteSum):
            raise InputError("minibatch noise needs a FiniteSum loss (fw.FiniteSum([...]))")
        N, B = self.loss.n_samples, self.batch_size
        if self.replace:
            self.scale, self.n_atoms, self._subsets = float(B), N, None
        else:
            if B > N:
                raise InputError(f"batch_size={B} exceeds the {N} samples; without replacement B <= N")
            n_sub = math.comb(N, B)
            if n_sub > MAX_SUBSETS:
                raise InputError(
                    f"the exact without-replacement law has C({N}, {B}) = {n_sub} batches "
                    f"(> {MAX_SUBSETS}); use noise='gaussian' for its covariance-matched approximation"
                )
            self._subsets = np.array(list(combinations(range(N), B)), dtype=np.intp)
            self.scale, self.n_atoms = 1.0, n_sub

    def atoms(self, x):
        g = self.loss.sample_grads(x)  # (..., N, d)
        gbar = g.mean(axis=-2, keepdims=True)
        if self._subsets is None:
            return g - gbar
        return g[..., self._subsets, :].mean(axis=-2) - gbar

    def sample_deviations(self, x):
        """∇f_i(x) - ∇f(x) for each sample i, shape (..., N, d) (the atoms of one-sample batches)."""
        g = self.loss.sample_grads(x)
        return g - g.mean(axis=-2, keepdims=True)

    def sample(self, x, rng):
        x = self._pts(x)
        g = self.loss.sample_grads(x)
        N, B = g.shape[-2], self.batch_size
        lead = x.shape[:-1]
        if self.replace:
            idx = rng.integers(0, N, size=lead + (B,))
        else:
            idx = np.argsort(rng.random(lead + (N,)), axis=-1)[..., :B]
        pick = np.take_along_axis(g, idx[..., None], axis=-2)
        return pick.mean(axis=-2) - g.mean(axis=-2)

    def gaussian_cov_factor(self):
        """Cov Z = factor · S, S = (1/N) Σ (∇f_i - ∇f)(∇f_i - ∇f)ᵀ."""
        N, B = self.loss.n_samples, self.batch_size
        return 1.0 / B if self.replace else (N - B) / (B * (N - 1)) if N > 1 else 0.0

    def gaussian_cov(self, x):
        """Cov Z(x) = factor · S(x) (:meth:`gaussian_cov_factor`), shape (..., d, d): the covariance
        that ``fw.sgd(noise="gaussian")`` gives its Gaussian law."""
        z = self.sample_deviations(x)
        return self.gaussian_cov_factor() * np.einsum("...ki,...kj->...ij", z, z) / z.shape[-2]

    def compiled_form(self):
        return CompiledNoise(kind="minibatch", draws=self.batch_size, replace=self.replace)

    def point_masses(self, x, *, max_atoms=20_000):
        """Atoms z (n, K, d) of the batch-mean noise and their probabilities (K,): the multisets of
        B indices with their multinomial weights (with replacement, B > 1), else the K equally
        likely atoms of :meth:`atoms`.

        Raises
        ------
        InputError
            More than ``max_atoms`` multisets.
        """
        x = self._pts(x)
        if self.replace and self.batch_size > 1:
            N, B = self.loss.n_samples, self.batch_size
            combos = math.comb(N + B - 1, B)
            if combos > max_atoms:
                raise InputError(f"the batch-mean law has C({N}+{B}-1, {B}) = {combos} atoms (> {max_atoms})")
            g = self.loss.sample_grads(x)  # (n, N, d)
            sets = np.array(list(combinations_with_replacement(range(N), B)), dtype=np.intp)
            counts = np.stack([np.bincount(s, minlength=N) for s in sets])
            logw = (
                math.lgamma(B + 1)
                - np.sum([[math.lgamma(c + 1) for c in row] for row in counts], axis=1)
                - B * math.log(N)
            )
            z = np.einsum("kn,pnd->pkd", counts / B, g) - g.mean(axis=1, keepdims=True)
            return z, np.exp(logw)
        z = self.atoms(x)  # B = 1 with replacement, or exact subsets without
        return z, np.full(z.shape[1], 1.0 / z.shape[1])

    def describe(self):
        how = "with" if self.replace else "without"
        return f"minibatch B={self.batch_size} ({how} replacement) of N={self.loss.n_samples}"


# ---------------------------------------------------------------------------------------------
class CustomNoise(NoiseLaw):
    """A noise law given by its cumulant generating function Λ(x, p) = log E exp(-<p, Z(x)>).

    Parameters
    ----------
    cgf : callable (x, p) -> (...)
        Λ, convex in p with Λ(x, 0) = 0 and ∇ₚΛ(x, 0) = 0.
    cgf_grad, cgf_hess : callable, optional
        ∇ₚΛ (..., d) and ∇²ₚΛ (..., d, d); central differences (with a warning) if omitted.
    sampler : callable (x, rng) -> (..., d), optional
        Draws Z(x); needed only for Monte Carlo.
    support : callable (x, e) -> (...), optional
        sup over the support of -Z of <e, -Z> (the asymptotic slope of Λ(x, t e)/t); omit for
        unbounded noise. Used to decide where Λ* is +inf.
    """

    def __init__(self, cgf, *, cgf_grad=None, cgf_hess=None, sampler=None, support=None):
        for nm, fn in (
            ("cgf", cgf),
            ("cgf_grad", cgf_grad),
            ("cgf_hess", cgf_hess),
            ("sampler", sampler),
            ("support", support),
        ):
            if fn is not None and not callable(fn):
                raise InputError(f"CustomNoise {nm} must be callable, got {type(fn).__name__}")
        self._cgf, self._grad, self._hess, self._sampler, self._support = cgf, cgf_grad, cgf_hess, sampler, support
        self.loss = self.dim = None
        self._warned = set()

    def _fd_warn(self, what):
        if what not in self._warned:
            self._warned.add(what)
            warnings.warn(f"CustomNoise has no {what}; using central finite differences", FWWarning, stacklevel=4)

    def cgf(self, x, p):
        x, p = self._pts(x), self._pts(p)
        out = np.asarray(self._cgf(x, p), dtype=float)
        return np.broadcast_to(out, np.broadcast_shapes(x.shape, p.shape)[:-1])

    def cgf_grad(self, x, p):
        x, p = self._pts(x), self._pts(p)
        if self._grad is not None:
            return np.asarray(self._grad(x, p), dtype=float)
        self._fd_warn("cgf_grad")
        return fd_gradient(
            lambda q: self._cgf(np.broadcast_to(x[..., None, :], q.shape) if q.ndim > x.ndim else x, q),
            np.broadcast_to(p, np.broadcast_shapes(x.shape, p.shape)).copy(),
        )

    def cgf_hess(self, x, p):
        x, p = self._pts(x), self._pts(p)
        if self._hess is not None:
            return np.asarray(self._hess(x, p), dtype=float)
        self._fd_warn("cgf_hess")
        pb = np.broadcast_to(p, np.broadcast_shapes(x.shape, p.shape)).copy()
        H = fd_jacobian(
            lambda q: self.cgf_grad(np.broadcast_to(x[..., None, :], q.shape) if q.ndim > x.ndim else x, q), pb
        )
        return 0.5 * (H + np.swapaxes(H, -1, -2))

    def cov(self, x):
        x = self._pts(x)
        A = self.cgf_hess(x, np.zeros_like(x))
        _check_psd(A, x, "Hessian of the cgf at p = 0 (Cov Z)")
        return A

    def support(self, x, e):
        if self._support is None:
            return super().support(x, e)
        return np.asarray(self._support(self._pts(x), self._pts(e)), dtype=float)

    def sample(self, x, rng):
        if self._sampler is None:
            raise InputError("this CustomNoise has no sampler; pass sampler=(x, rng) -> (..., d)")
        x = self._pts(x)
        z = np.asarray(self._sampler(x, rng), dtype=float)
        if z.shape != x.shape:
            raise DimensionError(f"CustomNoise sampler returned shape {z.shape}, expected {x.shape}")
        return z


class BatchNoise(NoiseLaw):
    """Mean of B independent draws of a law: Λ_B(x, p) = B Λ(x, p / B), Cov Z = Cov/B.

    Built by ``fw.sgd(loss, noise=law, batch_size=B)`` for a law of one sample's gradient noise.

    Parameters
    ----------
    law : NoiseLaw
        The law of one draw (``inner``).
    batch_size : int
        B ≥ 1.
    """

    def __init__(self, law, batch_size):
        self.inner, self.batch_size = law, int(batch_size)
        self.is_gaussian = law.is_gaussian
        self.loss = self.dim = None

    def _on_bind(self):
        self.inner = self.inner.bind(self.loss, self.dim)

    def cgf(self, x, p):
        return self.batch_size * self.inner.cgf(x, self._pts(p) / self.batch_size)

    def cgf_grad(self, x, p):
        return self.inner.cgf_grad(x, self._pts(p) / self.batch_size)

    def cgf_hess(self, x, p):
        return self.inner.cgf_hess(x, self._pts(p) / self.batch_size) / self.batch_size

    def cov(self, x):
        return self.inner.cov(x) / self.batch_size

    def conjugate(self, x, u):
        return self.batch_size * self.inner.conjugate(x, u)

    def support(self, x, e):
        return self.inner.support(x, e)

    def geometric_cost(self, x, b, e):
        # {<b, p> + B Λ(p / B) <= 0} is B times the inner law's set
        c = self.inner.geometric_cost(x, b, e)
        return None if c is None else self.batch_size * c

    def sample(self, x, rng):
        x = self._pts(x)
        return np.mean([self.inner.sample(x, rng) for _ in range(self.batch_size)], axis=0)

    def scalar(self, x):
        """The scalar s(x)/B when the inner law's covariance is s(x) I (else None)."""
        s = self.inner.scalar(x) if hasattr(self.inner, "scalar") else None
        return None if s is None else s / self.batch_size

    def constant_covariance(self):
        a = self.inner.constant_covariance()
        return None if a is None else a / self.batch_size

    def loss_variance(self):
        s, scale = self.inner.loss_variance(), 1.0 / self.batch_size
        return None if s is None else (lambda fv: np.asarray(scale * s(fv)))

    def compiled_form(self):
        form = self.inner.compiled_form()
        if form is None or form.kind == "minibatch":
            return None
        return CompiledNoise(
            kind=form.kind,
            draws=form.draws * self.batch_size,
            covariance=form.covariance,
            variance=form.variance,
            replace=form.replace,
        )

    def describe(self):
        return f"{self.inner.describe()}, mean of B={self.batch_size} draws"


# ---------------------------------------------------------------------------------------------
def _conjugate_newton(law, x, u, *, bound=None, tol=1e-13, max_iter=200):
    """Λ*(x, u) = sup_p <p, u> - Λ(x, p) by damped Newton ascent, vectorised over points.

    ``bound``: an upper bound of Λ* on its domain (s log K for discrete laws); once the ascent
    exceeds it, u lies outside the closed convex hull of the achievable noise and Λ* = +inf.
    Without a bound, divergence of p (|p| > 1e12) is taken as +inf.
    """
    x, u = np.broadcast_arrays(x, u)
    shape = x.shape[:-1]
    d = x.shape[-1]
    xf, uf = x.reshape(-1, d), u.reshape(-1, d)
    n = xf.shape[0]
    p = np.zeros((n, d))
    g = np.zeros(n)
    out = np.full(n, np.nan)
    active = np.ones(n, bool)
    eye = np.eye(d)
    for _ in range(max_iter):
        ia = np.flatnonzero(active)
        if ia.size == 0:
            break
        xa, ua, pa = xf[ia], uf[ia], p[ia]
        grad = ua - law.cgf_grad(xa, pa)
        gn = np.linalg.norm(grad, axis=-1)
        done = gn <= tol * (1.0 + np.linalg.norm(ua, axis=-1) + np.abs(g[ia]))
        H = law.cgf_hess(xa, pa)
        mu = 1e-14 * (1.0 + np.trace(H, axis1=-2, axis2=-1))[:, None, None]
        step = np.linalg.solve(H + mu * eye, grad[..., None])[..., 0]
        # Newton decrement λ² = gradᵀ H⁻¹ grad ≈ 2 × the remaining gap: stop once that is at rounding
        # level (with finite-difference ∇ₚΛ, |grad| never reaches tol and the ascent would run on)
        lam2 = np.einsum("nd,nd->n", step, grad)
        done |= (lam2 >= 0) & (lam2 <= 1e-15 * np.abs(g[ia]) + 1e-30)
        # backtracking on g(p) = <p,u> - Λ(p)
        t = np.ones(ia.size)
        newg = np.full(ia.size, -np.inf)
        newp = pa.copy()
        pend = ~done
        for _ls in range(60):
            if not pend.any():
                break
            j = np.flatnonzero(pend)
            cand = pa[j] + t[j, None] * step[j]
            val = np.einsum("nd,nd->n", cand, ua[j]) - law.cgf(xa[j], cand)
            ok = np.isfinite(val) & (
                val >= g[ia[j]] + 1e-4 * t[j] * np.einsum("nd,nd->n", step[j], grad[j]) - 1e-15 * (1 + np.abs(g[ia[j]]))
            )
            newg[j[ok]] = val[ok]
            newp[j[ok]] = cand[ok]
            t[j[~ok]] *= 0.5
            pend[j[ok]] = False
        stalled = pend  # no ascent possible: at the optimum to rounding
        moved = ~done & ~stalled
        p[ia[moved]] = newp[moved]
        g[ia[moved]] = newg[moved]
        fin = done | stalled
        out[ia[fin]] = g[ia[fin]]
        active[ia[fin]] = False
        if bound is not None:
            over = g[ia] > bound * (1 + 1e-9) + 1e-9
        else:
            over = np.linalg.norm(p[ia], axis=-1) > 1e12
        out[ia[over]] = np.inf
        active[ia[over]] = False
    rest = np.flatnonzero(active)
    if rest.size:  # slow convergence: on the boundary of the hull; the ascent value is a lower bound
        out[rest] = np.inf if bound is None else g[rest]
    return out.reshape(shape)
