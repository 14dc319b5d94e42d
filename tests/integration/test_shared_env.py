"""Cells that share one environment with other pairs, in real processes: the probe hides the
other pairs' modules and distributions as if they were not installed (never the standard
library), and the supervisor gives each cell a HOME and TMPDIR that die with it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from harness import paths
from harness.cells.jobs import CellJob, Import, batch

HIDE = {"hide": {"modules": ["hideme", "nsx.part", "json", "colorsys"], "dists": ["hideme"]}}

# json is the probe's own (imported before hiding starts); colorsys is imported here first.
HIDDEN_SNIPPET = """
import importlib.metadata, importlib.util
try:
    import hideme
except ModuleNotFoundError as exc:
    assert str(exc) == "No module named 'hideme'", exc
else:
    raise AssertionError("hideme was imported")
assert importlib.util.find_spec("hideme") is None
try:
    importlib.metadata.version("hideme")
except importlib.metadata.PackageNotFoundError:
    pass
else:
    raise AssertionError("hideme has metadata")
assert "hideme" not in [d.metadata["Name"] for d in importlib.metadata.distributions()]
import nsx.keep
try:
    import nsx.part
except ModuleNotFoundError:
    pass
else:
    raise AssertionError("nsx.part was imported")
import colorsys, json
assert colorsys.rgb_to_hsv(1, 0, 0) == (0, 1, 1) and json.loads("[1]") == [1]
import pkgutil
listed = {m.name for m in pkgutil.iter_modules()}
assert "hideme" not in listed and {"colorsys", "json"} <= listed, sorted(listed)
import os
site = os.environ["PYTHONPATH"]
assert "hideme" not in {m.name for m in pkgutil.walk_packages([site])}
"""

SEEN_SNIPPET = """
import importlib.metadata
import hideme, nsx.keep, nsx.part
assert hideme.VALUE == 1
assert importlib.metadata.version("hideme") == "1.0"
import os, pkgutil
assert "hideme" in {m.name for m in pkgutil.iter_modules()}
assert "hideme" in {m.name for m in pkgutil.walk_packages([os.environ["PYTHONPATH"]])}
"""


def site_folder(root: Path) -> Path:
    """A site folder of a pure-Python distribution `hideme` and a namespace `nsx` of two
    portions, `nsx.part` (to hide) and `nsx.keep`."""
    site = root / "site"
    (site / "hideme").mkdir(parents=True, exist_ok=True)
    (site / "hideme" / "__init__.py").write_text("VALUE = 1\n")
    (site / "hideme-1.0.dist-info").mkdir(exist_ok=True)
    (site / "hideme-1.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: hideme\nVersion: 1.0\n"
    )
    # a module that lists sys.path's modules as it is imported (a plugin scan), the first
    # thing in its process to import pkgutil
    (site / "lister.py").write_text(
        "import pkgutil\nFOUND = {m.name for m in pkgutil.iter_modules()}\n"
    )
    for portion in ("part", "keep"):
        (site / "nsx" / portion).mkdir(parents=True, exist_ok=True)
        (site / "nsx" / portion / "__init__.py").write_text("")
    return site


def run_probe(root: Path, spec: dict[str, Any]) -> tuple[int, list[dict[str, Any]], str]:
    """The real probe on `spec`, with the site folder on its path: exit code, events, stderr."""
    events = root / "events.jsonl"
    spec = {"events": str(events), "exercises": [], "victims": False, **spec}
    env = {**os.environ, "PYTHONPATH": str(site_folder(root))}
    done = subprocess.run(
        [sys.executable, str(paths.PROBE), json.dumps(spec)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    lines = events.read_text().splitlines()
    return done.returncode, [json.loads(line) for line in lines], done.stderr


def kinds(events: list[dict[str, Any]]) -> list[str]:
    return [event["event"] for event in events]


def test_hidden_modules_and_distributions_are_as_if_not_installed(tmp_path: Path) -> None:
    spec = {"imports": [{"module": "nsx.keep", "global": False}], "snippet": HIDDEN_SNIPPET}
    code, events, stderr = run_probe(tmp_path, {**spec, **HIDE})
    assert code == 0, (events, stderr)
    assert kinds(events) == ["start", "step", "step", "libraries", "sentinel"]


def test_without_hiding_the_same_environment_shows_everything(tmp_path: Path) -> None:
    code, events, stderr = run_probe(tmp_path, {"imports": [], "snippet": SEEN_SNIPPET})
    assert code == 0, (events, stderr)
    assert kinds(events) == ["start", "step", "libraries", "sentinel"]


LISTED_SNIPPET = """
import importlib.machinery, lister, pkgutil, sys
assert "hideme" not in lister.FOUND and {"colorsys", "lister"} <= lister.FOUND, lister.FOUND
assert type(pkgutil.__loader__) is importlib.machinery.SourceFileLoader, pkgutil.__loader__
assert pkgutil.__spec__.loader is pkgutil.__loader__
assert [f for f in sys.meta_path if type(f).__name__ == "PkgutilWatch"] == [], sys.meta_path
"""


def test_a_module_that_lists_modules_as_it_is_imported_does_not_see_the_hidden(
    tmp_path: Path,
) -> None:
    """pkgutil is hidden from as it is first imported, within the import that imports it (the
    probe does not import it itself: it would cost every cell)."""
    spec = {"imports": [{"module": "lister", "global": False}], "snippet": LISTED_SNIPPET}
    code, events, stderr = run_probe(tmp_path, {**spec, **HIDE})
    assert code == 0, (events, stderr)
    assert kinds(events) == ["start", "step", "step", "libraries", "sentinel"]
    code, events, stderr = run_probe(
        tmp_path, {"imports": [], "snippet": "import lister\nassert 'hideme' in lister.FOUND"}
    )
    assert code == 0, (events, stderr)


def test_importing_a_hidden_module_is_an_ordinary_import_error(tmp_path: Path) -> None:
    code, events, _ = run_probe(tmp_path, {"imports": [{"module": "hideme"}], **HIDE})
    assert code == 10
    (error,) = [event for event in events if event["event"] == "import-error"]
    assert error["type"] == "ModuleNotFoundError"
    assert error["message"] == "No module named 'hideme'"


def cell(name: str, snippet: str) -> CellJob:
    return CellJob(
        cell_id=name,
        imports=(Import(module="tempfile", rtld_global=False),),
        exercises=(),
        victims=False,
        preload="",
        timeout_s=30,
        snippet=snippet,
    )


def supervise(root: Path, jobs: list[CellJob], private_home: bool) -> list[dict[str, Any]]:
    """The real supervisor on a batch file, as the backends run it, with a HOME and TMPDIR of
    the test's own (a cell that writes to its HOME writes nothing of the user's)."""
    workdir = root / "work"
    document = batch(
        jobs,
        python=sys.executable,
        probe=str(paths.PROBE),
        workdir=str(workdir),
        private_home=private_home,
    )
    path = root / "batch.json"
    path.write_text(json.dumps(document))
    outer = {"HOME": str(root / "outer-home"), "TMPDIR": str(root / "outer-tmp")}
    for folder in outer.values():
        os.mkdir(folder)
    done = subprocess.run(
        [sys.executable, str(paths.SUPERVISOR), str(path)],
        env={**os.environ, **outer},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert os.listdir(workdir) == [], "the working folder outlived its cells"
    return [json.loads(line) for line in done.stdout.splitlines()]


def passed(report: dict[str, Any]) -> bool:
    return report["returncode"] == 0 and kinds(report["events"])[-1] == "sentinel"


def test_each_cell_has_a_home_and_tmpdir_of_its_own(tmp_path: Path) -> None:
    outer = str(tmp_path / "outer-home")
    writes = f"""
