"""Small-noise dynamics: drift b(x) and a noise law, with H(x, p) = <b, p> + Λ(x, p) and its
Legendre transform L(x, v) = Λ*(x, v - b(x)) (theory.md §1–2)."""

from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg as sla
import sympy as sp

from fwpotential.errors import CovarianceError, DimensionError, FWWarning, InputError
from fwpotential.model import expressions as _expr
from fwpotential.model.loss import (
    FiniteSum,
    Loss,
    as_points,
    check_finite,
    coerce_loss,
    directional_derivative,
    fd_jacobian,
)
from fwpotential.model.noise import BatchNoise, FiniteSumNoise, GaussianNoise, NoiseLaw

__all__ = ["Dynamics", "Diffusion", "langevin", "sgd"]


class Dynamics:
    """Drift b and noise law Λ of a small-noise process (noise level ε; ε = γ for SGD).

    Attributes
    ----------
    dim : int
    kind : {"diffusion", "langevin", "sgd"}
    loss : Loss or None
        The loss f when b = -∇f (Langevin, SGD).
    noise : NoiseLaw
        Bound noise law: Λ, its p-derivatives, Cov Z, sampler.

    Notes
    -----
    All methods take points ``x`` of shape (..., d) (and momenta ``p`` / velocities ``v`` that
    broadcast with them) and are vectorised over the leading axes.
    """

    def __init__(self, drift, noise, *, dim, jacobian=None, loss=None, kind="diffusion", name=None, jvp=None, vjp=None):
        self.dim = int(dim)
        self._drift, self._jac = drift, jacobian
        self._jvp, self._vjp = jvp, vjp
        self._warned = set()
        if not isinstance(noise, NoiseLaw):
            raise InputError(f"noise must be a noise law (GaussianNoise, ...), got {type(noise).__name__}")
        self.noise = noise if getattr(noise, "dim", None) == self.dim else noise.bind(loss, self.dim)
        self.loss, self.kind = loss, kind
        self.name = name or kind

    # ---- fields ---------------------------------------------------------------------------
    @property
    def is_gaussian(self) -> bool:
        """True when Λ(x, p) = ½ pᵀ a(x) p exactly."""
        return self.noise.is_gaussian

    @property
    def is_gradient(self) -> bool:
        """True when b = -∇f for the attached loss f."""
        return self.loss is not None

    def drift(self, x) -> np.ndarray:
        """b(x), shape (..., d)."""
        x = as_points(x, self.dim)
        b = np.asarray(self._drift(x), dtype=float)
        if b.shape != x.shape:
            raise DimensionError(f"drift returned shape {b.shape}, expected {x.shape}")
        return check_finite("drift", b, x)

    def drift_jacobian(self, x) -> np.ndarray:
        """Db(x), shape (..., d, d), entry [i, j] = ∂b_i/∂x_j."""
        x = as_points(x, self.dim)
        J = np.asarray(self._jac(x), dtype=float) if self._jac is not None else fd_jacobian(self._drift, x)
        return check_finite("drift Jacobian", J, x)

    def drift_jvp(self, x, v) -> np.ndarray:
        """Db(x) v, shape (..., d), matrix-free where it can be: the given ``jvp``; for b = -∇f,
        -∇²f v (:meth:`Loss.hvp`); with a Jacobian and d <= 8, the product; else a central
        difference of b along v (two drift evaluations, relative error about 1e-10)."""
        x, v = np.broadcast_arrays(as_points(x, self.dim), as_points(v, self.dim))
        if self._jvp is not None:
            out = np.asarray(self._jvp(x, v), dtype=float)
        elif self.loss is not None:
            out = -self.loss.hvp(x, v)
        elif self._jac is not None and self.dim <= 8:
            out = np.einsum("...ij,...j->...i", self.drift_jacobian(x), v)
        else:
            out = directional_derivative(self.drift, x, v)
        return check_finite("drift Jacobian-vector product", _shaped(out, x, "jvp"), x)

    def drift_vjp(self, x, w) -> np.ndarray:
        """Db(x)ᵀ w, shape (..., d): the given ``vjp``; for b = -∇f the same as :meth:`drift_jvp`
        (Db is symmetric); else from the Jacobian (O(d²) per point; with neither a Jacobian nor a vjp
        the Jacobian is a finite difference, d drift evaluations per point, with a warning)."""
        x, w = np.broadcast_arrays(as_points(x, self.dim), as_points(w, self.dim))
        if self._vjp is not None:
            out = np.asarray(self._vjp(x, w), dtype=float)
        elif self.loss is not None:
            out = -self.loss.hvp(x, w)
        else:
            if self._jac is None and "vjp" not in self._warned:
                self._warned.add("vjp")
                warnings.warn(
                    f"{self.name}: no jacobian= or vjp= for the drift, so Db(x)ᵀw uses a finite-difference "
                    f"Jacobian ({self.dim} drift evaluations per point); pass vjp=(x, w) -> Db(x)ᵀw",
                    FWWarning,
                    stacklevel=2,
                )
            out = np.einsum("...ji,...j->...i", self.drift_jacobian(x), w)
        return check_finite("drift vector-Jacobian product", _shaped(out, x, "vjp"), x)

    def noise_cov(self, x) -> np.ndarray:
        """a(x) = ∇²ₚΛ(x, 0) = Cov Z(x), shape (..., d, d)."""
        return self.noise.cov(as_points(x, self.dim))

    # ---- H and L ----------------------------------------------------------------------------
    def hamiltonian(self, x, p) -> np.ndarray:
        """H(x, p) = <b(x), p> + Λ(x, p), shape (...)."""
        x, p = as_points(x, self.dim), as_points(p, self.dim)
        return np.einsum("...i,...i->...", self.drift(x), p) + self.noise.cgf(x, p)

    def hamiltonian_grad_p(self, x, p) -> np.ndarray:
        """∂ₚH = b + ∇ₚΛ, shape (..., d): the velocity of the optimal path."""
        x, p = as_points(x, self.dim), as_points(p, self.dim)
        return self.drift(x) + self.noise.cgf_grad(x, p)

    def hamiltonian_hess_p(self, x, p) -> np.ndarray:
        """∂²ₚH = ∇²ₚΛ, shape (..., d, d)."""
        return self.noise.cgf_hess(as_points(x, self.dim), as_points(p, self.dim))

    def lagrangian(self, x, v) -> np.ndarray:
        """L(x, v) = sup_p <p, v> - H(x, p) = Λ*(x, v - b(x)) ≥ 0; +inf where v - b(x) lies outside
        the closed convex hull of the achievable noise velocities (finite-sum noise)."""
        x, v = as_points(x, self.dim), as_points(v, self.dim)
        x, v = np.broadcast_arrays(x, v)
        return self.noise.conjugate(x, v - self.drift(x))

    def geometric_cost(self, x, e) -> np.ndarray:
        """Cost per unit of length of moving in direction e: min over s > 0 of L(x, s e) / s.

        Gaussian noise: |b|_A |e|_A - <b, A e>, A = a(x)⁻¹ (theory.md §3, gMAM). ``e`` need not be a
        unit vector: the result is homogeneous of degree 1 in e. +inf where no speed reaches e.
        """
        x, e = as_points(x, self.dim), as_points(e, self.dim)
        if not self.is_gaussian and (c := self._law_cost(x, e)) is not None:
            return c
        x, e = np.broadcast_arrays(x, e)
        b = self.drift(x)
        if self.is_gaussian:
            a = self.noise_cov(x)
            try:
                A = np.linalg.inv(a)
                np.linalg.cholesky(a)
            except np.linalg.LinAlgError:
                return _geometric_cost_search(self, x, e)
            nb = np.sqrt(np.einsum("...i,...ij,...j->...", b, A, b))
            ne = np.sqrt(np.einsum("...i,...ij,...j->...", e, A, e))
            return np.maximum(nb * ne - np.einsum("...i,...ij,...j->...", b, A, e), 0.0)
        return _geometric_cost_search(self, x, e)

    def _law_cost(self, x, e):
        """The law's own geometric cost (points computed once, not per direction); None when the
        law has no such method."""
        c = self.noise.geometric_cost(x, self.drift(x), e)
        return None if c is None else np.asarray(c, dtype=float)

    # ---- local analysis -------------------------------------------------------------------
    def loss_variance(self):
        """s as a function of the loss value when b = -∇f and a = s(f) I (Langevin: s = 2; constant or
        f-dependent isotropic SGD noise), else None. This is the class where W has a closed form in the
        basin, V = 2 (G(f) - G(f*)) with G' = 1/s, and the eikonal reduction of theory.md §3 applies."""
        return None if self.loss is None else self.noise.loss_variance()

    def potential_hessian(self, x_star) -> np.ndarray:
        """∇²V at an equilibrium x*: C⁻¹ where J C + C Jᵀ + a(x*) = 0, J = Db(x*) (theory.md §3).

        Exact Hessian of the quasi-potential at a stable equilibrium; at a saddle, the Hessian of
        the local quadratic solution of H(x, ∇V) = 0 when the Lyapunov equation has a unique one
        (no two eigenvalues of J summing to 0). Where it has not, b = -∇f with a = s(f) I still has
        the solution 2∇²f/s; other dynamics raise InputError.
        """
        x_star = as_points(x_star, self.dim).reshape(self.dim)
        J = self.drift_jacobian(x_star)
        a = self.noise_cov(x_star)
        ev = np.linalg.eigvals(J)
        pair = np.abs(ev[:, None] + ev[None, :])
        singular = pair.min() <= 1e-10 * (1.0 + np.abs(ev).max())
        if not singular:
            C = sla.solve_continuous_lyapunov(J, -a)
            res = np.abs(J @ C + C @ J.T + a).max()
            singular = not np.all(np.isfinite(C)) or res > 1e-8 * (1 + np.abs(a).max()) * (1 + np.abs(C).max())
        if singular:
            s_of_f = self.loss_variance()
            if s_of_f is not None:
                return 2.0 * self.loss.hess(x_star) / float(s_of_f(self.loss.value(x_star)))
            zero = np.abs(ev).min() <= 1e-10 * (1.0 + np.abs(ev).max())
            raise InputError(
                f"the Lyapunov equation J C + C Jᵀ + a = 0 has no unique solution at x* = {x_star} "
                f"(eigenvalues of Db: {ev}; two of them sum to 0)"
                + (
                    "; x* is degenerate (a zero eigenvalue), so V is not locally quadratic there: give the "
                    "attractor as a small set, fw.Attractor.from_mask(|x - x*| <= a few cells), or use "
                    "method='exact' in 1-D"
                    if zero
                    else ""
                )
            )
        C = 0.5 * (C + C.T)
        w = np.linalg.eigvalsh(C)
        if np.min(np.abs(w)) <= 1e-12 * max(1.0, np.max(np.abs(w))):
            raise CovarianceError(
                f"the stationary covariance C at x* = {x_star} is singular (degenerate noise, "
                f"eigenvalues {w}); the quasi-potential is +inf off a subspace there"
            )
        Hs = np.linalg.inv(C)
        return 0.5 * (Hs + Hs.T)

    def __repr__(self):
        return f"{type(self).__name__}({self.name}, dim={self.dim}, noise={type(self.noise).__name__})"


