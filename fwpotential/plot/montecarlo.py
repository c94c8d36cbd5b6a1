"""Monte Carlo against theory (theory.md §6): visit densities against W, occupation ratios and
exit times against 1/γ with the step-ladder fit."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from scipy.interpolate import RegularGridInterpolator

from fwpotential.analysis.descent import saddle_cut
from fwpotential.analysis.ladder import ladder_curve, ladder_fit
from fwpotential.errors import DimensionError, InputError
from fwpotential.plot.style import (
    ATTRACTOR,
    COLUMN,
    PAGE,
    add_colorbar,
    default_vmax,
    eps_label,
    new_figure,
    rc_style,
)

__all__ = ["mc_histogram", "occupation_ratio", "arrhenius"]


def mc_histogram(run, land, *, step_size=None, width=PAGE) -> Figure:
    """Visits of a run vs exp(-W/γ): the measured -γ log p̂ next to W, and a 1-D cut.

    Parameters
    ----------
    run : montecarlo Run (with a histogram on ``land.grid``) or an array of visit counts (grid shape)
    land : Landscape (1-D or 2-D)
    step_size : float, optional
        γ (ε); default ``run.step_size``. For Langevin runs at another temperature pass it here.

    Left (2-D): -γ log(p̂/p̂_max) (the empirical potential); right: both along the line through the
    attractors (2-D) or along x (1-D), W against -γ log p̂ shifted to min 0.
    """
    counts = np.asarray(run.histogram() if hasattr(run, "histogram") else run, float)
    if step_size is None:
        step_size = getattr(run, "info", {}).get("temperature") or getattr(run, "step_size", None)
    if step_size is None:
        raise InputError("pass step_size= with a plain array of counts")
    g = land.grid
    if counts.shape != tuple(g.shape):
        raise InputError(f"histogram shape {counts.shape} does not match the landscape's grid {g.shape}")
    tot = counts.sum()
    if tot <= 0:
        raise InputError("the histogram is empty (no visits counted)")
    p = counts / tot
    with np.errstate(divide="ignore"):
        emp = -step_size * np.log(p / p.max())
    emp = np.where(np.isfinite(emp), emp, np.nan)
    W = np.where(np.isfinite(land.potential), land.potential, np.nan)
    e = eps_label(land)
    with rc_style():
        if g.dim == 1:
            fig = new_figure(COLUMN, COLUMN * 0.7)
            ax = fig.add_subplot()
            x = g.axes[0]
            ax.plot(x, W, label="W (theory)")
            ax.plot(x, emp, ".", ms=2, label=f"−{e} log p̂ (Monte Carlo, {e}={step_size:g})")
            ax.set_xlabel("x")
            ax.set_ylabel(f"potential  [units of {e}]")
            ax.set_ylim(-0.05, 1.5 * np.nanmax(np.where(counts > 0, emp, np.nan)))
            ax.legend(frameon=False)
            return fig
        if g.dim != 2:
            raise DimensionError("mc_histogram draws 1-D and 2-D landscapes")
        fig = new_figure(width, width * 0.4)
        a1, a2 = fig.subplots(1, 2)
        x, y = g.axes
        vmax = default_vmax(land.potential, land)
        lv = np.linspace(0, vmax, 21)
        cs = a1.contourf(x, y, np.ma.masked_invalid(emp).T, levels=lv, extend="max")
        a1.contour(x, y, np.ma.masked_invalid(W).T, levels=lv[::4], colors="white", linewidths=0.6)
        a1.scatter(land.attractors[:, 0], land.attractors[:, 1], **ATTRACTOR)
        a1.set_aspect("equal", adjustable="box")
        a1.set_xlim(x[0], x[-1])
        a1.set_ylim(y[0], y[-1])
        a1.set_xlabel("x")
        a1.set_ylabel("y")
        a1.set_title(f"−{e} log p̂ (fill) vs W (white lines), {e} = {step_size:g}")
        cb = add_colorbar(fig, cs, a1, vmax)
        cb.set_label(f"[units of {e}]")
        # cut along the minimum action paths through a saddle (or the line through the attractors)
        pts, s, xlabel = saddle_cut(land)
        Wi = RegularGridInterpolator(g.axes, W, bounds_error=False)(pts)
        Ei = RegularGridInterpolator(g.axes, emp, method="nearest", bounds_error=False)(pts)
        shift = np.nanmin(Ei) if np.isfinite(Ei).any() else 0.0
        a2.plot(s, Wi, label="W (theory)")
        a2.plot(s, Ei - shift, ".", ms=3, label=f"−{e} log p̂ (Monte Carlo)")
        a2.set_xlabel(xlabel)
        a2.set_ylabel(f"[units of {e}]")
        a2.set_ylim(-0.05 * vmax, vmax)
        a2.legend(frameon=False)
        a2.grid(alpha=0.3)
        a2.set_title("cut through the attractors")
        a1.plot(pts[:, 0], pts[:, 1], ":", color="white", lw=0.8)
    return fig


def occupation_ratio(
    step_sizes,
    log_ratios,
    errors=None,
    *,
    predicted_slope=None,
    predicted_intercept=None,
    label="log(P_i / P_j)",
    width=COLUMN,
) -> Figure:
    """log(P_i/P_j) against 1/γ with the weighted fit and the predicted slope.

    theory.md §6: log(P_i/P_j) = -(W_i - W_j)/γ + log(c_i/c_j) + aγ + O(γ²). With ``errors`` the fit
    is :func:`~fwpotential.montecarlo.check.fit_step_ladder`'s (the aγ term from four step sizes on),
    else an unweighted line. ``predicted_slope`` is -(W_i - W_j); ``predicted_intercept``
    log(c_i/c_j) (Hwang's, or prefactor-corrected; omitted: the predicted curve shares the fitted
    intercept and aγ term, matched at the data, so only the slopes compare).

    Returns the Figure; the fit is in ``fig.fwpotential_fit`` = dict(slope, slope_se, intercept, linear).
    """
    g = np.asarray(step_sizes, float)
    r = np.asarray(log_ratios, float)
    if g.shape != r.shape or g.ndim != 1:
        raise InputError(f"step_sizes and log_ratios must be 1-D arrays of one length, got {g.shape} and {r.shape}")
    if np.any(g <= 0):
        raise InputError("step sizes must be > 0")
    se = None if errors is None else np.asarray(errors, float)
    x = 1.0 / g
    ok = np.isfinite(r)
    fit = ladder_fit(g[ok], r[ok], None if se is None else se[ok])
    with rc_style():
        fig = new_figure(width, width * 0.8)
        ax = fig.add_subplot()
        ax.errorbar(x, r, yerr=se, fmt="o", ms=4, capsize=2, label="Monte Carlo")
        xx = np.linspace(0 if fit is None or fit["linear"] == 0 else x.min() * 0.9, x.max() * 1.1, 50)
        if fit is not None:
            ax.plot(xx, ladder_curve(fit, xx), "-", label=f"fit: slope {fit['slope']:.3f} ± {fit['slope_se']:.3f}")
        if predicted_slope is not None:
            b = predicted_intercept
            if b is None:
                b = fit["intercept"] + (fit["slope"] - predicted_slope) * float(np.mean(x[ok])) if fit else 0.0
                how = " (intercept matched at the data)"
            else:
                how = f", intercept {b:.2f}"
            a = fit["linear"] if fit is not None and predicted_intercept is None else 0.0
            theory = ladder_curve({"intercept": b, "slope": predicted_slope, "linear": a}, xx)
            ax.plot(xx, theory, "--", label=f"theory: slope {predicted_slope:.3f}{how}")
        ax.set_xlabel("1/γ")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(frameon=False, loc="best")
    fig.fwpotential_fit = fit
    return fig


def arrhenius(step_sizes, exit_times, errors=None, *, barrier=None, labels=None, width=COLUMN) -> Figure:
    """Arrhenius plot: log E τ against 1/γ, with the fitted slope and the predicted barrier ΔV.

    ``exit_times`` is (n,) or (n, m) (one column per basin): mean exit times, best the
    censoring-aware ``Exits.rate_time`` (``Exits.mean_time`` averages completed exits only and is
    biased low when many chains are still in the basin at the end). ``barrier`` is a float or (m,)
    costs to leave each basin (theory.md §6: log E τ_i = ΔV_i/γ + c_i + aγ + O(γ²), fitted as in
    :func:`occupation_ratio`). Predicted curves share the fitted intercept and aγ term. The fits are
    in ``fig.fwpotential_fit`` (list of dicts).
    """
    g = np.asarray(step_sizes, float)
    T = np.asarray(exit_times, float)
    if T.ndim == 1:
        T = T[:, None]
    if T.shape[0] != g.shape[0]:
        raise InputError(f"exit_times has {T.shape[0]} rows for {g.shape[0]} step sizes")
    E = None if errors is None else np.asarray(errors, float).reshape(T.shape)
    m = T.shape[1]
    barrier = None if barrier is None else np.broadcast_to(np.asarray(barrier, float), (m,))
    labels = [f"basin {i}" for i in range(m)] if labels is None else list(labels)
    x = 1.0 / g
    fits = []
    with rc_style():
        fig = new_figure(width, width * 0.8)
        ax = fig.add_subplot()
        xx = np.linspace(x.min() * 0.9, x.max() * 1.05, 50)
        for i in range(m):
            with np.errstate(divide="ignore", invalid="ignore"):
                y = np.log(T[:, i])
                ye = None if E is None else E[:, i] / T[:, i]
            ok = np.isfinite(y)
            c = ax.errorbar(x, y, yerr=ye, fmt="o", ms=4, capsize=2, label=f"{labels[i]}: Monte Carlo")[0].get_color()
            fit = ladder_fit(g[ok], y[ok], None if ye is None else ye[ok])
            fits.append(fit)
            if fit is not None:
                ax.plot(xx, ladder_curve(fit, xx), "-", color=c, label=f"fit: ΔV ≈ {fit['slope']:.3f}")
                if barrier is not None and np.isfinite(barrier[i]):
                    shifted = {**fit, "slope": barrier[i]}
                    shifted["intercept"] += float(np.mean(ladder_curve(fit, x[ok]) - ladder_curve(shifted, x[ok])))
                    ax.plot(xx, ladder_curve(shifted, xx), "--", color=c, label=f"theory: ΔV = {barrier[i]:.3f}")
        ax.set_xlabel("1/γ")
        ax.set_ylabel("log E τ  (τ in units of t = nγ)")
        ax.grid(alpha=0.3)
        ax.legend(frameon=False)
    fig.fwpotential_fit = fits
    return fig
