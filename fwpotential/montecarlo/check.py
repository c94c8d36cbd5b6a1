"""Monte Carlo checks of a landscape's energies, prefactors and barriers (theory.md §6).

Over a ladder of step sizes γ (ε = γ):
- occupation ratio of two attractors: log(P_i/P_j) = -(W_i - W_j)/γ + log(c_i/c_j) + O(γ); the
  fitted slope checks the energy gap, the intercept the prefactors c_k = K(x_k) det(∇²W(x_k))^(-1/2)
  (compared here with K = 1, Hwang's prefactor: exact for Langevin and constant isotropic noise);
- Arrhenius: log E τ_k = ΔV_k/γ + O(1), ΔV_k = min_j V_kj the cost to leave basin k;
- density: -γ log p̂ against W on the grid, at the smallest γ.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from .. import _progress
from ..errors import FWWarning, InputError
from .simulate import simulate

__all__ = ["mc_check", "MCCheck"]


@dataclass(frozen=True, repr=False)
class MCCheck:
    """Result of :func:`mc_check`. Standard errors come from the runs (batch means over chains).

    Attributes
    ----------
    step_sizes : ndarray (k,)
    pair : (i, j)
        Attractors whose occupation ratio is fitted.
    log_ratio, log_ratio_se : ndarray (k,)
        log(P_i / P_j) per γ.
    crossings : ndarray (k,)
        Core-to-core transitions per γ (all attractors).
    slope, slope_se, slope_expected : float
        Fit of log_ratio against 1/γ; expected -(W_i - W_j) from ``land.energies``.
    intercept, intercept_se, intercept_expected : float
        Expected log(c_i/c_j) with Hwang's prefactor det(∇²W(x_k))^(-1/2) (``intercept_kind``).
    chi2_dof : float
        Reduced χ² of the occupation fit (nan with 2 step sizes).
    arrhenius : list of dict
        Per attractor: slope, se, barrier (min_j costs[k, j]), n_points (γ with at least
        min_crossings/2 exits), mean_time, mean_time_se (per γ; the censoring-aware exponential
        estimate ``Exits.rate_time``).
    density : dict
        At the smallest γ: rms and max of (-γ log p̂ - W) after matching minima, nodes used; empty if
        the landscape has no W on its grid.
    runs : list of Run
    notes : list of str
        Warnings raised (too few crossings, ...).
    """

    step_sizes: np.ndarray
    pair: tuple
    log_ratio: np.ndarray
    log_ratio_se: np.ndarray
    crossings: np.ndarray
    slope: float
    slope_se: float
    slope_expected: float
    intercept: float
    intercept_se: float
    intercept_expected: float
    intercept_kind: str
    chi2_dof: float
    arrhenius: list
    density: dict
    runs: list = field(default_factory=list)
    notes: list = field(default_factory=list)

    def __repr__(self):
        return (
            f"MCCheck(slope {self.slope:.4g}±{self.slope_se:.2g} vs {self.slope_expected:.4g}, "
            f"intercept {self.intercept:.3g}±{self.intercept_se:.2g} vs {self.intercept_expected:.3g})"
        )

    def __str__(self):
        i, j = self.pair
        L = [f"Monte Carlo check over γ = {', '.join(f'{g:g}' for g in self.step_sizes)} (attractors {i} vs {j})", ""]
        L.append("| γ | log(P_i/P_j) | ± SE | crossings |")
        L.append("|---|---|---|---|")
        for g, y, s, c in zip(self.step_sizes, self.log_ratio, self.log_ratio_se, self.crossings):
            L.append(f"| {g:g} | {y:.4f} | {s:.2g} | {int(c)} |")
        L.append("")
        L.append("| quantity | Monte Carlo | ± SE | landscape | z |")
        L.append("|---|---|---|---|---|")
        L.append(_row(f"slope = -(W_{i} - W_{j})", self.slope, self.slope_se, self.slope_expected))
        L.append(
            _row(
                f"intercept = log(c_{i}/c_{j}) [{self.intercept_kind}]",
                self.intercept,
                self.intercept_se,
                self.intercept_expected,
            )
        )
        for a in self.arrhenius:
            if a["n_points"] >= 2:
                L.append(_row(f"Arrhenius slope, basin {a['attractor']} (ΔV)", a["slope"], a["se"], a["barrier"]))
            else:
                L.append(
                    f"| Arrhenius slope, basin {a['attractor']} | too few exits ({a['n_points']} γ usable) | | {a['barrier']:.4g} | |"
                )
        if self.density:
            dd = self.density
            L.append(
                f"| -γ log p̂ - W (γ={dd['gamma']:g}, {dd['nodes']} nodes) | rms {dd['rms']:.3g}, max {dd['max']:.3g} | | 0 + O(γ) | |"
            )
        L.append(f"\nχ²/dof of the occupation fit: {self.chi2_dof:.3g}")
        for n in self.notes:
            L.append(f"note: {n}")
        return "\n".join(L)


def _row(name, v, se, ref):
    z = (v - ref) / se if se > 0 and np.isfinite(se) else float("nan")
    return f"| {name} | {v:.4g} | {se:.2g} | {ref:.4g} | {z:+.2f} |"


def _wls(x, y, se):
    """Weighted least squares y = a + b x: (a, b, se_a, se_b, chi2/dof) from the given errors."""
    w = 1.0 / np.asarray(se) ** 2
    X = np.stack([np.ones_like(x), x], axis=1)
    cov = np.linalg.inv(X.T @ (w[:, None] * X))
    a, b = cov @ (X.T @ (w * y))
    res = y - (a + b * x)
    dof = len(x) - 2
    chi2 = float(np.sum(w * res**2) / dof) if dof > 0 else float("nan")
    return float(a), float(b), float(math.sqrt(cov[0, 0])), float(math.sqrt(cov[1, 1])), chi2


def _land_W(land):
    for name in ("W", "potential", "global_potential"):
        v = getattr(land, name, None)
        if callable(v):
            continue
        if v is not None:
            v = getattr(v, "values", v)
            v = np.asarray(v, dtype=float)
            if v.shape == land.grid.shape:
                return v
    return None


@_progress.tracked("mc_check", unit="step size")
def mc_check(
    land,
    dyn,
    *,
    step_sizes,
    n_steps,
    n_chains,
    seed=0,
    pair=None,
    burn_in=None,
    min_crossings=20,
    prefactor=None,
    progress=None,
) -> MCCheck:
    """Run ``fw.simulate`` at each γ in ``step_sizes`` and compare with the landscape (theory.md §6).

    Parameters
    ----------
    land : Landscape
        Needs grid, basins, attractors, energies, costs (and saddles for the exit cores).
    dyn : Dynamics
        The SGD or Langevin dynamics the landscape was computed for.
    step_sizes : sequence of float
        At least two; chosen by the caller (nothing is picked silently): crossings must happen,
        ΔV/γ of a few units to ~10.
    n_steps, n_chains : int
        Per γ.
    seed : int
        Run k uses seed + k.
    pair : (i, j), optional
        Attractors of the occupation ratio (default: the two lowest energies).
    burn_in : int, optional
        Default n_steps // 10. Chains start alternately at attractors i and j.
    min_crossings : int
        Warn (FWWarning) when a γ gives fewer core-to-core transitions, or a basin of the pair is
        never visited.
    prefactor : {"hwang", "diffusion", "chain"}, optional
        Prefactors of the expected intercept, from ``land.prefactors(kind)`` (default "hwang" for
        Langevin, where it is exact, "chain" for SGD); Hwang's det(∇²V)^(-1/2) if the landscape has none.
    progress : bool, optional
        A progress bar on stderr, one step per γ (each run's bar nested): by default when stderr is a
        terminal and the call runs over ~2 s; True always, False never.

    Returns
    -------
    MCCheck
        ``print(chk)`` shows the tables.
    """
    gs = np.asarray(step_sizes, dtype=float).reshape(-1)
    if gs.size < 2 or np.any(~(gs > 0)):
        raise InputError(f"step_sizes must hold at least two positive values, got {step_sizes!r}")
    _check_same_dynamics(land, dyn)
    att = np.atleast_2d(np.asarray(land.attractors, dtype=float))
    m = len(att)
    if m < 2:
        raise InputError("mc_check needs a landscape with at least two attractors")
    E = np.asarray(land.energies, dtype=float)
    if pair is None:
        order = np.argsort(E, kind="stable")
        pair = (int(order[0]), int(order[1]))
    i, j = (int(p) for p in pair)
    burn_in = n_steps // 10 if burn_in is None else int(burn_in)
    x0 = np.where((np.arange(n_chains) % 2 == 0)[:, None], att[i], att[j])
    notes, runs = [], []
    y, se, cross = [], [], []
    _progress.set_total(len(gs))
    for k, g in enumerate(gs):
        run = simulate(
            dyn,
            step_size=float(g),
            n_steps=n_steps,
            n_chains=n_chains,
            x0=x0,
            seed=seed + k,
            landscape=land,
            burn_in=burn_in,
        )
        _progress.advance()
        runs.append(run)
        occ = run.occupation(land)
        lr, s = occ.log_ratio(i, j)
        ex = run.exits(land)
        n_cross = int(ex.counts.sum())
        y.append(lr)
        se.append(s)
        cross.append(n_cross)
        few = min(int(ex.n_exits[i]), int(ex.n_exits[j]))
        if few < min_crossings or not np.isfinite(lr):
            msg = (
                f"γ={g:g}: only {few} exits from basin {i if ex.n_exits[i] <= ex.n_exits[j] else j} "
                f"({n_cross} crossings in all)" + ("" if np.isfinite(lr) else f", basin {i if lr < 0 else j} never visited")
                + "; the occupation has not equilibrated between the basins and its error bar is not reliable "
                "(increase γ, n_steps or n_chains)"
            )  # fmt: skip
            notes.append(msg)
            warnings.warn(msg, FWWarning, stacklevel=2)
    y, se, cross = np.array(y), np.array(se), np.array(cross)
    ok = np.isfinite(y) & np.isfinite(se) & (se > 0)
    if ok.sum() >= 2:
        a, b, sa, sb, chi2 = _wls(1.0 / gs[ok], y[ok], se[ok])
    else:
        a = b = sa = sb = chi2 = float("nan")
        notes.append("fewer than two step sizes with both basins visited: no occupation fit")
    c_exp, kind = _prefactor_log_ratio(land, dyn, att, i, j, prefactor)
    arr = []
    costs = np.asarray(land.costs, dtype=float)
    for q in range(m):
        barrier = float(np.min(np.delete(costs[q], q)))
        t, ts, gg = [], [], []
        for g, run in zip(gs, runs):
            ex = run.exits(land)
            if ex.n_exits[q] >= max(min_crossings // 2, 3):
                t.append(ex.rate_time[q])
                ts.append(ex.rate_se[q])
                gg.append(g)
        rec = {
            "attractor": q,
            "barrier": barrier,
            "n_points": len(gg),
            "gammas": gg,
            "mean_time": t,
            "mean_time_se": ts,
        }
        if len(gg) >= 2:
            t, ts = np.array(t), np.array(ts)
            _, bq, _, sbq, chq = _wls(1.0 / np.array(gg), np.log(t), ts / t)
            rec.update(slope=bq, se=sbq, chi2_dof=chq)
        arr.append(rec)
    dens = {}
    W = _land_W(land)
    if W is not None:
        kmin = int(np.argmin(gs))
        h = runs[kmin].histogram()
        if h is not None and h.shape == W.shape:
            use = (h >= 100) & np.isfinite(W)
            if use.sum() >= 3:
                est = -gs[kmin] * np.log(h[use] / h.sum())
                diff = (est - est.min()) - (W[use] - W[use].min())
                dens = {
                    "gamma": float(gs[kmin]),
                    "nodes": int(use.sum()),
                    "rms": float(np.sqrt(np.mean(diff**2))),
                    "max": float(np.max(np.abs(diff))),
                }
    return MCCheck(
        step_sizes=gs, pair=(i, j), log_ratio=y, log_ratio_se=se, crossings=cross,
        slope=b, slope_se=sb, slope_expected=float(E[j] - E[i]),
        intercept=a, intercept_se=sa, intercept_expected=c_exp, intercept_kind=kind,
        chi2_dof=chi2, arrhenius=arr, density=dens, runs=runs, notes=notes,
    )  # fmt: skip


def _prefactor_log_ratio(land, dyn, att, i, j, kind):
    """log(c_i/c_j) from the landscape's prefactors of ``kind``, else Hwang's from the dynamics."""
    kind = kind or ("hwang" if dyn.kind == "langevin" else "chain")
    fn = getattr(land, "prefactors", None)
    if fn is not None:
        try:
            c = np.asarray(fn(kind), dtype=float)
            v = float(np.log(c[i] / c[j]))
            if np.isfinite(v):
                return v, f"landscape prefactors, kind={kind!r}"
        except Exception as exc:  # noqa: BLE001 - fall back to Hwang's, and say so
            v, k = _hwang_log_ratio(dyn, att, i, j)
            return v, f"{k}; land.prefactors({kind!r}) failed: {exc}"
    return _hwang_log_ratio(dyn, att, i, j)


def _hwang_log_ratio(dyn, att, i, j):
    """log(c_i/c_j) with c_k = det(∇²W(x_k))^(-1/2) = det(∇²V_k(x_k))^(-1/2) (Hwang's prefactor)."""
    try:
        di = np.linalg.slogdet(dyn.potential_hessian(att[i]))[1]
        dj = np.linalg.slogdet(dyn.potential_hessian(att[j]))[1]
    except Exception as exc:  # noqa: BLE001
        return float("nan"), f"unavailable ({exc})"
    kind = "Hwang, exact prefactor" if dyn.kind == "langevin" else "Hwang (K = 1; the prefactor K(x) can shift it)"
    return float(-0.5 * (di - dj)), kind


def _check_same_dynamics(land, dyn):
    """The simulated dynamics must be the landscape's: same kind and the same H(x, p) = <b, p> + Λ(x, p)
    at the attractors and saddles (drift and noise law), else the comparison is meaningless."""
    ref = getattr(land, "dynamics", None)  # stand-ins built from exact solutions may carry none
    if ref is None or dyn is ref:
        return
    if dyn.dim != ref.dim or dyn.kind != ref.kind:
        raise InputError(
            f"mc_check simulates {dyn!r} but the landscape was computed for {ref!r}; "
            "pass the dynamics of the landscape (land.dynamics)"
        )
    x = np.concatenate([np.atleast_2d(land.attractors), np.reshape(land.saddles, (-1, ref.dim))])
    p = np.random.default_rng(0).standard_normal((len(x), ref.dim))
    h_sim, h_land = dyn.hamiltonian(x, p), ref.hamiltonian(x, p)
    if not np.allclose(h_sim, h_land, rtol=1e-9, atol=1e-12):
        k = int(np.argmax(np.abs(h_sim - h_land)))
        raise InputError(
            f"mc_check simulates {dyn.name!r} but the landscape was computed for {ref.name!r}: their H(x, p) "
            f"differ at x = {x[k]} ({h_sim[k]:.6g} vs {h_land[k]:.6g}: another drift or noise law); "
            "pass the dynamics of the landscape (land.dynamics)"
        )
