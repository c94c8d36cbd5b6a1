"""Fits over a ladder of step sizes γ (theory.md §6): values(γ) = c + b/γ + aγ.

The Monte Carlo check (:func:`fwpotential.mc_check`) and the figures
(:func:`fwpotential.plot.occupation_ratio`, :func:`fwpotential.plot.arrhenius`) fit the same law:
log(P_i/P_j) (slope b = -(W_i - W_j)) or log E τ (slope b = ΔV) against 1/γ. The aγ term takes the
first corrections in γ of the prefactors and of the finite step; it needs MIN_STEP_SIZES = 4 points
(three parameters and one degree of freedom to test the law with χ²).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["MIN_STEP_SIZES", "fit_step_ladder", "fit_line", "ladder_fit", "ladder_curve"]

MIN_STEP_SIZES = 4


def _lsq(X, y, se):
    """Weighted least squares with known errors ``se``: coefficients, their standard errors from
    (Xᵀ W X)⁻¹, and χ²/dof (nan with no degree of freedom)."""
    w = 1.0 / np.asarray(se, dtype=float) ** 2
    cov = np.linalg.inv(X.T @ (w[:, None] * X))
    coef = cov @ (X.T @ (w * y))
    dof = len(y) - X.shape[1]
    chi2 = float(np.sum(w * (y - X @ coef) ** 2) / dof) if dof > 0 else float("nan")
    return {"coef": [float(c) for c in coef], "se": [float(math.sqrt(v)) for v in np.diag(cov)], "chi2_dof": chi2}


def fit_step_ladder(step_sizes, values, se):
    """Weighted fit of values(γ) = c + b/γ + aγ over a ladder of step sizes (theory.md §6).

    ``values`` is log(P_i/P_j) (b = -(W_i - W_j)) or log E τ (b = ΔV), ``se`` their standard errors
    (independent points). With fewer than MIN_STEP_SIZES points the aγ term is dropped (c + b/γ):
    three parameters through three points leave nothing to test the law with.

    Returns a dict: model, intercept, slope, linear (a; nan for the line), their ``*_se``, chi2_dof
    (unscaled; nan with no degree of freedom) and scale = max(1, √(χ²/dof)), by which the standard
    errors are multiplied.
    """
    g = np.asarray(step_sizes, dtype=float)
    cols = [np.ones_like(g), 1.0 / g] + ([g] if len(g) >= MIN_STEP_SIZES else [])
    fit = _lsq(np.stack(cols, axis=1), np.asarray(values, dtype=float), se)
    chi2 = fit["chi2_dof"]
    scale = math.sqrt(chi2) if np.isfinite(chi2) and chi2 > 1 else 1.0
    coef, err = fit["coef"] + [float("nan")], [e * scale for e in fit["se"]] + [float("nan")]
    return {
        "model": "c + b/γ + aγ" if len(cols) == 3 else "c + b/γ",
        "intercept": coef[0], "intercept_se": err[0], "slope": coef[1], "slope_se": err[1],
        "linear": coef[2], "linear_se": err[2], "chi2_dof": chi2, "scale": scale,
    }  # fmt: skip


def fit_line(x, y):
    """Unweighted least-squares line y = c + b x: dict(intercept, slope, slope_se), the slope's error
    from the residuals (nan when the normal matrix is singular)."""
    A = np.stack([np.ones_like(x), x], axis=1)
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    resid = y - A @ coef
    s2 = float(resid @ resid) / max(len(x) - 2, 1)
    try:
        slope_se = math.sqrt(max(np.linalg.inv(A.T @ A)[1, 1] * s2, 0.0))
    except np.linalg.LinAlgError:
        slope_se = float("nan")
    return {"intercept": float(coef[0]), "slope": float(coef[1]), "slope_se": slope_se}


def ladder_fit(step_sizes, values, se=None):
    """The law to draw through measured points: :func:`fit_step_ladder` when every ``se`` is finite and
    > 0, else an unweighted line in 1/γ. Returns dict(intercept, slope, slope_se, linear) with
    linear = 0 for a line, or None with fewer than two points."""
    g = np.asarray(step_sizes, dtype=float)
    if len(g) < 2:
        return None
    if se is not None and np.all(np.isfinite(se)) and np.all(se > 0):
        f = fit_step_ladder(g, values, se)
        return {"intercept": f["intercept"], "slope": f["slope"], "slope_se": f["slope_se"],
                "linear": 0.0 if f["model"] == "c + b/γ" else f["linear"]}  # fmt: skip
    return {**fit_line(1.0 / g, np.asarray(values, dtype=float)), "linear": 0.0}


def ladder_curve(fit, x):
    """c + b x + a/x at x = 1/γ from a :func:`ladder_fit` dict (a line, defined at x = 0, when a = 0)."""
    line = fit["intercept"] + fit["slope"] * x
    return line + fit["linear"] / x if fit["linear"] != 0 else line
