"""Problems with known quasi-potentials, for tests, examples and benchmarks (theory.md §3).

Each constructor returns a :class:`Problem`: dynamics, attractor, box, and the exact V where it is
known (NaN elsewhere). Conventions: H = <b, p> + ½ pᵀ a p.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fwpotential.errors import InputError
from fwpotential.geometry.attractor import Attractor
from fwpotential.geometry.equilibria import critical_points
from fwpotential.geometry.grid import Grid
from fwpotential.model.dynamics import Diffusion, langevin, sgd
from fwpotential.model.loss import FiniteSum, Loss
from fwpotential.model.noise import GaussianNoise

__all__ = [
    "Problem",
    "linear_2d",
    "rotational_2d",
    "limit_cycle_2d",
    "langevin_double_well_2d",
    "linear_3d",
    "rotational_3d",
    "langevin_double_well_1d",
    "gaussian_sgd_1d",
    "two_sample_1d",
    "allen_cahn",
]


@dataclass(frozen=True)
class Problem:
    """A quasi-potential problem with a known answer.

    Attributes
    ----------
    name : str
    dynamics : Dynamics
    bounds : tuple of (lo, hi)
    attractor : point (d,) or callable grid -> Attractor (for sets)
    exact : callable (..., d) -> (...)
        Exact V where known, NaN where not.
    notes : str
    """

    name: str
    dynamics: object
    bounds: tuple
    attractor: object
    exact: object
    notes: str = ""
    extra: dict = field(default_factory=dict)

    def grid(self, n) -> Grid:
        """Grid with n nodes per dimension on the problem's box."""
        return Grid(self.bounds, (n,) * len(self.bounds))

    def attractor_for(self, grid):
        """The attractor argument for ``quasipotential`` on ``grid``."""
        return self.attractor(grid) if callable(self.attractor) else self.attractor

    def exact_on(self, grid) -> np.ndarray:
        """Exact V at the nodes (NaN where unknown)."""
        return self.exact(grid.points())

    def below_boundary(self, grid) -> np.ndarray:
        """Nodes whose exact V is below its smallest known value on the box's faces: there the minimum
        action paths stay inside the box, so a grid solver can be held to the exact V. All True when
        the exact V is unknown on every face."""
        ex = self.exact_on(grid)
        face = np.zeros(grid.shape, bool)
        for k in range(grid.dim):
            idx = [slice(None)] * grid.dim
            idx[k] = [0, -1]
            face[tuple(idx)] = True
        if not np.isfinite(ex[face]).any():
            return np.ones(grid.shape, bool)
        return ex < np.nanmin(ex[face])

    def errors(self, qp, *, margin_cells=0, exclude=None) -> np.ndarray:
        """|V_num - V_exact| on nodes where V is known, finite, and at least ``margin_cells`` from the
        boundary (NaN elsewhere). ``exclude``: optional boolean mask of nodes to leave out."""
        ex = self.exact_on(qp.grid)
        err = np.abs(qp.values - ex)
        keep = np.isfinite(ex)
        m = int(margin_cells)
        if m > 0:
            inner = np.zeros(qp.grid.shape, bool)
            inner[tuple(slice(m, n - m) for n in qp.grid.shape)] = True
            keep &= inner
        if exclude is not None:
            keep &= ~exclude
        return np.where(keep, err, np.nan)

    def max_error(self, qp, **kw) -> float:
        e = self.errors(qp, **kw)
        return float(np.nanmax(e)) if np.isfinite(e).any() else float("nan")

    def rms_error(self, qp, **kw) -> float:
        e = self.errors(qp, **kw)
        return float(np.sqrt(np.nanmean(e**2))) if np.isfinite(e).any() else float("nan")


def _rot(U, gradU, kappa, sigma, bounds, x_star, valid, name, notes):
    def drift(x):
        g = gradU(x)
        Jg = np.stack([-g[..., 1], g[..., 0]], axis=-1)
        return -g + kappa * Jg

    dyn = Diffusion(drift, cov=sigma**2 * np.eye(2), dim=2, name=name)
    Us = float(U(np.asarray(x_star, float)))

    def exact(x):
        v = 2.0 * (U(x) - Us) / sigma**2
        return np.where(valid(x), v, np.nan)

    return Problem(name, dyn, bounds, tuple(x_star), exact, notes)


