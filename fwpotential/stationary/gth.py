"""Stationary vector of a Markov chain by Grassmann–Taksar–Heyman state reduction.

GTH eliminates states from the last one without subtractions, so it stays accurate for the nearly
decomposable chains of small noise (transition probabilities spanning many orders of magnitude).
The matrix is stored by rows in a profile: row i keeps the columns [lo_i, hi_i], with lo_i <= i <= hi_i,
extended by the fill-in of the elimination; the cost is about n · width².

Used by the exact finite-step chain (:mod:`fwpotential.stationary.chain`) and by the Fokker–Planck
solver (:mod:`fwpotential.stationary.fokkerplanck`).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["gth_stationary", "profile_lower", "gth_solve"]


def gth_stationary(n, rows, cols, vals):
    """Stationary vector of the non-negative matrix P[rows, cols] = vals (n × n, no repeated entry),
    read as the transition weights of a chain: only the off-diagonal entries matter, and rows need
    not be normalised.

    Returns
    -------
    pi : ndarray (n,)
        Sums to 1 (zeros when ``status`` is 1).
    status : int
        0 ok, 1 when a state has no way down (the chain is not irreducible).
    """
    lo = np.arange(n, dtype=np.int64)
    hi = np.arange(n, dtype=np.int64)
    np.minimum.at(lo, rows, cols)
    np.maximum.at(hi, rows, cols)
    lo_f = profile_lower(lo, hi)
    offs = np.zeros(n + 1, np.int64)
    np.cumsum(hi - lo_f + 1, out=offs[1:])
    stored = np.zeros(int(offs[-1]))
    stored[offs[rows] + cols - lo_f[rows]] += vals
    return gth_solve(stored, offs[:-1].copy(), lo_f, hi)


@njit(cache=True)
def profile_lower(lo, hi):
    """Leftmost column of each row after GTH fill-in. Row i keeps columns [lo_i, hi_i]; eliminating
    state k (from the last) adds columns [lo_k, k) to every earlier row i with lo_i <= k <= hi_i."""
    n = lo.shape[0]
    out = lo.copy()
    for k in range(n - 1, 0, -1):
        for i in range(k):
            if out[i] <= k <= hi[i] and out[k] < out[i]:
                out[i] = out[k]
    return out


@njit(cache=True)
def gth_solve(vals, off, lo, hi):
    """Stationary vector of the chain stored by rows: P[i, j] = vals[off[i] + j - lo[i]] for
    lo[i] <= j <= hi[i] (lo already extended by fill-in, lo[i] <= i <= hi[i]). Grassmann, Taksar &
    Heyman (1985): state reduction from the last state without subtractions, then back substitution.

    Returns (pi, status): status 0 ok, 1 when a state has no way down (chain not irreducible).
    """
    n = lo.shape[0]
    S = np.zeros(n)
    for k in range(n - 1, 0, -1):
        s = 0.0
        for j in range(lo[k], k):
            s += vals[off[k] + j - lo[k]]
        if not (s > 0.0):
            return np.zeros(n), 1
        S[k] = s
        for i in range(k):
            if lo[i] <= k <= hi[i]:
                pik = vals[off[i] + k - lo[i]]
                if pik != 0.0:
                    w = pik / s
                    for j in range(lo[k], k):
                        vals[off[i] + j - lo[i]] += w * vals[off[k] + j - lo[k]]
    pi = np.zeros(n)
    pi[0] = 1.0
    for k in range(1, n):
        acc = 0.0
        for i in range(k):
            if lo[i] <= k <= hi[i]:
                acc += pi[i] * vals[off[i] + k - lo[i]]
        pi[k] = acc / S[k]
    tot = pi.sum()
    for k in range(n):
        pi[k] /= tot
    return pi, 0
