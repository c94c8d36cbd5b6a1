"""Figures: result objects in, a Matplotlib :class:`~matplotlib.figure.Figure` out.

Every function here takes results (:class:`~fwpotential.Landscape`, :class:`~fwpotential.Comparison`,
:class:`~fwpotential.QuasiPotential`, Monte Carlo runs, plain arrays) and returns a new Figure; none
computes a potential, prints or writes a file except :func:`save`. Figures are built on
``matplotlib.figure.Figure`` directly (no pyplot state), so they work headless (Agg) and in notebooks
(``display(fig)``).

Conventions on the axes (theory.md): potentials are in units of ε (the temperature for Langevin,
the step size γ for SGD); the stationary law concentrates like exp(-W/ε); V = 0 on the attractor and
+inf (drawn blank) where unreachable.

Sizes: ``COLUMN`` (3.4 in) for one journal column, ``PAGE`` (7.0 in) for two; fonts 8 pt.
"""

from __future__ import annotations

import contextlib
import math
from pathlib import Path

import matplotlib as mpl
import numpy as np
from matplotlib.figure import Figure

from fwpotential.errors import DimensionError, InputError
from fwpotential.montecarlo.check import fit_step_ladder

__all__ = [
    "COLUMN",
    "PAGE",
    "potential_map",
    "potential_curves",
    "potential_slices",
    "compare_maps",
    "weights_bar",
    "convergence",
    "mc_histogram",
    "occupation_ratio",
    "arrhenius",
    "descent_path",
    "save",
]

COLUMN = 3.4  # inches, one journal column
PAGE = 7.0  # inches, full text width
_RC = {
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "lines.linewidth": 1.2,
    "savefig.dpi": 200,
    "figure.dpi": 100,
    "image.cmap": "viridis",
}
_ATTRACTOR = {"marker": "o", "s": 22, "c": "white", "edgecolors": "black", "linewidths": 0.8, "zorder": 5}
_GROUND = {"marker": "*", "s": 90, "c": "gold", "edgecolors": "black", "linewidths": 0.7, "zorder": 6}
_SADDLE = {"marker": "X", "s": 30, "c": "tab:red", "edgecolors": "white", "linewidths": 0.5, "zorder": 5}


@contextlib.contextmanager
def _style():
    with mpl.rc_context(_RC):
        yield


def _figure(width, height, **kw):
    return Figure(figsize=(width, height), layout="constrained", **kw)


# ---------------------------------------------------------------------------------------------
# helpers on results
def _as_landscape_or_qp(obj):
    """(grid, W values, landscape or None) from a Landscape or a QuasiPotential."""
    if hasattr(obj, "potential") and hasattr(obj, "basins"):
        return obj.grid, np.asarray(obj.potential, float), obj
    if hasattr(obj, "values") and hasattr(obj, "grid"):
        return obj.grid, np.asarray(obj.values, float), None
    raise InputError(f"expected a Landscape or a QuasiPotential, got {type(obj).__name__}")


def _name(obj):
    dyn = getattr(obj, "dynamics", None)
    return getattr(dyn, "name", None) or getattr(obj, "method", "")


def _kind(obj):
    dyn = getattr(obj, "dynamics", None)
    return getattr(dyn, "kind", None)


def _eps_label(obj):
    k = _kind(obj)
    return {"sgd": "γ", "langevin": "ε"}.get(k, "ε")


def _nice(v):
    """v rounded up to two significant digits."""
    if not (np.isfinite(v) and v > 0):
        return 1.0
    e = 10 ** (math.floor(math.log10(v)) - 1)
    return math.ceil(v / e - 1e-9) * e


def _default_vmax(W, land):
    fin = W[np.isfinite(W)]
    if fin.size == 0:
        return 1.0
    top = float(np.max(fin))
    if land is not None and len(land.saddles):
        idx = [land.grid.nearest_index(s) for s in land.saddles]
        sv = np.array([W[i] for i in idx])
        sv = sv[np.isfinite(sv)]
        if sv.size and sv.max() > 0:
            return _nice(min(top, 2.0 * sv.max()))
    return _nice(float(min(top, np.percentile(fin, 90))) or top or 1.0)


