"""`wheelclash atlas` end to end on this machine (local backend), on a tiny corpus of the
repository's fixture wheels given as files: the call-once pair (a RTLD_GLOBAL before b
segfaults while b loads) and a healthy bystander. Two editions are written, one with b's
fixed twin (-Bsymbolic-functions) in b's place, and `atlas diff` tells them apart."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import jsonschema
import pytest

from harness import paths
from harness.build.wheels import BuiltWheel
from harness.cells.backends.local import LocalBackend
from harness.cli import main
from harness.evidence.results import load_results
from tests.integration.conftest import built_for

SCHEMA = json.loads(paths.RESULTS_SCHEMA.read_text())


def corpus(folder: Path, a: BuiltWheel, b: BuiltWheel, healthy: BuiltWheel) -> Path:
    path = folder / "corpus.toml"
    path.write_text(
        textwrap.dedent(
            f"""
            name = "fixtures"
            description = "the call-once pair and a healthy bystander"
            timeout = 60

            [[wheel]]
            id = "a"
            wheel = "{a.path}"
            exercise = "import {a.module}; {a.module}.exercise()"

            [[wheel]]
            id = "b"
            wheel = "{b.path}"
            exercise = "import {b.module}; {b.module}.exercise()"

            [[wheel]]
            id = "h"
            wheel = "{healthy.path}"
            """
        )
    )
    return path


def fixture_wheels() -> tuple[dict[str, BuiltWheel], dict[str, BuiltWheel], BuiltWheel]:
    """On this machine: the call-once pair, b's -Bsymbolic-functions twin, a healthy wheel."""
    backend = LocalBackend()
    once = built_for("call-once", backend, "host")
    fixed = built_for("call-once-bsymbolic", backend, "host")
    return once, fixed, built_for("healthy", backend, "host")["gcc"]


# pydantic 2.10.0 pins pydantic-core 2.27.0: the pair with 2.27.1 cannot be installed
REFUSED_PAIR_CORPUS = textwrap.dedent(
    """
    [[wheel]]
    requirement = "pydantic==2.10.0"
    exercise = "import pydantic; assert pydantic.TypeAdapter(int).validate_python('3') == 3"

    [[wheel]]
    requirement = "pydantic-core==2.27.1"

    [[wheel]]
    requirement = "msgpack==1.1.0"
    exercise = "import msgpack; assert msgpack.unpackb(msgpack.packb([1])) == [1]"
    """
)


def atlas(*args: str) -> int:
    return main(["atlas", *args, "--backend", "local", "--repeat-failures", "2"])


def only_folder(root: Path) -> Path:
    (found,) = [p for p in root.iterdir() if p.is_dir()]
    return found


