"""Monte Carlo checks of a landscape's energies, prefactors and barriers (theory.md §6).

Over a ladder of step sizes γ (ε = γ):
- occupation ratio of two attractors: log(P_i/P_j) = -(W_i - W_j)/γ + log(c_i/c_j) + aγ + O(γ²);
  the fitted slope checks the energy gap and gets a verdict, the intercept the prefactors
  c_k = K(x_k) det(∇²W(x_k))^(-1/2) (compared here with K = 1, Hwang's prefactor: exact for Langevin
  and constant isotropic noise). The aγ term collects the first corrections of the Laplace
  expansion and of the finite step (the unadjusted Langevin algorithm's law is not exp(-f/ε));
  without it the slope of a line through moderate γ is biased by several standard errors;
- Arrhenius: log E τ_k = ΔV_k/γ + O(1), ΔV_k = min_j V_kj the cost to leave basin k, with E τ_k
  from the censoring-aware estimate ``Exits.rate_time``;
- density: -γ log p̂ against W on the grid, at the smallest γ.

The slope's verdict: z = (expected - fitted) / √(se_fit² + se_expected²), where se_expected comes
from the landscape's ``energy_errors``; the result is consistent when |z| <= Z_MAX = 3 (a correct
run is then flagged with probability 0.27 % under Gaussian errors). The fit needs at least
MIN_STEP_SIZES = 4 step sizes: three parameters and one degree of freedom to test the model (χ²);
with fewer, the slope of a plain line is reported with no verdict.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from fwpotential import _progress
from fwpotential.analysis.ladder import MIN_STEP_SIZES, fit_step_ladder
from fwpotential.errors import FWWarning, InputError
from fwpotential.montecarlo.run import simulate

__all__ = ["mc_check", "MCCheck", "fit_step_ladder", "Z_MAX", "MIN_STEP_SIZES"]

Z_MAX = 3.0


@dataclass(frozen=True, repr=False)
class MCCheck:
    """Result of :func:`mc_check`.

    Standard errors are chain-level: chains are independent, so each chain's share of the estimate
    is one sample and the correlation between the steps of a chain stays inside that sample (delta
    method over chains, as ``Occupation.log_ratio``). Run k uses seed + k, so the step sizes'
    points are independent and the fits weight them by these errors.

    Attributes
    ----------
    step_sizes : ndarray (k,)
    pair : (i, j)
        Attractors whose occupation ratio is fitted.
    log_ratio, log_ratio_se : ndarray (k,)
        log(P_i / P_j) per γ.
    crossings : ndarray (k,)
        Core-to-core transitions per γ (all attractors).
    model : str
        The fitted law: "c + b/γ + aγ" (at least MIN_STEP_SIZES usable step sizes) or "c + b/γ".
    slope, slope_se, slope_expected, slope_expected_se : float
        Fitted b; expected -(W_i - W_j) from ``land.energies`` and its error from
        ``land.energy_errors`` (0 if the landscape has none). ``slope_se`` is scaled by
        √(χ²/dof) when that exceeds 1 (a misfit widens the error instead of hiding).
    linear, linear_se : float
        Fitted a (nan for the plain line).
    z : float
        (slope_expected - slope) / √(slope_se² + slope_expected_se²).
    consistent : bool or None
        |z| <= Z_MAX; None (no verdict) with fewer than MIN_STEP_SIZES usable step sizes.
    intercept, intercept_se, intercept_expected : float
        Expected log(c_i/c_j) with Hwang's prefactor det(∇²W(x_k))^(-1/2) (``intercept_kind``).
    chi2_dof : float
        Reduced χ² of the occupation fit, before scaling (nan with no degree of freedom).
    arrhenius : list of dict
        Per attractor: slope, se, model, chi2_dof (log E τ fitted like the occupation ratio, with
        the aγ term from MIN_STEP_SIZES points on), barrier (min_j costs[k, j]), n_points (γ with
        at least min_crossings/2 exits), gammas, rate_time, rate_se (per γ; the censoring-aware
        exponential estimate ``Exits.rate_time``).
    density : dict
        At the smallest γ: rms and max of (-γ log p̂ - W) after matching minima, nodes used; empty if
        the landscape has no W on its grid.
    runs : list of Run
    info : dict
        ``warnings``: list of str, the FWWarnings raised (too few crossings, a start not forgotten
        after the burn-in) and the reason when there is no occupation fit.
    """

    step_sizes: np.ndarray
    pair: tuple
    log_ratio: np.ndarray
    log_ratio_se: np.ndarray
    crossings: np.ndarray
    model: str
    slope: float
    slope_se: float
    slope_expected: float
    slope_expected_se: float
    linear: float
    linear_se: float
    z: float
    consistent: bool | None
    intercept: float
    intercept_se: float
    intercept_expected: float
    intercept_kind: str
    chi2_dof: float
    arrhenius: list
    density: dict
    runs: list = field(default_factory=list)
    info: dict = field(default_factory=dict)

    @property
    def notes(self) -> list:
        """Deprecated alias of ``info["warnings"]``."""
        warnings.warn('MCCheck.notes is deprecated; use MCCheck.info["warnings"]', DeprecationWarning, stacklevel=2)
        return self.info.get("warnings", [])

    @property
    def verdict(self) -> str:
        """One line: whether the fitted slope agrees with the landscape's energy gap."""
        return _verdict(self.z, self.consistent, self.model)

    def __repr__(self):
        return (
            f"MCCheck(slope {self.slope:.4g}±{self.slope_se:.2g} vs {self.slope_expected:.4g}, z {self.z:+.2f}, "
            f"{'no verdict' if self.consistent is None else 'consistent' if self.consistent else 'INCONSISTENT'})"
        )

    def __str__(self):
        i, j = self.pair
        L = [f"Monte Carlo check over γ = {', '.join(f'{g:g}' for g in self.step_sizes)} (attractors {i} vs {j})", ""]
        L.append("| γ | log(P_i/P_j) | ± SE | crossings |")
        L.append("|---|---|---|---|")
        for g, y, s, c in zip(self.step_sizes, self.log_ratio, self.log_ratio_se, self.crossings):
            L.append(f"| {g:g} | {y:.4f} | {s:.2g} | {int(c)} |")
        L.append("")
        L.append("| quantity | Monte Carlo | ± SE | landscape | z = (landscape - MC)/SE |")
        L.append("|---|---|---|---|---|")
        se = math.hypot(self.slope_se, self.slope_expected_se)
        L.append(_row(f"slope = -(W_{i} - W_{j}), fit {self.model}", self.slope, se, self.slope_expected))
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
        L.append(
            f"\nχ²/dof of the occupation fit: {self.chi2_dof:.3g}; aγ term: a = {self.linear:.3g} ± {self.linear_se:.2g}"
        )
        L.append(self.verdict)
        for n in self.info.get("warnings", []):
            L.append(f"warning: {n}")
        return "\n".join(L)


