"""Problem files (TOML): the schema, and a loader that validates strictly.

A problem file says what to compute; :mod:`fwpotential.app.problem` builds the objects it describes,
:mod:`fwpotential.app.report` computes them and :mod:`fwpotential.app.render` writes the files.
Every unknown key, missing field and wrong type is a :class:`ConfigError` (an ``InputError``) whose
message names the key (``[noise] variance``) and the expected form. The full reference is
``docs/cli.md`` ("Problem files"); the shortest file:

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

A file with a ``[network]`` table instead of ``[grid]`` works without a grid, in any dimension
(transition networks from minimum action paths):

.. code-block:: toml

    [loss]
    sample_expr = "log(1 + ((t - (w0*u0 + w1*u1 + w2*u2))/0.3)**2)"
    csv = "data.csv"                        # columns u0, u1, u2, t
    variables = { prefix = "w", count = 3 } # w0, w1, w2 (or a list of names)

    [network]
    starts = { random = 20, low = -2, high = 2, seed = 0 }   # or a list of points; or minima = [...]
    method = "gmam"                         # path options: method, n_points, tol, max_iter
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fwpotential.errors import InputError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    try:
        import tomli as tomllib
    except ImportError:  # pragma: no cover
        tomllib = None

__all__ = ["ConfigError", "ProblemFile", "load", "loads", "KINDS", "NOISE_LAWS", "PATH_METHODS", "SCHEMA"]

KINDS = ("compare", "sgd", "langevin", "diffusion")
NOISE_LAWS = ("isotropic", "gaussian", "minibatch", "minibatch_gaussian")


class ConfigError(InputError):
    """A problem file that does not validate; the message names the key and the expected form."""


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
    grid: dict | None
    solve: dict
    montecarlo: dict | None
    fokker_planck: dict | None
    exact: dict | None
    report: dict
    network: dict | None = None
    source: str = "<string>"
    raw: dict = field(default_factory=dict, repr=False)

    @property
    def prefix(self) -> str:
        """What error messages about this file start with: ``"<path>: "``, or ``""`` for a string."""
        return "" if self.source == "<string>" else f"{self.source}: "


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


def _is_variables(v):
    return _is_str_list(v) or isinstance(v, dict)


def _is_starts(v):
    return (isinstance(v, list) and len(v) > 0 and _is_points(v)) or isinstance(v, dict)


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
    "num_or_num_list": (lambda v: _is_num(v) or _is_num_list(v), "a number or a list of numbers (one per variable)"),
    "points": (_is_points, "a list of points, e.g. [[-1.0, 0.0], [1.0, 0.0]]"),
    "num_list": (_is_num_list, "a non-empty list of numbers"),
    "data": (_is_data, "a table of equal-length number lists, e.g. {u = [0.1, 0.2], t = [1.0, 2.0]}"),
    "str_or_str_list": (_is_str_or_str_list, 'a string or a list of strings, e.g. ["sgd", "langevin"]'),
    "options": (_is_options, "a table of solver options, e.g. {K = 8}"),
    "variables": (_is_variables, 'a list of names, e.g. ["w0", "w1"], or { prefix = "w", count = 20 }'),
    "starts": (_is_starts, "a list of points, or { random = 20, low = -1, high = 1, seed = 0 }"),
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
        "variables": ("variables", False),
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
        "variables": ("variables", False),
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
    "network": {
        "starts": ("starts", False),
        "minima": ("points", False),
        "method": ("str", False),
        "n_points": ("pos_int", False),
        "tol": ("num", False),
        "max_iter": ("pos_int", False),
        "tie_tol": ("num", False),
    },
    "report": {"formats": ("str_list", False), "enabled": ("bool", False)},
}
PATH_METHODS = ("gmam", "sgmam", "string")
_VARIABLES_KEYS = {"prefix": ("str", True), "count": ("pos_int", True), "start": ("nonneg_int", False)}
_RANDOM_KEYS = {"random": ("pos_int", True), "low": ("num_or_num_list", True), "high": ("num_or_num_list", True)}
_RANDOM_KEYS["seed"] = ("nonneg_int", False)
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
    "network": "a transition network without a grid: starts or minima, method, n_points, tol, max_iter, tie_tol",
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
    kind = _check_layout(top, tables, pre)
    loss, noise = tables.get("loss"), tables.get("noise")
    if loss is not None:
        _check_loss(loss, pre)
    if noise is not None:
        _check_noise(noise, loss, pre)
    for t in ("loss", "diffusion"):
        if t in tables and "variables" in tables[t]:
            tables[t] = {**tables[t], "variables": _variables(tables[t]["variables"], f"{pre}[{t}] variables")}
    network = _network(tables.get("network"), pre)
    b = _check_grid(tables["grid"], pre) if network is None else None
    solve = tables.get("solve", {})
    for k, st in enumerate(solve.get("sets", [])):
        _check_table(st, _SET_KEYS, f"{pre}[solve] sets[{k}].")
    for p in solve.get("attractors", []):
        if len(p) != len(b):
            raise ConfigError(f"{pre}[solve] attractors: points need {len(b)} coordinates, got {p!r}")
    mc = _montecarlo(tables.get("montecarlo"), kind, pre)
    fpc = _fokker_planck(tables.get("fokker_planck"), kind, len(b) if b is not None else 0, pre)
    rep = {"formats": ["png"], "enabled": True, **tables.get("report", {})}
    for f in rep["formats"]:
        if f not in ("png", "pdf", "svg"):
            raise ConfigError(f"{pre}[report] formats: expected a list of 'png', 'pdf', 'svg', got {rep['formats']!r}")
    return ProblemFile(
        name=top["name"],
        description=" ".join(top.get("description", "").split()),
        kind=kind,
        loss=tables.get("loss"),
        noise=noise,
        diffusion=tables.get("diffusion"),
        grid=None
        if b is None
        else {"bounds": [tuple(float(v) for v in p) for p in b], "shape": tuple(tables["grid"]["shape"])},
        solve={"method": None, "options": {}, "estimate_error": True, **solve},
        montecarlo=mc,
        fokker_planck=fpc,
        exact=tables.get("exact"),
        report=rep,
        network=network,
        source=source,
        raw=raw,
    )


def _check_layout(top, tables, pre):
    """Known tables and keys, the kind, and the tables the kind needs or refuses; returns the kind."""
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
    if ("grid" in tables) == ("network" in tables):
        raise ConfigError(
            f"{pre}[grid]: give exactly one of [grid] (bounds, shape: solve on a grid, d <= 3) or [network] "
            f"(starts or minima: transition network from paths, any d); got {'both' if 'grid' in tables else 'neither'}"
        )
    if "network" in tables:
        for t, why in (("solve", "path options go in [network]"), ("fokker_planck", "it solves on a grid"),
                       ("exact", "it compares on grid nodes")):  # fmt: skip
            if t in tables:
                raise ConfigError(f"{pre}[{t}]: not used with [network] ({why}); give [grid] instead or drop [{t}]")
    need = (
        (["grid"] if "network" not in tables else [])
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
    return kind


def _check_loss(loss, pre):
    """Exactly one form of loss: expr, samples, or sample_expr with exactly one of data / csv."""
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


def _check_noise(noise, loss, pre):
    """A known law with the keys it needs and none of the others'."""
    law = noise["law"]
    if law not in NOISE_LAWS:
        raise ConfigError(f"{pre}[noise] law: expected one of {', '.join(repr(x) for x in NOISE_LAWS)}, got {law!r}")
    needs = {"isotropic": "variance", "gaussian": "cov"}.get(law)
    if needs and needs not in noise:
        raise ConfigError(
            f"{pre}[noise] {needs}: missing; law = {law!r} needs {S['str_or_num'][1] if needs == 'variance' else S['cov'][1]}"
        )
    other = {
        "isotropic": ("cov", "replace", "compare_gaussian"),
        "gaussian": ("variance", "replace", "compare_gaussian"),
        "minibatch": ("variance", "cov"),
        "minibatch_gaussian": ("variance", "cov", "compare_gaussian"),
    }[law]
    for k in other:
        if k in noise:
            raise ConfigError(f"{pre}[noise] {k}: not used with law = {law!r}")
    if law.startswith("minibatch") and loss is not None and "expr" in loss:
        raise ConfigError(
            f"{pre}[noise] law: {law!r} needs a finite-sum loss ([loss] samples or sample_expr), not expr"
        )


