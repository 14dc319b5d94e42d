"""`wheelclash explain` on real ELF files: the fixture wheels of mechanisms 1 and 2 and their
fixed twins, and small shared objects this test compiles with g++ for mechanisms 4, 5 and 6."""

from __future__ import annotations

import json
import subprocess
import zipfile
from pathlib import Path

import pytest

from harness.analysis import explain as module
from harness.analysis import scancache
from harness.analysis.explain import explain, mechanisms
from harness.analysis.mechanisms import Mechanism
from harness.analysis.scancache import Opened
from harness.build.toolchains import load_catalogue
from harness.cells.backends.local import LocalBackend
from harness.cli import main
from harness.run.runner import wheels_for
from harness.scenario.load import load_scenario
from harness.scenario.plan import plan
from tests.integration.conftest import SCENARIOS


def predicted(scenario_name: str) -> list[Mechanism]:
    scenario = load_scenario(SCENARIOS / f"{scenario_name}.toml", load_catalogue())
    wheels = wheels_for(scenario, plan(scenario)[0], LocalBackend())
    return mechanisms(explain([(w.wheel_id, w.path) for w in wheels]))


@pytest.mark.parametrize(
    ("scenario", "expected"),
    [
        ("call-once", ["1"]),
        ("first-loader-hijack", ["2"]),
        ("call-once-bsymbolic", []),
        ("first-loader-hijack-version-script", []),
        ("healthy", []),
    ],
)
def test_fixture_wheels_predict_their_mechanism_and_twins_stay_quiet(
    scenario: str, expected: list[str]
) -> None:
    assert predicted(scenario) == expected


def compile_so(folder: Path, name: str, source: str, *flags: str) -> Path:
    src = folder / f"{name}.cpp"
    src.write_text(source)
    out = folder / f"{name}.so"
    subprocess.run(
        ["g++", "-O2", "-shared", "-fPIC", *flags, "-o", str(out), str(src)],
        check=True,
        capture_output=True,
    )
    return out


def pack(folder: Path, project: str, files: dict[str, Path]) -> Path:
    wheel = folder / f"{project}-1.0-cp38-abi3-linux_x86_64.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for member, path in files.items():
            archive.writestr(member, path.read_bytes())
        archive.writestr(f"{project}-1.0.dist-info/RECORD", "")
    return wheel


UNIQUE = """
struct State { int counts[%d]; };
inline State& state() { static State s; return s; }
extern "C" int PyInit_%s() { return state().counts[0]++; }
"""


def test_unique_symbols_shared_between_wheels_predict_mechanism_4(tmp_path: Path) -> None:
    small = compile_so(tmp_path, "u1", UNIQUE % (1, "u1"))
    big = compile_so(tmp_path, "u2", UNIQUE % (64, "u2"))
    first = pack(tmp_path, "uone", {"u1.abi3.so": small})
    second = pack(tmp_path, "utwo", {"u2.abi3.so": big})
    findings = explain([("one", first), ("two", second)])
    shared = [f for f in findings if f.predictor == "unique-shared"]
    assert [f.mechanism for f in shared] == ["4"]
    assert "differ in size" in shared[0].detail
    # The fixed twin: -fno-gnu-unique makes the static local WEAK, nothing is merged.
    fixed = compile_so(tmp_path, "u3", UNIQUE % (64, "u3"), "-fno-gnu-unique")
    third = pack(tmp_path, "uthree", {"u3.abi3.so": fixed})
    assert mechanisms(explain([("one", first), ("three", third)])) == []


TLS = """
%s thread_local char buffer[4096];
extern "C" char* PyInit_%s() { buffer[0]++; return buffer; }
"""


def test_initial_exec_tls_predicts_mechanism_5(tmp_path: Path) -> None:
    ie = compile_so(tmp_path, "t1", TLS % ('__attribute__((tls_model("initial-exec")))', "t1"))
    dynamic = compile_so(tmp_path, "t2", TLS % ("", "t2"))
    found = explain([("ie", pack(tmp_path, "tie", {"t1.abi3.so": ie}))])
    assert [(f.predictor, f.mechanism) for f in found if f.mechanism] == [("static-tls", "5")]
    assert "4096-byte" in next(f.detail for f in found if f.mechanism)
    quiet = explain([("gd", pack(tmp_path, "tgd", {"t2.abi3.so": dynamic}))])
    assert mechanisms(quiet) == []
    assert [f.predictor for f in quiet if f.predictor.startswith("tls")] == ["tls-size"]


LIB = 'extern "C" int foo_version() { return %d; }\n'
EXTRA = 'extern "C" int foo_extra_%d() { return 0; }\n'
MODULE = 'extern "C" int foo_version(); extern "C" int PyInit_%s() { return foo_version(); }\n'


