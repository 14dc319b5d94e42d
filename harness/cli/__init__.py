"""The `wheelclash` command. Only `main` turns errors into exit codes; `main_inner` raises."""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from collections.abc import Sequence
from types import ModuleType
from typing import Final

from harness import __version__
from harness.cli import (
    atlas,
    build,
    check,
    compare,
    explain,
    images,
    merge,
    minimize,
    repro,
    run,
    toolchains,
)
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
    "compare": compare,
    "report": report_command,
    "repro": repro,
    "check": check,
    "atlas": atlas,
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
            epilog=getattr(module, "EXIT_CODES_HELP", EXIT_CODES_HELP),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.configure_parser(sub)
    return parser


def main_inner(argv: Sequence[str] | None = None) -> int:
    """Parse `argv` and run its command; errors propagate (for tests and embedding)."""
    return run_command(build_parser().parse_args(argv))


def run_command(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(message)s",
        stream=sys.stderr,
    )
    code: int = COMMANDS[args.command].execute(args)
    return code


def error_text(exc: HarnessError, verbose: int = 0) -> str:
    """What the user reads for a harness error: the error itself; with -v, what caused it
    (each link of the chain); with -vv, the traceback too."""
    lines = [f"wheelclash: error: {exc}"]
    if verbose:
        for cause in causes(exc):
            lines.append(f"caused by: {type(cause).__module__}.{type(cause).__qualname__}: {cause}")
    if verbose >= 2:
        lines.append("".join(traceback.format_exception(exc)).rstrip())
    return "\n".join(lines)


def causes(exc: BaseException) -> list[BaseException]:
    """The exceptions behind `exc`, nearest first: `raise ... from cause`, else the one being
    handled when it was raised (unless that was hidden with `from None`)."""
    found: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None:
        nearest = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
        if nearest is None or nearest in found:
            break
        found.append(nearest)
        current = nearest
    return found


def _notes(exc: BaseException) -> None:
    """What happened while the error unwound (a results.json that could not be written)."""
    for note in getattr(exc, "__notes__", ()):
        print(f"wheelclash: {note}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    verbose = 0
    try:
        with signals_unwind():
            args = build_parser().parse_args(argv)
            verbose = args.verbose
            return run_command(args)
    except HarnessError as exc:
        print(error_text(exc, verbose), file=sys.stderr)
        _notes(exc)
        return exc.exit_code
    except KeyboardInterrupt as exc:
        print(
            "wheelclash: interrupted; partial results are in the run's cells.jsonl", file=sys.stderr
        )
        _notes(exc)
        return 130
