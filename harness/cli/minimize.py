"""Minimize a failing cell: delta-debug its wheel set, then its order, with real runs.

Give a scenario file (or a results.json / run folder) and one cell id. Every test is one
fresh interpreter through the backend; the result is the smallest set and the orders of it
that still fail with the cell's verdict, and how many runs that took.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from harness.run.minimize import from_results, from_scenario, minimize_cell


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "source", type=Path, metavar="RESULTS_OR_SCENARIO", help="results.json, run dir or .toml"
    )
    parser.add_argument("cell", metavar="CELL_ID", help="the failing cell's id (or a glob)")
    parser.add_argument("--backend", default=None, help="auto, local or docker")
    parser.add_argument("--target", help="for a scenario: comma-separated targets")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def execute(args: argparse.Namespace) -> int:
    if args.source.suffix == ".toml":
        targets = tuple(t for t in (args.target or "").split(",") if t) or None
        scenario, cell, backend, verdict = from_scenario(
            args.source, args.cell, args.backend or "auto", targets
        )
    else:
        scenario, cell, backend, verdict = from_results(args.source, args.cell, args.backend or "")
    found = minimize_cell(scenario, cell, backend, verdict)
    if args.json:
        print(json.dumps(found.to_json(), indent=2))
        return 0
    shown = found.verdict + (f" ({found.subkind})" if found.subkind else "")
    print(f"cell {found.cell_id}: {shown}")
    print(f"  from {len(found.original)} wheels: {','.join(found.original)}")
    print(f"  minimal set: {','.join(found.minimal)} ({len(found.minimal)} wheels)")
    print(f"  fails in order: {'; '.join(','.join(o) for o in found.failing_orders)}")
    if found.passing_orders:
        print(f"  other orders: {'; '.join(','.join(o) for o in found.passing_orders)}")
    print(f"  {found.runs} runs, dlopen {cell.dlopen}, host {cell.host}, on {cell.target}")
    return 0