def linear_2d() -> Problem:
    """b = (-2x - 10y, 20x - y), a = I on [-1, 1]²: V = 2x² + y² (b = -∇U + l, U = x² + y²/2)."""
    dyn = Diffusion(["-2*x - 10*y", "20*x - y"], cov=np.eye(2), name="linear 2-D")
    return Problem(
        "linear_2d",
        dyn,
        ((-1.0, 1.0), (-1.0, 1.0)),
        (0.0, 0.0),
        lambda x: 2 * x[..., 0] ** 2 + x[..., 1] ** 2,
        "V = 2x^2 + y^2 everywhere",
    )


def rotational_2d(kappa=1.0, sigma=1.0) -> Problem:
    """b = -∇U + κJ∇U, U = (x² - 1)²/4 + y²/2 (non-quadratic, wells at (±1, 0), saddle 0),
    a = σ² I: V = 2(U - U*)/σ² where x > 0 and U < U(saddle) = 1/4 (a forward-invariant set)."""

    def U(x):
        return (x[..., 0] ** 2 - 1) ** 2 / 4 + x[..., 1] ** 2 / 2

    def gradU(x):
        return np.stack([x[..., 0] ** 3 - x[..., 0], x[..., 1]], axis=-1)

    return _rot(
        U,
        gradU,
        kappa,
        sigma,
        ((-0.2, 2.0), (-1.1, 1.1)),
        (1.0, 0.0),
        lambda x: (x[..., 0] > 0) & (U(x) < 0.25),
        f"rotational_2d(kappa={kappa:g})",
        "V = 2(U - U*)/sigma^2 below the saddle level in the right well",
    )


def limit_cycle_2d() -> Problem:
    """b = (y + x(1 - r²), -x + y(1 - r²)), a = I, A = the unit circle: V = ½ (r² - 1)².

    The attractor is the mask of nodes within one cell of the circle (V = 0 there)."""
    dyn = Diffusion(["y + x*(1 - x**2 - y**2)", "-x + y*(1 - x**2 - y**2)"], cov=np.eye(2), name="limit cycle")

    def mask(grid):
        r = np.linalg.norm(grid.points(), axis=-1)
        return Attractor.from_mask(np.abs(r - 1) <= 0.5 * float(np.max(grid.spacing)) * (1 + 1e-9))

    def exact(x):
        r2 = np.sum(x**2, axis=-1)
        return 0.5 * (r2 - 1) ** 2

    return Problem("limit_cycle_2d", dyn, ((-2.0, 2.0), (-2.0, 2.0)), mask, exact, "V = (r^2 - 1)^2 / 2")


def langevin_double_well_2d() -> Problem:
    """Langevin on f = (x² - 1)²/4 + y²/2 + 0.1x... exact V = f - f* in the left well's sublevel set
    {x < 0, f < f(saddle)}; beyond it V is the eikonal reduction (method="fmm")."""
    loss = Loss.from_expr("(x**2 - 1)**2/4 + y**2/2 + x/10")
    dyn = langevin(loss)
    cps = critical_points(loss, [(-2, 2), (-2, 2)])
    mins = cps.points[cps.of_kind("minimum")]
    left = mins[np.argmin(mins[:, 0])]
    sad = cps.points[cps.of_kind("saddle")][0]
    fl, fs = float(loss.value(left)), float(loss.value(sad))

    def exact(x):
        fx = loss.value(x)
        return np.where((x[..., 0] < sad[0]) & (fx < fs), fx - fl, np.nan)

    return Problem(
        "langevin_double_well_2d",
        dyn,
        ((-2.0, 2.0), (-1.5, 1.5)),
        tuple(left),
        exact,
        "V = f - f* in the left well below the saddle level",
        {"loss": loss, "saddle": sad, "minima": mins},
    )


_M3 = np.array([[0.0, 1.0, 1.0], [-1.0, 0.0, 1.0], [-1.0, -1.0, 0.0]])


