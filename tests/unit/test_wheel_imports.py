"""What a cell imports for a given wheel, read from real wheel files: public names as users
import them, never a private submodule on its own, namespace packages, wheels without an
extension module, and the scenario's own list winning over all of it."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from harness.build.prebuilt import provided_names
from harness.build.toolchains import load_catalogue
from harness.build.wheels import BuiltWheel
from harness.cli import main
from harness.errors import InvalidInputFile
from harness.scenario.from_wheels import CheckOptions, parse_inputs, scenario_for
from harness.scenario.load import load_scenario
from harness.scenario.wheel_contents import is_test, read_contents
from tests.unit.helpers import build_wheel

SO = ".cpython-311-x86_64-linux-gnu.so"


def imports_of(
    tmp_path: Path, project: str, files: list[str], top_level: list[str] | None = None
) -> tuple[str, ...]:
    wheel = build_wheel(tmp_path, project, dict.fromkeys(files, ""), top_level=top_level)
    return read_contents(wheel).imports()


def test_a_private_extension_beside_its_public_package_comes_after_the_package(
    tmp_path: Path,
) -> None:
    # cffi: `import cffi` leaves `_cffi_backend` unloaded, so it is imported after it.
    cffi = ["_cffi_backend" + SO, "cffi/__init__.py", "cffi/api.py", "cffi/_imp_emulation.py"]
    assert imports_of(tmp_path, "cffi", cffi, top_level=["_cffi_backend", "cffi"]) == (
        "cffi",
        "_cffi_backend",
    )
    # The same without top_level.txt: the file list says the same.
    assert imports_of(tmp_path, "cffi", cffi) == ("cffi", "_cffi_backend")
    # google-re2's top_level.txt still names `_re2`, which moved into the package: only the
    # names the wheel holds count, and `re2._re2` is private, so `re2` loads it.
    re2 = ["re2/__init__.py", "re2/_re2" + SO]
    assert imports_of(tmp_path, "google-re2", re2, top_level=["_re2", "re2"]) == ("re2",)


def test_private_submodules_are_never_imported_directly(tmp_path: Path) -> None:
    pillow = [
        "PIL/__init__.py",
        "PIL/Image.py",
        "PIL/_imaging" + SO,
        "PIL/_imagingtk" + SO,
        "pillow.libs/libjpeg-1a2b3c4d.so.62.4.0",
    ]
    assert imports_of(tmp_path, "pillow", pillow, top_level=["PIL"]) == ("PIL",)
    jaxlib = [
        "jaxlib/__init__.py",
        "jaxlib/_jax" + SO,
        "jaxlib/_sdy_mpmd" + SO,
        "jaxlib/mosaic/__init__.py",
        "jaxlib/mosaic/_tpu_ext" + SO,
        "jaxlib/cuda/_versions" + SO,
        "jaxlib/utils" + SO,
        "jaxlib/xla_client" + SO,
    ]
    # Public extension modules: the shallowest ones, after the package.
    assert imports_of(tmp_path, "jaxlib", jaxlib) == ("jaxlib", "jaxlib.utils", "jaxlib.xla_client")


def test_namespace_packages_import_their_first_regular_package(tmp_path: Path) -> None:
    protobuf = [
        "google/protobuf/__init__.py",
        "google/protobuf/internal/__init__.py",
        "google/_upb/_message.abi3.so",
    ]
    assert imports_of(tmp_path, "protobuf", protobuf, top_level=["google"]) == ("google.protobuf",)
    both = [
        "google/cloud/storage/__init__.py",
        "google/cloud/__init__.py",
        "google/api/__init__.py",
        "google/api/http.py",
        "grpc/__init__.py",
        "grpc/_cython/cygrpc" + SO,
        "grpc/aio.py",
    ]
    # Shallowest first, then by name; every top-level name in a stable (sorted) order.
    assert imports_of(tmp_path, "mixed", both) == ("google.api", "grpc")
    # A namespace holding only modules: the first public one.
    only_modules = ["zope/interface.py", "zope/_private.py"]
    assert imports_of(tmp_path, "zope-bits", only_modules) == ("zope.interface",)


def test_a_wheel_without_an_extension_module_imports_its_public_package(tmp_path: Path) -> None:
    # xgboost, llvmlite: a Python package loading its native library with ctypes.
    xgboost = [
        "xgboost/__init__.py",
        "xgboost/core.py",
        "xgboost/lib/libxgboost.so",
        "xgboost/testing/__init__.py",
    ]
    wheel = build_wheel(tmp_path, "xgboost", dict.fromkeys(xgboost, ""), top_level=["xgboost"])
    contents = read_contents(wheel)
    assert contents.imports() == ("xgboost",)
    assert contents.extensions == () and contents.libraries == ("xgboost/lib/libxgboost.so",)
    # polars 2.x: native code in a dependency; a module and a package, test packages skipped.
    polars = ["polars/__init__.py", "polars/io/__init__.py", "typing_helper.py", "tests/a.py"]
    assert imports_of(tmp_path, "polars", polars) == ("polars", "typing_helper")
    # A setup script shipped by mistake is not imported (it would run setup()).
    assert imports_of(tmp_path, "odd", ["odd/__init__.py", "setup.py"]) == ("odd",)


def test_private_names_are_imported_only_when_the_wheel_has_no_public_one(tmp_path: Path) -> None:
    ruamel_clib = ["_ruamel_yaml" + SO]
    assert imports_of(tmp_path, "ruamel-yaml-clib", ruamel_clib) == ("_ruamel_yaml",)
    bindings = ["_argon2_cffi_bindings/__init__.py", "_argon2_cffi_bindings/_ffi.abi3.so"]
    assert imports_of(tmp_path, "argon2-cffi-bindings", bindings) == ("_argon2_cffi_bindings",)
    helper = ["tool/__init__.py", "_tool_hack.py", "_tool_native/__init__.py"]
    assert imports_of(tmp_path, "tool", helper, top_level=["_tool_hack", "tool"]) == ("tool",)


def test_a_wheel_with_nothing_to_import_imports_nothing(tmp_path: Path) -> None:
    data = ["fonts-1.0.data/data/share/fonts/a.ttf", "tests/test_fonts.py", "fonts.libs/x.so"]
    assert imports_of(tmp_path, "fonts", data) == ()


@pytest.mark.parametrize(
    ("name", "test"),
    [
        ("tests", True),
        ("numpy._core._multiarray_tests", True),
        ("pkg.test_util", True),
        ("numpy.testing", True),
        ("pytest", False),
        ("testfixtures", False),
        ("contest", False),
    ],
)
def test_test_code_is_recognised_by_its_words(name: str, test: bool) -> None:
    assert is_test(name) is test


def scenario(tmp_path: Path, rows: str) -> Path:
    path = tmp_path / "s.toml"
    path.write_text(f'name = "given"\ndescription = "d"\n{rows}\n[matrix]\n')
    return path


def test_a_scenarios_modules_list_is_imported_exactly_private_names_too(tmp_path: Path) -> None:
    pillow = build_wheel(
        tmp_path,
        "pillow",
        {"PIL/__init__.py": "", "PIL/_imagingtk" + SO: "", "PIL/_imaging" + SO: ""},
        top_level=["PIL"],
    )
    xgboost = build_wheel(tmp_path, "xgboost", {"xgboost/__init__.py": ""}, tag="py3-none-any")
    path = scenario(
        tmp_path,
        f'[[wheels]]\nid = "pil"\nwheel = "{pillow.name}"\nmodules = ["PIL._imaging", "PIL"]\n'
        f'[[wheels]]\nid = "xgb"\nwheel = "{xgboost.name}"\n',
    )
    loaded = load_scenario(path, load_catalogue())
    assert loaded.wheel("pil").imports == ("PIL._imaging", "PIL")
    assert loaded.wheel("xgb").imports == ("xgboost",)


def test_a_wheel_with_nothing_to_import_is_an_error_naming_it(tmp_path: Path) -> None:
    data = build_wheel(tmp_path, "fonts", {"fonts-1.0.data/data/a.ttf": ""}, tag="py3-none-any")
    good = build_wheel(tmp_path, "six", {"six.py": ""}, tag="py3-none-any")
    path = scenario(
        tmp_path,
        f'[[wheels]]\nid = "a"\nwheel = "{data.name}"\n'
        f'[[wheels]]\nid = "b"\nwheel = "{good.name}"\n',
    )
    with pytest.raises(InvalidInputFile) as info:
        load_scenario(path, load_catalogue())
    (problem,) = info.value.problems
    assert problem.key == "wheels[0].wheel"
    assert problem.message.startswith(f"{data.name} holds no Python package or module to import")


def test_check_import_names_exactly_what_a_wheel_imports(tmp_path: Path) -> None:
    pillow = build_wheel(tmp_path, "pillow", {"PIL/__init__.py": "", "PIL/_imaging" + SO: ""})
    re2 = build_wheel(tmp_path, "google-re2", {"re2/__init__.py": "", "re2/_re2" + SO: ""})
    inputs = parse_inputs([str(pillow), str(re2)], download=False)
    assert [i.id for i in inputs] == ["pillow", "google_re2"]
    given = ("pillow=PIL.Image", "pillow= PIL._imaging ,PIL.Image", "google_re2=re2._re2")
    loaded, text = scenario_for(inputs, CheckOptions(imports=given))
    # Repeats add to the list in order, once each; private names are allowed here.
    assert loaded.wheel("pillow").imports == ("PIL.Image", "PIL._imaging")
    assert loaded.wheel("google_re2").imports == ("re2._re2",)
    assert tomllib.loads(text)["wheels"][0]["modules"] == ["PIL.Image", "PIL._imaging"]
    # Without --import: the wheels' public packages.
    default, _ = scenario_for(inputs, CheckOptions())
    assert [w.imports for w in default.wheels] == [("PIL",), ("re2",)]


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (
            "pil=PIL",
            "--import 'pil=PIL': no wheel has the id 'pil'; wheel ids (from the project "
            "names): pillow, google_re2",
        ),
        ("pillow=PIL.9x", "--import 'pillow=PIL.9x': 'PIL.9x' is not a dotted Python module"),
        ("pillow", "--import 'pillow': write ID=module[,module…], e.g. --import pillow=pkg"),
        ("pillow=,", "--import 'pillow=,': write ID=module[,module…]"),
    ],
)
def test_a_bad_check_import_is_an_input_error_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], given: str, message: str
) -> None:
    pillow = build_wheel(tmp_path, "pillow", {"PIL/__init__.py": ""})
    re2 = build_wheel(tmp_path, "google-re2", {"re2/__init__.py": ""})
    argv = ["check", str(pillow), str(re2), "--import", given, "--backend", "local"]
    code = main([*argv, "--print-plan"])
    err = capsys.readouterr().err
    assert code == 2 and message in err, err
    assert "Traceback" not in err


def test_the_installed_set_provides_its_wheels_and_their_wheelhouses_names(
    tmp_path: Path,
) -> None:
    house = tmp_path / "house"
    house.mkdir()
    build_wheel(house, "pycparser", {"pycparser/__init__.py": ""}, tag="py3-none-any")
    cffi = build_wheel(tmp_path, "cffi", {"_cffi_backend" + SO: "", "cffi/__init__.py": ""})
    protobuf = build_wheel(tmp_path, "protobuf", {"google/protobuf/__init__.py": ""})

    def built(path: Path, wheelhouse: Path | None) -> BuiltWheel:
        return BuiltWheel(
            wheel_id=path.name.split("-")[0],
            module="",
            fixture="",
            toolchain="given",
            link="",
            path=path,
            sha256="0" * 64,
            compiler="",
            elf_comment="",
            builder="given",
            builder_id="",
            audit="",
            cache_key="",
            wheelhouse=str(wheelhouse) if wheelhouse else "",
        )

    alone = provided_names([built(cffi, None), built(protobuf, None)])
    assert alone == ("_cffi_backend", "cffi", "google")
    with_house = provided_names([built(cffi, house), built(protobuf, None)])
    assert with_house == ("_cffi_backend", "cffi", "google", "pycparser")
