"""The built-in demonstration problem: SGD and Langevin prefer different minima of one loss."""

from __future__ import annotations

import numpy as np

from fwpotential.geometry.equilibria import critical_points
from fwpotential.geometry.grid import Grid
from fwpotential.model.dynamics import langevin, sgd
from fwpotential.model.loss import Loss
from fwpotential.model.noise import GaussianNoise
from fwpotential.solvers.api import quasipotential

LOSS = "(x**2 - 1)**2 / 4 + 0.15*x"
NOISE = "0.2 + (x - 1)**2"


def one_d_comparison(n=4001):
    """Both dynamics on the 1-D demo loss: per minimum, f, the exact pairwise costs and the
    two-attractor W-graph energies (W_i = cost of leaving the other minimum for i, min-shifted).

    Returns a dict of plain arrays and strings.
    """
    loss = Loss.from_expr(LOSS)
    grid = Grid([(-2.0, 2.0)], (n,))
    cps = critical_points(loss, grid)
    mins = cps.points[cps.of_kind("minimum")][:, 0]
    out = {"loss": LOSS, "noise": NOISE, "minima": mins, "f": loss.value(mins[:, None]), "grid": grid}
    for name, dyn in (("langevin", langevin(loss)), ("sgd", sgd(loss, noise=GaussianNoise(NOISE)))):
        qps = [quasipotential(dyn, grid, m, method="exact") for m in mins]
        cost = np.array([[np.interp(mj, grid.axes[0], q.values) for mj in mins] for q in qps])
        # two attractors: W_0 = V_10, W_1 = V_01
        W = np.array([cost[1, 0], cost[0, 1]])
        out[name] = {"costs": cost, "energies": W - W.min(), "ground_state": int(np.argmin(W))}
    return out


def format_comparison(res) -> str:
    lines = [
        f"loss f(x) = {res['loss']}",
        "Langevin: dX = -f'(X) dt + sqrt(2 eps) dW            (eps: temperature)",
        f"SGD:      x <- x - gamma (f'(x) + Z),  Var Z = {res['noise']}   (eps = gamma)",
        "",
        f"{'minimum x*':>12} {'f(x*)':>10} {'W Langevin':>12} {'W SGD':>10}",
    ]
    for i, (m, fv) in enumerate(zip(res["minima"], res["f"])):
        lines.append(f"{m:12.6f} {fv:10.6f} {res['langevin']['energies'][i]:12.6f} {res['sgd']['energies'][i]:10.6f}")
    gl, gs = res["langevin"]["ground_state"], res["sgd"]["ground_state"]
    lines += [
        "",
        f"Langevin ground state: x* = {res['minima'][gl]:.6f} (the global minimum of f)",
        f"SGD ground state:      x* = {res['minima'][gs]:.6f}",
        "SGD and Langevin disagree." if gl != gs else "SGD and Langevin agree.",
        "(W: Freidlin-Wentzell energies, exact 1-D quadrature; the stationary law ~ exp(-W/eps).)",
    ]
    return "\n".join(lines)