def _row(name, v, se, ref):
    z = (ref - v) / se if se > 0 and np.isfinite(se) else float("nan")
    return f"| {name} | {v:.4g} | {se:.2g} | {ref:.4g} | {z:+.2f} |"


def _slope_z(fit, expected, expected_se=0.0):
    """z = (expected - fitted slope) / √(se² + expected_se²) and the verdict |z| <= Z_MAX (None
    when the fit is the plain line, which the O(γ) term biases)."""
    se = math.hypot(fit["slope_se"], expected_se)
    z = (expected - fit["slope"]) / se if se > 0 and np.isfinite(se) else float("nan")
    if fit["model"] == "c + b/γ" or not np.isfinite(z):
        return z, None
    return z, bool(abs(z) <= Z_MAX)


def _verdict(z, consistent, model) -> str:
    """The sentence the report, the command line and ``MCCheck`` print for a slope check."""
    if model == "none":
        return "no verdict: fewer than two step sizes with both basins visited"
    if consistent is None:
        return (
            f"no verdict (z = {z:+.2f}): the fit {model} has no O(γ) term; "
            f"give at least {MIN_STEP_SIZES} step sizes to test the energy gap"
        )
    if consistent:
        return f"consistent (z = {z:+.2f}, |z| <= {Z_MAX:g})"
    return (
        f"INCONSISTENT (z = {z:+.2f}, |z| > {Z_MAX:g}): the simulated occupation ratio does not follow the "
        "landscape's energy gap (wrong landscape or dynamics, too coarse a grid, or step sizes too large for "
        "the expansion in γ)"
    )


