"""Problem files (TOML): read, validate strictly, and build the objects they describe.

A problem file says what to compute; :mod:`fwpotential.app.report` computes it and writes the files.
Every unknown key, missing field and wrong type is a :class:`ConfigError` (an ``InputError``) whose
message names the key (``[noise] variance``) and the expected form. The full reference is
``docs/problem-files.md``; the shortest file:

.. code-block:: toml

    name = "double well"
    description = "Langevin and SGD on a tilted double well."
    kind = "compare"                        # "compare" (SGD vs Langevin), "sgd", "langevin", "diffusion"

    [loss]
    expr = "(x**2 - 1)**2/4 + x/10 + y**2/2"

    [noise]                                 # SGD's noise law (kinds "compare" and "sgd")
    law = "isotropic"
    variance = "0.2 + (x - 1)**2"

    [grid]
    bounds = [[-2, 2], [-1.5, 1.5]]
    shape = [129, 129]
"""

from __future__ import annotations

import csv
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from fwpotential.errors import InputError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    try:
        import tomli as tomllib
    except ImportError:  # pragma: no cover
        tomllib = None

__all__ = ["ConfigError", "ProblemFile", "load", "loads", "DEMO_TOML", "KINDS", "NOISE_LAWS"]

KINDS = ("compare", "sgd", "langevin", "diffusion")
NOISE_LAWS = ("isotropic", "gaussian", "minibatch")


class ConfigError(InputError):
    """A problem file that does not validate; the message names the key and the expected form."""


# ----------------------------------------------------------------------------------------------
# The embedded demo problem (``fwpotential demo``); also fwpotential/examples/sgd_vs_langevin.toml.
DEMO_TOML = '''
name = "sgd_vs_langevin"
description = """
A tilted double well in a curved valley, f = (x^2 - 1)^2/4 + x/10 + (y + (x^2 - 1)/2)^2/2: the left
minimum is lower by 0.2, so Langevin dynamics (and gradient descent with Gaussian noise of constant
variance) concentrates there. SGD's gradient noise here is isotropic with variance
0.2 + 3(1 - exp(-|x - x_R|^2/2)), x_R = (1, 0): small at the right minimum (as near a solution that fits
every sample) and about 2.8 at the left one. Leaving the left well is then cheap for SGD, leaving the
right one dear: SGD's Freidlin-Wentzell ground state is the right minimum, where f is higher. A short
Monte Carlo run of the real SGD and of the unadjusted Langevin algorithm at four step sizes checks
the energies: log(P_left/P_right) = c - (W_left - W_right)/gamma + a gamma.
"""
kind = "compare"

[loss]
expr = "(x**2 - 1)**2/4 + x/10 + (y + (x**2 - 1)/2)**2/2"

[noise]
law = "isotropic"
variance = "0.2 + 3*(1 - exp(-((x - 1)**2 + y**2)/2))"

[grid]
bounds = [[-2.0, 2.0], [-1.5, 1.5]]
shape = [129, 129]

[solve]
method = "olim"

[montecarlo]
step_sizes = [0.07, 0.09, 0.12, 0.16]
n_chains = 500
n_steps = 100000
burn_in = 20000
seed = 1
'''


# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ProblemFile:
    """A validated problem file. Fields mirror the TOML tables (see the module docstring).

    ``source`` is the file's path (or ``"<string>"``); relative CSV paths are read from its folder.
    """

    name: str
    description: str
    kind: str
    loss: dict | None
    noise: dict | None
    diffusion: dict | None
    grid: dict
    solve: dict
    montecarlo: dict | None
    fokker_planck: dict | None
    exact: dict | None
    report: dict
    source: str = "<string>"
    raw: dict = field(default_factory=dict, repr=False)

    # ---- builders ------------------------------------------------------------------------
    def build_grid(self):
        from fwpotential.geometry.grid import Grid

        return Grid(self.grid["bounds"], self.grid["shape"])

    def build_loss(self):
        """The Loss (or FiniteSum) of ``[loss]``."""
        from fwpotential.model.loss import FiniteSum, Loss

        L = self.loss
        try:
            if "expr" in L:
                return Loss.from_expr(L["expr"], variables=L.get("variables"), params=L.get("params"))
            if "samples" in L:
                return FiniteSum(
                    [Loss.from_expr(e, variables=L.get("variables"), params=L.get("params")) for e in L["samples"]]
                )
            data = L.get("data")
            if data is None:
                data = _read_csv(L["csv"], self.source)
            return FiniteSum.from_expr(
                L["sample_expr"], data=data, variables=L.get("variables"), params=L.get("params")
            )
        except ConfigError:
            raise
        except InputError as exc:
            raise ConfigError(f"{self._where()}[loss]: {exc}") from None

    def build_dynamics(self) -> dict:
        """{label: Dynamics} to compute: "langevin", "sgd" (and "sgd_gaussian" when the minibatch
        noise is compared with its Gaussian approximation), or "diffusion"."""
        from fwpotential.model.dynamics import Diffusion, langevin, sgd
        from fwpotential.model.noise import GaussianNoise, IsotropicNoise

        if self.kind == "diffusion":
            D = self.diffusion
            try:
                dyn = Diffusion(
                    D["drift"],
                    cov=_cov_value(D.get("cov", 1.0)),
                    variables=D.get("variables"),
                    params=D.get("params"),
                    name=self.name,
                )
            except ConfigError:
                raise
            except InputError as exc:
                raise ConfigError(f"{self._where()}[diffusion]: {exc}") from None
            return {"diffusion": dyn}
        loss = self.build_loss()
        out = {}
        if self.kind in ("compare", "langevin"):
            out["langevin"] = langevin(loss)
        if self.kind in ("compare", "sgd"):
            N = self.noise
            try:
                B = N.get("batch_size")
                if N["law"] == "isotropic":
                    out["sgd"] = sgd(loss, noise=IsotropicNoise(N["variance"], params=N.get("params")), batch_size=B)
                elif N["law"] == "gaussian":
                    out["sgd"] = sgd(
                        loss, noise=GaussianNoise(_cov_value(N["cov"]), params=N.get("params")), batch_size=B
                    )
                else:
                    out["sgd"] = sgd(loss, batch_size=B, replace=N.get("replace", True))
                    if N.get("compare_gaussian", False):
                        out["sgd_gaussian"] = sgd(loss, noise="gaussian", batch_size=B, replace=N.get("replace", True))
            except ConfigError:
                raise
            except InputError as exc:
                raise ConfigError(f"{self._where()}[noise]: {exc}") from None
        return out

    def build_attractors(self, grid):
        """None (find the stable equilibria) or the list given in ``[solve] attractors`` / ``sets``."""
        from fwpotential.geometry.attractor import Attractor
        from fwpotential.model.loss import Loss

        S = self.solve
        pts = [np.asarray(p, float) for p in S.get("attractors", [])]
        sets = []
        for k, st in enumerate(S.get("sets", [])):
            try:
                g = Loss.from_expr(st["expr"], variables=st.get("variables") or list("xyz"[: grid.dim]))
            except InputError as exc:
                raise ConfigError(f"{self._where()}[solve] sets[{k}].expr: {exc}") from None
            if g.dim != grid.dim:
                raise ConfigError(
                    f"{self._where()}[solve] sets[{k}].expr: a function of {grid.dim} variables, got {g.dim}"
                )
            X = grid.points()
            with np.errstate(invalid="ignore", over="ignore"):
                val = g.value(X)
                gn = np.linalg.norm(g.grad(X), axis=-1)
            tol = float(st.get("width", 0.5)) * float(np.max(grid.spacing)) * np.where(np.isfinite(gn), gn, 0.0)
            mask = np.abs(val) <= tol * (1 + 1e-9)
            if not mask.any():
                raise ConfigError(
                    f"{self._where()}[solve] sets[{k}]: the zero set of {st['expr']!r} misses every grid node; widen 'width'"
                )
            sets.append(Attractor.from_mask(mask))
        if not pts and not sets:
            return None
        return pts + sets

    def exact_values(self, grid):
        """Exact V of ``[exact]`` on the grid nodes (NaN where ``where`` is not > 0), or None."""
        if self.exact is None:
            return None
        V, where = self._exact_losses(grid)
        X = grid.points()
        v = V.value(X)
        if where is not None:
            v = np.where(where.value(X) > 0, v, np.nan)
        return v

    def _exact_losses(self, grid):
        """``[exact]`` V and ``where`` parsed as functions of the grid's variables (None when absent)."""
        if self.exact is None:
            return None, None
        from fwpotential.model.loss import Loss

        E = self.exact
        names = E.get("variables") or list("xyz"[: grid.dim])
        try:
            V = Loss.from_expr(E["V"], variables=names, params=E.get("params"))
            where = Loss.from_expr(E["where"], variables=names, params=E.get("params")) if "where" in E else None
        except InputError as exc:
            raise ConfigError(f"{self._where()}[exact]: {exc}") from None
        return V, where

    def prepare(self) -> Plan:
        """Build and check everything a run needs before it computes anything.

        ``fwpotential run`` and ``fwpotential check`` both call this, so a file that checks valid
        does not fail later on its input: the grid (and the memory a solve on it needs), the
        dynamics and their dimension, the attractors, the ``[exact]`` expressions, the method with
        its options, and the dynamics named by ``[montecarlo]`` and ``[fokker_planck]``.
        """
        from fwpotential.analysis.landscapes import default_method
        from fwpotential.solvers.api import check_method

        grid = self.build_grid()
        dyns = self.build_dynamics()
        for lab, dyn in dyns.items():
            if dyn.dim != grid.dim:
                raise ConfigError(
                    f"{self._where()}[grid] bounds: the {lab} dynamics is {dyn.dim}-D, the grid {grid.dim}-D"
                )
        attractors = self.build_attractors(grid)
        for a in attractors or []:
            if isinstance(a, np.ndarray) and not grid.contains(a):
                raise ConfigError(
                    f"{self._where()}[solve] attractors: attractor {tuple(a.tolist())} lies outside the grid "
                    f"{grid!r}; enlarge [grid] bounds or move the point"
                )
        self._exact_losses(grid)
        method = self.solve.get("method") or default_method(next(iter(dyns.values())), grid)
        options = dict(self.solve.get("options", {}))
        try:
            check_method(method, options, grid)
        except InputError as exc:
            raise ConfigError(f"{self._where()}[solve]: {exc}") from None
        for table, spec in (("montecarlo", self.montecarlo), ("fokker_planck", self.fokker_planck)):
            missing = [lab for lab in (spec or {}).get("dynamics", []) if lab not in dyns]
            if missing:
                hint = "; set [noise] compare_gaussian = true" if "sgd_gaussian" in missing else ""
                raise ConfigError(
                    f"{self._where()}[{table}] dynamics: {missing} not computed by this file "
                    f"(it computes {sorted(dyns)}){hint}"
                )
        return Plan(grid, dyns, attractors, method, options)

    def _where(self):
        return "" if self.source == "<string>" else f"{self.source}: "


