"""The ``fwpotential`` command: parse → API → files.

    fwpotential demo [--out DIR]              the built-in 2-D problem where SGD and Langevin disagree
    fwpotential run PROBLEM.toml [--out DIR]  a problem file → results.npz, summary.json, report.md, figures/
    fwpotential run --example NAME            one of the gallery's problems
    fwpotential examples                      list the gallery
    fwpotential check PROBLEM.toml            validate a problem file without computing

Exit codes: 0 success, 2 bad input (the message names the key or argument), 1 internal error,
130 interrupted. Progress goes to stderr (step messages, and tqdm bars for long solves and runs when
stderr is a terminal; ``--no-progress`` turns the bars off, ``-q`` both); tables to stdout.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from pathlib import Path

from fwpotential import _progress as bars
from fwpotential.app import render, report
from fwpotential.app.config import load
from fwpotential.app.problem import prepare
from fwpotential.errors import InputError

EXIT_OK, EXIT_INTERNAL, EXIT_INPUT = 0, 1, 2


class _Usage(Exception):
    """Bad command-line usage (exit 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise _Usage(f"{self.prog}: error: {message}")


def _progress(quiet):
    t0 = time.perf_counter()

    def say(msg):
        if not quiet:
            from tqdm import tqdm

            tqdm.write(f"[{time.perf_counter() - t0:6.1f} s] {msg}", file=sys.stderr)  # keeps open bars intact
            sys.stderr.flush()

    return say


# ------------------------------------------------------------------------------------------------
PACKAGE_EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
DEMO = PACKAGE_EXAMPLES / "sgd_vs_langevin.toml"  # what ``fwpotential demo`` runs


def examples_dir():
    """The gallery folder: $FWPOTENTIAL_EXAMPLES, or the package data ``fwpotential/examples/``."""
    env = os.environ.get("FWPOTENTIAL_EXAMPLES")
    if env:
        return Path(env)
    return PACKAGE_EXAMPLES


def gallery():
    """{name: (path, ProblemFile)} for the gallery (the package's demo problem always included)."""
    out = {DEMO.stem: (DEMO, load(DEMO))}
    d = examples_dir()
    if d.is_dir():
        for p in sorted(d.glob("*.toml")):
            out[p.stem] = (p, load(p))
    return out


def _first_sentence(text, n=110):
    if not text.strip():
        return ""
    s = text.split(". ")[0].rstrip(".") + "."
    return s if len(s) <= n else s[: n - 1] + "…"


def _where(spec):
    """The grid shape ("129x129"), or "network" for a file without a grid."""
    return "network" if spec.grid is None else "x".join(map(str, spec.grid["shape"]))


def _examples(args):
    g = gallery()
    d = examples_dir()
    width = max(len(k) for k in g)
    for name, (_path, spec) in g.items():
        print(f"{name:<{width}}  {spec.kind:<9} {_where(spec):>11}  {_first_sentence(spec.description)}")
    if not d.is_dir():
        print(
            f"\n(only the demo: the gallery folder {d} is not there; it ships as fwpotential/examples/)",
            file=sys.stderr,
        )
    print("\nRun one with: fwpotential run --example NAME [--out DIR]", file=sys.stderr)
    return EXIT_OK


def _run(args):
    if (args.problem is None) == (args.example is None):
        raise _Usage("fwpotential run: error: give a problem file or --example NAME (one of them)")
    if args.example is not None:
        g = gallery()
        if args.example not in g:
            raise InputError(
                f"--example {args.example!r}: no such example; choose one of {', '.join(sorted(g))} (fwpotential examples lists them)"
            )
        spec = g[args.example][1]
    else:
        spec = load(args.problem)
    if args.format:
        spec.report["formats"] = list(args.format)
    out_dir = Path(args.out) if args.out else Path(f"fwpotential-{spec.name}")
    say = _progress(args.quiet)
    outc = report.solve_problem(spec, montecarlo=not args.no_montecarlo, progress=say)
    files = render.write_outputs(outc, out_dir, progress=say)
    _print_tables(outc)
    _print_files(files)
    return EXIT_OK


def _check(args):
    spec = load(args.problem)
    prepare(spec)  # the checks run does before computing
    print(f"{args.problem}: valid ({spec.kind}, {'grid ' if spec.grid is not None else ''}{_where(spec)})")
    return EXIT_OK


def _print_tables(outc):
    if outc.comparison is not None:
        print(str(outc.comparison))
        print()
    else:
        for lab, L in outc.landscapes.items():
            print(f"{lab}: {L.dynamics.name}")
            print(L.table() if hasattr(L, "table") else render.markdown_table(L))
            print()
    for lab, f in outc.montecarlo_fits.items():
        print(
            f"Monte Carlo, {lab}: slope of log(P_0/P_1) vs 1/gamma = {f['slope']:.3f} +- {f['slope_se']:.3f} "
            f"(theory {f['predicted_slope']:.3f}): {f['verdict']}"
        )
    if outc.exact_error is not None:
        print(f"max |V - V_exact| = {outc.exact_error['max']:.3g} (RMS {outc.exact_error['rms']:.3g})")


def _print_files(files):
    print(f"\nreport: {files['report']}\nsummary: {files['json']}\narrays: {files['npz']}")
    if files["figures"]:
        print("figures: " + ", ".join(str(p) for p in files["figures"]))


def _demo(args):
    spec = load(DEMO)
    say = _progress(args.quiet)
    out_dir = Path(args.out) if args.out else Path("fwpotential-demo")
    t0 = time.perf_counter()
    say("SGD vs Langevin on the demo loss (first run: a further ~30-60 s compiling kernels) ...")
    outc = report.solve_problem(spec, montecarlo=not args.no_montecarlo, progress=say)
    files = render.write_outputs(outc, out_dir, progress=say)
    print(f"loss f(x, y) = {spec.loss['expr']}")
    print(f"SGD noise: isotropic Gaussian, variance {spec.noise['variance']}   (eps = step size)")
    print("Langevin: dX = -grad f dt + sqrt(2 eps) dW                   (eps = temperature)")
    print()
    _print_tables(outc)
    _print_files(files)
    say(f"demo finished in {time.perf_counter() - t0:.1f} s")
    return EXIT_OK


# ------------------------------------------------------------------------------------------------
def _quiet_flags(parser):
    """-q/--quiet and --no-progress, shared by the commands that compute."""
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress messages or bars on stderr")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars (step messages stay)")


