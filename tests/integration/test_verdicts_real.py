"""Every verdict of the closed set, produced by a real process under the real supervisor and probe.

Nothing here is faked: the crashes are real signals, the import errors are the dynamic loader's
own messages for real shared objects built with gcc, and the hang is a real sleep cut short by
the supervisor. All cells run in one batch (module-scoped fixture); each case then only checks
its outcome. `not-installable` and `infra-error` need their own session and batch.
"""

from __future__ import annotations

import base64
import hashlib
import platform
import shlex
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import uuid
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from string import Template
from typing import Final

import psutil
import pytest

from harness.cells.backends.local import LocalBackend, _supervise
from harness.cells.install import UNSUPPORTED_WHEEL
from harness.cells.jobs import CellJob, Exercise, Import
from harness.cells.outcome import Outcome
from harness.common.verdicts import ImportErrorKind, Verdict
from harness.evidence.classify import classify
from harness.run.runner import session_outcomes
from tests.unit.helpers import file_wheel

pytestmark = pytest.mark.integration

DEFAULT_TIMEOUT_S: Final = 20.0
HANG_TIMEOUT_S: Final = 1.5
# The supervisor waits 0.5 s for faulthandler's dump, then kills: well under this bound.
HANG_CELL_BOUND_S: Final = 5.0


@dataclass(frozen=True, kw_only=True)
class Case:
    """One cell of the batch and what the classifier must make of it."""

    id: str
    module: str
    verdict: Verdict
    subkind: ImportErrorKind | None = None
    exercise: str = ""
    timeout_s: float = DEFAULT_TIMEOUT_S
    detail: str = ""  # a substring of the classified detail
    last_step: str = ""  # the exact last step the probe announced

    def job(self, env: tuple[tuple[str, str], ...]) -> CellJob:
        return CellJob(
            cell_id=self.id,
            imports=(Import(module=self.module, rtld_global=False),),
            exercises=(
                (Exercise(module=self.module, function=self.exercise, threads=1),)
                if self.exercise
                else ()
            ),
            victims=False,
            preload="",
            timeout_s=self.timeout_s,
            env=env,
        )


def _imports(module: str) -> str:
    return f"import {module}"


def _exercises(module: str) -> str:
    return f"exercise {module}.exercise"


def _kill_self(signame: str) -> str:
    return f"import os\nimport signal\n\nos.kill(os.getpid(), signal.{signame})\n"


def _at_exit(action: str) -> str:
    return (
        "import atexit\nimport os\nimport signal\n\n\n"
        f"def _die():\n    {action}\n\n\n"
        "atexit.register(_die)\n\n\n"
        "def exercise():\n    return None\n"
    )


# Pure-Python modules, by name. The forked-sleeper module is written by the fixture, since
# its source holds a marker and a pid file that are unique to the run.
PY_MODULES: Final[Mapping[str, str]] = {
    "wc_pass": "def exercise():\n    return None\n",
    "wc_sig_segv": _kill_self("SIGSEGV"),
    "wc_sig_abort": "import os\n\nos.abort()\n",
    "wc_sig_bus": _kill_self("SIGBUS"),
    "wc_sig_ill": _kill_self("SIGILL"),
    "wc_sig_fpe": _kill_self("SIGFPE"),
    "wc_sig_term": _kill_self("SIGTERM"),
    "wc_hang": "import time\n\n\ndef sleep_forever():\n    time.sleep(60)\n",
    "wc_raises": 'raise RuntimeError("wc_raises refuses to load")\n',
    "wc_needs_absent": "import wc_absent_dependency  # noqa: F401\n",
    "wc_exit_segv": _at_exit("os.kill(os.getpid(), signal.SIGSEGV)"),
    "wc_exit_status": _at_exit("os._exit(3)"),
    "wc_wrong_assert": (
        'def exercise():\n    raise AssertionError("wc_wrong_assert computed 2 + 2 = 5")\n'
    ),
    "wc_wrong_false": "def exercise():\n    return False\n",
}

