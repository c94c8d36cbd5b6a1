"""Hwang's weights among tied minima of W (theory.md §5).

If π_ε ∝ exp(-W/ε) and W attains its minimum at isolated points x_i with Hessians H_i, then
π_ε → Σ w_i δ_{x_i} with w_i ∝ det(H_i)^(-1/2) (Hwang 1980). On a compact m-dimensional manifold of
minimisers the limit density is ∝ det N(y)^(-1/2) against surface measure, N the Hessian restricted
to the normal space; components of larger dimension take all the mass (Hwang 1980, Thm 3.1).
"""

from __future__ import annotations

import numpy as np

from fwpotential.errors import DimensionError, InputError

__all__ = ["hwang_weights", "manifold_density", "laplace_masses"]


def hwang_weights(hessians) -> np.ndarray:
    """Normalised weights w_i ∝ det(H_i)^(-1/2) of isolated tied minima.

    Parameters
    ----------
    hessians : sequence of (d, d) arrays
        Hessians of W at the tied minima; each must be symmetric positive definite.

    Returns
    -------
    ndarray (k,), summing to 1.

    Examples
    --------
    >>> hwang_weights([[[1.0]], [[4.0]]])   # the flatter minimum gets twice the weight
    array([0.66666667, 0.33333333])
    """
    H = np.asarray(hessians, dtype=float)
    if H.ndim == 2 and H.shape[0] == H.shape[1] and H.shape[0] > 0 and np.ndim(hessians[0]) == 2:
        H = H[None]
    if H.ndim != 3 or H.shape[1] != H.shape[2]:
        raise DimensionError(f"hessians must be (k, d, d), got shape {H.shape}")
    if len(H) == 0:
        raise InputError("hwang_weights needs at least one Hessian")
    Hs = 0.5 * (H + np.swapaxes(H, -1, -2))
    if np.abs(H - Hs).max() > 1e-8 * (1 + np.abs(H).max()):
        raise InputError("Hessians must be symmetric")
    w = np.linalg.eigvalsh(Hs)
    if np.any(w <= 0):
        bad = int(np.argmax((w <= 0).any(axis=1)))
        raise InputError(
            f"Hessian {bad} is not positive definite (eigenvalues {w[bad]}); for a degenerate minimum "
            "use manifold_density (curve or surface of minimisers)"
        )
    logdet = np.sum(np.log(w), axis=1)
    a = -0.5 * (logdet - logdet.min())
    p = np.exp(a)
    return p / p.sum()


def manifold_density(hessians, tangents) -> np.ndarray:
    """Hwang's density det N(y)^(-1/2) on a manifold of minimisers (unnormalised).

    Parameters
    ----------
    hessians : (n, d, d) array
        Hessians of W at points y of the manifold.
    tangents : (n, d) or (n, m, d) array
        Tangent vector(s) of the manifold at those points (m = its dimension).

    Returns
    -------
    ndarray (n,): det(Qᵀ H Q)^(-1/2), Q an orthonormal basis of the normal space. Integrate it
    against arc length (surface measure) for the limit law on the manifold.
    """
    H = np.asarray(hessians, dtype=float)
    T = np.asarray(tangents, dtype=float)
    if T.ndim == 2:
        T = T[:, None, :]
    n, d = H.shape[0], H.shape[-1]
    if T.shape[0] != n or T.shape[-1] != d:
        raise DimensionError(f"tangents {T.shape} do not match Hessians {H.shape}")
    out = np.empty(n)
    for k in range(n):
        q, _ = np.linalg.qr(np.concatenate([T[k].T, np.eye(d)], axis=1))
        normal = q[:, T.shape[1] : d]
        N = normal.T @ H[k] @ normal
        ev = np.linalg.eigvalsh(0.5 * (N + N.T))
        if np.any(ev <= 0):
            raise InputError(f"normal Hessian at point {k} is not positive definite (eigenvalues {ev})")
        out[k] = np.prod(ev) ** -0.5
    return out


def laplace_masses(res, eps, kind="hwang") -> np.ndarray:
    """Basin masses at noise level ε of a Landscape or TransitionNetwork ``res``: ∝ prefactor_i
    exp(-W_i/ε) over all attractors, normalised; NaN everywhere when no energy is finite."""
    eps = float(eps)
    if not eps > 0:
        raise InputError(f"eps must be > 0, got {eps}")
    if len(res.ground_states) == 0:
        return np.full(len(res.attractors), np.nan)
    logc = np.log(res.prefactors(kind)) - res.energies / eps
    logc = np.where(np.isfinite(logc), logc, -np.inf)
    p = np.exp(logc - np.max(logc))
    return p / p.sum()
