"""`wheelclash atlas --screen` end to end on this machine (local backend), against the
exhaustive atlas of the same corpus: the call-once pair (either RTLD_GLOBAL first segfaults
while the other loads) among healthy wheels under distinct module names. Screening must
find the same failing pairs with fewer cells, and its edition must hold the confirmed pair
cells as the exhaustive edition does."""

from __future__ import annotations

import json
import re
import signal
import textwrap
import time
from pathlib import Path

import jsonschema
import psutil
import pytest

from harness import paths
from harness.build.wheels import BuiltWheel
from harness.cells.backends.local import LocalBackend
from harness.cli import main
from harness.cli.progress_view import INTERVAL_VARIABLE
from harness.evidence.results import load_results
from harness.report.culprits import cross_wheel_pairs
from tests.integration.cli_process import CliSpawner
from tests.integration.conftest import built_for
from tests.integration.test_atlas import REFUSED_PAIR_CORPUS, only_folder
from tests.integration.test_cli_process import wait_for_a_probe

SCHEMA = json.loads(paths.RESULTS_SCHEMA.read_text())
HEALTHY = 4  # healthy wheels beside the pair: 6 wheels, 15 pairs


def corpus(folder: Path, layout: str = "a h0 h1 b h2 h3") -> tuple[Path, dict[str, str]]:
    """The corpus file, and each wheel id's module: the wheels of `layout` in its order (by
    default the healthy wheels between a and b, so that a group of 4 holds a and b once)."""
    backend = LocalBackend()
    once = built_for("call-once", backend, "host")
    healthy = built_for("healthy-ten", backend, "host")
    built: dict[str, BuiltWheel] = {"a": once["a"], "b": once["b"]}
    built |= {f"h{i}": healthy[f"h{i}"] for i in range(HEALTHY)}
    wheels = [(wheel_id, built[wheel_id]) for wheel_id in layout.split()]
    tables = "".join(
        f'\n[[wheel]]\nid = "{wheel_id}"\nwheel = "{w.path}"\n'
        f'exercise = "import {w.module}; {w.module}.exercise()"\n'
        for wheel_id, w in wheels
    )
    path = folder / "corpus.toml"
    path.write_text(
        textwrap.dedent(
            """
            name = "screen-fixtures"
            description = "the call-once pair among healthy wheels"
            timeout = 60
            """
        )
        + tables
    )
    return path, {wheel_id: w.module for wheel_id, w in wheels}


def atlas(*args: str) -> int:
    return main(["atlas", *args, "--backend", "local", "--repeat-failures", "2"])