def _rot3(U, gradU, kappa, sigma, name):
    def drift(x):
        g = gradU(x)
        return -g + kappa * np.einsum("ij,...j->...i", _M3, g)

    dyn = Diffusion(drift, cov=sigma**2 * np.eye(3), dim=3, name=name)
    return Problem(name, dyn, ((-1.0, 1.0),) * 3, (0.0, 0.0, 0.0), lambda x: 2.0 * U(x) / sigma**2, "V = 2U/sigma^2")


def linear_3d(kappa=1.0) -> Problem:
    """b = -(I - κM) D x, D = diag(1, 2, 3), M antisymmetric, a = I: V = x² + 2y² + 3z²."""
    D = np.array([1.0, 2.0, 3.0])
    return _rot3(lambda x: 0.5 * np.sum(D * x**2, -1), lambda x: D * x, kappa, 1.0, f"linear_3d(kappa={kappa:g})")


def rotational_3d(kappa=2.0) -> Problem:
    """b = -∇U + κ M ∇U with U = ½(x² + 2y² + 3z²) + x⁴/4, a = I: V = 2U."""
    D = np.array([1.0, 2.0, 3.0])

    def U(x):
        return 0.5 * np.sum(D * x**2, -1) + x[..., 0] ** 4 / 4

    def gradU(x):
        g = D * x
        g[..., 0] += x[..., 0] ** 3
        return g

    return _rot3(U, gradU, kappa, 1.0, f"rotational_3d(kappa={kappa:g})")


def langevin_double_well_1d() -> Problem:
    """Langevin on f = (x² - 1)²/4 + 0.15x in 1-D: V = f - f* in the basin, flat then climbing beyond."""
    loss = Loss.from_expr("(x**2 - 1)**2 / 4 + 0.15*x")
    return _piecewise_1d("langevin_double_well_1d", langevin(loss), loss, lambda x: loss.value(x[..., None]))


def gaussian_sgd_1d() -> Problem:
    """SGD with Gaussian noise a(x) = 0.5 + x²/2 on f = (x² - 1)²/4 + 0.15x: V' = 2f'/a on the climbs,
    V = 4[x²/2 - log(1 + x²) + 0.15 atan x] + const piecewise."""
    loss = Loss.from_expr("(x**2 - 1)**2 / 4 + 0.15*x")
    dyn = sgd(loss, noise=GaussianNoise("0.5 + x**2/2"))
    return _piecewise_1d(
        "gaussian_sgd_1d", dyn, loss, lambda x: 4 * (x**2 / 2 - np.log(1 + x**2) + 0.15 * np.arctan(x))
    )


def _piecewise_1d(name, dyn, loss, F):
    """1-D: V from the right minimum = climb of F where the path goes up, flat where it goes down."""
    cps = critical_points(loss, [(-2, 2)])
    mins = np.sort(cps.points[cps.of_kind("minimum")][:, 0])
    sad = float(cps.points[cps.of_kind("maximum")][0, 0])
    xr, xl = mins[-1], mins[0]

    def exact(x):
        x = np.asarray(x)[..., 0]
        Fs = F(np.array(sad)) - F(np.array(xr))
        return np.where(x >= sad, F(x) - F(np.array(xr)), np.where(x >= xl, Fs, Fs + F(x) - F(np.array(xl))))

    return Problem(
        name, dyn, ((-2.0, 2.0),), (float(xr),), exact, "piecewise closed form", {"minima": mins, "saddle": sad}
    )


