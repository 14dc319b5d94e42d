"""List the C++ toolchains and link modes: where each builds, and whether it is ready."""

from __future__ import annotations

import argparse
import json
import platform
from dataclasses import dataclass

import docker
import docker.errors

from harness.build.builders import ContainerBuilder
from harness.build.toolchains import Toolchain, load_catalogue
from harness.common import cachedir
from harness.common.cachedir import Kind
from harness.images import provision as images


@dataclass(frozen=True, kw_only=True)
class Row:
    name: str
    runtime: str
    compiler: str
    built_in: str
    ready: bool
    state: str


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--arch", default=platform.machine(), help="arch of the builder images")


def _engine() -> docker.DockerClient | None:
    try:
        client = docker.from_env(timeout=30)
        client.ping()
    except docker.errors.DockerException:
        return None
    return client


def row(toolchain: Toolchain, client: docker.DockerClient | None, arch: str) -> Row:
    base = {"name": toolchain.name, "runtime": str(toolchain.runtime), "compiler": toolchain.cxx}
    if toolchain.suite is None:
        version = toolchain.version()
        how = " ".join(toolchain.packages) or "./bootstrap"
        state = version or f"missing here: install {how}"
        where = "this machine" if toolchain.build_in == "host" else "native"
        return Row(**base, built_in=where, ready=bool(version), state=state)
    where = f"debian:{toolchain.suite} builder"
    if client is None:
        return Row(**base, built_in=where, ready=False, state="needs a Docker engine")
    recipe = ContainerBuilder(client, toolchain.suite, arch).recipe(toolchain)
    found = images.find_image(client, recipe)
    if found is None:
        state = f"image {recipe.tag} is bootstrapped on first use (about 40 s)"
        return Row(**base, built_in=where, ready=False, state=state)
    seen = built_with(toolchain.name, f"image:{found.image_id}")
    state = f"{seen} (image {found.short_id})" if seen else f"image {found.short_id} ready"
    return Row(**base, built_in=where, ready=True, state=state)


def built_with(toolchain: str, builder_id: str) -> str:
    """The compiler version a cached wheel recorded for this toolchain and builder, or ''."""
    for meta in sorted(cachedir.folder(Kind.WHEEL).glob(f"*/{cachedir.MARKERS[Kind.WHEEL]}")):
        try:
            data = json.loads(meta.read_text())
        except (OSError, ValueError):
            continue
        if data.get("toolchain") == toolchain and data.get("builder_id") == builder_id:
            return str(data.get("compiler", ""))
    return ""


def execute(args: argparse.Namespace) -> int:
    catalogue = load_catalogue()
    client = _engine()
    rows = [row(t, client, args.arch) for t in catalogue.toolchains.values()]
    if client is not None:
        client.close()
    if args.json:
        links = {m.name: m.description for m in catalogue.link_modes.values()}
        document = {"toolchains": [r.__dict__ for r in rows], "link_modes": links}
        print(json.dumps(document, indent=2))
        return 0
    widths = [max(len(getattr(r, f)) for r in rows) for f in ("name", "runtime", "built_in")]
    for r in rows:
        mark = "ready  " if r.ready else "not yet"
        cells = (r.name.ljust(widths[0]), r.runtime.ljust(widths[1]), r.built_in.ljust(widths[2]))
        print(f"{'  '.join(cells)}  {mark}  {r.state}")
    print("\nnative: this machine for the local backend, the target's suite for docker.")
    print("\nlink modes:")
    for mode in catalogue.link_modes.values():
        print(f"  {mode.name:<24} {mode.description}")
    return 0
