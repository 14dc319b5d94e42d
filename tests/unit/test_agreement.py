"""Static predictions against cells: a failing cell bears a prediction out only when its own
evidence names what the prediction named (harness/analysis/credit.py), and each prediction is
one row and one terminal line, however many targets, files and cells it covers."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from harness.analysis.agreement import agreement, agreement_of_sets, failing, summary_lines
from harness.analysis.credit import Judge, evidence_of, normal
from harness.analysis.explain import Finding
from harness.analysis.mechanisms import Mechanism, Predictor
from harness.common.verdicts import ImportErrorKind, Verdict
from harness.evidence.results import CellOutcome, CellResult, Evidence, PlannedCell

TRAMPOLINE = (
    "_ZZNSt9once_flag18_Prepare_executionC4IZSt9call_onceIRFvvEJEEvRS_OT_DpOT0_EUlvE_EERS6_"
    "ENUlvE_4_FUNEv"
)
ARENA = "_ZN6google8protobuf8internal9ArenaImpl15AllocateAlignedEm"

CALL_ONCE = Finding(
    wheel_id="a",
    wheel="a.whl",
    predictor=Predictor("call-once-interposition"),
    mechanism=Mechanism("1"),
    detail="",
    before=("a", "b"),
    rtld_global="a",
    symbols=frozenset({TRAMPOLINE}),
    files=frozenset({"wc_call_once_a.abi3.so"}),
)
HIJACK = Finding(
    wheel_id="s",
    wheel="s.whl",
    predictor=Predictor("runtime-internals"),
    mechanism=Mechanism("2"),
    detail="",
    symbols=frozenset({"_ZSt11__once_call", "_ZSt15__once_callable", "__once_proxy"}),
    files=frozenset({"wc_healthy_s.abi3.so"}),
)
# A bystander: tensorflow's module exports copies of the C++ ABI and a vendored protobuf.
BYSTANDER = Finding(
    wheel_id="tf",
    wheel="tf.whl",
    predictor=Predictor("runtime-internals"),
    mechanism=Mechanism("2"),
    detail="",
    symbols=frozenset({"__cxa_throw", "_Unwind_Resume"}),
    files=frozenset({"_pywrap_tensorflow_internal.so"}),
)
PROTOBUF = Finding(
    wheel_id="tf",
    wheel="tf.whl",
    predictor=Predictor("bundled-library"),
    mechanism=Mechanism("interposition"),
    detail="",
    before=("tf", "onnx"),
    rtld_global="tf",
    symbols=frozenset({ARENA}),
    files=frozenset({"_pywrap_tensorflow_internal.so", "onnx_cpp2py_export.so"}),
)
SONAME = Finding(
    wheel_id="one",
    wheel="one.whl",
    predictor=Predictor("shared-soname"),
    mechanism=Mechanism("6"),
    detail="",
    symbols=frozenset({"foo_v2"}),
    libraries=frozenset({"libfoo.so.1"}),
)
TLS = Finding(
    wheel_id="t",
    wheel="t.whl",
    predictor=Predictor("static-tls"),
    mechanism=Mechanism("5"),
    detail="",
    libraries=frozenset({"libgomp-a34b3233.so.1.0.0"}),
)
UNIQUE = Finding(
    wheel_id="u1",
    wheel="u1.whl",
    predictor=Predictor("unique-shared"),
    mechanism=Mechanism("4"),
    detail="",
    symbols=frozenset({"_ZZ5statevE1s"}),
    files=frozenset({"u1.abi3.so", "u2.abi3.so"}),
)

# The crashing thread of the call-once crash in a bookworm container (kernel core, after
# faulthandler's re-raise), as crash_capture.py stores it.
CALL_ONCE_BT = """\
@@wheelclash crash-thread
#0  0x00007fa5481a5eec in ?? () from /lib/x86_64-linux-gnu/libc.so.6
#1  0x00007fa548156fb2 in raise () from /lib/x86_64-linux-gnu/libc.so.6
#2  <signal handler called>
#3  0x00007fa547d26137 in std::__invoke_impl<void, void (&)()> (__f=<optimized out>) at /usr/include/c++/12/bits/invoke.h:61
#4  std::__invoke<void (&)()> (__fn=<optimized out>) at /usr/include/c++/12/bits/invoke.h:96
#5  std::call_once<void (&)()>(std::once_flag&, void (&)())::{lambda()#1}::operator()() const (__closure=<optimized out>) at /usr/include/c++/12/mutex:852
#6  std::once_flag::_Prepare_execution::_Prepare_execution<std::call_once<void (&)()>(std::once_flag&, void (&)())::{lambda()#1}>(void (&)())::{lambda()#1}::operator()() const (__closure=0x0) at /usr/include/c++/12/mutex:788
#7  std::once_flag::_Prepare_execution::_Prepare_execution<std::call_once<void (&)()>(std::once_flag&, void (&)())::{lambda()#1}>(void (&)())::{lambda()#1}::_FUN() () at /usr/include/c++/12/mutex:788
#8  0x00007fa5481a9057 in ?? () from /lib/x86_64-linux-gnu/libc.so.6
#9  0x00007fa547cfd1b1 in __gthread_once (__func=<optimized out>, __once=0x7fa547d00134 <(anonymous namespace)::g_load_flag>) at /usr/include/x86_64-linux-gnu/c++/12/bits/gthr-default.h:700

