"""Fixture runtime requirements: what a fixture's wheel needs installed beside it.

A fixture declares them in its `fixture.json` as `"runtime_requires": ["cffi", ...]`. They
are downloaded ahead for the cell's target into a wheelhouse (cached), which is attached to
the fixture's built wheel, so both backends install the set offline with its dependencies and
the wheelhouse is recorded in the wheel's provenance.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Final

from packaging.requirements import InvalidRequirement, Requirement

from harness.build.wheelhouse import TargetPython, download
from harness.build.wheels import BuiltWheel
from harness.errors import InvalidInputFile, Problem
from harness.scenario.load import WheelSpec

FIXTURE_FILE: Final = "fixture.json"
KEY: Final = "runtime_requires"


def runtime_requirements(fixture_dir: Path) -> tuple[str, ...]:
    """The requirements a fixture's wheel needs at run time; () without a fixture.json."""
    path = fixture_dir / FIXTURE_FILE
    if not path.is_file():
        return ()
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InvalidInputFile(
            [Problem(path, "", f"is not readable JSON ({exc}); fix it")]
        ) from exc
    value = data.get(KEY, []) if isinstance(data, dict) else None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InvalidInputFile(
            [Problem(path, KEY, 'must be a list of requirement strings, e.g. ["cffi"]')]
        )
    for item in value:
        try:
            Requirement(item)
        except InvalidRequirement as exc:
            raise InvalidInputFile(
                [Problem(path, KEY, f"{item!r} is not a requirement ({exc}); write e.g. 'cffi'")]
            ) from exc
    return tuple(value)


def with_runtime_wheelhouse(
    specs: Sequence[WheelSpec],
    wheels: Sequence[BuiltWheel],
    python: Callable[[], TargetPython],
) -> tuple[BuiltWheel, ...]:
    """The built wheels, those whose fixtures need something at run time with a wheelhouse
    holding it for this target (one download for the whole set, cached)."""
    needs = {s.id: runtime_requirements(s.fixture_dir) for s in specs if not s.prebuilt}
    requirements = sorted({r for wanted in needs.values() for r in wanted})
    if not requirements:
        return tuple(wheels)
    house = download(requirements, python())
    return tuple(
        replace(w, wheelhouse=str(house.path)) if needs.get(w.wheel_id) else w for w in wheels
    )