import os, tempfile
assert os.environ["HOME"] != {outer!r}
assert tempfile.gettempdir() == os.environ["HOME"]
for folder, name in ((os.environ["HOME"], ".cache"), (tempfile.gettempdir(), "tmp.x")):
    with open(os.path.join(folder, name), "w") as handle:
        handle.write("an earlier cell was here")
"""
    reads = f"""
import os, tempfile
assert os.environ["HOME"] != {outer!r}
for folder in (os.environ["HOME"], tempfile.gettempdir()):
    assert os.listdir(folder) == [], os.listdir(folder)
"""
    reports = supervise(tmp_path, [cell("writes", writes), cell("reads", reads)], True)
    assert [r["id"] for r in reports] == ["writes", "reads"]
    assert all(passed(r) for r in reports), reports
    assert os.listdir(tmp_path / "outer-home") == os.listdir(tmp_path / "outer-tmp") == []


def test_without_private_homes_the_probe_keeps_the_supervisors(tmp_path: Path) -> None:
    home, tmp = str(tmp_path / "outer-home"), str(tmp_path / "outer-tmp")
    snippet = f"""
import os
assert os.environ["HOME"] == {home!r} and os.environ["TMPDIR"] == {tmp!r}
"""
    (report,) = supervise(tmp_path, [cell("same", snippet)], False)
    assert passed(report), report


# What an editable install's .pth file does at start-up (here sitecustomize, which the
# interpreter imports from the path at start-up too): a finder of its own on sys.meta_path,
# serving a module from a folder that is not on sys.path.
EDITABLE = """
import importlib.util, os, sys
class EditableFinder:
    folder = os.path.join(os.path.dirname(__file__), "..", "src")
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name != "edit_mod":
            return None
        return importlib.util.spec_from_file_location(name, os.path.join(cls.folder, "edit_mod.py"))
