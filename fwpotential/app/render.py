"""Write an :class:`~fwpotential.app.report.Outcome` as files: arrays (``results.npz``), a JSON summary
(``summary.json``), figures (``figures/``) and a Markdown report (``report.md``)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from fwpotential import plot
from fwpotential.app.report import LABELS, Outcome
from fwpotential.montecarlo.check import Z_MAX

__all__ = ["write_outputs", "markdown_table", "jsonable", "is_network"]


def is_network(outc: Outcome) -> bool:
    """Whether the outcome holds transition networks (a ``[network]`` file, no grid)."""
    return outc.spec.network is not None


def _network_arrays(lab, N):
    """A network's arrays for ``results.npz``: attractors, energies, costs, saddles, and each path's
    points, arc length and cumulative action (key ``<lab>/path_<attractor>_s<saddle>/...``)."""
    out = {
        f"{lab}/attractors": N.attractors,
        f"{lab}/attractor_values": N.attractor_values,
        f"{lab}/energies": N.energies,
        f"{lab}/costs": N.costs,
        f"{lab}/saddles": N.saddles,
        f"{lab}/saddle_values": N.saddle_values,
        f"{lab}/saddle_joins": N.saddle_joins,
    }
    for (i, k), p in N.paths.items():
        out[f"{lab}/path_{i}_s{k}/points"] = p.points
        out[f"{lab}/path_{i}_s{k}/arclength"] = p.arclength
        out[f"{lab}/path_{i}_s{k}/action_profile"] = p.action_profile
    return out


def write_outputs(outc: Outcome, out_dir, *, progress=None) -> dict:
    """Write ``results.npz``, ``summary.json``, ``report.md`` and ``figures/`` under ``out_dir``.
    Returns {"npz", "json", "report", "figures": [...]} (paths)."""
    say = progress or (lambda s: None)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    arrays = {}
    networked = is_network(outc)
    for lab, L in outc.landscapes.items():
        if networked:
            arrays.update(_network_arrays(lab, L))
            continue
        arrays[f"{lab}/potential"] = L.potential
        arrays[f"{lab}/basins"] = L.basins
        arrays[f"{lab}/attractors"] = L.attractors
        arrays[f"{lab}/energies"] = L.energies
        arrays[f"{lab}/costs"] = L.costs
        arrays[f"{lab}/saddles"] = L.saddles
        for i, q in enumerate(L.quasipotentials):
            arrays[f"{lab}/V{i}"] = q.values
    g = getattr(next(iter(outc.landscapes.values())), "grid", None)
    for k, ax in enumerate(g.axes if g is not None else ()):
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
    summary = jsonable(outc.to_dict())
    js = out_dir / "summary.json"
    js.write_text(json.dumps(summary, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    md = out_dir / "report.md"
    md.write_text(_markdown(outc, figs, out_dir), encoding="utf-8")
    return {"npz": npz, "json": js, "report": md, "figures": [p for _, p in figs]}


def jsonable(o):
    """``o`` with NumPy scalars and arrays as Python values, NaN as None and ±inf as "inf" / "-inf"."""
    if isinstance(o, dict):
        return {str(k): jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [jsonable(v) for v in o]
    if isinstance(o, np.ndarray):
        return jsonable(o.tolist())
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


def markdown_table(L, comparison=None) -> str:
    """Markdown table of a landscape's attractors (or of an SGD/Langevin comparison)."""

    def pos(x):
        return _pos(x)

    if comparison is not None:
        La, S = comparison.langevin, comparison.sgd
        wl, ws = La.weights_or_nan(), S.weights_or_nan()
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
    w = L.weights_or_nan()
    gs = list(L.ground_states)
    has_f = np.isfinite(L.attractor_values).any()
    rows = ["| # | attractor | " + ("f | " if has_f else "") + "energy W | ground state | Hwang weight |"]
    rows.append("| ---: | --- | " + ("---: | " if has_f else "") + "---: | :---: | ---: |")
    for i, x in enumerate(L.attractors):
        g = i in gs
        rows.append(
            f"| {i} | {_pos(x)} | "
            + (f"{L.attractor_values[i]:.4f} | " if has_f else "")
            + f"{L.energies[i]:.4f} ± {L.energy_errors[i]:.1g} | {'yes' if g else ''} | {f'{w[gs.index(i)]:.3f}' if g else ''} |"
        )
    return "\n".join(rows)


def _pos(x, n=3):
    """A point as "(x0, x1, x2, …)": the first n coordinates, then an ellipsis in higher dimension."""
    return "(" + ", ".join(f"{v:.4f}" for v in x[:n]) + (", …)" if len(x) > n else ")")


def _costs_table(L):
    m = len(L.attractors)
    head = "| from \\ to | " + " | ".join(str(j) for j in range(m)) + " |"
    rows = [head, "| --- |" + " ---: |" * m]
    for i in range(m):
        rows.append(f"| {i} | " + " | ".join("–" if i == j else f"{L.costs[i, j]:.4f}" for j in range(m)) + " |")
    return "\n".join(rows)