def descent_path(qp, start, *, step=None, max_steps=20000):
    """Steepest descent of V from ``start`` back to the attractor of ``qp`` (2-D or 3-D).

    Followed backwards, this is the minimum action path from the attractor to ``start`` where V is
    smooth (theory.md §3: the fluctuation path has velocity ∂ₚH(x, ∇V)); for a diffusion with
    isotropic noise the two coincide as curves.

    Parameters
    ----------
    qp : QuasiPotential
    start : (d,)
    step : float, optional
        Step length (default: half the smallest grid spacing).

    Returns
    -------
    ndarray (n, d): the path from ``start`` to within 1.5 cells of the attractor (or where V stops
    decreasing, or leaves the grid).
    """
    g = qp.grid
    V = np.asarray(qp.values, float)
    fin = np.isfinite(V)
    if not fin.any():
        raise InputError("the quasi-potential is +inf everywhere")
    Vf = np.where(fin, V, np.max(V[fin]) * 2 + 1.0)
    grads = np.gradient(Vf, *g.spacing)
    grads = [grads] if g.dim == 1 else list(grads)
    stack = np.stack(grads + [Vf], axis=-1)  # (..., d + 1): ∇V and V, interpolated together
    lo, hs, shape = g.lower, g.spacing, np.array(g.shape)
    corners = np.array(np.meshgrid(*[[0, 1]] * g.dim, indexing="ij")).reshape(g.dim, -1).T

    def interp(x):  # multilinear; NaN outside the grid
        r = (x - lo) / hs
        if np.any(r < 0) or np.any(r > shape - 1):
            return np.full(g.dim + 1, np.nan)
        i0 = np.minimum(np.floor(r).astype(int), shape - 2)
        t = r - i0
        out = np.zeros(g.dim + 1)
        for c in corners:
            w = np.prod(np.where(c == 1, t, 1 - t))
            if w:
                out += w * stack[tuple(i0 + c)]
        return out

    h = float(np.min(g.spacing))
    step = 0.5 * h if step is None else float(step)
    att = qp.attractor
    if att.point is not None:
        target = np.atleast_2d(att.point)
    else:
        target = g.points()[att.mask].reshape(-1, g.dim)
    x = np.asarray(start, float).reshape(-1)
    path = [x.copy()]
    v_prev = float(interp(x)[-1])
    for _ in range(max_steps):
        if np.min(np.linalg.norm(target - x, axis=1)) <= 1.5 * h:
            break
        gr = interp(x)[:-1]
        n = np.linalg.norm(gr)
        if not np.isfinite(n) or n == 0:
            break
        x = x - step * gr / n
        v = float(interp(x)[-1])
        if not np.isfinite(v) or v > v_prev + 1e-12 * (1 + abs(v_prev)):
            break
        v_prev = v
        path.append(x.copy())
    if att.point is not None and np.linalg.norm(path[-1] - att.point) <= 1.5 * h:
        path.append(np.asarray(att.point, float))
    return np.array(path)


def _map_paths(land):
    """Minimum action paths of a landscape: from each saddle, descend V_{K_i} to each attractor i it joins."""
    out = []
    for s, joins in zip(land.saddles, land.saddle_joins):
        out += [p for _, p in _map_paths_from(land, s, joins)]
    return out


def _map_paths_from(land, s, joins):
    """[(i, path from saddle s to attractor i)] for the attractors i the saddle joins."""
    out = []
    for i in sorted({int(j) for j in joins if j >= 0}):
        # start a little off the saddle towards attractor i: at the saddle itself V_{K_i} has a
        # kink (flat on the far side), and its grid gradient points anywhere
        d = np.asarray(land.attractors[i], float) - s
        h = 2.0 * float(np.max(land.grid.spacing))
        x0 = s + h * d / max(np.linalg.norm(d), 1e-300)
        try:
            p = descent_path(land.quasipotentials[i], x0)
        except InputError:
            continue
        out.append((i, np.vstack([s[None], p])))
    return out


