"""Expression strings: the whitelist grammar, hostile input refused without running it, and the
SymPy expressions of legitimate input unchanged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import sympy as sp

import fwpotential as fw
from fwpotential.app import cli, config, problem
from fwpotential.app.config import ConfigError, loads
from fwpotential.model import expressions as _expr
from fwpotential.montecarlo import codegen

EXAMPLES = Path(fw.__file__).resolve().parent / "examples"
TOUCH = "__import__('pathlib').Path('SENTINEL').touch()"

HOSTILE = [
    TOUCH,
    "__import__('os').system('touch SENTINEL')",
    "import os",
    "().__class__.__bases__[0].__subclasses__()",
    "x.__class__",
    "eval(\"__import__('pathlib').Path('SENTINEL').touch()\")",
    "exec(\"open('SENTINEL', 'w')\")",
    "open('SENTINEL', 'w')",
    "(lambda: x)()",
    "f'{x}'",
    "[x for x in (1, 2)][0]",
    "x[0]",
    "Max(*[x, 1])",
    "exp(x, evaluate=False)",
    "'x'",
    "b'x'",
    "(y := x)",
    "x if x > 0 else -x",
    "9**9**9**9",
    "2**10**10",
    "x**(10**10)",
    "(2*x)**10**6",
    "-" * 200 + "x",
]


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """Run in an empty folder; afterwards nothing may have been created there."""
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    assert not (tmp_path / "SENTINEL").exists(), "a payload was executed"


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_loss_refused(text, sandbox):
    with pytest.raises(fw.ExpressionError, match=r"cannot (use|parse) loss expression"):
        fw.Loss.from_expr(text)


@pytest.mark.parametrize("text", [TOUCH, "9**9**9**9", "().__class__.__bases__[0]"])
def test_hostile_noise_drift_and_data_refused(text, sandbox):
    for build in (
        lambda: fw.sgd("x**2", noise=fw.GaussianNoise(text)),
        lambda: fw.sgd("x**2", noise=fw.IsotropicNoise(text)),
        lambda: fw.sgd("x**2 + y**2", noise=fw.GaussianNoise([[text, "0"], ["0", "1"]])),
        lambda: fw.Diffusion([text]),
        lambda: fw.FiniteSum.from_expr(text, data={"u": [1.0, 2.0]}, variables=["x"]),
    ):
        with pytest.raises(fw.ExpressionError, match=r"cannot use|too large"):
            build()


PROBLEM = """
name = "p"
kind = "compare"
description = "a problem file with a payload"
[loss]
expr = "LOSS"
[noise]
law = "isotropic"
variance = "VARIANCE"
[grid]
bounds = [[-2, 2], [-1.5, 1.5]]
shape = [9, 9]
[solve]
sets = [{ expr = "SET" }]
[exact]
V = "EXACT"
"""


def _problem(**payload):
    fill = {"LOSS": "(x**2 - 1)**2/4 + y**2/2", "VARIANCE": "0.5", "SET": "x - 1", "EXACT": "x**2"} | payload
    text = PROBLEM
    for k, v in fill.items():
        text = text.replace(f'"{k}"', f'"{v}"')  # the payloads hold no double quotes
    return text


@pytest.mark.parametrize("key", ["LOSS", "VARIANCE"])
def test_problem_file_payload_refused_by_check(key, sandbox, capsys):
    path = sandbox / "evil.toml"
    path.write_text(_problem(**{key: TOUCH}))
    assert cli.main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    assert "is not allowed" in err and "__import__" in err, err


@pytest.mark.parametrize("key", ["SET", "EXACT"])
def test_problem_file_set_and_exact_payload_refused(key, sandbox):
    spec = loads(_problem(**{key: TOUCH}))
    grid = problem.build_grid(spec)
    with pytest.raises(ConfigError, match=r"is not allowed"):
        problem.build_attractors(spec, grid) if key == "SET" else problem.exact_values(spec, grid)


def test_sample_expr_payload_refused(sandbox):
    text = _problem().replace(
        'expr = "(x**2 - 1)**2/4 + y**2/2"', f'sample_expr = "{TOUCH}"\ndata = {{u = [1.0, 2.0]}}'
    )
    with pytest.raises(ConfigError, match=r"\[loss\].*is not allowed"):
        problem.build_loss(loads(text))


# ---- messages -----------------------------------------------------------------------------------
def test_unknown_function_lists_the_table():
    with pytest.raises(fw.ExpressionError, match=r"unknown function 'foo'; the functions are exp, log, sqrt"):
        fw.Loss.from_expr("foo(x) + x**2")


@pytest.mark.parametrize(
    "text, match",
    [
        ("9**9**9**9", r"the power '9\*\*9\*\*9' is too large"),
        ("x**(10**10)", r"the power 'x\*\*\(10\*\*10\)' is too large"),
        ("x.real", r"attribute access 'x.real' is not allowed"),
        ("_t0 + x", r"name '_t0' is not allowed"),
        ("x % 2", r"operator Mod 'x % 2' is not allowed"),
        ("x > 0 and x < 1", r"'and'/'or' .* use & and \|"),
        ("Piecewise(x)", r"Piecewise takes \(value, condition\) pairs"),
        ("atan2(x)", r"atan2 takes 2 argument\(s\), got 1"),
        ("exp", r"function 'exp' is used without arguments"),
        ("x" + "+x" * 5000, r"10001 characters long; at most 10000"),
        ("(" * 60 + "-" * 60 + "x" + ")" * 60, r"nested deeper than 50 levels"),
        ("Max(x, 1, 2, 3, 4, 5)", r"is a Max of 6 terms; at most 5 are accepted"),
        ("Min(Min(x, y, x*y), Min(x - y, x + y, 2*y))", r"is a Min of 6 terms; at most 5"),
        ("2**1025*x", r"the power '2\*\*1025' is too large"),
        ("1." + "1" * 60 + "*x", r"has more than 40 characters"),
    ],
)
def test_refusals_name_the_piece(text, match):
    with pytest.raises(fw.ExpressionError, match=match):
        fw.Loss.from_expr(text)


def test_names_must_be_plain_identifiers():
    with pytest.raises(fw.ExpressionError, match=r"variable '__class__' is not allowed"):
        fw.Loss.from_expr("x", variables=["__class__"])
    with pytest.raises(fw.ExpressionError, match=r"name 'a b' is not allowed"):
        fw.FiniteSum.from_expr("(x - w)**2", data={"a b": [1.0, 2.0], "w": [0.0, 1.0]}, variables=["x"])


# ---- names SymPy reserves -----------------------------------------------------------------------
@pytest.mark.parametrize("name", ["beta", "gamma", "N", "S", "E", "I", "Q", "O", "pi", "lambda_"])
def test_reserved_names_are_ordinary_symbols(name):
    f = fw.Loss.from_expr(f"{name}*x**2", params={name: 2.0})
    assert f.expr == sp.Float(2.0) * sp.Symbol("x", real=True) ** 2
    g = fw.Loss.from_expr(f"x**2 + {name}**2", variables=["x", name])
    np.testing.assert_allclose(g.grad(np.array([1.0, 3.0])), [2.0, 6.0])


def test_undeclared_e_is_not_euler_and_pi_is_the_constant():
    with pytest.raises(fw.ExpressionError, match=r"\['E'\] \(E is not Euler's number here; write exp\(1\)"):
        fw.Loss.from_expr("E*x**2")
    assert fw.Loss.from_expr("exp(1)*x**2").value(np.array([1.0])) == pytest.approx(np.e)
    assert fw.Loss.from_expr("pi*x**2").value(np.array([1.0])) == pytest.approx(np.pi)


# ---- non-smooth functions -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text, grad, hess",
    [
        ("Abs(x)**0.5", lambda x: 0.5 * np.sign(x) * abs(x) ** -0.5, lambda x: -0.25 * abs(x) ** -1.5),
        ("Abs(x)**3", lambda x: 3 * x * abs(x), lambda x: 6 * abs(x)),
        ("Max(x, 0)**2", lambda x: 2 * max(x, 0), lambda x: 2.0 * (x > 0)),
        ("x**2*sign(x)", lambda x: 2 * abs(x), lambda x: 2 * np.sign(x)),
    ],
)
def test_nonsmooth_derivatives_evaluate(text, grad, hess):
    f = fw.Loss.from_expr(text)
    for x in (-0.7, 0.3, 1.5):
        assert f.grad(np.array([x]))[0] == pytest.approx(grad(x), rel=1e-12)
        assert f.hess(np.array([x]))[0, 0] == pytest.approx(hess(x), rel=1e-12)


def test_nonsmooth_gradient_prints_for_numba():
    """The chain hook of a loss whose gradient holds a DiracDelta term prints (the term is dropped)."""
    f = fw.Loss.from_expr("x*sign(x) + y**2")  # d/dx = sign(x) + 2x DiracDelta(x)
    assert f.grad(np.array([-0.5, 1.0])) == pytest.approx([-1.0, 2.0])
    src = codegen.gaussian_block_source(f, 4, L=np.eye(2))
    assert "DiracDelta" not in src and "copysign" in src
    compile(src, "<hook>", "exec")  # valid Python


# ---- legitimate input: the same SymPy expressions as SymPy's own parser gives ------------------------
LEGIT = [
    "(x**2 - 1)**2 / 4 + 0.15*x",
    "0.1*x*0.2 + x/2 + 1/3",
    "x^2 + y^3",
    "-2*x + +y - -x",
    "3.14159265358979323846*x + 1e-3*y + 2.*x",
    "log(x, 2) + abs(x) + sqrt(x**2 + 1) + x**(1/3) + x**-2 + 2**0.5*x",
    "Piecewise((x**2, x > 0), (0, True)) + Max(x, 0)**2 + Min(x, y)",
    "Piecewise((x, 0 < x), (y, x <= -1), (0, True))",
    "atan2(y, x) + tanh(x)*cosh(y) + pi*x + exp(-(x**2 + y**2))",
    "10**300*x + 2**-3*y + x*x*x + x + x",
]


def _sympy_reference(text, names):
    return sp.sympify(text, locals={n: sp.Symbol(n, real=True) for n in names})  # trusted test strings only


@pytest.mark.parametrize("text", LEGIT)
def test_same_expression_as_sympy(text):
    names = ("x", "y")
    assert sp.srepr(_expr.to_sympy(text, names)) == sp.srepr(_sympy_reference(text, names))


def test_conditions_and_chains():
    x = sp.Symbol("x", real=True)
    assert _expr.to_sympy("0 < x <= 1", ["x"]) == sp.And(sp.Lt(0, x), sp.Le(x, 1))
    assert _expr.to_sympy("Piecewise((1, x == 0), (x, True))", ["x"]) == sp.Piecewise((1, sp.Eq(x, 0)), (x, True))
    assert _expr.to_sympy("(x < 0) | (x > 1)", ["x"]) == sp.Or(x < 0, x > 1)
    f = fw.Loss.from_expr("Piecewise((x**2, (x > -1) & (x < 1)), (2*Abs(x) - 1, True))")
    np.testing.assert_allclose(f.value(np.array([[0.5], [2.0]])), [0.25, 3.0])


def test_largest_accepted_constants():
    f = fw.Loss.from_expr("2**1000*x**2/8**333 + x**1024")
    assert f.value(np.array([1.0])) == pytest.approx(3.0)
    assert fw.Loss.from_expr("Max(x, 1 - x, x**2, 0, 1/2)").grad(np.array([2.0]))[0] == pytest.approx(4.0)


def test_long_flat_sum_builds():
    f = fw.Loss.from_expr(" + ".join(f"{k}*x**2" for k in range(1, 800)))
    assert f.value(np.array([1.0])) == pytest.approx(799 * 800 / 2)


def _gallery_expressions(table, names):
    out = []
    for key, val in table.items():
        if isinstance(val, dict):
            out += _gallery_expressions(val, names)
        elif key in ("expr", "sample_expr", "variance", "V", "where", "drift", "samples", "cov"):
            out += [v for v in np.ravel(np.array(val, dtype=object)) if isinstance(v, str)]
        elif key == "sets":
            out += [s["expr"] for s in val]
    return out


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.toml")), ids=lambda p: p.stem)
def test_gallery_parses_builds_and_is_unchanged(path):
    spec = config.load(path)
    dyns = problem.build_dynamics(spec)
    if spec.network is None:  # a network file has no grid, attractors or exact values to build
        grid = problem.build_grid(spec)
        problem.build_attractors(spec, grid)
        problem.exact_values(spec, grid)
    raw = spec.raw
    loss = raw.get("loss", {})
    columns = list(loss.get("data", {}))
    if "csv" in loss:
        columns += (path.parent / loss["csv"]).read_text().splitlines()[0].split(",")
    variables = next(iter(dyns.values())).loss.variables if spec.network is not None else ()
    names = ("x", "y", "z", "f", *(variables or ()), *columns)
    texts = _gallery_expressions(raw, names)
    assert texts, path.name
    for text in texts:
        assert sp.srepr(_expr.to_sympy(text, names)) == sp.srepr(_sympy_reference(text, names)), text