def _figures(outc, fig_dir, formats, say):
    """Make the figures; returns [(caption, relative path of the PNG or first format)]."""
    made = []

    def keep(fig, stem, caption):
        paths = plot.save(fig, fig_dir / stem, formats=formats)
        made.append((caption, paths[0]))

    say("figures ...")
    if is_network(outc):
        _network_figures(outc, keep)
    else:
        _potential_figures(outc, keep)
    _weight_figures(outc, keep)
    _montecarlo_figures(outc, keep)
    return made


def _potential_figures(outc, keep):
    """Maps (2-D), curves (1-D) or slices (3-D) of W."""
    lands = outc.landscapes
    dim = next(iter(lands.values())).grid.dim
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
                    plot.potential_map(L, title=LABELS[lab]),
                    f"potential_{lab}",
                    f"W of the {LABELS[lab]} dynamics with attractors, saddles, basin boundaries and minimum action paths.",
                )
    elif dim == 1:
        keep(
            plot.potential_curves(*lands.values(), labels=[LABELS[k] for k in lands]),
            "potential",
            "W(x) of each dynamics; circles: attractors, stars: ground states.",
        )
    elif dim == 3:
        for lab, L in lands.items():
            keep(
                plot.potential_slices(L),
                f"slices_{lab}",
                f"W of the {LABELS[lab]} dynamics on three planes z = const through the ground state.",
            )


def _network_figures(outc, keep):
    """Disconnectivity graphs (the SGD/Langevin pair, or one over W), and per network the action
    along its paths and the paths on their principal plane."""
    nets = outc.landscapes
    if outc.comparison is not None:
        keep(
            plot.disconnectivity_pair(outc.comparison),
            "disconnectivity_pair",
            "Disconnectivity graphs: Langevin over f − f* (= its W), SGD over its W (units of γ); leaves are the "
            "minima (stars: ground states), joined at the saddles.",
        )
    for lab, N in nets.items():
        if outc.comparison is None or lab == "sgd_gaussian":
            keep(
                plot.disconnectivity(N, level="W", title=LABELS[lab]),
                f"disconnectivity_{lab}",
                f"{LABELS[lab]}: disconnectivity graph over W (minima at their energies, saddles at the level where "
                "their basins join).",
            )
    for lab, N in nets.items():
        if not N.paths:
            continue
        keep(
            plot.path_profile(N),
            f"path_profile_{lab}",
            f"{LABELS[lab]}: cumulative action V (solid) and f − f(start) (dashed) along each minimum action path "
            "(attractor → saddle) against arc length.",
        )
        keep(
            plot.path_projection(N),
            f"path_projection_{lab}",
            f"{LABELS[lab]}: the minimum action paths on their two leading principal components, with the "
            "attractors (stars: ground states) and saddles (crosses).",
        )


def _weight_figures(outc, keep):
    """Per landscape: the theory's limit weights (over all attractors) and the Monte Carlo occupation
    per step size."""
    for lab, L in outc.landscapes.items():
        m = len(L.attractors)
        if m < 2 and not outc.montecarlo.get(lab):
            continue
        w = np.zeros(m)
        wh = L.weights_or_nan()
        w[list(L.ground_states)] = wh
        data = {"limit (Hwang)": w}
        for kind in ("diffusion", "chain") if L.dynamics.kind == "sgd" else ("diffusion",):
            wc = L.weights_or_nan(kind)
            if np.isfinite(wc).all() and not np.allclose(wc, wh):
                z = np.zeros(m)
                z[list(L.ground_states)] = wc
                data[f"limit ({kind} prefactor)"] = z
        errs = {}
        for row in outc.montecarlo.get(lab, [])[:3]:
            k = f"Monte Carlo γ={row['step_size']:g}"
            data[k] = np.array(row["fractions"][:m])
            errs[k] = np.array(row["se"][:m])
        labels = ["(" + ", ".join(f"{v:.2f}" for v in x[:3]) + (", …)" if len(x) > 3 else ")") for x in L.attractors]
        keep(
            plot.weights_bar(data, labels=labels, errors=errs, title=f"{LABELS[lab]}: mass per basin"),
            f"weights_{lab}",
            f"{LABELS[lab]}: limit weights as ε → 0 (Hwang's, over the ground states) and the measured fraction of time in each basin.",
        )