def build_parser():
    parser = _Parser(
        prog="fwpotential",
        description="Freidlin-Wentzell quasi-potentials of SGD and Langevin dynamics: where constant-step SGD "
        "spends its time (exp(-W/gamma)), computed from the loss and the noise law.",
        epilog="Exit codes: 0 success, 2 bad input, 1 internal error. 'fwpotential COMMAND --help' for each command.",
    )
    parser.add_argument("--traceback", action="store_true", help="print the full traceback on an internal error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    demo = sub.add_parser(
        "demo",
        help="the built-in 2-D problem where SGD's ground state is not Langevin's",
        description="SGD vs Langevin on a built-in 2-D loss, end to end: both landscapes, weights, a short Monte Carlo "
        "check at four step sizes with a verdict on the energy gap, figures and a Markdown report (about 30 s; the "
        "first run also compiles kernels).",
    )
    demo.add_argument("--out", metavar="DIR", help="output folder (default ./fwpotential-demo)")
    demo.add_argument("--no-montecarlo", action="store_true", help="skip the Monte Carlo check")
    _quiet_flags(demo)
    demo.set_defaults(func=_demo)

    run = sub.add_parser(
        "run",
        help="run a problem file (TOML) or a gallery example",
        description="Compute what a problem file describes and write results.npz (arrays), summary.json, report.md and "
        "figures/ under --out. The format is in docs/cli.md, 'Problem files'.",
    )
    run.add_argument("problem", nargs="?", metavar="PROBLEM.toml", help="the problem file")
    run.add_argument("--example", metavar="NAME", help="run a gallery example instead (see 'fwpotential examples')")
    run.add_argument("--out", metavar="DIR", help="output folder (default ./fwpotential-NAME)")
    run.add_argument(
        "--format", nargs="+", choices=["png", "pdf", "svg"], help="figure formats (default from the file, else png)"
    )
    run.add_argument("--no-montecarlo", action="store_true", help="skip the [montecarlo] runs")
    _quiet_flags(run)
    run.set_defaults(func=_run)

    ex = sub.add_parser(
        "examples",
        help="list the gallery of example problems",
        description="List the gallery (fwpotential/examples/*.toml).",
    )
    ex.set_defaults(func=_examples)

    chk = sub.add_parser(
        "check",
        help="validate a problem file without computing",
        description="Validate a problem file: keys, types, expressions, grid, attractors, method and options "
        "(every check run makes before computing).",
    )
    chk.add_argument("problem", metavar="PROBLEM.toml")
    chk.set_defaults(func=_check)
    return parser


def main(argv=None):
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except _Usage as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_INPUT
    if getattr(args, "func", None) is None:
        parser.print_help()
        return EXIT_INPUT
    no_bars = getattr(args, "no_progress", False) or getattr(args, "quiet", False)
    try:
        with bars.default(False if no_bars else None):
            return args.func(args)
    except _Usage as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_INPUT
    except InputError as exc:
        print(f"fwpotential: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print("fwpotential: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the command reports internal errors with exit 1
        if args.traceback:
            traceback.print_exc()
        print(
            f"fwpotential: internal error: {type(exc).__name__}: {exc}\n(run with --traceback for details, and report it)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
