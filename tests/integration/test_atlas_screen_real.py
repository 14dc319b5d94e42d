"""`wheelclash atlas --screen` on real PyPI wheels: a pair that a wheel loaded in the same cell
mends, found anyway.

lightgbm 4.7.0 then rasterio 1.4.4, both RTLD_GLOBAL, segfault when the victims' step makes
an `ssl` context afterwards (rasterio bundles OpenSSL 3.6; measured by hand first: with
`ssl` imported before rasterio it passes, imported after it still crashes). lightgbm's
import imports scikit-learn when scikit-learn is installed, and scikit-learn imports `ssl`:
so in a screening cell holding all three, lightgbm first, `ssl` is loaded before rasterio
and the cell passes. Screening runs each wheel alone first (lightgbm alone, where
scikit-learn is hidden, loads no `ssl`), reads which of CPython's modules rasterio's bundled
libraries can break (`_ssl` among them), and from the probe's "loaded" events sees that the
cell loaded `_ssl` before rasterio: that cell says nothing of the pair, and the next one,
without scikit-learn, crashes.

The three wheels and their exercises are atlas/corpus.toml's (read from it); their
dependencies are resolved by pip as the atlas resolves them, into the wheelhouses the atlas
run shares (~/.cache/wheelclash/wheelhouses).
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import jsonschema
import pytest

from harness import paths
from harness.cli import main
from harness.evidence.results import load_results
from harness.report.culprits import cross_wheel_pairs
from tests.integration.conftest import REPO

pytestmark = pytest.mark.docker

SCHEMA = json.loads(paths.RESULTS_SCHEMA.read_text())
CHOSEN = ("lightgbm==4.7.0", "rasterio==1.4.4", "scikit-learn==1.9.1")


def corpus(folder: Path) -> Path:
    """A corpus of atlas/corpus.toml's tables of the chosen wheels, in that order."""
    tables = tomllib.loads((REPO / "atlas" / "corpus.toml").read_text())["wheel"]
    rows = {row["requirement"]: row for row in tables}
    text = 'name = "mended"\ndescription = "lightgbm, rasterio and scikit-learn"\n'
    for requirement in CHOSEN:
        exercise = rows[requirement]["exercise"]
        text += f"\n[[wheel]]\nrequirement = {json.dumps(requirement)}\n"
        text += f"exercise = '''{exercise}'''\n"
    path = folder / "corpus.toml"
    path.write_text(text)
    return path


def test_a_pair_mended_by_a_wheel_its_first_wheel_imports_is_found(tmp_path: Path) -> None:
    path = corpus(tmp_path)
    editions = tmp_path / "editions"
    code = main(["atlas", str(path), "--screen", "--backend", "docker", "--no-previous",
                 "--results", str(tmp_path / "results"), "--editions", str(editions),
                 "--repeat-failures", "1"])  # fmt: skip
    assert code in (0, 1)
    (edition,) = editions.iterdir()
    document, cells = load_results(edition)
    jsonschema.validate(document, SCHEMA)
    record = document["screen"]
    assert "_ssl" in record["victims_exposed"]["rasterio"]
    assert "_ssl" not in record["victims_loaded"]["lightgbm"]  # alone: no scikit-learn
    assert "_ssl" in record["victims_loaded"]["scikit_learn"]
    (group,) = record["groups"]
    mode = next(m for m in group["modes"] if m["dlopen"] == "global-all")
    own = [c for c in mode["group_cells"] if c["order"][0] == "lightgbm"]
    # lightgbm first with the others behind it passed (scikit-learn mended it) ...
    assert own[0]["order"] == ["lightgbm", "rasterio", "scikit_learn"]
    assert own[0]["verdict"] == "pass"
    # ... and said nothing of (lightgbm, rasterio): run without scikit-learn, it crashed
    assert own[1]["order"] == ["lightgbm", "rasterio"] and own[1]["verdict"] == "segfault"
    assert own[1]["step"] == "victim _ssl"
    assert ["lightgbm", "rasterio"] in record["confirmed"]
    assert ("global-all", frozenset({"lightgbm", "rasterio"})) in cross_wheel_pairs(cells)