class Plan(NamedTuple):
    """What :meth:`ProblemFile.prepare` built: the objects a run computes with."""

    grid: object
    dynamics: dict
    attractors: list | None
    method: str
    options: dict


# ----------------------------------------------------------------------------------------------
# schema: key -> (checker, required)
def _is_str(v):
    return isinstance(v, str)


def _is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_pos_int(v):
    return isinstance(v, int) and not isinstance(v, bool) and v >= 1


def _is_nonneg_int(v):
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _is_bool(v):
    return isinstance(v, bool)


def _is_str_list(v):
    return isinstance(v, list) and len(v) > 0 and all(isinstance(s, str) for s in v)


def _is_params(v):
    return isinstance(v, dict) and all(_is_num(x) for x in v.values())


def _is_str_or_num(v):
    return _is_str(v) or _is_num(v)


def _is_cov(v):
    if _is_str_or_num(v):
        return True
    return (
        isinstance(v, list)
        and len(v) > 0
        and all(isinstance(r, list) and len(r) == len(v) and all(_is_str_or_num(c) for c in r) for r in v)
    )


def _is_points(v):
    return isinstance(v, list) and all(isinstance(p, list) and p and all(_is_num(c) for c in p) for p in v)


def _is_num_list(v):
    return isinstance(v, list) and len(v) > 0 and all(_is_num(x) for x in v)