def _expected_se(land, i, j):
    e = getattr(land, "energy_errors", None)
    if e is None:
        return 0.0
    e = np.asarray(e, dtype=float)
    v = float(math.hypot(e[i], e[j]))
    return v if np.isfinite(v) else 0.0


def _land_W(land):
    if getattr(land, "grid", None) is None:
        return None
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
    label_every=None,
    progress=None,
) -> MCCheck:
    """Run ``fw.simulate`` at each γ in ``step_sizes`` and compare with the landscape (theory.md §6).

    Parameters
    ----------
    land : Landscape or TransitionNetwork
        Needs attractors, energies, costs and saddles (the exit cores), and for a Landscape its
        grid and basins. A network's runs label chains by quench (``fw.simulate(..., network=)``)
        in any dimension; it has no density check (no grid).
    dyn : Dynamics
        The SGD or Langevin dynamics the landscape was computed for.
    step_sizes : sequence of float
        At least two, and at least MIN_STEP_SIZES = 4 for a verdict on the slope; chosen by the
        caller (nothing is picked silently): crossings must happen, ΔV/γ of a few units to ~10,
        spread over a factor of two or more in γ (the slope and the aγ term are otherwise nearly
        collinear and the slope's error grows).
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
    label_every : int, optional
        Network only: steps between quench labels (default: chosen per γ by ``fw.simulate`` so that
        core entries are not missed, which labels every step or nearly at the larger γ). The
        occupation ratios and the slope's verdict are unbiased for any k; a larger k makes the
        labels cheaper and delays (and can miss) exits, which only the Arrhenius fits use.
    progress : bool, optional
        A progress bar on stderr, one step per γ (each run's bar nested): by default when stderr is a
        terminal and the call runs over ~2 s; True always, False never.

    Returns
    -------
    MCCheck
        ``print(chk)`` shows the tables and the verdict; ``chk.consistent`` and ``chk.z`` hold it.
    """
    gs, att, E, (i, j) = _check_args(land, dyn, step_sizes, pair)
    burn_in = n_steps // 10 if burn_in is None else int(burn_in)
    x0 = np.where((np.arange(n_chains) % 2 == 0)[:, None], att[i], att[j])
    runs, y, se, cross, warned = _run_ladder(
        land, dyn, gs, x0, (i, j), n_steps=n_steps, n_chains=n_chains, seed=seed, burn_in=burn_in,
        min_crossings=min_crossings, label_every=label_every,
    )  # fmt: skip
    slope_expected, slope_expected_se = float(E[j] - E[i]), _expected_se(land, i, j)
    fit, z, consistent, fit_warning = _occupation_fit(gs, y, se, slope_expected, slope_expected_se)
    c_exp, kind = _prefactor_log_ratio(land, dyn, att, i, j, prefactor)
    return MCCheck(
        step_sizes=gs, pair=(i, j), log_ratio=y, log_ratio_se=se, crossings=cross, model=fit["model"],
        slope=fit["slope"], slope_se=fit["slope_se"], slope_expected=slope_expected,
        slope_expected_se=slope_expected_se, linear=fit["linear"], linear_se=fit["linear_se"],
        z=z, consistent=consistent, intercept=fit["intercept"], intercept_se=fit["intercept_se"],
        intercept_expected=c_exp, intercept_kind=kind, chi2_dof=fit["chi2_dof"],
        arrhenius=_arrhenius(land, len(att), gs, runs, min_crossings), density=_density_check(land, gs, runs),
        runs=runs, info={"warnings": warned + fit_warning},
    )  # fmt: skip


