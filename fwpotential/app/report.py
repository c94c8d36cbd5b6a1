"""Run a problem file end to end and write its results: arrays (.npz), a JSON summary, figures and
a Markdown report. Used by ``fwpotential run`` and ``fwpotential demo``.

Data flows one way: :class:`~fwpotential.app.config.ProblemFile` → landscapes (and Monte Carlo runs) →
:class:`Outcome` (plain numbers and result objects) → files. Progress goes to ``progress`` (stderr
in the command), never to stdout.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fwpotential.app.config import ProblemFile
from fwpotential.errors import ConvergenceError, InputError
from fwpotential.montecarlo.check import Z_MAX, mc_check

__all__ = ["Outcome", "solve_problem", "write_outputs", "markdown_table"]

_LABEL = {"langevin": "Langevin", "sgd": "SGD", "sgd_gaussian": "SGD, Gaussian approximation", "diffusion": "diffusion"}


@dataclass
class Outcome:
    """Everything computed for a problem file.

    landscapes : {label: Landscape}; comparison : Comparison or None (kind "compare");
    montecarlo : {label: [per-γ dict]} (plain numbers; exit times censoring-aware) and
    {label + "_fit": dict} (``fw.mc_check``'s slope fit, z and verdict), runs : {label: [Run]};
    fokker_planck : {label: [per-ε dict]}: gap max|(-ε log p) - W| up to the saddles' level, basin
    masses, and the masses predicted by the landscape with each kind of prefactor;
    exact_error : {"max": float, "rms": float, "nodes": int} or None;
    seconds : {step: float}; method : str; notes : [str].
    """

    spec: ProblemFile
    method: str
    landscapes: dict
    comparison: object = None
    montecarlo: dict = field(default_factory=dict)
    runs: dict = field(default_factory=dict)
    fokker_planck: dict = field(default_factory=dict)
    exact_error: dict | None = None
    seconds: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)

    def summary(self) -> dict:
        """A JSON-ready summary (lists, floats, strings; +inf as the string "inf")."""
        out = {
            "name": self.spec.name,
            "description": self.spec.description,
            "kind": self.spec.kind,
            "method": self.method,
            "grid": {"bounds": [list(b) for b in self.spec.grid["bounds"]], "shape": list(self.spec.grid["shape"])},
            "landscapes": {k: _land_dict(v) for k, v in self.landscapes.items()},
            "seconds": self.seconds,
            "notes": self.notes,
        }
        if self.comparison is not None:
            out["same_ground_states"] = bool(self.comparison.same_ground_states)
            out["matched"] = self.comparison.matched.tolist()
        if self.montecarlo:
            out["montecarlo"] = self.montecarlo
        if self.fokker_planck:
            out["fokker_planck"] = self.fokker_planck
        if self.exact_error is not None:
            out["exact_error"] = self.exact_error
        return _jsonable(out)


def _weights_or_nan(L, kind="hwang"):
    try:
        if kind == "hwang":
            return np.asarray(L.hwang_weights(), float)
        return np.asarray(L.weights(kind), float)
    except Exception:  # noqa: BLE001 - weights are optional decoration of the report
        return np.full(len(L.ground_states), np.nan)


def _saddle_values(L):
    """V_{K_i} at each saddle (min over the attractors the saddle joins) and W there."""
    out = []
    for s, joins in zip(L.saddles, L.saddle_joins):
        idx = L.grid.nearest_index(s)
        Vs = {int(i): float(L.quasipotentials[int(i)].values[idx]) for i in joins if i >= 0}
        out.append({"point": s.tolist(), "f": None, "W": float(L.potential[idx]), "V_from": Vs})
    for d, v in zip(out, L.saddle_values):
        d["f"] = float(v)
    return out


def _land_dict(L):
    d = {
        "dynamics": L.dynamics.name,
        "method": L.method,
        "attractors": np.asarray(L.attractors).tolist(),
        "f": np.asarray(L.attractor_values).tolist(),
        "energies": np.asarray(L.energies).tolist(),
        "energy_errors": np.asarray(L.energy_errors).tolist(),
        "ground_states": [int(i) for i in L.ground_states],
        "hwang_weights": _weights_or_nan(L).tolist(),
        "costs": np.asarray(L.costs).tolist(),
        "saddles": _saddle_values(L),
        "seconds": L.info.get("seconds", {}),
        "error_estimate": L.info.get("error_estimate"),
    }
    if hasattr(L, "weights"):
        for kind in ("diffusion", "chain"):
            w = _weights_or_nan(L, kind)
            if np.isfinite(w).all():
                d[f"weights_{kind}"] = w.tolist()
    return d


def _jsonable(o):
    if isinstance(o, dict):
        return {str(k): _jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_jsonable(v) for v in o]
    if isinstance(o, np.ndarray):
        return _jsonable(o.tolist())
    if isinstance(o, (np.floating, float)):
        f = float(o)
        if math.isnan(f):
            return None
        if math.isinf(f):
            return "inf" if f > 0 else "-inf"
        return f
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.bool_,)):
        return bool(o)
    return o


# ------------------------------------------------------------------------------------------------
def solve_problem(spec: ProblemFile, *, montecarlo=True, progress=None) -> Outcome:
    """Compute what ``spec`` asks for: one landscape per dynamics, the SGD/Langevin comparison,
    the exact-V check and the Monte Carlo runs. ``progress(str)`` receives one line per step."""
    from fwpotential.analysis.landscapes import Comparison, landscape

    say = progress or (lambda s: None)
    t_all = time.perf_counter()
    grid, dyns, attractors, method, opts = spec.prepare()
    seconds = {}
    lands = {}
    for lab, dyn in dyns.items():
        say(f"landscape of {_LABEL[lab]} (method={method!r}, grid {'x'.join(map(str, grid.shape))}) ...")
        t0 = time.perf_counter()
        kw = {"attractors": attractors, "estimate_error": spec.solve.get("estimate_error", True)}
        if "tie_tol" in spec.solve:
            kw["tie_tol"] = spec.solve["tie_tol"]
        lands[lab] = landscape(dyn, grid, method=method, **kw, **opts)
        seconds[f"landscape_{lab}"] = time.perf_counter() - t0
        say(
            f"  done in {seconds[f'landscape_{lab}']:.1f} s: {len(lands[lab].attractors)} attractors, ground states {list(map(int, lands[lab].ground_states))}"
        )
    comparison = None
    if "langevin" in lands and "sgd" in lands:
        L, S = lands["langevin"], lands["sgd"]
        tol = 2.0 * float(np.linalg.norm(grid.spacing))
        matched = np.array(
            [
                int(np.argmin(d)) if (d := np.linalg.norm(L.attractors - x, axis=1)).min() <= tol else -1
                for x in S.attractors
            ]
        )
        comparison = Comparison(L, S, matched)
    out = Outcome(spec, method, lands, comparison, seconds=seconds)
    # exact V check (attractor 0 of the first landscape)
    ex = spec.exact_values(grid)
    if ex is not None:
        L0 = next(iter(lands.values()))
        V = L0.quasipotentials[0].values
        ok = np.isfinite(ex) & np.isfinite(V)
        if ok.any():
            err = np.abs(V[ok] - ex[ok])
            out.exact_error = {"max": float(err.max()), "rms": float(np.sqrt(np.mean(err**2))), "nodes": int(ok.sum())}
        else:
            out.notes.append("[exact] V: no grid node where both the exact and the computed V are finite")
    # Monte Carlo
    mc = spec.montecarlo
    if mc is not None and montecarlo:
        _run_montecarlo(out, mc, say)
    elif mc is not None:
        out.notes.append("Monte Carlo skipped (--no-montecarlo).")
    if spec.fokker_planck is not None:
        _run_fokker_planck(out, spec.fokker_planck, say)
    seconds["total"] = time.perf_counter() - t_all
    return out


def _run_fokker_planck(out, fpc, say):
    from fwpotential.stationary.fokkerplanck import fokker_planck

    for lab in fpc["dynamics"]:
        L = out.landscapes.get(lab)
        if L is None:
            continue
        rows = []
        for e in fpc["eps"]:
            say(f"Fokker-Planck: {_LABEL[lab]} at eps = {e:g} ...")
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
            out.seconds[f"fokker_planck_{lab}_{e:g}"] = row["seconds"]
            rows.append(row)
        out.fokker_planck[lab] = rows


def _run_montecarlo(out, mc, say):
    """``fw.mc_check`` per simulated dynamics (occupation of attractors 0 and 1, run k with seed + k):
    per-γ rows of plain numbers, and the slope fit with its verdict under ``<label>_fit``."""
    for lab in mc["dynamics"]:
        L = out.landscapes.get(lab)
        if L is None or len(L.attractors) < 2:
            if L is not None:
                out.notes.append(f"Monte Carlo of {_LABEL[lab]} skipped: the landscape has one attractor.")
            continue
        gs = [float(g) for g in mc["step_sizes"]]
        say(
            f"Monte Carlo: {_LABEL[lab]} at step sizes {', '.join(f'{g:g}' for g in gs)} ({mc['n_chains']} chains x {mc['n_steps']} steps each) ..."
        )
        t0 = time.perf_counter()
        # the report shows no intercept: Hwang's prefactors spare the costly "chain" kind
        chk = mc_check(
            L, L.dynamics, step_sizes=gs, n_steps=mc["n_steps"], n_chains=mc["n_chains"], seed=mc["seed"],
            pair=(0, 1), burn_in=mc["burn_in"], prefactor="hwang",
        )  # fmt: skip
        out.seconds[f"montecarlo_{lab}"] = time.perf_counter() - t0
        out.montecarlo[lab] = [_mc_row(run, y, s) for run, y, s in zip(chk.runs, chk.log_ratio, chk.log_ratio_se)]
        out.montecarlo[lab + "_fit"] = _mc_fit(chk)
        out.runs[lab] = chk.runs
        out.notes += [f"Monte Carlo, {_LABEL[lab]}: {n}" for n in chk.notes]


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


# ------------------------------------------------------------------------------------------------
def markdown_table(L, comparison=None) -> str:
    """Markdown table of a landscape's attractors (or of an SGD/Langevin comparison)."""

    def pos(x):
        return "(" + ", ".join(f"{v:.4f}" for v in x) + ")"

    if comparison is not None:
        La, S = comparison.langevin, comparison.sgd
        wl, ws = _weights_or_nan(La), _weights_or_nan(S)
        rows = [
            "| attractor | f | W Langevin | W SGD | ground state (Langevin / SGD) | weight Langevin | weight SGD |",
            "| --- | ---: | ---: | ---: | :---: | ---: | ---: |",
        ]
        for i, x in enumerate(S.attractors):
            j = int(comparison.matched[i])
            gl = j >= 0 and j in La.ground_states
            gs = i in S.ground_states
            wL = f"{wl[list(La.ground_states).index(j)]:.3f}" if gl else ""
            wS = f"{ws[list(S.ground_states).index(i)]:.3f}" if gs else ""
            eL = f"{La.energies[j]:.4f} ± {La.energy_errors[j]:.1g}" if j >= 0 else "–"
            rows.append(
                f"| {pos(x)} | {S.attractor_values[i]:.4f} | {eL} | {S.energies[i]:.4f} ± {S.energy_errors[i]:.1g} | "
                f"{'yes' if gl else 'no'} / {'yes' if gs else 'no'} | {wL} | {wS} |"
            )
        return "\n".join(rows)
    w = _weights_or_nan(L)
    gs = list(L.ground_states)
    has_f = np.isfinite(L.attractor_values).any()
    rows = ["| # | attractor | " + ("f | " if has_f else "") + "energy W | ground state | Hwang weight |"]
    rows.append("| ---: | --- | " + ("---: | " if has_f else "") + "---: | :---: | ---: |")
    for i, x in enumerate(L.attractors):
        g = i in gs
        rows.append(
            f"| {i} | {pos(x)} | "
            + (f"{L.attractor_values[i]:.4f} | " if has_f else "")
            + f"{L.energies[i]:.4f} ± {L.energy_errors[i]:.1g} | {'yes' if g else ''} | {f'{w[gs.index(i)]:.3f}' if g else ''} |"
        )
    return "\n".join(rows)


def _costs_table(L):
    m = len(L.attractors)
    head = "| from \\ to | " + " | ".join(str(j) for j in range(m)) + " |"
    rows = [head, "| --- |" + " ---: |" * m]
    for i in range(m):
        rows.append(f"| {i} | " + " | ".join("–" if i == j else f"{L.costs[i, j]:.4f}" for j in range(m)) + " |")
    return "\n".join(rows)


def _figures(outc, fig_dir, formats, say):
    """Make the figures; returns [(caption, relative path of the PNG or first format)]."""
    from fwpotential import plot

    made = []

    def keep(fig, stem, caption):
        paths = plot.save(fig, fig_dir / stem, formats=formats)
        made.append((caption, paths[0]))

    lands = outc.landscapes
    dim = next(iter(lands.values())).grid.dim
    say("figures ...")
    if dim == 2:
        if outc.comparison is not None:
            keep(
                plot.compare_maps(outc.comparison),
                "compare",
                "Freidlin–Wentzell potential W of Langevin (left) and SGD (right) on one colour scale: ground states (stars), other attractors (circles, with W_i), saddles (crosses), basin boundaries (dashed), minimum action paths (orange).",
            )
        for lab, L in lands.items():
            if outc.comparison is None or lab == "sgd_gaussian":
                keep(
                    plot.potential_map(L, title=_LABEL[lab]),
                    f"potential_{lab}",
                    f"W of the {_LABEL[lab]} dynamics with attractors, saddles, basin boundaries and minimum action paths.",
                )
    elif dim == 1:
        keep(
            plot.potential_curves(*lands.values(), labels=[_LABEL[k] for k in lands]),
            "potential",
            "W(x) of each dynamics; circles: attractors, stars: ground states.",
        )
    elif dim == 3:
        for lab, L in lands.items():
            keep(
                plot.potential_slices(L),
                f"slices_{lab}",
                f"W of the {_LABEL[lab]} dynamics on three planes z = const through the ground state.",
            )
    # weights: theory limit (over all attractors) and Monte Carlo occupation per step size
    for lab, L in lands.items():
        m = len(L.attractors)
        if m < 2 and not outc.montecarlo.get(lab):
            continue
        w = np.zeros(m)
        wh = _weights_or_nan(L)
        w[list(L.ground_states)] = wh
        data = {"limit (Hwang)": w}
        if hasattr(L, "weights"):
            for kind in ("diffusion", "chain") if L.dynamics.kind == "sgd" else ("diffusion",):
                wc = _weights_or_nan(L, kind)
                if np.isfinite(wc).all() and not np.allclose(wc, wh):
                    z = np.zeros(m)
                    z[list(L.ground_states)] = wc
                    data[f"limit ({kind} prefactor)"] = z
        errs = {}
        for row in outc.montecarlo.get(lab, [])[:3]:
            k = f"Monte Carlo γ={row['step_size']:g}"
            data[k] = np.array(row["fractions"][:m])
            errs[k] = np.array(row["se"][:m])
        labels = ["(" + ", ".join(f"{v:.2f}" for v in x) + ")" for x in L.attractors]
        keep(
            plot.weights_bar(data, labels=labels, errors=errs, title=f"{_LABEL[lab]}: mass per basin"),
            f"weights_{lab}",
            f"{_LABEL[lab]}: limit weights as ε → 0 (Hwang's, over the ground states) and the measured fraction of time in each basin.",
        )
    # Monte Carlo
    for lab, rows in outc.montecarlo.items():
        if lab.endswith("_fit"):
            continue
        L = lands[lab]
        runs = outc.runs[lab]
        if L.grid.dim in (1, 2) and runs:
            keep(
                plot.mc_histogram(runs[0], L),
                f"mc_histogram_{lab}",
                f"{_LABEL[lab]}: −γ log of the Monte Carlo visit density at γ = {rows[0]['step_size']:g} against W.",
            )
        if len(rows) >= 2 and len(L.attractors) >= 2:
            g = [r["step_size"] for r in rows]
            lr = [r.get("log_ratio_01", np.nan) for r in rows]
            se = [r.get("log_ratio_01_se", np.nan) for r in rows]
            fig = plot.occupation_ratio(
                g, lr, se, predicted_slope=-(L.energies[0] - L.energies[1]), label="log(P_0 / P_1)"
            )
            keep(
                fig,
                f"mc_ratio_{lab}",
                f"{_LABEL[lab]}: log occupation ratio of basins 0 and 1 against 1/γ; theory's slope is −(W_0 − W_1).",
            )
            T = np.array([r["exit_time"][:2] for r in rows], float)
            E = np.array([r["exit_time_se"][:2] for r in rows], float)
            barrier = [L.costs[0, 1], L.costs[1, 0]]
            keep(
                plot.arrhenius(g, T, E, barrier=barrier, labels=["exit from 0", "exit from 1"]),
                f"mc_arrhenius_{lab}",
                f"{_LABEL[lab]}: Arrhenius plot of the mean exit times (censoring-aware: residence time of exited and "
                "still-waiting chains over the number of exits); theory's slopes are the costs V(0→1), V(1→0).",
            )
    return made


def write_outputs(outc: Outcome, out_dir, *, progress=None) -> dict:
    """Write ``results.npz``, ``summary.json``, ``report.md`` and ``figures/`` under ``out_dir``.
    Returns {"npz", "json", "report", "figures": [...]} (paths)."""
    say = progress or (lambda s: None)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for lab, L in outc.landscapes.items():
        arrays[f"{lab}/potential"] = L.potential
        arrays[f"{lab}/basins"] = L.basins
        arrays[f"{lab}/attractors"] = L.attractors
        arrays[f"{lab}/energies"] = L.energies
        arrays[f"{lab}/costs"] = L.costs
        arrays[f"{lab}/saddles"] = L.saddles
        for i, q in enumerate(L.quasipotentials):
            arrays[f"{lab}/V{i}"] = q.values
    g = next(iter(outc.landscapes.values())).grid
    for k, ax in enumerate(g.axes):
        arrays[f"grid/axis{k}"] = ax
    for lab, runs in outc.runs.items():
        for r in runs:
            if r.hist is not None:
                arrays[f"{lab}/mc_histogram_{r.step_size:g}"] = r.hist
    npz = out_dir / "results.npz"
    np.savez_compressed(npz, **arrays)
    figs = []
    if outc.spec.report.get("enabled", True):
        figs = _figures(outc, out_dir / "figures", outc.spec.report["formats"], say)
    summary = outc.summary()
    js = out_dir / "summary.json"
    js.write_text(json.dumps(summary, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    md = out_dir / "report.md"
    md.write_text(_markdown(outc, figs, out_dir), encoding="utf-8")
    return {"npz": npz, "json": js, "report": md, "figures": [p for _, p in figs]}


_EXIT_NOTE = (
    "Mean exit times are censoring-aware (the exponential maximum-likelihood estimate): the residence "
    "time after core entries of all chains, exited or still waiting at the end, over the number of exits. "
    "The mean over completed exits alone is biased low when many chains are still waiting."
)


def _fit_sentence(fit):
    """The slope check in one paragraph: fit, theory, z and the verdict (``fw.mc_check``)."""
    return (
        f"Slope of log(P_0/P_1) against 1/γ (fit {fit['model']}, weighted by the chain-level standard errors): "
        f"measured {fit['slope']:.3f} ± {fit['slope_se']:.3f}, theory −(W_0 − W_1) = {fit['predicted_slope']:.3f} "
        f"± {fit['predicted_slope_se']:.2g}; z = {fit['z']:+.2f}, χ²/dof {fit['chi2_dof']:.2g}. "
        f"**{fit['verdict']}**. The aγ term takes the first corrections in γ of the prefactors and of the finite "
        f"step; the verdict is |z| ≤ {Z_MAX:g}."
    )


def _markdown(outc, figs, out_dir):
    s = outc.spec
    lines = [f"# {s.name}", "", s.description, ""]
    any_L = next(iter(outc.landscapes.values()))
    lines += [
        f"Solver `method={outc.method!r}` on a {' × '.join(map(str, any_L.grid.shape))} grid over "
        + " × ".join(f"[{lo:g}, {hi:g}]" for lo, hi in any_L.grid.bounds)
        + ". Energies are in units of ε (the temperature for Langevin, the step size γ for SGD); the stationary "
        "law concentrates like exp(−W/ε). ± is the estimated discretisation error "
        f"({any_L.info.get('error_estimate')}).",
        "",
    ]
    if outc.comparison is not None:
        verdict = "the same ground states" if outc.comparison.same_ground_states else "**different ground states**"
        lines += [f"## SGD vs Langevin: {verdict}", "", markdown_table(None, outc.comparison), ""]
    for lab, L in outc.landscapes.items():
        lines += [
            f"## {_LABEL[lab]}: {L.dynamics.name}",
            "",
            markdown_table(L),
            "",
            "Pairwise costs V(K_i → K_j):",
            "",
            _costs_table(L),
            "",
        ]
        if len(L.saddles):
            lines += [
                "| saddle | f | W at the saddle | V from the attractors it joins |",
                "| --- | ---: | ---: | --- |",
            ]
            for d in _saddle_values(L):
                vf = ", ".join(f"V_{i} = {v:.4f}" for i, v in d["V_from"].items())
                lines.append(f"| ({', '.join(f'{v:.4f}' for v in d['point'])}) | {d['f']:.4f} | {d['W']:.4f} | {vf} |")
            lines.append("")
    if outc.exact_error is not None:
        e = outc.exact_error
        lines += [
            "## Check against the exact V",
            "",
            f"max |V − V_exact| = {e['max']:.3g}, RMS {e['rms']:.3g} over {e['nodes']} nodes (attractor 0).",
            "",
        ]
    if outc.montecarlo:
        lines += ["## Monte Carlo", ""]
        for lab, rows in outc.montecarlo.items():
            if lab.endswith("_fit"):
                continue
            L = outc.landscapes[lab]
            m = len(L.attractors)
            lines += [
                f"{_LABEL[lab]} (the real algorithm{'; unadjusted Langevin at temperature ε = γ' if lab == 'langevin' else ''}):",
                "",
                "| γ | "
                + " | ".join(f"time in basin {i}" for i in range(m))
                + " | log(P_0/P_1) | −(W_0−W_1)/γ | mean exit times (t = nγ) | exits | still waiting | diverged | seconds |",
                "| ---: |" + " ---: |" * m + " ---: | ---: | --- | --- | --- | ---: | ---: |",
            ]
            for r in rows:
                fr = " | ".join(f"{p:.4f} ± {e:.1g}" for p, e in zip(r["fractions"][:m], r["se"][:m]))
                lr = f"{r['log_ratio_01']:.3f} ± {r['log_ratio_01_se']:.2g}"
                th = f"{-(L.energies[0] - L.energies[1]) / r['step_size']:.3f}"
                ts = ", ".join(f"{t:.3g}" if np.isfinite(t) else "–" for t in r["exit_time"])
                ns = ", ".join(str(int(n)) for n in r["n_exits"])
                cs = ", ".join(str(int(n)) for n in r["censored"])
                lines.append(
                    f"| {r['step_size']:g} | {fr} | {lr} | {th} | {ts} | {ns} | {cs} | {r['n_diverged']} | {r['seconds']:.1f} |"
                )
            lines += ["", _EXIT_NOTE]
            fit = outc.montecarlo.get(lab + "_fit")
            if fit:
                lines += ["", _fit_sentence(fit)]
            lines.append("")
    if outc.fokker_planck:
        lines += [
            "## Stationary Fokker–Planck (FiPy)",
            "",
            "Diffusion approximation at noise level ε. Gap: max |(−ε log p) − W| on the nodes below the highest "
            "saddle (it shrinks like ε: −ε log p = W − ε log K + O(ε²)). Basin masses against the landscape's "
            "predictions K_i det(∇²W_i)^(−1/2) exp(−W_i/ε) with K from each kind of prefactor.",
            "",
        ]
        for lab, rows in outc.fokker_planck.items():
            m = len(outc.landscapes[lab].attractors)
            lines += [
                f"{_LABEL[lab]}:",
                "",
                "| ε | gap | FP masses | predicted (Hwang) | predicted (diffusion) | predicted (chain) | seconds |",
                "| ---: | ---: | --- | --- | --- | --- | ---: |",
            ]

            def fmt(v, m=m):
                return ", ".join(f"{x:.4f}" for x in v[:m])

            for r in rows:
                lines.append(
                    f"| {r['eps']:g} | {r['gap']:.4f} | {fmt(r['masses'])} | {fmt(r['predicted_hwang'])} | "
                    f"{fmt(r['predicted_diffusion'])} | {fmt(r['predicted_chain'])} | {r['seconds']:.1f} |"
                )
            lines.append("")
    if figs:
        lines += ["## Figures", ""]
        for cap, p in figs:
            rel = Path(p).relative_to(out_dir)
            lines += [f"![{cap}]({rel.as_posix()})", "", f"*{cap}*", ""]
    if outc.notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in outc.notes] + [""]
    t = outc.seconds.get("total")
    if t is not None:
        lines += [f"Computed in {t:.1f} s."]
    return "\n".join(lines) + "\n"
