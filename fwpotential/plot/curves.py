"""Curves and bars: 1-D potentials, limit weights per basin, grid convergence."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from fwpotential.errors import DimensionError, InputError
from fwpotential.plot.style import COLUMN, as_field, default_vmax, new_figure, rc_style, title_of

__all__ = ["potential_curves", "weights_bar", "convergence"]


def potential_curves(*results, labels=None, vmax=None, width=COLUMN) -> Figure:
    """1-D: W (Landscapes) or V (QuasiPotentials) against x, one curve each, attractors marked."""
    if not results:
        raise InputError("potential_curves needs at least one result")
    labels = list(labels) if labels is not None else [title_of(r, None) or f"#{k}" for k, r in enumerate(results)]
    if len(labels) != len(results):
        raise InputError(f"{len(results)} results but {len(labels)} labels")
    with rc_style():
        fig = new_figure(width, width * 0.7)
        ax = fig.add_subplot()
        top = 0.0
        for r, lab in zip(results, labels):
            grid, W, land = as_field(r)
            if grid.dim != 1:
                raise DimensionError(f"potential_curves plots 1-D results, got {grid.dim}-D")
            x = grid.axes[0]
            (line,) = ax.plot(x, np.where(np.isfinite(W), W, np.nan), label=lab)
            top = max(top, default_vmax(W, land))
            if land is not None:
                A = land.attractors[:, 0]
                gs = list(land.ground_states)
                ax.plot(
                    A,
                    np.interp(A, x, np.where(np.isfinite(W), W, np.nan)),
                    "o",
                    color=line.get_color(),
                    mfc="white",
                    ms=4,
                )
                ax.plot(A[gs], np.zeros(len(gs)), "*", color=line.get_color(), ms=9, mec="black", mew=0.5)
        ax.set_ylim(-0.05 * (vmax or top * 1.2), vmax or top * 1.2)
        ax.set_xlabel(
            (getattr(getattr(getattr(results[0], "dynamics", None), "loss", None), "variables", None) or ("x",))[0]
        )
        ax.set_ylabel("W(x)  [units of ε]")
        ax.legend(frameon=False)
        ax.grid(alpha=0.3)
    return fig


def weights_bar(
    weights, *, labels=None, errors=None, title="limit weights of the ground states", width=COLUMN
) -> Figure:
    """Grouped bars of limit weights: one group per ground state, one bar per source.

    Parameters
    ----------
    weights : dict name -> array (k,)
        E.g. ``{"Hwang": land.hwang_weights()}``; add ``"prefactor-corrected"`` and ``"measured"``
        (Monte Carlo basin masses, or an exact chain's) when available. Arrays of one length k.
    labels : sequence of str (k,), optional
        Ground-state labels (default ``#0 … #k-1``).
    errors : dict name -> array (k,), optional
        Error bars (e.g. Monte Carlo standard errors) for some of the sources.
    """
    if not isinstance(weights, dict) or not weights:
        raise InputError("weights must be a non-empty dict name -> array of weights")
    arrs = {str(k): np.atleast_1d(np.asarray(v, float)) for k, v in weights.items()}
    sizes = {len(v) for v in arrs.values()}
    if len(sizes) != 1:
        raise InputError(f"all weight arrays must have one length; got lengths {sorted(sizes)}")
    k = sizes.pop()
    labels = [f"#{i}" for i in range(k)] if labels is None else [str(s) for s in labels]
    if len(labels) != k:
        raise InputError(f"{k} weights but {len(labels)} labels")
    errors = {} if errors is None else {str(a): np.atleast_1d(np.asarray(b, float)) for a, b in errors.items()}
    nb = len(arrs)
    wbar = 0.8 / nb
    with rc_style():
        fig = new_figure(width, width * 0.7)
        ax = fig.add_subplot()
        xs = np.arange(k)
        for j, (name, v) in enumerate(arrs.items()):
            pos = xs - 0.4 + wbar * (j + 0.5)
            bars = ax.bar(pos, v, wbar, label=name, yerr=errors.get(name), capsize=2)
            for b, val in zip(bars, v):
                if np.isfinite(val):
                    ax.annotate(
                        f"{val:.2f}",
                        (b.get_x() + b.get_width() / 2, b.get_height()),
                        xytext=(0, 2),
                        textcoords="offset points",
                        ha="center",
                        fontsize=6,
                    )
        ax.set_xticks(xs, labels)
        ax.set_ylim(0, 1.1)
        ax.set_ylabel("weight (mass per basin)")
        ax.set_title(title)
        ax.legend(frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2)
    return fig


def convergence(data, *, order=None, title="grid convergence", width=COLUMN) -> Figure:
    """Error against grid spacing on log-log axes, with the fitted order per curve.

    Parameters
    ----------
    data : dict name -> (h, error) arrays, or a sequence of dict rows with keys ``method`` (or
        ``name``), ``h`` and ``error`` (e.g. ``max_error``), as the benchmark tables give them.
    order : float or dict name -> float, optional
        Reference slope(s) drawn as a dotted line (e.g. the solver's ``ORDER``).
    """
    series = _convergence_series(data)
    with rc_style():
        fig = new_figure(width, width * 0.8)
        ax = fig.add_subplot()
        for name, (h, e) in series.items():
            ok = np.isfinite(e) & (e > 0) & (h > 0)
            if ok.sum() >= 2:
                p = np.polyfit(np.log(h[ok]), np.log(e[ok]), 1)[0]
                lab = f"{name} (observed order {p:.2f})"
            else:
                lab = name
            (line,) = ax.loglog(h[ok], e[ok], "o-", label=lab)
            ref = order.get(name) if isinstance(order, dict) else order
            if ref is not None and ok.any():
                h0, e0 = h[ok][0], e[ok][0]
                hh = np.array([h[ok].min(), h[ok].max()])
                ax.loglog(hh, e0 * (hh / h0) ** ref, ":", color=line.get_color(), label=f"order {ref:g}")
        ax.set_xlabel("grid spacing h")
        ax.set_ylabel("max |V − V_exact|  [units of ε]")
        ax.set_title(title)
        ax.grid(alpha=0.3, which="both")
        ax.legend(frameon=False)
    return fig


def _convergence_series(data):
    if isinstance(data, dict):
        out = {}
        for k, v in data.items():
            h, e = v
            out[str(k)] = (np.asarray(h, float), np.asarray(e, float))
        return out
    rows = list(data)
    out = {}
    for r in rows:
        if not isinstance(r, dict):
            raise InputError("convergence data must be a dict name -> (h, error) or a list of dict rows")
        name = str(r.get("method", r.get("name", "")))
        if "h" not in r or not any(k in r for k in ("error", "max_error")):
            raise InputError(f"convergence rows need 'h' and 'error' (or 'max_error'); got keys {sorted(r)}")
        out.setdefault(name, ([], []))
        out[name][0].append(float(r["h"]))
        out[name][1].append(float(r.get("error", r.get("max_error"))))
    return {k: (np.asarray(h), np.asarray(e)) for k, (h, e) in out.items()}
