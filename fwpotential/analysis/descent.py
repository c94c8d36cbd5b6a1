"""Minimum action paths read off computed quasi-potentials (theory.md §3).

Followed backwards, the steepest descent of V_{K_i} from a point is the minimum action path from
attractor i to that point where V is smooth (the fluctuation path has velocity ∂ₚH(x, ∇V)); for a
diffusion with isotropic noise the two coincide as curves. The figures draw these paths; they are
computed here, from the grid values alone.
"""

from __future__ import annotations

import numpy as np

from fwpotential.errors import InputError

__all__ = ["descent_path", "saddle_paths", "minimum_action_paths", "saddle_cut"]


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


def minimum_action_paths(land):
    """Minimum action paths of a landscape: from each saddle, descend V_{K_i} to each attractor i it joins."""
    out = []
    for s, joins in zip(land.saddles, land.saddle_joins):
        out += [p for _, p in saddle_paths(land, s, joins)]
    return out


def saddle_paths(land, s, joins):
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


def saddle_cut(land):
    """Points along attractor i → saddle → attractor j (minimum action paths), their arc length, a label."""
    g = land.grid
    for sd, joins in zip(land.saddles, land.saddle_joins):
        if joins[0] >= 0 and joins[1] >= 0 and joins[0] != joins[1]:
            paths = {}
            for p in saddle_paths(land, sd, joins):
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