sys.meta_path.append(EditableFinder)
"""


def test_a_module_an_editable_finder_serves_is_hidden_too(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "edit_mod.py").write_text("VALUE = 2\n")
    site = site_folder(tmp_path)
    (site / "sitecustomize.py").write_text(EDITABLE)
    seen = {
        "imports": [{"module": "edit_mod"}],
        "snippet": "import edit_mod\nassert edit_mod.VALUE == 2",
    }
    code, events, stderr = run_probe(tmp_path, seen)
    assert code == 0, (events, stderr)
    hidden = {"imports": [{"module": "edit_mod"}], "hide": {"modules": ["edit_mod"], "dists": []}}
    code, events, _ = run_probe(tmp_path, hidden)
    assert code == 10
    (error,) = [event for event in events if event["event"] == "import-error"]
    assert error["message"] == "No module named 'edit_mod'"


def test_a_finder_the_tested_code_adds_later_is_hidden_from_too(tmp_path: Path) -> None:
    """A wheel that puts an import hook on sys.meta_path when it is imported (after the
    probe's start-up) would find for the next steps what the cell hides: the probe puts a
    Hider before it after each step."""
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "edit_mod.py").write_text("VALUE = 2\n")
    site = site_folder(tmp_path)
    (site / "hook_mod.py").write_text(EDITABLE)  # its import adds the finder
    imports = [{"module": "hook_mod"}, {"module": "edit_mod"}]
    code, events, stderr = run_probe(tmp_path, {"imports": imports})
    assert code == 0, (events, stderr)
    hide = {"modules": ["edit_mod"], "dists": []}
    code, events, _ = run_probe(tmp_path, {"imports": imports, "hide": hide})
    assert code == 10
    (error,) = [event for event in events if event["event"] == "import-error"]
    assert (error["module"], error["message"]) == ("edit_mod", "No module named 'edit_mod'")
    # and between a snippet's steps, and within one
    snippet = "# step: hook\nimport hook_mod\n# step: edit\ntry:\n    import edit_mod\n"
    snippet += "except ImportError:\n    pass\nelse:\n    raise AssertionError('edit_mod found')\n"
    code, events, stderr = run_probe(tmp_path, {"imports": [], "snippet": snippet, "hide": hide})
    assert code == 0, (events, stderr)
    one_step = snippet.replace("# step: edit\n", "")
    code, events, stderr = run_probe(tmp_path, {"imports": [], "snippet": one_step, "hide": hide})
    assert code == 0, (events, stderr)


# A wheel that installs an import hook and, in the same import, imports through it; then
# takes it away again, as a hook used once does.
HOOK_AND_USE = (
    EDITABLE
    + """
try:
    import edit_mod
    FOUND = edit_mod.VALUE
except ImportError:
    FOUND = None
assert EditableFinder in sys.meta_path
sys.meta_path.remove(EditableFinder)
assert EditableFinder not in sys.meta_path
"""
)


def test_a_finder_put_on_the_path_is_hidden_from_within_the_import_that_puts_it(
    tmp_path: Path,
) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "edit_mod.py").write_text("VALUE = 2\n")
    site = site_folder(tmp_path)
    (site / "hook_use.py").write_text(HOOK_AND_USE)
    check = "import hook_use\nassert hook_use.FOUND == {}, hook_use.FOUND"
    spec = {"imports": [{"module": "hook_use"}], "snippet": check.format(2)}
    code, events, stderr = run_probe(tmp_path, spec)
    assert code == 0, (events, stderr)
    hide = {"modules": ["edit_mod"], "dists": []}
    spec = {"imports": [{"module": "hook_use"}], "snippet": check.format(None), "hide": hide}
    code, events, stderr = run_probe(tmp_path, spec)
    assert code == 0, (events, stderr)
