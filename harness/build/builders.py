"""Where fixture wheels are built: on the host, or in a builder container of a Debian suite.

Both run the same stdlib script (resources/build_wheel.py) with a spec: the fixture source,
the toolchain's compiler and flags, the link modes' flags and archive members.
"""

from __future__ import annotations

import functools
import json
import logging
import platform
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final, Protocol

import docker
import docker.errors

from harness import paths
from harness.build.toolchains import HOST, LinkMode, Toolchain
from harness.errors import BuildFailed, InfrastructureError, ToolchainUnavailable
from harness.images import catalogue as image_catalogue
from harness.images import containers, tarstream
from harness.images import provision as images
from harness.scenario.load import WheelSpec

logger = logging.getLogger(__name__)

BUILD_DIR: Final = "/wheelclash-build"
BUILD_CONFINEMENT: Final = containers.Confinement(
    user="10001:10001", memory="4g", pids=1024, home=BUILD_DIR
)
SKIPPED_PARTS: Final = frozenset({"build", "dist", "__pycache__"})


def source_files(root: Path) -> list[Path]:
    """A fixture project's sources, without build output."""
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file()
        and not SKIPPED_PARTS.intersection(p.relative_to(root).parts)
        and not any(part.endswith(".egg-info") for part in p.parts)
    )


class Builder(Protocol):
    @property
    def name(self) -> str:
        """Provenance: where wheels are built ("host" or a builder image)."""
        ...

    def identity(self, toolchain: Toolchain) -> str:
        """What decides the compiler's output besides the sources and flags (cache key part)."""
        ...

    def build(
        self, spec: WheelSpec, toolchain: Toolchain, modes: Sequence[LinkMode], out: Path
    ) -> tuple[Path, str]:
        """Build the wheel into `out`; return its path and the compiler's version line."""
        ...


def build_spec(
    spec: WheelSpec,
    toolchain: Toolchain,
    modes: Sequence[LinkMode],
    *,
    source: str,
    out: str,
    python: str,
    arch: str,
    pyinit_map: str,
) -> dict[str, Any]:
    """The build script's instructions (see resources/build_wheel.py)."""
    return {
        "source": source,
        "out": out,
        "python": python,
        "pyinit_map": pyinit_map,
        "module": spec.module,
        "cxx": toolchain.command(python=python, arch=arch),
        "cxxflags": [*toolchain.cxxflags, *(f for mode in modes for f in mode.cxxflags)],
        "ldflags": [*toolchain.ldflags, *(f for mode in modes for f in mode.ldflags)],
        "archive_members": [m for mode in modes for m in mode.archive_members],
    }


def _checked(report: Mapping[str, Any], spec: WheelSpec, toolchain: Toolchain, where: str) -> None:
    if not report.get("ok"):
        log = "\n  ".join(str(report.get("log", "")).strip().splitlines()[-25:])
        raise BuildFailed(
            f"fixture {spec.fixture!r} (wheel {spec.id!r}) did not build with toolchain "
            f"{toolchain.name!r} and link {spec.link_label!r} {where}: {report.get('error')}",
            context=f"Last lines of the build log:\n  {log}",
            hint="fix the fixture's sources or pick another toolchain or link mode.",
        )


def _last_json(output: str) -> dict[str, Any]:
    for line in reversed(output.strip().splitlines()):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return {"ok": False, "error": "the build script printed no result", "log": output}


class HostBuilder:
    """Builds with this machine's compilers and the harness's own pip and setuptools.

    For another `arch` (a cross compiler such as zig's `-target {arch}-linux-gnu`), the wheel
    is tagged for that arch through `_PYTHON_HOST_PLATFORM`, as CPython's cross builds do.
    """

    def __init__(self, arch: str | None = None) -> None:
        self.arch = arch or platform.machine()

    @property
    def cross(self) -> bool:
        return self.arch != platform.machine()

    @property
    def name(self) -> str:
        return f"host (cross to {self.arch})" if self.cross else "host"

    def identity(self, toolchain: Toolchain) -> str:
        toolchain.require()
        return f"host:{toolchain.version()}" + (f":{self.arch}" if self.cross else "")

    def build(
        self, spec: WheelSpec, toolchain: Toolchain, modes: Sequence[LinkMode], out: Path
    ) -> tuple[Path, str]:
        toolchain.require()
        with tempfile.TemporaryDirectory(prefix="wheelclash-build-") as tmp:
            source = Path(tmp) / "src"
            shutil.copytree(
                spec.fixture_dir,
                source,
                ignore=shutil.ignore_patterns(*SKIPPED_PARTS, "*.egg-info"),
            )
            document = build_spec(
                spec,
                toolchain,
                modes,
                source=str(source),
                out=str(out),
                python=sys.executable,
                arch=self.arch,
                pyinit_map=str(paths.PYINIT_ONLY_MAP),
            )
            if self.cross:
                document["plat_name"] = f"linux-{self.arch}"
            spec_path = Path(tmp) / "spec.json"
            spec_path.write_text(json.dumps(document))
            command = [sys.executable, str(paths.BUILD_WHEEL), str(spec_path)]
            logger.info(
                "+ %s  # %s, %s, %s",
                " ".join(command),
                spec.fixture,
                toolchain.name,
                spec.link_label,
            )
            done = subprocess.run(command, capture_output=True, text=True, check=False)
        report = _last_json(done.stdout + done.stderr)
        _checked(report, spec, toolchain, "on the host")
        return Path(report["wheel"]), str(report["compiler"])


