"""Figures: result objects in, a Matplotlib :class:`~matplotlib.figure.Figure` out.

Every function here takes results (:class:`~fwpotential.Landscape`, :class:`~fwpotential.Comparison`,
:class:`~fwpotential.QuasiPotential`, transition networks and action paths, Monte Carlo runs, plain
arrays) and returns a Figure (new, or the one of the ``ax`` given where a function takes one); none
computes a potential, prints or writes a file except :func:`save`. Figures are built on
``matplotlib.figure.Figure`` directly (no pyplot state), so they work headless (Agg) and in notebooks
(``display(fig)``).

Conventions on the axes (theory.md): potentials are in units of ε (the temperature for Langevin,
the step size γ for SGD); the stationary law concentrates like exp(-W/ε); V = 0 on the attractor and
+inf (drawn blank) where unreachable.

Sizes: ``COLUMN`` (3.4 in) for one journal column, ``PAGE`` (7.0 in) for two; fonts 8 pt.

Modules: :mod:`~fwpotential.plot.maps` (2-D maps, 3-D slices), :mod:`~fwpotential.plot.curves`
(1-D curves, weights, convergence), :mod:`~fwpotential.plot.montecarlo` (Monte Carlo against theory),
:mod:`~fwpotential.plot.network` (transition networks in any dimension: disconnectivity graphs, the
action along paths, paths on their principal plane),
:mod:`~fwpotential.plot.style` (sizes, style, :func:`save`). :func:`descent_path` is
:func:`fwpotential.analysis.descent.descent_path`, which the maps draw.
"""

from fwpotential.analysis.descent import descent_path
from fwpotential.plot.curves import convergence, potential_curves, weights_bar
from fwpotential.plot.maps import compare_maps, potential_map, potential_slices
from fwpotential.plot.montecarlo import arrhenius, mc_histogram, occupation_ratio
from fwpotential.plot.network import (
    disconnectivity,
    disconnectivity_pair,
    disconnectivity_tree,
    path_profile,
    path_projection,
    principal_plane,
)
from fwpotential.plot.style import COLUMN, PAGE, save

__all__ = [
    "COLUMN",
    "PAGE",
    "potential_map",
    "potential_curves",
    "potential_slices",
    "compare_maps",
    "weights_bar",
    "convergence",
    "mc_histogram",
    "occupation_ratio",
    "arrhenius",
    "disconnectivity",
    "disconnectivity_pair",
    "disconnectivity_tree",
    "path_profile",
    "path_projection",
    "principal_plane",
    "descent_path",
    "save",
]
