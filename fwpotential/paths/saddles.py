"""Index-1 saddles in any dimension, matrix-free: a climbing-image string between two minima, a
min-mode (dimer) Newton–Krylov refinement, a Lanczos check of the index, and the minima the two
branches of the unstable manifold reach.

For gradient dynamics (b = -∇f) these are saddles of f; for any other drift, equilibria of b with
exactly one eigenvalue of Db of positive real part. Every step uses b and Jacobian–vector products
Db v only: a string iteration costs O(n_images · d) plus a few products per image, and nothing of
size d × d is formed above d = 200.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse.linalg as spla

from fwpotential.errors import ConvergenceError, FWWarning, InputError
from fwpotential.paths.minima import FLAT_TOL, ZERO_TOL, coerce_points, find_minima
from fwpotential.paths.quench import capture_radius, quench
from fwpotential.paths.spectrum import DENSE_MAX, dense_jacobian, drift_spectrum, spectral_radius, steihaug_cg

__all__ = ["Saddle", "SaddleSearch", "saddle_between", "refine_saddle", "saddle_index"]


@dataclass(frozen=True, repr=False)
class Saddle:
    """An index-1 saddle of the drift.

    Attributes
    ----------
    point : ndarray (d,)
    value : float
        f at the point (NaN without a loss).
    unstable_direction : ndarray (d,)
        Unit eigenvector of Db for its one eigenvalue of positive real part.
    eigenvalue : float
        That eigenvalue (gradient dynamics: minus the negative eigenvalue of ∇²f).
    joins : tuple (i, j)
        The minima reached from ``point ± δ unstable_direction`` (indices into the ``minima`` given
        to :func:`saddle_between`, or 0 = a and 1 = b; -1: none).
    info : dict
        ``method``, ``iterations``, ``residual`` (|b| at the point), ``tol``, ``eigenvalues`` (the
        leading eigenvalues of Db found by Lanczos/Arnoldi), ``n_zero`` (eigenvalues ≈ 0, e.g.
        translation modes), ``seconds``, ``warnings``.
    """

    point: np.ndarray
    value: float
    unstable_direction: np.ndarray
    eigenvalue: float
    joins: tuple = (-1, -1)
    info: dict = field(default_factory=dict)

    def __repr__(self):
        return (
            f"Saddle(d={self.point.size}, value={self.value:.6g}, eigenvalue={self.eigenvalue:.4g}, joins={self.joins})"
        )


@dataclass(frozen=True, repr=False)
class SaddleSearch:
    """Outcome of :func:`saddle_between`.

    Attributes
    ----------
    saddle : Saddle or None
        The saddle found, None when the search found none.
    string : ndarray (n_images, d)
        The final climbing string (endpoints a and b).
    reason : str
        "" when a saddle was found, else why not (for a transition network's note).
    info : dict
        ``iterations`` (string), ``restarts`` (pushes off saddles of index ≥ 2), ``step`` (the last
        step sizes), ``normal_force`` (largest |b⊥| on the string), ``seconds``, ``warnings``.
    """

    saddle: Saddle | None
    string: np.ndarray
    reason: str = ""
    info: dict = field(default_factory=dict)

    def __repr__(self):
        what = repr(self.saddle) if self.saddle is not None else f"none: {self.reason}"
        return f"SaddleSearch({what})"


# ------------------------------------------------------------------------------------------------
def saddle_index(dyn, x, *, k=3):
    """Number of eigenvalues of Db(x) with positive real part, by Lanczos/Arnoldi (dense below d = 200).

    Gradient dynamics: the number of negative eigenvalues of ∇²f. Eigenvalues within 10⁻⁹ |λ|_max of
    0 count as zero, not unstable. ``k`` is doubled until a non-positive eigenvalue is among those
    computed (or k = d).

    Returns
    -------
    n_unstable : int
    eigenvalues : ndarray (k,)
        The k eigenvalues of Db with the largest real parts, largest first.
    """
    x = coerce_points(x, dyn.dim, "x").reshape(dyn.dim)
    spec = _index_spectrum(dyn, x, k, None)
    return spec.count_unstable(ZERO_TOL)[0], spec.values


def _index_spectrum(dyn, x, k, v0):
    """The leading spectrum of Db at x with k doubled until a non-positive eigenvalue is in it."""
    k = max(1, min(int(k), dyn.dim))
    while True:
        spec = drift_spectrum(dyn, x, k=k, v0=v0)
        if spec.count_unstable(ZERO_TOL)[0] < len(spec.values) or k >= dyn.dim:
            return spec
        k = min(2 * k, dyn.dim)


def refine_saddle(dyn, x0, *, direction=None, tol=None, max_iter=200) -> Saddle:
    """An index-1 saddle near x0 by min-mode (dimer) following with Newton–Krylov steps.

    Each iteration finds the unstable mode v of Db at x by Lanczos (warm-started from the last v:
    the dimer's rotation, with exact curvatures from Jacobian–vector products), then steps uphill
    along v and downhill in the complement: for gradient dynamics a Newton step -(g·v)/λ along v
    and a truncated-CG (Steihaug) Newton step on the projected Hessian PHP, in a trust region on
    |∇f|; for a general drift a GMRES Newton step on b with backtracking. Ends with the index check
    of :func:`saddle_index`.

    Parameters
    ----------
    dyn : Dynamics
    x0 : (d,)
        A point near the saddle (e.g. a string's climbing image).
    direction : (d,), optional
        The expected unstable direction (e.g. the string's tangent there).
    tol : float, optional
        Target |b(x)|; default 1e-10 × max(1, |b(x0)|).
    max_iter : int

    Returns
    -------
    Saddle
        ``joins`` is (-1, -1): :func:`saddle_between` fills it.

    Raises
    ------
    ConvergenceError
        |b| > tol after ``max_iter`` iterations, or the point reached is not of index 1.
    NonFiniteError
        b is NaN/inf at a point visited.

    Examples
    --------
    >>> import fwpotential as fw
    >>> fw.refine_saddle(fw.langevin("(x**2 - 1)**2 + y**2"), [0.2, 0.1])
    Saddle(d=2, value=1, eigenvalue=4, joins=(-1, -1))
    """
    x0 = coerce_points(x0, dyn.dim, "x0").reshape(dyn.dim)
    if direction is not None:
        direction = coerce_points(direction, dyn.dim, "direction").reshape(dyn.dim)
        if not np.linalg.norm(direction) > 0:
            raise InputError("direction must be a non-zero vector")
    out = _refine(dyn, x0, direction, tol, int(max_iter), 0.1 * (1.0 + np.linalg.norm(x0)))
    if out["residual"] > out["tol"]:
        raise ConvergenceError(_not_converged(out))
    if out["n_unstable"] != 1:
        raise ConvergenceError(_wrong_index(out))
    return _as_saddle(dyn, out, (-1, -1))


def _not_converged(out):
    return (
        f"saddle refinement stopped at |b| = {out['residual']:.3g} > tol = {out['tol']:.3g} after "
        f"{out['iterations']} iterations (x = {_short(out['x'])})"
    )


def _wrong_index(out):
    return (
        f"the equilibrium reached at x = {_short(out['x'])} has {out['n_unstable']} unstable directions "
        f"(eigenvalues of Db {np.round(np.real(out['eigenvalues']), 8).tolist()}), not 1"
    )


def _short(x):
    return np.array2string(np.asarray(x)[:6], precision=6) + (" ..." if np.size(x) > 6 else "")


def _as_saddle(dyn, out, joins):
    x = out["x"]
    value = float(dyn.loss.value(x)) if dyn.loss is not None else float("nan")
    keys = ("method", "iterations", "residual", "tol", "eigenvalues", "n_zero", "seconds", "warnings")
    return Saddle(
        point=x,
        value=value,
        unstable_direction=out["v"],
        eigenvalue=float(np.real(out["eigenvalues"][0])),
        joins=tuple(int(j) for j in joins),
        info={key: out[key] for key in keys},
    )


def _unit(v):
    return v / max(float(np.linalg.norm(v)), 1e-300)


def _refine(dyn, x, v, tol, max_iter, radius):
    """The refinement loop; returns a dict (x, v, residual, tol, iterations, index check, ...)."""
    t0 = time.perf_counter()
    x = x.copy()
    bx = dyn.drift(x)
    r = float(np.linalg.norm(bx))
    tol = 1e-10 * max(1.0, r) if tol is None else float(tol)
    v = _unit(v) if v is not None else None
    step_fn = _min_mode_step if dyn.loss is not None else _newton_step
    it, stalls = 0, 0
    for it in range(1, max_iter + 1):
        if r <= tol:
            it -= 1
            break
        spec = drift_spectrum(dyn, x, k=min(3, dyn.dim), v0=v)
        w = spec.vectors[:, 0]
        v = w if v is None or float(w @ v) >= 0 else -w
        rest = np.abs(np.real(spec.values[1:]))
        flat = rest <= FLAT_TOL * spec.radius  # zero modes (symmetries)
        sigma = float(np.min(rest[~flat])) if np.any(~flat) else spec.radius  # softest curvature left
        mode = (v, float(np.real(spec.values[0])), sigma, spec.vectors[:, 1:][:, flat])
        xn, bn, rn, radius, ok = step_fn(dyn, x, bx, r, mode, radius)
        stalls = 0 if ok else stalls + 1
        if stalls > 40 or radius < 1e-14 * (1.0 + np.linalg.norm(x)):
            break
        x, bx, r = xn, bn, rn
    spec = _index_spectrum(dyn, x, 3, v)
    n_unstable, n_zero = spec.count_unstable(ZERO_TOL)
    vals = spec.values
    v = spec.vectors[:, 0] if v is None or float(spec.vectors[:, 0] @ v) >= 0 else -spec.vectors[:, 0]
    return {
        "x": x,
        "v": _unit(v),
        "residual": r,
        "tol": tol,
        "iterations": it,
        "n_unstable": n_unstable,
        "eigenvalues": vals,
        "n_zero": n_zero,
        "method": "min-mode newton-cg" if dyn.loss is not None else "newton-gmres",
        "seconds": time.perf_counter() - t0,
        "warnings": [],
    }


def _min_mode_step(dyn, x, bx, r, mode, radius):
    """One trust-region min-mode Newton step for b = -∇f; mode = (v, mu, sigma, Z), mu = the top
    eigenvalue of Db = -λ_min(∇²f), v its eigenvector, sigma the softest curvature among the other
    computed modes, Z (d, n) the eigenvectors of eigenvalues ≈ 0 (translation modes): the CG runs
    on the complement of v and Z, so a zero mode neither stalls it nor gets a step. A step is
    accepted when the Newton-scaled residual ((∇f·v)/λ)² + |P∇f|²/σ² falls (a weak unstable mode
    then counts as much as the stiff ones). Returns (x, b, |b|, radius, accepted)."""
    v, mu, sigma, Z = mode
    g = -bx
    lam = -mu  # curvature of f along v
    B = np.column_stack([v, Z])

    def proj(u):
        return u - B @ (B.T @ u)

    def merit(grad):
        return float((grad @ v) / lam) ** 2 + float(np.linalg.norm(proj(grad)) / sigma) ** 2 if lam < 0 else 0.0

    def hess_perp(u):
        return proj(-dyn.drift_jvp(x, proj(u)))

    s_perp, negative, _ = steihaug_cg(hess_perp, -proj(g), radius, rtol=1e-6)
    gv = float(g @ v)
    if lam < 0:
        s_par = float(np.clip(-gv / lam, -radius, radius))
    else:
        s_par = radius if gv >= 0 else -radius  # no negative curvature yet: go uphill along v
    xn = x + s_perp + s_par * v
    bn = dyn.drift(xn)
    rn = float(np.linalg.norm(bn))
    size = float(np.hypot(np.linalg.norm(s_perp), s_par))
    if lam >= 0 or negative:  # not in the index-1 region: dimer-like move, accepted with a fixed radius
        return xn, bn, rn, radius, True
    if merit(-bn) < merit(g):
        return xn, bn, rn, (2.0 * radius if size >= 0.8 * radius else radius), True
    return x, bx, r, 0.25 * size, False


def _newton_step(dyn, x, bx, r, mode, radius):
    """For a general drift, mode = (v, mu, |λ|_max) with mu the rightmost eigenvalue of Db: where
    mu > 0, a Newton step Db Δ = -b (GMRES, matrix-free above d = 200) in a trust region on |b|;
    elsewhere a gentlest-ascent step Δ = dt (b - 2(b·v)v), dt = 0.5/|λ|_max (the flow with its
    component along the softest direction reversed), accepted within the radius."""
    v, mu, top, _ = mode
    d = dyn.dim
    if mu <= 0:
        step = (0.5 / max(top, 1e-300)) * (bx - 2.0 * float(bx @ v) * v)
        step *= min(1.0, radius / max(float(np.linalg.norm(step)), 1e-300))
        bn = dyn.drift(x + step)
        return x + step, bn, float(np.linalg.norm(bn)), radius, True
    if d <= DENSE_MAX:
        step = np.linalg.lstsq(dense_jacobian(dyn, x), -bx, rcond=None)[0]
    else:
        op = spla.LinearOperator((d, d), matvec=lambda u: dyn.drift_jvp(x, u.reshape(d)), dtype=float)
        step = spla.gmres(op, -bx, rtol=1e-8, restart=min(d, 60), maxiter=30)[0]
    size = float(np.linalg.norm(step))
    if size > radius:
        step, size = step * (radius / size), radius
    xn = x + step
    bn = dyn.drift(xn)
    rn = float(np.linalg.norm(bn))
    if rn < r:
        return xn, bn, rn, (2.0 * radius if size >= 0.8 * radius else radius), True
    return x, bx, r, 0.25 * size, False


# ---- the string ---------------------------------------------------------------------------------
def _redistribute(P, m):
    """m points uniform in arc length on the polyline P (k, d)."""
    seg = np.linalg.norm(np.diff(P, axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    if s[-1] <= 0.0:
        return np.repeat(P[:1], m, axis=0)
    t = np.linspace(0.0, s[-1], m)
    j = np.clip(np.searchsorted(s, t, side="right") - 1, 0, len(P) - 2)
    w = np.clip((t - s[j]) / np.maximum(seg[j], 1e-300), 0.0, 1.0)
    out = P[j] + w[:, None] * (P[j + 1] - P[j])
    out[0], out[-1] = P[0], P[-1]
    return out


def _reparametrize(X, c):
    """Uniform arc length on the whole string, or on each side of the climbing image c."""
    if c is None:
        return _redistribute(X, len(X))
    return np.vstack([_redistribute(X[: c + 1], c + 1)[:-1], _redistribute(X[c:], len(X) - c)])


def _tangents(X):
    """Unit tangents (n, d) by central differences (one-sided at the ends)."""
    T = np.empty_like(X)
    T[1:-1] = X[2:] - X[:-2]
    T[0], T[-1] = X[1] - X[0], X[-1] - X[-2]
    return T / np.maximum(np.linalg.norm(T, axis=1, keepdims=True), 1e-300)


def _batched_cg(apply, R, *, rtol=1e-4, max_iter=300):
    """CG for A_i s_i = r_i on every row at once (A_i symmetric, ``apply`` maps (n, d) -> (n, d)).
    Returns (S, negative): ``negative[i]`` when row i met curvature <= 0 (A_i not positive)."""
    S = np.zeros_like(R)
    Rk = R.copy()
    P = R.copy()
    rr = np.einsum("ij,ij->i", Rk, Rk)
    stop = rtol**2 * rr
    negative = np.zeros(len(R), dtype=bool)
    active = rr > stop
    for _ in range(max_iter):
        if not active.any():
            break
        AP = apply(P)
        curv = np.einsum("ij,ij->i", P, AP)
        negative |= active & (curv <= 0)
        active &= curv > 0
        alpha = np.where(active, rr / np.where(curv > 0, curv, 1.0), 0.0)
        S += alpha[:, None] * P
        Rk -= alpha[:, None] * AP
        rr_new = np.einsum("ij,ij->i", Rk, Rk)
        beta = np.where(active, rr_new / np.maximum(rr, 1e-300), 0.0)
        P = Rk + beta[:, None] * P
        rr = rr_new
        active &= rr > stop
    return S, negative


def _gradient_step(dyn, X, st):
    """One linearly implicit string step for b = -∇f: (I + dt PHP) Δ = -dt P∇f per interior image
    (P projects out the tangent at the climbing image only; the identity elsewhere), batched CG, a
    Newton-like ascent along the tangent at the climbing image, per-image step sizes adapted by
    acceptance (f must not rise, CG must see positive curvature). Returns the largest |b⊥|."""
    Y = X[1:-1]
    G = -dyn.drift(Y)
    F = dyn.loss.value(Y)
    tau = _tangents(X)[1:-1]
    normal = float(np.max(np.linalg.norm(G - np.einsum("ij,ij->i", G, tau)[:, None] * tau, axis=1)))
    T = np.zeros_like(Y)
    c = st["climb"]
    if c is not None:
        T[c - 1] = tau[c - 1]
    dt = st["dt"]

    def proj(V):
        return V if c is None else V - np.einsum("ij,ij->i", V, T)[:, None] * T

    def apply(V):
        return V + dt[:, None] * proj(-dyn.drift_jvp(Y, proj(V)))

    S, neg = _batched_cg(apply, -dt[:, None] * proj(G), rtol=1e-2, max_iter=min(2 * dyn.dim, 400))
    if c is not None:
        t = T[c - 1]
        lt = float(t @ -dyn.drift_jvp(Y[c - 1], t))
        S[c - 1] += dt[c - 1] * float(G[c - 1] @ t) / max(1.0 - dt[c - 1] * lt, 0.5) * t
    size = np.linalg.norm(S, axis=1)
    S *= np.minimum(1.0, st["radius"] / np.maximum(size, 1e-300))[:, None]
    Yn = Y + S
    ok = ~neg & (dyn.loss.value(Yn) <= F + 1e-13 * (1.0 + np.abs(F)))
    if c is not None:
        ok[c - 1] = not neg[c - 1] and np.linalg.norm(dyn.drift(Yn[c - 1])) <= 2.0 * np.linalg.norm(G[c - 1])
    st["dt"] = np.where(ok, np.minimum(2.0 * dt, st["dt_max"]), 0.25 * dt)
    X[1:-1] = np.where(ok[:, None], Yn, Y)
    return normal


def _drift_step(dyn, X, st):
    """One explicit string step on a general drift: x ← x + dt b (climbing image: b - 2(b·τ)τ), dt
    from the spectral radius of Db, halved while |b| grows tenfold. Returns the largest |b⊥|."""
    Y = X[1:-1]
    B = dyn.drift(Y)
    tau = _tangents(X)[1:-1]
    Bt = np.einsum("ij,ij->i", B, tau)
    normal = float(np.max(np.linalg.norm(B - Bt[:, None] * tau, axis=1)))
    c = st["climb"]
    if c is not None:
        B[c - 1] -= 2.0 * Bt[c - 1] * tau[c - 1]
    top = float(np.max(np.linalg.norm(B, axis=1)))
    for _ in range(30):
        S = st["dt"][0] * B
        size = np.linalg.norm(S, axis=1)
        S *= np.minimum(1.0, st["radius"] / np.maximum(size, 1e-300))[:, None]
        if np.max(np.linalg.norm(dyn.drift(Y + S), axis=1)) <= 10.0 * top + 1e-300:
            break
        st["dt"] = 0.5 * st["dt"]
    X[1:-1] = Y + S
    return normal


def _run_string(dyn, X, st, *, max_iter, stop):
    """Iterate the string (climbing image ``st["climb"]`` or none) until its measure (|b⊥| without a
    climbing image, |b| at it with one) is <= stop, stagnates over 30 iterations, or max_iter."""
    step = _gradient_step if dyn.loss is not None else _drift_step
    window = 30 if dyn.loss is not None else 200  # the explicit steps of a general drift are short
    history = []
    it = 0
    for it in range(1, max_iter + 1):
        st["radius"] = float(np.sum(np.linalg.norm(np.diff(X, axis=0), axis=1))) / (len(X) - 1)
        normal = step(dyn, X, st)
        X[:] = _reparametrize(X, st["climb"])
        measure = normal if st["climb"] is None else float(np.linalg.norm(dyn.drift(X[st["climb"]])))
        history.append(measure)
        if measure <= stop:
            break
        if it >= 2 * window and min(history[-window:]) > 0.95 * min(history[:-window]):
            break
    return it, history[-1] if history else np.inf


def _climbing_index(dyn, X):
    """The interior image of largest f (gradient dynamics) or where b·τ turns from - to +; None if
    the string has no such point."""
    if dyn.loss is not None:
        F = dyn.loss.value(X)
        c = int(np.argmax(F[1:-1])) + 1
        return c if F[c] > max(F[0], F[-1]) else None
    B = dyn.drift(X[1:-1])
    s = np.einsum("ij,ij->i", B, _tangents(X)[1:-1])
    turns = np.flatnonzero((s[:-1] <= 0) & (s[1:] > 0))
    if turns.size == 0:
        return None
    i = int(turns[0])
    return i + 1 if np.linalg.norm(B[i]) <= np.linalg.norm(B[i + 1]) else i + 2


def _interior_minimum(dyn, X, a, b):
    """A stable equilibrium the string passes through between a and b, or None: from each interior
    local minimum of f along the string (gradient dynamics) or turn of b·τ from + to -, a local
    descent; kept when it lands farther than 1e-3 |a - b| from both ends."""
    if dyn.loss is not None:
        F = dyn.loss.value(X)
        cand = np.flatnonzero((F[1:-1] < F[:-2]) & (F[1:-1] < F[2:])) + 1
    else:
        s = np.einsum("ij,ij->i", dyn.drift(X[1:-1]), _tangents(X)[1:-1])
        cand = np.flatnonzero((s[:-1] > 0) & (s[1:] <= 0)) + 1
    if cand.size == 0:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FWWarning)
        found = find_minima(dyn, X[cand])
    gap = 1e-3 * float(np.linalg.norm(a - b))
    for p in found.points:
        if min(np.linalg.norm(p - a), np.linalg.norm(p - b)) > gap:
            return p
    return None


def _push_off(dyn, X, out, c):
    """The string pushed off an equilibrium of index >= 2 along its unstable directions other than
    the one closest to the string's tangent (amplitude 0.1 |a - b| sin(π s), ends fixed)."""
    spec = drift_spectrum(dyn, out["x"], k=out["n_unstable"], v0=out["v"])
    tau = _tangents(X)[c]
    W = spec.vectors[:, np.real(spec.values) > 0]
    keep = np.argsort(np.abs(W.T @ tau))[:-1]
    w = W[:, keep].sum(axis=1)
    w = _unit(w - (w @ tau) * tau)
    t = np.linspace(0.0, 1.0, len(X))
    return X + 0.1 * np.linalg.norm(X[-1] - X[0]) * np.sin(np.pi * t)[:, None] * w


def _joins(dyn, x, v, attractors):
    """Indices of the attractors reached from x - δv and x + δv (δ = 5 % of the distance to the
    nearest one): by :func:`quench`; for gradient dynamics a branch the quench leaves unlabelled (a
    weak unstable mode escapes too slowly for an explicit flow) is finished by the linearly implicit
    descent :func:`_implicit_descent`. Returns ((i, j), method)."""
    dist = np.linalg.norm(attractors - x, axis=1)
    pts = np.stack([x - 0.05 * dist.min() * v, x + 0.05 * dist.min() * v])
    labels = quench(dyn, pts, attractors, max_steps=2000 if dyn.loss is not None else 20_000)
    method = "quench"
    if dyn.loss is not None and np.any(labels < 0):
        free = np.flatnonzero(labels < 0)
        labels[free] = _implicit_descent(dyn, pts[free], attractors, 0.1 * dist.min())
        method = "quench + implicit descent"
    return (int(labels[0]), int(labels[1])), method


def _implicit_descent(dyn, Y, attractors, radius, max_iter=500):
    """Labels of the attractors reached by linearly implicit gradient descent from the rows of Y:
    (I + dt ∇²f) Δ = -∇f dt by batched CG, |Δ| <= radius, dt doubled on acceptance (f falls, CG
    sees positive curvature) and quartered otherwise; -1 when a row ends outside every capture ball."""
    Y = Y.copy()
    capture = capture_radius(attractors)
    dt = 1.0 / (1.05 * np.maximum(spectral_radius(dyn, Y, n_iter=20), 1e-300))
    labels = np.full(len(Y), -1, dtype=np.int64)
    free = np.arange(len(Y))
    for _ in range(max_iter):
        dist = np.linalg.norm(Y[free, None, :] - attractors[None, :, :], axis=-1)
        near = np.argmin(dist, axis=1)
        hit = dist[np.arange(len(free)), near] <= capture[near]
        labels[free[hit]] = near[hit]
        free = free[~hit]
        if free.size == 0:
            break
        Z, h = Y[free], dt[free]
        G, F = -dyn.drift(Z), dyn.loss.value(Z)
        S, neg = _batched_cg(lambda V, Z=Z, h=h: V - h[:, None] * dyn.drift_jvp(Z, V), -h[:, None] * G, max_iter=400)
        S *= np.minimum(1.0, radius / np.maximum(np.linalg.norm(S, axis=1), 1e-300))[:, None]
        ok = ~neg & (dyn.loss.value(Z + S) < F)
        Y[free] = np.where(ok[:, None], Z + S, Z)
        dt[free] = np.where(ok, 2.0 * h, 0.25 * h)
    return labels


def _failed(X, reason, info):
    warnings.warn(reason, FWWarning, stacklevel=3)
    return SaddleSearch(saddle=None, string=X, reason=reason, info={**info, "warnings": [*info["warnings"], reason]})


def saddle_between(dyn, a, b, minima=None, *, n_images=21, tol=None, max_iter=1000) -> SaddleSearch:
    """The index-1 saddle between minima a and b by a climbing-image string, then refinement.

    The string method (E, Ren & Vanden-Eijnden 2002, 2007) evolves n_images points from the
    segment [a, b] by ẋ = b(x) with arc-length reparametrisation; the climbing image (Henkelman's
    CI-NEB, Ren & Vanden-Eijnden's climbing string) then moves by b - 2(b·τ)τ to the saddle. For
    gradient dynamics each step is linearly implicit, (I + dt ∇²f) Δ = -dt ∇f by batched CG on
    Hessian–vector products, with per-image step sizes grown and cut by acceptance, so no step
    size is tuned on stiff problems; for a general drift it is explicit with dt from the spectral
    radius of Db (power iteration). The climbing image is finished by :func:`refine_saddle`'s
    min-mode Newton–Krylov iteration to |b| <= tol and its index confirmed by Lanczos. When the
    point reached has 2 or more unstable directions the string is pushed off it along the extra
    ones and run again (twice at most).

    Parameters
    ----------
    dyn : Dynamics
    a, b : (d,)
        The two minima (stable equilibria).
    minima : (m, d), optional
        All known minima: ``joins`` indexes them (default: 0 = a, 1 = b).
    n_images : int
        Images on the string, >= 5.
    tol : float, optional
        Target |b| at the saddle; default 1e-10 × max(1, max |b| on the segment [a, b]).
    max_iter : int
        String iterations per phase (relaxation, climbing).

    Returns
    -------
    SaddleSearch
        ``saddle`` None with ``reason`` when the string passes through another minimum (the pair is
        joined through it), has no maximum, or the refinement does not converge or ends at an
        equilibrium that is not of index 1 (each with an FWWarning).

    Raises
    ------
    InputError
        Points of the wrong shape or not finite, a == b, n_images < 5.
    NonFiniteError
        b is NaN/inf at a point of the string (the message names it).

    Examples
    --------
    >>> import fwpotential as fw
    >>> dyn = fw.langevin("(x**2 - 1)**2 + y**2")
    >>> res = fw.saddle_between(dyn, [-1.0, 0.0], [1.0, 0.0])
    >>> res
    SaddleSearch(Saddle(d=2, value=1, eigenvalue=4, joins=(0, 1)))
    >>> res.saddle.point.round(6) + 0.0
    array([0., 0.])
    """
    t0 = time.perf_counter()
    d = dyn.dim
    a = coerce_points(a, d, "a").reshape(d)
    b = coerce_points(b, d, "b").reshape(d)
    att = np.stack([a, b]) if minima is None else np.atleast_2d(coerce_points(minima, d, "minima"))
    if isinstance(n_images, bool) or not isinstance(n_images, (int, np.integer)) or n_images < 5:
        raise InputError(f"n_images must be an integer >= 5, got {n_images!r}")
    if not np.linalg.norm(a - b) > 0:
        raise InputError("a and b are the same point; give two distinct minima")
    X = a + np.linspace(0.0, 1.0, int(n_images))[:, None] * (b - a)
    g_scale = max(1.0, float(np.max(np.linalg.norm(dyn.drift(X), axis=1))))
    tol = 1e-10 * g_scale if tol is None else float(tol)
    dt0 = 1.0 / (1.05 * np.maximum(spectral_radius(dyn, X[1:-1], n_iter=20), 1e-300))
    st = {"dt": dt0, "dt_max": 1e6 * dt0, "climb": None, "radius": 1.0}
    info = {"iterations": 0, "restarts": 0, "n_images": int(n_images), "warnings": []}
    while True:
        st["climb"] = None
        n1, normal = _run_string(dyn, X, st, max_iter=max_iter, stop=1e-3 * g_scale)
        info.update(normal_force=normal, seconds=time.perf_counter() - t0)
        info["iterations"] += n1
        inter = _interior_minimum(dyn, X, a, b)
        if inter is not None:
            reason = _through_reason(dyn, inter)
            return SaddleSearch(saddle=None, string=X, reason=reason, info={**info, "intermediate_minimum": inter})
        c = _climbing_index(dyn, X)
        if c is None:
            return _failed(X, "no maximum along the string between a and b (b·τ never turns from - to +)", info)
        st["climb"] = c
        n2, _ = _run_string(dyn, X, st, max_iter=max_iter, stop=1e-4 * g_scale)
        info["iterations"] += n2
        radius = float(np.linalg.norm(X[-1] - X[0])) / (len(X) - 1)
        out = _refine(dyn, X[c], _tangents(X)[c], tol, 200, radius)
        info.update(step=st["dt"].copy(), refine_iterations=out["iterations"], seconds=time.perf_counter() - t0)
        if out["residual"] > out["tol"]:
            return _failed(X, _not_converged(out), info)
        if out["n_unstable"] >= 2 and info["restarts"] < 2:
            X = _push_off(dyn, X, out, c)
            info["restarts"] += 1
            st["dt"] = dt0.copy()
            continue
        if out["n_unstable"] != 1:
            return _failed(X, _wrong_index(out), info)
        if float(out["v"] @ (b - a)) < 0:
            out["v"] = -out["v"]  # +v points towards b: joins reads (a's side, b's side)
        joins, how = _joins(dyn, out["x"], out["v"], att)
        out["method"] = f"climbing string + {out['method']}; joins by {how}"
        out["seconds"] = time.perf_counter() - t0
        return SaddleSearch(saddle=_as_saddle(dyn, out, joins), string=X, reason="", info=info)


def _through_reason(dyn, p):
    value = f" (f = {float(dyn.loss.value(p)):.6g})" if dyn.loss is not None else ""
    return f"the string passes through another minimum at {_short(p)}{value}; the pair is joined through it"
