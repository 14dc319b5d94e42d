"""The classifier over captured, real supervisor reports (kept as constants), table style."""

from __future__ import annotations

import ctypes
import json
import re
from typing import Any

import pytest

from harness import paths
from harness.cells.backends.stream import outcomes_from_lines
from harness.cells.jobs import CellJob, Import
from harness.cells.outcome import Outcome, ProbeEvent
from harness.common.verdicts import ImportErrorKind, Verdict
from harness.evidence.classify import classify, import_error_kind

# stderr of a real mechanism-1 crash (gcc 12, glibc 2.36, CPython 3.11), as the probe left it.
SEGFAULT_STDERR = """Fatal Python error: Segmentation fault

Current thread 0x00007f22cec4cb80 (most recent call first):
  File "<frozen importlib._bootstrap>", line 241 in _call_with_frames_removed
  File "<frozen importlib._bootstrap_external>", line 1233 in create_module
  File "/work/main/harness/resources/probe.py", line 181 in main

Extension modules: wc_call_once_a (total: 1)
"""

# Messages the dynamic loader really prints (glibc 2.36), as ImportError text.
UNDEFINED = "/v/lib/python3.11/site-packages/wc_m.abi3.so: undefined symbol: wc_missing_function"
VERSION = (
    "/lib/x86_64-linux-gnu/libstdc++.so.6: version `GLIBCXX_3.4.32' not found "
    "(required by /v/lib/python3.11/site-packages/wc_new.abi3.so)"
)
STATIC_TLS = "libgomp-a34b3233.so.1.0.0: cannot allocate memory in static TLS block"
OTHER = "No module named 'wc_absent'"

START = {"event": "start", "pid": 1, "python": "3.11.7", "dlopenflags": 2}


def report(*events: dict[str, Any], **fields: Any) -> Outcome:
    return Outcome.from_report(
        {"id": "s/host/local/plain/a,b#1", "events": [START, *events], **fields}
    )


def step(what: str) -> dict[str, Any]:
    return {"event": "step", "what": what}


SENTINEL = {"event": "sentinel"}


def import_error(message: str) -> dict[str, Any]:
    return {"event": "import-error", "module": "wc_m", "type": "ImportError", "message": message}


CASES = [
    ("pass", report(step("import a"), SENTINEL, returncode=0), Verdict.PASS, None),
    (
        "segfault",
        report(
            step("import wc_call_once_b"), returncode=-11, signal=11, stderr_tail=SEGFAULT_STDERR
        ),
        Verdict.SEGFAULT,
        None,
    ),
    ("abort", report(step("import a"), returncode=-6, signal=6), Verdict.ABORT, None),
    ("bus-error", report(step("import a"), returncode=-7, signal=7), Verdict.BUS_ERROR, None),
    (
        "sigill",
        report(step("import a"), returncode=-4, signal=4),
        Verdict.ILLEGAL_INSTRUCTION,
        None,
    ),
    ("fpe", report(step("import a"), returncode=-8, signal=8), Verdict.FPE, None),
    ("sigterm", report(step("import a"), returncode=-15, signal=15), Verdict.OTHER_SIGNAL, None),
    (
        "hang",
        report(step("exercise a.f"), returncode=-9, signal=9, timed_out=True),
        Verdict.HANG,
        None,
    ),
    (
        "undefined",
        report(step("import a"), import_error(UNDEFINED), returncode=10),
        Verdict.IMPORT_ERROR,
        ImportErrorKind.UNDEFINED_SYMBOL,
    ),
    (
        "version",
        report(step("import a"), import_error(VERSION), returncode=10),
        Verdict.IMPORT_ERROR,
        ImportErrorKind.VERSION_NOT_FOUND,
    ),
    (
        "static-tls",
        report(step("import a"), import_error(STATIC_TLS), returncode=10),
        Verdict.IMPORT_ERROR,
        ImportErrorKind.STATIC_TLS,
    ),
    (
        "import-other",
        report(step("import a"), import_error(OTHER), returncode=10),
        Verdict.IMPORT_ERROR,
        ImportErrorKind.OTHER,
    ),
    (
        "exit-crash signal",
        report(step("victim zlib"), SENTINEL, returncode=-11, signal=11),
        Verdict.EXIT_CRASH,
        None,
    ),
    ("exit-crash status", report(SENTINEL, returncode=3), Verdict.EXIT_CRASH, None),
    (
        "wrong-result",
        report(
            step("exercise a.f"),
            {"event": "wrong-result", "where": "exercise a.f", "message": "AssertionError: 3"},
            returncode=11,
        ),
        Verdict.WRONG_RESULT,
        None,
    ),
    (
        "early exit in import",
        report(step("import a"), returncode=1),
        Verdict.IMPORT_ERROR,
        ImportErrorKind.OTHER,
    ),
    (
        "early exit in exercise",
        report(step("exercise a.f"), returncode=0),
        Verdict.WRONG_RESULT,
        None,
    ),
    (
        "never started",
        Outcome.from_report({"id": "x", "events": [], "returncode": 127}),
        Verdict.INFRA_ERROR,
        None,
    ),
    (
        "supervisor lost",
        Outcome.infra("x", "the supervisor stopped reporting"),
        Verdict.INFRA_ERROR,
        None,
    ),
    (
        "not installable",
        Outcome(cell_id="x", not_installable="not a supported wheel"),
        Verdict.NOT_INSTALLABLE,
        None,
    ),
]


