"""Re-run one cell's reproducer, the one-line command stored in results, in this terminal.

The command needs no wheelclash: it is printed first so it can be copied, then run with
the terminal inherited. The exit status is the command's (128 + N for signal N, as a shell
reports it: 139 for a segfault).
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
from pathlib import Path

from harness.report.lookup import find_cell
from harness.scenario.config import Defaults


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("cell", metavar="CELL_ID", help="a cell id (without #N: its first repeat)")
    parser.add_argument(
        "--results",
        type=Path,
        default=None,
        help="a results root (newest run first), a run folder or a results.json "
        "(default: the results root, results/)",
    )
    parser.add_argument(
        "--print", dest="print_only", action="store_true", help="print the command, do not run it"
    )


def _describe(code: int) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = "an unknown signal"
        return f"signal {-code} ({name})"
    if code > 128:
        try:
            return f"exit {code} (signal {code - 128}, {signal.Signals(code - 128).name})"
        except ValueError:
            pass
    return f"exit {code}"


def execute(args: argparse.Namespace) -> int:
    where = args.results or Defaults.from_pyproject().results
    stored = find_cell(args.cell, where)
    if args.print_only:
        print(stored.command)
        return 0
    print(f"# {stored.id}: recorded verdict {stored.verdict} ({stored.results})", file=sys.stderr)
    print(f"+ {stored.command}", file=sys.stderr, flush=True)
    code = subprocess.run(stored.command, shell=True, check=False).returncode
    print(f"# the reproducer ended with {_describe(code)}", file=sys.stderr)
    return 128 - code if code < 0 else code