class ContainerBuilder:
    """Builds inside a builder image of one Debian suite and arch, with the network off."""

    def __init__(self, client: docker.DockerClient, suite: str, arch: str) -> None:
        self.client = client
        self.suite = suite
        self.arch = arch
        self._images: dict[str, images.ImageInfo] = {}

    @property
    def name(self) -> str:
        return f"debian:{self.suite}/{self.arch} builder"

    def recipe(self, toolchain: Toolchain) -> images.ImageRecipe:
        """The builder image's recipe: the suite's builder role plus the toolchain's packages."""
        base = set(image_catalogue.load_catalogue().packages("builder"))
        extras = tuple(sorted(p for p in toolchain.packages if p not in base))
        return images.recipe_for(self.suite, self.arch, "builder", extras)

    def image(self, toolchain: Toolchain) -> images.ImageInfo:
        """The builder image with the toolchain's packages (bootstrapped once, then cached)."""
        recipe = self.recipe(toolchain)
        if recipe.tag not in self._images:
            self._images[recipe.tag] = images.ensure_image(self.client, recipe)
        return self._images[recipe.tag]

    def identity(self, toolchain: Toolchain) -> str:
        return f"image:{self.image(toolchain).image_id}"

    def build(
        self, spec: WheelSpec, toolchain: Toolchain, modes: Sequence[LinkMode], out: Path
    ) -> tuple[Path, str]:
        image = self.image(toolchain)
        document = build_spec(
            spec,
            toolchain,
            modes,
            source=f"{BUILD_DIR}/src",
            out=f"{BUILD_DIR}/out",
            python="python3",
            arch=self.arch,
            pyinit_map=f"{BUILD_DIR}/pyinit-only.map",
        )
        files: dict[str, Path | bytes] = {
            f"{BUILD_DIR}/src/{p.relative_to(spec.fixture_dir)}": p
            for p in source_files(spec.fixture_dir)
        }
        files[f"{BUILD_DIR}/build_wheel.py"] = paths.BUILD_WHEEL
        files[f"{BUILD_DIR}/pyinit-only.map"] = paths.PYINIT_ONLY_MAP
        files[f"{BUILD_DIR}/spec.json"] = json.dumps(document).encode()
        folders = sorted({str(Path(name).parent) for name in files} | {f"{BUILD_DIR}/out"})
        user = BUILD_CONFINEMENT.user
        # The owner label lets the next run's janitor remove it if this process is killed.
        labels = {"org.wheelclash.role": "build", containers.LABEL_OWNER: containers.owner()}
        try:
            with containers.confined(self.client, image.image_id, BUILD_CONFINEMENT, labels) as box:
                with tarstream.owned(files, folders, user) as archive:
                    box.put_archive("/", archive)
                command = ["python3", f"{BUILD_DIR}/build_wheel.py", f"{BUILD_DIR}/spec.json"]
                _, output = containers.exec_text(box, command, user=user, workdir=BUILD_DIR)
                report = _last_json(output)
                _checked(report, spec, toolchain, f"in {self.name}")
                out.mkdir(parents=True, exist_ok=True)
                wheel = out / Path(str(report["wheel"])).name
                containers.fetch_file(box, str(report["wheel"]), wheel)
        except docker.errors.APIError as exc:
            raise InfrastructureError(f"the builder container failed: {exc}") from exc
        return wheel, str(report["compiler"])


@functools.cache
def engine_client() -> docker.DockerClient:
    """The default engine, for toolchains that always build in a suite's builder image."""
    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except docker.errors.DockerException as exc:
        raise ToolchainUnavailable(
            "this toolchain builds in a Debian builder image, which needs a Docker engine, and "
            "none answers.",
            context=str(exc),
            hint="start one, or pick a toolchain built on this machine "
            "(gcc, clang-libstdcxx, clang-libcxx, zig).",
        ) from exc
    return client


@functools.cache
def suite_builder(suite: str, arch: str) -> ContainerBuilder:
    images.check_emulation(arch)  # a runbook error now, not a failed build later
    return ContainerBuilder(engine_client(), suite, arch)


def builder_for(toolchain: Toolchain, native: Builder, arch: str) -> Builder:
    """Where this toolchain's wheels are built (see `build_in` in toolchains.toml)."""
    if toolchain.suite is not None:
        return suite_builder(toolchain.suite, arch)
    if toolchain.build_in == HOST:
        return HostBuilder(arch)
    return native
