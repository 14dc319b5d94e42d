"""Small builders shared by the unit tests."""

from __future__ import annotations

import importlib.util
import textwrap
from pathlib import Path
from types import ModuleType

GOOD_SCENARIO = """
name = "pair"
description = "two wheels"

[[wheels]]
id = "a"
fixture = "call_once"
link = "static-libstdcxx-hidden"
exercise = "exercise"

[[wheels]]
id = "b"
fixture = "call_once"

[matrix]
dlopen = ["local", "global:a"]
host = ["plain", "preload-libstdcxx"]
repeat = 2

[[expect]]
when = { dlopen = "global:a", before = ["a", "b"] }
verdict = "segfault"

[[expect]]
verdict = "pass"
"""


def write_scenario(root: Path, text: str, name: str = "pair.toml") -> Path:
    """A scenario file in root/scenarios with fixture folders beside it, as in the repo."""
    for fixture in ("call_once", "healthy"):
        (root / "fixtures" / "cpp" / fixture).mkdir(parents=True, exist_ok=True)
    path = root / "scenarios" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def resource_script(path: Path) -> ModuleType:
    """A stdlib script shipped in harness/resources/, loaded by path as it runs in a target."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