def test_atlas_runs_every_pair_writes_editions_and_diffs_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    once, fixed, healthy = fixture_wheels()
    results, editions = tmp_path / "results", tmp_path / "editions"

    crashing = corpus(tmp_path, once["a"], once["b"], healthy)
    assert atlas(str(crashing), "--results", str(results), "--editions", str(editions)) == 0
    out = capsys.readouterr().out
    first = only_folder(editions)
    assert f"edition: {first}" in out
    assert first.name.endswith("-host")
    assert sorted(p.name for p in first.iterdir()) == [
        "atlas.html", "corpus.toml", "results.json", "summary.md"
    ]  # fmt: skip

    document, cells = load_results(first)
    jsonschema.validate(document, SCHEMA)
    planned = [c for c in cells if c.cell.repeat == 1]
    # 3 pairs × 2 orders × 3 modes, and each wheel alone in the 3 modes
    assert len(planned) == 18 + 9
    assert {c.cell.scenario for c in cells} == {"a--b", "a--h", "b--h", "a", "b", "h"}
    assert all(c.outcome.verdict == "pass" for c in cells if "--" not in c.cell.scenario)
    # attribution read the wheels alone from their own scenarios: it ran nothing
    assert document["attribution"]["runs"] == 0
    assert {c.attribution.culprits for c in cells if c.attribution} == {("a", "b"), ("b", "a")}
    verdicts = {(c.cell.dlopen, ",".join(c.cell.order)): c.outcome.verdict for c in planned}
    # Whichever of a and b is RTLD_GLOBAL first, the other binds its exported call_once
    # trampoline while it loads (a's hidden static libstdc++ or b's shared one: either way
    # the trampoline reads the other runtime's once-state).
    crashed = {key for key, verdict in verdicts.items() if verdict == "segfault"}
    assert crashed == {
        (mode, order) for mode in ("global-all", "global-first") for order in ("a,b", "b,a")
    }
    assert all(v == "pass" for key, v in verdicts.items() if key not in crashed)
    # each failing cell ran twice in all, its extra run right after it
    again = [c.id for c in cells if c.cell.repeat == 2]
    assert len(again) == 4 and all(c.startswith("a--b/host/global-") for c in again)
    assert [c.id for c in cells].index(again[0]) == [c.id for c in cells].index(
        again[0].replace("#2", "#1")
    ) + 1
    assert document["run"]["repeat_failures"] == 2
    crash = next(c for c in cells if c.id == "a--b/host/global-first/plain/a,b#1")
    assert crash.evidence.verdict_counts == {"segfault": 2}
    assert crash.outcome.last_step == f"import {once['b'].module}"

    summary = (first / "summary.md").read_text()
    assert "# Atlas fixtures" in summary
    rows = summary.splitlines()
    row = next(line for line in rows if "| a + b | global-first |" in line)
    assert "a,b: segfault 2/2; b,a: segfault 2/2" in row and f"import {once['b'].module}" in row
    assert "call-once-interposition on a" in row
    assert "a--b/host/global-first/plain/a,b#1" in row
    assert crash.cell.reproducer.split()[0] in summary.split("### Reproducers")[1]
    assert "| segfault | 8 |" in summary and "| pass | 23 |" in summary
    assert "atlas.html beside this file" in summary

    # the page: a matrix per mode, a and b crash both ways in both global modes. The diagonal
    # holds each wheel's own cell in that mode, run alone with its own exercise: all pass.
    page = (first / "atlas.html").read_text()
    assert page.count('<section class="atlas-matrix"') == 3
    assert page.count('<td class="sq v-segfault"') == 4
    assert page.count('<td class="sq v-pass diag"') == 9
    assert page.count(' diag"') == 9

    # a run stopped after 10 cells is finished by --resume, extra runs included
    (run_dir,) = [d for d in results.iterdir() if d.is_dir()]
    stream = run_dir / "cells.jsonl"
    stream.write_text("".join(stream.read_text().splitlines(keepends=True)[:10]))
    (run_dir / "results.json").unlink()
    resumed = tmp_path / "editions-resumed"
    args = ("--resume", str(run_dir), "--editions", str(resumed))
    assert atlas(str(crashing), *args) == 0
    assert f"results: {run_dir / 'results.json'}" in capsys.readouterr().out
    assert len(stream.read_text().splitlines()) == len(cells) == 31
    _, again_cells = load_results(only_folder(resumed))
    assert sorted((c.id, c.outcome.verdict) for c in again_cells) == sorted(
        (c.id, c.outcome.verdict) for c in cells
    )

    # the fixed twin in b's place: the conflict is gone
    results_two, editions_two = tmp_path / "results-two", tmp_path / "editions-two"
    (tmp_path / "two").mkdir()
    fixed_corpus = corpus(tmp_path / "two", once["a"], fixed["b"], healthy)
    two = ("--results", str(results_two), "--editions", str(editions_two))
    assert atlas(str(fixed_corpus), *two) == 0
    assert capsys.readouterr().out.count("edition: ") == 1
    second = only_folder(editions_two)
    _, fixed_cells = load_results(second)
    still = {
        (c.cell.dlopen, ",".join(c.cell.order)) for c in fixed_cells if c.outcome.verdict != "pass"
    }
    # -Bsymbolic-functions makes b bind its own trampoline (a first passes now); a, loaded
    # after a global b, still binds b's
    assert still == {("global-all", "b,a"), ("global-first", "b,a")}
    capsys.readouterr()

    assert main(["atlas", "diff", str(second), str(first)]) == 1
    text = capsys.readouterr().out
    lines = [" ".join(line.split()) for line in text.splitlines()]
    assert "2 new conflicts" in lines and "0 fixed" in lines and "0 changed verdicts" in lines
    assert "a--b/host/global-first/plain/a,b pass -> segfault" in lines
    assert "a--b/host/global-all/plain/a,b pass -> segfault" in lines
    assert main(["atlas", "diff", str(first), str(second)]) == 1
    text = capsys.readouterr().out
    assert "2 fixed" in text and "0 new conflicts" in text
    assert main(["atlas", "diff", str(first), str(first)]) == 0
    assert "0 new conflicts" in capsys.readouterr().out


def test_a_pair_pip_cannot_install_together_is_not_installable_and_the_rest_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Real requirements from the index: pydantic 2.10.0 pins pydantic-core 2.27.0, so the
    pair with pydantic-core 2.27.1 cannot be installed; each of them still pairs with msgpack."""
    path = tmp_path / "corpus.toml"
    path.write_text(REFUSED_PAIR_CORPUS)
    editions = tmp_path / "editions"
    args = ("--results", str(tmp_path / "results"), "--editions", str(editions))
    assert atlas(str(path), *args) == 0
    edition = only_folder(editions)
    _, cells = load_results(edition)
    by_pair: dict[str, set[str]] = {}
    for cell in cells:
        by_pair.setdefault(cell.cell.scenario, set()).add(cell.outcome.verdict)
    assert by_pair == {
        "pydantic--pydantic-core": {"not-installable"},
        "msgpack--pydantic": {"pass"},
        "msgpack--pydantic-core": {"pass"},
        "pydantic": {"pass"},
        "pydantic-core": {"pass"},
        "msgpack": {"pass"},
    }
    refused = next(c for c in cells if c.outcome.verdict == "not-installable")
    assert "conflicting dependencies" in refused.outcome.detail
    assert "pydantic 2.10.0 depends on pydantic-core==2.27.0" in refused.outcome.detail
    summary = (edition / "summary.md").read_text()
    assert "## Not installable together" in summary
    assert "- pydantic--pydantic-core: " in summary and "No pair failed." in summary
