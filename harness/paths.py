"""Where the harness's data files and caches live. Every other module asks here."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

PACKAGE: Final = Path(__file__).resolve().parent
RESOURCES: Final = PACKAGE / "resources"
TOOLCHAINS_TOML: Final = RESOURCES / "toolchains.toml"
RESULTS_SCHEMA: Final = RESOURCES / "results.schema.json"
COMPARE_SCHEMA: Final = RESOURCES / "compare.schema.json"
SCENARIO_KEYS: Final = RESOURCES / "scenario_keys.toml"
CORPUS_KEYS: Final = RESOURCES / "corpus_keys.toml"
ATLAS_DEFAULTS: Final = RESOURCES / "atlas.toml"
PROGRESS_TOML: Final = RESOURCES / "progress.toml"
SCENARIO_SCHEMA: Final = RESOURCES / "scenario.schema.json"
PROBE: Final = RESOURCES / "probe.py"
SUPERVISOR: Final = RESOURCES / "supervisor.py"
CRASH_CAPTURE: Final = RESOURCES / "crash_capture.py"
TARGET_FACTS: Final = RESOURCES / "target_facts.py"
ROOT_BINDS: Final = RESOURCES / "root_binds.py"
ENTER_ROOT: Final = RESOURCES / "enter_root.py"
BUILD_WHEEL: Final = RESOURCES / "build_wheel.py"
PYINIT_ONLY_MAP: Final = RESOURCES / "pyinit-only.map"


def toolchains_file() -> Path:
    """The toolchain table: the shipped one, or the file named by `WHEELCLASH_TOOLCHAINS`."""
    explicit = os.environ.get("WHEELCLASH_TOOLCHAINS")
    return Path(explicit) if explicit else TOOLCHAINS_TOML


def cache_dir() -> Path:
    """The content-addressed cache for wheels, venvs and images (`WHEELCLASH_CACHE` overrides)."""
    explicit = os.environ.get("WHEELCLASH_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "wheelclash"
