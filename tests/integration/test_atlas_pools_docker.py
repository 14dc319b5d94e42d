"""Shared environments on real PyPI wheels, in containers: pandas 3.1.1 imports pyarrow
whenever pyarrow is installed, so in an environment shared with pyarrow's pairs, pandas' own
cells would load libarrow unless the hiding keeps pyarrow out of their sight, as it is out of
an environment of their own. Pinned as in atlas/corpus.toml; warm, the three wheelhouses
(about 70 MB) come from the cache and the pool installs once."""

from __future__ import annotations

import json
import socket
import textwrap
import time
from pathlib import Path

import docker
import pytest

from harness.cli import main
from harness.common.verdicts import Verdict
from harness.evidence.results import CellResult, load_results
from harness.images import containers
from tests.integration.cli_process import CliSpawner
from tests.unit.helpers import build_wheel

pytestmark = pytest.mark.docker

CORPUS = textwrap.dedent(
    """
    name = "pools-real"
    description = "pandas, which imports pyarrow when it is there, beside pyarrow"

    [[wheel]]
    requirement = "pandas==3.1.1"
    exercise = "import pandas as pd; assert pd.DataFrame({'a': [1, 2]})['a'].sum() == 3"

    [[wheel]]
    requirement = "pyarrow==26.0.1"

    [[wheel]]
    requirement = "msgpack==1.2.4"
    exercise = "import msgpack; assert msgpack.unpackb(msgpack.packb([1])) == [1]"
    """
)


def arrow(cell: CellResult) -> bool:
    return any("libarrow" in path for path in cell.evidence.libraries)


def test_pandas_alone_in_a_pool_with_pyarrow_does_not_load_it(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.toml"
    corpus.write_text(CORPUS)
    results = tmp_path / "results"
    main(
        [
            "atlas",
            str(corpus),
            "--backend",
            "docker",
            "--target",
            "debian:bookworm",
            "-j",
            "2",
            "--repeat-failures",
            "1",
            "--no-previous",
            "--results",
            str(results),
            "--editions",
            str(tmp_path / "editions"),
        ]
    )
    (run_dir,) = [p for p in results.iterdir() if p.is_dir()]
    document, cells = load_results(run_dir)
    (pool,) = document["run"]["pools"]
    assert len(pool["groups"]) == 6, json.dumps(pool)
    assert any(name.startswith("pyarrow-") for name in pool["wheels"])

    by_scenario: dict[str, list[CellResult]] = {}
    for cell in cells:
        by_scenario.setdefault(cell.cell.scenario, []).append(cell)
    # pandas alone, and beside msgpack: libarrow is never loaded, and pandas works
    for scenario in ("pandas", "msgpack--pandas"):
        assert len(by_scenario[scenario]) >= 3
        for cell in by_scenario[scenario]:
            assert not arrow(cell), (cell.id, cell.evidence.libraries)
            assert cell.outcome.verdict == Verdict.PASS, (cell.id, cell.outcome.detail)
    # beside pyarrow it is there, and in the local mode the pair passes
    local = [c for c in by_scenario["pandas--pyarrow"] if c.cell.dlopen == "local"]
    assert len(local) == 2
    assert all(arrow(c) and c.outcome.verdict == Verdict.PASS for c in local)


# Sleeps only alone (in a pair the other wheel is imported before the exercises run), so
# the test can kill the pool's container under the singleton's first cell.
SLOW = "import sys, time\nif not {'quick', 'other'} & set(sys.modules):\n    time.sleep(40)\n"


def test_a_pool_whose_container_dies_is_opened_again_for_the_other_sets(
    tmp_path: Path, spawn_cli: CliSpawner
) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    made = {
        name: build_wheel(wheels, name, {f"{name}/__init__.py": ""}, tag="py3-none-any")
        for name in ("slow", "quick", "other")
    }
    corpus = tmp_path / "corpus.toml"
    corpus.write_text(
        'name = "dies"\ndescription = "a pool container killed under a cell"\ntimeout = 60\n'
        + "".join(
            f'\n[[wheel]]\nid = "{name}"\nwheel = "{path}"\n'
            + (f"exercise = {json.dumps(SLOW)}\n" if name == "slow" else "")
            for name, path in made.items()
        )
    )
    results = tmp_path / "results"
    child = spawn_cli(
        "atlas", corpus, "--backend", "docker", "--target", "debian:bookworm",
        "--repeat-failures", "1", "--no-previous", "--results", results,
        "--editions", tmp_path / "editions",
    )  # fmt: skip
    client = docker.from_env()
    owner = {"label": f"{containers.LABEL_OWNER}={socket.gethostname()}:{child.pid}"}
    killed = None
    deadline = time.monotonic() + 300
    while killed is None and time.monotonic() < deadline and child.poll() is None:
        for container in client.containers.list(filters=owner):
            processes = container.top().get("Processes") or []
            if any("probe.py" in " ".join(map(str, row)) for row in processes):
                container.kill()
                killed = container.id
        time.sleep(0.5)
    assert killed is not None, "no probe ran in a pool container"
    _, err = child.communicate(timeout=600)
    assert child.returncode == 3, err[-2000:]  # infra-errors: the harness's, not the wheels'
    assert "its container is gone; the next set opens it again" in err

    (run_dir,) = [p for p in results.iterdir() if p.is_dir()]
    document, cells = load_results(run_dir)
    (pool,) = document["run"]["pools"]
    assert len(pool["groups"]) == 6
    # The three wheels alone (9 cells) run as one chunk, in one batch: the kill under slow's
    # first cell takes that batch's cells; the three pairs run in the pool opened again.
    lost = {c.id for c in cells if c.outcome.verdict == Verdict.INFRA_ERROR}
    alone = {c.id for c in cells if "--" not in c.cell.scenario}
    assert {c for c in alone if c.startswith("slow/")} <= lost <= alone, lost
    pairs = [c for c in cells if "--" in c.cell.scenario]
    assert len(pairs) == 3 * 6
    assert all(c.outcome.verdict == Verdict.PASS for c in pairs), [
        (c.id, c.outcome.verdict) for c in pairs if c.outcome.verdict != Verdict.PASS
    ]
    # the dead container and the second pool's are gone with the run
    assert client.containers.list(all=True, filters=owner) == []
