"""Explain wheels statically: the ELF facts that predict how they may break each other.

Reads every shared object of each wheel with pyelftools (nothing is imported or run) and
prints the predictors of docs/mechanisms.md: runtime internals exported next to a shared
runtime (2), call_once trampolines another wheel binds (1), GNU-unique symbols in common (4),
static TLS (5), bundled SONAMEs (6), bundled copies of common libraries whose exported names
another wheel or the system also exports (interposition), RPATH/RUNPATH, setdlopenflags, and
the compilers.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Final

from harness import __version__
from harness.analysis.explain import explain, mechanisms
from harness.errors import InputError
from harness.scenario.wheel_contents import read_contents

SCHEMA_VERSION: Final = 1


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("wheels", nargs="+", type=Path, metavar="WHEEL", help=".whl files")
    parser.add_argument("--json", action="store_true", help="print the findings as JSON")


def _ids(wheels: list[Path]) -> list[tuple[str, Path]]:
    out: list[tuple[str, Path]] = []
    for path in wheels:
        if path.suffix != ".whl" or not path.is_file():
            raise InputError(f"{path}: no such wheel file; give .whl files")
        base = read_contents(path).project.replace("-", "_")
        wheel_id, number = base, 2
        while wheel_id in {i for i, _ in out}:
            wheel_id, number = f"{base}_{number}", number + 1
        out.append((wheel_id, path))
    return out


def execute(args: argparse.Namespace) -> int:
    findings = explain(_ids(args.wheels))
    predicted = mechanisms(findings)
    if args.json:
        document = {
            "schema_version": SCHEMA_VERSION,
            "harness_version": __version__,
            "mechanisms": [str(m) for m in predicted],
            "findings": [f.to_json() for f in findings],
        }
        print(json.dumps(document, indent=2))
        return 0
    for wheel_id in dict.fromkeys(f.wheel_id for f in findings):
        print(f"{wheel_id}:")
        for finding in (f for f in findings if f.wheel_id == wheel_id):
            tag = f"[mechanism {finding.mechanism}]" if finding.mechanism else "[fact]"
            print(f"  {tag} {finding.predictor}: {finding.detail}")
    if predicted:
        print(f"\npredicted mechanisms: {', '.join(predicted)}")
    else:
        print("\nno mechanism predicted")
    return 0
