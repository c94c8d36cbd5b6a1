"""Run every benchmark behind docs/benchmarks.md, one fresh process per script, in page order.

    python benchmarks/run.py --write            # the full page (about two hours on 2 cores)
    python benchmarks/run.py --quick            # smallest sizes, print only (a check of the scripts)
    python benchmarks/run.py --write solvers fmm  # only these scripts' tables

Options other than the script names (``--quick``, ``--write``, ``--repeats N``) are passed to
every script.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: the scripts that own tables on docs/benchmarks.md, in the page's order
SCRIPTS = ["solvers", "fmm", "finitesum", "paths", "montecarlo", "montecarlo_network", "fokkerplanck"]


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    names = [a for a in argv if a in SCRIPTS]
    unknown = [a for a in argv if not a.startswith("-") and a not in SCRIPTS and not a.isdigit()]
    if unknown:
        sys.exit(f"unknown scripts {unknown}; choose from {SCRIPTS}")
    options = [a for a in argv if a not in names]
    for name in names or SCRIPTS:
        print(f"== benchmarks/{name}.py {' '.join(options)}", flush=True)
        subprocess.run([sys.executable, str(HERE / f"{name}.py"), *options], check=True)


if __name__ == "__main__":
    main()
