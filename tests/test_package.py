"""The package's front door: public names resolve lazily, and ``import fwpotential`` stays light."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fwpotential as fw

INIT = Path(fw.__file__)


def test_every_public_name_resolves_to_its_module():
    for name in fw.__all__:
        obj = getattr(fw, name)
        if name in fw._PUBLIC:
            assert getattr(obj, "__module__", fw._PUBLIC[name]) == fw._PUBLIC[name] or name == "METHODS", name


def test_type_checking_imports_match_the_lazy_table():
    tree = ast.parse(INIT.read_text())
    guarded = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for imp in node.body:
                guarded.update({a.name: imp.module for a in imp.names})
    assert guarded == fw._PUBLIC


def test_unknown_attribute_is_an_attribute_error():
    try:
        fw.no_such_name  # noqa: B018
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("fw.no_such_name should raise AttributeError")


def test_import_loads_no_heavy_dependency():
    code = (
        "import sys, json; import fwpotential; "
        "print(json.dumps(sorted(m for m in ('sympy', 'numba', 'matplotlib', 'scipy', 'fipy', 'skfmm') if m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == [], out


def test_star_import_gives_every_public_name():
    ns = {}
    exec("from fwpotential import *", ns)  # noqa: S102 - a fixed string, the star-import contract
    assert set(fw.__all__) <= set(ns)


def test_montecarlo_stationary_chain_alias_is_deprecated():
    import warnings

    import fwpotential.montecarlo as mc

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert mc.stationary_chain is fw.stationary_chain
    assert any(
        issubclass(w.category, DeprecationWarning) and "fwpotential.stationary_chain" in str(w.message) for w in caught
    )


@pytest.mark.parametrize("method", ["exact", "fmm", "olim", "sweep"])
def test_every_method_reports_seconds_and_unreachable(method):
    """One result convention: ``info["seconds"]`` a float and ``info["unreachable"]`` the +inf count."""
    if method == "exact":
        dyn, grid, att = fw.langevin("(x**2 - 1)**2"), fw.Grid([(-2, 2)], (81,)), 1.0
    else:
        dyn, grid, att = fw.langevin("x**2 + 2*y**2"), fw.Grid([(-1, 1), (-1, 1)], (33, 33)), (0.0, 0.0)
    qp = fw.quasipotential(dyn, grid, att, method=method)
    assert isinstance(qp.info["seconds"], float)
    assert qp.info["unreachable"] == int(np.isinf(qp.values).sum())
