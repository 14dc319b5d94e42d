"""Build (or find in the cache) the wheels of scenarios, without running any cell."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from harness.cli import options, progress_view
from harness.run.runner import Backends, cells_for, group_cells, load_all, wheels_for
from harness.scenario.config import Defaults


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scenarios", nargs="+", type=Path, metavar="SCENARIO")
    parser.add_argument("--backend", default=None, help="auto (default), local or docker")
    parser.add_argument("--target", help="comma-separated targets replacing the scenarios' own")
    parser.add_argument("--json", action="store_true", help="print the wheels as JSON")
    options.add_progress(parser)


def execute(args: argparse.Namespace) -> int:
    defaults = Defaults.from_pyproject()
    targets = tuple(t for t in args.target.split(",") if t) if args.target else defaults.targets
    backends = Backends(args.backend or defaults.backend, targets)
    with progress_view.shown(options.progress_mode(args)):
        rows = _build_all(args, backends, targets)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        print(f"  {r['group']:<40} {r['wheel_id']:<6} {r['toolchain']:<20} {r['builder']:<30}")
        print(f"      {Path(r['path']).name}  ({r['audit']})")
    return 0


def _build_all(
    args: argparse.Namespace, backends: Backends, targets: tuple[str, ...] | None
) -> list[dict[str, Any]]:
    rows = []
    for scenario in load_all(args.scenarios):
        backend = backends.for_scenario(scenario)
        for group in group_cells(cells_for(scenario, backend, targets)):
            started = time.monotonic()
            for wheel in wheels_for(scenario, group[0], backend):
                rows.append({"group": group[0].group, **wheel.to_json()})
            took = time.monotonic() - started
            if not args.json:
                print(f"{group[0].group}: {len(scenario.wheels)} wheel(s) in {took:.1f} s")
    return rows