CASES: Final = (
    Case(
        id="pass",
        module="wc_pass",
        exercise="exercise",
        verdict=Verdict.PASS,
        last_step=_exercises("wc_pass"),
    ),
    Case(
        id="segfault-kill",
        module="wc_sig_segv",
        verdict=Verdict.SEGFAULT,
        detail="SIGSEGV during import wc_sig_segv",
        last_step=_imports("wc_sig_segv"),
    ),
    Case(
        id="segfault-native",
        module="wc_native_segv",
        verdict=Verdict.SEGFAULT,
        detail="SIGSEGV during import wc_native_segv",
        last_step=_imports("wc_native_segv"),
    ),
    Case(
        id="abort",
        module="wc_sig_abort",
        verdict=Verdict.ABORT,
        detail="SIGABRT during import wc_sig_abort",
        last_step=_imports("wc_sig_abort"),
    ),
    Case(
        id="bus-error",
        module="wc_sig_bus",
        verdict=Verdict.BUS_ERROR,
        detail="SIGBUS during import wc_sig_bus",
        last_step=_imports("wc_sig_bus"),
    ),
    Case(
        id="illegal-instruction",
        module="wc_sig_ill",
        verdict=Verdict.ILLEGAL_INSTRUCTION,
        detail="SIGILL during import wc_sig_ill",
        last_step=_imports("wc_sig_ill"),
    ),
    Case(
        id="fpe",
        module="wc_sig_fpe",
        verdict=Verdict.FPE,
        detail="SIGFPE during import wc_sig_fpe",
        last_step=_imports("wc_sig_fpe"),
    ),
    Case(
        id="other-signal",
        module="wc_sig_term",
        verdict=Verdict.OTHER_SIGNAL,
        detail="SIGTERM during import wc_sig_term",
        last_step=_imports("wc_sig_term"),
    ),
    Case(
        id="hang",
        module="wc_hang",
        exercise="sleep_forever",
        timeout_s=HANG_TIMEOUT_S,
        verdict=Verdict.HANG,
        detail="timed out at exercise wc_hang.sleep_forever",
        last_step="exercise wc_hang.sleep_forever",
    ),
    Case(
        id="import-error-undefined-symbol",
        module="wc_undefined",
        verdict=Verdict.IMPORT_ERROR,
        subkind=ImportErrorKind.UNDEFINED_SYMBOL,
        detail="undefined symbol: wc_nowhere_defined",
        last_step=_imports("wc_undefined"),
    ),
    Case(
        id="import-error-version-not-found",
        module="wc_needs_v2",
        verdict=Verdict.IMPORT_ERROR,
        subkind=ImportErrorKind.VERSION_NOT_FOUND,
        detail="version `WCVER_2.0' not found",
        last_step=_imports("wc_needs_v2"),
    ),
    Case(
        id="import-error-static-tls",
        module="wc_big_tls",
        verdict=Verdict.IMPORT_ERROR,
        subkind=ImportErrorKind.STATIC_TLS,
        detail="cannot allocate memory in static TLS block",
        last_step=_imports("wc_big_tls"),
    ),
    Case(
        id="import-error-other-raises",
        module="wc_raises",
        verdict=Verdict.IMPORT_ERROR,
        subkind=ImportErrorKind.OTHER,
        detail="wc_raises: RuntimeError: wc_raises refuses to load",
        last_step=_imports("wc_raises"),
    ),
    Case(
        id="import-error-missing-dependency",
        module="wc_needs_absent",
        verdict=Verdict.IMPORT_ERROR,
        subkind=ImportErrorKind.MISSING_DEPENDENCY,
        detail="ModuleNotFoundError: No module named 'wc_absent_dependency'",
        last_step=_imports("wc_needs_absent"),
    ),
    Case(
        id="exit-crash-signal",
        module="wc_exit_segv",
        exercise="exercise",
        verdict=Verdict.EXIT_CRASH,
        detail="SIGSEGV after the last step",
        last_step=_exercises("wc_exit_segv"),
    ),
    Case(
        id="exit-crash-status",
        module="wc_exit_status",
        exercise="exercise",
        verdict=Verdict.EXIT_CRASH,
        detail="exit status 3 after the last step",
        last_step=_exercises("wc_exit_status"),
    ),
    Case(
        id="wrong-result-assert",
        module="wc_wrong_assert",
        exercise="exercise",
        verdict=Verdict.WRONG_RESULT,
        detail=(
            "exercise wc_wrong_assert.exercise: AssertionError: wc_wrong_assert computed 2 + 2 = 5"
        ),
        last_step=_exercises("wc_wrong_assert"),
    ),
    Case(
        id="wrong-result-false",
        module="wc_wrong_false",
        exercise="exercise",
        verdict=Verdict.WRONG_RESULT,
        detail="exercise wc_wrong_false.exercise: AssertionError: exercise returned False",
        last_step=_exercises("wc_wrong_false"),
    ),
    Case(
        id="pass-forked-sleeper",
        module="wc_fork_sleeper",
        verdict=Verdict.PASS,
        last_step=_imports("wc_fork_sleeper"),
    ),
)