def _draw_map(ax, fig, obj, *, vmax=None, levels=24, paths=True, basins=True, colorbar=True, title=None, weights=True):
    grid, W, land = _as_landscape_or_qp(obj)
    if grid.dim != 2:
        raise DimensionError(
            f"a potential map needs a 2-D result, got {grid.dim}-D; use potential_curves (1-D) or potential_slices (3-D)"
        )
    x, y = grid.axes
    vmax = _default_vmax(W, land) if vmax is None else float(vmax)
    lv = np.linspace(0.0, vmax, levels + 1)
    Wm = np.ma.masked_invalid(np.where(np.isfinite(W), W, np.nan))
    cs = ax.contourf(x, y, Wm.T, levels=lv, extend="max")
    ax.contour(x, y, Wm.T, levels=lv[::4], colors="k", linewidths=0.3, alpha=0.5)
    if land is not None:
        m = len(land.attractors)
        if basins and m > 1:
            ax.contour(
                x,
                y,
                np.asarray(land.basins, float).T,
                levels=np.arange(m - 1) + 0.5,
                colors="white",
                linewidths=0.8,
                linestyles="--",
            )
        if paths:
            for p in _map_paths(land):
                ax.plot(p[:, 0], p[:, 1], color="white", lw=1.4, zorder=4)
                ax.plot(p[:, 0], p[:, 1], color="tab:orange", lw=0.8, zorder=4)
        gs = set(int(i) for i in land.ground_states)
        A = np.asarray(land.attractors)
        for att in land.attractor_sets:  # set attractors (limit cycles, curves of minima): their nodes
            if att.mask is not None:
                P = grid.points()[att.mask]
                ax.plot(P[:, 0], P[:, 1], ".", color="white", ms=1.5, zorder=4)
        other = [i for i in range(m) if i not in gs]
        if other:
            ax.scatter(A[other, 0], A[other, 1], **_ATTRACTOR)
        ax.scatter(A[sorted(gs), 0], A[sorted(gs), 1], **_GROUND)
        if len(land.saddles):
            ax.scatter(land.saddles[:, 0], land.saddles[:, 1], **_SADDLE)
        if weights:
            try:
                w = land.hwang_weights()
            except InputError:
                w = None
            for k, i in enumerate(land.ground_states):
                label = " W=0" + (f", w={w[k]:.2f}" if w is not None and len(land.ground_states) > 1 else "")
                ax.annotate(label, A[i], xytext=(4, 4), textcoords="offset points", color="white", fontsize=7, zorder=7)
            for i in other:
                ax.annotate(
                    f" W={land.energies[i]:.3g}",
                    A[i],
                    xytext=(4, 4),
                    textcoords="offset points",
                    color="white",
                    fontsize=7,
                    zorder=7,
                )
    else:
        att = obj.attractor
        if att.point is not None:
            ax.scatter([att.point[0]], [att.point[1]], **_GROUND)
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
        cb = _colorbar(fig, cs, ax, vmax)
        e = _eps_label(obj)
        cb.set_label(("W(x)" if land is not None else "V(x)") + f"  [units of {e}]")
    return cs, cb


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
    grid = _as_landscape_or_qp(result)[0]
    with _style():
        fig = _figure(width, _map_height(grid, width - 0.9, 1))
        ax = fig.add_subplot()
        _draw_map(ax, fig, result, vmax=vmax, levels=levels, paths=paths, basins=basins, title=_title(result, title))
    return fig


def _colorbar(fig, cs, ax, vmax):
    """A colour bar exactly as tall as ``ax`` (equal-aspect axes), with round ticks."""
    from matplotlib.ticker import MaxNLocator

    cax = ax.inset_axes([1.04, 0.0, 0.045, 1.0])
    cb = fig.colorbar(cs, cax=cax)
    cb.set_ticks(MaxNLocator(6).tick_values(0.0, vmax))
    return cb