@@wheelclash libraries
From                To                  Syms Read   Shared Object Library
0x00007fa548146380  0x00007fa54829a22d  Yes (*)     /lib/x86_64-linux-gnu/libc.so.6
0x00007fa547d26000  0x00007fa547d27800  Yes         /wheelclash/venv/lib/python3.11/site-packages/wc_call_once_a.abi3.so
0x00007fa547cfd000  0x00007fa547cfe800  Yes         /wheelclash/venv/lib/python3.11/site-packages/wc_call_once_b.abi3.so
@@wheelclash end
"""

# The first-loader hijack: a jump to address 0 from pthread_once, under b's call_once. Nothing
# in it names s; only the LD_DEBUG binding of --debug-bindings does.
HIJACK_TOP = (
    "#3 ?? (a jump to address 0) in ?",
    "#4 ?? () in libc.so.6",
    "#5 __gthread_once in wc_call_once_b.abi3.so",
    "#6 std::call_once<void (&)()> in wc_call_once_b.abi3.so",
)
HIJACK_BINDING = (
    "libstdc++.so.6 binds _ZSt11__once_call (std::__once_call) to wc_healthy_s.abi3.so "
    "(/v/lib/python3.11/site-packages/wc_healthy_s.abi3.so)"
)
# An uncaught exception aborting through libc and libstdc++'s own __cxa_throw.
THROW_TOP = (
    "#0-#4 in libc.so.6: __pthread_kill_implementation, __pthread_kill_internal, raise, abort",
    "#5 __gnu_cxx::__verbose_terminate_handler in libstdc++.so.6",
    "#6 __cxa_throw in libstdc++.so.6",
    "#7 (anonymous namespace)::throws in wc_other.abi3.so",
)
# A crash inside the protobuf copy that tensorflow's module carries.
PROTOBUF_TOP = (
    "#0 google::protobuf::internal::ArenaImpl::AllocateAligned(unsigned long) in "
    "_pywrap_tensorflow_internal.so",
    "#1 google::protobuf::Arena::CreateMaybeMessage in onnx_cpp2py_export.so",
)
UNIQUE_TOP = ("#0 state in u2.abi3.so", "#1 PyInit_u2 in u2.abi3.so")
OTHER_TOP = ("#0 count in u2.abi3.so", "#1 PyInit_u2 in u2.abi3.so")

NOT_INSTALLED = "fiona: ModuleNotFoundError: No module named 'jaxlib._sdy_mpmd'"
MISSING = "tf: ImportError: libtensorflow_framework.so.2: cannot open shared object file"
UNDEFINED = "vtwo: ImportError: /v/site-packages/vtwo.abi3.so: undefined symbol: foo_v2"
UNDEFINED_OTHER = "vtwo: ImportError: /v/site-packages/vtwo.abi3.so: undefined symbol: bar"
VERSION = (
    "vtwo: ImportError: /v/site-packages/one.libs/libfoo.so.1: version `FOO_2' not found "
    "(required by /v/site-packages/vtwo.abi3.so)"
)
STATIC_TLS = (
    "t: ImportError: /v/site-packages/t.libs/libgomp-a34b3233.so.1.0.0: cannot allocate "
    "memory in static TLS block"
)


def cell(
    order: tuple[str, ...] = ("a", "b"),
    dlopen: str = "local",
    verdict: Verdict = Verdict.SEGFAULT,
    *,
    subkind: ImportErrorKind | None = None,
    detail: str = "",
    top: tuple[str, ...] = (),
    bindings: tuple[str, ...] = (),
    target: str = "host",
) -> CellResult:
    planned = PlannedCell(
        scenario="s",
        target=target,
        arch="x86_64",
        dlopen=dlopen,
        host="plain",
        order=order,
        repeat=1,
        backend="local",
        expected="pass",
    )
    outcome = CellOutcome(
        verdict=verdict,
        subkind=subkind,
        detail=detail,
        matches_expectation=verdict == Verdict.PASS,
        returncode=None,
        signal=None,
        duration_s=0.1,
        last_step="",
        stderr_tail="",
        stdout_tail="",
    )
    return CellResult(
        cell=planned, outcome=outcome, evidence=Evidence(native_top=top, bindings=bindings)
    )


def failed_import(subkind: ImportErrorKind, detail: str) -> CellResult:
    return cell(verdict=Verdict.IMPORT_ERROR, subkind=subkind, detail=detail)


CASES = [
    # Import errors: only the loader's own messages, and only when they name the finding's names.
    ("module not found", SONAME, failed_import(ImportErrorKind.OTHER, NOT_INSTALLED), ""),
    (
        "missing dependency",
        SONAME,
        failed_import(ImportErrorKind.MISSING_DEPENDENCY, MISSING + " (foo_v2, libfoo.so.1)"),
        "",
    ),
    (
        "ModuleNotFoundError whatever its subkind",
        SONAME,
        failed_import(
            ImportErrorKind.UNDEFINED_SYMBOL, NOT_INSTALLED + " undefined symbol: foo_v2"
        ),
        "",
    ),
    (
        "undefined symbol named",
        SONAME,
        failed_import(ImportErrorKind.UNDEFINED_SYMBOL, UNDEFINED),
        "undefined symbol foo_v2",
    ),
    (
        "undefined symbol not named",
        SONAME,
        failed_import(ImportErrorKind.UNDEFINED_SYMBOL, UNDEFINED_OTHER),
        "",
    ),
    (
        "undefined symbol, a finding about other names",
        HIJACK,
        failed_import(ImportErrorKind.UNDEFINED_SYMBOL, UNDEFINED),
        "",
    ),
    (
        "version not found in the bundled SONAME",
        SONAME,
        failed_import(ImportErrorKind.VERSION_NOT_FOUND, VERSION),
        "version-not-found naming libfoo.so.1",
    ),
    (
        "static TLS naming the library",
        TLS,
        failed_import(ImportErrorKind.STATIC_TLS, STATIC_TLS),
        "static-tls naming libgomp-a34b3233.so.1.0.0",
    ),
    (
        "static TLS, another finding",
        SONAME,
        failed_import(ImportErrorKind.STATIC_TLS, STATIC_TLS),
        "",
    ),
    ("other import error", TLS, failed_import(ImportErrorKind.OTHER, STATIC_TLS), ""),
    # Crashes: a frame in a flagged file inside a flagged symbol, or in a flagged library.
    ("hijack without bindings", HIJACK, cell(top=HIJACK_TOP), ""),
    (
        "hijack with the binding",
        HIJACK,
        cell(top=HIJACK_TOP, bindings=(HIJACK_BINDING,)),
        "binding of _ZSt11__once_call to wc_healthy_s.abi3.so",
    ),
    ("binding, another finding", BYSTANDER, cell(top=HIJACK_TOP, bindings=(HIJACK_BINDING,)), ""),
    ("the runtime's own __cxa_throw", BYSTANDER, cell(top=THROW_TOP), ""),
    ("vendored protobuf, runtime-internals", BYSTANDER, cell(top=PROTOBUF_TOP), ""),
    (
        "vendored protobuf, bundled-library",
        PROTOBUF,
        cell(order=("tf", "onnx"), dlopen="global:tf", top=PROTOBUF_TOP),
        "frame #0 google::protobuf::internal::ArenaImpl::AllocateAligned(unsigned long) in "
        "_pywrap_tensorflow_internal.so",
    ),
    ("static local's function", UNIQUE, cell(top=UNIQUE_TOP), "frame #0 state in u2.abi3.so"),
    ("another function of that file", UNIQUE, cell(top=OTHER_TOP), ""),
    ("a frame in the bundled library", SONAME, cell(top=("#0 ?? () in libfoo.so.1",)), "libfoo"),
    ("wrong result, nothing named", UNIQUE, cell(verdict=Verdict.WRONG_RESULT), ""),
]


@pytest.mark.parametrize(
    ("subkind", "fails"),
    [
        (ImportErrorKind.MISSING_DEPENDENCY, False),
        (ImportErrorKind.MISSING_LIBRARY, False),
        (ImportErrorKind.UNDEFINED_SYMBOL, True),
        (ImportErrorKind.OTHER, True),
    ],
)
def test_what_no_wheel_causes_is_no_failure_to_explain(
    subkind: ImportErrorKind, fails: bool
) -> None:
    """A module no wheel provides, or a system library the target image lacks, says nothing
    about how the wheels interact; a loader error between them does."""
    assert failing(failed_import(subkind, "libtk8.6.so: cannot open shared object file")) is fails


@pytest.mark.parametrize(
    ("finding", "result", "why"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_a_cell_credits_a_prediction_only_with_evidence_naming_it(
    finding: Finding, result: CellResult, why: str
) -> None:
    credit = Judge().credit(finding, evidence_of(result))
    assert (why in credit and bool(credit)) if why else credit == ""


def test_the_call_once_crash_is_credited_from_its_stored_backtrace(tmp_path: Path) -> None:
    (tmp_path / "bt.txt").write_text(CALL_ONCE_BT)
    base = cell(dlopen="global:a")
    crash = replace(base, evidence=replace(base.evidence, artefacts={"backtrace": "bt.txt"}))
    evidence = evidence_of(crash, tmp_path)
    assert evidence.frames[0].library == "wc_call_once_a.abi3.so"
    assert Judge().credit(CALL_ONCE, evidence).endswith("::_FUN() in wc_call_once_a.abi3.so")
    assert Judge().credit(HIJACK, evidence) == ""
    # Without the run folder, the result's own top frames are read instead.
    assert Judge().credit(CALL_ONCE, evidence_of(crash)) == ""


@pytest.mark.parametrize(
    ("gdb", "demangled"),
    [
        ("ns::f", "ns::f(int)"),
        ("ns::C::get", "ns::C::get() const"),
        ("f<int>", "void f<int>(int)"),
        ("std::a<void (&)()>::{lambda()#1}::_FUN()", "std::a<void (&)()>::{lambda()#1}::_FUN()"),
    ],
)
def test_frame_and_demangled_names_compare(gdb: str, demangled: str) -> None:
    assert normal(gdb) == normal(demangled)


def test_a_crash_is_credited_to_the_prediction_not_to_a_bystander() -> None:
    # tensorflow loaded RTLD_GLOBAL, then onnx, then s: the crash lies in the protobuf copy
    # both carry. Neither tensorflow's runtime copies nor s (never even imported) explain it.
    crash = cell(order=("tf", "onnx", "s"), dlopen="global:tf", top=PROTOBUF_TOP)
    rows = agreement([PROTOBUF, BYSTANDER, HIJACK], [crash])
    by = {(row.get("predictor"), row.get("wheel")): row for row in rows}
    assert by[("bundled-library", "tf")]["observed"] is True
    assert by[("bundled-library", "tf")]["explained"] == 1
    assert by[("bundled-library", "tf")]["explained_cells"] == [crash.id]
    for bystander in (("runtime-internals", "tf"), ("runtime-internals", "s")):
        assert by[bystander]["observed"] is False and by[bystander]["failed"] == 1
        assert "1 failed, not explained (segfault)" in by[bystander]["detail"]
    assert (None, None) not in by  # the crash is explained, so no "not explained" row


def test_unexplained_failures_get_their_own_row() -> None:
    rows = agreement([HIJACK], [cell(order=("s", "b"), top=HIJACK_TOP)])
    assert [(r["predicted"], r["observed"]) for r in rows] == [(True, False), (False, True)]
    assert rows[1]["detail"].startswith("1 failing cells (segfault) whose evidence names nothing")
    assert agreement([], [cell(verdict=Verdict.PASS)]) == []


def test_conditions_still_decide_which_cells_a_prediction_covers() -> None:
    cells = [
        cell(("a", "b"), "global:a", Verdict.PASS),
        cell(("b", "a"), "global:a", Verdict.SEGFAULT),
        cell(("a", "b"), "local", Verdict.SEGFAULT),
    ]
    rows = agreement([CALL_ONCE], cells)
    assert rows[0]["cells"] == 1 and rows[0]["failed"] == 0 and rows[0]["observed"] is False
    assert rows[0]["detail"].startswith(
        "call-once-interposition on a (loaded RTLD_GLOBAL before b): 0 of 1 cells"
    )


def test_one_row_per_prediction_across_files_targets_and_wheel_sets() -> None:
    # 63 files of one wheel with the same prediction, built on two targets: one row.
    per_file = [
        replace(BYSTANDER, files=frozenset({f"m{i}.so"}), detail=f"m{i}") for i in range(63)
    ]
    other_target = [replace(f, wheel="tf-other-build.whl") for f in per_file]
    first = [
        cell(("tf", "x"), target="bookworm", verdict=Verdict.IMPORT_ERROR, detail=NOT_INSTALLED)
    ]
    second = [
        cell(("tf", "x"), target="trixie", verdict=Verdict.IMPORT_ERROR, detail=NOT_INSTALLED)
    ]
    rows = agreement_of_sets([(per_file, first), (other_target, second)])
    predicted = [r for r in rows if r["predicted"]]
    assert len(predicted) == 1
    assert predicted[0]["cells"] == 2 and predicted[0]["failed"] == 2
    assert predicted[0]["observed"] is False  # ModuleNotFoundError never bears one out
    assert predicted[0]["detail"].startswith("runtime-internals on tf (63 files): 2 of 2 cells")


def test_terminal_lines_say_where_prediction_and_run_agree(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"cells": []}))
    assert summary_lines(path) == []
    rows = [
        {"mechanism": "1", "predicted": True, "observed": True, "detail": "x"},
        {"mechanism": "5", "predicted": True, "observed": False, "detail": "y", "failed": 0},
        {"mechanism": "2", "predicted": True, "observed": False, "detail": "w", "failed": 3},
        {"mechanism": "2", "predicted": True, "observed": False, "detail": "w", "failed": 3},
        {"mechanism": "", "predicted": False, "observed": True, "detail": "z"},
    ]
    path.write_text(json.dumps({"agreement": rows}))
    assert summary_lines(path)[1:] == [
        "  mechanism 1: predicted and observed: x",
        "  mechanism 5: predicted, not observed: y",
        "  mechanism 2: predicted; failed, not explained: w (×2)",
        "  no prediction: failed, not explained: z",
    ]
