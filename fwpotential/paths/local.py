"""The local pieces of H(x, p) = <b, p> + Λ(x, p) that minimum action methods need, matrix-free.

For points x (n, d) and directions e (n, d) along a path:

- ``theta(x, e)``: the momentum θ̂ with H(x, θ̂) = 0 and ∂ₚH(x, θ̂) = λ e, λ ≥ 0 (Heymann and
  Vanden-Eijnden 2008, the geometric action's maximiser), λ, and the cost ℓ(x, e) = <θ̂, e>
  (degree-1 homogeneous in e; +inf where no velocity in the direction of e is achievable);
- ``h_x(x, θ)`` = ∂ₓH = Db(x)ᵀθ + ∂ₓΛ(x, θ);
- ``h_px(x, θ, v)`` = (∂ₓ∂ₚH) v = Db(x) v + ∂ₓ(∇ₚΛ)(x, θ) v;
- ``h_pp(x, θ, w)`` = ∇²ₚΛ(x, θ) w.

Each costs O(d) per point for isotropic noise a = s(x) I and O(d²) for a constant matrix (O(K d)
for a law on K atoms), given the drift's Jacobian–vector products (:meth:`Dynamics.drift_jvp`,
:meth:`Dynamics.drift_vjp`). When the noise has rank r < d everywhere on a fixed subspace that
the drift preserves, :func:`local_hamiltonian` confines the problem to it (coordinates y with
x = x₀ + U y), where the noise is non-degenerate.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.linalg as sla
from scipy.optimize import nnls

from fwpotential.errors import CovarianceError, InputError
from fwpotential.model.loss import directional_derivative

__all__ = ["LocalHamiltonian", "local_hamiltonian", "noise_basis"]

_RANK_TOL = 1e-10


class LocalHamiltonian:
    """θ̂, ∂ₓH, (∂ₓ∂ₚH)v and ∇²ₚΛ w of one dynamics, in coordinates y with x = origin + basis y.

    Build it with :func:`local_hamiltonian`. ``basis`` is None for the full space (y = x).
    ``form`` names how Λ is treated: "scalar" (a = s(x) I), "constant" (a constant matrix),
    "general" (any law: θ̂ by Newton's method on the two conditions).
    """

    def __init__(self, dyn, *, form, basis=None, origin=None, cov=None):
        self.dyn, self.form = dyn, form
        self.basis, self.origin = basis, origin
        self.dim = dyn.dim if basis is None else basis.shape[1]
        if form == "constant":
            try:
                sla.cholesky(cov, lower=True)
            except np.linalg.LinAlgError as exc:
                raise CovarianceError("the constant noise covariance is not positive definite") from exc
            self._cov, self._inv = cov, np.linalg.inv(cov)
            self._inv = 0.5 * (self._inv + self._inv.T)

    # ---- coordinates ---------------------------------------------------------------------
    def to_x(self, y):
        return y if self.basis is None else self.origin + y @ self.basis.T

    def to_y(self, x):
        return x if self.basis is None else (x - self.origin) @ self.basis

    def _up(self, v):  # a vector in y-space as one in x-space
        return v if self.basis is None else v @ self.basis.T

    def _down(self, v):
        return v if self.basis is None else v @ self.basis

    def drift(self, y):
        return self._down(self.dyn.drift(self.to_x(y)))

    def jvp(self, y, v):
        return self._down(self.dyn.drift_jvp(self.to_x(y), self._up(v)))

    def vjp(self, y, w):
        return self._down(self.dyn.drift_vjp(self.to_x(y), self._up(w)))

    # ---- the noise: Λ in y-coordinates, Λ_y(y, q) = Λ(x, U q) -----------------------------
    def _s(self, x):
        return self.dyn.noise.scalar(x)

    def _grad_s(self, x):
        """∇ₓ s (n, d) for a = s(x) I: through f when s depends on x only via the loss."""
        s_of_f = self.dyn.noise.loss_variance()
        if s_of_f is not None:
            f = self.dyn.loss.value(x) if self.dyn.loss is not None else np.zeros(len(x))
            df = 1e-6 * (1.0 + np.abs(f))
            ds = (s_of_f(f + df) - s_of_f(f - df)) / (2.0 * df)
            if not np.any(ds):
                return np.zeros_like(x)
            return ds[:, None] * self.dyn.loss.grad(x)
        return _fd_scalar_gradient(self._s, x)

    def cgf(self, y, q):
        x = self.to_x(y)
        return self.dyn.noise.cgf(x, self._up(q))

    def cgf_grad(self, y, q):
        return self._down(self.dyn.noise.cgf_grad(self.to_x(y), self._up(q)))

    def cgf_hess(self, y, q):
        H = self.dyn.noise.cgf_hess(self.to_x(y), self._up(q))
        return H if self.basis is None else np.einsum("ki,nkl,lj->nij", self.basis, H, self.basis)

    # ---- θ̂ ------------------------------------------------------------------------------
    def theta(self, y, e, theta0=None):
        """(θ̂ (n, r), λ (n,), ℓ = <θ̂, e> (n,)); ℓ = +inf and θ̂ = NaN where e is not achievable."""
        b = self.drift(y)
        if self.form == "scalar":
            s = self._s(self.to_x(y))
            return _theta_quadratic(b, e, lambda v: v / s[:, None])
        if self.form == "constant":
            return _theta_quadratic(b, e, lambda v: v @ self._inv)
        return self._theta_newton(y, b, e, theta0)

    def _theta_newton(self, y, b, e, theta0):
        """Newton's method on ∂ₚH(θ) - λ e = 0, H(θ) = 0, from the Gaussian approximation."""
        n, r = e.shape
        cum = self._cumulant(y)
        if theta0 is None or not np.all(np.isfinite(theta0)):
            a0 = cum.hess(np.zeros_like(e))
            theta0 = _theta_quadratic(b, e, lambda v: np.linalg.solve(a0, v[..., None])[..., 0])[0]
        th = np.array(theta0, dtype=float)
        lam = np.einsum("ni,ni->n", b + cum.grad(th), e) / np.maximum(np.einsum("ni,ni->n", e, e), 1e-300)
        for _ in range(60):
            g = b + cum.grad(th)
            F = np.concatenate([g - lam[:, None] * e, (np.einsum("ni,ni->n", b, th) + cum.cgf(th))[:, None]], 1)
            if np.max(np.abs(F) / (1.0 + np.abs(g).max())) < 1e-13:
                break
            J = np.zeros((n, r + 1, r + 1))
            J[:, :r, :r] = cum.hess(th)
            J[:, :r, r] = -e
            J[:, r, :r] = g
            try:
                step = np.linalg.solve(J, -F[..., None])[..., 0]
            except np.linalg.LinAlgError:
                break
            th, lam = _damped(cum, b, e, th, lam, step, F)
        ell = np.einsum("ni,ni->n", th, e)
        bad = ~np.isfinite(ell) | (np.abs(F).max(axis=1) > 1e-6 * (1.0 + np.abs(b).max(axis=1, initial=0.0)))
        # λ < 0 is the trivial root θ = 0, ∂ₚH = b = λe with b against e: not the maximiser; where e
        # is outside the cone of achievable velocities it is the only root Newton can find
        bad |= lam < 0
        if np.any(bad):
            ell, th = self._unreachable(y, b, e, th, ell, bad)
        return th, lam, ell

    def _cumulant(self, y):
        """Λ(x, ·), ∇ₚΛ and ∇²ₚΛ at the fixed points y, for many momenta: a law on atoms has them
        evaluated once (the atoms do not depend on θ); any other law calls its methods."""
        x = self.to_x(y)
        form = self.dyn.noise.atom_form(x)
        if form is None:
            return _Cumulant(lambda q: self.cgf(y, q), lambda q: self.cgf_grad(y, q), lambda q: self.cgf_hess(y, q))
        z, sc = self._down(form[0]), form[1]

        def tilt(q):
            t = -np.einsum("nkd,nd->nk", z, q / sc)
            m = t.max(axis=1, keepdims=True)
            w = np.exp(t - m)
            tot = w.sum(axis=1, keepdims=True)
            return w / tot, (m + np.log(tot))[:, 0]

        def cgf(q):
            with np.errstate(over="ignore", invalid="ignore"):
                return sc * (tilt(q)[1] - np.log(z.shape[1]))

        def grad(q):
            return -np.einsum("nk,nkd->nd", tilt(q)[0], z)

        def hess(q):
            w = tilt(q)[0]
            mz = np.einsum("nk,nkd->nd", w, z)
            S = np.matmul(np.swapaxes(z * w[:, :, None], 1, 2), z)
            return (S - mz[:, :, None] * mz[:, None, :]) / sc

        return _Cumulant(cgf, grad, hess)

    def _unreachable(self, y, b, e, th, ell, bad):
        """Where Newton failed: +inf if e is outside the cone of achievable velocities (laws on
        finitely many atoms), else the points are reported as not converged (NaN)."""
        ell, th = ell.copy(), th.copy()
        atoms = self.dyn.noise.atom_form(self.to_x(y[bad]))
        for k, i in enumerate(np.flatnonzero(bad)):
            if atoms is not None:
                vel = self._down(self._up(b[i])[None, :] - atoms[0][k])  # achievable velocities b - z_k
                _, res = nnls(vel.T, e[i])
                if res > 1e-9 * (1.0 + np.linalg.norm(e[i])):
                    ell[i], th[i] = np.inf, np.nan
                    continue
            ell[i], th[i] = np.nan, np.nan
        return ell, th

    # ---- derivatives at (x, θ) --------------------------------------------------------------
    def h_x(self, y, th):
        """∂ₓH(x, θ) = Db ᵀθ + ∂ₓΛ(x, θ), shape (n, r)."""
        out = self.vjp(y, th)
        if self.form == "scalar":
            gs = self._down(self._grad_s(self.to_x(y)))
            out = out + 0.5 * np.einsum("ni,ni->n", th, th)[:, None] * gs
        elif self.form == "general":
            out = out + self._cgf_x(y, th)
        return out

    def _cgf_x(self, y, th):
        """∂ₓΛ(x, θ): for a law on atoms z_k(x), -Σ w_k Dz_kᵀθ = -d/dt Σ w_k z_k(x + tθ) (the atoms'
        Jacobians are symmetric: sample Hessians); otherwise a central difference per coordinate."""
        x, q = self.to_x(y), self._up(th)
        law = self.dyn.noise
        if law.is_discrete and getattr(law, "needs_loss", False):
            z, s = law.atom_form(x)
            t = -np.einsum("nkd,nd->nk", z, q / s)
            w = np.exp(t - t.max(axis=1, keepdims=True))
            w /= w.sum(axis=1, keepdims=True)
            dz = directional_derivative(lambda xx: law.atom_form(xx)[0], x, q)
            return self._down(-np.einsum("nk,nkd->nd", w, dz))
        return self._down(_fd_scalar_gradient(lambda xx: law.cgf(xx, np.broadcast_to(q, xx.shape)), x))

    def h_px(self, y, th, v):
        """(∂ₓ∂ₚH)(x, θ) v = Db v + ∂ₓ(∇ₚΛ(x, θ)) v, shape (n, r)."""
        out = self.jvp(y, v)
        if self.form == "scalar":
            gs = self._down(self._grad_s(self.to_x(y)))
            out = out + th * np.einsum("ni,ni->n", gs, v)[:, None]
        elif self.form == "general":
            x, q = self.to_x(y), self._up(th)
            dg = directional_derivative(lambda xx: self.dyn.noise.cgf_grad(xx, q), x, self._up(v))
            out = out + self._down(dg)
        return out

    def h_pp(self, y, th, w):
        """∇²ₚΛ(x, θ) w, shape (n, r)."""
        if self.form == "scalar":
            return self._s(self.to_x(y))[:, None] * w
        if self.form == "constant":
            return w @ self._cov.T
        return np.einsum("nij,nj->ni", self.cgf_hess(y, th), w)


class _Cumulant(NamedTuple):
    cgf: object
    grad: object
    hess: object


def _damped(cum, b, e, th, lam, step, F, max_halvings=12):
    """Halve the Newton step while the residual grows (at most ``max_halvings`` times)."""
    norm0 = np.abs(F).max(axis=1)
    t = np.ones(len(th))
    for _ in range(max_halvings):
        th1, lam1 = th + t[:, None] * step[:, :-1], lam + t * step[:, -1]
        with np.errstate(over="ignore", invalid="ignore"):
            g1 = b + cum.grad(th1)
            h1 = np.einsum("ni,ni->n", b, th1) + cum.cgf(th1)
            norm1 = np.maximum(np.abs(g1 - lam1[:, None] * e).max(axis=1), np.abs(h1))
        worse = ~(norm1 <= norm0 * (1 - 1e-4 * t)) & (norm0 > 0)
        if not worse.any():
            break
        t = np.where(worse, 0.5 * t, t)
    return th + t[:, None] * step[:, :-1], lam + t * step[:, -1]


def _theta_quadratic(b, e, solve_a):
    """Λ = ½ pᵀ a p: θ̂ = λ a⁻¹e - a⁻¹b, λ = |b|_A / |e|_A, ℓ = |b|_A |e|_A - <b, A e> (A = a⁻¹)."""
    Ab, Ae = solve_a(b), solve_a(e)
    nb = np.sqrt(np.maximum(np.einsum("ni,ni->n", b, Ab), 0.0))
    ne = np.sqrt(np.maximum(np.einsum("ni,ni->n", e, Ae), 0.0))
    lam = np.where(ne > 0, nb / np.where(ne > 0, ne, 1.0), 0.0)
    th = lam[:, None] * Ae - Ab
    ell = np.maximum(nb * ne - np.einsum("ni,ni->n", b, Ae), 0.0)
    return th, lam, ell


def _fd_scalar_gradient(fn, x):
    """Central-difference gradient of a scalar field (n,) at x (n, d): d pairs of evaluations."""
    d = x.shape[-1]
    h = np.cbrt(np.finfo(float).eps) * np.maximum(1.0, np.abs(x))
    out = np.empty_like(x)
    for k in range(d):
        xp, xm = x.copy(), x.copy()
        xp[:, k] += h[:, k]
        xm[:, k] -= h[:, k]
        out[:, k] = (fn(xp) - fn(xm)) / (2.0 * h[:, k])
    return out


def noise_basis(dyn, points):
    """An orthonormal basis (d, r) of the span of Cov Z at ``points`` (n, d), with r, from the
    covariances (d ≤ 2000) or the atoms of a discrete law; (None, d) when the noise has full rank."""
    law = dyn.noise
    if law.is_gaussian and law.loss_variance() is not None:
        return None, dyn.dim
    if law.is_gaussian and law.constant_covariance() is not None:
        C = law.constant_covariance()[None]
    elif law.is_discrete:
        z = law.atom_form(points)[0]
        C = np.einsum("nki,nkj->nij", z, z)
    elif dyn.dim <= 2000:
        C = law.cov(points)
    else:
        return None, dyn.dim
    S = C.sum(axis=0)
    w, Q = np.linalg.eigh(0.5 * (S + S.T))
    keep = w > _RANK_TOL * max(float(w.max()), 1e-300)
    r = int(keep.sum())
    return (None, r) if r == dyn.dim else (Q[:, keep], r)


def local_hamiltonian(dyn, start, end, probe=None):
    """The :class:`LocalHamiltonian` of ``dyn`` for paths from ``start`` to ``end`` (both (d,)).

    ``probe`` (n, d): points where a degenerate noise's span and the drift are checked (default the
    segment from start to end). A noise of rank r < d confines paths to start + span(a) when the
    span is the same at the probe points, contains end - start and the drift there: then the
    coordinates are reduced to r. Otherwise :class:`~fwpotential.errors.InputError` names the rank.
    """
    if probe is None:
        probe = start + np.linspace(0.0, 1.0, 9)[:, None] * (end - start)
    law = dyn.noise
    U, r = noise_basis(dyn, probe)
    if law.is_gaussian and law.loss_variance() is not None:
        s = law.scalar(probe)
        if np.any(s <= 0):
            raise CovarianceError(f"the noise variance s(x) is not > 0 on the path's segment (min {s.min():.3g})")
        form = "scalar"
    elif law.is_gaussian and law.constant_covariance() is not None:
        form = "constant"
    else:
        form = "general"
    if U is None:
        cov = law.constant_covariance() if form == "constant" else None
        return LocalHamiltonian(dyn, form=form, cov=cov)
    _check_confined(dyn, U, r, start, end, probe)
    cov = U.T @ law.constant_covariance() @ U if form == "constant" else None
    return LocalHamiltonian(dyn, form=form, basis=U, origin=np.array(start, dtype=float), cov=cov)


def _check_confined(dyn, U, r, start, end, probe):
    """The reduction to start + span(U) is exact only if the path and the drift stay in it."""
    d = dyn.dim

    def off(v):
        v = np.atleast_2d(v)
        return np.linalg.norm(v - (v @ U) @ U.T, axis=-1) / (1.0 + np.linalg.norm(v, axis=-1))

    b = dyn.drift(probe)
    U2, _ = noise_basis(dyn, probe[[0, -1]])
    same_span = U2 is not None and U2.shape == U.shape and np.allclose(U2 @ (U2.T @ U), U, atol=1e-8)
    if off(end - start).max() > 1e-8 or off(b).max() > 1e-8 or not same_span:
        raise InputError(
            f"the noise covariance has rank {r} < d = {d}: a finite-cost path moves only along the noise's span "
            "(plus the drift), and here the span changes along the path, or end - start or the drift leaves it "
            f"(off-span part of end - start: {off(end - start).max():.2g}, of the drift: {off(b).max():.2g}). "
            "Give a noise of full rank (e.g. add a small isotropic part and say so), or start and end points in "
            "start + span(Cov Z)"
        )
