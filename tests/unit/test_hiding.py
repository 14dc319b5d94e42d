"""A cell in an environment shared with other pairs: what its job asks the probe to hide, and
a batch's private homes; the probe's hiding rules, over its pure parts."""

from __future__ import annotations

import json
import os
import sysconfig
from collections.abc import Iterator
from importlib.machinery import ModuleSpec
from typing import Any

from harness import paths
from harness.cells.jobs import CellJob, Import, batch
from tests.unit.helpers import resource_script

probe = resource_script(paths.PROBE)
STDLIB = sysconfig.get_paths()["stdlib"]


def job(**fields: Any) -> CellJob:
    return CellJob(
        cell_id="pair/host/local/plain/a,b#1",
        imports=(Import(module="a", rtld_global=False),),
        exercises=(),
        victims=False,
        preload="",
        timeout_s=10.0,
        **fields,
    )


def test_a_job_that_hides_nothing_keeps_its_spec() -> None:
    spec = job().to_json()["spec"]
    assert "hide" not in spec
    assert json.dumps(spec) == (
        '{"imports": [{"module": "a", "global": false}], "exercises": [], "victims": false}'
    )


def test_a_job_hides_modules_and_distributions() -> None:
    hidden = job(hidden_modules=("pyarrow", "google.re2"), hidden_dists=("google-re2",))
    assert hidden.to_json()["spec"]["hide"] == {
        "modules": ["pyarrow", "google.re2"],
        "dists": ["google-re2"],
    }
    assert job(hidden_dists=("x",)).to_json()["spec"]["hide"] == {"modules": [], "dists": ["x"]}


def test_a_batch_gives_private_homes_only_when_asked() -> None:
    common: dict[str, Any] = {"python": "py", "probe": "probe.py", "workdir": "/w"}
    assert "private_home" not in batch([job()], **common)
    assert batch([job()], private_home=True, **common)["private_home"] is True
    assert list(batch([job()], **common)) == [
        "python",
        "probe",
        "workdir",
        "tail_bytes",
        "die_with_parent",
        "cells",
    ]


def test_distribution_names_are_compared_canonical() -> None:
    assert probe.canonical_name("Google_RE2") == "google-re2"
    assert probe.canonical_name("zope..interface") == "zope-interface"


def test_a_hidden_prefix_covers_its_submodules_only() -> None:
    hider = probe.Hider(["google.re2", "_cffi_backend"], [], FakeFinder())
    assert hider.hides("google.re2") and hider.hides("google.re2._re2")
    assert hider.hides("_cffi_backend")
    assert not hider.hides("google") and not hider.hides("google.re2x")
    assert not hider.hides("google.protobuf")


def test_the_standard_library_is_never_hidden_but_site_packages_inside_it_is() -> None:
    roots = probe.stdlib_roots()
    assert probe.under_stdlib(os.path.join(STDLIB, "enum.py"), roots)
    assert not probe.under_stdlib(os.path.join(STDLIB, "site-packages", "enum.py"), roots)
    assert not probe.under_stdlib("/opt/elsewhere/enum.py", roots)
    hider = probe.Hider(["enum", "backport"], [], FakeFinder())
    assert hider.find_spec("enum") is not None
    assert hider.find_spec("backport") is None
    assert hider.find_spec("kept") is not None


class FakeDist:
    def __init__(self, name: str | None) -> None:
        self.metadata = {"Name": name} if name is not None else {}


class FakeFinder:
    """PathFinder's interface: `enum` is in the standard library, `backport` and `kept` are
    not; its distributions are `Google_RE2`, `kept` and one without a name."""

    invalidated = 0

    @staticmethod
    def find_spec(name: str, path: Any = None, target: Any = None) -> ModuleSpec:
        folder = STDLIB if name == "enum" else "/site"
        spec = ModuleSpec(name, None, origin=os.path.join(folder, name + ".py"))
        spec.has_location = True
        return spec

    @staticmethod
    def find_distributions(context: Any = None) -> Iterator[FakeDist]:
        return iter([FakeDist("Google_RE2"), FakeDist("kept"), FakeDist(None)])

    @classmethod
    def invalidate_caches(cls) -> None:
        cls.invalidated += 1


def test_hidden_distributions_are_not_found() -> None:
    hider = probe.Hider([], ["google-re2"], FakeFinder())
    names = [d.metadata.get("Name") for d in hider.find_distributions(object())]
    assert names == ["kept", None]
    before = FakeFinder.invalidated
    hider.invalidate_caches()
    assert FakeFinder.invalidated == before + 1


class EditableFinder:
    """What an editable install's .pth file puts on sys.meta_path: a finder of its own
    modules, with no distributions of its own to list."""

    @staticmethod
    def find_spec(name: str, path: Any = None, target: Any = None) -> ModuleSpec | None:
        if name.split(".")[0] != "mine":
            return None
        spec = ModuleSpec(name, None, origin=f"/src/{name}.py")
        spec.has_location = True
        return spec


class LegacyFinder:
    """A finder with no find_spec: left as it is."""


def test_every_finder_that_finds_by_spec_is_behind_a_hider() -> None:
    import importlib.machinery

    builtin, frozen = importlib.machinery.BuiltinImporter, importlib.machinery.FrozenImporter
    legacy = LegacyFinder()
    entries = [builtin, frozen, EditableFinder(), FakeFinder(), legacy]
    wrapped = probe.hiders(entries, ["mine"], ["google-re2"])
    assert wrapped[:2] == [builtin, frozen] and wrapped[4] is legacy
    editable, path = wrapped[2], wrapped[3]
    assert isinstance(editable, probe.Hider) and isinstance(path, probe.Hider)
    # the editable install's module is hidden; what it does not serve is not its to find
    assert editable.find_spec("mine") is None and editable.find_spec("mine.sub") is None
    assert editable.find_spec("other") is None
    # it lists no distributions, and has no caches to clear
    assert list(editable.find_distributions()) == []
    editable.invalidate_caches()
    assert [d.metadata.get("Name") for d in path.find_distributions()] == ["kept", None]