def test_screening_finds_the_exhaustive_failing_pairs_with_fewer_cells(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, modules = corpus(tmp_path)
    full = tmp_path / "full"
    common = ("--no-previous", "--results", str(tmp_path / "results"))
    assert atlas(str(path), *common, "--editions", str(full)) == 0
    _, exhaustive = load_results(only_folder(full))
    capsys.readouterr()

    screened = tmp_path / "screened"
    assert atlas(str(path), *common, "--editions", str(screened), "--screen",
                 "--group-size", "4") == 0  # fmt: skip
    out = capsys.readouterr().out
    edition = only_folder(screened)
    document, cells = load_results(edition)
    jsonschema.validate(document, SCHEMA)

    expected = {(m, frozenset("ab")) for m in ("global-all", "global-first")}
    assert cross_wheel_pairs(exhaustive) == expected
    assert cross_wheel_pairs(cells) == expected

    record = document["screen"]
    # parts of 2 (a,h0), (h1,b), (h2,h3): three groups of 4, each pair of wheels in one
    assert [g["wheels"] for g in record["groups"]] == [
        ["a", "h0", "h1", "b"], ["a", "h0", "h2", "h3"], ["h1", "b", "h2", "h3"]
    ]  # fmt: skip
    assert record["found"] == [["a", "b"]] and record["confirmed"] == [["a", "b"]]
    assert record["uncovered"] == [] and record["unexplained"] == []
    first = {m["dlopen"]: m for m in record["groups"][0]["modes"]}
    # each wheel alone first, once, in the first group holding it; then the local sequence
    # and its reverse
    assert [g["profiled"] for g in record["groups"]] == [["a", "h0", "h1", "b"], ["h2", "h3"], []]
    assert not first["local"]["failed"] and first["local"]["cells"] == 4 + 2
    assert sorted(record["victims_loaded"]) == sorted(modules)
    # either one RTLD_GLOBAL before the other crashes: both ordered pairs
    assert first["global-all"]["pairs"] == [["a", "b"], ["b", "a"]]
    assert first["global-all"]["splits"] > 0
    # the group's sequence crashed while b loaded (a RTLD_GLOBAL before it); a later one
    # with b before a crashed too; once both were found, no sequence held the two
    own = first["global-all"]["group_cells"]
    assert own[0]["order"] == ["a", "h0", "h1", "b"] and own[0]["verdict"] == "segfault"
    assert own[0]["step"] == f"import {modules['b']}"
    failed = [i for i, c in enumerate(own) if c["verdict"] != "pass"]
    assert len(failed) == 2
    second = own[failed[1]]["order"]
    assert second.index("b") < second.index("a")
    assert not any({"a", "b"} <= set(c["order"]) for c in own[failed[1] + 1 :])
    assert all(not m["failed"] for g in record["groups"][1:] for m in g["modes"])
    # the edition holds every wheel alone and the confirmed pair's cells, as the exhaustive
    # edition does (the same ids, the same verdicts)
    assert {c.cell.scenario for c in cells} == {"a", "b", "h0", "h1", "h2", "h3", "a--b"}
    verdicts = {c.id: c.outcome.verdict for c in exhaustive}
    assert all(verdicts[c.id] == c.outcome.verdict for c in cells)
    total = record["cells"] + len(cells)
    assert total < len(exhaustive), (total, len(exhaustive))
    # the page marks the 14 pairs that passed screening, both orders, three modes
    assert (edition / "atlas.html").read_text().count('class="sq screened"') == 14 * 2 * 3
    assert "Screened (`atlas --screen`): 3 groups" in (edition / "summary.md").read_text()
    assert "screening: 3 groups of up to 4 wheels" in out and "1 confirmed" in out
    assert "a+b" in out


def test_a_group_pip_refuses_is_screened_in_smaller_groups(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Real requirements from the index: pydantic 2.10.0 pins pydantic-core 2.27.0, so no
    group holding pydantic-core 2.27.1 too installs; the group of three is screened as its
    pairs, and the pair pip refuses runs as a pair, recorded as not installable."""
    path = tmp_path / "corpus.toml"
    path.write_text(REFUSED_PAIR_CORPUS)
    editions = tmp_path / "editions"
    args = ("--results", str(tmp_path / "results"), "--editions", str(editions), "--screen")
    assert atlas(str(path), *args) == 0
    out, err = capsys.readouterr()
    assert "screen-1 (3 wheels), 0 cells: not screened (pip cannot install the group" in out
    document, cells = load_results(only_folder(editions))
    record = document["screen"]
    # the progress stage planned the refused group's 8 first cells (2 + 3 + 3), took them
    # off when pip refused it, and added the smaller groups' own: it ends at the cells run
    assert "groups of up to 20 wheels: started (8 group cells before any split)" in err
    ended = re.search(r"groups of up to 20 wheels: done in .*\((\d+)/(\d+), ", err)
    assert ended is not None, err
    assert int(ended[1]) == int(ended[2]) == record["cells"] > 0
    assert [(g["name"], g["wheels"], bool(g["not_screened"])) for g in record["groups"]] == [
        ("screen-1", ["pydantic", "pydantic_core", "msgpack"], True),
        ("screen-1-1", ["pydantic", "pydantic_core"], True),
        ("screen-1-2", ["pydantic", "msgpack"], False),
        ("screen-1-3", ["pydantic_core", "msgpack"], False),
    ]
    assert record["uncovered"] == [["pydantic", "pydantic_core"]]
    assert record["pairs_run"] == [["pydantic", "pydantic_core"]] and record["found"] == []
    verdicts = {c.cell.scenario: c.outcome.verdict for c in cells}
    assert verdicts == {
        "pydantic": "pass", "pydantic-core": "pass", "msgpack": "pass",
        "pydantic--pydantic-core": "not-installable",
    }  # fmt: skip


def test_global_first_runs_each_wheel_first_and_isolates_the_ordered_pairs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """a and b in the middle of the one group, so neither is first in its sequence or its
    reverse: global-first must still load each of them first and RTLD_GLOBAL before the
    other, as the pair cells a--b of that mode do. Screening's progress stage counts its
    cells on stderr (plain, a line per cell here)."""
    monkeypatch.setenv(INTERVAL_VARIABLE, "0")
    path, _ = corpus(tmp_path, "h0 a b h1")
    editions = tmp_path / "editions"
    assert atlas(str(path), "--no-previous", "--results", str(tmp_path / "results"),
                 "--editions", str(editions), "--screen", "--group-size", "4") == 0  # fmt: skip
    out, err = capsys.readouterr()
    document, cells = load_results(only_folder(editions))
    jsonschema.validate(document, SCHEMA)
    record = document["screen"]
    (group,) = record["groups"]
    # the stage: planned 2 + 4 + 4 first cells; it ends with every cell run counted, the
    # later ones added and the planned ones that did not run taken off
    stage = "wheelclash: screen screen-fixtures, groups of up to 4 wheels"
    assert f"{stage}: started (10 group cells before any split)\n" in err
    ended = re.search(rf"^{stage}: done in .*\((\d+)/(\d+), (\d+) failed", err, re.M)
    assert ended is not None, err
    assert int(ended[1]) == int(ended[2]) == record["cells"] == group["cells"]
    lines = re.findall(r"^wheelclash: screen: (\d+)/(\d+) ", err, re.M)
    assert [int(done) for done, _ in lines] == list(range(1, record["cells"] + 1))
    assert "wheelclash:" not in out  # progress stays off stdout
    modes = {m["dlopen"]: m for m in group["modes"]}
    first = modes["global-first"]
    verdicts = {tuple(c["order"]): c["verdict"] for c in first["group_cells"]}
    # a sequence per wheel, it first and the others in the group's order: h0 and h1 first
    # pass (a and b are both loaded RTLD_LOCAL there), a first or b first crashes; then a
    # and b first again, without the other
    assert list(verdicts) == [("h0", "a", "b", "h1"), ("a", "h0", "b", "h1"), ("a", "h0", "h1"),
                              ("b", "h0", "a", "h1"), ("b", "h0", "h1"),
                              ("h1", "h0", "a", "b")]  # fmt: skip
    assert verdicts[("a", "h0", "b", "h1")] == verdicts[("b", "h0", "a", "h1")] == "segfault"
    assert {verdicts[o] for o in verdicts if o[0] in ("h0", "h1") or len(o) == 3} == {"pass"}
    # the failing prefix's last wheel, confirmed behind the global one alone
    assert first["pairs"] == [["a", "b"], ["b", "a"]]
    assert first["singletons"] == [] and first["unexplained"] == [] and first["splits"] > 0
    # each of the four alone first, then the sequence and its reverse
    assert not modes["local"]["failed"] and modes["local"]["cells"] == 4 + 2
    assert record["found"] == [["a", "b"]] and record["confirmed"] == [["a", "b"]]
    assert cross_wheel_pairs(cells) == {
        (m, frozenset("ab")) for m in ("global-all", "global-first")
    }
    assert f"global-first split in {first['tests']} tests: a+b, b+a" in out


def test_a_terminal_shows_screening_live_and_stdout_keeps_its_lines(
    spawn_cli: CliSpawner, tmp_path: Path
) -> None:
    """stderr on a pseudo-terminal, stdout a pipe: the screen stage is drawn live on the
    terminal and ends with its count; the per-group lines stay on stdout alone."""
    path, _ = corpus(tmp_path, "h0 a b h1")
    code, out, shown = spawn_cli.on_terminal(
        "atlas", path, "--backend", "local", "--no-previous", "--results", tmp_path / "results",
        "--editions", tmp_path / "editions", "--screen", "--group-size", "4",
        env={"COLUMNS": "160", "TERM": "xterm"}, timeout=900,
    )  # fmt: skip
    assert code == 0, shown[-2000:]
    assert "\x1b[" in shown and "wheelclash: " not in shown  # live, not plain lines
    ended = re.search(r"groups of up to 4 wheels: done in [^(]*\((\d+)/(\d+), (\d+) failed", shown)
    assert ended is not None, shown[-2000:]
    assert ended[1] == ended[2] and int(ended[3]) > 0
    assert "screen 1/1: screen-1 (4 wheels)" in out and "screen 1/1" not in shown
    assert "\x1b[" not in out
    document, _ = load_results(only_folder(tmp_path / "editions"))
    assert int(ended[1]) == document["screen"]["cells"]


def exercised_corpus(folder: Path, layout: dict[str, str], exercises: dict[str, str]) -> Path:
    """A corpus of healthy fixture wheels: `layout` maps each id to its wheel (h0 to h9),
    `exercises` gives some ids an exercise of their own ({h4} in it: that wheel's module);
    the others import their module."""
    healthy = built_for("healthy-ten", LocalBackend(), "host")
    modules = {name: healthy[name].module for name in healthy}
    tables = "".join(
        f'\n[[wheel]]\nid = "{wheel_id}"\nwheel = "{healthy[h].path}"\n'
        f'exercise = "{exercises.get(wheel_id, "import {" + h + "}").format(**modules)}"\n'
        for wheel_id, h in layout.items()
    )
    path = folder / "corpus.toml"
    path.write_text('name = "partners"\ndescription = "exercised"\ntimeout = 60\n' + tables)
    return path


def test_the_pairs_of_a_wheel_failing_alone_are_screened_by_how_it_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """w fails alone in every mode (its exercise dereferences NULL: a segfault), and with x
    loaded it aborts instead: the exhaustive atlas credits the pair w+x, cross-wheel, in
    every mode. Screening leaves w out of the groups' searches once it knows it fails alone,
    and searches w's pairs by how w fails: it must find w+x, and only it, as the exhaustive
    atlas does (before, every part holding w failed, and w's pairs went unseen)."""
    layout = {"h0": "h0", "w": "h4", "h1": "h1", "x": "h5", "h2": "h2", "h3": "h3"}
    exercise = "import os, sys, ctypes, {h4}; os.abort() if '{h5}' in sys.modules else "
    path = exercised_corpus(tmp_path, layout, {"w": exercise + "ctypes.string_at(0)"})
    common = ("--no-previous", "--results", str(tmp_path / "results"))
    full = tmp_path / "full"
    assert atlas(str(path), *common, "--editions", str(full)) == 0
    _, exhaustive = load_results(only_folder(full))
    expected = {(m, frozenset({"w", "x"})) for m in ("local", "global-all", "global-first")}
    assert cross_wheel_pairs(exhaustive) == expected
    capsys.readouterr()

    screened = tmp_path / "screened"
    assert atlas(str(path), *common, "--editions", str(screened), "--screen",
                 "--group-size", "4") == 0  # fmt: skip
    out = capsys.readouterr().out
    document, cells = load_results(only_folder(screened))
    jsonschema.validate(document, SCHEMA)
    assert cross_wheel_pairs(cells) == expected
    record = document["screen"]
    assert record["found"] == [["w", "x"]] and record["confirmed"] == [["w", "x"]]
    assert record["unexplained"] == [] and record["uncovered"] == []
    first, second, third = ({m["dlopen"]: m for m in g["modes"]} for g in record["groups"])
    assert [g["wheels"] for g in record["groups"]][:2] == [
        ["h0", "w", "h1", "x"], ["h0", "w", "h2", "h3"]
    ]  # fmt: skip
    # the first group finds w alone, then w+x by how w fails
    local = first["local"]
    assert local["singletons"] == ["w"]
    (search,) = local["partners"]
    # its exercise runs after every import: x loaded after it or before it
    assert search["wheel"] == "w" and search["pairs"] == [["w", "x"], ["x", "w"]]
    (alone,) = search["alone"]
    assert alone.startswith("segfault at "), alone
    # the second knows it: its sequences leave w out (in global-all one per first wheel,
    # nothing loaded before it), and w's pairs there are none
    runs = {m: [c["order"] for c in second[m]["group_cells"]] for m in ("local", "global-all")}
    assert runs["local"] == [["h0", "h2", "h3"], ["h3", "h2", "h0"]]
    assert runs["global-all"] == [["h0", "h2", "h3"], ["h2", "h0", "h3"], ["h3", "h0", "h2"]]
    for mode in ("local", "global-all"):
        (search,) = second[mode]["partners"]
        assert search["wheel"] == "w" and search["pairs"] == []
    # locally the others after it, then before it: a run each
    assert second["local"]["partners"][0]["tests"] == 2
    # global-first: w first (global, x behind it) and w behind each other wheel (x first)
    (search,) = first["global-first"]["partners"]
    assert search["pairs"] == [["x", "w"], ["w", "x"]]
    assert not any(m["failed"] or m["partners"] for m in third.values())
    assert "(pairs of w searched on their own): w, w+x, x+w" in out
    total = record["cells"] + len(cells)
    exhaustive_total = len(exhaustive) + document.get("attribution", {}).get("runs", 0)
    assert total < exhaustive_total, (total, exhaustive_total)


def test_a_wheel_with_many_partners_has_each_found_and_known_ones_cost_no_cell(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """p aborts when any of h0 to h3 is loaded, before or after it: four partners, in every
    mode, eight ordered pairs each. The first group (h0, p, h1, h2) finds six of them; the
    second (h0, p, h3, h4) holds p with h0 in no cell (known both ways) and finds p with h3;
    the screened edition's failing pairs are the exhaustive edition's."""
    layout = {"h0": "h0", "p": "h9", "h1": "h1", "h2": "h2", "h3": "h3", "h4": "h4"}
    partners = ", ".join(f"'{{{h}}}'" for h in ("h0", "h1", "h2", "h3"))
    exercise = f"import os, sys, {{h9}}; any(m in sys.modules for m in ({partners})) and os.abort()"
    path = exercised_corpus(tmp_path, layout, {"p": exercise})
    common = ("--no-previous", "--results", str(tmp_path / "results"))
    assert atlas(str(path), *common, "--editions", str(tmp_path / "full")) == 0
    _, exhaustive = load_results(only_folder(tmp_path / "full"))
    modes = ("local", "global-all", "global-first")
    expected = {(m, frozenset({"p", h})) for m in modes for h in ("h0", "h1", "h2", "h3")}
    assert cross_wheel_pairs(exhaustive) == expected
    capsys.readouterr()

    screened = tmp_path / "screened"
    assert atlas(str(path), *common, "--editions", str(screened), "--screen",
                 "--group-size", "4") == 0  # fmt: skip
    document, cells = load_results(only_folder(screened))
    jsonschema.validate(document, SCHEMA)
    assert cross_wheel_pairs(cells) == expected
    record = document["screen"]
    assert [g["wheels"] for g in record["groups"]] == [
        ["h0", "p", "h1", "h2"], ["h0", "p", "h3", "h4"], ["h1", "h2", "h3", "h4"]
    ]  # fmt: skip
    first, second, third = ({m["dlopen"]: m for m in g["modes"]} for g in record["groups"])
    for mode in ("local", "global-all"):
        both = {(h, "p") for h in ("h0", "h1", "h2")} | {("p", h) for h in ("h0", "h1", "h2")}
        assert {tuple(q) for q in first[mode]["pairs"]} == both
        assert {tuple(q) for q in second[mode]["pairs"]} == {("h3", "p"), ("p", "h3")}
        # what the first group found, the second never runs again
        runs = [c["order"] for c in second[mode]["group_cells"]]
        assert runs and not any({"p", "h0"} <= set(order) for order in runs)
    gf = {tuple(q) for q in second["global-first"]["pairs"]}
    assert gf == {("h3", "p"), ("p", "h3")}
    assert not any(m["failed"] for m in third.values())


def test_sigterm_while_screening_ends_the_run_after_the_cell_in_flight(
    spawn_cli: CliSpawner, tmp_path: Path
) -> None:
    """Every wheel's exercise sleeps 3 s, so a cell of the group of four takes 12 s and its
    own cells in three modes over a minute and a half. SIGTERM while the first cell runs:
    the run unwinds (130) once that cell ends, not after the group, and leaves no process."""
    layout = {f"h{i}": f"h{i}" for i in range(4)}
    sleeps = {k: "import time, {" + k + "}; time.sleep(3)" for k in layout}
    path = exercised_corpus(tmp_path, layout, sleeps)
    proc = spawn_cli(
        "atlas", path, "--backend", "local", "--no-previous", "--results", tmp_path / "results",
        "--editions", tmp_path / "editions", "--screen", "--group-size", "4",
    )  # fmt: skip
    wait_for_a_probe(proc)
    family = psutil.Process(proc.pid).children(recursive=True)
    asked = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=120)
    took = time.monotonic() - asked
    assert code == 130, proc.stderr.read() if proc.stderr else ""
    assert took < 40, f"stopped {took:.0f} s after SIGTERM"
    _, alive = psutil.wait_procs(family, timeout=10)
    assert alive == [], f"left running: {alive}"
    assert not (tmp_path / "editions").exists() or not any((tmp_path / "editions").iterdir())
