"""The package layout is the pipeline: a stage imports only the stages before it.

Reads every module's imports with `ast` (imports inside functions count too), so that a
backward arrow fails here before it tangles the stages again.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Final

import harness

ROOT: Final = Path(harness.__file__).parent

# The import order, earliest first. `top` is errors.py and paths.py; `run` drives every stage;
# plugin.py and the CLI sit on top of everything.
ORDER: Final = (
    "top",
    "common",
    "scenario",
    "images",
    "build",
    "cells",
    "evidence",
    "analysis",
    "report",
    "run",
    "interface",
)
TOP_MODULES: Final = {"__init__.py", "errors.py", "paths.py", "plugin.py"}


def stage_of(module: str) -> str:
    """The stage of a dotted module name under `harness`."""
    parts = module.split(".")
    assert parts[0] == "harness", module
    if len(parts) == 1 or parts[1] in {"errors", "paths"}:
        return "top"
    if parts[1] in {"plugin", "cli"}:
        return "interface"
    assert parts[1] in ORDER, f"{module}: not in a stage folder"
    return parts[1]


def module_name(path: Path) -> str:
    relative = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """Every `harness` module a file imports, with the line of the import."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("harness")]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "harness":
                found += [(node.lineno, f"harness.{a.name}") for a in node.names]
            elif node.module.startswith("harness."):
                found.append((node.lineno, node.module))
    return found


def python_files() -> list[Path]:
    return [p for p in sorted(ROOT.rglob("*.py")) if "resources" not in p.parts]


def backward_imports() -> list[str]:
    wrong = []
    for path in python_files():
        here = module_name(path)
        mine = ORDER.index(stage_of(here))
        for line, target in imported_modules(path):
            if target == "harness.__version__":
                continue
            theirs = ORDER.index(stage_of(target))
            if theirs > mine:
                wrong.append(f"{path.relative_to(ROOT.parent)}:{line}: {here} imports {target}")
    return wrong


def test_no_stage_imports_a_later_one() -> None:
    assert backward_imports() == []


def test_only_four_modules_sit_at_the_top() -> None:
    top = {p.name for p in ROOT.glob("*.py")}
    assert top == TOP_MODULES
    folders = {p.name for p in ROOT.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert folders == set(ORDER[1:-1]) | {"cli", "resources"}


def test_every_stage_says_what_it_does_and_may_import() -> None:
    for stage in ORDER[1:-1]:
        doc = ast.get_docstring(ast.parse((ROOT / stage / "__init__.py").read_text()))
        assert doc, f"harness/{stage}/__init__.py has no docstring"
        assert "import" in doc, f"harness/{stage}/__init__.py does not say what it may import"


def test_the_checker_sees_a_backward_import(tmp_path: Path) -> None:
    """The rule can fail: an import from a later stage is reported, with its line."""
    sample = tmp_path / "sample.py"
    sample.write_text("import os\n\n\ndef f():\n    from harness.report.model import load_view\n")
    assert imported_modules(sample) == [(5, "harness.report.model")]
    assert ORDER.index(stage_of("harness.report.model")) > ORDER.index(stage_of("harness.build"))
