"""Compute what a problem file asks for: one landscape per dynamics, the SGD/Langevin comparison,
the check against an exact V, Monte Carlo runs and Fokker–Planck solves, gathered in an
:class:`Outcome`. Used by ``fwpotential run`` and ``fwpotential demo``; :mod:`fwpotential.app.render`
writes the files.

Data flows one way: :class:`~fwpotential.app.config.ProblemFile` → :func:`~fwpotential.app.problem.prepare`
→ landscapes (and Monte Carlo runs) → :class:`Outcome` (plain numbers and result objects). Progress
goes to ``progress`` (stderr in the command), never to stdout.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from fwpotential.analysis.comparison import Comparison
from fwpotential.analysis.landscapes import landscape
from fwpotential.analysis.network import transition_network
from fwpotential.app.config import ProblemFile
from fwpotential.app.problem import exact_values, prepare
from fwpotential.errors import ConvergenceError, InputError
from fwpotential.montecarlo.check import mc_check
from fwpotential.stationary.fokkerplanck import fokker_planck

__all__ = ["Outcome", "solve_problem", "LABELS"]

LABELS = {"langevin": "Langevin", "sgd": "SGD", "sgd_gaussian": "SGD, Gaussian approximation", "diffusion": "diffusion"}


@dataclass(frozen=True)
class Outcome:
    """Everything computed for a problem file.

    Attributes
    ----------
    spec : ProblemFile
    method : str
    landscapes : {label: Landscape or TransitionNetwork}
        TransitionNetworks for a file with ``[network]`` (no grid).
    comparison : Comparison or None
        Kind "compare": the Langevin and SGD landscapes (or networks) paired.
    montecarlo : {label: [per-γ dict]}
        Plain numbers; exit times censoring-aware.
    montecarlo_fits : {label: dict}
        ``fw.mc_check``'s slope fit, z and verdict.
    runs : {label: [Run]}
    fokker_planck : {label: [per-ε dict]}
        gap max|(-ε log p) - W| up to the saddles' level, basin masses, and the masses predicted by
        the landscape with each kind of prefactor.
    exact_error : {"max": float, "rms": float, "nodes": int} or None
    seconds : float
        Total.
    stages : {step: float}
        Seconds per step (landscape_<label> or network_<label>, montecarlo_<label>,
        fokker_planck_<label>_<ε>).
    warnings : list of str
        What the run could not do, or where its numbers need care (the landscapes' and Monte Carlo
        checks' warnings included).
    """

    spec: ProblemFile
    method: str
    landscapes: dict
    comparison: Comparison | None = None
    montecarlo: dict = field(default_factory=dict)
    montecarlo_fits: dict = field(default_factory=dict)
    runs: dict = field(default_factory=dict)
    fokker_planck: dict = field(default_factory=dict)
    exact_error: dict | None = None
    seconds: float = float("nan")
    stages: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)

    def to_dict(self) -> dict:
        """Plain Python structure for the JSON summary (+inf and NaN as floats)."""
        out = {
            "name": self.spec.name,
            "description": self.spec.description,
            "kind": self.spec.kind,
            "method": self.method,
            "landscapes": {k: v.to_dict() for k, v in self.landscapes.items()},
            "seconds": self.seconds,
            "stages": self.stages,
            "warnings": self.warnings,
        }
        if self.spec.grid is not None:
            out["grid"] = {
                "bounds": [list(b) for b in self.spec.grid["bounds"]],
                "shape": list(self.spec.grid["shape"]),
            }
        else:
            out["network"] = {"dim": next(iter(self.landscapes.values())).dim, **self.spec.network}
            out["network"].pop("starts", None)
            out["network"].pop("minima", None)
        if self.comparison is not None:
            out["same_ground_states"] = bool(self.comparison.same_ground_states)
            out["matched"] = self.comparison.matched.tolist()
        if self.montecarlo:
            out["montecarlo"] = self.montecarlo
            out["montecarlo_fits"] = self.montecarlo_fits
        if self.fokker_planck:
            out["fokker_planck"] = self.fokker_planck
        if self.exact_error is not None:
            out["exact_error"] = self.exact_error
        return out


# ------------------------------------------------------------------------------------------------
def solve_problem(spec: ProblemFile, *, montecarlo=True, progress=None) -> Outcome:
    """Compute what ``spec`` asks for: one landscape per dynamics, the SGD/Langevin comparison,
    the exact-V check and the Monte Carlo runs. ``progress(str)`` receives one line per step."""
    say = progress or (lambda s: None)
    t_all = time.perf_counter()
    plan = prepare(spec)
    grid, dyns, attractors, method, opts = plan[:5]
    stages, notes = {}, []
    if plan.network is not None:
        lands = _networks(plan, say, stages, notes)
    else:
        lands = _landscapes(spec, plan, say, stages, notes)
    comparison = None
    if "langevin" in lands and "sgd" in lands:
        comparison = Comparison.from_landscapes(lands["langevin"], lands["sgd"])
    exact_error = _exact_error(spec, grid, next(iter(lands.values())), notes) if grid is not None else None
    mc, fits, runs = {}, {}, {}
    if spec.montecarlo is not None and montecarlo:
        mc, fits, runs = _run_montecarlo(lands, spec.montecarlo, say, stages, notes)
    elif spec.montecarlo is not None:
        notes.append("Monte Carlo skipped (--no-montecarlo).")
    fp = {}
    if spec.fokker_planck is not None:
        fp = _run_fokker_planck(lands, spec.fokker_planck, say, stages)
    return Outcome(
        spec=spec, method=method, landscapes=lands, comparison=comparison, montecarlo=mc, montecarlo_fits=fits,
        runs=runs,
        fokker_planck=fp, exact_error=exact_error, seconds=time.perf_counter() - t_all, stages=stages,
        warnings=notes,
    )  # fmt: skip


def _networks(plan, say, stages, notes):
    """One TransitionNetwork per dynamics. The first (Langevin when computed) searches the minima and
    saddles; the others share its drift -∇f (SGD, its Gaussian approximation) and reuse both, as
    ``fw.compare(..., method="paths")`` does; a diffusion has one network."""
    lands, first = {}, None
    order = sorted(plan.dynamics, key=lambda lab: lab != "langevin")
    for lab in order:
        dyn = plan.dynamics[lab]
        say(f"transition network of {LABELS[lab]} (paths {plan.method!r}, d = {dyn.dim}) ...")
        t0 = time.perf_counter()
        where = plan.network if first is None else {"minima": first.attractors, "saddles": first}
        N = lands[lab] = transition_network(dyn, method=plan.method, **where, **plan.options)
        first = N if first is None else first
        stages[f"network_{lab}"] = time.perf_counter() - t0
        notes += [f"{LABELS[lab]}: {w}" for w in N.info["warnings"]]
        say(
            f"  done in {stages[f'network_{lab}']:.1f} s: {len(N.attractors)} attractors, {len(N.saddles)} saddles, "
            f"ground states {list(map(int, N.ground_states))}"
        )
    return {lab: lands[lab] for lab in plan.dynamics}


def _landscapes(spec, plan, say, stages, notes):
    """One Landscape per dynamics on the plan's grid."""
    grid, dyns, attractors, method, opts = plan[:5]
    lands = {}
    for lab, dyn in dyns.items():
        say(f"landscape of {LABELS[lab]} (method={method!r}, grid {'x'.join(map(str, grid.shape))}) ...")
        t0 = time.perf_counter()
        kw = {"attractors": attractors, "estimate_error": spec.solve.get("estimate_error", True)}
        if "tie_tol" in spec.solve:
            kw["tie_tol"] = spec.solve["tie_tol"]
        L = lands[lab] = landscape(dyn, grid, method=method, **kw, **opts)
        stages[f"landscape_{lab}"] = time.perf_counter() - t0
        notes += [f"{LABELS[lab]}: {w}" for w in L.info["warnings"]]
        say(
            f"  done in {stages[f'landscape_{lab}']:.1f} s: {len(L.attractors)} attractors, ground states {list(map(int, L.ground_states))}"
        )
    return lands


def _exact_error(spec, grid, L0, notes):
    """max and RMS |V - V_exact| for attractor 0 of the first landscape, or None without ``[exact]``."""
    ex = exact_values(spec, grid)
    if ex is None:
        return None
    V = L0.quasipotentials[0].values
    ok = np.isfinite(ex) & np.isfinite(V)
    if not ok.any():
        notes.append("[exact] V: no grid node where both the exact and the computed V are finite")
        return None
    err = np.abs(V[ok] - ex[ok])
    return {"max": float(err.max()), "rms": float(np.sqrt(np.mean(err**2))), "nodes": int(ok.sum())}


def _run_fokker_planck(lands, fpc, say, stages):
    """Per dynamics and ε: the gap to W, the basin masses and the landscape's predicted masses."""
    out = {}
    for lab in fpc["dynamics"]:
        L = lands.get(lab)
        if L is None:
            continue
        rows = []
        for e in fpc["eps"]:
            say(f"Fokker-Planck: {LABELS[lab]} at eps = {e:g} ...")
            t0 = time.perf_counter()
            fp = fokker_planck(L.dynamics, L.grid, float(e))
            row = {
                "eps": float(e),
                "gap": fp.gap(L),
                "masses": fp.basin_masses(L)[:-1].tolist(),
            }  # attractors only, as predicted_*
            for kind in ("hwang", "diffusion", "chain"):
                try:
                    row[f"predicted_{kind}"] = L.predicted_masses(float(e), kind=kind).tolist()
                except (InputError, ConvergenceError):
                    row[f"predicted_{kind}"] = [float("nan")] * len(L.attractors)
            row["seconds"] = time.perf_counter() - t0
            stages[f"fokker_planck_{lab}_{e:g}"] = row["seconds"]
            rows.append(row)
        out[lab] = rows
    return out


def _run_montecarlo(lands, mc, say, stages, notes):
    """``fw.mc_check`` per simulated dynamics (occupation of attractors 0 and 1, run k with seed + k):
    per-γ rows of plain numbers, and the slope fit with its verdict. Returns (rows, fits, runs), each
    by label."""
    out, fits, runs = {}, {}, {}
    for lab in mc["dynamics"]:
        L = lands.get(lab)
        if L is None or len(L.attractors) < 2:
            if L is not None:
                notes.append(f"Monte Carlo of {LABELS[lab]} skipped: the landscape has one attractor.")
            continue
        gs = [float(g) for g in mc["step_sizes"]]
        say(
            f"Monte Carlo: {LABELS[lab]} at step sizes {', '.join(f'{g:g}' for g in gs)} ({mc['n_chains']} chains x {mc['n_steps']} steps each) ..."
        )
        t0 = time.perf_counter()
        # the report shows no intercept: Hwang's prefactors spare the costly "chain" kind
        chk = mc_check(
            L, L.dynamics, step_sizes=gs, n_steps=mc["n_steps"], n_chains=mc["n_chains"], seed=mc["seed"],
            pair=(0, 1), burn_in=mc["burn_in"], prefactor="hwang",
        )  # fmt: skip
        stages[f"montecarlo_{lab}"] = time.perf_counter() - t0
        out[lab] = [_mc_row(run, y, s) for run, y, s in zip(chk.runs, chk.log_ratio, chk.log_ratio_se)]
        fits[lab] = _mc_fit(chk)
        runs[lab] = chk.runs
        notes += [f"Monte Carlo, {LABELS[lab]}: {n}" for n in chk.info["warnings"]]
    return out, fits, runs


def _mc_row(run, log_ratio, log_ratio_se):
    occ, ex = run.occupation(), run.exits()
    return {
        "step_size": float(run.step_size),
        "fractions": occ.fractions.tolist(),
        "se": occ.se.tolist(),
        "exit_time": ex.rate_time.tolist(),
        "exit_time_se": ex.rate_se.tolist(),
        "n_exits": ex.n_exits.tolist(),
        "censored": ex.censored.tolist(),
        "log_ratio_01": float(log_ratio),
        "log_ratio_01_se": float(log_ratio_se),
        "n_diverged": run.n_diverged,
        "seconds": float(run.info.get("seconds", float("nan"))),
    }


def _mc_fit(chk):
    return {
        "model": chk.model,
        "slope": chk.slope,
        "slope_se": chk.slope_se,
        "predicted_slope": chk.slope_expected,
        "predicted_slope_se": chk.slope_expected_se,
        "z": chk.z,
        "consistent": chk.consistent,
        "verdict": chk.verdict,
        "intercept": chk.intercept,
        "intercept_se": chk.intercept_se,
        "linear": chk.linear,
        "linear_se": chk.linear_se,
        "chi2_dof": chk.chi2_dof,
        "arrhenius": [
            {k: a.get(k, float("nan")) for k in ("attractor", "barrier", "slope", "se", "n_points")}
            for a in chk.arrhenius
        ],
    }
