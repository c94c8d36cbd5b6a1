"""Rows of method="sweep" for benchmarks/solvers.py (to be merged into its ENTRIES list).

    from _sweep_rows import SWEEP_ENTRIES; ENTRIES.extend(SWEEP_ENTRIES)

The solver reports info["sweeps"] (full cycles of the 2^d orderings) and info["residual"]; add them as
columns when merging. Default ring radius K (sweep.default_K): 10 at 129, 13 at 257, 16 at 513.
"""

SWEEP_ENTRIES = [
    ("linear_2d", "sweep", [129, 257, 513], {}),
    ("rotational_2d(kappa=5)", "sweep", [129, 257, 513], {}),
    ("limit_cycle_2d", "sweep", [129, 257, 513], {}),
    ("langevin_double_well_2d", "sweep", [129, 257], {}),
    ("linear_3d", "sweep", [17, 33], {}),
]