def _check_grid(g, pre):
    """Bounds lo < hi and integer shapes >= 3, one per dimension; returns the bounds."""
    b, sh = g["bounds"], g["shape"]
    if not all(len(p) == 2 and p[0] < p[1] for p in b):
        raise ConfigError(
            f"{pre}[grid] bounds: expected [[lo, hi], ...] with lo < hi, one pair per dimension, got {b!r}"
        )
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 3 for n in sh) or len(sh) != len(b):
        raise ConfigError(
            f"{pre}[grid] shape: expected {len(b)} integer(s) >= 3 (nodes per dimension, one per bounds pair), got {sh!r}"
        )
    return b


def _variables(v, where):
    """``variables``: a list of names as given, or ``{prefix, count, start = 0}`` expanded to
    [prefix + str(start), ..., prefix + str(start + count - 1)]."""
    if isinstance(v, list):
        return v
    _check_table(v, _VARIABLES_KEYS, f"{where}.")
    prefix = v["prefix"]
    if not (prefix.isidentifier() and not prefix.startswith("_")):
        raise ConfigError(
            f'{where}.prefix: expected a name such as "w" (letters, digits, _; not starting with _), got {prefix!r}'
        )
    start = v.get("start", 0)
    return [f"{prefix}{k}" for k in range(start, start + v["count"])]


