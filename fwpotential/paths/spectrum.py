"""Matrix-free linear algebra at a point of the state space: the leading eigenvalues of the drift
Jacobian Db (Lanczos / Arnoldi on Jacobian–vector products) and a Newton–Krylov polish of an
equilibrium b(x) = 0. Below ``DENSE_MAX`` coordinates the d × d matrix is formed from d products
and factorised exactly; above it nothing of size d × d is ever built."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse.linalg as spla

from fwpotential.errors import InputError

__all__ = [
    "DENSE_MAX",
    "Spectrum",
    "dense_jacobian",
    "drift_spectrum",
    "spectral_radius",
    "polish_equilibrium",
    "steihaug_cg",
]

#: largest d for which Db is formed densely (d Jacobian–vector products) instead of Lanczos/Arnoldi
DENSE_MAX = 200


@dataclass(frozen=True, repr=False)
class Spectrum:
    """The ``k`` eigenvalues of Db(x) with the largest real parts.

    Attributes
    ----------
    values : ndarray (k,)
        Eigenvalues of Db, largest real part first (real for gradient dynamics, where Db = -∇²f).
    vectors : ndarray (d, k)
        Unit eigenvectors (real parts for a non-symmetric Db).
    radius : float
        |λ|_max of Db (exact when dense, else a power-iteration estimate, within a few per cent).
    method : str
        "dense", "lanczos" (eigsh, symmetric) or "arnoldi" (eigs).
    """

    values: np.ndarray
    vectors: np.ndarray
    radius: float
    method: str

    def count_unstable(self, zero_tol=1e-9):
        """Eigenvalues with real part > ``zero_tol`` × radius, and those within it (near-zero)."""
        re = np.real(self.values)
        cut = zero_tol * max(self.radius, 1e-300)
        return int(np.sum(re > cut)), int(np.sum(np.abs(re) <= cut))

    def __repr__(self):
        return f"Spectrum({self.method}, k={len(self.values)}, max Re = {np.real(self.values[0]):.4g})"


def _jvp_operator(dyn, x, sign=1.0, shift=0.0):
    d = dyn.dim

    def mv(v):
        v = np.asarray(v, dtype=float).reshape(d)
        return sign * dyn.drift_jvp(x, v) + shift * v

    return spla.LinearOperator((d, d), matvec=mv, dtype=float)


def dense_jacobian(dyn, x):
    """Db(x) as a (d, d) array from d Jacobian–vector products (only for d <= DENSE_MAX)."""
    d = dyn.dim
    if d > DENSE_MAX:
        raise InputError(f"a dense Jacobian in d = {d} > {DENSE_MAX}; use the matrix-free spectrum")
    cols = dyn.drift_jvp(np.broadcast_to(x, (d, d)), np.eye(d))
    return cols.T


def spectral_radius(dyn, X, *, n_iter=30, seed=0):
    """Power-iteration estimate of |λ|_max of Db at each row of X (n, d), vectorised over the rows.

    Returns (n,): the growth |Db^k u|^(1/k) of a random unit vector (a lower bound that approaches
    the spectral radius; multiply by a safety factor for a step-size bound).
    """
    X = np.atleast_2d(X)
    rng = np.random.default_rng(seed)
    u = rng.standard_normal(X.shape)
    u /= np.linalg.norm(u, axis=-1, keepdims=True)
    est = np.zeros(len(X))
    for _ in range(n_iter):
        w = dyn.drift_jvp(X, u)
        nw = np.linalg.norm(w, axis=-1)
        est = nw
        u = w / np.maximum(nw, 1e-300)[:, None]
    return est


def drift_spectrum(dyn, x, *, k=3, v0=None, tol=1e-11) -> Spectrum:
    """The k eigenvalues of Db(x) with the largest real parts, matrix-free above ``DENSE_MAX``.

    For gradient dynamics Db = -∇²f is symmetric and Lanczos (``eigsh``) runs on the shifted
    operator σI - ∇²f, σ ≥ λ_max(∇²f), whose largest eigenvalues are the smallest of ∇²f: the
    stopping test is then relative to σ, so eigenvalues near 0 (weak unstable modes, zero modes)
    are resolved to about ``tol`` × σ. Otherwise Arnoldi (``eigs``, which="LR") on Db.

    Parameters
    ----------
    dyn : Dynamics
    x : (d,)
    k : int
        Number of eigenvalues (clipped to d).
    v0 : (d,), optional
        Starting vector (e.g. the expected unstable direction); speeds Lanczos up greatly.
    tol : float
        Relative tolerance passed to ARPACK.
    """
    d = dyn.dim
    x = np.asarray(x, dtype=float).reshape(d)
    k = max(1, min(int(k), d))
    sym = dyn.loss is not None
    if d <= DENSE_MAX:
        M = dense_jacobian(dyn, x)
        if sym:
            w, V = np.linalg.eigh(0.5 * (M + M.T))
            order = np.argsort(-w)
        else:
            w, V = np.linalg.eig(M)
            order = np.argsort(-np.real(w))
        return Spectrum(
            values=w[order[:k]], vectors=np.real(V[:, order[:k]]), radius=float(np.max(np.abs(w))), method="dense"
        )
    radius = 1.05 * float(spectral_radius(dyn, x[None, :], n_iter=60)[0]) + 1e-300
    start = None
    if v0 is not None:  # warm start, mixed with 1 % of a fixed random vector so that a v0 close to
        start = np.asarray(v0, dtype=float).reshape(d)  # one eigenvector still spans the others
        noise = np.random.default_rng(0).standard_normal(d)
        start = start / max(np.linalg.norm(start), 1e-300) + 1e-2 * noise / np.linalg.norm(noise)
    ncv = min(d - 1, max(2 * k + 1, 40))
    if sym:
        op = _jvp_operator(dyn, x, sign=1.0, shift=radius)  # σI + Db = σI - ∇²f
        w, V = spla.eigsh(op, k=k, which="LA", v0=start, ncv=ncv, tol=tol, maxiter=50 * d)
        w = w - radius
        order = np.argsort(-w)
        return Spectrum(values=w[order], vectors=V[:, order], radius=radius, method="lanczos")
    op = _jvp_operator(dyn, x)
    w, V = spla.eigs(op, k=min(k, d - 2), which="LR", v0=start, ncv=ncv, tol=tol, maxiter=50 * d)
    order = np.argsort(-np.real(w))
    return Spectrum(values=w[order], vectors=np.real(V[:, order]), radius=radius, method="arnoldi")


def steihaug_cg(apply, rhs, radius, *, rtol=1e-8, max_iter=None):
    """Truncated conjugate gradients (Steihaug–Toint) for A s = rhs inside |s| <= radius.

    ``apply(v)`` gives A v for a symmetric A (only products are used). Stops at the boundary, or
    along a direction of non-positive curvature (``negative=True``), or when the residual is
    below ``rtol`` × |rhs|. Returns (s, negative, iterations).
    """
    s = np.zeros_like(rhs)
    r = rhs.copy()
    p = r.copy()
    rr = float(r @ r)
    stop = rtol**2 * rr
    n = max_iter or 2 * rhs.size
    for it in range(1, n + 1):
        if rr <= stop:
            return s, False, it - 1
        Ap = apply(p)
        curv = float(p @ Ap)
        if curv <= 0.0:
            return s + _to_boundary(s, p, radius), True, it
        alpha = rr / curv
        s_new = s + alpha * p
        if np.linalg.norm(s_new) >= radius:
            return s + _to_boundary(s, p, radius), False, it
        s = s_new
        r = r - alpha * Ap
        rr_new = float(r @ r)
        p = r + (rr_new / rr) * p
        rr = rr_new
    return s, False, n


def _to_boundary(s, p, radius):
    """tau p with |s + tau p| = radius, tau >= 0."""
    a, b, c = float(p @ p), 2.0 * float(s @ p), float(s @ s) - radius**2
    if a <= 0.0:
        return np.zeros_like(p)
    tau = (-b + np.sqrt(max(b * b - 4 * a * c, 0.0))) / (2 * a)
    return tau * p


def polish_equilibrium(dyn, x, *, tol, max_iter=50):
    """Newton–Krylov on b(x) = 0 from x: Db Δ = -b by CG (symmetric definite Db) or GMRES, matrix-free
    above ``DENSE_MAX``, with backtracking on |b|. Returns (x, |b(x)|, iterations)."""
    d = dyn.dim
    x = np.asarray(x, dtype=float).reshape(d).copy()
    bx = dyn.drift(x)
    r = float(np.linalg.norm(bx))
    sym = dyn.loss is not None
    it = 0
    for it in range(1, max_iter + 1):
        if r <= tol:
            return x, r, it - 1
        if d <= DENSE_MAX:
            step = np.linalg.lstsq(dense_jacobian(dyn, x), -bx, rcond=None)[0]
        else:
            op = _jvp_operator(dyn, x)
            rt = min(1e-3, max(1e-12, 0.1 * tol / max(r, 1e-300)))
            step, fail = spla.cg(op, -bx, rtol=rt, maxiter=2 * d) if sym else (None, 1)
            if fail:  # not symmetric, or CG broke down (Db not definite): GMRES
                step = spla.gmres(op, -bx, rtol=rt, restart=min(d, 60), maxiter=20)[0]
        alpha, improved = 1.0, False
        for _ in range(30):
            xn = x + alpha * step
            bn = dyn.drift(xn)
            rn = float(np.linalg.norm(bn))
            if rn < (1.0 - 1e-4 * alpha) * r:
                improved = True
                break
            alpha *= 0.5
        if not improved:
            return x, r, it
        x, bx, r = xn, bn, rn
    return x, r, it
