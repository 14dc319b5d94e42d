"""Compare two runs: the cells whose verdict changed, cells in one run only, flake rates.

Each argument is a run folder or its results.json. Cells are matched by id without the
`#repeat` suffix; a cell's verdict is the set of outcomes its repeats gave. Flake rates are
given within each run and over both together, per cell (where above 0) and overall.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Final

from harness.analysis import compare

EXIT_CODES_HELP: Final = """exit codes:
  0  no cell in both runs changed verdict (cells in one run only do not count)
  1  at least one cell in both runs changed verdict
  2  a file is missing or is not a results.json (the message names it)
"""


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_a", type=Path, metavar="RUN_A", help="run folder or results.json")
    parser.add_argument("run_b", type=Path, metavar="RUN_B", help="run folder or results.json")
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the comparison as a JSON document (with schema_version) instead",
    )


def execute(args: argparse.Namespace) -> int:
    comparison = compare.compare(compare.read_run(args.run_a), compare.read_run(args.run_b))
    if args.json:
        print(json.dumps(comparison.to_json(), indent=2))
    else:
        print(compare.text(comparison))
    return 1 if comparison.changed else 0
