"""Random numbers of the Monte Carlo chains (private; Numba).

Every chain owns a xoshiro256** state (4 uint64, a row of ``S``) seeded from
``np.random.SeedSequence(seed).spawn(n_chains)`` (:mod:`fwpotential.montecarlo.seeding`); normals by
Doornik's ziggurat (ZIGNOR, 128 blocks). A chain's stream never depends on the thread that runs it,
nor on how chains and steps are blocked, so results are identical for any thread count and across
checkpoints. The model hooks (:mod:`fwpotential.montecarlo.codegen`) link these functions.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True)
def rng_next(st):
    """xoshiro256** (Blackman & Vigna 2018): next uint64 of the state ``st`` (4 uint64, updated in place)."""
    s0, s1, s2, s3 = st[0], st[1], st[2], st[3]
    t = s1 * np.uint64(5)
    r = ((t << np.uint64(7)) | (t >> np.uint64(57))) * np.uint64(9)
    u = s1 << np.uint64(17)
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= u
    s3 = (s3 << np.uint64(45)) | (s3 >> np.uint64(19))
    st[0], st[1], st[2], st[3] = s0, s1, s2, s3
    return r


@njit(cache=True)
def rng_uniform(st):
    """Uniform double in [0, 1) with 53 random bits."""
    return np.float64(np.int64(rng_next(st) >> np.uint64(11))) * 1.1102230246251565e-16  # int64: one cvtsi2sd


@njit(cache=True)
def rng_index(st, n):
    """Uniform integer in [0, n), n < 2^32 (from a 53-bit uniform; relative bias below n 2^-53)."""
    k = np.int64(rng_uniform(st) * n)
    return k if k < n else n - 1


def _zignor_tables(C=128, R=3.442619855899, V=9.91256303526217e-3):
    X = np.zeros(C + 1)
    f = math.exp(-0.5 * R * R)
    X[0] = V / f
    X[1] = R
    for i in range(2, C):
        X[i] = math.sqrt(-2.0 * math.log(V / X[i - 1] + f))
        f = math.exp(-0.5 * X[i] * X[i])
    return X, X[1:] / X[:-1]


ZIG_X, ZIG_RATIO = _zignor_tables()
ZIG_R = 3.442619855899


@njit(cache=True)
def _normal_slow(st, i, u):
    """Rejected fast-path draw of :func:`rng_normal`: the wedge test of layer i, or the tail (i = 0).
    Returns NaN when the draw is rejected (the caller then starts over)."""
    if i == 0:  # tail beyond R (Marsaglia)
        while True:
            x = math.log(1.0 - rng_uniform(st)) / ZIG_R
            y = math.log(1.0 - rng_uniform(st))
            if -2.0 * y >= x * x:
                return x - ZIG_R if u < 0 else ZIG_R - x
    x = u * ZIG_X[i]
    f0 = math.exp(-0.5 * (ZIG_X[i] * ZIG_X[i] - x * x))
    f1 = math.exp(-0.5 * (ZIG_X[i + 1] * ZIG_X[i + 1] - x * x))
    if f1 + rng_uniform(st) * (f0 - f1) < 1.0:
        return x
    return np.nan


@njit(cache=True)
def rng_normal(st):
    """Standard normal by the ziggurat method (Doornik 2005, ZIGNOR): layer from the low 7 bits and
    the uniform from the top 53 bits of one draw; exact tail by Marsaglia's method. The fast path
    (98.8 % of draws) is inlined; wedges and the tail are an out-of-line call."""
    while True:
        r = rng_next(st)
        i = np.int64(r & np.uint64(127))
        # 2 (k 2^-53) - 1 = k 2^-52 - 1 exactly; k < 2^53 converts exactly through int64
        u = np.float64(np.int64(r >> np.uint64(11))) * 2.220446049250313e-16 - 1.0
        if abs(u) < ZIG_RATIO[i]:
            return u * ZIG_X[i]
        z = _normal_slow(st, i, u)
        if z == z:
            return z


@njit(cache=True)
def fill_normals(st, z, start, stride, count):
    """``count`` normals of the stream ``st`` into z[start], z[start + stride], ...: the same numbers
    as ``count`` calls of :func:`rng_normal`, with the state held in registers in between."""
    s0, s1, s2, s3 = st[0], st[1], st[2], st[3]
    for j in range(count):
        while True:
            t = s1 * np.uint64(5)
            r = ((t << np.uint64(7)) | (t >> np.uint64(57))) * np.uint64(9)
            w = s1 << np.uint64(17)
            s2 ^= s0
            s3 ^= s1
            s1 ^= s2
            s0 ^= s3
            s2 ^= w
            s3 = (s3 << np.uint64(45)) | (s3 >> np.uint64(19))
            i = np.int64(r & np.uint64(127))
            u = np.float64(np.int64(r >> np.uint64(11))) * 2.220446049250313e-16 - 1.0
            if abs(u) < ZIG_RATIO[i]:
                z[start + j * stride] = u * ZIG_X[i]
                break
            st[0], st[1], st[2], st[3] = s0, s1, s2, s3
            v = _normal_slow(st, i, u)
            s0, s1, s2, s3 = st[0], st[1], st[2], st[3]
            if v == v:
                z[start + j * stride] = v
                break
    st[0], st[1], st[2], st[3] = s0, s1, s2, s3


@njit(cache=True)
def fill_indices(st, idx, count, n):
    """``count`` indices uniform in [0, n) into idx[:count]: the same as ``count`` calls of
    :func:`rng_index`, with the state held in registers in between."""
    s0, s1, s2, s3 = st[0], st[1], st[2], st[3]
    for j in range(count):
        t = s1 * np.uint64(5)
        r = ((t << np.uint64(7)) | (t >> np.uint64(57))) * np.uint64(9)
        w = s1 << np.uint64(17)
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= w
        s3 = (s3 << np.uint64(45)) | (s3 >> np.uint64(19))
        k = np.int64(np.float64(np.int64(r >> np.uint64(11))) * 1.1102230246251565e-16 * n)
        idx[j] = k if k < n else n - 1
    st[0], st[1], st[2], st[3] = s0, s1, s2, s3


@njit(cache=True)
def floyd_indices(st, idx, count, n):
    """``count`` distinct indices in [0, n) by Floyd's algorithm (uniform subset, in draw order)."""
    for j in range(count):
        jj = n - count + j
        pick = rng_index(st, jj + 1)
        for q in range(j):
            if idx[q] == pick:
                pick = jj
                break
        idx[j] = pick


@njit(cache=True)
def seed_states(keys):
    """Copy of the seeds, rejecting the all-zero xoshiro state (never produced in practice)."""
    S = keys.copy()
    for c in range(S.shape[0]):
        if S[c, 0] == 0 and S[c, 1] == 0 and S[c, 2] == 0 and S[c, 3] == 0:
            S[c, 0] = np.uint64(1)
    return S


@njit(cache=True)
def normals(keys, n):
    """n normals per chain from fresh states (tests of the generator), shape (n_chains, n)."""
    S = seed_states(keys)
    out = np.empty((S.shape[0], n))
    for c in range(S.shape[0]):
        st = S[c]
        for k in range(n):
            out[c, k] = rng_normal(st)
    return out
