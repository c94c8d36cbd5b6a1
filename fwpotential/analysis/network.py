"""Transition networks: the Freidlin–Wentzell picture without a grid, in any dimension.

Attractors from local minimisation, index-1 saddles between them, pairwise costs from minimum action
paths to the saddles, W-graph energies, ground states and their weights (theory.md §3–5). A
:class:`TransitionNetwork` has the fields of a :class:`~fwpotential.analysis.landscapes.Landscape`
that do not need a grid, with the same names and meanings, so comparisons, Monte Carlo checks,
reports and figures take either.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy.integrate import quad

from fwpotential.analysis import wgraph
from fwpotential.analysis.landscapes import energy_summary
from fwpotential.analysis.prefactor import KINDS
from fwpotential.analysis.weights import hwang_weights, laplace_masses
from fwpotential.errors import ConvergenceError, FWWarning, InputError
from fwpotential.model.dynamics import coerce_dynamics
from fwpotential.paths.mam import METHODS as PATH_METHODS
from fwpotential.paths.mam import min_action_path, reversed_descent
from fwpotential.paths.minima import find_minima
from fwpotential.paths.saddles import saddle_between

__all__ = ["TransitionNetwork", "transition_network", "MAX_DENSE_DIM"]

#: Largest dimension in which the Lyapunov Hessians of V (dense O(d³) solves) are computed.
MAX_DENSE_DIM = 3000


@dataclass(frozen=True, repr=False)
class TransitionNetwork:
    """Attractors, saddles, costs and energies of one dynamics in any dimension, from paths.

    Attributes
    ----------
    dynamics, method
        What produced it (``method``: the path method, "gmam", "sgmam" or "string").
    attractors : ndarray (m, d)
        Stable equilibria (local minima of f for gradient dynamics).
    attractor_values : ndarray (m,)
        f at the attractors (NaN without a loss).
    saddles : ndarray (k, d)
        Index-1 saddles found between pairs of attractors.
    saddle_values : ndarray (k,)
        f at the saddles (NaN without a loss).
    saddle_joins : ndarray (k, 2) of int
        The attractors the two branches of each saddle's unstable manifold reach (-1: none found).
    costs : ndarray (m, m)
        costs[i, j] = V(K_i → K_j): the least action from attractor i to a saddle joining i and j
        (then free descent to j); +inf when no saddle joining them was found; 0 on the diagonal.
    cost_errors : ndarray (m, m)
        Error estimate of each finite cost: the action change when the path's n_points is halved.
    energies : ndarray (m,)
        W-graph energies, minimum 0; +inf for an attractor no W-graph reaches.
    energy_errors : ndarray (m,)
        Error estimates of the energies (from ``cost_errors`` along the minimising graphs).
    ground_states : ndarray of int
        Attractors whose energy is within ``tie_tol`` of the minimum.
    near_ties : list of (i, j, gap)
        Pairs whose energies differ by more than tie_tol but less than 10 × tie_tol.
    tie_tol : float
    paths : dict
        (attractor i, saddle k) → :class:`~fwpotential.paths.mam.ActionPath` from x_i to saddle k.
    info : dict
        Provenance: path method and options, minima search, saddle searches (with the reason for
        every pair that got no saddle), unreachable_pairs, seconds, stages, warnings.
    """

    dynamics: object
    method: str
    attractors: np.ndarray
    attractor_values: np.ndarray
    saddles: np.ndarray
    saddle_values: np.ndarray
    saddle_joins: np.ndarray
    costs: np.ndarray
    cost_errors: np.ndarray
    energies: np.ndarray
    energy_errors: np.ndarray
    ground_states: np.ndarray
    near_ties: list
    tie_tol: float
    paths: dict
    info: dict

    @property
    def dim(self) -> int:
        return int(np.shape(self.attractors)[1])

    # ---- Hessians and weights ----------------------------------------------------------------
    def hessians(self) -> np.ndarray:
        """∇²V at the attractors, (m, d, d): C⁻¹ from the Lyapunov equation J C + C Jᵀ + a = 0
        (exact; dense, O(d³) per attractor).

        Raises
        ------
        InputError
            d > :data:`MAX_DENSE_DIM`: the dense solve is too large; use ``hwang_log_dets`` of a
            gradient model or compare weights in a projected model.
        """
        if self.dim > MAX_DENSE_DIM:
            raise InputError(
                f"the Hessians of V need a dense {self.dim}×{self.dim} Lyapunov solve per attractor "
                f"(O(d³); implemented up to d = {MAX_DENSE_DIM}); the energies and costs do not need them"
            )
        return np.stack([self.dynamics.potential_hessian(x) for x in self.attractors])

    def hwang_weights(self) -> np.ndarray:
        """Hwang's weights over ``ground_states`` (same order), ∝ det(∇²V(x_i))^(-1/2), summing to 1."""
        gs = self.ground_states
        if len(gs) == 0:
            return np.zeros(0)
        if len(gs) == 1:
            return np.ones(1)
        return hwang_weights(self.hessians()[gs])

    def prefactors(self, kind="hwang") -> np.ndarray:
        """K(x_i) det(∇²V(x_i))^(-1/2) per attractor, relative (max 1).

        ``"hwang"``: K ≡ 1. ``"diffusion"`` and ``"chain"`` (theory.md §5) in closed form for b = -∇f
        with a = s(f) I: log K_i = log s(f_i) - log s(f at the saddle chain) as for a Landscape; other
        dynamics raise InputError (their fluctuation paths are implemented on 2-D and 3-D grids).
        """
        if kind not in KINDS:
            raise InputError(f"unknown kind {kind!r}; choose one of {list(KINDS)}")
        logk = np.zeros(len(self.attractors)) if kind == "hwang" else self._log_k_gradient(kind)
        with np.errstate(invalid="ignore"):
            logdet = np.array([np.linalg.slogdet(h)[1] for h in self.hessians()])
        logc = logk - 0.5 * logdet
        return np.exp(logc - np.nanmax(logc))

    def _log_k_gradient(self, kind):
        s_of_f = self.dynamics.loss_variance()
        if s_of_f is None:
            raise InputError(
                f"prefactors of kind {kind!r} for {self.dynamics.name!r} without a grid: implemented for "
                "b = -grad f with a = s(f) I (Langevin, isotropic SGD); use kind='hwang' or a 2-D/3-D landscape"
            )
        if kind == "chain":
            raise InputError(
                "kind='chain' needs the descent paths of a grid landscape; use kind='diffusion' or 'hwang'"
            )
        # a = s(f) I: K ∝ 1 / s(f) at each attractor (the saddle factors cancel along each chain)
        return -np.log(s_of_f(np.asarray(self.attractor_values, dtype=float)))

    def weights(self, kind="hwang") -> np.ndarray:
        """Limit weights over ``ground_states`` (same order): ∝ K(x_i) det(∇²V(x_i))^(-1/2)."""
        if kind not in KINDS:
            raise InputError(f"unknown kind {kind!r}; choose one of {list(KINDS)}")
        if kind == "hwang" or len(self.ground_states) <= 1:
            return self.hwang_weights()
        c = self.prefactors(kind)[self.ground_states]
        return c / c.sum()

    def weights_or_nan(self, kind="hwang") -> np.ndarray:
        """:meth:`weights`, NaN where they are not defined (shape (len(ground_states),))."""
        try:
            return np.asarray(self.weights(kind), float)
        except (InputError, ConvergenceError, np.linalg.LinAlgError):
            return np.full(len(self.ground_states), np.nan)

    def predicted_masses(self, eps, kind="hwang") -> np.ndarray:
        """Basin masses at noise level ε: ∝ prefactor_i exp(-W_i/ε), normalised (NaN when no energy
        is finite)."""
        return laplace_masses(self, eps, kind)

    # ---- presentation ----------------------------------------------------------------------
    def to_dict(self) -> dict:
        """Plain Python structure for reports: dynamics, method, attractors, f, energies,
        energy_errors, ground_states, weights (NaN where undefined), costs, saddles, seconds."""
        return {
            **energy_summary(self),
            "saddles": [
                {"point": np.asarray(s).tolist(), "f": float(f), "joins": [int(i) for i in j]}
                for s, f, j in zip(self.saddles, self.saddle_values, self.saddle_joins)
            ],
            "seconds": self.info.get("seconds"),
        }

    def __repr__(self):
        return (
            f"TransitionNetwork({self.dynamics.name!r}, method={self.method!r}, d={self.dim}, "
            f"{len(self.attractors)} attractors, {len(self.saddles)} saddles, ground states {list(self.ground_states)})"
        )