def _shaped(out, x, what):
    if out.shape != x.shape:
        raise DimensionError(f"drift {what} returned shape {out.shape}, expected {x.shape}")
    return out


def _geometric_cost_search(dyn, x, e, n_grid=41, n_golden=60):
    """min over s>0 of L(x, s e)/s by a log-grid bracket then golden section in t = log(1/s).

    L(x, e/t)·t is the perspective of L, convex in t > 0, so the search is unimodal.
    """
    scale = np.linalg.norm(dyn.drift(x), axis=-1) + np.sqrt(np.trace(dyn.noise_cov(x), axis1=-2, axis2=-1)) + 1e-300
    ne = np.linalg.norm(e, axis=-1)
    base = np.log(ne / scale)  # t where the speed matches the local scale

    def phi(logt):
        t = np.exp(logt)
        with np.errstate(over="ignore", invalid="ignore"):
            return t * dyn.lagrangian(x, e / t[..., None])

    ts = base[..., None] + np.linspace(-12, 12, n_grid)
    vals = np.stack([phi(ts[..., k]) for k in range(n_grid)], axis=-1)
    k = np.argmin(np.where(np.isnan(vals), np.inf, vals), axis=-1)
    best = np.take_along_axis(vals, k[..., None], -1)[..., 0]
    lo = np.take_along_axis(ts, np.clip(k - 1, 0, n_grid - 1)[..., None], -1)[..., 0]
    hi = np.take_along_axis(ts, np.clip(k + 1, 0, n_grid - 1)[..., None], -1)[..., 0]
    g = (np.sqrt(5) - 1) / 2
    c, d = hi - g * (hi - lo), lo + g * (hi - lo)
    fc, fd = phi(c), phi(d)
    for _ in range(n_golden):
        left = fc <= fd  # the minimum lies in [lo, d]
        hi = np.where(left, d, hi)
        lo = np.where(left, lo, c)
        c_new = np.where(left, hi - g * (hi - lo), d)
        d_new = np.where(left, c, lo + g * (hi - lo))
        f_new = phi(np.where(left, c_new, d_new))
        fc, fd = np.where(left, f_new, fd), np.where(left, fc, f_new)
        c, d = c_new, d_new
    res = np.minimum(best, np.minimum(fc, fd))
    res = np.where(ne == 0, 0.0, res)
    return np.maximum(res, 0.0)


