"""Small builders shared by the unit tests."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import math
import textwrap
import zipfile
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from harness.build.wheels import BuiltWheel
from harness.cells.jobs import CellJob, Import
from harness.cells.outcome import Outcome
from harness.common.digests import file_sha256
from harness.common.verdicts import Verdict
from harness.evidence.classify import Classified
from harness.evidence.results import CellResult, Provenance
from harness.run.state import CellIndex, Stream, write_results
from harness.scenario.plan import Cell, Expected

GOOD_SCENARIO = """
name = "pair"
description = "two wheels"

[[wheels]]
id = "a"
fixture = "call_once"
link = "static-libstdcxx-hidden"
exercise = "exercise"

[[wheels]]
id = "b"
fixture = "call_once"

[matrix]
dlopen = ["local", "global:a"]
host = ["plain", "preload-libstdcxx"]
repeat = 2

[[expect]]
when = { dlopen = "global:a", before = ["a", "b"] }
verdict = "segfault"

[[expect]]
verdict = "pass"
"""


def write_scenario(root: Path, text: str, name: str = "pair.toml") -> Path:
    """A scenario file in root/scenarios with fixture folders beside it, as in the repo."""
    for fixture in ("call_once", "healthy"):
        (root / "fixtures" / "cpp" / fixture).mkdir(parents=True, exist_ok=True)
    path = root / "scenarios" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def made_result(
    scenario: str, order: tuple[str, ...], verdict: Verdict, repeat: int = 1, reproducer: str = ""
) -> CellResult:
    """A result on the local backend's host target, expecting a pass."""
    cell = Cell(
        scenario=scenario, target="host", arch="x86_64", dlopen="local", host="plain",
        order=order, repeat=repeat,
    )  # fmt: skip
    return CellResult.make(
        cell,
        "local",
        Outcome(cell_id=cell.id),
        Classified(verdict=verdict),
        Expected(verdict=Verdict.PASS),
        reproducer,
    )


def written_run(run_dir: Path, results: Sequence[CellResult]) -> Path:
    """The results.json of a run folder holding `results`, written the way a run writes it."""
    run_dir.mkdir(parents=True, exist_ok=True)
    index = CellIndex()
    stream = Stream(run_dir, index)
    for result in results:
        stream.add(result)
    stream.close()
    return write_results(run_dir, Provenance(), index, [r.id for r in results], {})


def resource_script(path: Path) -> ModuleType:
    """A stdlib script shipped in harness/resources/, loaded by path as it runs in a target."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def toml_value(value: Any) -> str:
    """One value as inline TOML (a tiny writer: the standard library only reads TOML)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        assert math.isfinite(value)
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    assert isinstance(value, dict)
    return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


def toml_document(document: dict[str, Any]) -> str:
    return "".join(f"{json.dumps(k)} = {toml_value(v)}\n" for k, v in document.items())


def build_wheel(
    folder: Path,
    project: str,
    files: dict[str, str],
    *,
    version: str = "1.0",
    tag: str = "cp311-cp311-manylinux_2_17_x86_64",
    top_level: Sequence[str] | None = None,
    requires: Sequence[str] = (),
) -> Path:
    """A real wheel file: the given members, then a dist-info with METADATA (one
    Requires-Dist line per requirement), WHEEL, top_level.txt (when given) and a RECORD
    hashing every member, as setuptools writes them."""
    name = project.replace("-", "_")
    info = f"{name}-{version}.dist-info"
    metadata = [
        "Metadata-Version: 2.1",
        f"Name: {project}",
        f"Version: {version}",
        *(f"Requires-Dist: {r}" for r in requires),
    ]
    members = dict(files)
    members[f"{info}/METADATA"] = "\n".join(metadata) + "\n"
    members[f"{info}/WHEEL"] = f"Wheel-Version: 1.0\nRoot-Is-Purelib: false\nTag: {tag}\n"
    if top_level is not None:
        members[f"{info}/top_level.txt"] = "".join(f"{n}\n" for n in top_level)
    record = []
    for member, text in members.items():
        digest = hashlib.sha256(text.encode()).digest()
        encoded = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        record.append(f"{member},sha256={encoded},{len(text.encode())}")
    record.append(f"{info}/RECORD,,")
    path = folder / f"{name}-{version}-{tag}.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for member, text in members.items():
            archive.writestr(member, text)
        archive.writestr(f"{info}/RECORD", "\n".join(record) + "\n")
    return path


# The first real atlas edition (fiona, rasterio, shapely, msgpack on debian:bookworm), and
# one of its failing cells: fiona RTLD_GLOBAL before rasterio, a segfault 3/3.
SAMPLE_EDITION = (
    Path(__file__).resolve().parents[2] / "atlas/samples/editions/2026-12-04-debian-bookworm"
)
SAMPLE_FAILURE = "fiona--rasterio/debian-bookworm-x86_64/global-first/plain/fiona,rasterio#1"


def sample_edition_document() -> dict[str, Any]:
    """The sample edition's results.json. It was written as schema_version 2; version 3 only
    added optional keys (a cell's attribution, the run's attribution record), so it reads as
    3."""
    document = json.loads((SAMPLE_EDITION / "results.json").read_text())
    assert document["schema_version"] == 2
    document["schema_version"] = 3
    return dict(document)


def file_wheel(path: Path, wheel_id: str, module: str) -> BuiltWheel:
    """A wheel file as the backends take it, with nothing known of how it was built."""
    return BuiltWheel(
        wheel_id=wheel_id,
        module=module,
        fixture="none",
        toolchain="none",
        link="none",
        path=path,
        sha256=file_sha256(path),
        compiler="none",
        builder="none",
        audit="",
        elf_comment="",
        builder_id="",
        cache_key="none",
    )


def import_job(
    cell_id: str, module: str, *, victims: bool = False, timeout_s: float = 30
) -> CellJob:
    """A cell that imports one module (and uses CPython's own C extensions, with `victims`)."""
    return CellJob(
        cell_id=cell_id,
        imports=(Import(module=module, rtld_global=False),),
        exercises=(),
        victims=victims,
        preload="",
        timeout_s=timeout_s,
    )
