"""`wheelclash check` imports given wheels as their users do, on this machine, with wheels
built by `pip wheel` from small projects: pure-Python packages that load their shared
library with ctypes (no extension module at all), on import or in a subpackage (found by
reading the sources), a cffi-like pair of a private top-level
extension beside a public package (with a private submodule and a test package that must
never be imported on their own), and a package needing a module that no wheel provides."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from harness import paths
from harness.cli import main
from tests.integration.conftest import cells_in

SCHEMA = json.loads(paths.RESULTS_SCHEMA.read_text())

LIBRARY = "int ctlib_add(int a, int b) { return a + b; }\n"
EXTENSION = """
#include <Python.h>
static PyObject *answer(PyObject *self, PyObject *args) { return PyLong_FromLong(42); }
static PyMethodDef methods[] = {{"answer", answer, METH_NOARGS, NULL}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_twin", NULL, -1, methods};
PyMODINIT_FUNC PyInit__twin(void) { return PyModule_Create(&module); }
"""


def project(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text))
    return root


def pip_wheel(source: Path, out: Path) -> Path:
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    done = subprocess.run(
        [*command, "-q", "-w", str(out), str(source)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (wheel,) = out.glob(f"{source.name}-*.whl")
    return wheel


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """ctlib and lazylib (ctypes only), twin (`_twin` beside `twin/`, requiring ctlib) and
    needy (importing a module nothing provides)."""
    root = tmp_path_factory.mktemp("projects")
    out = root / "wheels"
    ctlib = project(
        root / "ctlib",
        {
            "setup.py": """
                from setuptools import setup
                setup(name="ctlib", version="1.0", packages=["ctlib"],
                      package_data={"ctlib": ["libctlib.so"]})
            """,
            "ctlib/__init__.py": """
                import ctypes, os
                _lib = ctypes.CDLL(os.path.join(os.path.dirname(__file__), "libctlib.so"))
                def add(a, b):
                    return _lib.ctlib_add(a, b)
            """,
            "ctlib.c": LIBRARY,
        },
    )
    built = subprocess.run(
        ["gcc", "-shared", "-fPIC", "-o", "ctlib/libctlib.so", "ctlib.c"],
        cwd=ctlib,
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    twin = project(
        root / "twin",
        {
            "setup.py": """
                from setuptools import Extension, setup
                setup(name="twin", version="1.0", packages=["twin", "twin.tests"],
                      install_requires=["ctlib>=1"],
                      ext_modules=[Extension("_twin", ["_twin.c"])])
            """,
            "_twin.c": EXTENSION,
            # Like cffi: importing the package leaves its extension unloaded.
            "twin/__init__.py": """
                def answer():
                    import _twin
                    return _twin.answer()
            """,
            "twin/_broken.py": 'raise ImportError("only twin itself imports this")\n',
            "twin/tests/__init__.py": 'raise RuntimeError("test packages are not imported")\n',
        },
    )
    # Like llvmlite: the package leaves its library alone, its `binding` package loads it.
    lazylib = project(
        root / "lazylib",
        {
            "setup.py": """
                from setuptools import setup
                setup(name="lazylib", version="1.0", packages=["lazylib", "lazylib.binding"],
                      package_data={"lazylib.binding": ["liblazylib.so"]})
            """,
            "lazylib/__init__.py": "VERSION = 1\n",
            "lazylib/binding/__init__.py": "from .ffi import add\n",
            "lazylib/binding/ffi.py": """
                import ctypes, os
                _lib = ctypes.CDLL(os.path.join(os.path.dirname(__file__), "liblazylib.so"))
                def add(a, b):
                    return _lib.ctlib_add(a, b)
            """,
            "lazylib.c": LIBRARY,
        },
    )
    built = subprocess.run(
        ["gcc", "-shared", "-fPIC", "-o", "lazylib/binding/liblazylib.so", "lazylib.c"],
        cwd=lazylib,
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    needy = project(
        root / "needy",
        {
            "setup.py": 'from setuptools import setup\nsetup(name="needy", version="1.0", '
            'packages=["needy"])\n',
            "needy/__init__.py": "import not_in_the_set_dependency\n",
        },
    )
    return {p.name: pip_wheel(p, out) for p in (ctlib, twin, lazylib, needy)}


def check(
    capsys: pytest.CaptureFixture[str], results: Path, *args: str
) -> tuple[int, dict[str, Any]]:
    argv = ["check", *args, "--backend", "local", "--no-singletons", "--results", str(results)]
    code = main([*argv, "--json"])
    out = capsys.readouterr().out
    document: dict[str, Any] = json.loads(out) if out.strip() else {}
    if document:
        jsonschema.validate(document, SCHEMA)
    return code, document


def test_public_packages_load_ctypes_libraries_and_a_private_extension_beside_them(
    wheels: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert wheels["ctlib"].name.endswith("-py3-none-any.whl")  # no extension module at all
    code, document = check(
        capsys,
        tmp_path,
        str(wheels["ctlib"]),
        str(wheels["twin"]),
        "--exercise",
        "import ctlib, twin; assert ctlib.add(2, 3) == 5 and twin.answer() == 42",
    )
    cells = cells_in(document)
    assert code == 0 and {c.outcome.verdict for c in cells} == {"pass"}, [
        c.outcome.detail for c in cells
    ]
    assert len(cells) == 2
    for cell in cells:
        script = cell.cell.reproducer
        imported = [part.split()[1] for part in script.split(";") if part.startswith("import ")]
        assert [m for m in imported if m in ("ctlib", "twin", "_twin")] == [
            *(["ctlib"] if cell.cell.order[0] == "ctlib" else []),
            "twin",
            "_twin",
            *(["ctlib"] if cell.cell.order[0] == "twin" else []),
        ]
        assert "_broken" not in script and "tests" not in script
        # Importing the public package loaded its ctypes library.
        assert any(p.endswith("/ctlib/libctlib.so") for p in cell.evidence.libraries), cell
    assert [w["wheel_id"] for w in document["provenance"]["wheels"]] == ["ctlib", "twin"]


def test_a_library_the_package_leaves_alone_is_loaded_through_the_module_that_loads_it(
    wheels: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, document = check(capsys, tmp_path, str(wheels["lazylib"]), str(wheels["ctlib"]))
    assert code == 0, [c.outcome.detail for c in cells_in(document)]
    for cell in cells_in(document):
        assert "import lazylib as" in cell.cell.reproducer
        assert "import lazylib.binding as" in cell.cell.reproducer
        assert any(p.endswith("/liblazylib.so") for p in cell.evidence.libraries), cell


def test_a_module_no_wheel_provides_is_a_missing_dependency_credited_to_no_mechanism(
    wheels: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, document = check(capsys, tmp_path, str(wheels["needy"]), str(wheels["ctlib"]))
    assert code == 1
    cells = cells_in(document)
    assert len(cells) == 2
    for cell in cells:
        assert (cell.outcome.verdict, cell.outcome.subkind) == (
            "import-error",
            "missing-dependency",
        )
        assert cell.outcome.last_step == "import needy"
        assert "no wheel of the set provides 'not_in_the_set_dependency'" in cell.outcome.detail
    assert [row for row in document["agreement"] if row["observed"]] == []


def test_check_import_imports_exactly_what_it_names(
    wheels: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    given = ["--import", "twin=twin._broken"]
    code, document = check(capsys, tmp_path, str(wheels["twin"]), str(wheels["ctlib"]), *given)
    assert code == 1
    for cell in cells_in(document):
        assert (cell.outcome.verdict, cell.outcome.subkind) == ("import-error", "other")
        assert "only twin itself imports this" in cell.outcome.detail


def test_a_requirement_no_given_wheel_meets_stops_before_any_cell(
    wheels: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["check", str(wheels["twin"]), str(wheels["needy"]), "--backend", "local"])
    err = capsys.readouterr().err
    assert code == 2
    assert f"  {wheels['twin'].name}: ctlib>=1\n" in err and "--download" in err
