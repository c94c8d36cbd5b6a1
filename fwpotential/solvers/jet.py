"""Local expansion of the quasi-potential at a stable equilibrium beyond its Lyapunov quadratic.

The grid solvers use it to size their start region (where the quadratic is accurate), the
fluctuation paths to start on the third-order expansion of V at x*.
"""

from __future__ import annotations

import numpy as np

__all__ = ["third_order"]


def third_order(dyn, x_star, Q0, h):
    """T = ∇³V(x*) and g = ∇c_diffusion(x*) from the third derivative of H(x, ∇V(x)) = 0 at x*.

    With B = Db + aQ (Q = ∇²V(x*), a = ∂²ₚH(x*, 0)), T solves the linear system
        Σ_j B_ji T_jkm + B_jk T_jim + B_jm T_jik = -S_ikm,
        S_ikm = Σ(ikm) ∂_i∂_k b_n Q_nm + Σ(ikm) ∂_i a_jn Q_nm Q_jk + Λ_jln Q_ji Q_lk Q_nm,
    (Σ(ikm): the three cyclic placements; Λ_jln = ∂³ₚH(x*, 0)), uniquely solvable because the
    eigenvalues of B have positive real parts. Derivatives of b, a and Λ are central differences."""
    d = dyn.dim
    I = np.eye(d)
    z = np.zeros(d)
    db2 = np.stack(
        [(dyn.drift_jacobian(x_star + h * I[m]) - dyn.drift_jacobian(x_star - h * I[m])) / (2 * h) for m in range(d)],
        axis=-1,
    )  # db2[j, k, m] = ∂_k ∂_m b_j
    a = dyn.hamiltonian_hess_p(x_star, z)
    da = np.stack(
        [
            (dyn.hamiltonian_hess_p(x_star + h * I[m], z) - dyn.hamiltonian_hess_p(x_star - h * I[m], z)) / (2 * h)
            for m in range(d)
        ],
        axis=-1,
    )  # da[j, l, m] = ∂_m a_jl
    hp = h * max(1.0, float(np.abs(Q0).max())) ** -1
    lam3 = np.stack(
        [
            (dyn.hamiltonian_hess_p(x_star, hp * I[n]) - dyn.hamiltonian_hess_p(x_star, -hp * I[n])) / (2 * hp)
            for n in range(d)
        ],
        axis=-1,
    )  # lam3[j, l, n]
    B = dyn.drift_jacobian(x_star) + a @ Q0
    S1 = np.einsum("nik,nm->ikm", db2, Q0)
    S2 = np.einsum("jni,nm,jk->ikm", da, Q0, Q0)
    S = S1 + S1.transpose(1, 2, 0) + S1.transpose(2, 0, 1)
    S = S + S2 + S2.transpose(1, 2, 0) + S2.transpose(2, 0, 1)
    S = S + np.einsum("jln,ji,lk,nm->ikm", lam3, Q0, Q0, Q0)
    Lop = (
        np.einsum("ji,ka,mb->ikmjab", B, I, I)
        + np.einsum("jk,ia,mb->ikmajb", B, I, I)
        + np.einsum("jm,ia,kb->ikmabj", B, I, I)
    ).reshape(d**3, d**3)
    T = np.linalg.solve(Lop, -S.ravel()).reshape(d, d, d)
    T = (
        T
        + T.transpose(0, 2, 1)
        + T.transpose(1, 0, 2)
        + T.transpose(1, 2, 0)
        + T.transpose(2, 0, 1)
        + T.transpose(2, 1, 0)
    ) / 6
    g = (
        np.einsum("jjm->m", db2)
        + np.einsum("jnj,nm->m", da, Q0)
        + 0.5 * np.einsum("jlm,lj->m", T, a)
        + 0.5 * np.einsum("jl,ljm->m", Q0, da)
        + 0.5 * np.einsum("jl,ljn,nm->m", Q0, lam3, Q0)
    )
    return T, g