def _map_height(grid, avail_width, panels):
    """Figure height (inches) for ``panels`` equal-aspect maps side by side in ``avail_width``."""
    if grid.dim < 2:
        return avail_width * 0.7
    lo, hi = grid.lower, grid.upper
    aspect = float((hi[1] - lo[1]) / (hi[0] - lo[0]))
    return float(np.clip(avail_width / panels * aspect + 0.75, 1.6, 9.0))


def _title(result, title):
    if title is not None:
        return title
    k = _kind(result)
    return {"sgd": "SGD", "langevin": "Langevin", "diffusion": "diffusion"}.get(k, _name(result) or None)


def compare_maps(comparison, *, vmax=None, levels=24, paths=True, width=PAGE) -> Figure:
    """Langevin and SGD potentials of one loss side by side on a shared colour scale.

    Ground states are stars labelled with W = 0 and, when tied, Hwang's weights; other attractors show
    their energy W_i. The colour bar is shared (units of ε: temperature / step size).
    """
    L, S = comparison.langevin, comparison.sgd
    if L.grid.dim != 2:
        raise DimensionError(f"compare_maps needs 2-D landscapes, got {L.grid.dim}-D; use potential_curves")
    if vmax is None:
        vmax = max(_default_vmax(L.potential, L), _default_vmax(S.potential, S))
    with _style():
        fig = _figure(width, _map_height(L.grid, width - 1.0, 2) + 0.25)
        axs = fig.subplots(1, 2, sharey=True)
        cs = None
        for ax, land, name in ((axs[0], L, "Langevin"), (axs[1], S, "SGD")):
            g = ["(" + ", ".join(f"{v:.3g}" for v in land.attractors[i]) + ")" for i in land.ground_states]
            cs, _ = _draw_map(
                ax, fig, land, vmax=vmax, levels=levels, paths=paths, colorbar=False,
                title=f"{name}: ground state {', '.join(g)}",
            )  # fmt: skip
        axs[1].set_ylabel("")
        cb = _colorbar(fig, cs, axs[1], vmax)
        cb.set_label("W(x)  [units of ε = temperature / step size γ]")
        verdict = "same ground states" if comparison.same_ground_states else "DIFFERENT ground states"
        fig.suptitle(f"Freidlin–Wentzell potential W: {verdict}")
    return fig


def potential_curves(*results, labels=None, vmax=None, width=COLUMN) -> Figure:
    """1-D: W (Landscapes) or V (QuasiPotentials) against x, one curve each, attractors marked."""
    if not results:
        raise InputError("potential_curves needs at least one result")
    labels = list(labels) if labels is not None else [_title(r, None) or f"#{k}" for k, r in enumerate(results)]
    if len(labels) != len(results):
        raise InputError(f"{len(results)} results but {len(labels)} labels")
    with _style():
        fig = _figure(width, width * 0.7)
        ax = fig.add_subplot()
        top = 0.0
        for r, lab in zip(results, labels):
            grid, W, land = _as_landscape_or_qp(r)
            if grid.dim != 1:
                raise DimensionError(f"potential_curves plots 1-D results, got {grid.dim}-D")
            x = grid.axes[0]
            (line,) = ax.plot(x, np.where(np.isfinite(W), W, np.nan), label=lab)
            top = max(top, _default_vmax(W, land))
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


def potential_slices(result, *, axis=2, at=None, n=3, vmax=None, levels=20, width=PAGE) -> Figure:
    """3-D: W (or V) on ``n`` planes normal to ``axis``, on a shared colour scale.

    ``at``: coordinates of the planes along ``axis`` (default: through each ground state and evenly
    spaced around it)."""
    grid, W, land = _as_landscape_or_qp(result)
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
    vmax = _default_vmax(W, land) if vmax is None else float(vmax)
    lv = np.linspace(0, vmax, levels + 1)
    others = [k for k in range(3) if k != axis]
    names = "xyz"
    with _style():
        fig = _figure(width, width / max(len(idx), 1) * 0.95 + 0.4)
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
                    axp.scatter(land.attractors[near, others[0]], land.attractors[near, others[1]], **_GROUND)
        axs[0].set_ylabel(names[others[1]])
        cb = _colorbar(fig, cs, axs[-1], vmax)
        cb.set_label("W(x)  [units of ε]" if land is not None else "V(x)  [units of ε]")
    return fig


