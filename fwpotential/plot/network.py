"""Transition networks in any dimension: disconnectivity graphs, action profiles along minimum action
paths, and paths projected on their two leading principal components.

Every function takes results (a :class:`~fwpotential.analysis.network.TransitionNetwork`, a
:class:`~fwpotential.analysis.landscapes.Landscape` where the fields overlap, a
:class:`~fwpotential.analysis.comparison.Comparison`, :class:`~fwpotential.paths.mam.ActionPath`)
and an optional ``ax``; it draws on ``ax`` (or on a new Figure) and returns the Figure. The data a
figure shows are computed by the pure functions :func:`disconnectivity_tree` and
:func:`principal_plane`, and attached to the Axes (``ax.fwpotential_tree``,
``ax.fwpotential_plane``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from matplotlib.figure import Figure

from fwpotential.errors import InputError
from fwpotential.plot.style import ATTRACTOR, COLUMN, GROUND, PAGE, SADDLE, eps_label, new_figure, rc_style, title_of

__all__ = [
    "Merge",
    "DisconnectivityTree",
    "disconnectivity_tree",
    "disconnectivity_levels",
    "disconnectivity",
    "disconnectivity_pair",
    "PrincipalPlane",
    "principal_plane",
    "path_profile",
    "path_projection",
]

LEVELS = ("f", "W")


# ---------------------------------------------------------------------------------------------
# the tree
class Merge(NamedTuple):
    """Two branches of a disconnectivity graph joining at a saddle.

    ``level``: the saddle's level; ``saddle``: its index; ``left``, ``right``: the attractors of the
    two branches (sorted tuples; ``left`` holds the lower minimum, ties to the lower index)."""

    level: float
    saddle: int
    left: tuple
    right: tuple


@dataclass(frozen=True, repr=False)
class DisconnectivityTree:
    """Minima joined at saddles in order of level (a minimum spanning forest, Kruskal's order).

    Attributes
    ----------
    leaf_levels : ndarray (m,)
        Level of each attractor (f, or its energy W; +inf allowed).
    merges : tuple of Merge
        The saddles that join two different branches, in increasing level (ties by saddle index).
    components : tuple of tuple of int
        The branches left at the end (one when every attractor is joined), by their lowest leaf level.
    order : ndarray (m,) of int
        Attractors from left to right: each branch's leaves are contiguous, lower branch first.
    """

    leaf_levels: np.ndarray
    merges: tuple
    components: tuple
    order: np.ndarray

    def __repr__(self):
        return f"DisconnectivityTree({len(self.leaf_levels)} leaves, {len(self.merges)} merges, {len(self.components)} components)"


def disconnectivity_tree(levels_min, saddle_levels, saddle_joins) -> DisconnectivityTree:
    """Join minima at saddles in order of level: the tree of a disconnectivity graph.

    Saddles are taken in increasing level (ties by index); a saddle merges the branches holding its
    two attractors unless they are already one branch (union–find). Saddles with a join of -1 (a
    branch of the unstable manifold that reached no attractor) or a level of +inf join nothing, so
    attractors that no finite saddle connects stay separate components.

    Parameters
    ----------
    levels_min : (m,)
        Level of each minimum (finite or +inf).
    saddle_levels : (k,)
        Level of each saddle (finite or +inf).
    saddle_joins : (k, 2) of int
        The two attractors each saddle joins; -1 for none.

    Returns
    -------
    DisconnectivityTree

    Raises
    ------
    InputError
        Shapes that disagree, NaN levels, joins outside -1 … m-1.
    """
    lv, sv, joins = _check_tree_input(levels_min, saddle_levels, saddle_joins)
    m = len(lv)
    root = list(range(m))
    members = {i: (i,) for i in range(m)}
    children = {}  # branch id -> (left id, right id); leaves 0..m-1, merges m, m+1, ...

    def find(i):
        while root[i] != i:
            root[i] = root[root[i]]
            i = root[i]
        return i

    branch = list(range(m))  # union-find root -> the id of the branch it stands for
    merges = []
    for k in sorted(range(len(sv)), key=lambda s: (sv[s], s)):
        a, b = (int(j) for j in joins[k])
        if a < 0 or b < 0 or not np.isfinite(sv[k]):
            continue
        ra, rb = find(a), find(b)
        if ra == rb:
            continue
        ba, bb = branch[ra], branch[rb]
        if _branch_key(members[bb], lv) < _branch_key(members[ba], lv):
            ba, bb, ra, rb = bb, ba, rb, ra
        merges.append(Merge(level=float(sv[k]), saddle=k, left=members[ba], right=members[bb]))
        new = m + len(children)
        children[new] = (ba, bb)
        members[new] = tuple(sorted(members[ba] + members[bb]))
        root[rb] = ra
        branch[ra] = new
    tops = sorted({branch[find(i)] for i in range(m)}, key=lambda c: _branch_key(members[c], lv))
    order = [leaf for c in tops for leaf in _leaves_in_order(c, children)]
    return DisconnectivityTree(
        leaf_levels=lv,
        merges=tuple(merges),
        components=tuple(members[c] for c in tops),
        order=np.array(order, dtype=np.int64),
    )


def _check_tree_input(levels_min, saddle_levels, saddle_joins):
    lv = np.asarray(levels_min, dtype=float).reshape(-1)
    sv = np.asarray(saddle_levels, dtype=float).reshape(-1)
    joins = np.asarray(saddle_joins)
    if joins.size == 0:
        joins = joins.reshape(0, 2)
    if len(lv) == 0:
        raise InputError("a disconnectivity graph needs at least one minimum, got levels_min of length 0")
    if joins.ndim != 2 or joins.shape[1] != 2 or len(joins) != len(sv):
        raise InputError(
            f"saddle_joins must have shape (k, 2) with k = len(saddle_levels) = {len(sv)}, got {joins.shape}"
        )
    if joins.size and not np.issubdtype(joins.dtype, np.integer):
        raise InputError(f"saddle_joins must be integers (attractor indices, -1 for none), got dtype {joins.dtype}")
    if np.isnan(lv).any() or np.isnan(sv).any():
        raise InputError("levels must not be NaN (a minimum or saddle without a level: use level='W' or drop it)")
    if joins.size and (joins.min() < -1 or joins.max() >= len(lv)):
        raise InputError(f"saddle_joins must lie in -1 … {len(lv) - 1} (m = {len(lv)} minima), got {joins.tolist()}")
    return lv, sv, joins


def _branch_key(leaves, lv):
    """Sort key of a branch: its lowest leaf level, then its lowest such leaf."""
    low = min(lv[i] for i in leaves)
    return (low, min(i for i in leaves if lv[i] == low))


def _leaves_in_order(node, children):
    out, stack = [], [node]
    while stack:
        n = stack.pop()
        if n in children:
            left, right = children[n]
            stack.extend((right, left))
        else:
            out.append(n)
    return out


def disconnectivity_levels(net, level="f"):
    """The levels a disconnectivity graph of ``net`` uses: (levels_min (m,), saddle_levels (k,)).

    - ``"f"``: ``attractor_values`` and ``saddle_values`` (the loss at minima and saddles).
    - ``"W"``: minimum i at its energy ``energies[i]``; saddle k joining i and j at
      min(W_i + costs[i, j], W_j + costs[j, i]), the network's costs through the saddles of the pair
      (for the lowest saddle of a pair, the one that merges branches, this is min over its joins of
      W_l + V(K_l → saddle)); +inf when a join is -1.

    Raises
    ------
    InputError
        ``level`` not "f" or "W"; level="f" where f is NaN (dynamics without a loss).
    """
    if level not in LEVELS:
        raise InputError(f"unknown level {level!r}; choose one of {list(LEVELS)}")
    joins = np.asarray(net.saddle_joins, dtype=np.int64).reshape(-1, 2)
    if level == "f":
        lv = np.asarray(net.attractor_values, dtype=float)
        sv = np.asarray(net.saddle_values, dtype=float).reshape(-1)
        if np.isnan(lv).any() or np.isnan(sv).any():
            raise InputError(
                "level='f' needs f at the attractors and saddles; this dynamics has no loss: use level='W'"
            )
        return lv, sv
    W = np.asarray(net.energies, dtype=float)
    C = np.asarray(net.costs, dtype=float)
    sv = np.full(len(joins), np.inf)
    for k, (i, j) in enumerate(joins):
        if i >= 0 and j >= 0:
            sv[k] = min(W[i] + C[i, j], W[j] + C[j, i])
    return W, sv


# ---------------------------------------------------------------------------------------------
# drawing the tree
def _tree_segments(tree, top):
    """Line segments (x0, y0, x1, y1) of the tree and the merge points (x, y) (leaf x = position in
    ``tree.order``; branches continue to ``top``)."""
    pos = {int(leaf): float(k) for k, leaf in enumerate(tree.order)}
    lv = tree.leaf_levels
    branch = {(i,): (pos[i], min(lv[i], top)) for i in range(len(lv))}
    segs, nodes = [], []
    for mg in tree.merges:
        (xa, ya), (xb, yb) = branch.pop(mg.left), branch.pop(mg.right)
        segs += [(xa, ya, xa, mg.level), (xb, yb, xb, mg.level), (xa, mg.level, xb, mg.level)]
        nodes.append((0.5 * (xa + xb), mg.level))
        branch[tuple(sorted(mg.left + mg.right))] = nodes[-1]
    for x, y in branch.values():
        segs.append((x, y, x, top))
    return segs, nodes


def _tree_top(tree):
    fin = [v for v in tree.leaf_levels if np.isfinite(v)] + [mg.level for mg in tree.merges]
    lo, hi = (min(fin), max(fin)) if fin else (0.0, 1.0)
    return hi + 0.15 * (hi - lo if hi > lo else max(abs(hi), 1.0))


def _draw_tree(ax, net, tree, *, level, labels):
    top = _tree_top(tree)
    segs, nodes = _tree_segments(tree, top)
    for x0, y0, x1, y1 in segs:
        ax.plot([x0, x1], [y0, y1], color="black", lw=1.0, solid_capstyle="butt")
    if nodes:
        ax.scatter(*np.array(nodes).T, **SADDLE)
        for mg, (x, y) in zip(tree.merges, nodes):
            ax.annotate(f"s{mg.saddle}", (x, y), xytext=(3, 2), textcoords="offset points", fontsize=6)
    gs = {int(i) for i in np.asarray(net.ground_states).reshape(-1)}
    lv = tree.leaf_levels
    for k, leaf in enumerate(int(i) for i in tree.order):
        y = lv[leaf] if np.isfinite(lv[leaf]) else top
        ax.scatter([k], [y], **(GROUND if leaf in gs else ATTRACTOR))
        if not np.isfinite(lv[leaf]):
            ax.annotate("+∞", (k, y), xytext=(3, -8), textcoords="offset points", fontsize=7)
    names = [str(labels[int(i)]) if labels is not None else str(int(i)) for i in tree.order]
    ax.set_xticks(np.arange(len(tree.order)), names)
    ax.set_xlim(-0.6, len(tree.order) - 0.4)
    ax.set_xlabel("attractor")
    ax.set_ylabel("f" if level == "f" else f"W  [units of {eps_label(net)}]")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.fwpotential_tree = tree


def disconnectivity(net, *, level="f", ax=None, labels=None, title=None) -> Figure:
    """Disconnectivity graph: minima as leaves at their level, joined at the saddles in order of level.

    Parameters
    ----------
    net : TransitionNetwork or Landscape
        Needs ``attractor_values``, ``saddle_values``, ``saddle_joins``, ``energies``, ``costs`` and
        ``ground_states``.
    level : {"f", "W"}
        The vertical axis (:func:`disconnectivity_levels`):

        - ``"f"``: the loss; minimum i at f(x_i), saddle k at f(saddle k).
        - ``"W"``: the quasi-potential picture, units of ε (γ for SGD); minimum i at its W-graph energy
          W_i (min 0), the saddle joining i and j at min(W_i + costs[i, j], W_j + costs[j, i]).
          For Langevin this equals f - f*.
    ax : matplotlib Axes, optional
        Draw here (default: a new Figure of one column).
    labels : sequence (m,), optional
        Leaf labels (default: attractor indices).
    title : str, optional
        Default: the kind of dynamics.

    Returns
    -------
    Figure
        ``ax.fwpotential_tree`` holds the :class:`DisconnectivityTree` drawn. Ground states are
        stars, other minima circles, merging saddles crosses labelled ``s<index>``; saddles that join
        branches already joined are not drawn; an attractor at +inf is drawn at the top, marked +∞.

    Raises
    ------
    InputError
        Unknown level; level="f" without a loss; labels of the wrong length; inconsistent fields.
    """
    lv, sv = disconnectivity_levels(net, level)
    tree = disconnectivity_tree(lv, sv, np.asarray(net.saddle_joins, dtype=np.int64).reshape(-1, 2))
    if labels is not None and len(labels) != len(lv):
        raise InputError(f"{len(lv)} attractors but {len(labels)} labels")
    with rc_style():
        fig, ax = _figure_and_axes(ax, COLUMN, 0.8 * COLUMN)
        _draw_tree(ax, net, tree, level=level, labels=labels)
        ax.set_title(title_of(net, title) or "")
    return fig


def disconnectivity_pair(comparison, ax=None, *, langevin_level="f") -> Figure:
    """Langevin's and SGD's disconnectivity graphs side by side (one loss, matched attractors).

    Left: the Langevin network over f - f* (``langevin_level="f"``, f* the lowest minimum; equal to
    its W for Langevin) or over its W (``"W"``). Right: the SGD network over W (units of γ). SGD leaves
    are labelled with the index of the matched Langevin attractor (``S<i>`` when unmatched), so equal
    labels are the same minimum; ground states are stars; the title says whether they agree.

    Parameters
    ----------
    comparison : Comparison
        With ``langevin`` and ``sgd`` TransitionNetworks (or Landscapes) and ``matched``.
    ax : pair of Axes, optional
        Default: a new Figure of page width.

    Returns
    -------
    Figure
        Each Axes holds its tree in ``ax.fwpotential_tree``.
    """
    if langevin_level not in LEVELS:
        raise InputError(f"unknown langevin_level {langevin_level!r}; choose one of {list(LEVELS)}")
    L, S = comparison.langevin, comparison.sgd
    matched = np.asarray(comparison.matched, dtype=np.int64).reshape(-1)
    if len(matched) != len(S.attractors):
        raise InputError(f"comparison.matched has {len(matched)} entries for {len(S.attractors)} SGD attractors")
    with rc_style():
        if ax is None:
            fig = new_figure(PAGE, 0.4 * PAGE)
            axs = fig.subplots(1, 2)
        else:
            axs = list(ax)
            if len(axs) != 2:
                raise InputError(f"ax must be a pair of Axes, got {len(axs)}")
            fig = axs[0].figure
        lv, sv = disconnectivity_levels(L, langevin_level)
        shift = float(np.min(lv)) if langevin_level == "f" else 0.0
        tree = disconnectivity_tree(lv - shift, sv - shift, np.asarray(L.saddle_joins, dtype=np.int64).reshape(-1, 2))
        _draw_tree(axs[0], L, tree, level=langevin_level, labels=None)
        if langevin_level == "f":
            axs[0].set_ylabel("f − f*  (= W for Langevin)  [units of ε]")
        labels = [str(j) if j >= 0 else f"S{i}" for i, j in enumerate(matched)]
        lv, sv = disconnectivity_levels(S, "W")
        tree = disconnectivity_tree(lv, sv, np.asarray(S.saddle_joins, dtype=np.int64).reshape(-1, 2))
        _draw_tree(axs[1], S, tree, level="W", labels=labels)
        axs[0].set_title("Langevin: ground state " + ", ".join(str(int(i)) for i in L.ground_states))
        axs[1].set_title("SGD: ground state " + ", ".join(labels[int(i)] for i in S.ground_states))
        verdict = "same ground states" if comparison.same_ground_states else "DIFFERENT ground states"
        fig.suptitle(f"Disconnectivity graphs: {verdict}")
    return fig


def _figure_and_axes(ax, width, height):
    if ax is None:
        fig = new_figure(width, height)
        return fig, fig.add_subplot()
    return ax.figure, ax


# ---------------------------------------------------------------------------------------------
# paths
def _named_paths(paths):
    """[(label, ActionPath)] and the network they came from (or None)."""
    net = paths if hasattr(paths, "paths") and hasattr(paths, "attractors") else None
    if net is not None:
        paths = net.paths
    if hasattr(paths, "points") and hasattr(paths, "action_profile"):
        return [("", paths)], net
    if isinstance(paths, dict):
        items = [(_path_label(k), p) for k, p in paths.items()]
    else:
        items = [(f"#{n}", p) for n, p in enumerate(paths)]
    if not items:
        raise InputError("no paths to draw (an empty collection, or a network without saddles)")
    for lab, p in items:
        if not (hasattr(p, "points") and hasattr(p, "action_profile")):
            raise InputError(f"expected ActionPaths, got {type(p).__name__} for {lab}")
    return items, net


def _path_label(key):
    if isinstance(key, tuple) and len(key) == 2:
        return f"{key[0]} → s{key[1]}"
    return str(key)


def path_profile(path, ax=None, *, dynamics=None) -> Figure:
    """The cumulative action V along a path and, where there is a loss, f - f(start), against arc length.

    Parameters
    ----------
    path : ActionPath, a sequence or dict of them, or a TransitionNetwork (all its paths)
        Its ``arclength`` (n,) and ``action_profile`` (n,) (cumulative ∫ <θ̂, φ'>, units of ε).
    ax : Axes, optional
        Draw here (f on a twin Axes to its right); default a new Figure of one column.
    dynamics : Dynamics or Loss, optional
        For f along the path (default: the network's dynamics); omitted or without a loss: the action only.

    Returns
    -------
    Figure
        Action: solid lines on the left axis; f - f(start): dashed on the right. For Langevin
        (V = f - f*) the two agree on an uphill path to a saddle.
    """
    items, net = _named_paths(path)
    dyn = dynamics if dynamics is not None else getattr(net, "dynamics", None)
    loss = getattr(dyn, "loss", None) if hasattr(dyn, "drift") else dyn
    with rc_style():
        fig, ax = _figure_and_axes(ax, COLUMN, 0.75 * COLUMN)
        ax2 = ax.twinx() if loss is not None else None
        for n, (lab, p) in enumerate(items):
            s, prof = np.asarray(p.arclength, float), np.asarray(p.action_profile, float)
            if s.shape != prof.shape or s.shape != (len(p.points),):
                raise InputError(f"path {lab}: arclength {s.shape} and action_profile {prof.shape} must be (n_points,)")
            colour = f"C{n % 10}"
            ax.plot(s, np.where(np.isfinite(prof), prof, np.nan), "-", color=colour, label=lab or None)
            if ax2 is not None:
                f = np.asarray(loss.value(np.asarray(p.points, float)), float)
                ax2.plot(s, f - f[0], "--", color=colour)
        ax.set_xlabel("arc length")
        ax.set_ylabel(f"cumulative action V  [units of {eps_label(net) if net is not None else 'ε'}]")
        if ax2 is not None:
            ax2.set_ylabel("f − f(start)  (dashed)")
        if len(items) > 1 and len(items) <= 8:
            ax.legend(frameon=False, fontsize=6, loc="best")
        ax.grid(alpha=0.3)
    return fig


@dataclass(frozen=True, repr=False)
class PrincipalPlane:
    """The leading principal directions of a cloud of points.

    Attributes
    ----------
    mean : ndarray (d,)
    components : ndarray (r, d)
        Orthonormal rows, r = min(2, d, n - 1) (at least 1).
    explained : ndarray (r,)
        Fraction of the total variance along each component.
    """

    mean: np.ndarray
    components: np.ndarray
    explained: np.ndarray

    def project(self, x) -> np.ndarray:
        """Coordinates (..., 2) of points x (..., d) in the plane (0 in a missing second direction)."""
        x = np.asarray(x, dtype=float)
        if x.shape[-1] != len(self.mean):
            raise InputError(f"points must have d = {len(self.mean)} coordinates, got shape {x.shape}")
        z = (x - self.mean) @ self.components.T
        if z.shape[-1] == 1:
            z = np.concatenate([z, np.zeros_like(z)], axis=-1)
        return z

    def __repr__(self):
        return f"PrincipalPlane(d={len(self.mean)}, explained={np.round(self.explained, 4).tolist()})"


def principal_plane(points) -> PrincipalPlane:
    """The two leading principal components of points (n, d), by the SVD of the centred cloud.

    Cost O(n · d · min(n, d)). Raises InputError for fewer than 2 points, non-finite entries or a
    cloud with no spread.
    """
    X = np.asarray(points, dtype=float)
    if X.ndim != 2 or len(X) < 2:
        raise InputError(f"principal_plane needs points of shape (n >= 2, d), got {X.shape}")
    if not np.all(np.isfinite(X)):
        raise InputError("principal_plane: the points have non-finite entries")
    mean = X.mean(axis=0)
    _, sing, vt = np.linalg.svd(X - mean, full_matrices=False)
    total = float(np.sum(sing**2))
    if not total > 0:
        raise InputError("principal_plane: all points coincide (no spread to project)")
    r = max(1, min(2, int(np.sum(sing > sing[0] * 1e-12))))
    return PrincipalPlane(mean=mean, components=vt[:r].copy(), explained=sing[:r] ** 2 / total)


def path_projection(paths, ax=None, attractors=None, saddles=None) -> Figure:
    """Paths projected on the two leading principal components of all their points.

    Parameters
    ----------
    paths : ActionPath, a sequence or dict of them, or a TransitionNetwork
        A network also gives the attractors (ground states as stars) and saddles.
    ax : Axes, optional
    attractors, saddles : (m, d), (k, d), optional
        Points to mark (projected on the same plane).

    Returns
    -------
    Figure
        Axes labelled with the fraction of variance each component explains; the
        :class:`PrincipalPlane` is ``ax.fwpotential_plane``.
    """
    items, net = _named_paths(paths)
    d = {np.shape(p.points)[1] if np.ndim(p.points) == 2 else -1 for _, p in items}
    if len(d) != 1 or -1 in d:
        raise InputError(f"all paths must be (n_points, d) arrays of one dimension d, got d in {sorted(d)}")
    plane = principal_plane(np.concatenate([np.asarray(p.points, float) for _, p in items]))
    if net is not None:
        attractors = net.attractors if attractors is None else attractors
        saddles = net.saddles if saddles is None else saddles
    gs = {int(i) for i in np.asarray(getattr(net, "ground_states", [])).reshape(-1)}
    with rc_style():
        fig, ax = _figure_and_axes(ax, COLUMN, 0.85 * COLUMN)
        for n, (lab, p) in enumerate(items):
            z = plane.project(p.points)
            ax.plot(z[:, 0], z[:, 1], "-", color=f"C{n % 10}", label=lab or None)
        if attractors is not None and len(attractors):
            za = plane.project(np.atleast_2d(attractors))
            for i, (u, v) in enumerate(za):
                ax.scatter([u], [v], **(GROUND if i in gs else ATTRACTOR))
                ax.annotate(str(i), (u, v), xytext=(4, 3), textcoords="offset points", fontsize=7)
        if saddles is not None and len(saddles):
            zs = plane.project(np.atleast_2d(saddles))
            ax.scatter(zs[:, 0], zs[:, 1], **SADDLE)
        ex = list(plane.explained) + [0.0]
        ax.set_xlabel(f"PC1 ({100 * ex[0]:.1f} % of variance)")
        ax.set_ylabel(f"PC2 ({100 * ex[1]:.1f} % of variance)")
        if 1 < len(items) <= 8:
            ax.legend(frameon=False, fontsize=6)
        ax.grid(alpha=0.3)
        ax.fwpotential_plane = plane
    return fig
