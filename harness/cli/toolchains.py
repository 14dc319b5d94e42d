"""List the C++ toolchains and link modes, and whether each is available here."""

from __future__ import annotations

import argparse
import json

from harness.toolchains import load_catalogue


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def execute(args: argparse.Namespace) -> int:
    catalogue = load_catalogue()
    rows = [
        {
            "name": t.name,
            "runtime": str(t.runtime),
            "compiler": t.cxx,
            "version": t.version(),
            "available": t.available(),
            "install": " ".join(t.packages),
        }
        for t in catalogue.toolchains.values()
    ]
    if args.json:
        links = {m.name: m.description for m in catalogue.link_modes.values()}
        print(json.dumps({"toolchains": rows, "link_modes": links}, indent=2))
        return 0
    width = max(len(t.name) for t in catalogue.toolchains.values())
    for t in catalogue.toolchains.values():
        state = t.version() if t.available() else f"missing: apt-get install {' '.join(t.packages)}"
        print(f"{t.name:<{width}}  {t.runtime:<9}  {t.cxx:<8}  {state}")
    print("\nlink modes:")
    for mode in catalogue.link_modes.values():
        print(f"  {mode.name:<24} {mode.description}")
    return 0