def _is_data(v):
    return isinstance(v, dict) and len(v) > 0 and all(_is_num_list(c) for c in v.values())


def _is_str_or_str_list(v):
    return _is_str(v) or _is_str_list(v)


def _is_options(v):
    return isinstance(v, dict)


def _is_sets(v):
    return isinstance(v, list) and all(isinstance(s, dict) for s in v)


S = {
    "str": (_is_str, "a string"),
    "num": (_is_num, "a number"),
    "pos_int": (_is_pos_int, "an integer >= 1"),
    "nonneg_int": (_is_nonneg_int, "an integer >= 0"),
    "bool": (_is_bool, "true or false"),
    "str_list": (_is_str_list, "a non-empty list of strings"),
    "params": (_is_params, "a table of numbers, e.g. {a = 0.3}"),
    "str_or_num": (_is_str_or_num, 'a number or an expression string, e.g. "0.5 + x**2"'),
    "cov": (_is_cov, "a number, an expression string, or a d x d list of lists of numbers/expressions"),
    "points": (_is_points, "a list of points, e.g. [[-1.0, 0.0], [1.0, 0.0]]"),
    "num_list": (_is_num_list, "a non-empty list of numbers"),
    "data": (_is_data, "a table of equal-length number lists, e.g. {u = [0.1, 0.2], t = [1.0, 2.0]}"),
    "str_or_str_list": (_is_str_or_str_list, 'a string or a list of strings, e.g. ["sgd", "langevin"]'),
    "options": (_is_options, "a table of solver options, e.g. {K = 8}"),
    "sets": (_is_sets, 'a list of tables, e.g. [{expr = "x**2 + y**2 - 1"}]'),
}

SCHEMA = {
    None: {"name": ("str", True), "description": ("str", False), "kind": ("str", False)},
    "loss": {
        "expr": ("str", False),
        "samples": ("str_list", False),
        "sample_expr": ("str", False),
        "data": ("data", False),
        "csv": ("str", False),
        "variables": ("str_list", False),
        "params": ("params", False),
    },
    "noise": {
        "law": ("str", True),
        "variance": ("str_or_num", False),
        "cov": ("cov", False),
        "batch_size": ("pos_int", False),
        "replace": ("bool", False),
        "compare_gaussian": ("bool", False),
        "params": ("params", False),
    },
    "diffusion": {
        "drift": ("str_list", True),
        "cov": ("cov", False),
        "variables": ("str_list", False),
        "params": ("params", False),
    },
    "grid": {"bounds": ("points", True), "shape": ("num_list", True)},
    "solve": {
        "method": ("str", False),
        "options": ("options", False),
        "attractors": ("points", False),
        "sets": ("sets", False),
        "estimate_error": ("bool", False),
        "tie_tol": ("num", False),
    },
    "montecarlo": {
        "step_sizes": ("num_list", True),
        "n_chains": ("pos_int", False),
        "n_steps": ("pos_int", False),
        "burn_in": ("nonneg_int", False),
        "seed": ("nonneg_int", False),
        "dynamics": ("str_or_str_list", False),
    },
    "fokker_planck": {
        "eps": ("num_list", True),
        "dynamics": ("str_or_str_list", False),
    },
    "exact": {
        "V": ("str", True),
        "where": ("str", False),
        "variables": ("str_list", False),
        "params": ("params", False),
    },
    "report": {"formats": ("str_list", False), "enabled": ("bool", False)},
}
_SET_KEYS = {"expr": ("str", True), "width": ("num", False), "variables": ("str_list", False)}
_TABLE_DOC = {
    "loss": "a loss: expr, or samples (list of expressions), or sample_expr with data or csv",
    "noise": "SGD's noise law: law = " + " | ".join(repr(x) for x in NOISE_LAWS),
    "diffusion": "a diffusion: drift (list of expressions), cov",
    "grid": "the grid: bounds, shape",
    "solve": "solver settings: method, options, attractors, sets, estimate_error, tie_tol",
    "montecarlo": "Monte Carlo settings: step_sizes, n_chains, n_steps, burn_in, seed, dynamics",
    "fokker_planck": "stationary Fokker-Planck (FiPy, 1-D and 2-D) at noise levels eps, per dynamics: eps, dynamics",
    "exact": "an exact quasi-potential for checking: V, where",
    "report": "report settings: formats, enabled",
}


