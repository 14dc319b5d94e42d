"""Reading a wheel's sources (never running them) to import it as its users do: the public
module that loads its native code when its package alone does not, and optional
integrations left out. Wheels are real zip files with a dist-info."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from harness.scenario import source_imports
from harness.scenario.source_imports import Imported, imports_in
from harness.scenario.user_imports import imports_for
from tests.unit.helpers import build_wheel

SO = ".cpython-311-x86_64-linux-gnu.so"


def test_the_module_most_of_the_package_builds_on_loads_its_extensions(tmp_path: Path) -> None:
    # Pillow: `import PIL` loads nothing; PIL.Image loads _imaging and every plugin uses it.
    pillow = build_wheel(
        tmp_path,
        "pillow",
        {
            "PIL/__init__.py": '__version__ = "13.0"\n',
            "PIL/Image.py": "try:\n    from . import _imaging as core\nexcept ImportError:\n"
            "    core = None\n",
            "PIL/ImageTk.py": "import tkinter\nfrom . import Image, _imagingtk\n",
            "PIL/ImageFont.py": "from . import Image\nfrom ._imagingft import font\n",
            "PIL/PngImagePlugin.py": "from . import Image, ImageFile\n",
            "PIL/ImageFile.py": "from . import Image\n",
            "PIL/_imaging" + SO: "",
            "PIL/_imagingtk" + SO: "",
            "PIL/_imagingft" + SO: "",
        },
        top_level=["PIL"],
    )
    assert imports_for(pillow) == ("PIL", "PIL.Image")


def test_a_ctypes_loader_is_reached_through_its_package(tmp_path: Path) -> None:
    # llvmlite: `import llvmlite` leaves libllvmlite.so alone; llvmlite.binding loads it.
    llvmlite = build_wheel(
        tmp_path,
        "llvmlite",
        {
            "llvmlite/__init__.py": "from .utils import version\n",
            "llvmlite/utils.py": "version = 1\n",
            "llvmlite/binding/__init__.py": "from .module import *\nfrom .ffi import lib\n",
            "llvmlite/binding/ffi.py": "import ctypes\nlib = ctypes.CDLL('libllvmlite.so')\n",
            "llvmlite/binding/module.py": "from llvmlite.binding import ffi\n",
            "llvmlite/binding/libllvmlite.so": "",
        },
    )
    assert imports_for(llvmlite) == ("llvmlite", "llvmlite.binding")
    # xgboost: the package's own import loads its library; nothing is added.
    xgboost = build_wheel(
        tmp_path,
        "xgboost",
        {
            "xgboost/__init__.py": "from .core import Booster\n",
            "xgboost/core.py": "import ctypes\n_LIB = ctypes.cdll.LoadLibrary('x.so')\n",
            "xgboost/lib/libxgboost.so": "",
        },
    )
    assert imports_for(xgboost) == ("xgboost",)


def test_a_package_that_loads_its_extension_itself_gets_nothing_added(tmp_path: Path) -> None:
    re2 = build_wheel(
        tmp_path,
        "google-re2",
        {"re2/__init__.py": "from . import _re2\n", "re2/_re2" + SO: "", "re2/x.py": ""},
    )
    assert imports_for(re2) == ("re2",)
    # Imports in functions or under TYPE_CHECKING do not run at import time; no public module
    # loads the extension at import, so nothing can be added (a private one never is).
    lazy = build_wheel(
        tmp_path,
        "lazy",
        {
            "lazy/__init__.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
            "    from . import _native\ndef go():\n    from . import _native\n",
            "lazy/_loader.py": "from . import _native\n",
            "lazy/_native" + SO: "",
        },
    )
    assert imports_for(lazy) == ("lazy",)


def test_an_optional_integration_is_left_out_while_the_main_package_remains(
    tmp_path: Path,
) -> None:
    files = {
        "_duckdb" + SO: "",
        "duckdb/__init__.py": "import _duckdb\n",
        "adbc_driver_duckdb/__init__.py": "import enum\nimport adbc_driver_manager\n",
        # Conditional imports of optional packages do not make a package optional.
        "duckdb_tools/__init__.py": "try:\n    import pandas\nexcept ImportError:\n"
        "    pandas = None\nimport numpy\n",
    }
    needs = ["numpy>=1.24", 'adbc-driver-manager; extra == "all"', 'pandas; extra == "all"']
    duckdb = build_wheel(tmp_path, "duckdb", files, requires=needs)
    assert imports_for(duckdb) == ("duckdb", "duckdb_tools", "_duckdb")
    # The only public package is imported even when it needs an optional module.
    alone = build_wheel(
        tmp_path,
        "alone",
        {"alone/__init__.py": "import not_declared_anywhere\n", "alone/_x" + SO: ""},
    )
    assert imports_for(alone) == ("alone",)


@pytest.mark.parametrize(
    ("source", "module", "package", "expected"),
    [
        ("import a.b, c", "m", False, [("a.b", False), ("c", False)]),
        ("from . import x", "p.q", True, [("p.q", False), ("p.q.x", False)]),
        ("from .. import x", "p.q.r", False, [("p", False), ("p.x", False)]),
        ("from ..s import t", "p.q.r", True, [("p.q.s", False), ("p.q.s.t", False)]),
        ("from ... import x", "p.q", False, []),  # climbs out of the top package
        ("try:\n import a\nexcept ImportError:\n pass", "m", False, [("a", True)]),
        ("if x:\n import a\nelse:\n import b", "m", False, [("a", True), ("b", True)]),
        ("class C:\n    import a", "m", False, [("a", False)]),
        ("def f():\n    import a", "m", False, []),
        ("import a\nx = (", "m", False, []),  # does not parse: nothing known
    ],
)
def test_imports_that_run_at_import_time(
    source: str, module: str, package: bool, expected: list[tuple[str, bool]]
) -> None:
    found = imports_in(source.encode(), module, package)
    assert found == tuple(Imported(name=n, conditional=c) for n, c in expected)


def test_sources_are_parsed_one_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """CPython 3.11 before 3.11.8 can fail two parses at once in threads (python/cpython#106905:
    `SystemError: AST constructor recursion depth mismatch`, seen preparing two wheels at once):
    each parse holds the module's lock."""
    held = []
    real = source_imports.ast.parse

    def parse(*args: object, **kwargs: object) -> ast.Module:
        held.append(source_imports._PARSING.locked())
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(source_imports.ast, "parse", parse)
    found = source_imports.imports_in(b"import json\n", "m", package=False)
    assert [i.name for i in found] == ["json"] and held == [True]
