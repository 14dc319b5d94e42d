"""Build fixture wheels with a toolchain and link modes, cached by content hash."""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Final, Self

from harness import paths
from harness.errors import BuildFailed, InputError
from harness.scenario import WheelSpec
from harness.toolchains import Catalogue, LinkMode, Toolchain

logger = logging.getLogger(__name__)

# Bump when the way wheels are built changes, so old cache entries are not reused.
RECIPE_VERSION: Final = 1
SKIPPED_PARTS: Final = frozenset({"build", "dist", "__pycache__"})


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
    cache_key: str

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["path"] = str(self.path)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        return cls(**{**data, "path": Path(data["path"])})


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def source_files(root: Path) -> list[Path]:
    """The fixture's sources, without build output."""
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file()
        and not SKIPPED_PARTS.intersection(p.relative_to(root).parts)
        and not any(part.endswith(".egg-info") for part in p.parts)
    )


def cache_key(spec: WheelSpec, toolchain: Toolchain, modes: Sequence[LinkMode]) -> str:
    """Hash of everything that decides the wheel's bytes: sources, toolchain, flags, compiler."""
    digest = hashlib.sha256()
    recipe = {
        "recipe": RECIPE_VERSION,
        "module": spec.module,
        "toolchain": asdict(toolchain),
        "compiler": toolchain.version(),
        "links": [asdict(mode) for mode in modes],
        "platform": os.uname().machine,
    }
    digest.update(json.dumps(recipe, sort_keys=True).encode())
    for path in source_files(spec.fixture_dir):
        digest.update(str(path.relative_to(spec.fixture_dir)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:32]


@contextmanager
def file_lock(name: str) -> Iterator[None]:
    """An exclusive lock shared by every process on this machine (pytest-xdist workers too)."""
    lock_dir = paths.cache_dir() / "locks"
    lock_dir.mkdir(parents=True, exist_ok=True)
    with (lock_dir / f"{name}.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run_logged(
    cmd: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run an external command, echoing it at -v, and keep its output for error messages."""
    logger.info("+ %s", shlex.join(cmd))
    return subprocess.run(list(cmd), env=env, cwd=cwd, capture_output=True, text=True, check=False)


def _archive_member(toolchain: Toolchain, spec: str, workdir: Path) -> Path:
    archive_name, member = spec.split(":")
    located = run_logged([toolchain.cxx, f"-print-file-name={archive_name}"]).stdout.strip()
    archive = Path(located)
    if not archive.is_absolute() or not archive.is_file():
        raise InputError(
            f"toolchain {toolchain.name!r} has no {archive_name} (the compiler printed "
            f"{located!r}); install the static runtime, e.g. the libstdc++-dev package"
        )
    done = run_logged(["ar", "x", str(archive), member], cwd=workdir)
    if done.returncode != 0:
        raise BuildFailed(f"could not extract {member} from {archive}: {done.stderr.strip()}")
    return workdir / member


def build_environment(
    toolchain: Toolchain, modes: Sequence[LinkMode], module: str, workdir: Path
) -> dict[str, str]:
    """The variables that make setuptools compile and link with this toolchain."""
    ldflags = list(toolchain.ldflags)
    for mode in modes:
        ldflags += [f.format(pyinit_only_map=paths.PYINIT_ONLY_MAP) for f in mode.ldflags]
        ldflags += [str(_archive_member(toolchain, m, workdir)) for m in mode.archive_members]
    env = dict(os.environ)
    env.update(
        CC=toolchain.cxx,
        CXX=toolchain.cxx,
        LDSHARED=f"{toolchain.cxx} -shared",
        CFLAGS=shlex.join(toolchain.cxxflags),
        LDFLAGS=shlex.join(ldflags),
        WHEELCLASH_MODULE=module,
    )
    return env


def build_wheel(spec: WheelSpec, catalogue: Catalogue) -> BuiltWheel:
    """The wheel for one spec: from the cache when its key is there, else built by pip."""
    toolchain = catalogue.toolchain(spec.toolchain)
    toolchain.require()
    modes = [catalogue.link_modes[name] for name in spec.link]
    key = cache_key(spec, toolchain, modes)
    entry = paths.cache_dir() / "wheels" / key
    with file_lock(f"wheel-{key}"):
        meta = entry / "wheel.json"
        if meta.is_file():
            cached = BuiltWheel.from_json(json.loads(meta.read_text()))
            if cached.path.is_file():
                logger.info("wheel %s: cached (%s)", spec.id, cached.path.name)
                return replace(cached, wheel_id=spec.id)
        return _build_into(entry, spec, toolchain, modes, key)


def _build_into(
    entry: Path, spec: WheelSpec, toolchain: Toolchain, modes: Sequence[LinkMode], key: str
) -> BuiltWheel:
    logger.info(
        "wheel %s: building %s with %s (%s)", spec.id, spec.fixture, toolchain.name, spec.link_label
    )
    with tempfile.TemporaryDirectory(prefix="wheelclash-build-") as tmp:
        work = Path(tmp)
        source = work / "src"
        shutil.copytree(
            spec.fixture_dir,
            source,
            ignore=shutil.ignore_patterns(*SKIPPED_PARTS, "*.egg-info"),
        )
        out = work / "out"
        env = build_environment(toolchain, modes, spec.module, work)
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-build-isolation",
            "--no-deps",
            "--no-cache-dir",
            "--disable-pip-version-check",
            "-w",
            str(out),
            str(source),
        ]
        done = run_logged(cmd, env=env)
        wheels = sorted(out.glob("*.whl")) if out.is_dir() else []
        if done.returncode != 0 or len(wheels) != 1:
            log = (done.stdout + done.stderr).strip().splitlines()[-25:]
            raise BuildFailed(
                f"fixture {spec.fixture!r} (wheel {spec.id!r}) did not build with toolchain "
                f"{toolchain.name!r} and link {spec.link_label!r}.\n"
                "  Last lines of pip's output:\n    " + "\n    ".join(log)
            )
        entry.mkdir(parents=True, exist_ok=True)
        target = entry / wheels[0].name
        shutil.move(str(wheels[0]), target)
    built = BuiltWheel(
        wheel_id=spec.id,
        module=spec.module,
        fixture=spec.fixture,
        toolchain=toolchain.name,
        link=spec.link_label,
        path=target,
        sha256=file_sha256(target),
        compiler=toolchain.version(),
        cache_key=key,
    )
    (entry / "wheel.json").write_text(json.dumps(built.to_json(), indent=2))
    return built


def build_wheels(specs: Sequence[WheelSpec], catalogue: Catalogue) -> tuple[BuiltWheel, ...]:
    return tuple(build_wheel(spec, catalogue) for spec in specs)