# ---------------------------------------------------------------------------------------------
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
    with _style():
        fig = _figure(width, width * 0.7)
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
    with _style():
        fig = _figure(width, width * 0.8)
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


# ---------------------------------------------------------------------------------------------
# Monte Carlo vs theory (theory.md §6)
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
    e = _eps_label(land)
    with _style():
        if g.dim == 1:
            fig = _figure(COLUMN, COLUMN * 0.7)
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
        fig = _figure(width, width * 0.4)
        a1, a2 = fig.subplots(1, 2)
        x, y = g.axes
        vmax = _default_vmax(land.potential, land)
        lv = np.linspace(0, vmax, 21)
        cs = a1.contourf(x, y, np.ma.masked_invalid(emp).T, levels=lv, extend="max")
        a1.contour(x, y, np.ma.masked_invalid(W).T, levels=lv[::4], colors="white", linewidths=0.6)
        a1.scatter(land.attractors[:, 0], land.attractors[:, 1], **_ATTRACTOR)
        a1.set_aspect("equal", adjustable="box")
        a1.set_xlim(x[0], x[-1])
        a1.set_ylim(y[0], y[-1])
        a1.set_xlabel("x")
        a1.set_ylabel("y")
        a1.set_title(f"−{e} log p̂ (fill) vs W (white lines), {e} = {step_size:g}")
        cb = _colorbar(fig, cs, a1, vmax)
        cb.set_label(f"[units of {e}]")
        # cut along the minimum action paths through a saddle (or the line through the attractors)
        pts, s, xlabel = _cut(land)
        from scipy.interpolate import RegularGridInterpolator

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


def _cut(land):
    """Points along attractor i → saddle → attractor j (minimum action paths), their arc length, a label."""
    g = land.grid
    for sd, joins in zip(land.saddles, land.saddle_joins):
        if joins[0] >= 0 and joins[1] >= 0 and joins[0] != joins[1]:
            paths = {}
            for p in _map_paths_from(land, sd, joins):
                paths[p[0]] = p[1]
            if len(paths) == 2:
                i, j = int(joins[0]), int(joins[1])
                pts = np.vstack([paths[i][::-1], paths[j][1:]])
                s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])
                return pts, s, f"arc length along the minimum action paths, attractor {i} → saddle → {j}"
    A = land.attractors
    x = g.axes[0]
    if len(A) >= 2:
        p0, p1 = A[0], A[1]
    else:
        p0 = A[0] - np.array([0.5 * (x[-1] - x[0]), 0.0])
        p1 = A[0] + np.array([0.5 * (x[-1] - x[0]), 0.0])
    t = np.linspace(-0.35, 1.35, 300)
    pts = p0 + t[:, None] * (p1 - p0)
    inside = np.all((pts >= g.lower) & (pts <= g.upper), axis=1)
    return pts[inside], t[inside], "position on the line from attractor 0 (s=0) to 1 (s=1)"


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
    fit = _ladder_fit(g[ok], r[ok], None if se is None else se[ok])
    with _style():
        fig = _figure(width, width * 0.8)
        ax = fig.add_subplot()
        ax.errorbar(x, r, yerr=se, fmt="o", ms=4, capsize=2, label="Monte Carlo")
        xx = np.linspace(0 if fit is None or fit["linear"] == 0 else x.min() * 0.9, x.max() * 1.1, 50)
        if fit is not None:
            ax.plot(xx, _ladder_curve(fit, xx), "-", label=f"fit: slope {fit['slope']:.3f} ± {fit['slope_se']:.3f}")
        if predicted_slope is not None:
            b = predicted_intercept
            if b is None:
                b = fit["intercept"] + (fit["slope"] - predicted_slope) * float(np.mean(x[ok])) if fit else 0.0
                how = " (intercept matched at the data)"
            else:
                how = f", intercept {b:.2f}"
            a = fit["linear"] if fit is not None and predicted_intercept is None else 0.0
            theory = _ladder_curve({"intercept": b, "slope": predicted_slope, "linear": a}, xx)
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
    with _style():
        fig = _figure(width, width * 0.8)
        ax = fig.add_subplot()
        xx = np.linspace(x.min() * 0.9, x.max() * 1.05, 50)
        for i in range(m):
            with np.errstate(divide="ignore", invalid="ignore"):
                y = np.log(T[:, i])
                ye = None if E is None else E[:, i] / T[:, i]
            ok = np.isfinite(y)
            c = ax.errorbar(x, y, yerr=ye, fmt="o", ms=4, capsize=2, label=f"{labels[i]}: Monte Carlo")[0].get_color()
            fit = _ladder_fit(g[ok], y[ok], None if ye is None else ye[ok])
            fits.append(fit)
            if fit is not None:
                ax.plot(xx, _ladder_curve(fit, xx), "-", color=c, label=f"fit: ΔV ≈ {fit['slope']:.3f}")
                if barrier is not None and np.isfinite(barrier[i]):
                    shifted = {**fit, "slope": barrier[i]}
                    shifted["intercept"] += float(np.mean(_ladder_curve(fit, x[ok]) - _ladder_curve(shifted, x[ok])))
                    ax.plot(xx, _ladder_curve(shifted, xx), "--", color=c, label=f"theory: ΔV = {barrier[i]:.3f}")
        ax.set_xlabel("1/γ")
        ax.set_ylabel("log E τ  (τ in units of t = nγ)")
        ax.grid(alpha=0.3)
        ax.legend(frameon=False)
    fig.fwpotential_fit = fits
    return fig