@pytest.mark.parametrize(
    ("outcome", "verdict", "subkind"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_classify(outcome: Outcome, verdict: Verdict, subkind: ImportErrorKind | None) -> None:
    classified = classify(outcome)
    assert classified.verdict is verdict
    assert classified.subkind == subkind


def test_every_verdict_is_reachable() -> None:
    assert {c[2] for c in CASES} == set(Verdict)


def test_details_say_where_and_what() -> None:
    crash = classify(CASES[1][1])
    assert crash.detail == "SIGSEGV during import wc_call_once_b"
    assert classify(CASES[7][1]).detail == "timed out at exercise a.f"
    assert classify(CASES[12][1]).detail == "SIGSEGV after the last step"
    assert "GLIBCXX_3.4.32" in classify(CASES[9][1]).detail


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        (UNDEFINED, ImportErrorKind.UNDEFINED_SYMBOL),
        (VERSION, ImportErrorKind.VERSION_NOT_FOUND),
        (STATIC_TLS, ImportErrorKind.STATIC_TLS),
        (OTHER, ImportErrorKind.OTHER),
    ],
)
def test_import_error_kind(message: str, kind: ImportErrorKind) -> None:
    assert import_error_kind(message) is kind


def test_a_library_the_target_lacks_is_its_own_subkind_with_the_fix() -> None:
    """The real loader's message for a DT_NEEDED or ctypes library that is nowhere on the
    system (as `PIL._imagingtk` without Tk): not a conflict between the wheels."""
    with pytest.raises(OSError) as raised:
        ctypes.CDLL("libwheelclash-absent.so.9")
    message = str(raised.value)
    assert import_error_kind(message) is ImportErrorKind.MISSING_LIBRARY
    judged = classify(report(step("import a"), import_error(message), returncode=10))
    assert judged.verdict is Verdict.IMPORT_ERROR
    assert judged.subkind is ImportErrorKind.MISSING_LIBRARY
    assert "libwheelclash-absent.so.9" in judged.detail
    assert "add its package to the target image" in judged.detail


def test_a_standard_module_the_target_packages_apart_is_a_missing_library() -> None:
    """Pillow's `PIL._imagingtk` on Debian's python3 without python3-tk: `tkinter` is no
    wheel's to provide, so `--download` is no fix; the target image lacks a package."""
    error = {
        "event": "import-error",
        "module": "PIL._imagingtk",
        "type": "ModuleNotFoundError",
        "message": "No module named 'tkinter'",
    }
    judged = classify(report(step("import PIL._imagingtk"), error, returncode=10))
    assert judged.subkind is ImportErrorKind.MISSING_LIBRARY
    assert "standard module 'tkinter'" in judged.detail and "--download" not in judged.detail
    error["message"] = "No module named 'wc_absent'"
    judged = classify(report(step("import PIL._imagingtk"), error, returncode=10))
    assert judged.subkind is ImportErrorKind.MISSING_DEPENDENCY