def _check_table(tbl, schema, where):
    unknown = sorted(set(tbl) - set(schema))
    if unknown:
        raise ConfigError(f"{where}{unknown[0]}: unknown key; valid keys here: {', '.join(sorted(schema))}")
    for key, (typ, required) in schema.items():
        if key not in tbl:
            if required:
                check, form = S[typ]
                raise ConfigError(f"{where}{key}: missing; expected {form}")
            continue
        check, form = S[typ]
        if not check(tbl[key]):
            raise ConfigError(f"{where}{key}: expected {form}, got {tbl[key]!r}")


def _table_dynamics(tbl, table, kind, pre, *, simulated):
    """The ``dynamics`` entry of [montecarlo] / [fokker_planck] as a list, checked against ``kind``
    (fw.simulate runs SGD and Langevin only; the Fokker-Planck solve takes any dynamics)."""
    dyns = tbl.get("dynamics", ["sgd", "langevin"] if kind == "compare" else [kind])
    dyns = [dyns] if isinstance(dyns, str) else list(dyns)
    allowed = {
        "compare": ("sgd", "langevin", "sgd_gaussian"),
        "sgd": ("sgd", "sgd_gaussian"),
        "langevin": ("langevin",),
        "diffusion": () if simulated else ("diffusion",),
    }[kind]
    for dname in dyns:
        if dname not in allowed:
            verb = "cannot be simulated" if simulated else "is not solved"
            raise ConfigError(
                f"{pre}[{table}] dynamics: {dname!r} {verb} for kind = {kind!r}"
                + (
                    f"; choose from {', '.join(repr(a) for a in allowed)}"
                    if allowed
                    else " (fw.simulate runs SGD and Langevin only)"
                )
            )
    return dyns