# A CPython extension whose PyInit runs $body; $prelude goes at file scope.
EXTENSION_C: Final = Template(
    textwrap.dedent(
        """\
        #define PY_SSIZE_T_CLEAN
        #include <Python.h>

        $prelude

        static struct PyModuleDef wc_def = {PyModuleDef_HEAD_INIT, "$name", NULL, -1, NULL};

        PyMODINIT_FUNC PyInit_$name(void) {
            $body
            return PyModule_Create(&wc_def);
        }
        """
    )
)

# A library exporting wc_ver_fn under one symbol version node.
VERSIONED_LIB_C: Final = Template("int wc_ver_fn(void) { return $value; }\n")
VERSION_SCRIPT: Final = Template("$node {\n  global: wc_ver_fn;\n  local: *;\n};\n")


def gcc(*args: str | Path, cwd: Path) -> None:
    """Compile and link with the host's gcc; fail with the command and its output."""
    compiler = shutil.which("gcc")
    assert compiler, "these tests build real shared objects: install gcc (apt-get install gcc)"
    cmd = [compiler, *(str(a) for a in args)]
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"+ {shlex.join(cmd)}\n{done.stdout}{done.stderr}"


def build_extension(
    into: Path, name: str, *, prelude: str = "", body: str = "", link: tuple[str, ...] = ()
) -> Path:
    source = into / f"{name}.c"
    source.write_text(EXTENSION_C.substitute(name=name, prelude=prelude, body=body))
    target = into / f"{name}.so"
    include = sysconfig.get_paths()["include"]
    gcc("-shared", "-fPIC", "-O2", f"-I{include}", source, "-o", target, *link, cwd=into)
    return target


def build_versioned_lib(into: Path, node: str, value: int, target: Path) -> None:
    """libwcver (soname libwcver.so.1) exporting wc_ver_fn@@`node` only."""
    source = into / f"wcver-{value}.c"
    script = into / f"wcver-{value}.map"
    source.write_text(VERSIONED_LIB_C.substitute(value=value))
    script.write_text(VERSION_SCRIPT.substitute(node=node))
    gcc(
        "-shared",
        "-fPIC",
        "-O2",
        "-Wl,-soname,libwcver.so.1",
        f"-Wl,--version-script={script}",
        source,
        "-o",
        target,
        cwd=into,
    )


def build_native_modules(modules: Path, libs: Path, scratch: Path) -> None:
    """The C extensions whose failures only the kernel and the dynamic loader can produce."""
    build_extension(
        modules,
        "wc_native_segv",
        # A volatile pointer, so gcc cannot prove it null, to volatile memory, so gcc keeps the
        # store: with a plain `int *volatile`, gcc 12 -O2 deletes the store and nothing crashes.
        body="volatile int *volatile target = NULL;\n    *target = 42;",
    )
    build_extension(
        modules,
        "wc_undefined",
        prelude="extern int wc_nowhere_defined(void);",
        body="if (wc_nowhere_defined() != 0) return NULL;",
    )
    tls = build_extension(
        modules,
        "wc_big_tls",
        prelude=(
            'static __thread char wc_big[1 << 20] __attribute__((tls_model("initial-exec")));\n'
            "int wc_big_touch(int i) { wc_big[i] += 1; return wc_big[i]; }"
        ),
        body="if (wc_big_touch(7) != 1) return NULL;",
    )
    dynamic = subprocess.run(
        ["readelf", "-d", str(tls)], capture_output=True, text=True, check=True
    ).stdout
    assert "STATIC_TLS" in dynamic, f"{tls} has no DF_STATIC_TLS flag:\n{dynamic}"

    # Link against a libwcver that provides WCVER_2.0, then swap in one that only has 1.0.
    libs.mkdir()
    build_versioned_lib(scratch, "WCVER_2.0", 2, libs / "libwcver.so.1")
    (libs / "libwcver.so").symlink_to("libwcver.so.1")
    build_extension(
        modules,
        "wc_needs_v2",
        prelude="extern int wc_ver_fn(void);",
        body="if (wc_ver_fn() != 2) return NULL;",
        link=(f"-L{libs}", "-lwcver"),
    )
    older = scratch / "libwcver.so.1"
    build_versioned_lib(scratch, "WCVER_1.0", 1, older)
    older.replace(libs / "libwcver.so.1")


