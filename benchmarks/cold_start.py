"""Cold start: the README's main command with no images and no caches, prepared one step at a
time against several at a time, both measured in this one run.

    .venv/bin/python benchmarks/cold_start.py [--first parallel|sequential] [--jobs N]
                                              [--scenario scenarios/call-once.toml]

Each way runs `wheelclash run SCENARIO` as a subprocess with its own throwaway image
repository (WHEELCLASH_IMAGE_REPOSITORY) and its own empty cache folder (WHEELCLASH_CACHE), so
it bootstraps every builder and target image and builds every wheel; the developer's own
images are neither used nor touched. `sequential` sets WHEELCLASH_PREPARE_JOBS=1; `parallel`
leaves the bound to the harness (or sets --jobs). Afterwards the images tagged under each
throwaway repository are removed, also on Ctrl-C.

Order: mmdebstrap keeps no download cache between bootstraps (each one fetches its packages
from the mirror again), but the mirror, a proxy on the way or the page cache may be warmer for
the second way. The default runs `parallel` first, so any such warmth favours `sequential` and
the ratio printed is, if anything, too small; `--first sequential` gives the other order.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import docker
import docker.errors

ROOT: Final = Path(__file__).resolve().parent.parent
WHEELCLASH: Final = Path(sys.executable).parent / "wheelclash"
MAIN: Final = ROOT / "scenarios" / "call-once.toml"
LABEL_HASH: Final = "org.wheelclash.recipe-hash"


@dataclass(frozen=True, kw_only=True)
class Timing:
    way: str
    seconds: float
    returncode: int
    images: int  # images the run made under its throwaway repository
    log: Path


def repository_images(client: docker.DockerClient, repository: str) -> list[str]:
    """Ids of the images that carry a tag under `repository`."""
    found = client.images.list(filters={"label": LABEL_HASH})
    return [str(i.id) for i in found if any(t.startswith(repository + "/") for t in i.tags)]


def remove_repository(client: docker.DockerClient, repository: str) -> int:
    removed = 0
    for image_id in repository_images(client, repository):
        try:
            client.images.remove(image_id, force=True)
            removed += 1
        except docker.errors.ImageNotFound:
            pass
    return removed


def run_cold(
    client: docker.DockerClient, way: str, jobs: str | None, scenario: Path, scratch: Path
) -> Timing:
    repository = f"wheelclash-cold-{os.getpid()}-{way}"
    if repository_images(client, repository):
        raise SystemExit(f"{repository} already has images; remove them first")
    env = {
        **os.environ,
        "WHEELCLASH_IMAGE_REPOSITORY": repository,
        "WHEELCLASH_CACHE": str(scratch / f"cache-{way}"),
    }
    env.pop("WHEELCLASH_PREPARE_JOBS", None)
    if jobs is not None:
        env["WHEELCLASH_PREPARE_JOBS"] = jobs
    log = scratch / f"{way}.log"
    command = [str(WHEELCLASH), "run", str(scenario), "--results", str(scratch / f"results-{way}")]
    print(f"{way}: {' '.join(command)}  (repository {repository}, log {log})", flush=True)
    try:
        started = time.monotonic()
        with log.open("w") as out:
            done = subprocess.run(command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        seconds = time.monotonic() - started
        made = len(repository_images(client, repository))
    finally:
        removed = remove_repository(client, repository)
        print(f"{way}: removed {removed} throwaway image(s)", flush=True)
    timing = Timing(way=way, seconds=seconds, returncode=done.returncode, images=made, log=log)
    print(
        f"{way}: {timing.seconds:.1f} s, exit {timing.returncode}, {timing.images} image(s) made",
        flush=True,
    )
    if done.returncode != 0:
        print("".join(log.read_text().splitlines(keepends=True)[-20:]), file=sys.stderr)
    return timing


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--first", choices=["parallel", "sequential"], default="parallel")
    parser.add_argument(
        "--jobs", help="WHEELCLASH_PREPARE_JOBS of the parallel way (default: auto)"
    )
    parser.add_argument("--scenario", type=Path, default=MAIN)
    args = parser.parse_args()
    ways = {"sequential": "1", "parallel": args.jobs}
    order = [args.first, *(w for w in ways if w != args.first)]
    client = docker.from_env(timeout=600)
    print(
        f"cores {len(os.sched_getaffinity(0))}, load {os.getloadavg()[0]:.2f}, order {order}",
        flush=True,
    )
    timings: dict[str, Timing] = {}
    with tempfile.TemporaryDirectory(prefix="wheelclash-cold-") as tmp:
        for way in order:
            timings[way] = run_cold(client, way, ways[way], args.scenario, Path(tmp))
    print()
    print("| way | wall time | exit | images made |")
    print("|---|---|---|---|")
    for way in order:
        t = timings[way]
        minutes, seconds = divmod(t.seconds, 60)
        print(f"| {way} | {int(minutes)} min {seconds:.0f} s | {t.returncode} | {t.images} |")
    ratio = timings["sequential"].seconds / timings["parallel"].seconds
    print(f"\nsequential / parallel: {ratio:.2f}x  (load now {os.getloadavg()[0]:.2f})")
    return 0 if all(t.returncode == 0 for t in timings.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
