"""`wheelclash images`: list the images wheelclash made, and build target or builder images."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from typing import Final

import docker
import docker.errors

from harness.cli import options, progress_view
from harness.errors import InfrastructureError
from harness.images import catalogue as image_catalogue
from harness.images import provision as images

SCHEMA_VERSION: Final = 1
_COLUMNS: Final = ("tag", "suite", "arch", "role", "glibc", "libstdc++", "python", "created", "id")


def configure_parser(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="images_command", metavar="COMMAND", required=True)
    listing = commands.add_parser("list", help="list the images that carry wheelclash's labels")
    listing.add_argument("--json", action="store_true", help="print a JSON list instead")
    build = commands.add_parser(
        "build",
        help="bootstrap Debian images (debian:<suite>) and load them into the engine",
        description="Build each TARGET unless an image with the same recipe exists. "
        "TARGET is debian:<suite>, a Dockerfile path or an image reference.",
    )
    build.add_argument("targets", nargs="+", metavar="TARGET", help="e.g. debian:bookworm")
    catalogue = image_catalogue.load_catalogue()
    build.add_argument(
        "--arch",
        default=image_catalogue.host_arch(),
        choices=sorted(catalogue.platforms),
        help="the arch to build for (default: this host's, %(default)s)",
    )
    build.add_argument(
        "--role",
        default="target",
        choices=sorted(catalogue.roles),
        help="target: python3, venv, pip, gdb; builder: also g++ and python3-dev",
    )
    options.add_progress(build)


def execute(args: argparse.Namespace) -> int:
    client = _client()
    match args.images_command:
        case "list":
            return _list(client, as_json=args.json)
        case "build":
            with progress_view.shown(options.progress_mode(args)):
                return _build(client, args.targets, arch=args.arch, role=args.role)
        case other:
            raise AssertionError(f"unhandled images command {other!r}")


def _client() -> docker.DockerClient:
    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as exc:
        raise InfrastructureError(
            "no container engine answers.",
            context=str(exc),
            hint="start Docker, or point DOCKER_HOST at a running engine.",
        ) from exc
    return client


def _list(client: docker.DockerClient, *, as_json: bool) -> int:
    found = images.list_images(client)
    if as_json:
        rows = [{"schema_version": SCHEMA_VERSION, **info.to_json()} for info in found]
        print(json.dumps(rows, indent=2))
        return 0
    table = [
        (
            info.tag,
            info.suite or "-",
            info.arch + (" (emulated)" if info.emulated else ""),
            info.role,
            info.glibc or "?",
            info.libstdcxx or "?",
            info.python or "?",
            (info.created or "-")[:19].replace("T", " "),
            info.short_id,
        )
        for info in found
    ]
    if not table:
        print("no wheelclash images; build some with `wheelclash images build debian:bookworm`")
        return 0
    widths = [max(len(row[i]) for row in [_COLUMNS, *table]) for i in range(len(_COLUMNS))]
    for row in [_COLUMNS, *table]:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    return 0


def _build(client: docker.DockerClient, targets: Sequence[str], *, arch: str, role: str) -> int:
    total = time.monotonic()
    for number, target in enumerate(targets, start=1):
        print(f"[{number}/{len(targets)}] {target} ({arch}, {role}) ...", flush=True)
        started = time.monotonic()
        before = images.bootstrap_count()
        info = images.resolve_target(client, target, arch=arch, role=role)
        how = "built" if images.bootstrap_count() > before else "up to date"
        print(
            f"[{number}/{len(targets)}] {info.tag} {how} in {time.monotonic() - started:.1f} s: "
            f"glibc {info.glibc or '?'}, libstdc++ {info.libstdcxx or '?'}, "
            f"python {info.python or '?'}, id {info.short_id}",
            flush=True,
        )
    print(f"{len(targets)} image(s) ready in {time.monotonic() - total:.1f} s")
    return 0
