"""Fixture wheels: built by a builder (host or container), cached by content hash."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Final, Self

from harness import __version__, paths
from harness.build.audit import audit_and_tag
from harness.build.builders import Builder, HostBuilder, builder_for, source_files
from harness.build.provenance import elf_comment, stamp
from harness.build.toolchains import Catalogue, LinkMode, Toolchain
from harness.common import cachedir, progress
from harness.common.cachedir import Kind
from harness.common.digests import file_sha256
from harness.common.locking import file_lock
from harness.common.progress import StageKind
from harness.scenario.load import WheelSpec

logger = logging.getLogger(__name__)

# Bump when the way wheels are built changes, so old cache entries are not reused.
RECIPE_VERSION: Final = 5


@dataclass(frozen=True, kw_only=True)
class BuiltWheel:
    """A real .whl file in the cache, and where it came from."""

    wheel_id: str
    module: str
    fixture: str
    toolchain: str
    link: str
    path: Path
    sha256: str
    compiler: str
    elf_comment: str
    builder: str
    builder_id: str
    audit: str
    cache_key: str
    wheelhouse: str = ""  # a folder its dependencies install from (pip --find-links), or ''

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["path"] = str(self.path)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        """From a cache entry or results.json; fields another harness version added are
        ignored, and a missing one raises TypeError or KeyError."""
        known = {f.name for f in fields(cls)} - {"path"}
        return cls(**{k: v for k, v in data.items() if k in known}, path=Path(data["path"]))


def cached_wheel(meta: Path) -> BuiltWheel | None:
    """The wheel a cache entry describes, or None when it must be (re)built: no entry, an
    entry this version cannot read (another harness version wrote it), or a missing file."""
    if not meta.is_file():
        return None
    try:
        cached = BuiltWheel.from_json(json.loads(meta.read_text()))
    except (OSError, ValueError, TypeError, KeyError) as exc:
        logger.warning("wheel cache entry %s is unreadable (%s); building again", meta, exc)
        return None
    return cached if cached.path.is_file() else None


def cache_key(
    spec: WheelSpec, toolchain: Toolchain, modes: Sequence[LinkMode], identity: str
) -> str:
    """Hash of what decides the wheel's bytes: sources, toolchain, flags, builder identity."""
    digest = hashlib.sha256()
    recipe = {
        "recipe": RECIPE_VERSION,
        "module": spec.module,
        "toolchain": asdict(toolchain),
        "links": [asdict(mode) for mode in modes],
        "builder": identity,
        "scripts": file_sha256(paths.BUILD_WHEEL),
    }
    digest.update(json.dumps(recipe, sort_keys=True).encode())
    for path in source_files(spec.fixture_dir):
        digest.update(str(path.relative_to(spec.fixture_dir)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:32]


def build_wheel(
    spec: WheelSpec, catalogue: Catalogue, builder: Builder | None = None
) -> BuiltWheel:
    """The wheel for one spec: from the cache when its key is there, else built."""
    builder = builder or HostBuilder()
    toolchain = catalogue.toolchain(spec.toolchain)
    modes = [catalogue.link_modes[name] for name in spec.link]
    identity = builder.identity(toolchain)
    key = cache_key(spec, toolchain, modes, identity)
    entry = cachedir.entry_dir(Kind.WHEEL, key)
    meta = cachedir.marker(Kind.WHEEL, key)
    with file_lock(cachedir.lock_name(Kind.WHEEL, key)):
        cached = cached_wheel(meta)
        if cached is not None:
            cachedir.mark_used(Kind.WHEEL, key)
            logger.info("wheel %s: cached (%s)", spec.id, cached.path.name)
            return replace(cached, wheel_id=spec.id)
        logger.info(
            "wheel %s: building %s with %s (%s) on %s",
            spec.id,
            spec.fixture,
            toolchain.name,
            spec.link_label,
            builder.name,
        )
        label = f"{spec.id}: {spec.fixture} with {toolchain.name} on {builder.name}"
        with (
            progress.stage(StageKind.BUILD, label, total=2) as step,
            tempfile.TemporaryDirectory(prefix="wheelclash-wheel-") as tmp,
        ):
            step.advance(0, note="compiling")
            built, compiler = builder.build(spec, toolchain, modes, Path(tmp) / "out")
            step.advance(1, note="auditing")
            built, audit = audit_and_tag(built, Path(tmp) / "tagged")
            comment = elf_comment(built)
            stamp(
                built,
                {
                    "harness_version": __version__,
                    "fixture": spec.fixture,
                    "toolchain": toolchain.name,
                    "runtime": str(toolchain.runtime),
                    "link": spec.link_label,
                    "compiler": compiler,
                    "elf_comment": comment,
                    "builder": builder.name,
                    "builder_id": identity,
                    "audit": audit.summary,
                },
            )
            entry.mkdir(parents=True, exist_ok=True)
            target = entry / built.name
            shutil.move(str(built), target)
            step.advance(2)
        wheel = BuiltWheel(
            wheel_id=spec.id,
            module=spec.module,
            fixture=spec.fixture,
            toolchain=toolchain.name,
            link=spec.link_label,
            path=target,
            sha256=file_sha256(target),
            compiler=compiler,
            elf_comment=comment,
            builder=builder.name,
            builder_id=identity,
            audit=audit.summary,
            cache_key=key,
        )
        meta.write_text(json.dumps(wheel.to_json(), indent=2))
    return wheel


def build_wheels(
    specs: Sequence[WheelSpec], catalogue: Catalogue, native: Builder, arch: str
) -> tuple[BuiltWheel, ...]:
    """Each spec's wheel, built where its toolchain builds (natively unless it says)."""
    return tuple(
        build_wheel(spec, catalogue, builder_for(catalogue.toolchain(spec.toolchain), native, arch))
        for spec in specs
    )
