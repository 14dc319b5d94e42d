"""Shared environments on real PyPI wheels, in containers: pandas 3.1.1 imports pyarrow
whenever pyarrow is installed, so in an environment shared with pyarrow's pairs, pandas' own
cells would load libarrow unless the hiding keeps pyarrow out of their sight, as it is out of
an environment of their own. Pinned as in atlas/corpus.toml; warm, the three wheelhouses
(about 70 MB) come from the cache and the pool installs once."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from harness.cli import main
from harness.common.verdicts import Verdict
from harness.evidence.results import CellResult, load_results

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