def test_bundled_sonames_predict_mechanism_6(tmp_path: Path) -> None:
    def wheel(project: str, soname: str, version: int) -> Path:
        folder = tmp_path / project
        folder.mkdir()
        source = LIB % version + (EXTRA % version if version == 2 else "")
        lib = compile_so(folder, "libfoo", source, f"-Wl,-soname,{soname}")
        module = compile_so(
            folder, project, MODULE % project, str(lib), "-Wl,-rpath,$ORIGIN/../x.libs"
        )
        return pack(folder, project, {f"{project}.abi3.so": module, f"x.libs/{soname}": lib})

    first, second = wheel("vone", "libfoo.so.1", 1), wheel("vtwo", "libfoo.so.1", 2)
    findings = explain([("one", first), ("two", second)])
    assert mechanisms(findings) == ["6"]
    assert {f.predictor for f in findings if f.mechanism} == {"shared-soname"}
    # What one copy exports and the other lacks (both copies' names are read back for it).
    shared = next(f for f in findings if f.predictor == "shared-soname")
    assert shared.symbols == {"foo_extra_2"}
    assert {f.predictor for f in findings if not f.mechanism} >= {"bundled-soname"}
    assert any(f.predictor == "runpath" or f.predictor == "rpath" for f in findings)
    hashed = explain([("h", wheel("vthree", "libfoo-0a1b2c3d.so.1", 3))])
    assert mechanisms(hashed) == []


def test_explain_cli_prints_text_and_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = load_scenario(SCENARIOS / "first-loader-hijack.toml", load_catalogue())
    wheels = wheels_for(scenario, plan(scenario)[0], LocalBackend())
    paths = [str(w.path) for w in wheels]
    assert main(["explain", *paths]) == 0
    text = capsys.readouterr().out
    assert "[mechanism 2] runtime-internals" in text and "_ZSt11__once_call" in text
    assert main(["explain", "--json", *paths]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["schema_version"] == 1 and document["mechanisms"] == ["2"]
    assert main(["explain", str(tmp_path / "missing.whl")]) == 2
    assert "no such wheel file" in capsys.readouterr().err


def counted_reads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The wheels explain reads from the scan cache from now on, in order: itself, or
    through `scancache.read_with`."""
    reads: list[Path] = []
    real = scancache.read

    def counted(path: Path, sha256: str) -> Opened:
        reads.append(path)
        return real(path, sha256)

    monkeypatch.setattr(module, "read", counted)
    monkeypatch.setattr(scancache, "read", counted)
    return reads


def test_a_memo_reads_each_wheel_once_for_many_sets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The end of an atlas run explains every pair: each wheel is read once, not per pair."""
    small = compile_so(tmp_path, "u1", UNIQUE % (1, "u1"))
    big = compile_so(tmp_path, "u2", UNIQUE % (64, "u2"))
    first = pack(tmp_path, "uone", {"u1.abi3.so": small})
    second = pack(tmp_path, "utwo", {"u2.abi3.so": big})
    alone = explain([("one", first), ("two", second)])
    reads = counted_reads(monkeypatch)
    memo: dict[tuple[str, Path, str], module.Scanned] = {}
    assert explain([("one", first), ("two", second)], memo=memo) == alone
    assert explain([("two", second), ("one", first)], memo=memo)
    assert explain([("one", first)], memo=memo)
    assert sorted(reads) == sorted([first, second])


def test_results_findings_read_each_wheel_once_for_all_pairs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """results.json's findings at the end of an atlas run: every wheel alone and every pair is
    a set of its own, and each wheel is read once for all of them (it was once per set)."""
    from harness.analysis import agreement
    from harness.build.wheels import BuiltWheel
    from harness.common.digests import file_sha256

    made = {
        name: pack(tmp_path, f"u{name}", {f"u{name}.abi3.so": compile_so(
            tmp_path, f"u{name}", UNIQUE % (n + 1, f"u{name}"))})
        for n, name in enumerate(("a", "b", "c"))
    }  # fmt: skip
    wheels = {
        name: BuiltWheel(
            wheel_id=name, module=f"u{name}", fixture=name, toolchain="given", link="",
            path=path, sha256=file_sha256(path), compiler="", elf_comment="", builder="given",
            builder_id="", audit="", cache_key=name,
        )
        for name, path in made.items()
    }  # fmt: skip
    sets = [[wheels["a"]], [wheels["b"]], [wheels["c"]]]
    sets += [[wheels["a"], wheels["b"]], [wheels["a"], wheels["c"]], [wheels["b"], wheels["c"]]]
    units = [(ws, [f"set-{i}"]) for i, ws in enumerate(sets)]
    one_by_one = [agreement.findings_for([ws]) for ws in sets]
    reads = counted_reads(monkeypatch)
    keys = agreement.document_keys(units, [])
    assert sorted(reads) == sorted(made.values())
    expected = list(dict.fromkeys(f for found in one_by_one for f in found))
    assert keys["findings"] == [f.to_json() for f in expected]
    assert keys["findings"]  # the pairs' GNU-unique findings, at least
    # Worked out early (while a run's cells run), the same findings, and nothing read again.
    early = agreement.set_findings(ws for ws, _ in units)
    reads.clear()
    assert agreement.document_keys(units, [], known=early) == keys and reads == []
    # A set the early findings do not hold is worked out then.
    partial = {key: found for key, found in early.items() if len(key) == 1}
    assert agreement.document_keys(units, [], known=partial) == keys
    assert sorted(set(reads)) == sorted(made.values())
