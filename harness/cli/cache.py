"""List or prune what wheelclash keeps: its images (and their mirrors: images/mirrors.py),
the installed environments kept on the engine (cells/backends/environments.py), built wheels,
wheelhouses, venvs and the wheel scans that `explain` and attribution read
(analysis/scancache.py).

`cache list` shows each with its size and when it was last used; `cache prune` removes them
(all, or those unused for `--older-than`), the images through the engine, and with each image
its mirrors (and the mirrors of images that are gone). Only images and volumes that carry
wheelclash's labels are touched. The files live under $WHEELCLASH_CACHE, else
$XDG_CACHE_HOME/wheelclash or ~/.cache/wheelclash.
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import docker
import docker.errors

from harness import paths
from harness.analysis import scancache
from harness.build import wheelfacts
from harness.cells.backends import environments
from harness.cells.backends.docker import load_settings, mirror_paths
from harness.common import cachedir
from harness.errors import InputError
from harness.images import factcache, mirrors, pruning, rootcopy

SCHEMA_VERSION: Final = 1
UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
DURATION: Final = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_COLUMNS: Final = ("kind", "name", "size", "last used", "what")


@dataclass(frozen=True, kw_only=True)
class Row:
    kind: str  # image, mirror, environment, wheel, wheelhouse, venv, scan
    name: str
    size: int
    last_used: float
    what: str
    where: str

    def to_json(self) -> dict[str, object]:
        used = datetime.datetime.fromtimestamp(self.last_used, datetime.UTC)
        return {
            "kind": self.kind,
            "name": self.name,
            "size": self.size,
            "last_used": used.isoformat(timespec="seconds"),
            "what": self.what,
            "where": self.where,
        }


def configure_parser(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="cache_command", metavar="COMMAND", required=True)
    listing = commands.add_parser(
        "list", help="images, wheels, wheelhouses, venvs and wheel scans kept"
    )
    listing.add_argument("--json", action="store_true", help="print a JSON document instead")
    prune = commands.add_parser("prune", help="remove them (all, or those unused for a while)")
    prune.add_argument(
        "--older-than",
        metavar="AGE",
        help="only what was last used longer ago than AGE: a number and s, m, h, d or w (30d)",
    )
    prune.add_argument(
        "--keep-images", action="store_true", help="remove files only, never an image"
    )


def parse_age(text: str) -> float:
    """Seconds in `30d`, `12h`, `90m`, `2w`, `45s`."""
    found = DURATION.match(text.strip())
    if found is None:
        raise InputError(
            f"--older-than {text!r}: give a number and a unit (s, m, h, d or w), like 30d or 12h"
        )
    return float(found.group(1)) * UNITS[found.group(2)]


def _client() -> docker.DockerClient | None:
    try:
        client = docker.from_env(timeout=60)
        client.ping()
    except (docker.errors.DockerException, OSError) as exc:
        print(f"wheelclash: images not listed: no Docker engine answers ({exc})", file=sys.stderr)
        return None
    return client


def file_rows() -> list[Row]:
    return [
        Row(
            kind=str(entry.kind),
            name=entry.key,
            size=entry.size,
            last_used=entry.last_used,
            what=entry.what,
            where=str(entry.path),
        )
        for entry in cachedir.entries()
    ] + [
        Row(
            kind="scan",
            name=entry.sha256[:16],
            size=entry.size,
            last_used=entry.last_used,
            what="a wheel's static facts, by its sha256",
            where=str(entry.path),
        )
        for entry in scancache.stored()
    ]


def image_rows(images: list[pruning.ImageEntry]) -> list[Row]:
    return [
        Row(
            kind="image",
            name=image.tag,
            size=image.size,
            last_used=image.last_used,
            what=f"id {image.short_id}" + ("" if image.recorded else ", no use recorded"),
            where="engine",
        )
        for image in images
    ]


def volume_sizes(client: docker.DockerClient) -> dict[str, int]:
    """Each volume's size as the engine counts it (it walks them all: seconds for large ones)."""
    try:
        return {
            str(v.get("Name")): int((v.get("UsageData") or {}).get("Size") or 0)
            for v in client.df().get("Volumes") or []
        }
    except (docker.errors.DockerException, OSError):
        return {}


def mirror_rows(
    client: docker.DockerClient, images: list[pruning.ImageEntry], sizes: dict[str, int]
) -> list[Row]:
    """The mirror volumes, each dated by its image's last use (0 when the image is gone)."""
    used = {image.image_id: image.last_used for image in images}
    return [
        Row(
            kind="mirror",
            name=m.volume,
            size=max(0, sizes.get(m.volume, 0)),
            last_used=used.get(m.image_id, 0.0),
            what=f"{rootcopy.described(m.path)} of image {m.image_id.removeprefix('sha256:')[:12]}"
            + ("" if m.complete else ", never completed"),
            where="engine",
        )
        for m in mirrors.stored(client)
    ]


def environment_rows(client: docker.DockerClient, sizes: dict[str, int]) -> list[Row]:
    """The kept environments' volumes (cells/backends/environments.py), by their last use."""
    return [
        Row(
            kind="environment",
            name=e.volume,
            size=max(e.size, sizes.get(e.volume, 0)),
            last_used=e.last_used,
            what=f"{e.wheels or 'a wheel set'} installed, image "
            f"{e.image_id.removeprefix('sha256:')[:12]}"
            + ("" if e.complete else ", never completed"),
            where="engine",
        )
        for e in environments.stored(client)
    ]


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def human_when(moment: float, now: float) -> str:
    stamp = datetime.datetime.fromtimestamp(moment).strftime("%Y-%m-%d %H:%M")
    seconds = max(0.0, now - moment)
    if seconds >= 86400:
        ago = f"{seconds / 86400:.0f} d"
    elif seconds >= 3600:
        ago = f"{seconds / 3600:.0f} h"
    else:
        ago = f"{seconds / 60:.0f} min"
    return f"{stamp} ({ago} ago)"


