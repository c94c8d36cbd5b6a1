"""Minimum action paths in any dimension: the geometric minimum action method (gMAM) and the
string method (theory.md §3).

The quasi-potential between a point A and a point B is the least geometric action

    V(A → B) = inf over curves φ from A to B of ∫ <θ̂(φ, φ'), φ'> dα,

θ̂(x, e) the momentum with H(x, θ̂) = 0 and ∂ₚH(x, θ̂) = λ e (Heymann and Vanden-Eijnden 2008). The
minimiser is found by the steepest-descent flow of gMAM,

    φ̇ = λ² φ'' - λ (∂ₓ∂ₚH) φ' + ∇²ₚH ∂ₓH          (the tangential term λλ'φ' dropped, and the
                                                     explicit force projected on the normal),

with the stiff term λ²φ'' implicit (a tridiagonal solve shared by the d coordinates), the step
size chosen by acceptance (the step grows while the action decreases and is halved when it does
not), and the points reset to uniform arc length by a cubic spline every REPARAM_EVERY accepted
steps. Every derivative is a Jacobian–vector product (:mod:`fwpotential.paths.local`), so one
iteration costs O(n_points · d) for isotropic noise.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg as sla
from scipy.integrate import solve_ivp
from scipy.interpolate import CubicSpline
from scipy.optimize import root

from fwpotential.errors import ConvergenceError, FWWarning, InputError
from fwpotential.model.dynamics import coerce_dynamics
from fwpotential.paths.local import local_hamiltonian
from fwpotential.paths.spectrum import drift_spectrum

__all__ = ["ActionPath", "min_action_path", "reversed_descent", "METHODS", "path_action"]

#: Path methods: name → (what it needs, options).
METHODS = {
    "gmam": "any noise law (θ̂ by Newton's method where Λ is not quadratic)",
    "sgmam": "quadratic Λ (Gaussian noise): θ̂ in closed form",
    "string": "b = -∇f with a = s(f) I: the minimum energy path, then its action",
}
#: gMAM resets the points to uniform arc length every this many accepted steps (the implicit λ²φ''
#: term keeps the spacing near uniform in between).
REPARAM_EVERY = 10
#: A step is accepted when the action grows by at most this relative amount (round-off of the sum).
ACCEPT_RTOL = 1e-12
OPTIONS = ("n_points", "init", "tol", "max_iter", "throw", "snap", "refine")


@dataclass(frozen=True, repr=False)
class ActionPath:
    """A minimum action path from ``points[0]`` to ``points[-1]``.

    Attributes
    ----------
    points : ndarray (n_points, d)
        The path, uniform in arc length.
    action : float
        V cost from start to end in units of ε: ∫ <θ̂, φ'> along the cubic spline through the
        points (each segment cut in 4, midpoint rule); +inf when no finite-cost path was found
        (``info["reason"]`` says why).
    converged : bool
    method : str
    arclength : ndarray (n_points,)
        Cumulative arc length from the start.
    action_profile : ndarray (n_points,)
        Cumulative action from the start (``action_profile[-1] == action``).
    info : dict
        iterations, residual (gMAM: the relative normal force; string: the largest move of a point in
        the last step over the segment length), seconds, step (last accepted step size),
        action_midpoint (the sum over the straight segments the flow minimises), action_refined
        (every segment cut in 16 along the spline: the quadrature check),
        action_coarse and error_estimate (the action with half the points, and the difference),
        snap (start moved to the equilibrium, distance), reason (for +inf), warnings.
    """

    points: np.ndarray
    action: float
    converged: bool
    method: str
    arclength: np.ndarray
    action_profile: np.ndarray
    info: dict = field(default_factory=dict)

    @property
    def error_estimate(self) -> float:
        """|action(n_points) - action(n_points / 2)| (NaN when not computed)."""
        return float(self.info.get("error_estimate", np.nan))

    def __repr__(self):
        return (
            f"ActionPath(action={self.action:.6g}, n_points={len(self.points)}, d={self.points.shape[1]}, "
            f"method={self.method!r}, converged={self.converged})"
        )


def min_action_path(
    dynamics,
    start,
    end,
    *,
    n_points=100,
    method="gmam",
    init=None,
    tol=1e-6,
    max_iter=20_000,
    throw=False,
    snap=True,
    refine=True,
) -> ActionPath:
    """Minimum action path and V(start → end) for H(x, p) = <b, p> + Λ(x, p), any dimension.

    Parameters
    ----------
    dynamics : Dynamics (or a Loss / expression: its Langevin dynamics)
    start : (d,)
        An attractor (stable equilibrium, b = 0). A point where b ≠ 0 is snapped to the equilibrium
        Newton–Krylov finds from it (``info["snap"]``), or InputError names where it went.
    end : (d,)
        Any point (a saddle for transition costs).
    n_points : int
        Points on the path (≥ 5). The action's error is O(n_points⁻²).
    method : {"gmam", "sgmam", "string"}
        - ``"gmam"``: geometric minimum action method, Hamiltonian form: any noise law.
        - ``"sgmam"``: the same flow for quadratic Λ only (θ̂ in closed form; raises otherwise).
        - ``"string"``: the minimum energy path of f (string method), exact for b = -∇f with
          a = s(f) I; then its action by the same quadrature.
    init : (k, d), optional
        Initial path (resampled to n_points); default the straight segment.
    tol : float
        Stop when the last three actions after reparametrisation (10 accepted steps apart) agree to
        ``tol`` relative.
    max_iter : int
    throw : bool
        Raise ConvergenceError instead of returning ``converged=False`` with a warning.
    snap : bool
        Snap a start where b ≠ 0 to the nearby equilibrium (else InputError).
    refine : bool
        First solve with n_points // 2 points: gives ``info["error_estimate"]`` and the initial path.

    Returns
    -------
    ActionPath

    Raises
    ------
    InputError
        Unknown method or option, bad shapes, a start that is not near an equilibrium, noise of rank
        r < d whose span the path cannot stay in, method="sgmam" with non-quadratic noise,
        method="string" without a loss whose noise is s(f) I.
    NonFiniteError
        b or the noise is NaN/inf at a path point (the message gives the point).
    ConvergenceError
        ``throw=True`` and the flow did not converge in ``max_iter`` steps.
    """
    t0 = time.perf_counter()
    dyn = coerce_dynamics(dynamics)
    start, end, n_points = _check_args(dyn, start, end, n_points, method, init)
    notes = []
    start, snap_info = _snap_start(dyn, start, snap, notes)
    phi0 = _initial_path(start, end, n_points, init)
    lh = local_hamiltonian(dyn, start, end, probe=phi0)
    y0 = lh.to_y(phi0)
    if method == "sgmam" and lh.form == "general":
        raise InputError(f"method='sgmam' needs quadratic Λ (Gaussian noise); {dyn.name!r} has not: use method='gmam'")
    flow = _string_flow if method == "string" else _gmam_flow
    coarse = None
    if refine and n_points >= 10:
        coarse = flow(lh, _resample(y0, n_points // 2 + 1), tol, max_iter)
        y0 = _resample(coarse["y"], n_points)
    sol = flow(lh, y0, tol, max_iter)
    return _result(dyn, lh, sol, coarse, method, t0=t0, notes=notes, snap_info=snap_info, throw=throw)


def _check_args(dyn, start, end, n_points, method, init):
    if method not in METHODS:
        raise InputError(f"unknown method {method!r}; choose one of {sorted(METHODS)}")
    if method == "string" and dyn.loss_variance() is None:
        raise InputError(
            f"method='string' follows the minimum energy path of f, the minimum action path only for b = -∇f with "
            f"a = s(f) I; {dyn.name!r} is not of that kind: use method='gmam'"
        )
    start, end = np.asarray(start, dtype=float), np.asarray(end, dtype=float)
    for nm, v in (("start", start), ("end", end)):
        if v.shape != (dyn.dim,):
            raise InputError(f"{nm} must have shape ({dyn.dim},), got {v.shape}")
        if not np.all(np.isfinite(v)):
            raise InputError(f"{nm} has non-finite entries")
    if isinstance(n_points, bool) or not isinstance(n_points, (int, np.integer)) or n_points < 5:
        raise InputError(f"n_points must be an integer >= 5, got {n_points!r}")
    if init is not None:
        init = np.asarray(init, dtype=float)
        if init.ndim != 2 or init.shape[1] != dyn.dim or len(init) < 2:
            raise InputError(f"init must have shape (k >= 2, {dyn.dim}), got {init.shape}")
    return start, end, int(n_points)


def _snap_start(dyn, start, snap, notes):
    """Move a start where b ≠ 0 to the equilibrium Newton–Krylov reaches from it."""
    b = dyn.drift(start)
    v = np.random.default_rng(0).standard_normal(dyn.dim)
    rate = float(np.linalg.norm(dyn.drift_jvp(start, v / np.linalg.norm(v))))  # a scale of |Db|
    scale = (1.0 + float(np.linalg.norm(start))) * max(rate, 1e-300)
    if np.linalg.norm(b) <= 1e-9 * scale:
        return start, None
    sol = root(lambda x: dyn.drift(x), start, method="krylov", options={"fatol": 1e-11, "maxiter": 200})
    moved = float(np.linalg.norm(sol.x - start))
    ok = sol.success and np.linalg.norm(dyn.drift(sol.x)) <= 1e-8 * scale
    if not (snap and ok):
        where = f"; Newton–Krylov from it reaches x = {np.array2string(sol.x, precision=4)}" if ok else ""
        raise InputError(
            f"start is not an equilibrium (|b(start)| = {np.linalg.norm(b):.3g}){where}; give a stable equilibrium "
            "(fw.find_minima) as start" + ("" if snap else ", or snap=True")
        )
    notes.append(f"start snapped to the equilibrium at distance {moved:.3g}")
    if moved > 1e-6 * (1.0 + float(np.linalg.norm(start))):
        warnings.warn(notes[-1], FWWarning, stacklevel=3)
    return sol.x, {"from": start.tolist(), "to": sol.x.tolist(), "distance": moved}


def _initial_path(start, end, n, init):
    if init is None:
        return start + np.linspace(0.0, 1.0, n)[:, None] * (end - start)
    pts = np.vstack([start, np.asarray(init, dtype=float)[1:-1], end])
    return _resample(pts, n)


# ---- arc length -------------------------------------------------------------------------------
def _arclength(y):
    seg = np.linalg.norm(np.diff(y, axis=0), axis=1)
    return np.concatenate([[0.0], np.cumsum(seg)])


def _resample(y, n):
    """n points uniform in arc length along the cubic spline through y (linear where the spline
    cannot be built: repeated points)."""
    s = _arclength(y)
    keep = np.concatenate([[True], np.diff(s) > 1e-14 * max(s[-1], 1e-300)])
    s, y = s[keep], y[keep]
    if len(s) < 2 or s[-1] <= 0:
        return np.repeat(y[:1], n, axis=0)
    t = np.linspace(0.0, s[-1], n)
    if len(s) >= 4:
        out = CubicSpline(s, y, axis=0)(t)
    else:
        out = np.stack([np.interp(t, s, y[:, k]) for k in range(y.shape[1])], axis=1)
    out[0], out[-1] = y[0], y[-1]
    return out


# ---- the action -------------------------------------------------------------------------------
def path_action(lh, y):
    """(total action, per-segment costs (n-1,)) by the midpoint rule: ℓ((φ_k + φ_{k+1})/2, Δφ_k)."""
    S, ell, _ = _action_from(lh, y, None)
    return S, ell


def _action_from(lh, y, theta0):
    """:func:`path_action` with θ̂ at the midpoints started from ``theta0`` (those of the previous
    step, for laws whose θ̂ takes Newton's method); also returns them."""
    mid, dy = 0.5 * (y[1:] + y[:-1]), np.diff(y, axis=0)
    th, _, ell = lh.theta(mid, dy, theta0)
    return float(np.sum(ell)), ell, th


def _refined_action(lh, y, m=4):
    """The action with every segment cut in m along the spline through the points."""
    s = _arclength(y)
    if len(s) < 4 or s[-1] <= 0:
        return path_action(lh, y)[0]
    t = np.linspace(0.0, s[-1], m * (len(y) - 1) + 1)
    return path_action(lh, CubicSpline(s, y, axis=0)(t))[0]


# ---- gMAM -------------------------------------------------------------------------------------
def _gmam_force(lh, y, theta_prev=None):
    """λ, θ̂ and the normal part of the explicit force -λ(∂ₓ∂ₚH)φ' + ∇²ₚH ∂ₓH at the interior points
    (α ∈ [0, 1])."""
    da = 1.0 / (len(y) - 1)
    yi = y[1:-1]
    dy = (y[2:] - y[:-2]) / (2.0 * da)
    th, lam, ell = lh.theta(yi, dy, theta_prev)
    bad = ~np.isfinite(ell)
    th = np.where(bad[:, None], 0.0, th)
    force = -lam[:, None] * lh.h_px(yi, th, dy) + lh.h_pp(yi, th, lh.h_x(yi, th))
    force[bad] = 0.0
    # only the normal part moves the curve; a tangential part only moves points along it, lowering the
    # midpoint sum by bunching points, which the reparametrisation then undoes (the flow then stalls)
    t = dy / np.maximum(np.linalg.norm(dy, axis=1, keepdims=True), 1e-300)
    force -= np.einsum("ni,ni->n", force, t)[:, None] * t
    return lam, th, force, dy


def _implicit_step(y, lam, force, tau):
    """Solve (I - τ λ² D²) y_new = y + τ force on the interior, endpoints fixed."""
    n = len(y)
    da2 = (1.0 / (n - 1)) ** 2
    c = tau * lam**2 / da2
    rhs = y[1:-1] + tau * force
    rhs[0] += c[0] * y[0]
    rhs[-1] += c[-1] * y[-1]
    ab = np.zeros((3, n - 2))
    ab[0, 1:] = -c[:-1]
    ab[1] = 1.0 + 2.0 * c
    ab[2, :-1] = -c[1:]
    out = y.copy()
    out[1:-1] = sla.solve_banded((1, 1), ab, rhs)
    return out


def _residual(y, lam, force, dy):
    """Largest normal part of λ²φ'' + force, relative to the largest of the two terms."""
    da = 1.0 / (len(y) - 1)
    total = lam[:, None] ** 2 * (y[2:] - 2 * y[1:-1] + y[:-2]) / da**2 + force
    t = dy / np.maximum(np.linalg.norm(dy, axis=1, keepdims=True), 1e-300)
    normal = total - np.einsum("ni,ni->n", total, t)[:, None] * t
    scale = np.max(np.abs(force)) + np.max(np.abs(total - force)) + 1e-300
    return float(np.max(np.linalg.norm(normal, axis=1)) / scale)


def _gmam_flow(lh, y, tol, max_iter):
    """Iterate the gMAM step with an accepted/halved step size; returns the final state."""
    y = _resample(y, len(y))
    S, ell, thm = _action_from(lh, y, None)
    lam, th, force, dy = _gmam_force(lh, y)
    tau = _first_step(y, force)
    hist, it, res, done, n_acc = [], 0, np.inf, False, 0
    while it < max_iter:
        it += 1
        y_new = _implicit_step(y, lam, force, tau)
        S_new, ell_new, thm_new = _action_from(lh, y_new, thm)
        if not (S_new <= S + ACCEPT_RTOL * abs(S)) and np.isfinite(S):
            tau *= 0.5
            if tau < 1e-14 * _first_step(y, force):
                break
            continue
        y, S, ell, thm = y_new, S_new, ell_new, thm_new
        tau = min(1.25 * tau, 1e30)
        n_acc += 1
        if n_acc % REPARAM_EVERY == 0:  # not part of the descent: the action moves by O(h³)
            y = _resample(y, len(y))
            S, ell, thm = _action_from(lh, y, thm)
            hist.append(S)
            done = _settled(hist, tol)
        lam, th, force, dy = _gmam_force(lh, y, th)
        res = _residual(y, lam, force, dy)
        if done:
            break
        if not np.isfinite(S):
            break
    y = _resample(y, len(y))
    S, ell = path_action(lh, y)
    return {"y": y, "action": S, "ell": ell, "iterations": it, "residual": res, "step": tau, "converged": done}


def _settled(hist, tol):
    """Whether the actions at the checkpoints (10 accepted steps apart) have settled: the last three
    changes are below ``tol`` relative; or the remaining decrease, extrapolated from the last
    decreases as a geometric series, is; or the decrease has reached the round-off of the
    reparametrisation (two of the last five changes are increases, all within 100 tol)."""
    if len(hist) < 4:
        return False
    S = max(abs(hist[-1]), 1e-300)
    d = -np.diff(hist[-6:])  # decreases, positive while the flow descends
    if np.max(np.abs(d[-3:])) <= tol * S:
        return True
    if np.sum(d < 0) >= 2 and np.max(np.abs(d)) <= 100 * tol * S:
        return True
    if d[-1] < 0 or d[-2] <= 0:
        return False
    r = min(float(np.median(d[-3:] / np.where(d[-4:-1] > 0, d[-4:-1], np.inf))), 0.999) if len(d) >= 4 else 0.999
    return d[-1] * max(r, 0.0) / (1.0 - max(r, 0.0)) + d[-1] <= tol * S


def _first_step(y, force):
    """A step that moves no point by more than 1 % of a segment."""
    seg = float(np.min(np.linalg.norm(np.diff(y, axis=0), axis=1)))
    fmax = float(np.max(np.linalg.norm(force, axis=1), initial=0.0))
    return 0.01 * seg / fmax if fmax > 0 else 1.0


# ---- string method ----------------------------------------------------------------------------
def _string_flow(lh, y, tol, max_iter):
    """Minimum energy path of f: y ← y + τ b(y) (b = -∇f), reparametrised; then its action.

    The measure of stationarity is the largest move of a reparametrised point in one step, relative
    to the segment length: zero at the discrete string's fixed point (there the central-difference
    normal force is O(h²), not zero, so it cannot serve). The fixed point depends slightly on τ
    (the resampling moves points by O(h⁴), balanced by τ times the normal force), so τ grows by
    10 % per step only until the first step whose move is more than 1.5 times the last one
    (explicit Euler beyond its stability limit); that step is retried with τ halved and τ then
    stays fixed, so the iteration contracts to its fixed point.
    """
    y = _resample(y, len(y))
    S, ell = path_action(lh, y)
    b = lh.drift(y[1:-1])
    tau = _first_step(y, b)
    res_prev, it, res, done, grow, tau0 = np.inf, 0, np.inf, False, 1.1, tau
    while it < max_iter and tau > 1e-14 * tau0:
        it += 1
        y_new = y.copy()
        y_new[1:-1] += tau * b
        y_new = _resample(y_new, len(y))
        res = float(np.max(np.linalg.norm(y_new - y, axis=1))) * (len(y) - 1) / max(_arclength(y)[-1], 1e-300)
        if res > 1.5 * res_prev:
            tau, grow = 0.5 * tau, 1.0
            continue
        y, res_prev, tau = y_new, res, tau * grow
        b = lh.drift(y[1:-1])
        if res < tol:
            done = True
            break
    S, ell = path_action(lh, y)
    return {"y": y, "action": S, "ell": ell, "iterations": it, "residual": res, "step": tau, "converged": done}


# ---- result -----------------------------------------------------------------------------------
def _result(dyn, lh, sol, coarse, method, *, t0, notes, snap_info, throw):
    y, S = sol["y"], sol["action"]
    converged = bool(sol["converged"])
    info = {"iterations": sol["iterations"], "residual": sol["residual"], "step": sol["step"], "form": lh.form}
    info["reduced_dim"] = lh.dim if lh.basis is not None else None
    ell = sol["ell"]
    if np.isinf(S) or np.any(np.isinf(ell)):
        k = int(np.flatnonzero(np.isinf(ell))[0])
        info["reason"] = (
            f"segment {k} (near x = {np.array2string(lh.to_x(y[k]), precision=4)}) needs a velocity outside the cone "
            "of achievable noise velocities (finite-sum noise: outside the hull of the sample gradients)"
        )
        S = np.inf
        # on a line (one reduced coordinate) the path is forced: +inf is the answer; in more
        # dimensions a finite-cost path may avoid the segment, and the flow cannot move an infinite one
        converged = lh.dim == 1
        if not converged:
            info["reason"] += (
                "; from this initial path the flow cannot reach a finite one: try init= through other points"
            )
    elif np.any(np.isnan(ell)):
        converged = False
        notes.append("θ̂ could not be computed at some segments (Newton's method failed); the action is not reliable")
    info["action_midpoint"] = S
    if np.isfinite(S):  # the curve's action: the spline through the points, segments cut in 4; check: in 16
        S, info["action_refined"] = _refined_action(lh, y, 4), _refined_action(lh, y, 16)
    else:
        info["action_refined"] = S
    if coarse is not None:
        info["action_coarse"] = _refined_action(lh, coarse["y"], 4) if np.isfinite(coarse["action"]) else np.inf
        info["error_estimate"] = abs(info["action_coarse"] - S) if np.isfinite(S) else np.nan
    if not converged:
        msg = f"min_action_path did not converge in {sol['iterations']} steps (residual {sol['residual']:.3g})"
        if throw:
            raise ConvergenceError(msg + "; raise max_iter or give a better init")
        notes.append(msg)
        warnings.warn(msg, FWWarning, stacklevel=3)
    info.update(snap=snap_info, warnings=notes, seconds=time.perf_counter() - t0, n_points=len(y))
    pts = lh.to_x(y)
    prof = np.concatenate([[0.0], np.cumsum(ell)])
    if np.isinf(S):  # +inf from the first segment no velocity reaches on (NaN segments beyond it included)
        prof[int(np.flatnonzero(np.isinf(ell))[0]) + 1 :] = np.inf
    return _action_path(pts, S, prof, converged, method, info)


def _action_path(pts, S, prof, converged, method, info):
    """The ActionPath, its profile (the midpoint sums) scaled to the curve's action S."""
    if np.isfinite(S) and prof[-1] > 0:
        prof = prof * (S / prof[-1])
    return ActionPath(
        points=pts,
        action=float(S),
        converged=converged,
        method=method,
        arclength=_arclength(pts),
        action_profile=prof,
        info=info,
    )


# ---- the time-reversed descent (b = -∇f, a = s(f) I) --------------------------------------------
def reversed_descent(dynamics, attractor, saddle, *, direction=None, n_points=100, rtol=1e-8) -> ActionPath:
    """The minimum action path from ``attractor`` to ``saddle`` where it is the descent from the
    saddle run backwards: b = -∇f with a = s(f) I (Langevin, isotropic SGD; theory.md §3).

    The flow ẋ = b(x) is integrated in arc length from saddle + δu (u the unstable direction of
    Db at the saddle, pointing to the attractor; δ = 1e-6 of their distance) by SciPy's RK45 until
    it is within 1e-3 of that distance from the attractor, then reversed and resampled. Its action is
    evaluated as for :func:`min_action_path` (``info["closed_form"]``: 2 ∫ df / s(f)). Costs a few
    hundred drift evaluations at single points, far less than the gMAM flow.

    Raises
    ------
    InputError
        Dynamics outside this class, or the descent does not reach the attractor (it reaches another
        one, or stalls): the message says where it ended.
    """
    t0 = time.perf_counter()
    dyn = coerce_dynamics(dynamics)
    if dyn.loss_variance() is None:
        raise InputError(f"reversed_descent needs b = -∇f with a = s(f) I; {dyn.name!r} is not: use min_action_path")
    a, s = np.asarray(attractor, dtype=float), np.asarray(saddle, dtype=float)
    dist = float(np.linalg.norm(a - s))
    u = _unstable_toward(dyn, s, a, direction)
    r = 1e-3 * dist

    def rhs(_, x):
        b = dyn.drift(x)
        return b / max(float(np.linalg.norm(b)), 1e-300)

    def arrived(_, x):
        return float(np.linalg.norm(x - a)) - r

    arrived.terminal = True
    sol = solve_ivp(
        rhs,
        (0.0, 50.0 * dist),
        s + 1e-6 * dist * u,
        events=arrived,
        rtol=rtol,
        atol=1e-12 * dist,
        max_step=dist / 50,
        dense_output=True,
    )
    if sol.status != 1:
        raise InputError(
            f"the descent from the saddle did not reach the attractor within 50 × their distance; it ended at "
            f"{np.array2string(sol.y[:, -1], precision=4)}; check that this saddle joins this attractor"
        )
    arc = np.linspace(0.0, sol.t[-1], 20 * n_points)
    pts = np.vstack([s, sol.sol(arc).T[1:], a])[::-1]
    path = _curve(dyn, _resample(pts, n_points), "descent", t0)
    path.info.update(evaluations=int(sol.nfev))
    return path


def _unstable_toward(dyn, s, a, direction):
    if direction is None:
        direction = drift_spectrum(dyn, s, k=1).vectors[:, 0]
    u = np.asarray(direction, dtype=float)
    u = u / np.linalg.norm(u)
    return u if np.dot(u, a - s) >= 0 else -u


def _curve(dyn, pts, method, t0):
    """An ActionPath for given points (uniform in arc length): its action by the spline quadrature."""
    lh = local_hamiltonian(dyn, pts[0], pts[-1], probe=pts)
    y = lh.to_y(pts)
    S_mid, ell = path_action(lh, y)
    S = _refined_action(lh, y, 4) if np.isfinite(S_mid) else np.inf
    prof = np.concatenate([[0.0], np.cumsum(ell)])
    info = {
        "action_midpoint": S_mid,
        "action_refined": _refined_action(lh, y, 16) if np.isfinite(S) else S,
        "seconds": time.perf_counter() - t0,
        "n_points": len(pts),
        "warnings": [],
    }
    return _action_path(pts, S, prof, True, method, info)