# -------------------------------------------------------------------------------------------------
def transition_network(
    dynamics,
    *,
    starts=None,
    minima=None,
    method="gmam",
    n_points=100,
    tie_tol=None,
    saddles=None,
    **path_options,
) -> TransitionNetwork:
    """Attractors, saddles, costs, W-graph energies and ground states without a grid, any dimension.

    Parameters
    ----------
    dynamics : Dynamics (or a Loss / expression: its Langevin dynamics)
    starts : (k, d), optional
        Starting points for the minima search (:func:`~fwpotential.paths.minima.find_minima`).
    minima : (m, d), optional
        Known stable equilibria instead (polished by the same search, one start each).
    method : {"gmam", "sgmam", "string"}
        Path method for the costs (:func:`~fwpotential.paths.mam.min_action_path`).
    n_points : int
        Points per path; each path's error estimate compares with n_points // 2.
    tie_tol : float, optional
        Energies within this of the minimum are tied ground states; default 3 × the largest energy
        error estimate (at least 1e-9 (1 + max W)).
    saddles : sequence of Saddle or a TransitionNetwork, optional
        Index-1 saddles already found for the same drift (e.g. the Langevin network of the same
        loss, whose drift -∇f SGD shares): the saddle searches are skipped.
    **path_options
        Passed to :func:`~fwpotential.paths.mam.min_action_path` (tol, max_iter, ...).

    Returns
    -------
    TransitionNetwork

    Notes
    -----
    costs[i, j] = min over the saddles joining i and j of V(x_i → saddle) (the descent from the
    saddle to x_j is free). For b = -∇f with a = s(f) I the cost has the closed form
    2 ∫ df / s(f) from f(x_i) to f(saddle) (theory.md §3), which is used (exact); the path is the
    reversed descent from the saddle (:func:`~fwpotential.paths.mam.reversed_descent`), for the
    figures and as a check (``info["closed_form_check"]``: the largest relative difference between
    the paths' actions and the closed-form costs). Pairs with no saddle found get +inf and
    ``info["saddle_searches"]`` says why.
    """
    t0 = time.perf_counter()
    dyn = coerce_dynamics(dynamics)
    if method not in PATH_METHODS:
        raise InputError(f"unknown method {method!r}; choose one of {sorted(PATH_METHODS)}")
    stages, notes = {}, []
    mins = _minima(dyn, starts, minima)
    att = mins.points
    stages["minima"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    found, searches = _saddles(dyn, att, saddles, notes)
    stages["saddles"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    closed = dyn.loss_variance() is not None
    path_method = method
    costs, errs, paths, check = _costs(dyn, att, found, path_method, n_points, path_options, closed)
    stages["paths"] = time.perf_counter() - t2
    W_raw = wgraph.energies(costs)
    E_err = _energy_errors(costs, errs, W_raw)
    energies, ground, near_ties, tie_tol = wgraph.ground_states(W_raw, E_err, tie_tol)
    if not np.isfinite(W_raw).any():
        notes.append("no W-graph has finite weight: the attractors cannot reach each other through the saddles found")
        warnings.warn(notes[-1], FWWarning, stacklevel=2)
    info = {
        "path_method": path_method,
        "closed_form_costs": closed,
        "closed_form_check": check if closed else None,
        "options": dict(path_options, n_points=n_points),
        "minima": mins.info,
        "saddle_searches": searches,
        "unreachable_pairs": [(int(i), int(j)) for i, j in zip(*np.nonzero(np.isinf(costs)))],
        "seconds": time.perf_counter() - t0,
        "stages": stages,
        "warnings": notes,
    }
    pts = np.array([s.point for s in found]).reshape(-1, dyn.dim)
    return TransitionNetwork(
        dynamics=dyn,
        method=path_method,
        attractors=att,
        attractor_values=np.asarray(mins.values, dtype=float),
        saddles=pts,
        saddle_values=np.array([s.value for s in found], dtype=float),
        saddle_joins=np.array([s.joins for s in found], dtype=np.int64).reshape(-1, 2),
        costs=costs,
        cost_errors=errs,
        energies=energies,
        energy_errors=E_err,
        ground_states=ground,
        near_ties=near_ties,
        tie_tol=float(tie_tol),
        paths=paths,
        info=info,
    )


def _minima(dyn, starts, minima):
    if (starts is None) == (minima is None):
        raise InputError("give exactly one of starts=(k, d) points for the minima search or minima=(m, d)")
    pts = np.atleast_2d(np.asarray(starts if minima is None else minima, dtype=float))
    if pts.ndim != 2 or pts.shape[1] != dyn.dim:
        raise InputError(f"starts/minima must have shape (k, {dyn.dim}), got {pts.shape}")
    mins = find_minima(dyn, pts)
    if len(mins.points) == 0:
        raise InputError(f"no stable equilibrium found from the {len(pts)} points given ({mins.info})")
    return mins


class _SaddleRow(NamedTuple):
    point: np.ndarray
    value: float
    joins: tuple


def _saddles(dyn, att, given, notes):
    """Index-1 saddles between every pair of attractors (deduplicated), and the search reports."""
    if isinstance(given, TransitionNetwork):
        rows = zip(given.saddles, given.saddle_values, given.saddle_joins)
        return [_SaddleRow(np.asarray(p), float(v), tuple(int(i) for i in j)) for p, v, j in rows], [
            {"pair": None, "reason": "saddles taken from a network of the same drift"}
        ]
    if given is not None:
        return list(given), [{"pair": None, "reason": "saddles given"}]
    found, searches = [], []
    scale = 1.0 + float(np.ptp(att, axis=0).max()) if len(att) > 1 else 1.0
    for i in range(len(att)):
        for j in range(i + 1, len(att)):
            res = saddle_between(dyn, att[i], att[j], minima=att)
            searches.append({"pair": (i, j), "reason": res.reason, "found": res.saddle is not None})
            if res.saddle is None:
                notes.append(f"no saddle between attractors {i} and {j}: {res.reason}")
                continue
            if all(np.linalg.norm(res.saddle.point - s.point) > 1e-6 * scale for s in found):
                found.append(res.saddle)
    return found, searches


def _costs(dyn, att, saddles, method, n_points, options, closed):
    m = len(att)
    costs, errs = np.full((m, m), np.inf), np.full((m, m), np.inf)
    np.fill_diagonal(costs, 0.0)
    np.fill_diagonal(errs, 0.0)
    paths, check = {}, 0.0
    for k, s in enumerate(saddles):
        ends = [int(i) for i in s.joins if i >= 0]
        for i in ends:
            if closed:  # the cost is exact; the path (for figures and the check) is the reversed descent
                p = reversed_descent(dyn, att[i], s.point, n_points=n_points)
            else:
                p = min_action_path(dyn, att[i], s.point, n_points=n_points, method=method, **options)
            paths[(i, k)] = p
            c, e = (_closed_cost(dyn, att[i], s.point), 0.0) if closed else (p.action, p.error_estimate)
            check = max(check, abs(p.action - c) / max(abs(c), 1e-300)) if closed else check
            for j in ends:
                if j != i and c < costs[i, j]:
                    costs[i, j], errs[i, j] = c, e
    return costs, errs, paths, check


def _closed_cost(dyn, x, s):
    """2 ∫ df / s(f) from f(x) to f(s) for b = -∇f, a = s(f) I."""
    s_of_f = dyn.loss_variance()
    f0, f1 = float(dyn.loss.value(x)), float(dyn.loss.value(s))
    val, _ = quad(lambda f: 2.0 / float(s_of_f(np.array(f))), f0, f1, epsabs=1e-14, epsrel=1e-12)
    return float(val)


def _energy_errors(costs, errs, W_raw):
    """The largest change of the energies when every finite cost moves by its error estimate."""
    e = np.where(np.isfinite(errs), errs, 0.0)
    up, down = wgraph.energies(costs + e), wgraph.energies(np.maximum(costs - e, 0.0))
    with np.errstate(invalid="ignore"):
        out = np.fmax(np.abs(up - W_raw), np.abs(down - W_raw))
    return np.where(np.isfinite(W_raw), out, np.inf)
