"""The repository is self-contained: every file path its docs, docstrings, data files and
scenarios cite exists in it (a module that moved, or a note kept outside, shows up here)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

REPO: Final = Path(__file__).resolve().parents[2]
# A path that starts at one of the repository's top folders (or `shared/`, where notes lived
# outside it) and is not part of a longer path or URL.
CITED: Final = re.compile(
    r"(?<![\w./-])((?:harness|docs|tests|scenarios|fixtures|benchmarks|shared)/[\w./-]*\w)"
)
SOURCES: Final = ("README.md", "docs/*.md", "fixtures/**/README.md", "benchmarks/*")
CODE: Final = ("harness/**/*.py", "harness/resources/*.toml", "scenarios/**/*.toml")


def missing_paths(text: str, root: Path) -> list[str]:
    return [m for m in CITED.findall(text) if not (root / m).exists()]


def cited_files() -> list[Path]:
    return sorted(p for pattern in SOURCES + CODE for p in REPO.glob(pattern) if p.is_file())


def test_every_cited_path_exists() -> None:
    files = cited_files()
    assert REPO / "README.md" in files and REPO / "harness/evidence/flakes.py" in files
    wrong = [
        f"{path.relative_to(REPO)}: {cited}"
        for path in files
        for cited in missing_paths(path.read_text(encoding="utf-8"), REPO)
    ]
    assert wrong == []


def test_the_check_sees_a_moved_module_and_an_outside_note() -> None:
    text = "see harness/engines.py and shared/mechanisms.md, not docs/mechanisms.md or x/harness/y"
    assert missing_paths(text, REPO) == ["harness/engines.py", "shared/mechanisms.md"]