def _check_args(land, dyn, step_sizes, pair):
    """Step sizes (k,), attractors (m, d), energies (m,) and the pair (default: the two lowest
    energies), or InputError."""
    gs = np.asarray(step_sizes, dtype=float).reshape(-1)
    if gs.size < 2 or np.any(~(gs > 0)):
        raise InputError(f"step_sizes must hold at least two positive values, got {step_sizes!r}")
    _check_same_dynamics(land, dyn)
    att = np.atleast_2d(np.asarray(land.attractors, dtype=float))
    if len(att) < 2:
        raise InputError(
            f"mc_check needs a landscape or network with at least two attractors, this one has {len(att)}: "
            "an occupation ratio compares two basins"
        )
    E = np.asarray(land.energies, dtype=float)
    if pair is None:
        order = np.argsort(E, kind="stable")
        pair = (int(order[0]), int(order[1]))
    if len(pair) != 2 or not all(0 <= int(p) < len(att) for p in pair) or int(pair[0]) == int(pair[1]):
        raise InputError(f"pair must be two different attractor indices in 0..{len(att) - 1}, got {pair!r}")
    if not np.all(np.isfinite(E[list(pair)])):
        raise InputError(
            f"the energies of the pair {tuple(pair)} must be finite, got {E[list(pair)].tolist()}: no W-graph "
            "reaches an attractor of infinite energy; choose another pair="
        )
    return gs, att, E, tuple(int(p) for p in pair)


def _labelled_by(land, label_every):
    """The keywords of ``fw.simulate`` that label its chains by ``land``: a landscape's grid
    basins, or a network's quenches (a network has no grid)."""
    if getattr(land, "grid", None) is None:
        return {"network": land, "label_every": label_every}
    if label_every is not None:
        raise InputError("label_every= is for a TransitionNetwork; a Landscape labels every step on its grid")
    return {"landscape": land}


def _run_ladder(land, dyn, gs, x0, pair, *, n_steps, n_chains, seed, burn_in, min_crossings, label_every):
    """``fw.simulate`` at each γ (run k with seed + k, chains from x0, labelled by the landscape), and
    per run log(P_i/P_j), its standard error and the core-to-core crossings (arrays (k,)); with the
    warnings, each also raised as FWWarning as its run ends."""
    i, j = pair
    labelled_by = _labelled_by(land, label_every)
    runs, y, se, cross, warned = [], [], [], [], []
    _progress.set_total(len(gs))
    for k, g in enumerate(gs):
        run = simulate(
            dyn,
            step_size=float(g),
            n_steps=n_steps,
            n_chains=n_chains,
            x0=x0,
            seed=seed + k,
            burn_in=burn_in,
            **labelled_by,
        )
        _progress.advance()
        runs.append(run)
        lr, s, n_cross, msg = _occupation_point(land, run, g, pair, min_crossings)
        y.append(lr)
        se.append(s)
        cross.append(n_cross)
        if msg is not None:
            warned.append(msg)
            warnings.warn(msg, FWWarning, stacklevel=4)  # the caller of mc_check, past the progress wrapper
    return runs, np.array(y), np.array(se), np.array(cross), warned


def _occupation_point(land, run, g, pair, min_crossings):
    """log(P_i/P_j), its standard error and the crossings of one run, and a warning or None: too
    few exits, a basin never visited, or a start not forgotten after the burn-in."""
    i, j = pair
    occ = run.occupation(land)
    lr, s = occ.log_ratio(i, j)
    ex = run.exits(land)
    n_cross = int(ex.counts.sum())
    few = min(int(ex.n_exits[i]), int(ex.n_exits[j]))
    if few < min_crossings or not np.isfinite(lr):
        msg = (
            f"γ={g:g}: only {few} exits from basin {i if ex.n_exits[i] <= ex.n_exits[j] else j} "
            f"({n_cross} crossings in all)" + ("" if np.isfinite(lr) else f", basin {i if lr < 0 else j} never visited")
            + "; the occupation has not equilibrated between the basins and its error bar is not reliable "
            "(increase γ, n_steps or n_chains)"
        )  # fmt: skip
        return lr, s, n_cross, msg
    return lr, s, n_cross, _transient_note(run, occ, ex, i, j, s)


