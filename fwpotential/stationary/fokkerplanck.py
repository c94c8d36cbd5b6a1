"""Stationary Fokker–Planck equation of the diffusion approximation, solved with FiPy (theory.md §7).

0 = -∇·(b p) + (ε/2) Σ_ij ∂_i ∂_j (a_ij p), written in conservation form

    0 = ∇·[(ε/2) a ∇p] - ∇·[(b - (ε/2) ∇·a) p],   (∇·a)_i = Σ_j ∂_j a_ij,

on the grid's nodes as finite-volume cells (each node the centre of a cell of the grid's spacing),
no-flux boundaries, exponential (Scharfetter–Gummel) upwinding of the convection so that densities
as small as exp(-ΔW/ε) stay positive. For SGD the diffusion approximation uses a = Cov Z and ε = γ.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import scipy.sparse as sps
import scipy.sparse.linalg as spla

from fwpotential import _progress
from fwpotential.errors import FWWarning, GridError, InputError
from fwpotential.geometry.grid import Grid
from fwpotential.model.dynamics import coerce_dynamics
from fwpotential.stationary.gth import gth_stationary

__all__ = ["FokkerPlanck", "fokker_planck"]


@dataclass(frozen=True, repr=False)
class FokkerPlanck:
    """Stationary density of the diffusion approximation at noise level ε.

    Attributes
    ----------
    density : ndarray (grid.shape)
        p at the nodes, normalised so that Σ p · (cell volume) = 1.
    minus_eps_log_p : ndarray (grid.shape)
        -ε log p, shifted to minimum 0 (compare with the global potential W).
    grid : Grid
    eps : float
    info : dict
        seconds, unknowns, nonpositive_nodes (density lost to rounding or negative), pinned node,
        residual (max |A p| off the pinned row, p scaled to 1 at the pin).
    """

    density: np.ndarray
    minus_eps_log_p: np.ndarray
    grid: Grid
    eps: float
    info: dict = field(default_factory=dict)

    def basin_masses(self, land) -> np.ndarray:
        """Probability of each basin of ``land.basins`` (same grid), shape (m + 1,): entry i for
        attractor i, the last entry the mass on nodes of no basin (label -1), as
        :meth:`StationaryChain.basin_masses` and :attr:`Occupation.fractions`."""
        if land.grid.shape != self.grid.shape or land.grid.bounds != self.grid.bounds:
            raise GridError("the landscape and the Fokker-Planck solution must share one grid")
        vol = float(np.prod(self.grid.spacing))
        m = len(land.attractors)
        basins = np.asarray(land.basins)
        masses = [self.density[basins == i].sum() * vol for i in range(m)]
        masses.append(self.density[(basins < 0) | (basins >= m)].sum() * vol)
        return np.array(masses)

    def gap(self, land, level=None) -> float:
        """max |(-ε log p) - W| over the nodes with W ≤ ``level``, both shifted to minimum 0.

        -ε log p_ε = W - ε log K + O(ε²) + const, so the gap shrinks like ε (theory.md §5). ``level``
        defaults to the highest W at the landscape's saddles (the basins up to their passes), or half the
        largest finite W without saddles."""
        if land.grid.shape != self.grid.shape or land.grid.bounds != self.grid.bounds:
            raise GridError("the landscape and the Fokker-Planck solution must share one grid")
        W = land.potential
        if level is None:
            if len(land.saddles):
                level = max(float(W[land.grid.nearest_index(s)]) for s in land.saddles)
            else:
                level = 0.5 * float(np.max(W[np.isfinite(W)]))
        m = np.isfinite(W) & (W <= level) & np.isfinite(self.minus_eps_log_p)
        if not m.any():
            raise InputError(f"no node with W <= {level:g} and a positive density")
        mel = self.minus_eps_log_p[m]
        return float(np.max(np.abs((mel - mel.min()) - (W[m] - W[m].min()))))

    def __repr__(self):
        return f"FokkerPlanck(eps={self.eps:g}, grid={self.grid.shape})"


def _mesh(grid):
    import fipy as fp

    h = grid.spacing
    origin = grid.lower - 0.5 * h
    if grid.dim == 1:
        return fp.Grid1D(nx=grid.shape[0], dx=float(h[0])) + ((float(origin[0]),),)
    if grid.dim == 2:
        mesh = fp.Grid2D(nx=grid.shape[0], ny=grid.shape[1], dx=float(h[0]), dy=float(h[1]))
        return mesh + ((float(origin[0]),), (float(origin[1]),))
    raise GridError(f"fokker_planck works on 1-D and 2-D grids, got {grid.dim}-D")


def _to_grid(values, grid):
    v = np.asarray(values)
    if grid.dim == 1:
        return v.copy()
    return v.reshape(grid.shape[1], grid.shape[0]).T.copy()


def _div_cov(dynamics, x, h):
    """(∇·a)_i = Σ_j ∂_j a_ij at points x (n, d) by central differences."""
    d = x.shape[-1]
    out = np.zeros(x.shape)
    for j in range(d):
        e = np.zeros(d)
        e[j] = h[j] * 1e-3
        da = (dynamics.noise_cov(x + e) - dynamics.noise_cov(x - e)) / (2 * e[j])
        out += da[..., :, j]
    return out


@_progress.tracked("fokker_planck", unit="stage")
def fokker_planck(
    dynamics, grid, eps, *, reference=None, scheme="exponential", solver="auto", pin=None, progress=None
) -> FokkerPlanck:
    """Solve the stationary Fokker–Planck equation of the diffusion approximation at noise level ε.

    Parameters
    ----------
    dynamics : Dynamics
        Any dynamics; its diffusion approximation has drift b and covariance a = noise_cov.
    grid : Grid
        1-D or 2-D. The density lives on the nodes; the box must hold essentially all the mass.
    eps : float
        Noise level (temperature; step size γ for SGD).
    reference : ndarray (grid.shape), optional
        For solver="lu": a potential close to W (e.g. ``land.potential``); the unknown becomes
        q = p exp(R/ε), which keeps tails accurate within a basin. (It cannot restore the relative
        mass of basins separated by barriers above ~30 ε: use solver="gth" for that.)
    scheme : {"exponential", "central"}
        Convection discretisation. "exponential" (Scharfetter–Gummel) keeps tiny densities positive
        and is exact for 1-D gradient profiles, but adds numerical diffusion ~|b| h / 2 across the
        flow: rotation-dominated drifts need cell Péclet numbers |b| h / (ε a) below ~1 or
        "central" (second order, oscillates when the Péclet number exceeds 2).
    solver : {"auto", "gth", "lu"}
        "gth": Grassmann–Taksar–Heyman elimination (no subtractions: exact to rounding however many
        ε the barriers are; banded, cost ~ n · min(shape)², the default up to about 257²);
        "lu": sparse LU (fast for large grids, but densities behind barriers above ~30 ε are lost
        to rounding: they come out ~0).
    pin : point, optional
        For solver="lu": node where q is fixed to 1 to remove the null space (default: the minimum of the reference,
        else of the loss, else the box centre).
    progress : bool, optional
        A progress bar on stderr, per stage: by default when stderr is a terminal and the call runs
        over ~2 s; True always, False never.

    Returns
    -------
    FokkerPlanck
    """
    dynamics, eps = _check_args(dynamics, grid, eps, scheme, solver)
    t0 = time.perf_counter()
    _progress.advance(text="assemble (FiPy)")
    system = _assemble(dynamics, grid, eps, scheme)
    # FiPy assembles the (singular, no-flux) matrix; the solve is ours: in the gauge p = exp(-R/ε) q,
    # R a reference potential (e.g. the landscape's W), q is O(1) everywhere and the nearly
    # decomposable system stays accurate across barriers of many ε
    order = np.arange(grid.size).reshape(grid.shape).T.reshape(-1) if grid.dim == 2 else np.arange(grid.size)
    R = _gauge(reference, grid, eps, order)
    k = _pin_node(pin, reference, R, dynamics, system.mesh, grid, order)
    n_bw = int(min(grid.shape)) if grid.dim == 2 else 1
    use_gth = solver == "gth" or (solver == "auto" and scheme == "exponential" and grid.size * n_bw * n_bw <= 2e9)
    _progress.advance(text="solve (GTH)" if use_gth else "solve (LU)")
    if use_gth:  # no subtractions, so no gauge is needed: solve for p itself
        try:
            q = _gth_null_vector(system.A.tocsr(), grid, order)
        except InputError as exc:
            raise GridError(f"{exc}; {_too_small_eps_advice(grid, eps, system.peclet)}") from None
        R = np.zeros(grid.size)
    else:
        q = _lu_null_vector(system.A, R, k)
    dens, mel, n_neg = _density(q, R, grid, eps)
    info = {
        "seconds": time.perf_counter() - t0,
        "unknowns": grid.size,
        "nonpositive_nodes": n_neg,
        "pinned_node": np.unravel_index(int(order[k]), grid.shape),
        "residual": _residual(system.A, q, R, k),
        "peclet_max": system.peclet,
        "scheme": f"FiPy finite volumes, {scheme} convection",
        "solver": "gth" if use_gth else "lu",
    }
    return FokkerPlanck(density=dens, minus_eps_log_p=mel, grid=grid, eps=eps, info=info)


SCHEMES = ("central", "exponential")


def _check_args(dynamics, grid, eps, scheme, solver):
    """The coerced dynamics and ε, or InputError naming the argument and the choices."""
    if solver not in ("auto", "gth", "lu"):
        raise InputError(f"unknown solver {solver!r}; choose 'auto', 'gth' or 'lu'")
    if scheme not in SCHEMES:
        raise InputError(f"unknown scheme {scheme!r}; choose one of {list(SCHEMES)}")
    dynamics = coerce_dynamics(dynamics)
    if not isinstance(grid, Grid):
        raise InputError(f"grid must be a fw.Grid, got {type(grid).__name__}")
    if grid.dim != dynamics.dim:
        raise InputError(f"grid is {grid.dim}-D but the dynamics is {dynamics.dim}-D")
    eps = float(eps)
    if not (np.isfinite(eps) and eps > 0):
        raise InputError(f"eps must be a positive number, got {eps!r}")
    if solver == "gth" and scheme != "exponential":
        raise InputError("solver='gth' needs scheme='exponential' (an M-matrix); central differences are not one")
    return dynamics, eps


class _System(NamedTuple):
    """The assembled generator (COO, FiPy cell order), its mesh and the largest cell Péclet number."""

    A: sps.coo_matrix
    mesh: object
    peclet: float


def _assemble(dynamics, grid, eps, scheme):
    """FiPy's finite-volume matrix of the no-flux problem, after the Péclet checks."""
    import fipy as fp  # optional dependency, loaded on the first solve

    convection = {"exponential": fp.ExponentialConvectionTerm, "central": fp.CentralDifferenceConvectionTerm}
    mesh = _mesh(grid)
    d, h = grid.dim, grid.spacing
    xf = np.asarray(mesh.faceCenters).T.reshape(-1, d)
    b = dynamics.drift(xf)
    a = dynamics.noise_cov(xf)
    u = b - 0.5 * eps * _div_cov(dynamics, xf, h)
    iso = np.allclose(a, a[:, :1, :1] * np.eye(d), rtol=0, atol=1e-14 * float(np.abs(a).max()))
    if d == 1 or iso:  # scalar coefficient: FiPy's exponential scheme reads its Péclet number from it
        D = fp.FaceVariable(mesh=mesh, value=0.5 * eps * a[:, 0, 0])
    else:
        D = fp.FaceVariable(mesh=mesh, rank=2, value=0.5 * eps * np.transpose(a, (1, 2, 0)))
    U = fp.FaceVariable(mesh=mesh, rank=1, value=u.T)
    # Péclet number of a cell: how sharp the exponential profiles are
    peclet = float(np.max(np.abs(u) * h / np.maximum(0.5 * eps * np.abs(np.diagonal(a, axis1=-2, axis2=-1)), 1e-300)))
    _check_peclet(peclet, eps, scheme)
    p = fp.CellVariable(mesh=mesh, value=1.0)
    eq = fp.DiffusionTerm(coeff=D) - convection[scheme](coeff=U)
    A = sps.csr_matrix(
        eq._prepareLinearSystem(var=p, solver=fp.LinearLUSolver(), boundaryConditions=(), dt=None).matrix.matrix
    )
    return _System(A=A.tocoo(), mesh=mesh, peclet=peclet)


