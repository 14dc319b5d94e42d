"""The shipped GitHub Actions example only uses wheelclash options that exist."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from harness.cli import build_parser

WORKFLOW = Path(__file__).resolve().parents[2] / "docs" / "github-actions-build-image.yml"


def commands() -> list[list[str]]:
    """Each `wheelclash …` command of the workflow, shell operators and redirections cut."""
    text = WORKFLOW.read_text()
    scenarios = re.search(r"SCENARIOS: >-\n((?:\s{4}\S.*\n)+)", text)
    assert scenarios is not None
    found = []
    for line in re.findall(r"\.venv/bin/wheelclash (.+)", text):
        line = line.split(" || ")[0].split(" >> ")[0].replace("$SCENARIOS", scenarios.group(1))
        found.append(shlex.split(line))
    return found


def test_the_workflow_runs_the_matrix_twice_and_reports() -> None:
    found = commands()
    assert [c[0] for c in found] == ["run", "run", "report"]
    assert "--baseline" not in found[0] and "--baseline" in found[1]


@pytest.mark.parametrize("argv", commands(), ids=lambda argv: argv[0])
def test_each_command_parses(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    assert args.command == argv[0]
    if args.command == "run":
        repo = WORKFLOW.parents[1]
        assert all((repo / path).is_file() for path in args.scenarios)


SHARDS = WORKFLOW.with_name("github-actions-shards.yml")


def atlas_commands() -> list[list[str]]:
    """The `wheelclash atlas …` commands of the sharded workflow, continuations joined."""
    text = SHARDS.read_text().replace("\\\n", " ")
    env = dict(re.findall(r"^  (ATLAS_\w+): (\S+)$", text, re.MULTILINE))
    found = []
    for line in re.findall(r"\.venv/bin/wheelclash (atlas .+)", text):
        for name, value in env.items():
            line = line.replace(f"${name}", value)
        line = re.sub(r"\$\{\{ matrix\.shard \}\}", "1", line)
        found.append(shlex.split(line.split(" || ")[0]))
    return found


def test_the_sharded_workflow_runs_atlas_shards_then_an_edition() -> None:
    found = atlas_commands()
    assert [c[1] for c in found] == ["atlas/corpus.toml", "edition"]
    shard = build_parser().parse_args(found[0])
    assert (shard.command, str(shard.shard), shard.backend) == ("atlas", "1/8", "docker")
    assert (WORKFLOW.parents[1] / shard.inputs[0]).is_file()
    edition = build_parser().parse_args(found[1])
    assert edition.inputs[0] == "edition" and edition.corpus == Path("atlas/corpus.toml")