def loads(text, *, source="<string>") -> ProblemFile:
    """Parse and validate a problem file given as a string."""
    if tomllib is None:  # pragma: no cover
        raise ConfigError("reading TOML on Python 3.10 needs the 'tomli' package (pip install tomli)")
    pre = "" if source == "<string>" else f"{source}: "
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{pre}not valid TOML: {exc}") from None
    top = {k: v for k, v in raw.items() if not isinstance(v, dict)}
    tables = {k: v for k, v in raw.items() if isinstance(v, dict)}
    for k in tables:
        if k not in SCHEMA:
            known = ", ".join(f"[{t}]" for t in SCHEMA if t)
            raise ConfigError(f"{pre}[{k}]: unknown table; valid tables: {known}")
    _check_table(top, SCHEMA[None], pre)
    kind = top.get("kind", "compare")
    if kind not in KINDS:
        raise ConfigError(f"{pre}kind: expected one of {', '.join(repr(k) for k in KINDS)}, got {kind!r}")
    for name, tbl in tables.items():
        _check_table(tbl, SCHEMA[name], f"{pre}[{name}] ")
    # required tables by kind
    need = (
        ["grid"]
        + (["diffusion"] if kind == "diffusion" else ["loss"])
        + (["noise"] if kind in ("compare", "sgd") else [])
    )
    for t in need:
        if t not in tables:
            raise ConfigError(f"{pre}[{t}]: missing table (needed for kind = {kind!r}); expected {_TABLE_DOC[t]}")
    if kind == "diffusion":
        for t in ("loss", "noise"):
            if t in tables:
                raise ConfigError(f"{pre}[{t}]: not used with kind = 'diffusion' (give [diffusion] drift and cov)")
    if kind == "langevin" and "noise" in tables:
        raise ConfigError(f"{pre}[noise]: not used with kind = 'langevin' (Langevin's noise is fixed: a = 2I)")
    if "diffusion" in tables and kind != "diffusion":
        raise ConfigError(f"{pre}[diffusion]: only with kind = 'diffusion'")
    loss = tables.get("loss")
    if loss is not None:
        forms = [k for k in ("expr", "samples", "sample_expr") if k in loss]
        if len(forms) != 1:
            raise ConfigError(
                f"{pre}[loss] expr: give exactly one of expr (one expression), samples (a list of per-sample "
                f"expressions) or sample_expr (with data or csv); got {forms or 'none'}"
            )
        if "sample_expr" in loss:
            src = [k for k in ("data", "csv") if k in loss]
            if len(src) != 1:
                raise ConfigError(
                    f'{pre}[loss] data: sample_expr needs exactly one of data = {{col = [...]}} or csv = "file.csv"; got {src or "none"}'
                )
            if "data" in loss and len({len(c) for c in loss["data"].values()}) != 1:
                raise ConfigError(
                    f"{pre}[loss] data: columns must have one length, got lengths {sorted({len(c) for c in loss['data'].values()})}"
                )
        elif "data" in loss or "csv" in loss:
            raise ConfigError(f"{pre}[loss] {'data' if 'data' in loss else 'csv'}: only with sample_expr")
    noise = tables.get("noise")
    if noise is not None:
        law = noise["law"]
        if law not in NOISE_LAWS:
            raise ConfigError(
                f"{pre}[noise] law: expected one of {', '.join(repr(x) for x in NOISE_LAWS)}, got {law!r}"
            )
        needs = {"isotropic": "variance", "gaussian": "cov"}.get(law)
        if needs and needs not in noise:
            raise ConfigError(
                f"{pre}[noise] {needs}: missing; law = {law!r} needs {S['str_or_num'][1] if needs == 'variance' else S['cov'][1]}"
            )
        other = {
            "isotropic": ("cov", "replace", "compare_gaussian"),
            "gaussian": ("variance", "replace", "compare_gaussian"),
            "minibatch": ("variance", "cov"),
        }[law]
        for k in other:
            if k in noise:
                raise ConfigError(f"{pre}[noise] {k}: not used with law = {law!r}")
        if law == "minibatch" and loss is not None and "expr" in loss:
            raise ConfigError(
                f"{pre}[noise] law: 'minibatch' needs a finite-sum loss ([loss] samples or sample_expr), not expr"
            )
    g = tables["grid"]
    b, sh = g["bounds"], g["shape"]
    if not all(len(p) == 2 and p[0] < p[1] for p in b):
        raise ConfigError(
            f"{pre}[grid] bounds: expected [[lo, hi], ...] with lo < hi, one pair per dimension, got {b!r}"
        )
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 3 for n in sh) or len(sh) != len(b):
        raise ConfigError(
            f"{pre}[grid] shape: expected {len(b)} integer(s) >= 3 (nodes per dimension, one per bounds pair), got {sh!r}"
        )
    solve = tables.get("solve", {})
    for k, st in enumerate(solve.get("sets", [])):
        _check_table(st, _SET_KEYS, f"{pre}[solve] sets[{k}].")
    for p in solve.get("attractors", []):
        if len(p) != len(b):
            raise ConfigError(f"{pre}[solve] attractors: points need {len(b)} coordinates, got {p!r}")
    mc = tables.get("montecarlo")
    if mc is not None:
        if any(s <= 0 for s in mc["step_sizes"]):
            raise ConfigError(f"{pre}[montecarlo] step_sizes: step sizes must be > 0, got {mc['step_sizes']!r}")
        dyns = _table_dynamics(mc, "montecarlo", kind, pre, simulated=True)
        mc = {"n_chains": 500, "n_steps": 20000, "burn_in": 2000, "seed": 0, **mc, "dynamics": dyns}
        if mc["burn_in"] >= mc["n_steps"]:
            raise ConfigError(
                f"{pre}[montecarlo] burn_in: {mc['burn_in']} >= n_steps = {mc['n_steps']} leaves no step to count; "
                "give burn_in < n_steps"
            )
    fpc = tables.get("fokker_planck")
    if fpc is not None:
        if any(e <= 0 for e in fpc["eps"]):
            raise ConfigError(f"{pre}[fokker_planck] eps: noise levels must be > 0, got {fpc['eps']!r}")
        dyns = _table_dynamics(fpc, "fokker_planck", kind, pre, simulated=False)
        if len(b) > 2:
            raise ConfigError(
                f"{pre}[fokker_planck]: fw.fokker_planck solves 1-D and 2-D problems, this grid is {len(b)}-D"
            )
        fpc = {**fpc, "dynamics": dyns}
    rep = {"formats": ["png"], "enabled": True, **tables.get("report", {})}
    for f in rep["formats"]:
        if f not in ("png", "pdf", "svg"):
            raise ConfigError(f"{pre}[report] formats: expected a list of 'png', 'pdf', 'svg', got {rep['formats']!r}")
    return ProblemFile(
        name=top["name"],
        description=" ".join(top.get("description", "").split()),
        kind=kind,
        loss=loss,
        noise=noise,
        diffusion=tables.get("diffusion"),
        grid={"bounds": [tuple(float(v) for v in p) for p in b], "shape": tuple(sh)},
        solve={"method": None, "options": {}, "estimate_error": True, **solve},
        montecarlo=mc,
        fokker_planck=fpc,
        exact=tables.get("exact"),
        report=rep,
        source=source,
        raw=raw,
    )