def _check_peclet(peclet, eps, scheme):
    """GridError where exp(Péclet) overflows; FWWarning where central differences oscillate."""
    if peclet > 700:
        raise GridError(
            f"eps={eps:g} is too small for this grid (cell Peclet number {peclet:.3g} > 700: exp overflows); "
            "refine the grid or raise eps"
        )
    if scheme == "central" and peclet > 2:
        warnings.warn(
            f"scheme='central' at cell Peclet number {peclet:.3g} > 2 (eps={eps:g}): the density oscillates "
            "and can turn negative; refine the grid or use scheme='exponential'",
            FWWarning,
            stacklevel=5,  # the caller of fokker_planck, past _assemble and the progress wrapper
        )


def _gauge(reference, grid, eps, order):
    """R = (reference - min) / ε in FiPy cell order (zeros without a reference)."""
    if reference is None:
        R = np.zeros(grid.size)
    else:
        R = np.asarray(reference, dtype=float)
        if R.shape != grid.shape:
            raise InputError(f"reference must have the grid's shape {grid.shape}, got {R.shape}")
        if not np.all(np.isfinite(R)):
            raise InputError("reference potential must be finite on the grid (use a grid inside the reachable set)")
        R = R.reshape(-1)[order]  # FiPy cell order
    return (R - R.min()) / eps


