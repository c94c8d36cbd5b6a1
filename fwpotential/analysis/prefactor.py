"""Prefactors K of the stationary law π_ε ≈ K(x) exp(-W(x)/ε) at the attractors (theory.md §5).

Along the fluctuation path x(t) leaving an attractor (velocity u = ∂ₚH(x, ∇V)), K solves the
transport equation u·∇K = -K c with

    c_diffusion = Σ_j ∂_{x_j}∂_{p_j}H + ½ tr(∇²V ∂²ₚH)                    (at p = ∇V)
    c_chain     = c_diffusion - ½ uᵀ ∇²V u                                (the SGD chain itself)

so log K(x_i) = log K(s) + ∫_{x_i → s} c dt for the saddle s on the path, K continuous at s.
Implemented exactly where the path is known:

- 1-D, any noise law: V' = p*(x) (non-zero root of H), V'' = p*'(x), ∫ c dt = ∫ c/u dx by
  Gauss–Legendre quadrature between each attractor and its neighbouring saddles;
- any dimension, b = -∇f and a = s(f) I: K_diffusion = 1/s(f) (detailed balance), and the chain adds
  ½ ∫ s'(f) |∇f|² / s(f)² df along the steepest-descent path from the saddle.

- any other dynamics in 2-D and 3-D (non-gradient drift, anisotropic or x-dependent noise, any noise
  law): the fluctuation path is computed by shooting in the Hamiltonian system and Q = ∇²V by the
  Riccati equation along it (``_fluctuation.fluctuation_path``); the paths are kept in
  ``land.info["fluctuation_paths"]`` (action, ∫c for both kinds, diagnostics) and reused.
"""

from __future__ import annotations

import numpy as np

from fwpotential.analysis.fluctuation import fluctuation_path
from fwpotential.errors import ConvergenceError, InputError
from fwpotential.solvers import exact1d

KINDS = ("hwang", "diffusion", "chain")


def log_K(land, kind) -> np.ndarray:
    """log K at the attractors of ``land`` (relative: 0 at the first reachable one), shape (m,)."""
    if kind not in KINDS:
        raise InputError(f"unknown kind {kind!r}; choose one of {list(KINDS)}")
    m = len(land.attractors)
    if kind == "hwang":
        return np.zeros(m)
    if any(a.mask is not None for a in land.attractor_sets):
        raise InputError("prefactors are implemented for point attractors; this landscape has set attractors")
    dyn = land.dynamics
    if land.grid.dim == 1:
        integral = _integral_1d
    elif dyn.loss_variance() is not None:
        integral = _integral_gradient
    elif land.grid.dim in (2, 3):
        integral = _integral_path
    else:
        raise InputError(
            f"prefactors of kind {kind!r} for {dyn.name!r} in {land.grid.dim}-D: fluctuation paths are "
            "implemented in 2-D and 3-D; available in any dimension: b = -grad f with a = s(f) I"
        )
    # chain the saddles: log K(x_j) = log K(x_i) - I_i(s) + I_j(s)
    logk = np.full(m, np.nan)
    logk[0] = 0.0
    edges = [(k, int(i), int(j)) for k, (i, j) in enumerate(land.saddle_joins) if i >= 0 and j >= 0 and i != j]
    changed = True
    while changed:
        changed = False
        for k, i, j in edges:
            for a, b in ((i, j), (j, i)):
                if np.isfinite(logk[a]) and not np.isfinite(logk[b]):
                    s = land.saddles[k]
                    logk[b] = (
                        logk[a]
                        - integral(dyn, land, land.attractors[a], s, kind)
                        + integral(dyn, land, land.attractors[b], s, kind)
                    )
                    changed = True
    return logk


# ---- fluctuation paths (2-D, 3-D) ---------------------------------------------------------------
def _integral_path(dyn, land, xi, s, kind):
    """∫_{x_i → s} c dt along the fluctuation path (shooting + Riccati), cached in land.info."""
    cache = land.info.setdefault("fluctuation_paths", {})
    key = (tuple(np.round(np.ravel(xi), 12)), tuple(np.round(np.ravel(s), 12)))
    if key not in cache:
        try:
            fp = fluctuation_path(dyn, xi, s)
        except (InputError, ConvergenceError) as exc:  # remembered: a failed search is not repeated
            cache[key] = {"error": exc}
            raise
        cache[key] = {"action": fp.action, "int_c": dict(fp.int_c), **fp.info}
    if "error" in cache[key]:
        raise cache[key]["error"]
    return cache[key]["int_c"][kind]


