"""The supervisor compiles the probe once per container, and a batch that allows it runs the
compiled file; elsewhere, and where none could be made, the source runs as before."""

from __future__ import annotations

import importlib.util
import marshal
import shutil
from pathlib import Path
from types import ModuleType

from harness import paths
from tests.unit.helpers import resource_script


def supervisor() -> ModuleType:
    return resource_script(paths.SUPERVISOR)


def test_the_probe_is_compiled_beside_its_source_for_this_interpreter(tmp_path: Path) -> None:
    source = tmp_path / "probe.py"
    shutil.copyfile(paths.PROBE, source)
    supervisor().compile_probe(str(tmp_path))
    compiled = tmp_path / "probe.pyc"
    data = compiled.read_bytes()
    assert data[:4] == importlib.util.MAGIC_NUMBER
    code = marshal.loads(data[16:])
    # tracebacks and stack dumps still name the source, as crash parsing expects
    assert code.co_filename == str(source)
    assert "main" in code.co_names
    assert sorted(p.name for p in tmp_path.iterdir()) == ["probe.py", "probe.pyc"]  # no scratch
    before = compiled.stat().st_mtime_ns
    supervisor().compile_probe(str(tmp_path))  # once: a second supervisor finds it there
    assert compiled.stat().st_mtime_ns == before


def test_a_probe_that_cannot_be_compiled_leaves_only_its_source(tmp_path: Path) -> None:
    (tmp_path / "probe.py").write_text("def broken(:\n")
    supervisor().compile_probe(str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["probe.py"]
    supervisor().compile_probe(str(tmp_path / "absent"))  # no probe there: nothing to do


def test_only_a_batch_that_allows_it_runs_the_compiled_probe(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("")
    allowed = {"probe": str(probe), "compiled_probe": True}
    assert supervisor().probe_of(allowed) == str(probe)  # none made yet
    supervisor().compile_probe(str(tmp_path))
    assert supervisor().probe_of(allowed) == f"{probe}c"
    assert supervisor().probe_of({"probe": str(probe)}) == str(probe)
