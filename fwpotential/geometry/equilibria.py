"""Critical points of a loss, or equilibria of a drift, in a box (multi-start Newton)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fwpotential.errors import DimensionError, InputError, NonFiniteError
from fwpotential.model.dynamics import Dynamics
from fwpotential.model.loss import coerce_loss

__all__ = ["CriticalPoints", "critical_points"]


@dataclass(frozen=True, repr=False)
class CriticalPoints:
    """Critical points found in a box.

    Attributes
    ----------
    points : ndarray (n, d)
    values : ndarray (n,)
        f at the points (NaN for a drift without a loss).
    matrices : ndarray (n, d, d)
        Hessians ∇²f (for a loss) or drift Jacobians Db (for dynamics).
    eigenvalues : ndarray (n, d)
        Eigenvalues of ``matrices`` (complex for a non-symmetric Jacobian), sorted by real part.
    kinds : tuple of str
        Loss: "minimum", "saddle", "maximum", "degenerate". Dynamics: "stable", "saddle",
        "unstable", "degenerate".
    index : ndarray (n,) of int
        Number of descending directions (negative Hessian eigenvalues; Jacobian eigenvalues with
        positive real part).
    """

    points: np.ndarray
    values: np.ndarray
    matrices: np.ndarray
    eigenvalues: np.ndarray
    kinds: tuple
    index: np.ndarray
    info: dict = field(default_factory=dict)

    def of_kind(self, kind) -> np.ndarray:
        """Indices of the points of one kind."""
        return np.array([i for i, k in enumerate(self.kinds) if k == kind], dtype=int)

    def __len__(self):
        return len(self.kinds)

    def __repr__(self):
        counts = {k: self.kinds.count(k) for k in dict.fromkeys(self.kinds)}
        return f"CriticalPoints({', '.join(f'{v} {k}' for k, v in counts.items()) or 'none'})"


def _field(obj):
    """(F, JF, value, symmetric) for a loss (F = ∇f) or dynamics (F = b)."""
    if isinstance(obj, Dynamics):
        val = obj.loss.value if obj.loss is not None else None
        return obj.drift, obj.drift_jacobian, val, False, obj.dim
    loss = coerce_loss(obj)
    return loss.grad, loss.hess, loss.value, True, loss.dim


def _newton(F, JF, x, box_lo, box_hi, n_iter=60):
    """Vectorised damped Newton on F(x) = 0 from starts x (n, d); returns (x, residual)."""
    x = x.copy()
    size = box_hi - box_lo
    for _ in range(n_iter):
        with np.errstate(all="ignore"):
            try:
                f = F(x)
                J = JF(x)
            except NonFiniteError:
                f, J = _safe_eval(F, JF, x)
            try:
                dx = np.linalg.solve(J, -f[..., None])[..., 0]
            except np.linalg.LinAlgError:
                dx = np.stack([np.linalg.lstsq(Ji, -fi, rcond=None)[0] for Ji, fi in zip(J, f)])
        dx = np.where(np.isfinite(dx), dx, 0.0)
        lim = 0.25 * size
        dx = np.clip(dx, -lim, lim)
        x = np.clip(x + dx, box_lo - 0.1 * size, box_hi + 0.1 * size)
        if np.all(np.abs(dx) <= 1e-15 * (1 + np.abs(x))):
            break
    try:
        res = np.linalg.norm(F(x), axis=-1)
    except NonFiniteError:
        res = np.linalg.norm(_safe_eval(F, JF, x)[0], axis=-1)
    return x, res


def _safe_eval(F, JF, x):
    f = np.full(x.shape, np.nan)
    J = np.full(x.shape + (x.shape[-1],), np.nan)
    for i in range(len(x)):
        try:
            f[i], J[i] = F(x[i]), JF(x[i])
        except NonFiniteError:
            pass
    return f, J


def critical_points(obj, box, *, n_starts=None, seed=0, tol=1e-9) -> CriticalPoints:
    """Find the critical points of a loss (∇f = 0) or the equilibria of dynamics (b = 0) in a box.

    Multi-start damped Newton from a grid of starts plus random ones, deduplicated, polished and
    classified by the eigenvalues of ∇²f (symmetric) or Db.

    Parameters
    ----------
    obj : Loss, expression string or Dynamics
    box : sequence of (lo, hi), or any object with a ``bounds`` attribute (a Grid)
    n_starts : int, optional
        Number of starts (default about 30 per dimension for d ≤ 3, capped at 8000).
    seed : int
        Seed of the random starts.
    tol : float
        Residual |F| below which (relative to the field's scale) a point counts as critical.

    Examples
    --------
    >>> cps = critical_points("(x**2 - 1)**2", [(-2, 2)])
    >>> cps.kinds
    ('minimum', 'maximum', 'minimum')
    """
    F, JF, val, symmetric, d = _field(obj)
    bounds = getattr(box, "bounds", box)
    try:
        lo = np.array([float(b[0]) for b in bounds])
        hi = np.array([float(b[1]) for b in bounds])
    except (TypeError, ValueError, IndexError) as exc:
        raise InputError(f"box must be a sequence of (lo, hi) pairs, got {box!r}") from exc
    if lo.size != d:
        raise DimensionError(f"box is {lo.size}-D but the {'loss' if symmetric else 'dynamics'} is {d}-D")
    if not np.all(hi > lo):
        raise InputError(f"box needs lo < hi in every dimension, got {list(zip(lo, hi))}")
    if n_starts is None:
        n_starts = min(8000, {1: 60, 2: 900, 3: 4000}.get(d, 50 * d))
    per = max(2, int(round(n_starts ** (1.0 / d)))) if d <= 3 else 2
    axes = [np.linspace(l_, h_, per + 2)[1:-1] for l_, h_ in zip(lo, hi)]
    starts = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, d) if d <= 3 else np.empty((0, d))
    rng = np.random.default_rng(seed)
    starts = np.concatenate([starts, lo + (hi - lo) * rng.random((max(n_starts // 4, 8), d))])
    x, res = _newton(F, JF, starts, lo, hi)
    scale = _field_scale(F, lo, hi, d, rng)
    size = float(np.max(hi - lo))
    ok = (
        np.isfinite(res)
        & (res <= 1e3 * tol * scale)
        & np.all((x >= lo - 1e-9 * size) & (x <= hi + 1e-9 * size), axis=-1)
    )
    x = x[ok]
    # deduplicate
    keep = []
    for xi in x[np.argsort(res[ok])]:
        if all(np.linalg.norm(xi - k) > 1e-6 * size for k in keep):
            keep.append(xi)
    pts = np.array(keep).reshape(-1, d)
    if len(pts):
        pts, _ = _newton(F, JF, pts, lo, hi, n_iter=5)
        order = np.lexsort(pts.T[::-1])
        pts = pts[order]
    mats = JF(pts) if len(pts) else np.empty((0, d, d))
    vals = val(pts) if (val is not None and len(pts)) else np.full(len(pts), np.nan)
    kinds, index, eigs = [], [], []
    for M in mats:
        if symmetric:
            w = np.linalg.eigvalsh(0.5 * (M + M.T))
            tiny = 1e-9 * max(1.0, np.abs(w).max())
            neg, pos = int(np.sum(w < -tiny)), int(np.sum(w > tiny))
            kind = "degenerate" if neg + pos < d else "minimum" if neg == 0 else "maximum" if pos == 0 else "saddle"
            index.append(neg)
        else:
            w = np.linalg.eigvals(M)
            w = w[np.argsort(w.real)]
            tiny = 1e-9 * max(1.0, np.abs(w).max())
            up, down = int(np.sum(w.real > tiny)), int(np.sum(w.real < -tiny))
            kind = "degenerate" if up + down < d else "stable" if up == 0 else "unstable" if down == 0 else "saddle"
            index.append(up)
        kinds.append(kind)
        eigs.append(w)
    eigs = np.array(eigs) if eigs else np.empty((0, d))
    return CriticalPoints(
        pts,
        np.asarray(vals, float),
        mats,
        eigs,
        tuple(kinds),
        np.array(index, dtype=int),
        {"n_starts": len(starts), "box": list(zip(lo, hi))},
    )


def _field_scale(F, lo, hi, d, rng):
    probe = lo + (hi - lo) * rng.random((64, d))
    with np.errstate(all="ignore"):
        try:
            s = np.nanmedian(np.linalg.norm(F(probe), axis=-1))
        except NonFiniteError:
            s = 1.0
    return float(s) if np.isfinite(s) and s > 0 else 1.0


def newton_equilibrium(dynamics, x):
    """Newton on b(x) = 0 from one point; returns (x*, converged)."""
    x = np.asarray(x, dtype=float).reshape(1, -1)
    span = np.maximum(1.0, np.abs(x))
    xs, res = _newton(dynamics.drift, dynamics.drift_jacobian, x, x - 10 * span, x + 10 * span, n_iter=50)
    J = dynamics.drift_jacobian(xs[0])
    scale = 1e-10 * (1.0 + np.abs(J).max() * (1.0 + np.abs(xs[0]).max()))
    return xs[0], bool(np.isfinite(res[0]) and res[0] <= scale)


def stable_in_higher_order(dynamics, x, radius, *, n_directions=256, seed=0) -> bool:
    """Whether a degenerate equilibrium x (a zero eigenvalue of Db, none with positive real part) still
    attracts: the drift points inwards, <b(x + r u), u> < 0, for sampled unit vectors u on the spheres
    r = radius, radius/2, radius/4 (|x - x*|² decreases along the flow there, as at x**4's minimum)."""
    x = np.asarray(x, dtype=float).reshape(-1)
    d = x.size
    J = np.atleast_2d(dynamics.drift_jacobian(x))
    if np.max(np.linalg.eigvals(J).real) > 1e-9 * max(1.0, np.abs(J).max()):
        return False
    if d == 1:
        u = np.array([[1.0], [-1.0]])
    else:
        u = np.random.default_rng(seed).standard_normal((n_directions, d))
        u = np.concatenate([u, np.eye(d), -np.eye(d)])
        u /= np.linalg.norm(u, axis=1, keepdims=True)
    for r in (radius, radius / 2, radius / 4):
        try:
            b = dynamics.drift(x + r * u)
        except NonFiniteError:
            return False
        if not np.all(np.einsum("nd,nd->n", b, u) < 0):
            return False
    return True
