"""Every documented error is raised, with a message that says what to change (style.md §4)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import fwpotential as fw

TILTED = "(x**2 - 1)**2 / 4 + 0.15*x"  # minima -1.06792 and 0.914297, maximum 0.153626
MS = ["x - x**3 - 10*x*y**2", "-(1 + x**2)*y"]


def test_hierarchy():
    for cls in (
        fw.ExpressionError,
        fw.DimensionError,
        fw.NonFiniteError,
        fw.CovarianceError,
        fw.GridError,
        fw.AttractorError,
    ):
        assert issubclass(cls, fw.InputError) and issubclass(cls, ValueError) and issubclass(cls, fw.FWError)
    assert issubclass(fw.ConvergenceError, fw.FWError) and issubclass(fw.ConvergenceError, RuntimeError)
    assert issubclass(fw.FWWarning, UserWarning)


# ---- expressions -------------------------------------------------------------------------------
@pytest.mark.parametrize("expr", ["x**2 +", "(x - 1", "x $ 2"])
def test_expression_does_not_parse(expr):
    with pytest.raises(fw.ExpressionError, match=r"cannot parse .*" + __import__("re").escape(repr(expr))):
        fw.Loss.from_expr(expr)


def test_unknown_symbols():
    with pytest.raises(
        fw.ExpressionError,
        match=r"unknown symbol\(s\) \['q'\]; variables are \['x'\]; pass variables=\[\.\.\.\] or params=",
    ):
        fw.Loss.from_expr("x + q")
    with pytest.raises(fw.ExpressionError, match=r"unknown symbol\(s\) \['b'\].*parameters \['a'\]"):
        fw.Loss.from_expr("a*x + b*y", params={"a": 1.0})
    with pytest.raises(fw.ExpressionError, match=r"drift expression 'x \+ q' uses unknown symbol\(s\) \['q'\]"):
        fw.Diffusion(["x + q", "-y"])
    with pytest.raises(
        fw.ExpressionError, match=r"noise variance expression '1 \+ w' uses unknown symbol\(s\) \['w'\]"
    ):
        fw.sgd("x**2", noise=fw.GaussianNoise("1 + w"))
    with pytest.raises(fw.ExpressionError, match=r"unknown symbol\(s\) \['x'\]; variables are \['u', 'v'\]"):
        fw.Loss.from_expr("u*v + x", variables=["u", "v"])


def test_parameter_must_be_finite_number():
    with pytest.raises(fw.ExpressionError, match=r"parameter 'a' must be a finite number"):
        fw.Loss.from_expr("a*x", params={"a": np.inf})


# ---- dimensions --------------------------------------------------------------------------------
def test_dimension_mismatch():
    f = fw.Loss.from_expr("x**2 + y**2")
    with pytest.raises(fw.DimensionError, match=r"points must have shape \(\.\.\., 2\), got \(3,\)"):
        f.value(np.zeros(3))
    with pytest.raises(fw.DimensionError, match=r"points must have shape \(\.\.\., 2\), got \(4, 3\)"):
        f.grad(np.zeros((4, 3)))
    with pytest.raises(fw.DimensionError, match=r"grid is 1-D but the dynamics is 2-D"):
        fw.quasipotential(fw.langevin(f), fw.Grid([(-1, 1)], (11,)), 0.0, method="exact")
    with pytest.raises(
        fw.DimensionError, match=r"covariance matrix has shape \(3, 3\), dynamics is 2-D: need \(2, 2\)"
    ):
        fw.Diffusion(["-x", "-y"], cov=np.eye(3))
    with pytest.raises(fw.DimensionError, match=r"FiniteSum samples have different dimensions \[1, 2\]"):
        fw.FiniteSum([fw.Loss.from_expr("x**2"), f])
    with pytest.raises(fw.DimensionError, match=r"a callable drift needs dim="):
        fw.Diffusion(lambda x: -x)
    with pytest.raises(fw.DimensionError, match=r"gradient of 'g' returned shape \(5, 1\), expected \(5, 2\)"):
        fw.Loss.from_callable(lambda x: x[..., 0], dim=2, grad=lambda x: x[..., :1], name="g").grad(np.zeros((5, 2)))
    with pytest.raises(fw.DimensionError, match=r"grid bounds have 2 dimension\(s\) but shape \(5,\) has 1"):
        fw.Grid([(-1, 1), (-1, 1)], (5,))


# ---- non-finite values -------------------------------------------------------------------------
def test_non_finite_loss_and_gradient():
    with pytest.raises(
        fw.NonFiniteError, match=r"loss 'log\(x\)' is not finite at x = \[-1\.\]; check the expression's domain"
    ):
        fw.Loss.from_expr("log(x)").value(-1.0)
    with pytest.raises(fw.NonFiniteError, match=r"loss 'log\(x\)' is not finite at x = \[-1\.\]"):
        fw.Loss.from_expr("log(x)").value(np.array([[2.0], [-1.0], [3.0]]))
    with pytest.raises(fw.NonFiniteError, match=r"gradient of loss 'sqrt\(x\)' is not finite at x = \[0\.\]"):
        fw.Loss.from_expr("sqrt(x)").grad(0.0)
    with pytest.raises(fw.NonFiniteError, match=r"Hessian of loss .* is not finite"):
        fw.Loss.from_expr("x**2 + y**2 + x**3*log(y)").hess(np.array([1.0, 0.0]))
    with pytest.raises(fw.NonFiniteError, match=r"drift is not finite at x = \[0\.\]"):
        fw.Diffusion(["-1/x"]).drift(np.array([0.0]))


def test_non_finite_at_grid_nodes_through_quasipotential():
    """The gradient x - 1/(x + 3) of the drift is infinite at the grid node x = -3: the error names it."""
    lang = fw.langevin("x**2/2 - log(x + 3)")
    with pytest.raises(
        fw.NonFiniteError, match=r"gradient of loss 'x\*\*2/2 - log\(x \+ 3\)' is not finite at x = \[-3\.\]"
    ):
        fw.quasipotential(lang, fw.Grid([(-4.0, 2.0)], (601,)), 0.3027756377319946, method="exact")


# ---- covariance ----------------------------------------------------------------------------------
def test_covariance_not_psd_constant_matrix():
    with pytest.raises(
        fw.CovarianceError, match=r"covariance is not positive semi-definite: eigenvalues \[-1\.\s+3\.\]"
    ):
        fw.Diffusion(["-x", "-y"], cov=np.array([[1.0, 2.0], [2.0, 1.0]]))
    with pytest.raises(fw.CovarianceError, match=r"covariance is asymmetric: max \|A - Aᵀ\| = 0\.5; a covariance must"):
        fw.Diffusion(["-x", "-y"], cov=np.array([[1.0, 0.5], [0.0, 1.0]]))  # PSD-looking but not symmetric
    with pytest.raises(fw.CovarianceError, match=r"not positive semi-definite"):
        fw.sgd("x**2 + y**2", noise=fw.GaussianNoise([[1.0, 0.0], [0.0, -0.1]]))


def test_covariance_expression_negative_somewhere():
    dyn = fw.sgd("x**2", noise=fw.GaussianNoise("x"))
    assert dyn.noise_cov(np.array([[0.5], [2.0]])).shape == (2, 1, 1)  # fine where s > 0
    with pytest.raises(fw.CovarianceError, match=r"noise variance is negative at x = \[-1\.\]: covariance must be PSD"):
        dyn.noise_cov(np.array([[0.5], [-1.0]]))
    field = fw.Diffusion(["-x", "-y"], cov=[["1", "x"], ["x", "1"]])
    field.noise_cov(np.array([0.5, 0.0]))
    with pytest.raises(fw.CovarianceError, match=r"noise covariance is not positive semi-definite at x = \[2\. 0\.\]"):
        field.noise_cov(np.array([[0.5, 0.0], [2.0, 0.0]]))
    # and through the solver: a variance negative on part of the grid
    dyn1 = fw.sgd("(x**2 - 1)**2", noise=fw.GaussianNoise("x + 0.5"))
    with pytest.raises(fw.CovarianceError, match=r"noise variance is negative"):
        fw.quasipotential(dyn1, fw.Grid([(-2.0, 2.0)], (101,)), 1.0, method="exact")


# ---- batch size --------------------------------------------------------------------------------
@pytest.mark.parametrize("B", [0, -2, 1.5, True])
def test_batch_size_below_one(B):
    data = fw.FiniteSum([fw.Loss.from_expr("x**2"), fw.Loss.from_expr("x**2 + x")])
    with pytest.raises(fw.InputError, match=rf"batch_size must be an integer >= 1, got {B!r}"):
        fw.sgd(data, batch_size=B)
    with pytest.raises(fw.InputError, match=rf"batch_size must be an integer >= 1, got {B!r}"):
        fw.FiniteSumNoise(B)


def test_batch_larger_than_samples_without_replacement():
    data = fw.FiniteSum([fw.Loss.from_expr("x**2"), fw.Loss.from_expr("x**2 + x")])
    with pytest.raises(fw.InputError, match=r"batch_size=3 exceeds the 2 samples; without replacement B <= N"):
        fw.sgd(data, batch_size=3, replace=False)


# ---- attractors ----------------------------------------------------------------------------------
def test_attractor_outside_grid():
    grid = fw.Grid([(-2.0, 2.0)], (401,))
    with pytest.raises(
        fw.AttractorError,
        match=r"attractor \(3\) lies outside the grid Grid\(\[-2, 2\], shape=\(401,\)\); enlarge the grid's bounds",
    ):
        fw.quasipotential(fw.langevin(TILTED), grid, 3.0, method="exact")


def test_no_stable_equilibrium_nearby_names_the_equilibria():
    grid = fw.Grid([(-2.0, 2.0)], (4001,))
    with pytest.raises(
        fw.AttractorError,
        match=r"no stable equilibrium within 0\.04 \(40 grid cells\) of attractor \(0\.5\); "
        r"equilibria in the grid's box: stable at \(-1\.06792\); unstable at \(0\.153626\); stable at \(0\.914297\)",
    ):
        fw.quasipotential(fw.langevin(TILTED), grid, 0.5, method="exact")


def test_attractor_at_unstable_equilibrium_1d():
    grid = fw.Grid([(-2.0, 2.0)], (4001,))
    with pytest.raises(
        fw.AttractorError,
        match=r"attractor \(0\.15\) is at an equilibrium \(0\.153626\) that is not stable.*stable at \(-1\.06792\)",
    ):
        fw.quasipotential(fw.langevin(TILTED), grid, 0.15, method="exact")


def test_attractor_at_saddle_2d():
    ms = fw.Diffusion(drift=MS, cov=np.eye(2))
    grid = fw.Grid([(-2.0, 2.0), (-1.0, 1.0)], (81, 41))
    with pytest.raises(
        fw.AttractorError,
        match=r"attractor \(0\.01, 0\) is at an equilibrium \(0, 0\) that is not stable \(eigenvalues of Db: \(1, -1\)\); "
        r"equilibria in the grid's box: stable at \(-1, 0\); saddle at \(0, 0\); stable at \(1, 0\)",
    ):
        fw.Attractor.coerce((0.01, 0.0), ms, grid)


def test_attractor_mask_errors():
    grid = fw.Grid([(-2.0, 2.0)], (11,))
    lang = fw.langevin(TILTED)
    with pytest.raises(fw.AttractorError, match=r"attractor mask has shape \(5,\), grid has \(11,\)"):
        fw.quasipotential(lang, grid, fw.Attractor.from_mask(np.ones(5, bool)), method="exact")
    with pytest.raises(fw.AttractorError, match=r"attractor mask selects no grid node"):
        fw.Attractor.from_mask(np.zeros(11, bool))
    with pytest.raises(fw.AttractorError, match=r"attractor mask must be boolean"):
        fw.Attractor.from_mask(np.zeros(11))


# ---- grids, methods, options ---------------------------------------------------------------------
@pytest.mark.parametrize("shape,k", [((2,), 0), ((10, 2), 1), ((1, 5), 0)])
def test_grid_fewer_than_3_points(shape, k):
    bounds = [(-1.0, 1.0)] * len(shape)
    with pytest.raises(
        fw.GridError, match=rf"dimension {k}: a grid needs at least 3 points per dimension, got {shape[k]}"
    ):
        fw.Grid(bounds, shape)


def test_unknown_method():
    grid = fw.Grid([(-2.0, 2.0)], (101,))
    with pytest.raises(fw.InputError, match=r"unknown method 'nope'; choose one of \[.*'exact'.*\]"):
        fw.quasipotential(fw.langevin(TILTED), grid, -1.0, method="nope")


def test_unknown_option():
    grid = fw.Grid([(-2.0, 2.0)], (101,))
    with pytest.raises(fw.InputError, match=r"method='exact' takes options \['quad_points'\], not \['foo'\]"):
        fw.quasipotential(fw.langevin(TILTED), grid, -1.0, method="exact", foo=1)


def test_exact_method_needs_1d():
    ms = fw.Diffusion(drift=MS, cov=np.eye(2))
    grid = fw.Grid([(-2.0, 2.0), (-1.0, 1.0)], (41, 21))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fw.FWWarning)
        with pytest.raises(fw.GridError, match=r"method='exact' needs a 1-D grid .* use method='olim'"):
            fw.quasipotential(ms, grid, (1.0, 0.0), method="exact")


def test_sgd_noise_argument_errors():
    with pytest.raises(fw.InputError, match=r"SGD on a plain Loss needs noise="):
        fw.sgd("x**2")
    with pytest.raises(fw.InputError, match=r"noise='laplace': give a noise law, 'exact' or 'gaussian'"):
        fw.sgd(fw.FiniteSum([fw.Loss.from_expr("x**2")]), noise="laplace")
    with pytest.raises(fw.InputError, match=r"minibatch noise needs a FiniteSum loss"):
        fw.sgd("x**2", noise=fw.FiniteSumNoise(2))
