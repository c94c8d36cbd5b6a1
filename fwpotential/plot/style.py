"""Figure style and the helpers every figure module shares: sizes, rc parameters, markers, colour
bars, the colour scale of a potential, and :func:`save`.

Sizes: ``COLUMN`` (3.4 in) for one journal column, ``PAGE`` (7.0 in) for two; fonts 8 pt.
"""

from __future__ import annotations

import contextlib
import math
from pathlib import Path

import matplotlib as mpl
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from fwpotential.errors import InputError

__all__ = ["COLUMN", "PAGE", "save"]

COLUMN = 3.4  # inches, one journal column
PAGE = 7.0  # inches, full text width
RC = {
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
ATTRACTOR = {"marker": "o", "s": 22, "c": "white", "edgecolors": "black", "linewidths": 0.8, "zorder": 5}
GROUND = {"marker": "*", "s": 90, "c": "gold", "edgecolors": "black", "linewidths": 0.7, "zorder": 6}
SADDLE = {"marker": "X", "s": 30, "c": "tab:red", "edgecolors": "white", "linewidths": 0.5, "zorder": 5}


@contextlib.contextmanager
def rc_style():
    """The figures' rc parameters (``RC``) for the figure built inside the block."""
    with mpl.rc_context(RC):
        yield


def new_figure(width, height, **kw):
    """A constrained-layout Figure (no pyplot state) of ``width`` × ``height`` inches."""
    return Figure(figsize=(width, height), layout="constrained", **kw)


# ---------------------------------------------------------------------------------------------
# helpers on results
def as_field(obj):
    """(grid, W values, landscape or None) from a Landscape or a QuasiPotential."""
    if hasattr(obj, "potential") and hasattr(obj, "basins"):
        return obj.grid, np.asarray(obj.potential, float), obj
    if hasattr(obj, "values") and hasattr(obj, "grid"):
        return obj.grid, np.asarray(obj.values, float), None
    raise InputError(f"expected a Landscape or a QuasiPotential, got {type(obj).__name__}")


def dynamics_name(obj):
    """The name of a result's dynamics, else its method."""
    dyn = getattr(obj, "dynamics", None)
    return getattr(dyn, "name", None) or getattr(obj, "method", "")


def dynamics_kind(obj):
    """The kind of a result's dynamics: "sgd", "langevin", "diffusion", or None."""
    dyn = getattr(obj, "dynamics", None)
    return getattr(dyn, "kind", None)


def eps_label(obj):
    """The symbol of the noise level on the axes: γ for SGD, ε otherwise."""
    k = dynamics_kind(obj)
    return {"sgd": "γ", "langevin": "ε"}.get(k, "ε")


def round_up(v):
    """v rounded up to two significant digits."""
    if not (np.isfinite(v) and v > 0):
        return 1.0
    e = 10 ** (math.floor(math.log10(v)) - 1)
    return math.ceil(v / e - 1e-9) * e


def default_vmax(W, land):
    fin = W[np.isfinite(W)]
    if fin.size == 0:
        return 1.0
    top = float(np.max(fin))
    if land is not None and len(land.saddles):
        idx = [land.grid.nearest_index(s) for s in land.saddles]
        sv = np.array([W[i] for i in idx])
        sv = sv[np.isfinite(sv)]
        if sv.size and sv.max() > 0:
            return round_up(min(top, 2.0 * sv.max()))
    return round_up(float(min(top, np.percentile(fin, 90))) or top or 1.0)


def add_colorbar(fig, cs, ax, vmax):
    """A colour bar exactly as tall as ``ax`` (equal-aspect axes), with round ticks."""
    cax = ax.inset_axes([1.04, 0.0, 0.045, 1.0])
    cb = fig.colorbar(cs, cax=cax)
    cb.set_ticks(MaxNLocator(6).tick_values(0.0, vmax))
    return cb


def map_height(grid, avail_width, panels):
    """Figure height (inches) for ``panels`` equal-aspect maps side by side in ``avail_width``."""
    if grid.dim < 2:
        return avail_width * 0.7
    lo, hi = grid.lower, grid.upper
    aspect = float((hi[1] - lo[1]) / (hi[0] - lo[0]))
    return float(np.clip(avail_width / panels * aspect + 0.75, 1.6, 9.0))


def title_of(result, title):
    if title is not None:
        return title
    k = dynamics_kind(result)
    return {"sgd": "SGD", "langevin": "Langevin", "diffusion": "diffusion"}.get(k, dynamics_name(result) or None)


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
        fig.savefig(p, format=f, bbox_inches="tight", dpi=RC["savefig.dpi"])
        out.append(p)
    return out
