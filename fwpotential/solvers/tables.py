"""Gaussian cost tables of the grid solvers: the drift b and A = a^-1 on nodes or half-grid points.

The midpoint geometric cost of a segment l for Gaussian noise, |b|_A |l|_A - <b, A l> with
A = a^-1 (theory.md §3), needs b and A at the midpoints of the segments: for segments between
grid nodes these are the points of ``grid.half_points()``. Every grid solver evaluates them here,
with one positive-definiteness check (a Cholesky factorisation) and one error message.

Layouts of a symmetric A:

- full: (..., d, d);
- packed (``pack_upper``): the upper triangle by rows, (11, 12, 22) in 2-D and
  (11, 12, 13, 22, 23, 33) in 3-D;
- padded (``upper6``): always the six 3-D entries, a 2-D matrix embedded with A_33 = 1.
"""

from __future__ import annotations

import numpy as np

from fwpotential.errors import CovarianceError

__all__ = [
    "check_positive_definite",
    "cost_pack_2d",
    "from_upper6",
    "gaussian_coefficients",
    "half_grid_coefficients",
    "inverse_covariance",
    "is_positive_definite",
    "pack_upper",
    "unpack_upper",
    "upper6",
]

_UPPER = {2: ((0, 0), (0, 1), (1, 1)), 3: ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))}
_UPPER6 = _UPPER[3]


def is_positive_definite(a) -> bool:
    """True when every covariance of the stack a (..., d, d) has a Cholesky factor."""
    try:
        np.linalg.cholesky(a)
    except np.linalg.LinAlgError:
        return False
    return True


def check_positive_definite(a, x=None, *, who):
    """Raise CovarianceError naming ``who`` (the scheme that needs it) and the first point of x
    (..., d) where the covariance a (..., d, d) is not positive definite."""
    if is_positive_definite(a):
        return
    where = ""
    if x is not None:
        a = np.asarray(a, dtype=float)
        flat = a.reshape(-1, a.shape[-2], a.shape[-1])
        with np.errstate(invalid="ignore"):
            finite = np.all(np.isfinite(flat), axis=(1, 2))
            low = np.full(len(flat), -np.inf)
            low[finite] = np.linalg.eigvalsh(flat[finite])[:, 0]
        bad = np.flatnonzero(~(low > 0))
        if len(bad):
            pts = np.broadcast_to(np.asarray(x, dtype=float), a.shape[:-1]).reshape(-1, a.shape[-1])
            where = f"; it is not at x = {pts[bad[0]]}"
    raise CovarianceError(f"{who} needs a positive-definite noise covariance a(x) = Cov Z on every node{where}")


def inverse_covariance(a, x=None, *, who, symmetric=False):
    """A = a^-1 (..., d, d) after ``check_positive_definite``; ``symmetric`` averages A with its
    transpose (the inverse of a symmetric matrix is symmetric only up to rounding)."""
    check_positive_definite(a, x, who=who)
    A = np.linalg.inv(a)
    return 0.5 * (A + np.swapaxes(A, -1, -2)) if symmetric else A


def gaussian_coefficients(dynamics, x, *, who):
    """(b, A): drift and A = a^-1 (full layout) at the points x (..., d); CovarianceError where a
    is not positive definite."""
    b = np.asarray(dynamics.drift(x), dtype=float)
    a = np.asarray(dynamics.noise_cov(x), dtype=float)
    return b, inverse_covariance(a, x, who=who)


def half_grid_coefficients(dynamics, grid):
    """(B, A): drift and packed A = a^-1 on ``grid.half_points()`` (float64, C order); A is None
    when a is not positive definite somewhere (the caller then uses another cost)."""
    X = grid.half_points()
    B = np.ascontiguousarray(dynamics.drift(X), dtype=np.float64)
    a = dynamics.noise_cov(X)
    if not is_positive_definite(a):
        return B, None
    return B, np.ascontiguousarray(pack_upper(np.linalg.inv(a)), dtype=np.float64)


def pack_upper(A):
    """Packed upper triangle (..., d(d+1)/2) of the symmetric matrices A (..., d, d), d = 2 or 3."""
    return np.stack([A[..., i, j] for i, j in _UPPER[A.shape[-1]]], axis=-1)


def unpack_upper(P):
    """Full symmetric matrices (..., d, d) from the packed upper triangle P (..., 3) or (..., 6)."""
    d = {3: 2, 6: 3}[P.shape[-1]]
    col = {ij: c for c, ij in enumerate(_UPPER[d])}
    return np.stack([np.stack([P[..., col[(min(i, j), max(i, j))]] for j in range(d)], -1) for i in range(d)], -2)


def upper6(A):
    """Padded layout (n, 6) of the matrices A (n, d, d), d = 2 or 3: the 3-D upper triangle, with
    the entries of a 2-D matrix outside its 2 x 2 block those of the identity."""
    d = A.shape[-1]
    out = np.zeros((len(A), 6))
    for c, (i, j) in enumerate(_UPPER6):
        if i < d and j < d:
            out[:, c] = A[:, i, j]
        elif i == j:
            out[:, c] = 1.0
    return out


def from_upper6(u, d):
    """The (d, d) symmetric matrix of one padded 6-vector u (``upper6``)."""
    m = np.array([[u[0], u[1], u[2]], [u[1], u[3], u[4]], [u[2], u[4], u[5]]])
    return m[:d, :d]


def cost_pack_2d(b, A, *, with_A=False):
    """Per half-grid point (|b|_A, (Ab)_0, (Ab)_1, b_0, b_1) and, with ``with_A``, the packed A
    (a11, a12, a22): the rows the 2-D Gaussian kernels read (8 values, one cache line each)."""
    Ab = np.einsum("...ij,...j->...i", unpack_upper(A), b)
    c = np.sqrt(np.maximum(np.einsum("...i,...i->...", b, Ab), 0.0))
    parts = [c[..., None], Ab, b] + ([A] if with_A else [])
    return np.ascontiguousarray(np.concatenate(parts, axis=-1))
