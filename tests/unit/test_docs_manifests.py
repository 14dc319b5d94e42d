"""The shipped GitHub Actions step of `check --against` and the Kubernetes Indexed Job of
atlas shards parse as YAML, and every wheelclash command in them parses with the real CLI."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.cli import build_parser

REPO = Path(__file__).resolve().parents[2]
CHECK = REPO / "docs" / "github-actions-check-against.yml"
KUBERNETES = REPO / "docs" / "kubernetes-shards.yml"


def wheelclash_commands(script: str) -> list[list[str]]:
    """The `wheelclash …` commands of a shell script, continuations joined, each cut at a
    shell operator or redirection."""
    text = script.replace("\\\n", " ")
    found = []
    for line in re.findall(r"\.venv/bin/wheelclash ([^;\n]+)", text):
        line = re.split(r" \|\| | >> | && ", line)[0]
        found.append(shlex.split(line))
    return found


def test_the_check_step_runs_after_cibuildwheel_and_writes_the_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the step runs beside the wheelclash checkout, as `wheelclash/`
    (tmp_path / "wheelclash").symlink_to(REPO)
    monkeypatch.chdir(tmp_path)
    workflow = yaml.safe_load(CHECK.read_text())
    (job,) = workflow["jobs"].values()
    steps = job["steps"]
    build = next(i for i, s in enumerate(steps) if "cibuildwheel" in s.get("uses", ""))
    out = steps[build]["with"]["output-dir"]
    runs = [(i, s["run"]) for i, s in enumerate(steps) if "wheelclash " in s.get("run", "")]
    (at, check), (summary_at, summary) = runs
    assert build < at < summary_at
    (argv,) = wheelclash_commands(check)
    args = build_parser().parse_args(argv)
    assert args.command == "check" and args.inputs == [f"{out}/*.whl"]
    assert args.against == Path("wheelclash/atlas/corpus.toml")
    assert (args.backend, args.target) == ("docker", ["debian:bookworm"])
    # bookworm's Python 3.11 is the one cibuildwheel builds for
    assert steps[build]["env"]["CIBW_BUILD"].startswith("cp311-")
    (report,) = wheelclash_commands(summary)
    parsed = build_parser().parse_args(report)
    assert parsed.command == "report" and parsed.format == "markdown"
    assert str(parsed.results) == f"{args.results}/*"
    assert '>> "$GITHUB_STEP_SUMMARY"' in summary and steps[summary_at]["if"] == "always()"


def documents() -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in yaml.safe_load_all(KUBERNETES.read_text())}


def script(job: dict[str, Any]) -> str:
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["/bin/sh", "-c"]
    (text,) = container["args"]
    return str(text)


def shard_argv(job: dict[str, Any], index: int) -> list[str]:
    """The command of the pod with this JOB_COMPLETION_INDEX."""
    text = script(job).replace("$((JOB_COMPLETION_INDEX + 1))", str(index + 1))
    text = text.replace("$JOB_COMPLETION_INDEX", str(index))
    assert "JOB_COMPLETION_INDEX" not in text
    (argv,) = wheelclash_commands(text)
    return argv


def test_the_indexed_job_runs_one_shard_per_pod() -> None:
    found = documents()
    shards = found["wheelclash-atlas-shards"]
    spec = shards["spec"]
    assert (shards["apiVersion"], shards["kind"]) == ("batch/v1", "Job")
    assert spec["completionMode"] == "Indexed"
    count = spec["completions"]
    assert spec["parallelism"] == count == 8
    seen = set()
    for index in range(count):
        args = build_parser().parse_args(shard_argv(shards, index))
        assert args.command == "atlas" and (REPO / args.inputs[0]).is_file()
        assert str(args.shard) == f"{index + 1}/{count}" and args.backend == "local"
        seen.add(args.results)
    assert len(seen) == count  # each pod its own results folder
    mounts = {v["name"] for v in shards["spec"]["template"]["spec"]["volumes"]}
    assert "data" in mounts and found["wheelclash-atlas"]["kind"] == "PersistentVolumeClaim"


def test_the_edition_job_merges_the_shards_and_writes_the_edition() -> None:
    merge, edition = wheelclash_commands(script(documents()["wheelclash-atlas-edition"]))
    merged = build_parser().parse_args(merge)
    assert merged.command == "merge"
    written = build_parser().parse_args(edition)
    assert written.command == "atlas" and written.inputs[0] == "edition"
    assert written.inputs[1] == f"{merged.results}/*-merged"
    assert (REPO / written.corpus).is_file()
    shard = shard_argv(documents()["wheelclash-atlas-shards"], 0)
    assert build_parser().parse_args(shard).editions == written.editions
