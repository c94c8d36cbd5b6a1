"""SGD against Langevin: the two landscapes of one loss on one grid with one solver, attractors
matched by position, ground states and weights side by side."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fwpotential.analysis.landscapes import Landscape, default_method, landscape
from fwpotential.analysis.network import transition_network
from fwpotential.errors import InputError
from fwpotential.model.dynamics import langevin, sgd
from fwpotential.model.loss import coerce_loss

__all__ = ["Comparison", "compare", "match_attractors"]


def match_attractors(reference, other, tol) -> np.ndarray:
    """For each attractor of ``other`` (m, d), the index of the nearest one of ``reference`` (k, d)
    within distance ``tol``, else -1; shape (m,) of int."""
    reference = np.asarray(reference, float)
    out = []
    for x in np.asarray(other, float):
        d = np.linalg.norm(reference - x, axis=1)
        out.append(int(np.argmin(d)) if d.min() <= tol else -1)
    return np.array(out)


@dataclass(frozen=True, repr=False)
class Comparison:
    """Langevin and SGD landscapes of one loss on one grid with one solver.

    Attributes
    ----------
    langevin, sgd : Landscape or TransitionNetwork
    matched : ndarray (m,) of int
        For each SGD attractor, the index of the Langevin attractor at the same place (within two
        grid diagonals), -1 for none.
    """

    langevin: Landscape
    sgd: Landscape
    matched: np.ndarray

    @classmethod
    def from_landscapes(cls, langevin, sgd) -> Comparison:
        """Pair two landscapes on one grid (or two transition networks), matching SGD's attractors to
        Langevin's by position (within two grid diagonals; for networks, 1e-4 of the attractors' spread)."""
        grid = getattr(sgd, "grid", None)
        if grid is not None:
            tol = 2.0 * float(np.linalg.norm(grid.spacing))
        else:
            att = np.asarray(langevin.attractors, float)
            tol = 1e-4 * (1.0 + float(np.ptp(att, axis=0).max()))
        return cls(langevin=langevin, sgd=sgd, matched=match_attractors(langevin.attractors, sgd.attractors, tol))

    def to_dict(self) -> dict:
        """Plain Python structure for reports: both landscapes' :meth:`Landscape.to_dict`, matched,
        same_ground_states."""
        return {
            "langevin": self.langevin.to_dict(),
            "sgd": self.sgd.to_dict(),
            "matched": self.matched.tolist(),
            "same_ground_states": self.same_ground_states,
        }

    @property
    def same_ground_states(self) -> bool:
        g_sgd = {int(self.matched[i]) for i in self.sgd.ground_states}
        return g_sgd == set(int(i) for i in self.langevin.ground_states)

    def __str__(self):
        L, S = self.langevin, self.sgd
        wl = L.weights_or_nan()
        ws = {k: S.weights_or_nan(k) for k in ("hwang", "diffusion", "chain")}
        lines = [
            f"Langevin: {L.dynamics.name}  |  SGD: {S.dynamics.name}",
            (f"solver {S.method!r} on {S.grid!r}" if hasattr(S, "grid") else f"paths ({S.method!r}) in d = {S.dim}")
            + "; energies in units of eps (temperature / step size)",
            "weights among ground states: Langevin (Hwang = exact), SGD Hwang / diffusion / chain prefactors",
            "",
            f"{'attractor':>24} {'f':>10} {'W Langevin':>11} {'W SGD':>11} {'ground L/S':>11} {'w Langevin':>11} "
            f"{'w SGD hwang':>12} {'diffusion':>10} {'chain':>8}",
        ]
        for i, x in enumerate(S.attractors):
            j = int(self.matched[i])
            pos = "(" + ", ".join(f"{v:.4f}" for v in x[:3]) + (", …)" if len(x) > 3 else ")")
            gl = j >= 0 and j in L.ground_states
            gs_ = i in S.ground_states
            wl_s = f"{wl[list(L.ground_states).index(j)]:.4f}" if gl else ""
            k = list(S.ground_states).index(i) if gs_ else None
            ws_s = [f"{ws[kind][k]:.4f}" if gs_ else "" for kind in ("hwang", "diffusion", "chain")]
            wL = f"{L.energies[j]:11.5f}" if j >= 0 else f"{'-':>11}"
            lines.append(
                f"{pos:>24} {S.attractor_values[i]:10.5f} {wL} {S.energies[i]:11.5f} "
                f"{('yes' if gl else 'no') + '/' + ('yes' if gs_ else 'no'):>11} {wl_s:>11} "
                f"{ws_s[0]:>12} {ws_s[1]:>10} {ws_s[2]:>8}"
            )
        lines.append("")
        lines.append(
            "SGD and Langevin have the same ground states."
            if self.same_ground_states
            else "SGD and Langevin have DIFFERENT ground states."
        )
        return "\n".join(lines)

    def __repr__(self):
        return f"Comparison(same_ground_states={self.same_ground_states})"


def compare(loss, *, noise=None, grid=None, method=None, batch_size=None, **kwargs) -> Comparison:
    """Langevin and SGD landscapes of one loss, same grid and solver, attractors matched by position.

    ``noise``/``batch_size`` are as in :func:`fwpotential.sgd`; other keywords go to :func:`landscape`.
    ``method="paths"`` needs no grid: two :func:`~fwpotential.analysis.network.transition_network`
    of the loss in any dimension (keywords ``starts=`` or ``minima=``, and the path options), the
    SGD one reusing the Langevin one's minima and saddles (both have the drift -∇f).
    """
    loss = coerce_loss(loss)
    dyn_s = sgd(loss, noise=noise, batch_size=batch_size)
    dyn_l = langevin(loss)
    if method == "paths":
        if grid is not None:
            raise InputError("method='paths' works without a grid; drop grid= (or choose a grid method)")
        L = transition_network(dyn_l, **kwargs)
        rest = {k: v for k, v in kwargs.items() if k not in ("starts", "minima")}
        S = transition_network(dyn_s, minima=L.attractors, saddles=L, **rest)
        return Comparison.from_landscapes(L, S)
    if grid is None:
        raise InputError("compare needs grid= for the grid solvers, or method='paths' (no grid, any dimension)")
    if method is None:
        method = default_method(grid)
    S = landscape(dyn_s, grid, method=method, **kwargs)
    L = landscape(dyn_l, grid, method=method, **kwargs)
    return Comparison.from_landscapes(L, S)
