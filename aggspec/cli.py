"""The ``aggspec`` command: argument parsing and wiring, nothing else."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from aggspec.api import Spec, build_spec, read_source
from aggspec.errors import AggSpecError
from aggspec.ir import Limits
from aggspec.params import parse_define
from aggspec.summary import summarize

__all__ = ["main"]


def _add_spec_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = Limits()
    parser.add_argument("spec", help="the .agg file")
    parser.add_argument(
        "-D",
        dest="defines",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a param (e.g. -D depth=40 -D growth=[16,32,64]); repeatable",
    )
    parser.add_argument(
        "--max-layers",
        type=int,
        default=defaults.max_layers,
        metavar="N",
        help=f"refuse networks of more than N layers (default {defaults.max_layers:,})",
    )
    parser.add_argument(
        "--max-connections",
        type=int,
        default=defaults.max_connections,
        metavar="N",
        help=f"refuse networks of more than N connections (default {defaults.max_connections:,})",
    )
    parser.add_argument(
        "--max-recursion",
        type=int,
        default=defaults.max_recursion,
        metavar="N",
        help=f"refuse definitions nested deeper than N calls (default {defaults.max_recursion})",
    )


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aggspec",
        description="A language and compiler for the connectivity of deep networks.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    check = commands.add_parser(
        "check",
        help="parse and elaborate a spec, print a summary",
        description="Parse and elaborate SPEC and print a one-screen summary; "
        "exit 2 with a located error on any mistake.",
    )
    _add_spec_arguments(check)
    return parser


def _load(args: argparse.Namespace) -> Spec:
    limits = Limits(args.max_layers, args.max_connections, args.max_recursion)
    overrides = [parse_define(text) for text in args.defines]
    return build_spec(read_source(args.spec), args.spec, overrides, limits)


def main(argv: Sequence[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    try:
        if args.command == "check":
            print(summarize(_load(args)))
    except AggSpecError as error:
        print(error.render(), file=sys.stderr)
        return 2
    return 0
