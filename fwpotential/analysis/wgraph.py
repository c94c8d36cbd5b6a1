"""Freidlin–Wentzell W-graph energies from pairwise costs (theory.md §4).

W_i = min over i-graphs g of Σ_{(j→k) ∈ g} V_jk: an i-graph has one arrow out of every j ≠ i and
no cycles, i.e. a spanning arborescence directed to i. Computed with the Chu–Liu/Edmonds
algorithm (on the reversed graph) or, for small m, by exact enumeration.
"""

from __future__ import annotations

import itertools

import numpy as np

from fwpotential.errors import InputError

__all__ = ["energies", "min_in_arborescence", "ground_states"]


def _check_costs(costs):
    C = np.array(costs, dtype=float)
    if C.ndim != 2 or C.shape[0] != C.shape[1]:
        raise InputError(f"costs must be a square (m, m) matrix, got shape {C.shape}")
    off = ~np.eye(len(C), dtype=bool)
    if np.isnan(C).any() or (C[off] < 0).any():
        raise InputError("costs must be >= 0 (+inf allowed for unreachable), without NaN")
    return C


def energies(costs, *, method="edmonds") -> np.ndarray:
    """W-graph energies W_i (not shifted), shape (m,); +inf where no i-graph has finite cost.

    Parameters
    ----------
    costs : (m, m) array
        costs[j, k] = V(K_j → K_k); the diagonal is ignored.
    method : {"edmonds", "enumerate"}
        Chu–Liu/Edmonds (any m), or brute force over all i-graphs (m ≤ 8; for cross-checks).

    Examples
    --------
    >>> energies([[0, 1.0], [3.0, 0]])   # W_0 = V_10, W_1 = V_01
    array([3., 1.])
    """
    C = _check_costs(costs)
    m = len(C)
    if method == "edmonds":
        return np.array([min_in_arborescence(C, i)[0] for i in range(m)])
    if method == "enumerate":
        if m > 8:
            raise InputError(f"method='enumerate' is for m <= 8 attractors, got {m}; use 'edmonds'")
        return np.array([_enumerate(C, i) for i in range(m)])
    raise InputError(f"unknown method {method!r}; choose 'edmonds' or 'enumerate'")


def min_in_arborescence(costs, root):
    """Minimum-weight spanning arborescence directed to ``root``: (weight, parent) with
    parent[j] the target of j's single outgoing arrow (parent[root] = -1)."""
    C = _check_costs(costs)
    m = len(C)
    if m == 1:
        return 0.0, np.array([-1])
    # an in-arborescence to root in C is an out-arborescence from root in Cᵀ
    edges = [(k, j, C[j, k]) for j in range(m) for k in range(m) if j != k and np.isfinite(C[j, k])]
    w, parent_rev = _edmonds(m, edges, root)
    if not np.isfinite(w):
        return np.inf, np.full(m, -1)
    return float(w), parent_rev


def _edmonds(n, edges, root):
    """Chu–Liu/Edmonds for a min out-arborescence from root; edges (u, v, w) mean u -> v.

    Returns (weight, pred) where pred[v] is v's chosen predecessor u (the arrow v -> u in the
    original in-arborescence)."""
    INF = np.inf
    # cheapest incoming edge per node
    best = [INF] * n
    pred = [-1] * n
    for u, v, w in edges:
        if v != root and u != v and w < best[v]:
            best[v], pred[v] = w, u
    if any(best[v] == INF for v in range(n) if v != root):
        return INF, None
    # find cycles
    comp = [-1] * n
    visit = [-1] * n
    n_comp = 0
    for v in range(n):
        x = v
        while x != root and visit[x] == -1 and comp[x] == -1:
            visit[x] = v
            x = pred[x]
        if x != root and comp[x] == -1 and visit[x] == v:  # a new cycle through x
            y = x
            while True:
                comp[y] = n_comp
                y = pred[y]
                if y == x:
                    break
            n_comp += 1
    if n_comp == 0:
        total = sum(best[v] for v in range(n) if v != root)
        return total, np.array([pred[v] if v != root else -1 for v in range(n)])
    cyc = comp[:]
    for v in range(n):
        if comp[v] == -1:
            comp[v] = n_comp
            n_comp += 1
    new_edges, origin = [], []
    for idx, (u, v, w) in enumerate(edges):
        cu, cv = comp[u], comp[v]
        if cu == cv:
            continue
        nw = w - best[v] if cyc[v] != -1 else w
        new_edges.append((cu, cv, nw))
        origin.append(idx)
    sub_w, sub_pred = _edmonds(n_comp, new_edges, comp[root])
    if sub_w == INF:
        return INF, None
    total = sub_w + sum(best[v] for v in range(n) if cyc[v] != -1)
    # expand: for each contracted node, the chosen entering edge fixes the pred of one cycle node
    result = [pred[v] if v != root else -1 for v in range(n)]
    # map chosen sub-edges back (pick the original edge with that component pair and minimal reduced cost)
    chosen = {}
    for (cu, cv, nw), idx in zip(new_edges, origin):
        if sub_pred[cv] == cu and (cv not in chosen or nw < chosen[cv][0]):
            chosen[cv] = (nw, idx)
    for _cv, (_, idx) in chosen.items():
        u, v, _ = edges[idx]
        result[v] = u
    return total, np.array(result)


def _enumerate(C, root):
    m = len(C)
    others = [j for j in range(m) if j != root]
    best = np.inf
    for targets in itertools.product(range(m), repeat=len(others)):
        parent = dict(zip(others, targets))
        if any(j == k for j, k in parent.items()):
            continue
        w = sum(C[j, k] for j, k in parent.items())
        if not w < best:
            continue
        ok = True
        for j in others:  # every chain must reach the root without a cycle
            seen, x = set(), j
            while x != root:
                if x in seen:
                    ok = False
                    break
                seen.add(x)
                x = parent[x]
            if not ok:
                break
        if ok:
            best = w
    return float(best)


def ground_states(W_raw, err, tie_tol=None):
    """Energies shifted to min 0, the ground states within ``tie_tol`` (default: 3 × the largest finite
    error estimate in ``err``, at least 1e-9 (1 + max W)), near ties (pairs within 10 × tie_tol) and the
    tie_tol used: ``(energies (m,), ground (k,) int, near_ties [(i, j, gap)], tie_tol)``."""
    m = len(W_raw)
    finite = np.isfinite(W_raw)
    Wmin = float(np.min(W_raw[finite])) if finite.any() else 0.0
    energies = W_raw - Wmin
    scale = 1e-9 * (1.0 + float(np.max(energies[np.isfinite(energies)], initial=0.0)))
    if tie_tol is None:
        finite_err = err[np.isfinite(err)]
        tie_tol = max(3.0 * float(finite_err.max()) if finite_err.size else 0.0, scale)
    elif tie_tol < 0:
        raise InputError(f"tie_tol must be >= 0, got {tie_tol}")
    ground = np.flatnonzero(energies <= tie_tol)
    near_ties = [
        (int(i), int(j), float(abs(energies[i] - energies[j])))
        for i in range(m)
        for j in range(i + 1, m)
        if np.isfinite(energies[i] - energies[j] if np.isfinite(energies[i]) else np.inf)
        and tie_tol < abs(energies[i] - energies[j]) < 10 * tie_tol
    ]
    return energies, ground, near_ties, tie_tol
