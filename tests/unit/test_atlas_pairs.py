"""The atlas's scenarios: one per pair of the corpus, both orders, the atlas's modes."""

from __future__ import annotations

import time
import zipfile
from pathlib import Path

from harness.scenario.atlas_pairs import (
    ATLAS_MODES,
    AtlasOptions,
    against,
    against_scenarios,
    exercise_for,
    pair_scenarios,
)
from harness.scenario.corpus import load_corpus
from harness.scenario.from_wheels import Input
from harness.scenario.load import OrderMode
from harness.scenario.plan import plan
from tests.unit.test_corpus import REPO_CORPUS

GEO_CORPUS = REPO_CORPUS.parent / "samples" / "geo.toml"


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
    assert fiona.matrix.targets == ("debian:bookworm",) and fiona.matrix.victims
    assert fiona.exercise.startswith("# step: rasterio\nimport rasterio")
    assert "\n# step: fiona\nimport fiona" in fiona.exercise
    cells = plan(fiona)
    assert len(cells) == 6
    assert {(c.dlopen, c.order) for c in cells} == {
        (mode, order)
        for mode in ATLAS_MODES
        for order in (("rasterio", "fiona"), ("fiona", "rasterio"))
    }


def write_wheel(path: Path) -> None:
    """A small wheel of a pure package named as the file's project."""
    project, version = path.name.split("-")[:2]
    info = f"{project}-{version}.dist-info"
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr(f"{project}/__init__.py", "")
        wheel.writestr(
            f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {project}\nVersion: {version}\n"
        )
        wheel.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: false\n")
        wheel.writestr(f"{info}/top_level.txt", f"{project}\n")
        wheel.writestr(f"{info}/RECORD", "")


def test_check_against_pairs_given_wheels_with_every_corpus_wheel(tmp_path: Path) -> None:
    corpus = load_corpus(GEO_CORPUS)
    options = AtlasOptions(targets=("debian:bookworm",))
    atlas_names = {s.name for s in pair_scenarios(corpus, options)}
    mine = tmp_path / "mine-1.0-cp312-cp312-manylinux_2_28_x86_64.whl"
    newer = tmp_path / "msgpack-9.0-cp312-cp312-manylinux_2_28_x86_64.whl"
    for path in (mine, newer):
        write_wheel(path)
    given = (Input(id="mine", wheel=mine), Input(id="msgpack", wheel=newer))
    joined = against(corpus, given, exercise="import mine")
    n = len(corpus.wheels)
    assert len(joined.wheels) == n + 1 and joined.wheels[-1].id == "mine"
    # a new version of a corpus wheel takes its place, keeping its id, imports and exercise
    old = corpus.wheel("msgpack")
    new = joined.wheel("msgpack")
    assert new.wheel == newer and not new.requirement and new.exercise == old.exercise
    assert joined.wheels.index(new) == corpus.wheels.index(old)
    assert joined.wheel("mine").exercise == "import mine"
    scenarios = against_scenarios(joined, ("mine", "msgpack"), options)
    names = [s.name for s in scenarios]
    assert len(names) == len(set(names)) == (n + 1) + n + (n - 1)
    assert "mine" in names and "fiona--rasterio" not in names
    # msgpack's pairs with the corpus are named (and built) as the atlas's, so an edition's
    # cells of an unchanged pair can stand for them
    ours = {name for name in names if "msgpack" in name and "mine" not in name}
    assert ours <= atlas_names and len(ours) == n
    pair = next(s for s in scenarios if s.name == "fiona--mine")
    assert [w.id for w in pair.wheels] == ["fiona", "mine"]
    assert pair.matrix.dlopen == ATLAS_MODES


def test_a_wheel_run_alone_keeps_only_its_own_exercise_steps() -> None:
    """Attribution runs a pair's wheels alone: b's step imports b, so running it with a
    alone would fail at a step that is not a's (and blame a)."""
    whole = "import os\n# step: a\nimport a\na.run()\n# step: b\nimport b\nb.run()\n"
    alone = exercise_for(whole, ["a"], ["a", "b"])
    assert alone == "import os\n# step: a\nimport a\na.run()\n\n\n\n"
    # line numbers stay the whole exercise's; unknown labels and the unnamed head stay
    assert alone.split("\n")[3] == whole.split("\n")[3]
    assert exercise_for(whole, ["b"], ["a", "b"]).split("\n")[5:7] == ["import b", "b.run()"]
    assert exercise_for(whole, ["a", "b"], ["a", "b"]) == whole
    assert exercise_for(whole, ["a"], ["a", "c"]) == whole
    assert exercise_for("", ["a"], ["a", "b"]) == ""