def _occupation_fit(gs, y, se, slope_expected, slope_expected_se):
    """The ladder fit of log(P_i/P_j) over the usable step sizes, z, the verdict, and a one-item list
    of warnings when fewer than two step sizes are usable (the fit is then all nan)."""
    ok = np.isfinite(y) & np.isfinite(se) & (se > 0)
    if ok.sum() >= 2:
        fit = fit_step_ladder(gs[ok], y[ok], se[ok])
        z, consistent = _slope_z(fit, slope_expected, slope_expected_se)
        return fit, z, consistent, []
    nan = float("nan")
    fit = {"model": "none", "intercept": nan, "intercept_se": nan, "slope": nan, "slope_se": nan}
    fit.update(linear=nan, linear_se=nan, chi2_dof=nan)
    return fit, nan, None, ["fewer than two step sizes with both basins visited: no occupation fit"]


def _arrhenius(land, m, gs, runs, min_crossings):
    """Per attractor q < m: log E τ_q against 1/γ over the runs with enough exits (see ``MCCheck.arrhenius``)."""
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
            "rate_time": t,
            "rate_se": ts,
        }
        if len(gg) >= 2:
            t, ts = np.array(t), np.array(ts)
            fq = fit_step_ladder(np.array(gg), np.log(t), ts / t)
            rec.update(slope=fq["slope"], se=fq["slope_se"], chi2_dof=fq["chi2_dof"], model=fq["model"])
        arr.append(rec)
    return arr


def _density_check(land, gs, runs):
    """-γ log p̂ against W at the smallest γ, on nodes visited at least 100 times (see
    ``MCCheck.density``); empty when the landscape has no W on its grid or too few nodes qualify."""
    W = _land_W(land)
    if W is None:
        return {}
    kmin = int(np.argmin(gs))
    h = runs[kmin].histogram()
    if h is None or h.shape != W.shape:
        return {}
    use = (h >= 100) & np.isfinite(W)
    if use.sum() < 3:
        return {}
    est = -gs[kmin] * np.log(h[use] / h.sum())
    diff = (est - est.min()) - (W[use] - W[use].min())
    return {
        "gamma": float(gs[kmin]),
        "nodes": int(use.sum()),
        "rms": float(np.sqrt(np.mean(diff**2))),
        "max": float(np.max(np.abs(diff))),
    }


def _transient_note(run, occ, ex, i, j, se):
    """A note when the start (half the chains at each of i, j) still biases log(P_i/P_j) by more
    than se/2 after the burn-in, else None.

    The two-state estimate: the excess |1/2 - p_i| relaxes like exp(-t/τ), 1/τ = 1/τ_i + 1/τ_j
    (mean exit times); averaged over the counted steps T it shifts log(P_i/P_j) by about
    |1/2 - p_i| τ exp(-burn_in/τ) / (T p_i p_j), with p_i = P_i/(P_i + P_j).
    """
    ti, tj = ex.rate_time[i] / run.step_size, ex.rate_time[j] / run.step_size  # steps
    P = occ.fractions
    if not (np.isfinite(ti) and np.isfinite(tj) and P[i] > 0 and P[j] > 0):
        return None
    tau = 1.0 / (1.0 / ti + 1.0 / tj)
    p = P[i] / (P[i] + P[j])
    counted = max(run.n_steps - run.burn_in, 1)
    bias = abs(0.5 - p) * tau * math.exp(-run.burn_in / tau) / (counted * p * (1 - p))
    if bias <= 0.5 * se:
        return None
    return (
        f"γ={run.step_size:g}: the start at the attractors still shifts log(P_{i}/P_{j}) by about {bias:.2g} "
        f"(standard error {se:.2g}): burn_in={run.burn_in} steps is {run.burn_in / tau:.1f} relaxation times "
        f"(τ ≈ {tau:.3g} steps from the exit rates); increase burn_in to about {math.ceil(6 * tau)} or more"
    )


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