# ---- 1-D ------------------------------------------------------------------------------------------
def _pstar(dyn, x, sigma):
    """Signed non-zero root p*(x) of H(x, p) = 0 on the side sigma (climbing)."""
    rate, ok = exact1d.climb_rate(dyn, np.asarray(x, float), sigma)
    return np.where(ok, sigma * rate, np.nan)


def _integral_1d(dyn, land, xi, s, kind, n=48):
    """∫_{x_i → s} c dt = ∫ c/u dx (Gauss–Legendre, endpoints excluded)."""
    xi, s = float(np.ravel(xi)[0]), float(np.ravel(s)[0])
    sigma = np.sign(s - xi)
    t, w = np.polynomial.legendre.leggauss(n)
    x = 0.5 * (xi + s) + 0.5 * (s - xi) * t
    dx = 1e-5 * max(1.0, abs(s - xi))
    p = _pstar(dyn, x, sigma)
    pp = (_pstar(dyn, x + dx, sigma) - _pstar(dyn, x - dx, sigma)) / (2 * dx)  # V''
    X, P = x[:, None], p[:, None]
    u = dyn.hamiltonian_grad_p(X, P)[:, 0]
    dxp = (dyn.hamiltonian_grad_p(X + dx, P)[:, 0] - dyn.hamiltonian_grad_p(X - dx, P)[:, 0]) / (2 * dx)
    hpp = dyn.hamiltonian_hess_p(X, P)[:, 0, 0]
    c = dxp + 0.5 * pp * hpp
    if kind == "chain":
        c = c - 0.5 * u * u * pp
    if not np.all(np.isfinite(c / u)):
        raise InputError("the fluctuation path between an attractor and its saddle is not finite (unreachable)")
    return float(0.5 * (s - xi) * np.sum(w * c / u))


# ---- gradient drift with a = s(f) I --------------------------------------------------------------
def _integral_gradient(dyn, land, xi, s, kind):
    """b = -∇f, a = s(f) I: ∫ c dt = log s(f_s) - log s(f_i) (+ the chain term)."""
    loss = dyn.loss
    s_of_f = dyn.loss_variance()
    fi, fs = float(loss.value(xi)), float(loss.value(s))
    out = float(np.log(s_of_f(np.array(fs)) / s_of_f(np.array(fi))))
    if kind == "chain":
        f_path, g2_path = _descent_path(dyn, land, xi, s)
        df = 1e-6 * (1.0 + np.abs(f_path))
        ds = (s_of_f(f_path + df) - s_of_f(f_path - df)) / (2 * df)
        integrand = 0.5 * ds * g2_path / s_of_f(f_path) ** 2
        out += float(np.trapezoid(integrand, f_path))
    return out


def _descent_path(dyn, land, xi, s):
    """Steepest descent of f from the saddle s into the basin of x_i: (f, |∇f|²) along it, f increasing
    from x_i to s (the fluctuation path reversed)."""
    loss = dyn.loss
    H = loss.hess(s)
    w, V = np.linalg.eigh(H)
    v = V[:, 0]
    h = float(np.min(land.grid.spacing))
    if np.dot(v, xi - s) < 0:
        v = -v
    x = s + 0.25 * h * v
    fs = float(loss.value(s))
    fs_list, g2_list = [fs], [0.0]
    ds = 0.25 * h
    for _ in range(200000):
        g = loss.grad(x)
        ng = float(np.linalg.norm(g))
        fs_list.append(float(loss.value(x)))
        g2_list.append(ng * ng)
        if np.linalg.norm(x - xi) < 2 * ds or ng < 1e-12:
            break
        xm = x - 0.5 * ds * g / ng
        gm = loss.grad(xm)
        x = x - ds * gm / max(float(np.linalg.norm(gm)), 1e-300)
    fs_list.append(float(loss.value(xi)))
    g2_list.append(0.0)
    f = np.array(fs_list[::-1])
    return f, np.array(g2_list[::-1])