def _ladder_fit(g, y, se):
    """The step-ladder fit with errors, else an unweighted line; None with fewer than two points."""
    if len(g) < 2:
        return None
    if se is not None and np.all(np.isfinite(se)) and np.all(se > 0):
        f = fit_step_ladder(g, y, se)
        return {"intercept": f["intercept"], "slope": f["slope"], "slope_se": f["slope_se"],
                "linear": 0.0 if f["model"] == "c + b/γ" else f["linear"]}  # fmt: skip
    return {**_line(1.0 / g, y), "linear": 0.0}


def _ladder_curve(fit, x):
    """c + b x + a/x at x = 1/γ (a line, defined at x = 0, when a = 0)."""
    line = fit["intercept"] + fit["slope"] * x
    return line + fit["linear"] / x if fit["linear"] != 0 else line


def _line(x, y):
    """Unweighted least-squares line y = c + b x, with the slope's error from the residuals."""
    A = np.stack([np.ones_like(x), x], axis=1)
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    resid = y - A @ coef
    s2 = float(resid @ resid) / max(len(x) - 2, 1)
    try:
        slope_se = math.sqrt(max(np.linalg.inv(A.T @ A)[1, 1] * s2, 0.0))
    except np.linalg.LinAlgError:
        slope_se = float("nan")
    return {"intercept": float(coef[0]), "slope": float(coef[1]), "slope_se": slope_se}


# ---------------------------------------------------------------------------------------------
def save(fig, path, *, formats=None) -> list:
    """Write ``fig`` to ``path`` at 200 dpi (raster formats); ``formats`` (e.g. ``("png", "pdf")``)
    writes one file per format with the suffix replaced. Returns the paths written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if formats is None:
        fmts = [path.suffix.lstrip(".") or "png"]
    else:
        fmts = [str(f).lstrip(".") for f in formats]
    out = []
    for f in fmts:
        if f not in ("png", "pdf", "svg"):
            raise InputError(f"unsupported figure format {f!r}; choose png, pdf or svg")
        p = path.with_suffix("." + f)
        # savefig reads rcParams when it runs, outside the style context the figure was built in
        fig.savefig(p, format=f, bbox_inches="tight", dpi=_RC["savefig.dpi"])
        out.append(p)
    return out
