"""Maps of W (a Landscape) or V (a QuasiPotential): 2-D filled contours with attractors, saddles,
basins and minimum action paths; two landscapes side by side; 3-D slices."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from fwpotential.analysis.descent import minimum_action_paths
from fwpotential.errors import DimensionError, InputError
from fwpotential.plot.style import (
    ATTRACTOR,
    COLUMN,
    GROUND,
    PAGE,
    SADDLE,
    add_colorbar,
    as_field,
    default_vmax,
    eps_label,
    map_height,
    new_figure,
    rc_style,
    title_of,
)

__all__ = ["potential_map", "compare_maps", "potential_slices"]


def _draw_map(ax, fig, obj, *, vmax=None, levels=24, paths=True, basins=True, colorbar=True, title=None, weights=True):
    grid, W, land = as_field(obj)
    if grid.dim != 2:
        raise DimensionError(
            f"a potential map needs a 2-D result, got {grid.dim}-D; use potential_curves (1-D) or potential_slices (3-D)"
        )
    x, y = grid.axes
    vmax = default_vmax(W, land) if vmax is None else float(vmax)
    lv = np.linspace(0.0, vmax, levels + 1)
    Wm = np.ma.masked_invalid(np.where(np.isfinite(W), W, np.nan))
    cs = ax.contourf(x, y, Wm.T, levels=lv, extend="max")
    ax.contour(x, y, Wm.T, levels=lv[::4], colors="k", linewidths=0.3, alpha=0.5)
    if land is not None:
        _draw_landscape(ax, land, paths=paths, basins=basins, weights=weights)
    else:
        att = obj.attractor
        if att.point is not None:
            ax.scatter([att.point[0]], [att.point[1]], **GROUND)
    ax.set_xlim(x[0], x[-1])
    ax.set_ylim(y[0], y[-1])
    ax.set_aspect("equal", adjustable="box")
    names = getattr(getattr(obj, "dynamics", None), "loss", None)
    vars_ = getattr(names, "variables", None) or ("x", "y")
    ax.set_xlabel(vars_[0])
    ax.set_ylabel(vars_[1])
    if title is not None:
        ax.set_title(title)
    cb = None
    if colorbar:
        cb = add_colorbar(fig, cs, ax, vmax)
        e = eps_label(obj)
        cb.set_label(("W(x)" if land is not None else "V(x)") + f"  [units of {e}]")
    return cs, cb


def _draw_landscape(ax, land, *, paths, basins, weights):
    """Basin boundaries, minimum action paths, set attractors' nodes, attractors, saddles and labels."""
    x, y = land.grid.axes
    m = len(land.attractors)
    if basins and m > 1:
        ax.contour(
            x, y, np.asarray(land.basins, float).T, levels=np.arange(m - 1) + 0.5,
            colors="white", linewidths=0.8, linestyles="--",
        )  # fmt: skip
    if paths:
        for p in minimum_action_paths(land):
            ax.plot(p[:, 0], p[:, 1], color="white", lw=1.4, zorder=4)
            ax.plot(p[:, 0], p[:, 1], color="tab:orange", lw=0.8, zorder=4)
    gs = set(int(i) for i in land.ground_states)
    A = np.asarray(land.attractors)
    for att in land.attractor_sets:  # set attractors (limit cycles, curves of minima): their nodes
        if att.mask is not None:
            P = land.grid.points()[att.mask]
            ax.plot(P[:, 0], P[:, 1], ".", color="white", ms=1.5, zorder=4)
    other = [i for i in range(m) if i not in gs]
    if other:
        ax.scatter(A[other, 0], A[other, 1], **ATTRACTOR)
    ax.scatter(A[sorted(gs), 0], A[sorted(gs), 1], **GROUND)
    if len(land.saddles):
        ax.scatter(land.saddles[:, 0], land.saddles[:, 1], **SADDLE)
    if weights:
        _label_energies(ax, land, other)


def _label_energies(ax, land, other):
    """W = 0 (and Hwang's weight when tied) at the ground states, W_i at the other attractors."""
    A = np.asarray(land.attractors)
    try:
        w = land.hwang_weights()
    except InputError:
        w = None
    text = {"xytext": (4, 4), "textcoords": "offset points", "color": "white", "fontsize": 7, "zorder": 7}
    for k, i in enumerate(land.ground_states):
        label = " W=0" + (f", w={w[k]:.2f}" if w is not None and len(land.ground_states) > 1 else "")
        ax.annotate(label, A[i], **text)
    for i in other:
        ax.annotate(f" W={land.energies[i]:.3g}", A[i], **text)