def _network(net, pre):
    """``[network]`` with exactly one of starts / minima, a known path method and positive options
    (None when absent). A ``starts`` spec stays a table; its dimension is checked by ``prepare``."""
    if net is None:
        return None
    where = f"{pre}[network] "
    given = [k for k in ("starts", "minima") if k in net]
    if len(given) != 1:
        raise ConfigError(
            f"{where}starts: give exactly one of starts (points for the minima search, or "
            f"{{ random = k, low = ..., high = ..., seed = 0 }}) or minima (known minima); got {given or 'none'}"
        )
    st = net.get("starts")
    if isinstance(st, dict):
        _check_table(st, _RANDOM_KEYS, f"{where}starts.")
        lo, hi = st["low"], st["high"]
        if isinstance(lo, list) and isinstance(hi, list) and len(lo) != len(hi):
            raise ConfigError(f"{where}starts: low and high need one length, got {len(lo)} and {len(hi)}")
        if not np.all(np.asarray(lo, float) < np.asarray(hi, float)):
            raise ConfigError(
                f"{where}starts: expected low < high in every coordinate, got low = {lo!r}, high = {hi!r}"
            )
    pts = net.get("minima", st if isinstance(st, list) else None)
    if pts is not None and len({len(p) for p in pts}) != 1:
        raise ConfigError(
            f"{where}{given[0]}: points need one number of coordinates, got {sorted({len(p) for p in pts})}"
        )
    method = net.get("method", "gmam")
    if method not in PATH_METHODS:
        raise ConfigError(f"{where}method: expected one of {', '.join(repr(m) for m in PATH_METHODS)}, got {method!r}")
    for k in ("tol", "tie_tol"):
        if k in net and not net[k] > 0:
            raise ConfigError(f"{where}{k}: expected a number > 0, got {net[k]!r}")
    if net.get("n_points", 3) < 3:
        raise ConfigError(f"{where}n_points: expected an integer >= 3 (points per path), got {net['n_points']!r}")
    return {"method": method, "n_points": 100, **net}


def _montecarlo(mc, kind, pre):
    """``[montecarlo]`` with its defaults and the dynamics as a list (None when absent)."""
    if mc is None:
        return None
    if any(s <= 0 for s in mc["step_sizes"]):
        raise ConfigError(f"{pre}[montecarlo] step_sizes: step sizes must be > 0, got {mc['step_sizes']!r}")
    dyns = _table_dynamics(mc, "montecarlo", kind, pre, simulated=True)
    mc = {"n_chains": 500, "n_steps": 20000, "burn_in": 2000, "seed": 0, **mc, "dynamics": dyns}
    if mc["burn_in"] >= mc["n_steps"]:
        raise ConfigError(
            f"{pre}[montecarlo] burn_in: {mc['burn_in']} >= n_steps = {mc['n_steps']} leaves no step to count; "
            "give burn_in < n_steps"
        )
    return mc


def _fokker_planck(fpc, kind, dim, pre):
    """``[fokker_planck]`` with the dynamics as a list (None when absent); 1-D and 2-D only."""
    if fpc is None:
        return None
    if any(e <= 0 for e in fpc["eps"]):
        raise ConfigError(f"{pre}[fokker_planck] eps: noise levels must be > 0, got {fpc['eps']!r}")
    dyns = _table_dynamics(fpc, "fokker_planck", kind, pre, simulated=False)
    if dim > 2:
        raise ConfigError(f"{pre}[fokker_planck]: fw.fokker_planck solves 1-D and 2-D problems, this grid is {dim}-D")
    return {**fpc, "dynamics": dyns}


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
