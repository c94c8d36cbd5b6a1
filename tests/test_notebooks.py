"""The notebooks: stored without outputs, and each runs top to bottom in quick mode (FWPOTENTIAL_QUICK=1).

Executed with nbclient in a fresh ipykernel (the ``test`` extra installs both): a missing nbclient,
nbformat or ipykernel is a failure, not a skip.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
NAMES = ["quickstart.ipynb", "sgd_vs_langevin.ipynb", "montecarlo_check.ipynb", "network_regression.ipynb"]
SLOW = {"network_regression.ipynb"}  # two transition networks in d = 20: about 30 s
QUICK_BUDGET_S = 120.0  # generous on a loaded 2-core machine; the notebooks take a few seconds each


def test_all_notebooks_listed():
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_stored_without_outputs(name):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(nb)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{name} cell {i} has stored outputs"


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in NAMES])
def test_notebook_runs_in_quick_mode(name, monkeypatch, tmp_path):
    # the kernel inherits this environment
    monkeypatch.setenv("FWPOTENTIAL_QUICK", "1")
    monkeypatch.delenv("MPLBACKEND", raising=False)  # ipykernel's inline backend renders the figures
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = NotebookClient(
        nb,
        timeout=QUICK_BUDGET_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},  # the notebooks write nothing; run them out of the tree
    )
    client.execute()  # raises CellExecutionError on the first failing cell (the timeout only guards hangs)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    # every notebook ends on a figure
    assert any("image/png" in o.get("data", {}) for o in outputs), f"{name}: no figure rendered"