def potential_map(result, *, vmax=None, levels=24, paths=True, basins=True, title=None, width=COLUMN) -> Figure:
    """Filled contours of W (a Landscape) or V (a QuasiPotential) on a 2-D grid.

    Overlays: attractors (circles; ground states as stars, with W and Hwang's weight), index-1
    saddles (crosses), basin boundaries of the deterministic flow (dashed), and minimum action paths
    (steepest descent of V_{K_i} from each saddle back to the attractors it joins). +inf is blank.

    Parameters
    ----------
    result : Landscape or QuasiPotential (2-D)
    vmax : float, optional
        Top of the colour scale (default: twice the largest W at a saddle, or the 90th percentile).
    levels : int
    paths, basins : bool
    title : str, optional (default: the dynamics' name)
    width : float
        Figure width in inches.
    """
    grid = as_field(result)[0]
    with rc_style():
        fig = new_figure(width, map_height(grid, width - 0.9, 1))
        ax = fig.add_subplot()
        _draw_map(ax, fig, result, vmax=vmax, levels=levels, paths=paths, basins=basins, title=title_of(result, title))
    return fig


def compare_maps(comparison, *, vmax=None, levels=24, paths=True, width=PAGE) -> Figure:
    """Langevin and SGD potentials of one loss side by side on a shared colour scale.

    Ground states are stars labelled with W = 0 and, when tied, Hwang's weights; other attractors show
    their energy W_i. The colour bar is shared (units of ε: temperature / step size).
    """
    L, S = comparison.langevin, comparison.sgd
    if L.grid.dim != 2:
        raise DimensionError(f"compare_maps needs 2-D landscapes, got {L.grid.dim}-D; use potential_curves")
    if vmax is None:
        vmax = max(default_vmax(L.potential, L), default_vmax(S.potential, S))
    with rc_style():
        fig = new_figure(width, map_height(L.grid, width - 1.0, 2) + 0.25)
        axs = fig.subplots(1, 2, sharey=True)
        cs = None
        for ax, land, name in ((axs[0], L, "Langevin"), (axs[1], S, "SGD")):
            g = ["(" + ", ".join(f"{v:.3g}" for v in land.attractors[i]) + ")" for i in land.ground_states]
            cs, _ = _draw_map(
                ax, fig, land, vmax=vmax, levels=levels, paths=paths, colorbar=False,
                title=f"{name}: ground state {', '.join(g)}",
            )  # fmt: skip
        axs[1].set_ylabel("")
        cb = add_colorbar(fig, cs, axs[1], vmax)
        cb.set_label("W(x)  [units of ε = temperature / step size γ]")
        verdict = "same ground states" if comparison.same_ground_states else "DIFFERENT ground states"
        fig.suptitle(f"Freidlin–Wentzell potential W: {verdict}")
    return fig


def potential_slices(result, *, axis=2, at=None, n=3, vmax=None, levels=20, width=PAGE) -> Figure:
    """3-D: W (or V) on ``n`` planes normal to ``axis``, on a shared colour scale.

    ``at``: coordinates of the planes along ``axis`` (default: through each ground state and evenly
    spaced around it)."""
    grid, W, land = as_field(result)
    if grid.dim != 3:
        raise DimensionError(f"potential_slices needs a 3-D result, got {grid.dim}-D")
    if axis not in (0, 1, 2):
        raise InputError(f"axis must be 0, 1 or 2, got {axis!r}")
    ax_c = grid.axes[axis]
    if at is None:
        if land is not None:
            c = float(land.attractors[land.ground_states[0], axis])
        else:
            c = float(result.attractor.point[axis]) if result.attractor.point is not None else float(np.mean(ax_c))
        span = 0.5 * (ax_c[-1] - ax_c[0])
        at = np.clip(c + np.linspace(-0.5, 0.5, n) * span, ax_c[0], ax_c[-1]) if n > 1 else [c]
    at = list(np.atleast_1d(at))
    idx = [int(np.argmin(np.abs(ax_c - a))) for a in at]
    vmax = default_vmax(W, land) if vmax is None else float(vmax)
    lv = np.linspace(0, vmax, levels + 1)
    others = [k for k in range(3) if k != axis]
    names = "xyz"
    with rc_style():
        fig = new_figure(width, width / max(len(idx), 1) * 0.95 + 0.4)
        axs = np.atleast_1d(fig.subplots(1, len(idx), sharey=True))
        cs = None
        for axp, i in zip(axs, idx):
            sl = [slice(None)] * 3
            sl[axis] = i
            Z = W[tuple(sl)]
            Z = np.ma.masked_invalid(np.where(np.isfinite(Z), Z, np.nan))
            cs = axp.contourf(grid.axes[others[0]], grid.axes[others[1]], Z.T, levels=lv, extend="max")
            axp.set_title(f"{names[axis]} = {ax_c[i]:.3g}")
            axp.set_xlabel(names[others[0]])
            axp.set_aspect("equal", adjustable="box")
            if land is not None:
                near = np.abs(land.attractors[:, axis] - ax_c[i]) <= 1.5 * grid.spacing[axis]
                if near.any():
                    axp.scatter(land.attractors[near, others[0]], land.attractors[near, others[1]], **GROUND)
        axs[0].set_ylabel(names[others[1]])
        cb = add_colorbar(fig, cs, axs[-1], vmax)
        cb.set_label("W(x)  [units of ε]" if land is not None else "V(x)  [units of ε]")
    return fig


# ---------------------------------------------------------------------------------------------