def load(path) -> ProblemFile:
    """Read and validate a problem file."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{path}: no such problem file")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    return loads(text, source=str(p))


def _cov_value(c):
    if isinstance(c, list):
        if all(_is_num(x) for r in c for x in r):
            return np.array(c, float)
        return [[str(x) for x in r] for r in c]
    return c


def _read_csv(name, source):
    base = Path(source).parent if source != "<string>" else Path.cwd()
    p = Path(name)
    p = p if p.is_absolute() else base / p
    if not p.is_file():
        raise ConfigError(
            f"[loss] csv: no such file {str(p)!r} (relative paths are read from the problem file's folder)"
        )
    with open(p, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    if len(rows) < 2:
        raise ConfigError(f"[loss] csv: {p} needs a header row of column names and at least one data row")
    head = [h.strip() for h in rows[0]]
    cols = {h: [] for h in head}
    for r_i, r in enumerate(rows[1:], start=2):
        if not r or all(not c.strip() for c in r):
            continue
        if len(r) != len(head):
            raise ConfigError(f"[loss] csv: {p} line {r_i}: {len(r)} fields, header has {len(head)}")
        for h, c in zip(head, r):
            try:
                cols[h].append(float(c))
            except ValueError:
                raise ConfigError(f"[loss] csv: {p} line {r_i}, column {h!r}: expected a number, got {c!r}") from None
    return {h: np.array(v) for h, v in cols.items()}
