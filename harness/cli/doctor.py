"""Check that this machine can run wheelclash: engine, storage, cgroups, binfmt, disk, tools.

One line per check, `ok`, `warn` or `fail`, with the fix. Exit status 0 when a run can work
(warnings only cost speed or reach, such as a slow storage driver or a foreign arch without
emulation), 1 when a check failed (no engine answers, a disk is nearly full).
"""

from __future__ import annotations

import argparse
import json
from typing import Final

from harness.build import doctor_checks as build_checks
from harness.common.health import Check, Status, runnable
from harness.images import doctor_checks as image_checks

SCHEMA_VERSION: Final = 1


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print a JSON document instead")


def run_checks() -> list[Check]:
    table = image_checks.load_table()
    return [*image_checks.checks(table), *build_checks.checks(table)]


def execute(args: argparse.Namespace) -> int:
    found = run_checks()
    can_run = runnable(found)
    if args.json:
        document = {
            "schema_version": SCHEMA_VERSION,
            "runnable": can_run,
            "checks": [check.to_json() for check in found],
        }
        print(json.dumps(document, indent=2))
    else:
        width = max(len(check.name) for check in found)
        for check in found:
            fix = f"  fix: {check.fix}" if check.fix else ""
            print(f"{check.status:<4}  {check.name:<{width}}  {check.detail}{fix}")
        warnings = sum(check.status is Status.WARN for check in found)
        failed = sum(check.status is Status.FAIL for check in found)
        if can_run:
            print(f"\na run can work here ({warnings} warning(s))")
        else:
            print(f"\na run cannot work here as it stands: {failed} check(s) failed")
    return 0 if can_run else 1
