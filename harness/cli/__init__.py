"""The `wheelclash` command. Only `main` turns errors into exit codes; `main_inner` raises."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Final

from harness import __version__
from harness.cli import build, check, explain, images, merge, minimize, repro, run, toolchains
from harness.cli import cache as cache_command
from harness.cli import doctor as doctor_command
from harness.cli import report as report_command
from harness.cli.interrupts import signals_unwind
from harness.errors import HarnessError

COMMANDS: Final[dict[str, ModuleType]] = {
    "run": run,
    "build": build,
    "toolchains": toolchains,
    "images": images,
    "merge": merge,
    "report": report_command,
    "repro": repro,
    "check": check,
    "explain": explain,
    "minimize": minimize,
    "doctor": doctor_command,
    "cache": cache_command,
}

EXIT_CODES_HELP: Final = """exit codes:
  0  every cell met its expectation
  1  at least one cell's verdict differs from its expectation; with --baseline: at least
     one cell regressed against the baseline (and only then)
  2  bad input or usage (the message names the file, the key and what to do)
  3  infrastructure failure (engine, image, build or supervisor); never blamed on the wheels
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wheelclash",
        description="Import C++ extension wheels in every order and report what crashes.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"wheelclash {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="echo every external command (+ …)"
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module in COMMANDS.items():
        sub = subparsers.add_parser(
            name,
            help=(module.__doc__ or "").strip().splitlines()[0],
            description=module.__doc__,
            epilog=EXIT_CODES_HELP,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.configure_parser(sub)
    return parser


def main_inner(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(message)s",
        stream=sys.stderr,
    )
    code: int = COMMANDS[args.command].execute(args)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    try:
        with signals_unwind():
            return main_inner(argv)
    except HarnessError as exc:
        print(f"wheelclash: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(
            "wheelclash: interrupted; partial results are in the run's cells.jsonl", file=sys.stderr
        )
        return 130