@dataclass(frozen=True, kw_only=True)
class Batch:
    outcomes: Mapping[str, Outcome]
    sleeper_marker: str
    sleeper_pid_file: Path


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> Batch:
    root = tmp_path_factory.mktemp("verdicts")
    modules, libs, scratch = root / "modules", root / "libs", root / "scratch"
    for directory in (modules, scratch, root / "work"):
        directory.mkdir()
    for name, source in PY_MODULES.items():
        (modules / f"{name}.py").write_text(source)
    marker = f"wheelclash-sleeper-{uuid.uuid4().hex}"
    pid_file = root / "sleeper.pid"
    (modules / "wc_fork_sleeper.py").write_text(
        "import subprocess\nimport sys\n\n"
        "SLEEPER = subprocess.Popen(\n"
        f'    [sys.executable, "-c", "import time; time.sleep(300)  # {marker}"]\n'
        ")\n"
        f"with open({str(pid_file)!r}, 'w') as handle:\n"
        "    handle.write(str(SLEEPER.pid))\n"
    )
    build_native_modules(modules, libs, scratch)

    env = (("PYTHONPATH", str(modules)), ("LD_LIBRARY_PATH", str(libs)))
    jobs = [case.job(env) for case in CASES]
    outcomes = {o.cell_id: o for o in _supervise(jobs, Path(sys.executable), root / "work")}
    return Batch(outcomes=outcomes, sleeper_marker=marker, sleeper_pid_file=pid_file)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_real_process_gets_its_verdict(batch: Batch, case: Case) -> None:
    outcome = batch.outcomes[case.id]
    classified = classify(outcome)
    evidence = f"{classified}\nstderr:\n{outcome.stderr_tail}"
    assert (classified.verdict, classified.subkind) == (case.verdict, case.subkind), evidence
    assert case.detail in classified.detail, evidence
    assert outcome.started
    assert outcome.last_step == case.last_step, evidence


def test_pass_saw_the_sentinel_and_the_libraries(batch: Batch) -> None:
    outcome = batch.outcomes["pass"]
    assert outcome.sentinel_seen and outcome.returncode == 0
    assert outcome.loaded_libraries
    assert any("libc.so" in Path(p).name for p in outcome.loaded_libraries)


def test_native_segfault_is_a_real_sigsegv(batch: Batch) -> None:
    outcome = batch.outcomes["segfault-native"]
    assert outcome.signal == 11 and not outcome.sentinel_seen
    assert "Segmentation fault" in outcome.stderr_tail


def test_hang_is_cut_short_with_a_stack_dump(batch: Batch) -> None:
    outcome = batch.outcomes["hang"]
    assert outcome.timed_out
    assert HANG_TIMEOUT_S <= outcome.duration_s < HANG_CELL_BOUND_S
    assert "sleep_forever" in outcome.hang_stack, outcome.hang_stack


def test_loader_message_is_the_import_error(batch: Batch) -> None:
    version = batch.outcomes["import-error-version-not-found"].import_error or ""
    assert "libwcver.so.1" in version and "wc_needs_v2.so" in version
    tls = batch.outcomes["import-error-static-tls"].import_error or ""
    assert tls.startswith("wc_big_tls: ImportError: ") and "wc_big_tls.so" in tls