# ------------------------------------------------------------------------------------------------
class Diffusion(Dynamics):
    """dX = b(X) dt + √ε σ(X) dW with a = σσᵀ: H(x, p) = <b, p> + ½ pᵀ a(x) p.

    Parameters
    ----------
    drift : sequence of str (expressions in x, y, z) or callable (..., d) -> (..., d)
        E.g. Maier–Stein: ``["x - x**3 - 10*x*y**2", "-(1 + x**2)*y"]``.
    cov : number, expression, matrix, matrix field or callable
        a(x); see :class:`~fwpotential.model.noise.GaussianNoise`. Default identity.
    dim : int, optional
        Needed when ``drift`` is a callable.
    jacobian : callable, optional
        Db for a callable drift (central differences otherwise).
    jvp, vjp : callable, optional
        ``jvp(x, v) -> Db(x) v`` and ``vjp(x, w) -> Db(x)ᵀ w``, shapes (..., d): the matrix-free
        products the path methods use in high dimension (:func:`fwpotential.min_action_path`).
    params, variables : optional
        Expression parameters and coordinate names.

    Examples
    --------
    >>> import numpy as np
    >>> ms = Diffusion(drift=["x - x**3 - 10*x*y**2", "-(1 + x**2)*y"], cov=np.eye(2))
    >>> ms.drift(np.array([1.0, 0.0]))
    array([ 0., -0.])
    """

    def __init__(
        self, drift, cov=1.0, *, dim=None, jacobian=None, params=None, variables=None, name=None, jvp=None, vjp=None
    ):
        if callable(drift):
            if dim is None:
                raise DimensionError("a callable drift needs dim=")
            fn, jac, d = drift, jacobian, int(dim)
        else:
            exprs = [drift] if isinstance(drift, str) else list(drift)
            names = _expr.infer_variables(exprs, params, variables, what="drift expression")
            if len(names) < len(exprs):
                names = (tuple(variables) if variables else _expr.DEFAULT_VARIABLES)[: len(exprs)]
            if len(names) != len(exprs):
                raise DimensionError(f"drift has {len(exprs)} components but uses variables {list(names)}")
            d = len(exprs)
            es = [_expr.parse(e, names, params, what="drift expression") for e in exprs]
            fns = [_expr.vectorize(e, names) for e in es]
            syms = [sp.Symbol(n, real=True) for n in names]
            jfns = []  # the d² partial derivatives, built on the first Jacobian call (costly for large d)

            def fn(x):
                return np.stack([f(x) for f in fns], axis=-1)

            def jac(x):
                if not jfns:
                    jfns.extend([_expr.vectorize(_expr.derivative(e, s), names) for s in syms] for e in es)
                return np.stack([np.stack([g(x) for g in row], axis=-1) for row in jfns], axis=-2)

            self.drift_exprs = es
            if dim is not None and int(dim) != d:
                raise DimensionError(f"dim={dim} but drift has {d} components")
        noise = cov if isinstance(cov, NoiseLaw) else GaussianNoise(cov, params=params, variables=variables)
        super().__init__(fn, noise, dim=d, jacobian=jac, kind="diffusion", name=name or "diffusion", jvp=jvp, vjp=vjp)


