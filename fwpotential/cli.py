"""The ``fwpotential`` command. Exit codes: 0 success, 2 bad input, 1 internal error."""

from __future__ import annotations

import argparse
import sys

from .errors import InputError


def _demo(args):
    from .demo import format_comparison, one_d_comparison

    print(format_comparison(one_d_comparison()))
    return 0


def build_parser():
    parser = argparse.ArgumentParser(
        prog="fwpotential",
        description="Freidlin-Wentzell quasi-potentials of SGD and Langevin dynamics.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser("demo", help="run the built-in problem where SGD and Langevin disagree")
    demo.add_argument("--out", metavar="DIR", help="directory for output files (reserved; the demo prints to stdout)")
    demo.set_defaults(func=_demo)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except InputError as exc:
        print(f"fwpotential: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("fwpotential: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