@pytest.mark.parametrize("cell_id", ["exit-crash-signal", "exit-crash-status"])
def test_exit_crash_comes_after_the_sentinel(batch: Batch, cell_id: str) -> None:
    outcome = batch.outcomes[cell_id]
    assert outcome.sentinel_seen and outcome.wrong_result is None
    assert (outcome.signal, outcome.returncode) in {(11, -11), (None, 3)}


def test_forked_sleeper_does_not_outlive_its_cell(batch: Batch) -> None:
    assert batch.sleeper_pid_file.read_text().strip().isdigit(), "the sleeper never started"
    survivors = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if any(batch.sleeper_marker in arg for arg in cmdline):
            survivors.append(proc.info["pid"])
    assert survivors == [], f"the sleeper outlived its cell: pids {survivors}"


def test_probe_that_never_starts_is_an_infra_error(tmp_path: Path) -> None:
    job = Case(id="infra", module="wc_pass", verdict=Verdict.INFRA_ERROR).job(())
    missing = tmp_path / "no-such-python"
    (outcome,) = _supervise([job], missing, tmp_path)
    classified = classify(outcome)
    assert classified.verdict is Verdict.INFRA_ERROR and classified.subkind is None
    assert "could not start the probe" in classified.detail
    assert str(missing) in classified.detail


def test_crash_while_a_victim_loads_is_blamed_on_that_victim(tmp_path: Path) -> None:
    """A victim that crashes on import: the probe announced its step before importing it."""
    modules = tmp_path / "modules"
    modules.mkdir()
    (modules / "wc_pass.py").write_text(PY_MODULES["wc_pass"])
    # Ahead of lib-dynload on sys.path, so the probe's `import _hashlib` loads this one.
    (modules / "_hashlib.py").write_text(_kill_self("SIGSEGV"))
    job = replace(
        Case(id="victim-crash", module="wc_pass", verdict=Verdict.SEGFAULT).job(
            (("PYTHONPATH", str(modules)),)
        ),
        victims=True,
    )
    (outcome,) = _supervise([job], Path(sys.executable), tmp_path)
    classified = classify(outcome)
    assert classified.verdict is Verdict.SEGFAULT, f"{classified}\n{outcome.stderr_tail}"
    assert outcome.last_step == "victim _hashlib"
    assert "victim _hashlib" in classified.detail


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + digest.decode()


def unsupported_wheel(into: Path) -> Path:
    """A minimal valid wheel whose platform tag no machine supports (glibc 2.99)."""
    name, version = "wcnoinst", "0.1"
    tag = f"cp38-abi3-manylinux_2_99_{platform.machine()}"
    dist_info = f"{name}-{version}.dist-info"
    members = {
        f"{name}.py": b"VALUE = 1\n",
        f"{dist_info}/METADATA": (
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()
        ),
        f"{dist_info}/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: wheelclash-tests\n"
            f"Root-Is-Purelib: false\nTag: {tag}\n".encode()
        ),
    }
    record = "".join(f"{path},{_record_hash(data)},{len(data)}\n" for path, data in members.items())
    members[f"{dist_info}/RECORD"] = (record + f"{dist_info}/RECORD,,\n").encode()
    wheel = into / f"{name}-{version}-{tag}.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, data in members.items():
            archive.writestr(path, data)
    return wheel


def test_wheel_for_another_platform_is_not_installable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WHEELCLASH_CACHE", str(tmp_path / "cache"))
    path = unsupported_wheel(tmp_path)
    wheel = file_wheel(path, "noinst", "wcnoinst")
    job = Case(id="noinst", module="wcnoinst", verdict=Verdict.NOT_INSTALLABLE).job(())
    with LocalBackend().open("host", platform.machine(), [wheel]) as session:
        (outcome,) = session_outcomes(session, [job])
    classified = classify(outcome)
    assert classified.verdict is Verdict.NOT_INSTALLABLE and classified.subkind is None
    assert UNSUPPORTED_WHEEL in classified.detail and path.name in classified.detail
    assert outcome.cell_id == "noinst" and not outcome.started
