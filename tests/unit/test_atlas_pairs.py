"""The atlas's scenarios: one per pair of the corpus, both orders, the atlas's modes."""

from __future__ import annotations

import time

from harness.scenario.atlas_pairs import ATLAS_MODES, AtlasOptions, pair_scenarios
from harness.scenario.corpus import load_corpus
from harness.scenario.load import OrderMode
from harness.scenario.plan import plan
from tests.unit.test_corpus import REPO_CORPUS


def test_every_pair_of_the_shipped_corpus_is_a_scenario_of_its_own() -> None:
    corpus = load_corpus(REPO_CORPUS)
    started = time.monotonic()
    scenarios = pair_scenarios(corpus, AtlasOptions(targets=("debian:bookworm",)))
    assert time.monotonic() - started < 60
    n = len(corpus.wheels)
    assert len(scenarios) == len({s.name for s in scenarios}) == n + n * (n - 1) // 2
    alone = scenarios[:n]
    assert [s.name for s in alone] == [w.id.replace("_", "-") for w in corpus.wheels]
    re2 = next(s for s in alone if s.name == "google-re2")
    assert [w.id for w in re2.wheels] == ["google_re2"]
    assert {(c.dlopen, c.order) for c in plan(re2)} == {
        (mode, ("google_re2",)) for mode in ATLAS_MODES
    }
    assert all("--" in s.name for s in scenarios[n:])
    assert ATLAS_MODES == ("local", "global-all", "global-first")
    fiona = next(s for s in scenarios if s.name == "fiona--rasterio")
    assert fiona.path == REPO_CORPUS
    assert [w.id for w in fiona.wheels] == ["rasterio", "fiona"]
    assert [w.requirement for w in fiona.wheels] == ["rasterio==1.4.4", "fiona==1.10.1"]
    assert fiona.matrix.orders == OrderMode.PAIRS and fiona.matrix.dlopen == ATLAS_MODES
    assert fiona.matrix.targets == ("debian:bookworm",) and not fiona.matrix.victims
    assert fiona.exercise.startswith("# step: rasterio\nimport rasterio")
    assert "\n# step: fiona\nimport fiona" in fiona.exercise
    cells = plan(fiona)
    assert len(cells) == 6
    assert {(c.dlopen, c.order) for c in cells} == {
        (mode, order)
        for mode in ATLAS_MODES
        for order in (("rasterio", "fiona"), ("fiona", "rasterio"))
    }