def _pin_node(pin, reference, R, dynamics, mesh, grid, order):
    """FiPy cell index of the node where q = 1: the given point, else the minimum of the reference,
    else of the loss, else the box centre."""
    if pin is not None:
        k = int(np.ravel_multi_index(grid.nearest_index(pin), grid.shape))
        return int(np.flatnonzero(order == k)[0])
    if reference is not None:
        return int(np.argmin(R))
    if dynamics.loss is not None:
        return int(np.argmin(dynamics.loss.value(np.asarray(mesh.cellCenters).T)))
    return grid.size // 2


def _lu_null_vector(A, R, k):
    """q with (A in the gauge R) q = 0 and q_k = 1, by sparse LU of the system with row k pinned."""
    B = sps.csr_matrix((A.data * np.exp(R[A.row] - R[A.col]), (A.row, A.col)), shape=A.shape)
    B = B.tolil()
    B[k, :] = 0.0
    B[k, k] = 1.0
    rhs = np.zeros(A.shape[0])
    rhs[k] = 1.0
    return spla.splu(B.tocsc(), permc_spec="COLAMD", diag_pivot_thresh=0.0).solve(rhs)


def _residual(A, q, R, k):
    """max |A p| off the pinned row, p = q exp(-R)."""
    n = A.shape[0]
    return float(np.abs(A @ (q * np.exp(-R)))[np.arange(n) != k].max()) if n > 1 else 0.0