def langevin(loss, *, name=None) -> Dynamics:
    """Langevin dynamics dX = -∇f dt + √(2ε) dW: b = -∇f, a = 2I, V = f - f* in a basin.

    ``loss`` is a :class:`~fwpotential.Loss` or an expression string.
    """
    loss = coerce_loss(loss)
    return Dynamics(
        lambda x: -loss.grad(x),
        GaussianNoise(2.0),
        dim=loss.dim,
        jacobian=lambda x: -loss.hess(x),
        loss=loss,
        kind="langevin",
        name=name or f"Langevin on {loss.name}",
    )


def sgd(loss, noise=None, *, batch_size=None, replace=True, name=None) -> Dynamics:
    """Constant-step SGD x ← x - γ(∇f(x) + Z(x)) as a small-noise process with ε = γ.

    Parameters
    ----------
    loss : Loss, FiniteSum or expression string
    noise : NoiseLaw, "gaussian", "exact" or None
        - a law (GaussianNoise, IsotropicNoise, CustomNoise): the law of Z for one sample;
          ``batch_size=B`` then averages B independent draws (Λ_B = B Λ(p/B), Cov/B);
        - None or "exact" with a FiniteSum: the real minibatch noise (batches of ``batch_size``
          indices, with replacement unless ``replace=False``);
        - "gaussian" with a FiniteSum: the Gaussian law with the same covariance.
    batch_size : int, optional
        B ≥ 1 (default 1).
    replace : bool
        Minibatches drawn with (default) or without replacement.
    """
    loss = coerce_loss(loss)
    B = 1 if batch_size is None else batch_size
    if isinstance(B, bool) or not isinstance(B, (int, np.integer)) or B < 1:
        raise InputError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    if isinstance(noise, str):
        if noise not in ("exact", "gaussian"):
            raise InputError(f"noise={noise!r}: give a noise law, 'exact' or 'gaussian'")
    if noise is None or isinstance(noise, str):
        if not isinstance(loss, FiniteSum):
            raise InputError(
                "SGD on a plain Loss needs noise= (GaussianNoise, IsotropicNoise or CustomNoise); "
                "noise=None/'exact'/'gaussian' need a FiniteSum"
            )
        law = FiniteSumNoise(int(B), replace=replace).bind(loss, loss.dim)
        if noise == "gaussian":
            law = GaussianNoise(law.gaussian_cov)
            kind_name = f"SGD (Gaussian approximation, B={B}) on {loss.name}"
        else:
            kind_name = f"SGD (minibatch B={B}{'' if replace else ', no replacement'}) on {loss.name}"
    elif isinstance(noise, NoiseLaw):
        law = noise
        if isinstance(law, FiniteSumNoise):
            law = law if batch_size is None else FiniteSumNoise(int(B), replace=law.replace)
        elif B != 1:
            law = BatchNoise(law, int(B))
        kind_name = f"SGD ({type(noise).__name__}{'' if B == 1 else f', B={B}'}) on {loss.name}"
    else:
        raise InputError(f"noise must be a noise law, 'exact', 'gaussian' or None, got {type(noise).__name__}")
    return Dynamics(
        lambda x: -loss.grad(x),
        law,
        dim=loss.dim,
        jacobian=lambda x: -loss.hess(x),
        loss=loss,
        kind="sgd",
        name=name or kind_name,
    )


def coerce_dynamics(obj):
    """Accept a Dynamics, or a Loss/expression meaning its Langevin dynamics."""
    if isinstance(obj, Dynamics):
        return obj
    if isinstance(obj, (Loss, str)):
        return langevin(obj)
    raise InputError(f"expected dynamics (fw.langevin, fw.sgd, fw.Diffusion), got {type(obj).__name__}")