def execute(args: argparse.Namespace) -> int:
    match args.cache_command:
        case "list":
            return _list(as_json=args.json)
        case "prune":
            age = parse_age(args.older_than) if args.older_than else None
            return _prune(age, keep_images=args.keep_images)
        case other:
            raise AssertionError(f"unhandled cache command {other!r}")


def _list(*, as_json: bool) -> int:
    client = _client()
    volumes: list[Row] = []
    try:
        images = pruning.entries(client) if client is not None else []
        if client is not None:
            sizes = volume_sizes(client)
            volumes = mirror_rows(client, images, sizes) + environment_rows(client, sizes)
    finally:
        if client is not None:
            client.close()
    rows = image_rows(images) + volumes + file_rows()
    if as_json:
        document = {
            "schema_version": SCHEMA_VERSION,
            "cache_dir": str(paths.cache_dir()),
            "engine": client is not None,
            "entries": [row.to_json() for row in rows],
        }
        print(json.dumps(document, indent=2))
        return 0
    now = time.time()
    table = [
        (row.kind, row.name, human_size(row.size), human_when(row.last_used, now), row.what)
        for row in rows
    ]
    if table:
        widths = [max(len(line[i]) for line in [_COLUMNS, *table]) for i in range(4)]
        for line in [_COLUMNS, *table]:
            cells = [cell.ljust(width) for cell, width in zip(line[:4], widths, strict=True)]
            print("  ".join([*cells, line[4]]).rstrip())
    total = sum(row.size for row in rows)
    print(f"{len(rows)} entries, {human_size(total)}; the files are under {paths.cache_dir()}")
    return 0


def _removal(kind: str, name: str, problem: str, what: str) -> bool:
    """Say what became of one volume; whether it was removed."""
    if problem:
        print(f"kept {kind} {name}: {problem}")
        return False
    print(f"removed {kind} {name} ({what})")
    return True


def _prune_mirrors(client: docker.DockerClient, images: set[str]) -> tuple[int, int, int]:
    """A mirror goes with its image: the complete ones of `images` (those still on the
    engine) stay (an incomplete one is never used), unless the settings no longer use its
    path (a root copy made with other mount points). (Removed, kept, bytes freed.)"""
    used = mirror_paths(load_settings())
    removed = kept = 0
    for mirror in mirrors.stored(client):
        if mirror.image_id in images and mirror.complete and mirror.path in used:
            continue
        problem = mirrors.remove(client, mirror.volume)
        if _removal("mirror", mirror.volume, problem, rootcopy.described(mirror.path)):
            removed += 1
        else:
            kept += 1
    return removed, kept, 0


def _prune_environments(
    client: docker.DockerClient, images: set[str], due: Callable[[float], bool]
) -> tuple[int, int, int]:
    """An environment goes when due, or with its image (one never completed and used lately
    may be filling now). (Removed, kept, bytes freed.)"""
    removed = kept = freed = 0
    for environment in environments.stored(client):
        if environment.image_id in images and not due(environment.last_used):
            continue
        problem = environments.remove(client, environment.volume)
        if _removal("environment", environment.volume, problem, human_size(environment.size)):
            removed += 1
            freed += environment.size
        else:
            kept += 1
    return removed, kept, freed


def _prune(age: float | None, *, keep_images: bool) -> int:
    cutoff = time.time() - age if age is not None else None

    def due(last_used: float) -> bool:
        return cutoff is None or last_used < cutoff

    removed = kept = freed = 0
    code = 0
    if not keep_images:
        client = _client()
        if client is None:
            code = 3
        else:
            try:
                for image in pruning.entries(client):
                    if not due(image.last_used):
                        continue
                    problem = pruning.remove(client, image)
                    if not _removal("image", image.tag, problem, human_size(image.size)):
                        kept += 1
                        continue
                    removed += 1
                    freed += image.size
                kept_images = {str(image.id) for image in client.images.list()}
                factcache.forget_others(kept_images)
                for gone, stayed, size in (
                    _prune_mirrors(client, kept_images),
                    _prune_environments(client, kept_images, due),
                ):
                    removed, kept, freed = removed + gone, kept + stayed, freed + size
            finally:
                client.close()
    for entry in cachedir.entries():
        if not due(entry.last_used):
            continue
        if not cachedir.remove(entry):
            print(f"kept {entry.kind} {entry.key}: another wheelclash process is using it")
            kept += 1
            continue
        print(f"removed {entry.kind} {entry.key} ({human_size(entry.size)})")
        removed += 1
        freed += entry.size
    scans = scan_bytes = 0
    for scan in scancache.stored():
        if not due(scan.last_used):
            continue
        if not scancache.remove(scan):
            print(f"kept scan {scan.sha256[:16]}: it could not be removed")
            kept += 1
            continue
        scans += 1
        scan_bytes += scan.size
    if scans:
        print(f"removed {scans} wheel scan(s) ({human_size(scan_bytes)})")
    facts = 0
    for path, last_use in wheelfacts.stored():
        if due(last_use):
            path.unlink(missing_ok=True)
            facts += 1
    if facts:
        print(f"removed the kept imports and compilers of {facts} wheel(s)")
    removed += scans
    freed += scan_bytes
    print(f"removed {removed}, kept {kept} in use; freed {human_size(freed)}")
    return code