def _montecarlo_figures(outc, keep):
    """Per simulated dynamics: the visit density against W, the occupation ratio and the exit times
    against 1/γ."""
    for lab, rows in outc.montecarlo.items():
        L = outc.landscapes[lab]
        runs = outc.runs[lab]
        if getattr(L, "grid", None) is not None and L.grid.dim in (1, 2) and runs:
            keep(
                plot.mc_histogram(runs[0], L),
                f"mc_histogram_{lab}",
                f"{LABELS[lab]}: −γ log of the Monte Carlo visit density at γ = {rows[0]['step_size']:g} against W.",
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
                f"{LABELS[lab]}: log occupation ratio of basins 0 and 1 against 1/γ; theory's slope is −(W_0 − W_1).",
            )
            T = np.array([r["exit_time"][:2] for r in rows], float)
            E = np.array([r["exit_time_se"][:2] for r in rows], float)
            barrier = [L.costs[0, 1], L.costs[1, 0]]
            keep(
                plot.arrhenius(g, T, E, barrier=barrier, labels=["exit from 0", "exit from 1"]),
                f"mc_arrhenius_{lab}",
                f"{LABELS[lab]}: Arrhenius plot of the mean exit times (censoring-aware: residence time of exited and "
                "still-waiting chains over the number of exits); theory's slopes are the costs V(0→1), V(1→0).",
            )


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
    lines += _md_method(outc, any_L)
    if outc.comparison is not None:
        verdict = "the same ground states" if outc.comparison.same_ground_states else "**different ground states**"
        lines += [f"## SGD vs Langevin: {verdict}", "", markdown_table(None, outc.comparison), ""]
    for lab, L in outc.landscapes.items():
        lines += _md_landscape(lab, L)
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
            lines += _md_montecarlo(lab, rows, outc.landscapes[lab], outc.montecarlo_fits.get(lab))
    if outc.fokker_planck:
        lines += _md_fokker_planck(outc)
    if figs:
        lines += ["## Figures", ""]
        for cap, p in figs:
            rel = Path(p).relative_to(out_dir)
            lines += [f"![{cap}]({rel.as_posix()})", "", f"*{cap}*", ""]
    if outc.warnings:
        lines += ["## Warnings", ""] + [f"- {n}" for n in outc.warnings] + [""]
    lines += [f"Computed in {outc.seconds:.1f} s."]
    return "\n".join(lines) + "\n"


def _md_method(outc, any_L):
    """The paragraph saying how the potentials were computed (grid solver, or paths without a grid)."""
    units = (
        "Energies are in units of ε (the temperature for Langevin, the step size γ for SGD); the stationary "
        "law concentrates like exp(−W/ε). "
    )
    if is_network(outc):
        opts = any_L.info.get("options", {})
        return [
            f"Transition networks without a grid in d = {any_L.dim}: minima by local optimisation, index-1 saddles "
            f"between them, costs from minimum action paths (`method={outc.method!r}`, n_points = "
            f"{opts.get('n_points')}) to the saddles, W-graph energies. " + units + "± is the estimated path error "
            "(the action change when n_points is halved; 0 where the cost has a closed form, as for Langevin).",
            "",
        ]
    return [
        f"Solver `method={outc.method!r}` on a {' × '.join(map(str, any_L.grid.shape))} grid over "
        + " × ".join(f"[{lo:g}, {hi:g}]" for lo, hi in any_L.grid.bounds)
        + ". "
        + units
        + f"± is the estimated discretisation error ({any_L.info.get('error_estimate')}).",
        "",
    ]


def _md_network_saddles(N):
    """A network's saddles: point, f, the attractors they join, and the W level where they join them."""
    lines = ["| saddle | point | f | joins | V from each joined attractor |", "| ---: | --- | ---: | --- | --- |"]
    for k, (x, f, j) in enumerate(zip(N.saddles, N.saddle_values, N.saddle_joins)):
        vf = ", ".join(f"V_{int(i)} = {N.paths[(int(i), k)].action:.4f}" for i in j if (int(i), k) in N.paths)
        lines.append(f"| s{k} | {_pos(x)} | {f:.4f} | {', '.join(str(int(i)) for i in j)} | {vf} |")
    return lines + [""]


def _md_landscape(lab, L):
    """One landscape: attractors, pairwise costs, saddles."""
    lines = [
        f"## {LABELS[lab]}: {L.dynamics.name}", "", markdown_table(L), "",
        "Pairwise costs V(K_i → K_j):", "", _costs_table(L), "",
    ]  # fmt: skip
    if not hasattr(L, "grid"):
        return lines + (_md_network_saddles(L) if len(L.saddles) else [])
    if len(L.saddles):
        lines += [
            "| saddle | f | W at the saddle | V from the attractors it joins |",
            "| --- | ---: | ---: | --- |",
        ]
        for d in L.saddle_levels():
            vf = ", ".join(f"V_{i} = {v:.4f}" for i, v in d["V_from"].items())
            lines.append(f"| ({', '.join(f'{v:.4f}' for v in d['point'])}) | {d['f']:.4f} | {d['W']:.4f} | {vf} |")
        lines.append("")
    return lines


def _md_montecarlo(lab, rows, L, fit):
    """One simulated dynamics: per-γ occupation, ratio, exit times; the slope check."""
    m = len(L.attractors)
    lines = [
        f"{LABELS[lab]} (the real algorithm{'; unadjusted Langevin at temperature ε = γ' if lab == 'langevin' else ''}):",
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
    if fit:
        lines += ["", _fit_sentence(fit)]
    lines.append("")
    return lines


def _md_fokker_planck(outc):
    """Per dynamics and ε: the gap to W and the basin masses against the predicted ones."""
    lines = [
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
            f"{LABELS[lab]}:",
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
    return lines
