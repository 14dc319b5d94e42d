"""The supervisor serving batch after batch on its stdin (`--serve NAME`, what the docker
backend runs on a local engine), in real processes: each batch's reports, then its end line;
a line that is no batch ends it, and so does the end of its stdin."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

from harness import paths
from harness.cells.jobs import CellJob, batch
from tests.unit.helpers import import_job as job


def document(root: Path, batch_id: str, jobs: list[CellJob]) -> bytes:
    found = batch(jobs, python=sys.executable, probe=str(paths.PROBE), workdir=str(root / "w"))
    return json.dumps({**found, "batch_id": batch_id}).encode() + b"\n"


def read_line(stream: IO[bytes]) -> dict[str, Any]:
    line = stream.readline()
    assert line, "the supervisor's stdout ended"
    found: dict[str, Any] = json.loads(line)
    return found


def serving() -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-I", str(paths.SUPERVISOR), "--serve", "test-serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_batches_one_after_another_each_with_its_end_line(tmp_path: Path) -> None:
    with serving() as proc:
        assert proc.stdin is not None and proc.stdout is not None
        first = [job("one", "json"), job("two", "no_such_module_wheelclash")]
        proc.stdin.write(document(tmp_path, "b1", first))
        proc.stdin.flush()
        reports = [read_line(proc.stdout) for _ in range(2)]
        assert [(r["id"], r["returncode"]) for r in reports] == [("one", 0), ("two", 10)]
        assert read_line(proc.stdout) == {"batch_end": "b1"}
        assert proc.poll() is None, "the supervisor left after one batch"
        # the same supervisor, the next batch: the stdin was never closed in between
        proc.stdin.write(document(tmp_path, "b2", [job("three", "colorsys")]))
        proc.stdin.flush()
        report = read_line(proc.stdout)
        assert (report["id"], report["returncode"]) == ("three", 0), report
        assert any(e["event"] == "sentinel" for e in report["events"])
        assert read_line(proc.stdout) == {"batch_end": "b2"}
        proc.stdin.close()  # the end of its stdin: it leaves, cleanly
        assert proc.wait(timeout=30) == 0


def test_a_line_that_is_no_batch_ends_the_supervisor_saying_so() -> None:
    for line, said in [
        (b'{"cells": []}\n', "no cells and workdir"),
        (b"[not json\n", "not JSON: "),
    ]:
        with serving() as proc:
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write(line)
            proc.stdin.flush()
            assert read_line(proc.stdout)["bad_batch"].startswith(said)
            assert proc.wait(timeout=30) == 2