def _density(q, R, grid, eps):
    """Normalised density, -ε log p shifted to minimum 0, and the count of nodes with no positive
    density (FWWarning when there are any, GridError when none is left or q is not finite)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        logp = np.where(q > 0, np.log(np.where(q > 0, q, 1.0)) - R, -np.inf)
    logp = _to_grid(logp, grid)
    n_neg = int(np.sum(~np.isfinite(logp)))
    if not np.isfinite(logp).any() or not np.all(np.isfinite(q)):
        raise GridError(
            f"eps={eps:g} is too small for this box: the density spans more than the floating-point range "
            "(exp(-W/eps) under- or overflows); shrink the box or raise eps"
        )
    if n_neg:
        warnings.warn(
            f"{n_neg} of {grid.size} nodes have no positive density (eps={eps:g}): lost to rounding behind "
            "barriers of more than ~30 eps, or negative from central differences; basin masses may be wrong "
            "(pass reference=land.potential, or use scheme='exponential' with solver='gth')",
            FWWarning,
            stacklevel=4,  # the caller of fokker_planck, past the progress wrapper
        )
    top = logp[np.isfinite(logp)].max()
    dens = np.exp(logp - top)
    dens = dens / (dens.sum() * float(np.prod(grid.spacing)))
    return dens, -eps * (logp - top), n_neg


def _too_small_eps_advice(grid, eps, peclet, target=30.0):
    """Why the generator splits and what to change. The downwind rates of the exponential scheme fall as
    exp(-Péclet); at cell Péclet numbers of order 10² their products underflow during the elimination."""
    factor = max(peclet / target, 1.0)
    nodes = "x".join(str(int(np.ceil((n - 1) * factor)) + 1) for n in grid.shape)
    return (
        f"eps={eps:g} is too small for this grid: the cell Péclet number |b| h / (ε a) reaches {peclet:.3g}, and "
        f"rates ~exp(-{peclet:.3g}) underflow; raise eps to about {eps * factor:.3g} or more, or refine the grid "
        f"to about {nodes} nodes (Péclet number <= {target:g})"
    )


def _gth_null_vector(B, grid, order):
    """Null vector of the conservative generator B (columns sum to 0 in the unscaled gauge; here
    B_ij ≥ 0 off the diagonal) by GTH state reduction, in the ordering of smallest bandwidth."""
    n = grid.size
    if grid.dim == 2 and grid.shape[1] < grid.shape[0]:
        perm = np.argsort(order)  # node order (y fastest): bandwidth shape[1]
    else:
        perm = np.arange(n)  # FiPy order (x fastest): bandwidth shape[0]
    inv = np.empty(n, np.int64)
    inv[perm] = np.arange(n)
    C = B.tocoo()
    # row-stochastic P = I + Qᵀ/λ with Q_ji = B_ij (i ≠ j): only the off-diagonal rates matter to GTH
    off = C.row != C.col
    r, c, v = inv[C.col[off]], inv[C.row[off]], C.data[off]
    pi, status = gth_stationary(n, r, c, np.maximum(v, 0.0))
    if status != 0:
        raise InputError("the discretised Fokker-Planck generator is not irreducible (a cell cannot be left)")
    return pi[inv]
