"""Results of :func:`fwpotential.simulate`: the run, its basin occupation and its exits."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from fwpotential.errors import InputError
from fwpotential.geometry.grid import Grid
from fwpotential.montecarlo.labels import labels_key, same_grid

__all__ = ["Run", "Occupation", "Exits", "STATUS"]

STATUS = {0: "ran to the end", 1: "diverged (non-finite or left the box |x_i| <= bound)", 2: "negative noise variance"}


@dataclass(frozen=True, repr=False)
class Occupation:
    """Fraction of (post burn-in) steps spent in each basin of the deterministic flow.

    Attributes
    ----------
    fractions : ndarray (m + 1,)
        Per attractor basin; the last entry is time with no basin (label -1 or off the grid).
    se : ndarray (m + 1,)
        Standard errors from the spread between chains (batch means, one batch per chain).
    n_chains : int
        Chains contributing.
    steps : int
        Chain-steps counted.
    series_steps, series : ndarray (k,), (k, m + 1)
        Cumulative counts over all chains at the end of each block of steps: the time series.
    per_chain : ndarray (n_chains, m + 1)
        Counted steps per chain and basin.
    """

    fractions: np.ndarray
    se: np.ndarray
    n_chains: int
    steps: int
    series_steps: np.ndarray
    series: np.ndarray
    per_chain: np.ndarray

    def log_ratio(self, i, j):
        """log(P_i / P_j) and its standard error (delta method over chains); ±inf when a basin was never visited."""
        return _log_ratio(self.per_chain, i, j)

    def __repr__(self):
        parts = ", ".join(f"{p:.4g}±{s:.2g}" for p, s in zip(self.fractions, self.se))
        return f"Occupation([{parts}], chains={self.n_chains}, steps={self.steps:.3g})"


@dataclass(frozen=True, repr=False)
class Exits:
    """Core-to-core transitions (milestoning) and mean exit times from each basin.

    An exit from basin i is counted when a chain that last visited the core of attractor i (nodes of
    basin i within ``core_radius`` × the distance to the nearest saddle or other attractor; for a
    network run, the part of basin i less than ``core_radius`` of the way to its saddles, seen at
    the label steps) enters the core of another attractor j; its exit time runs from the entry into
    core i.

    The mean exit time to report is ``rate_time``: it counts the chains still waiting at the end.
    ``mean_time`` averages completed exits only and is biased low under censoring (a chain that
    leaves during the run left early), badly so when most chains never leave.

    Attributes
    ----------
    counts : ndarray (m, m)
        counts[i, j]: transitions i → j over all chains.
    n_exits : ndarray (m,)
    rate_time, rate_se : ndarray (m,)
        Mean exit time in units of t = n γ (steps × step size), exponential maximum-likelihood
        (censoring-aware) estimate: total residence time after core entries, completed and still
        running, divided by the number of exits; SE = value/√n. NaN where no exit happened.
    mean_time, se_time : ndarray (m,)
        Mean over completed exits only, and its standard error (units of t); biased low under
        censoring. NaN where no exit happened.
    mean_steps : ndarray (m,)
        ``mean_time`` in steps.
    censored : ndarray (m,)
        Chains still in (the last core of) each basin at the end: counted in ``rate_time``, not in
        ``mean_time``.
    """

    counts: np.ndarray
    n_exits: np.ndarray
    mean_time: np.ndarray
    se_time: np.ndarray
    mean_steps: np.ndarray
    censored: np.ndarray
    rate_time: np.ndarray
    rate_se: np.ndarray

    def __repr__(self):
        parts = ", ".join(
            f"{t:.4g}±{s:.2g} (n={n}, {c} waiting)"
            for t, s, n, c in zip(self.rate_time, self.rate_se, self.n_exits, self.censored)
        )
        return f"Exits(mean exit times [{parts}])"


@dataclass(frozen=True, repr=False)
class Run:
    """Result of :func:`simulate`: final state and streaming statistics.

    Attributes
    ----------
    positions : ndarray (n_chains, d)
        Final positions (the first non-admissible iterate for chains that stopped).
    status : ndarray (n_chains,)
        0 ran to the end, 1 diverged (NaN/inf or left the box ``|x_i| <= bound``), 2 negative
        noise variance (see ``STATUS``). Stopped chains keep their statistics up to the stop.
    stopped_at : ndarray (n_chains,)
        Step at which each chain stopped (``n_steps`` for chains that ran to the end).
    step_size, n_steps, n_chains, seed, burn_in : run parameters
    counts : ndarray (n_chains, m + 1) or None
        Steps per basin (last column: no basin) after burn-in, per chain; for a network run,
        labelled samples (one every ``info["labels"]["label_every"]`` steps).
    transitions : ndarray (n_chains, m, m) or None
    tau_sum, tau_sq : ndarray (n_chains, m) or None
        Sums of exit times (steps) and of their squares, per chain and origin basin.
    core, core_entry : ndarray (n_chains,) or None
        Last core visited per chain (-1: none yet) and the step it was entered.
    hist, hist_grid : ndarray (grid shape) of int, Grid, or None
        Visit counts of the nearest grid node after burn-in.
    series_steps, series : block-end steps and cumulative occupation counts (k, m + 1)
    trajectory : ndarray (n_stored, n_chains, d) or None
        Positions every ``store_every`` steps (row k: after step (k + 1) store_every; NaN after a stop).
    info : dict
        backend ("numba" or "numpy") and why, model, seconds, chain_steps_per_second, threads,
        stability (per minimum: λ_max, 2/λ_max), n_diverged, bound, checkpoint, resumed_from;
        labels (network runs: label_every, whether it was chosen, rtol, capture_radius,
        core_radius, noise_spread, seconds spent labelling).
    """

    positions: np.ndarray
    status: np.ndarray
    stopped_at: np.ndarray
    step_size: float
    n_steps: int
    n_chains: int
    seed: int
    burn_in: int
    counts: np.ndarray | None
    transitions: np.ndarray | None
    tau_sum: np.ndarray | None
    tau_sq: np.ndarray | None
    core: np.ndarray | None
    core_entry: np.ndarray | None
    hist: np.ndarray | None
    hist_grid: Grid | None
    series_steps: np.ndarray
    series: np.ndarray
    trajectory: np.ndarray | None
    store_every: int | None
    labels_key: str | None
    info: dict = field(default_factory=dict)

    @property
    def n_diverged(self) -> int:
        """Chains stopped before the end (status != 0)."""
        return int(np.count_nonzero(self.status))

    def _check_land(self, land):
        if self.counts is None:
            raise InputError(
                "this run recorded no basin statistics; pass landscape=land (or network=net) to fw.simulate"
            )
        if land is not None and labels_key(land) != self.labels_key:
            raise InputError(
                "the landscape or network differs from the one this run was recorded with (basin map, attractors "
                "or saddles)"
            )

    def occupation(self, land=None) -> Occupation:
        """Fraction of time per basin with standard errors (batch means over chains)."""
        self._check_land(land)
        a = self.counts.astype(float)
        n = a.sum(axis=1)
        use = n > 0
        a, n = a[use], n[use]
        C = len(n)
        if C == 0:
            raise InputError(self._why_nothing_counted())
        p = a.sum(0) / n.sum()
        nbar = n.mean()
        se = np.sqrt(np.sum((a - p * n[:, None]) ** 2, axis=0) / (C * max(C - 1, 1))) / nbar
        return Occupation(
            fractions=p,
            se=se,
            n_chains=C,
            steps=int(n.sum()),
            series_steps=self.series_steps.copy(),
            series=self.series.copy(),
            per_chain=a,
        )

    def _why_nothing_counted(self):
        if self.burn_in >= self.n_steps:
            return f"no steps were counted: burn_in={self.burn_in} >= n_steps={self.n_steps}; give burn_in < n_steps"
        k = self.info.get("labels", {}).get("label_every")
        if k is not None and (self.n_steps // k) * k <= self.burn_in:
            return (
                f"no step was labelled after burn_in={self.burn_in}: labels every {k} steps and n_steps={self.n_steps}; "
                "give a smaller label_every or more steps"
            )
        early = int(np.count_nonzero((self.status != 0) & (self.stopped_at <= self.burn_in)))
        limits = [s["limit"] for s in self.info.get("stability", []) if np.isfinite(s.get("limit", np.nan))]
        advice = (
            f"the stability limit 2/λ_max of SGD at the minima is {min(limits):.3g}; "
            if limits
            else "the chains left every bounded region; "
        )
        return (
            f"no steps were counted: {early} of {self.n_chains} chains diverged (NaN/inf or |x| > bound) before "
            f"the end of burn_in={self.burn_in}, at step_size={self.step_size:g}; {advice}"
            "use a smaller step_size, or start the chains (x0) closer to the minima"
        )

    def exits(self, land=None) -> Exits:
        """Transition counts and mean exit times (units of t = n γ; censoring-aware ``rate_time``)."""
        self._check_land(land)
        counts = self.transitions.sum(axis=0)
        n = counts.sum(axis=1)
        s1, s2 = self.tau_sum.sum(axis=0), self.tau_sq.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(n > 0, s1 / np.maximum(n, 1), np.nan)
            var = np.where(n > 1, (s2 / np.maximum(n, 1) - mean**2) * n / np.maximum(n - 1, 1), np.nan)
            se = np.sqrt(np.maximum(var, 0.0) / np.maximum(n, 1))
        se = np.where(n > 1, se, np.nan)
        m = counts.shape[0]
        alive = self.status == 0
        censored = np.array([np.count_nonzero(alive & (self.core == i)) for i in range(m)])
        running = np.array([np.sum((self.stopped_at - self.core_entry)[self.core == i]) for i in range(m)], dtype=float)
        with np.errstate(invalid="ignore", divide="ignore"):
            rate = np.where(n > 0, (s1 + running) / np.maximum(n, 1), np.nan)
            rate_se = rate / np.sqrt(np.maximum(n, 1))
        g = self.step_size
        return Exits(
            counts=counts,
            n_exits=n,
            mean_time=mean * g,
            se_time=se * g,
            mean_steps=mean,
            censored=censored,
            rate_time=rate * g,
            rate_se=rate_se * g,
        )

    def histogram(self, grid=None) -> np.ndarray:
        """Visit counts (after burn-in) of the nearest node of ``grid`` (default: the run's grid).

        A different grid needs a stored trajectory (``store_every``); counts then come from it."""
        if grid is None or (self.hist_grid is not None and same_grid(grid, self.hist_grid)):
            if self.hist is None:
                raise InputError("this run recorded no histogram; pass grid= (or landscape=) to fw.simulate")
            return self.hist.copy()
        if self.trajectory is None:
            raise InputError(
                f"this run's histogram is on {self.hist_grid!r}; for another grid store positions (store_every=)"
            )
        k0 = self.burn_in // self.store_every
        pts = self.trajectory[k0:].reshape(-1, self.trajectory.shape[-1])
        pts = pts[np.all(np.isfinite(pts), axis=1)]
        idx = grid.flat_index(pts)
        return np.bincount(idx[idx >= 0], minlength=grid.size).reshape(grid.shape)

    def __repr__(self):
        occ = ""
        if self.counts is not None:
            occ = ", occupation " + np.array2string(self.occupation().fractions, precision=3)
        return (
            f"Run(γ={self.step_size:g}, {self.n_chains} chains × {self.n_steps} steps, "
            f"{self.n_diverged} diverged, backend={self.info.get('backend')}{occ})"
        )


def _log_ratio(a, i, j):
    """log(Σa_i / Σa_j) with the delta-method standard error over chains."""
    ai, aj = a[:, i], a[:, j]
    Si, Sj = ai.sum(), aj.sum()
    if Si <= 0 or Sj <= 0:
        return -np.inf if Si <= 0 else np.inf, np.inf
    C = len(ai)
    r = ai / Si - aj / Sj  # influence of each chain on log Si - log Sj
    se = math.sqrt(C / max(C - 1, 1) * np.sum((r - r.mean()) ** 2))
    return math.log(Si / Sj), se
