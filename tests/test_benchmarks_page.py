"""docs/benchmarks.md's tables are owned by the scripts in benchmarks/ (see benchmarks/README.md).

Every table sits between an opening marker naming a script and a table, and ``<!-- end -->``; the
scripts rewrite that text with ``benchmarks/_tables.py``. Nothing here runs a benchmark.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"


def _load(name):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tables = _load("_tables")
MARKER = re.compile(r"<!-- benchmarks/([\w.]+\.py):(\w+) -->")


def test_replace_rewrites_only_its_block():
    text = (
        "intro\n<!-- benchmarks/a.py:x -->\nold\n<!-- end -->\nmiddle\n<!-- benchmarks/a.py:y -->\nkeep\n<!-- end -->\n"
    )
    out = tables.replace(text, "a.py:x", "| new |")
    assert out == text.replace("old", "| new |")
    assert tables.replace(tables.replace(text, "a.py:x", "1"), "a.py:x", "2") == text.replace("old", "2")
    with pytest.raises(KeyError, match="no <!-- benchmarks/a.py:z -->"):
        tables.replace(text, "a.py:z", "anything")


def test_markdown_table():
    assert tables.markdown(["a", "b"], [[1, None]]) == "| a | b |\n|---|---|\n| 1 |  |"


def test_every_table_on_the_page_has_a_script_and_an_end():
    text = (ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    found = MARKER.findall(text)
    assert found, "no benchmark tables on the page"
    run = _load("run")
    for script, key in found:
        assert (BENCH / script).is_file(), script
        assert script.removesuffix(".py") in run.SCRIPTS, f"{script} is not run by benchmarks/run.py"
        block = text.split(f"<!-- benchmarks/{script}:{key} -->", 1)[1]
        end, following = block.find(tables.END), block.find("<!-- benchmarks/")
        assert end >= 0 and (following < 0 or end < following), f"{script}:{key} has no {tables.END}"
    assert text.count(tables.END) == len(found)