def two_sample_1d(c=1.2, batch_size=1) -> Problem:
    """Finite sum of f ± c x with f = x⁴/4 - x²/2: Z = ±c, Λ = log cosh(pc), V' solves
    log cosh(p c) = p f'(x) (× B for batch size B); V = +inf where |f'| ≥ c beyond the well.
    Exact values by adaptive quadrature (scipy.integrate.quad) at requested points; NaN within 0.02
    of the edge of the reachable set, where V diverges logarithmically."""
    data = FiniteSum([Loss.from_expr(f"x**4/4 - x**2/2 + {s}*x") for s in (c, -c)])
    dyn = sgd(data, batch_size=batch_size)

    def pstar(y):
        from scipy.optimize import brentq

        fp = y**3 - y
        if fp == 0:
            return 0.0
        if abs(fp) >= c:
            return np.inf
        s = np.sign(fp)

        def h(q):
            return np.logaddexp(q * c, -q * c) - np.log(2) - s * q * fp

        hi = 1.0
        while h(hi) <= 0:
            hi *= 2
        return brentq(h, 1e-300, hi, xtol=1e-300, rtol=1e-15)

    roots = np.roots([1.0, 0.0, -1.0, -c])
    y_edge = float(np.max(roots[np.abs(roots.imag) < 1e-12].real))  # f'(y) = c beyond the right well

    def exact(x):
        from scipy.integrate import quad

        x = np.atleast_1d(np.asarray(x))[..., 0]
        out = np.empty(x.shape)
        for i, xv in np.ndenumerate(x):
            if abs(xv) >= y_edge:
                out[i] = np.inf
            elif abs(xv) > y_edge - 0.02:  # log singularity at the edge: no trustworthy reference
                out[i] = np.nan
            elif xv >= 1.0:
                out[i] = quad(pstar, 1.0, xv, epsabs=1e-13, epsrel=1e-11, limit=200)[0]
            else:
                pts = [p for p in (0.0, -1.0) if xv < p < 1.0]
                out[i] = quad(
                    lambda y: pstar(y) if y**3 - y < 0 else 0.0,
                    xv,
                    1.0,
                    epsabs=1e-13,
                    epsrel=1e-11,
                    points=pts or None,
                    limit=200,
                )[0]
        return batch_size * out

    return Problem(
        f"two_sample_1d(c={c:g}, B={batch_size})",
        dyn,
        ((-2.0, 2.0),),
        (1.0,),
        exact,
        "log cosh(pc) = p f'; +inf beyond |f'| = c",
        {"c": c},
    )


def allen_cahn(n_sites, length, kappa=1.0) -> Loss:
    """Discretised periodic Allen–Cahn energy on N sites of a ring of length L (h = L/N):

    E(u) = Σ_i h [ (κ/2) ((u_{i+1} - u_i)/h)² + (u_i² - 1)²/4 ],  u_N = u_0,

    with exact gradient, Hessian and Hessian–vector product (O(N) per point). Minima u ≡ ±1 (E = 0);
    u ≡ 0 has E = L/4 and, in the continuum limit, unstable modes k = 2πn/L with κk² < 1: for κ = 1
    it is the lowest saddle between u ≡ ±1 exactly when L < 2π, and a kink–antikink pair (with a
    translation zero mode and a weak unstable mode) is the lowest one above it.

    Parameters
    ----------
    n_sites : int
        N >= 3.
    length : float
        L > 0.
    kappa : float
        κ > 0.

    Returns
    -------
    Loss
        dim = N, points u of shape (..., N).
    """
    if isinstance(n_sites, bool) or not isinstance(n_sites, (int, np.integer)) or n_sites < 3:
        raise InputError(f"n_sites must be an integer >= 3, got {n_sites!r}")
    if not (np.isfinite(length) and length > 0 and np.isfinite(kappa) and kappa > 0):
        raise InputError(f"length and kappa must be positive numbers, got {length!r} and {kappa!r}")
    N, h, k = int(n_sites), float(length) / int(n_sites), float(kappa)

    def lap(u):  # 2u_i - u_{i+1} - u_{i-1}
        return 2.0 * u - np.roll(u, -1, axis=-1) - np.roll(u, 1, axis=-1)

    def value(u):
        du = np.roll(u, -1, axis=-1) - u
        return np.sum(0.5 * k * du**2 / h + h * (u**2 - 1.0) ** 2 / 4.0, axis=-1)

    def grad(u):
        return k * lap(u) / h + h * (u**3 - u)

    def hvp(u, v):
        return k * lap(v) / h + h * (3.0 * u**2 - 1.0) * v

    def hess(u):
        eye = np.eye(N)
        D = k * (2.0 * eye - np.roll(eye, 1, axis=0) - np.roll(eye, -1, axis=0)) / h
        return D + h * (3.0 * u[..., :, None] ** 2 - 1.0) * eye

    name = f"allen_cahn(N={N}, L={float(length):g}, kappa={k:g})"
    return Loss.from_callable(value, dim=N, grad=grad, hess=hess, hvp=hvp, name=name)
