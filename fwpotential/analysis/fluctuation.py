"""Fluctuation paths and the prefactor transport along them (theory.md §3, §5).

The quasi-potential V of a stable equilibrium x* is the action of the trajectories of

    ẋ = ∂ₚH(x, p),   ṗ = -∂ₓH(x, p),   H(x, p) = 0,

that leave (x*, 0) on its unstable manifold (the Lagrangian manifold p = ∇V(x)). The fluctuation
path to an index-1 saddle s is the heteroclinic orbit from (x*, 0) to (s, 0). Along it the Hessian
Q = ∇²V solves the Riccati equation

    Q̇ = -(Hₓₓ + Hₓₚ Q + Q Hₚₓ + Q Hₚₚ Q),     (Hₓₚ)_ij = ∂²H/∂x_i∂p_j,

and the prefactor K of π_ε ≈ K exp(-V/ε) is transported with rate (theory.md §5)

    c_diffusion = tr Hₓₚ + ½ tr(Q Hₚₚ),     c_chain = c_diffusion - ½ uᵀ Q u,   u = ∂ₚH,

so that log K(s) - log K(x*) = -∫ c dt along the path, i.e. log K(x*) = log K(s) + ∫ c dt.

The orbit is computed in two halves that are each integrated in their stable direction:

- from the saddle, backward in time, starting on the eigenvector of the linearised flow at (s, 0)
  with eigenvalue -μ (μ the unstable eigenvalue of Db(s)); this needs -μ to be the strong stable
  direction (μ > |λ| for the stable eigenvalues λ of Db(s)), otherwise an error is raised;
- from x*, forward in time, starting at distance ~1e-6·|s - x*| on the Lyapunov quadratic
  (p = ∇²V(x*) δx), with the start direction found by Gauss–Newton so that the orbit reaches the
  level V = V(x_m) exactly at x_m, the point of the first half equidistant from x* and s.

The Riccati equation is stable forward near x* and backward near s, so Q is integrated from
Q(x*) = ∇²V(x*) (Lyapunov) forward along the first half and from Q(s) (the algebraic Riccati
solution on the Lagrangian plane at s) backward along the second; the two meet at x_m and their
mismatch is reported. Derivatives of H in x are central differences of the dynamics' own H and ∂ₚH.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from scipy.integrate import solve_ivp
from scipy.linalg import expm, null_space
from scipy.optimize import brentq

from fwpotential.errors import ConvergenceError, InputError
from fwpotential.solvers.jet import third_order

__all__ = ["FluctuationPath", "fluctuation_path"]


@dataclass(frozen=True)
class FluctuationPath:
    """A fluctuation path from a stable equilibrium to an index-1 saddle.

    Attributes
    ----------
    t : (n,) time along the path (0 near x*, increasing towards s).
    x, p : (n, d) position and momentum p = ∇V(x).
    Q : (n, d, d) ∇²V along the path (Riccati).
    action : V(s) - V(x*) = ∫ <p, ẋ> dt.
    int_c : {"diffusion": ∫ c_diffusion dt, "chain": ∫ c_chain dt} = log K(x*) - log K(s).
    info : riccati_mismatch (relative |ΔQ| where the halves meet), newton residual, evaluations, μ.
    """

    t: np.ndarray
    x: np.ndarray
    p: np.ndarray
    Q: np.ndarray
    action: float
    int_c: dict
    info: dict = field(default_factory=dict)


class _Derivs:
    """H and its first and second derivatives at a batch of points, by central differences in x."""

    def __init__(self, dyn, h):
        self.dyn, self.h, d = dyn, float(h), dyn.dim
        e = np.eye(d) * self.h
        offs = [np.zeros(d)] + [s * e[i] for i in range(d) for s in (1, -1)]
        self._pairs = [(i, j) for i in range(d) for j in range(i + 1, d)]
        for i, j in self._pairs:
            offs += [e[i] + e[j], e[i] - e[j], -e[i] + e[j], -e[i] - e[j]]
        self.offs = np.array(offs)  # (m, d)

    def first(self, x, p):
        """∂ₓH (n, d) and ∂ₚH (n, d) at (n, d) points: ∂ₓH = Dbᵀp + ∂ₓΛ (Λ by central differences)."""
        d, h, dyn = self.dyn.dim, self.h, self.dyn
        X = x[:, None, :] + self.offs[None, 1 : 2 * d + 1]
        L = dyn.noise.cgf(X, np.broadcast_to(p[:, None, :], X.shape))
        Hx = np.einsum("nji,nj->ni", dyn.drift_jacobian(x), p) + (L[:, 0::2] - L[:, 1::2]) / (2 * h)
        return Hx, dyn.drift(x) + dyn.noise.cgf_grad(x, p)

    def all(self, x, p):
        """∂ₓH, ∂ₚH, ∂ₓₓH, ∂ₓ∂ₚH ([n, i(x), j(p)]), ∂ₚₚH at (n, d) points."""
        d, h, n = self.dyn.dim, self.h, len(x)
        X = x[:, None, :] + self.offs[None]
        P = np.broadcast_to(p[:, None, :], X.shape)
        H = self.dyn.hamiltonian(X, P)
        Hp_pm = self.dyn.hamiltonian_grad_p(X[:, : 2 * d + 1], P[:, : 2 * d + 1])
        plus, minus = H[:, 1 : 2 * d + 1 : 2], H[:, 2 : 2 * d + 1 : 2]
        Hx = (plus - minus) / (2 * h)
        Hxx = np.zeros((n, d, d))
        Hxx[:, range(d), range(d)] = (plus - 2 * H[:, :1] + minus) / h**2
        for k, (i, j) in enumerate(self._pairs):
            c = H[:, 2 * d + 1 + 4 * k : 2 * d + 5 + 4 * k]
            Hxx[:, i, j] = Hxx[:, j, i] = (c[:, 0] - c[:, 1] - c[:, 2] + c[:, 3]) / (4 * h * h)
        Hxp = (Hp_pm[:, 1 : 2 * d + 1 : 2] - Hp_pm[:, 2 : 2 * d + 1 : 2]) / (2 * h)
        Hpp = self.dyn.hamiltonian_hess_p(x, p)
        return Hx, Hp_pm[:, 0], Hxx, Hxp, Hpp


_MAX_EVALS = 300_000  # right-hand-side evaluations per fluctuation path (a few minutes at most)


def _orbit_rhs(der, sign, budget):
    """(x, p, action) → sign·(∂ₚH, -∂ₓH, <p, ∂ₚH>) (sign = -1: backward time, action still increasing).
    ``budget`` is a one-element list shared by all orbits of one path: ConvergenceError when it runs out."""
    d = der.dyn.dim

    def f(t, y):
        budget[0] -= 1
        if budget[0] < 0:
            raise ConvergenceError(
                f"the fluctuation-path shooting used more than {_MAX_EVALS} evaluations of the Hamiltonian "
                "flow without converging (near-resonant or strongly non-normal saddle?)"
            )
        Hx, Hp = der.first(y[None, :d], y[None, d : 2 * d])
        return np.concatenate([sign * Hp[0], -sign * Hx[0], [float(y[d : 2 * d] @ Hp[0])]])

    return f


def _transport(der1, der2, pieces, e0, Q_start, rtol):
    """Q = ∇²V and the integrals ∫c_diffusion dt, ∫uᵀQu dt along the path given as ``pieces``
    [(orbit(t) → (x, p, ...), (t0, t1)), ...] in forward time.

    Along the path Q u = ṗ = -∂ₓH is known, so only the block of Q across the path is integrated:
    with e = u/|u|, N an orthonormal frame of e⊥ carried by parallel transport (Ṅ = -e ėᵀN) and
    w = Q e = -∂ₓH/|u|, the Riccati equation projected on N gives

        d/dt (NᵀQN) = NᵀQ̇N - (Nᵀė)(Nᵀw)ᵀ - (Nᵀw)(Nᵀė)ᵀ,

    which is stable forward along the whole path, the saddle end included (the directions that make
    the full Riccati flow unstable at s involve u and are fixed by the orbit)."""
    d = der2.dyn.dim

    def assemble(x, p, z):
        Hx, u = der1.first(x[None], p[None])
        Hx, u = Hx[0], u[0]
        nu = float(np.linalg.norm(u))
        e = u / nu
        N = z[(d - 1) ** 2 : (d - 1) ** 2 + d * (d - 1)].reshape(d, d - 1)
        N, R = np.linalg.qr(N - np.outer(e, e @ N))
        N = N * np.sign(np.diag(R))
        w = -Hx / nu
        qNN = z[: (d - 1) ** 2].reshape(d - 1, d - 1)
        Nw = N.T @ w
        Q = (e @ w) * np.outer(e, e) + np.outer(e, N @ Nw) + np.outer(N @ Nw, e) + N @ qNN @ N.T
        return Hx, u, nu, e, N, w, Q

    def rhs_for(orbit):
        def rhs(t, z):
            y = orbit(t)
            x, p = y[:d], y[d : 2 * d]
            Hx, u, nu, e, N, w, Q = assemble(x, p, z)
            _, _, Hxx, Hxp, Hpp = der2.all(x[None], p[None])
            Hxx, Hxp, Hpp = Hxx[0], Hxp[0], Hpp[0]
            dQ = -(Hxx + Hxp @ Q + Q @ Hxp.T + Q @ Hpp @ Q)
            du = Hxp.T @ u - Hpp @ Hx
            de = (du - e * (e @ du)) / nu
            Nde, Nw = N.T @ de, N.T @ w
            dq = N.T @ dQ @ N - np.outer(Nde, Nw) - np.outer(Nw, Nde)
            dN = -np.outer(e, de @ N)
            c = np.trace(Hxp) + 0.5 * np.trace(Q @ Hpp)
            return np.concatenate([dq.ravel(), dN.ravel(), [c, u @ Q @ u]])

        return rhs

    x0 = pieces[0][0](pieces[0][1][0])
    N0 = null_space(e0[None, :])
    z = np.concatenate([(N0.T @ Q_start @ N0).ravel(), N0.ravel(), np.zeros(2)])
    ts, Qs, nfev = [], [], 0
    for orbit, span in pieces:
        sol = solve_ivp(rhs_for(orbit), span, z, method="DOP853", rtol=rtol, atol=rtol * 1e-2)
        if sol.status != 0 or not np.all(np.isfinite(sol.y)):
            raise ConvergenceError("the Riccati equation for ∇²V along the fluctuation path blew up")
        nfev += sol.nfev
        for t, zz in zip(sol.t, sol.y.T):
            y = orbit(t)
            ts.append(t)
            Qs.append(assemble(y[:d], y[d : 2 * d], zz)[-1])
        z = sol.y[:, -1]
    del x0
    return np.array(ts), np.array(Qs), float(z[-2]), float(z[-1]), nfev


def _start_state(x_star, dx, Q0, T3):
    """(x, p, V) at x* + dx from the third-order expansion of V at x*."""
    Tdx = np.einsum("ijk,k->ij", T3, dx)
    return np.concatenate([x_star + dx, Q0 @ dx + 0.5 * Tdx @ dx, [0.5 * dx @ Q0 @ dx + dx @ Tdx @ dx / 6]])


def _back_map(A, dx, r):
    """exp(-A t) with |exp(-A t) dx| = r: the linearised manifold flow ẋ = A δx run backward until δx
    has shrunk to radius r (not by the slowest rate: at a node the path may leave along a fast
    direction, and its start must not sink below rounding next to the slow components)."""

    def log_size(t):
        return np.log(np.linalg.norm(expm(-A * t) @ dx) / r)

    t_max = max(np.log(np.linalg.norm(dx) / r), 1e-3) / float(np.min(np.linalg.eigvals(A).real))
    while log_size(t_max) > 0:
        t_max *= 2.0
    return expm(-A * brentq(log_size, 0.0, t_max))


class _Setup(NamedTuple):
    """What the two halves of the path construction share (all at x* and s)."""

    dyn: object
    x_star: np.ndarray
    saddle: np.ndarray
    Ls: float  # |s - x*|, the length scale of every offset and tolerance
    mu: float  # the unstable rate of Db(s)
    der1: _Derivs
    der2: _Derivs
    fwd: object  # forward Hamiltonian right-hand side
    Q0: np.ndarray  # ∇²V(x*)
    A: np.ndarray  # the linearised flow on the manifold at x*
    rate_star: float
    T3: np.ndarray  # ∇³V(x*)
    g: np.ndarray  # ∇c(x*)
    r0: float
    rtol: float


def _forward_shooting_2d(S, e_sep, Qs, T_max):
    """The fluctuation path as the orbit from x* that reaches s, found by bisection on the start angle
    θ (on a small ellipse of the Lyapunov quadratic, mapped back to radius r0 by the linearised flow):
    orbits on either side of it pass s and run off along ±e_sep (the separatrix direction of V at s),
    so the sign of (x - s)·e_sep where they leave the region classifies them."""
    run = _angle_shooter(S, T_max, e_sep)
    lo = _closest_angle(S, run)
    _, sol, t_close, miss = run(lo, dense=True)
    if t_close is None or miss > 1e-4 * S.Ls:
        raise ConvergenceError(
            f"shooting from x* = {S.x_star} did not reach the saddle {S.saddle} (closest approach "
            f"{'none' if miss is None else f'{miss:.3g}'}, start angle {lo!r}..{lo!r})"
        )
    r = sol.sol(t_close)[:2] - S.saddle
    # forward orbits drift off the manifold near s (at rate μ while they approach at rate μ): stop
    # at r_stop = 2e-3·|s - x*|; the caller adds the exponential tail of ∫c from there
    tg = np.linspace(0.0, t_close, 2001)
    gap = np.linalg.norm(sol.sol(tg)[:2].T - S.saddle, axis=1) - 2e-3 * S.Ls
    j = int(np.argmax(gap <= 0))
    t_m = (
        brentq(lambda t: np.linalg.norm(sol.sol(t)[:2] - S.saddle) - 2e-3 * S.Ls, tg[j - 1], tg[j]) if j > 0 else tg[-1]
    )
    y = sol.sol(t_m)
    rm = y[:2] - S.saddle
    return [(sol.sol, (0.0, t_m))], float(y[-1]) - 0.5 * rm @ Qs @ rm, r, t_m  # V(s + r) = V(s) + ½rᵀQ(s)r


def _angle_shooter(S, T_max, e_sep):
    """run(θ, dense) -> (side, solution, time of closest approach to s, miss) for the orbit from x*
    started at angle θ on the small Lyapunov ellipse."""
    Lc = np.linalg.cholesky(S.Q0)

    def closest(t, y):
        r = y[:2] - S.saddle
        return -1.0 if r @ r > (0.5 * S.Ls) ** 2 else float(r @ S.fwd(t, y)[:2])

    def away(t, y):
        return float(np.linalg.norm(y[:2] - S.x_star)) - 3.0 * S.Ls

    away.terminal = True
    closest.direction = 1.0

    def run(theta, dense=False):
        w = np.linalg.solve(Lc.T, [np.cos(theta), np.sin(theta)])
        dx = 2e-2 * S.Ls * w / np.linalg.norm(w)
        dx0 = _back_map(S.A, dx, S.r0 * S.Ls) @ dx
        sol = solve_ivp(
            S.fwd,
            (0.0, T_max),
            _start_state(S.x_star, dx0, S.Q0, S.T3),
            method="DOP853",
            rtol=S.rtol,
            atol=S.rtol * 1e-3 * S.Ls,
            events=(closest, away),
            dense_output=dense,
        )
        side = float(np.sign((sol.y[:2, -1] - S.saddle) @ e_sep))
        t_close = float(sol.t_events[0][0]) if len(sol.t_events[0]) else None
        if dense and t_close is None:  # no turning point: the orbit may sit on s until T_max
            tg = np.linspace(0.0, float(sol.t[-1]), 4001)
            t_close = float(tg[int(np.argmin(np.linalg.norm(sol.sol(tg)[:2].T - S.saddle, axis=1)))])
        miss = np.linalg.norm(sol.sol(t_close)[:2] - S.saddle) if dense else None
        return side, sol, t_close, miss

    return run


def _closest_angle(S, run):
    """The start angle whose orbit comes closest to s: a scan, then golden-section search on the
    closest-approach distance (it vanishes like |θ - θ*|^(μ/(μ+λ)) at the path)."""

    def dist(theta):
        return float(run(theta, dense=True)[3])

    thetas = np.linspace(0.0, 2 * np.pi, 25)[:-1]
    d_scan = [dist(th) for th in thetas]
    i = int(np.argmin(d_scan))
    lo, hi = thetas[i] - 2 * np.pi / 24, thetas[i] + 2 * np.pi / 24
    g = 0.5 * (np.sqrt(5.0) - 1.0)
    c, e = hi - g * (hi - lo), lo + g * (hi - lo)
    dc, de = dist(c), dist(e)
    while hi - lo > 1e-14 * (1.0 + abs(lo)) and min(dc, de) > 5e-5 * S.Ls:  # 2.5% of the stop radius
        if dc < de:
            hi, e, de = e, c, dc
            c = hi - g * (hi - lo)
            dc = dist(c)
        else:
            lo, c, dc = c, e, de
            e = lo + g * (hi - lo)
            de = dist(e)
    return c if dc < de else e


def _saddle_rates(dyn, saddle):
    """(μ, weak): the unstable rate of Db(s) and whether the path reaches s along a direction that
    decays faster than 1.3 μ. Raises InputError unless s is an index-1 saddle."""
    lam_s = np.linalg.eigvals(dyn.drift_jacobian(saddle))
    mu = float(np.max(lam_s.real))
    if not (mu > 0 and np.sum(lam_s.real > 0) == 1):
        raise InputError(f"{saddle} is not an index-1 saddle of the drift (eigenvalues of Db: {lam_s})")
    # backward integration from s starts O(δ²) off the orbit, and the error grows like (r/δ)^(λ/μ)
    # while the orbit grows like r/δ: fine up to λ/μ ≈ 1.3 (error ≲ δ^0.7); beyond, shoot forward
    # from x* (2-D)
    weak = any(lam < 0 and abs(lam) > 1.3 * mu for lam in lam_s.real)
    if weak and dyn.dim != 2:
        raise InputError(
            f"the fluctuation path reaches the saddle {saddle} with unstable rate {mu:.4g} below 1/1.3 of a "
            "decay rate of Db(s); this needs forward shooting, implemented in 2-D only"
        )
    return mu, weak


def _saddle_plane(dyn, saddle, x_star, mu):
    """The Lagrangian plane of V at (s, 0): (Q(s), Xv, k, v) with Xv the position parts of its
    invariant directions, k the one leaving at rate μ and v that direction in (x, p), pointing to x*.

    The linearised flow ẋ = Db x + a p, ṗ = -Dbᵀp has the invariant directions p = eigenvector of
    -Dbᵀ (eigenvalue ν ∈ {-μ, +|λ_i|}), x = (ν - Db)⁻¹ a p; built this way (not from eig of the
    2d x 2d matrix) it stays well conditioned when μ ≈ |λ_i|."""
    d = dyn.dim
    Db_s = dyn.drift_jacobian(saddle)
    a_s = dyn.hamiltonian_hess_p(saddle, np.zeros(d))
    nu, Pv = np.linalg.eig(-Db_s.T)
    nu, Pv = np.real(nu), np.real(Pv)
    Xv = np.stack([np.linalg.solve(nu[i] * np.eye(d) - Db_s, a_s @ Pv[:, i]) for i in range(d)], axis=1)
    Qs = Pv @ np.linalg.inv(Xv)
    Qs = 0.5 * (Qs + Qs.T)
    k = int(np.argmin(np.abs(nu + mu)))
    v = np.concatenate([Xv[:, k], Pv[:, k]]) / np.linalg.norm(Xv[:, k])
    if v[:d] @ (x_star - saddle) < 0:
        v = -v
    return Qs, Xv, k, v


class _BackwardHalf(NamedTuple):
    """The orbit from s backward in time to x*, and the meeting point of the two halves."""

    orbit: object  # dense solution, y = (x, p, V(s) - V)
    V_s: float
    tau_m: float  # time of the meeting point x_m on the backward orbit
    x_m: np.ndarray
    V_m: float
    xg: np.ndarray  # (4001, d) orbit samples
    dx_end: np.ndarray  # where the orbit ends, relative to x*
    nfev: int


def _backward_half(S, v, delta, budget):
    """Half 1: from the saddle, backward in time, until the orbit comes back to x*."""
    d, x_star, Ls = S.dyn.dim, S.x_star, S.Ls
    back = _orbit_rhs(S.der1, -1.0, budget)

    def near(tau, y):
        return float(np.linalg.norm(y[:d] - x_star)) - 1e-3 * Ls

    def passed(tau, y):  # closest approach to x*: the backward orbit starts to move away again
        r = y[:d] - x_star
        return -1.0 if r @ r > (1e-2 * Ls) ** 2 else float(r @ back(tau, y)[:d])

    near.terminal = passed.terminal = True
    passed.direction = 1.0
    T = 50.0 * (np.log(1.0 / delta) / S.mu + np.log(1.0 / S.r0) / S.rate_star)
    y0 = np.concatenate([S.saddle + delta * Ls * v[:d], delta * Ls * v[d:], [0.0]])
    sol = solve_ivp(
        back,
        (0.0, T),
        y0,
        method="DOP853",
        rtol=S.rtol,
        atol=S.rtol * 1e-3 * Ls,
        events=(near, passed),
        dense_output=True,
    )
    dx_end = sol.y[:d, -1] - x_star
    if sol.status != 1 or np.linalg.norm(dx_end) > 1e-2 * Ls:
        far = float(np.min(np.linalg.norm(sol.y[:d].T - x_star, axis=1)))
        raise ConvergenceError(
            f"the orbit leaving the saddle {S.saddle} backward in time does not come back to x* = {x_star} "
            f"(closest {far:.3g}); is x* the attractor on this side of the saddle?"
        )
    V_s = float(sol.y[-1, -1]) + 0.5 * dx_end @ S.Q0 @ dx_end
    tg = np.linspace(0.0, float(sol.t[-1]), 4001)
    xg = sol.sol(tg)[:d].T
    tau_m = float(tg[int(np.argmax(np.linalg.norm(xg - x_star, axis=1) <= np.linalg.norm(xg - S.saddle, axis=1)))])
    y_m = sol.sol(tau_m)
    return _BackwardHalf(sol.sol, V_s, tau_m, y_m[:d], V_s - float(y_m[-1]), xg, dx_end, sol.nfev)


def _forward_half(S, half):
    """Half 2: from x*, forward in time, shooting at x_m on the level V = V_m. Returns
    (pieces, miss, t_m, nfev): the path as dense pieces in forward time, and the shooting residual.

    The start is on the third-order expansion of V at x* (errors O(r0³) in V, O(r0²) in p and Q); the
    shooting coordinates α displace a reference point of half 1 across the orbit, and the linearised
    manifold flow ẋ = A δx run backward maps it to radius ~r0 (well conditioned at nodes too)."""
    d, Ls = S.dyn.dim, S.Ls
    i_ref = int(np.argmax(np.linalg.norm(half.xg - S.x_star, axis=1) <= 2e-2 * Ls))
    dx_ref = half.xg[i_ref] - S.x_star if i_ref > 0 else half.dx_end
    P = _back_map(S.A, dx_ref, S.r0 * Ls)
    E = null_space(dx_ref[None, :]) * np.linalg.norm(dx_ref)  # (d, d-1)

    def level(t, y):
        return float(y[-1]) - half.V_m

    level.terminal, level.direction = True, 1.0
    T_f = 50.0 * (np.log(Ls / (S.r0 * Ls)) / S.rate_star + 1.0 / S.mu)

    def shoot(alpha, dense=False):
        y0 = _start_state(S.x_star, P @ (dx_ref + E @ alpha), S.Q0, S.T3)
        s = solve_ivp(
            S.fwd,
            (0.0, T_f),
            y0,
            method="DOP853",
            rtol=S.rtol,
            atol=S.rtol * 1e-3 * Ls,
            events=level,
            dense_output=dense,
        )
        return (None if s.status != 1 else s.y[:d, -1] - half.x_m), s

    nfev = [half.nfev]

    def miss_of(alpha):
        F, s = shoot(np.atleast_1d(alpha))
        nfev[0] += s.nfev
        if F is None:
            raise ConvergenceError(f"the orbit leaving x* = {S.x_star} does not reach the level V = {half.V_m:.6g}")
        return F

    alpha, F = _bracket_angle(S, half, miss_of) if d == 2 else _gauss_newton(miss_of, d - 1, Ls)
    if np.linalg.norm(F) > 1e-4 * Ls:
        raise ConvergenceError(
            f"shooting from x* = {S.x_star} to the fluctuation path of {S.saddle} did not converge "
            f"(miss {np.linalg.norm(F):.3g})"
        )
    F, s = shoot(alpha, dense=True)
    orbit_f, t_m = s.sol, float(s.t[-1])
    pieces = [(orbit_f, (0.0, t_m)), (lambda t: half.orbit(t_m + half.tau_m - t), (t_m, t_m + half.tau_m))]
    return pieces, F, t_m, nfev[0]


def _bracket_angle(S, half, miss_of):
    """2-D shooting: orbits do not cross, so the point where they reach the closed level curve V = V_m
    moves monotonically with α; bracket the signed angle to x_m and bisect (robust at nodes, where
    the path may be the exceptional orbit along the fast eigendirection)."""
    ref = half.x_m - S.x_star

    def angle(alpha):
        h = miss_of(alpha) + ref
        return float(np.arctan2(ref[0] * h[1] - ref[1] * h[0], ref @ h))

    grid_a = np.linspace(-1.0, 1.0, 7)
    phis = [angle(al) for al in grid_a]
    brackets = [i for i in range(len(grid_a) - 1) if phis[i] * phis[i + 1] <= 0 and abs(phis[i] - phis[i + 1]) < np.pi]
    if not brackets:
        raise ConvergenceError(
            f"shooting from x* = {S.x_star}: no start direction reaches the fluctuation path of {S.saddle}"
        )
    i = min(brackets, key=lambda i: abs(phis[i]) + abs(phis[i + 1]))
    alpha = np.array([brentq(angle, grid_a[i], grid_a[i + 1], xtol=1e-13, rtol=1e-14, maxiter=200)])
    return alpha, miss_of(alpha)


def _gauss_newton(miss_of, m, Ls):
    """Shooting in 3-D: Gauss–Newton with backtracking on |miss| over the m = d - 1 coordinates α."""
    alpha, step = np.zeros(m), 1e-6
    F = miss_of(alpha)
    for _ in range(60):
        if np.linalg.norm(F) < 1e-9 * Ls:
            break
        J = np.stack([(miss_of(alpha + step * np.eye(m)[j]) - F) / step for j in range(m)], axis=1)
        da = -np.linalg.lstsq(J, F, rcond=None)[0]
        da *= min(1.0, 0.5 / max(np.linalg.norm(da), 1e-300))
        for _ in range(30):
            F_new = miss_of(alpha + da)
            if np.linalg.norm(F_new) < np.linalg.norm(F):
                alpha, F = alpha + da, F_new
                break
            da *= 0.5
        else:
            break
    return alpha, F


def _along_path(S, pieces, t_m, Qs):
    """Q and the transport integrals along the whole path, forward from x*: (t, Y, Q, ∫c, ∫uᵀQu, nfev,
    mismatch of Q with Q(s) at the end)."""
    d = S.dyn.dim
    y0 = pieces[0][0](0.0)
    dx0 = y0[:d] - S.x_star
    e0 = S.dyn.hamiltonian_grad_p(y0[:d], y0[d : 2 * d])
    Q_start = S.Q0 + np.einsum("ijk,k->ij", S.T3, dx0)
    t, Q, int_diff, int_uqu, nq = _transport(S.der1, S.der2, pieces, e0 / np.linalg.norm(e0), Q_start, 1e-8)
    int_diff += float(S.g @ np.linalg.solve(S.A, dx0))  # ∫ c over x* → start, c ≈ g·δx, δx(t) = exp(At) δx0
    Y = np.array([pieces[0][0](ti) if ti <= t_m else pieces[-1][0](ti) for ti in t])
    # the rest of the way into s, where the path approaches at rate μ and c, uᵀQu vanish like |x - s|, |x - s|²
    _, u_end, _, Hxp_end, Hpp_end = S.der2.all(Y[-1:, :d], Y[-1:, d : 2 * d])
    int_diff += float(np.trace(Hxp_end[0]) + 0.5 * np.trace(Q[-1] @ Hpp_end[0])) / S.mu
    int_uqu += float(u_end[0] @ Q[-1] @ u_end[0]) / (2 * S.mu)
    mismatch = float(np.abs(Q[-1] - Qs).max() / max(1.0, np.abs(Qs).max()))
    return t, Y, Q, int_diff, int_uqu, nq, mismatch


def fluctuation_path(dyn, x_star, saddle, *, delta=1e-7, r0=1e-4, rtol=1e-10) -> FluctuationPath:
    """The fluctuation path from the stable equilibrium ``x_star`` to the index-1 saddle ``saddle``,
    with ∇²V and the prefactor transport integrals along it (see the module docstring).

    ``delta`` and ``r0`` (relative to |s - x*|) are the start offsets from s and x*; the neglected
    end pieces of ∫c are O(delta) and O(r0). Raises InputError when ``saddle`` is not an index-1
    saddle of the drift or the path reaches it along its weak stable direction, ConvergenceError
    when the orbit from the saddle does not come back to x* or the shooting does not converge.
    """
    x_star, saddle = np.asarray(x_star, float).ravel(), np.asarray(saddle, float).ravel()
    d = dyn.dim
    if x_star.size != d or saddle.size != d:
        raise InputError(f"x_star and saddle must be points in {d}-D")
    Ls = float(np.linalg.norm(saddle - x_star))
    if Ls == 0.0:
        raise InputError("x_star and saddle coincide")
    der1 = _Derivs(dyn, 1e-5 * Ls)  # first differences for the orbit
    budget = [_MAX_EVALS]
    der2 = _Derivs(dyn, 2e-4 * Ls)  # second differences: truncation O(h²), rounding O(eps/h²)
    mu, weak = _saddle_rates(dyn, saddle)
    Qs, Xv, k, v = _saddle_plane(dyn, saddle, x_star, mu)
    Q0 = dyn.potential_hessian(x_star)
    A = dyn.drift_jacobian(x_star) + dyn.hamiltonian_hess_p(x_star, np.zeros(d)) @ Q0  # ẋ ≈ A δx on the manifold
    rate_star = float(np.min(np.linalg.eigvals(A).real))
    fwd = _orbit_rhs(der1, 1.0, budget)
    T3, g = third_order(dyn, x_star, Q0, 1e-4 * Ls)
    S = _Setup(dyn, x_star, saddle, Ls, mu, der1, der2, fwd, Q0, A, rate_star, T3, g, r0, rtol)
    if weak:
        pieces, V_s, F, t_m = _forward_shooting_2d(S, Xv[:, 1 - k], Qs, T_max=200.0 / mu)
        nfev = 0
    else:
        half = _backward_half(S, v, delta, budget)
        V_s = half.V_s
        pieces, F, t_m, nfev = _forward_half(S, half)
    t, Y, Q, int_diff, int_uqu, nq, mismatch = _along_path(S, pieces, t_m, Qs)
    return FluctuationPath(
        t=t,
        x=Y[:, :d],
        p=Y[:, d : 2 * d],
        Q=Q,
        action=V_s,
        int_c={"diffusion": int_diff, "chain": int_diff - 0.5 * int_uqu},
        info={
            "riccati_mismatch": mismatch,
            "miss": float(np.linalg.norm(F)),
            "nfev": nfev + nq,
            "mu": mu,
            "int_uQu": int_uqu,
        },
    )