def test_outcome_keeps_the_last_step_libraries_and_garbled_lines() -> None:
    outcome = report(
        step("import a"),
        step("exercise a.f"),
        {"event": "libraries", "paths": ["/usr/lib/libstdc++.so.6"]},
        {"event": "garbled", "text": "{"},
        returncode=0,
    )
    assert outcome.last_step == "exercise a.f"
    assert outcome.loaded_libraries == ("/usr/lib/libstdc++.so.6",)
    assert outcome.started and not outcome.sentinel_seen


def test_outcome_passes_over_events_it_does_not_judge() -> None:
    """A missing victim is no failure; an event the probe never writes (the code under test
    may write to the events file) changes nothing."""
    outcome = report(
        step("import a"),
        {"event": "victim-missing", "module": "numpy"},
        {"event": "sentinel-forged"},
        {"text": "no event at all"},
        {"event": "sentinel"},
        returncode=0,
    )
    assert outcome.last_step == "import a" and outcome.sentinel_seen
    assert outcome.import_error is None and outcome.wrong_result is None


def test_every_event_the_probe_and_supervisor_write_is_known() -> None:
    probe = (paths.RESOURCES / "probe.py").read_text(encoding="utf-8")
    supervisor = (paths.RESOURCES / "supervisor.py").read_text(encoding="utf-8")
    written = set(re.findall(r'emit\(\s*"([a-z-]+)"', probe))
    written |= set(re.findall(r'"event": "([a-z-]+)"', supervisor))
    assert written == {str(e) for e in ProbeEvent}


def not_found(name: str, provided: frozenset[str], kind: str = "ModuleNotFoundError") -> Outcome:
    """A probe's report of `import polars` failing on a module it needs."""
    event = {
        "event": "import-error",
        "module": "polars",
        "type": kind,
        "message": f"No module named '{name}'",
    }
    return Outcome.from_report(
        {"id": "s/host/local/plain/a,b#1", "events": [START, step("import polars"), event]},
        provided,
    )


def test_a_module_no_wheel_of_the_set_provides_is_a_missing_dependency() -> None:
    provided = frozenset({"polars", "numpy"})
    missing = classify(not_found("polars_runtime_32.core", provided))
    assert missing.verdict is Verdict.IMPORT_ERROR
    assert missing.subkind is ImportErrorKind.MISSING_DEPENDENCY
    assert "no wheel of the set provides 'polars_runtime_32'" in missing.detail
    assert "--download" in missing.detail
    # A submodule the set's own package lacks (a wrong name to import) is an ordinary error.
    assert classify(not_found("numpy.nothere", provided)).subkind is ImportErrorKind.OTHER
    # Only a ModuleNotFoundError says a module is absent; a package's own ImportError does not.
    plain = not_found("polars_runtime_32", provided, kind="ImportError")
    assert classify(plain).subkind is ImportErrorKind.OTHER


def test_the_stream_gives_each_outcome_its_jobs_provided_names() -> None:
    job = CellJob(
        cell_id="c1",
        imports=(Import(module="polars", rtld_global=False),),
        exercises=(),
        victims=False,
        preload="",
        timeout_s=5,
        provided=("polars",),
    )
    event = {"event": "import-error", "module": "polars", "type": "ModuleNotFoundError"}
    line = {"id": "c1", "events": [START, {**event, "message": "No module named 'polars.x'"}]}
    (outcome,) = outcomes_from_lines([json.dumps(line)], [job], lambda: "gone")
    assert outcome.provided == frozenset({"polars"})
    assert outcome.import_error_type == "ModuleNotFoundError"
    assert classify(outcome).subkind is ImportErrorKind.OTHER
