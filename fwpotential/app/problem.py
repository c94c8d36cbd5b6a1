"""Problem files → the objects a run computes with: grid, loss, dynamics, attractors, the exact V,
and the :class:`Plan` that ``fwpotential run`` and ``fwpotential check`` build before computing.

Input errors from the package's constructors come back as :class:`~fwpotential.app.config.ConfigError`
naming the table (``[noise]: ...``).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import NamedTuple

import numpy as np

from fwpotential.analysis.landscapes import default_method
from fwpotential.app.config import ConfigError, ProblemFile
from fwpotential.errors import InputError
from fwpotential.geometry.attractor import Attractor
from fwpotential.geometry.grid import Grid
from fwpotential.model.dynamics import Diffusion, langevin, sgd
from fwpotential.model.loss import FiniteSum, Loss
from fwpotential.model.noise import GaussianNoise, IsotropicNoise
from fwpotential.solvers.api import check_method

__all__ = [
    "Plan",
    "prepare",
    "build_grid",
    "build_network_points",
    "build_loss",
    "build_dynamics",
    "build_attractors",
    "exact_functions",
    "exact_values",
]


class Plan(NamedTuple):
    """What :func:`prepare` built: the objects a run computes with."""

    grid: object
    dynamics: dict
    attractors: list | None
    method: str
    options: dict
    network: dict | None = None


def prepare(spec: ProblemFile) -> Plan:
    """Build and check everything a run needs before it computes anything.

    ``fwpotential run`` and ``fwpotential check`` both call this, so a file that checks valid
    does not fail later on its input: the grid (and the memory a solve on it needs), the
    dynamics and their dimension, the attractors, the ``[exact]`` expressions, the method with
    its options, and the dynamics named by ``[montecarlo]`` and ``[fokker_planck]``.
    """
    pre = spec.prefix
    if spec.network is not None:
        return _prepare_network(spec)
    grid = build_grid(spec)
    dyns = build_dynamics(spec)
    for lab, dyn in dyns.items():
        if dyn.dim != grid.dim:
            raise ConfigError(f"{pre}[grid] bounds: the {lab} dynamics is {dyn.dim}-D, the grid {grid.dim}-D")
    attractors = build_attractors(spec, grid)
    for a in attractors or []:
        if isinstance(a, np.ndarray) and not grid.contains(a):
            raise ConfigError(
                f"{pre}[solve] attractors: attractor {tuple(a.tolist())} lies outside the grid "
                f"{grid!r}; enlarge [grid] bounds or move the point"
            )
    exact_functions(spec, grid)
    method = spec.solve.get("method") or default_method(grid)
    options = dict(spec.solve.get("options", {}))
    try:
        check_method(method, options, grid)
    except InputError as exc:
        raise ConfigError(f"{pre}[solve]: {exc}") from None
    _check_montecarlo_dynamics(spec, dyns)
    return Plan(grid, dyns, attractors, method, options)


def _prepare_network(spec):
    """The Plan of a ``[network]`` file: no grid; ``network`` holds ``starts`` or ``minima`` (k, d)
    and ``options`` the path options (method, n_points, tol, max_iter) and tie_tol."""
    dyns = build_dynamics(spec)
    dims = {dyn.dim for dyn in dyns.values()}
    d = dims.pop()
    points = build_network_points(spec, d)
    N = spec.network
    options = {k: N[k] for k in ("n_points", "tol", "max_iter", "tie_tol") if k in N}
    _check_montecarlo_dynamics(spec, dyns)
    return Plan(grid=None, dynamics=dyns, attractors=None, method=N["method"], options=options, network=points)


def build_network_points(spec: ProblemFile, d) -> dict:
    """``{"starts": (k, d)}`` or ``{"minima": (m, d)}`` from ``[network]``, for dynamics in d dimensions.

    A ``starts = { random = k, low, high, seed }`` table gives k points uniform in the box [low, high]
    (numbers, or one per variable) from ``numpy.random.default_rng(seed)`` (seed 0 by default)."""
    N, pre = spec.network, spec.prefix
    key = "starts" if "starts" in N else "minima"
    st = N[key]
    if isinstance(st, dict):
        for side in ("low", "high"):
            if isinstance(st[side], list) and len(st[side]) != d:
                raise ConfigError(
                    f"{pre}[network] starts.{side}: {len(st[side])} numbers for {d} variables; give {d} or a single number"
                )
        lo, hi = (
            np.broadcast_to(np.asarray(st["low"], float), (d,)),
            np.broadcast_to(np.asarray(st["high"], float), (d,)),
        )
        rng = np.random.default_rng(st.get("seed", 0))
        return {key: lo + (hi - lo) * rng.random((st["random"], d))}
    pts = np.asarray(st, float)
    if pts.shape[1] != d:
        raise ConfigError(
            f"{pre}[network] {key}: points need {d} coordinates (the dynamics is {d}-D), got {pts.shape[1]}"
        )
    return {key: pts}


def _check_montecarlo_dynamics(spec, dyns):
    for table, tbl in (("montecarlo", spec.montecarlo), ("fokker_planck", spec.fokker_planck)):
        missing = [lab for lab in (tbl or {}).get("dynamics", []) if lab not in dyns]
        if missing:
            hint = "; set [noise] compare_gaussian = true" if "sgd_gaussian" in missing else ""
            raise ConfigError(
                f"{spec.prefix}[{table}] dynamics: {missing} not computed by this file (it computes {sorted(dyns)}){hint}"
            )


def build_grid(spec: ProblemFile) -> Grid:
    """The Grid of ``[grid]``."""
    if spec.grid is None:
        raise ConfigError(f"{spec.prefix}[grid]: this file has a [network] table and no grid")
    return Grid(spec.grid["bounds"], spec.grid["shape"])


def build_loss(spec: ProblemFile):
    """The Loss (or FiniteSum) of ``[loss]``."""
    L = spec.loss
    try:
        if "expr" in L:
            return Loss.from_expr(L["expr"], variables=L.get("variables"), params=L.get("params"))
        if "samples" in L:
            return FiniteSum(
                [Loss.from_expr(e, variables=L.get("variables"), params=L.get("params")) for e in L["samples"]]
            )
        data = L.get("data")
        if data is None:
            data = _read_csv(L["csv"], spec.source)
        return FiniteSum.from_expr(L["sample_expr"], data=data, variables=L.get("variables"), params=L.get("params"))
    except ConfigError:
        raise
    except InputError as exc:
        raise ConfigError(f"{spec.prefix}[loss]: {exc}") from None


def build_dynamics(spec: ProblemFile) -> dict:
    """{label: Dynamics} to compute: "langevin", "sgd" (and "sgd_gaussian" when the minibatch
    noise is compared with its Gaussian approximation), or "diffusion"."""
    if spec.kind == "diffusion":
        D = spec.diffusion
        try:
            dyn = Diffusion(
                D["drift"], cov=_cov_value(D.get("cov", 1.0)), variables=D.get("variables"),
                params=D.get("params"), name=spec.name,
            )  # fmt: skip
        except InputError as exc:
            raise ConfigError(f"{spec.prefix}[diffusion]: {exc}") from None
        return {"diffusion": dyn}
    loss = build_loss(spec)
    out = {}
    if spec.kind in ("compare", "langevin"):
        out["langevin"] = langevin(loss)
    if spec.kind in ("compare", "sgd"):
        try:
            out.update(_sgd_dynamics(loss, spec.noise))
        except InputError as exc:
            raise ConfigError(f"{spec.prefix}[noise]: {exc}") from None
    return out


def _sgd_dynamics(loss, N):
    """{"sgd": ..., maybe "sgd_gaussian": ...} for the ``[noise]`` table N."""
    B = N.get("batch_size")
    if N["law"] == "isotropic":
        return {"sgd": sgd(loss, noise=IsotropicNoise(N["variance"], params=N.get("params")), batch_size=B)}
    if N["law"] == "gaussian":
        return {"sgd": sgd(loss, noise=GaussianNoise(_cov_value(N["cov"]), params=N.get("params")), batch_size=B)}
    if N["law"] == "minibatch_gaussian":  # the Gaussian law with the minibatch covariance, alone
        return {"sgd": sgd(loss, noise="gaussian", batch_size=B, replace=N.get("replace", True))}
    out = {"sgd": sgd(loss, batch_size=B, replace=N.get("replace", True))}
    if N.get("compare_gaussian", False):
        out["sgd_gaussian"] = sgd(loss, noise="gaussian", batch_size=B, replace=N.get("replace", True))
    return out


def build_attractors(spec: ProblemFile, grid):
    """None (find the stable equilibria) or the list given in ``[solve] attractors`` / ``sets``."""
    S = spec.solve
    pts = [np.asarray(p, float) for p in S.get("attractors", [])]
    sets = [_set_attractor(spec, grid, k, st) for k, st in enumerate(S.get("sets", []))]
    if not pts and not sets:
        return None
    return pts + sets


def _set_attractor(spec, grid, k, st):
    """The mask attractor of ``[solve] sets[k]``: grid nodes within width × h × |∇g| of g = 0."""
    pre = spec.prefix
    try:
        g = Loss.from_expr(st["expr"], variables=st.get("variables") or list("xyz"[: grid.dim]))
    except InputError as exc:
        raise ConfigError(f"{pre}[solve] sets[{k}].expr: {exc}") from None
    if g.dim != grid.dim:
        raise ConfigError(f"{pre}[solve] sets[{k}].expr: a function of {grid.dim} variables, got {g.dim}")
    X = grid.points()
    with np.errstate(invalid="ignore", over="ignore"):
        val = g.value(X)
        gn = np.linalg.norm(g.grad(X), axis=-1)
    tol = float(st.get("width", 0.5)) * float(np.max(grid.spacing)) * np.where(np.isfinite(gn), gn, 0.0)
    mask = np.abs(val) <= tol * (1 + 1e-9)
    if not mask.any():
        raise ConfigError(
            f"{pre}[solve] sets[{k}]: the zero set of {st['expr']!r} misses every grid node; widen 'width'"
        )
    return Attractor.from_mask(mask)


def exact_values(spec: ProblemFile, grid):
    """Exact V of ``[exact]`` on the grid nodes (NaN where ``where`` is not > 0), or None."""
    if spec.exact is None:
        return None
    V, where = exact_functions(spec, grid)
    X = grid.points()
    v = V.value(X)
    if where is not None:
        v = np.where(where.value(X) > 0, v, np.nan)
    return v


def exact_functions(spec: ProblemFile, grid):
    """``[exact]`` V and ``where`` parsed as functions of the grid's variables (None when absent)."""
    if spec.exact is None:
        return None, None
    E = spec.exact
    names = E.get("variables") or list("xyz"[: grid.dim])
    try:
        V = Loss.from_expr(E["V"], variables=names, params=E.get("params"))
        where = Loss.from_expr(E["where"], variables=names, params=E.get("params")) if "where" in E else None
    except InputError as exc:
        raise ConfigError(f"{spec.prefix}[exact]: {exc}") from None
    return V, where


def _is_number(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _cov_value(c):
    if isinstance(c, list):
        if all(_is_number(x) for r in c for x in r):
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
