"""`wheelclash cache list` and `prune` against the real engine and a temporary cache dir.

The images pruned here are throw-away images this test makes, labelled like wheelclash's and
dated 2001; the real images other tests use are newer than any age given here, and the test
checks that they are all still there afterwards.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import docker
import pytest

from harness.cells.backends import environments
from harness.cli import main
from harness.common.locking import file_lock
from harness.images import mirrors, provision
from harness.images.rootfs import load_rootfs
from tests.integration.conftest import REPO

pytestmark = [pytest.mark.docker, pytest.mark.integration]

DAY = 86400.0
OLD_IMAGE_DATE = "2001-01-01T00:00:00Z"


def entry(
    root: Path, kind: str, key: str, marker: str, files: dict[str, int], age_days: float
) -> Path:
    """A cache entry folder with files of the given sizes, last used `age_days` ago."""
    folder = root / f"{kind}s" / key
    folder.mkdir(parents=True)
    for name, size in files.items():
        (folder / name).write_bytes(b"w" * size)
    (folder / marker).write_text("{}\n")
    when = time.time() - age_days * DAY
    os.utime(folder / marker, (when, when))
    return folder


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("WHEELCLASH_CACHE", str(root))
    entry(root, "wheel", "old-wheel", "wheel.json", {"old-1.0-py3-none-any.whl": 5000}, 40)
    entry(root, "wheel", "new-wheel", "wheel.json", {"new-1.0-py3-none-any.whl": 3000}, 0)
    entry(root, "wheelhouse", "old-house", "wheelhouse.json", {"a.whl": 100, "b.whl": 100}, 40)
    venv = entry(root, "venv", "new-venv", ".wheelclash-ready", {}, 1)
    (venv / "bin").mkdir()
    (venv / "bin" / "python").symlink_to(sys.executable)  # a venv's link, never followed
    for sha, age_days in (("0" * 64, 40), ("1" * 64, 0)):  # wheel scans (analysis/scancache)
        scan = root / "scans" / f"{sha}.json.gz"
        scan.parent.mkdir(exist_ok=True)
        scan.write_bytes(b"s" * 2000)
        when = time.time() - age_days * DAY
        os.utime(scan, (when, when))
    (root / "scans" / f".{'2' * 64}.json.gz.7.partial").write_bytes(b"being written")
    for sha, age_days in (("3" * 64, 40), ("4" * 64, 0)):  # a wheel's facts (build/wheelfacts)
        facts = root / "wheel-facts" / f"{sha}-{'0' * 16}.json"
        facts.parent.mkdir(exist_ok=True)
        facts.write_text('{"imports": ["a"], "elf_comment": ""}')
        when = time.time() - age_days * DAY
        os.utime(facts, (when, when))
    return root


def throwaway_image(client: docker.DockerClient, tmp_path: Path, name: str, mark: str) -> str:
    """A one-file image carrying wheelclash's recipe label, created in 2001."""
    rootfs = tmp_path / f"{name}.tar"
    with tarfile.open(rootfs, "w") as archive:
        data = b"a throw-away image of the cache tests\n"
        info = tarfile.TarInfo("README")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    tag = f"wheelclash-test/cache-{name}:{mark}"
    labels = {provision.LABEL_HASH: f"cache-test-{name}-{mark}", "org.wheelclash.test": mark}
    load_rootfs(
        client,
        rootfs,
        tag=tag,
        oci_arch="amd64",
        labels=labels,
        env=(),
        cmd=("/x",),
        created=OLD_IMAGE_DATE,
    )
    return tag


def left(cache: Path) -> list[str]:
    """The keys of the entries still in the cache, and the scans' file names."""
    kinds = ("wheels", "wheelhouses", "venvs", "scans", "wheel-facts")
    return sorted(p.name for kind in kinds for p in (cache / kind).iterdir())


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(list(args))
    return code, capsys.readouterr().out


def labelled(client: docker.DockerClient) -> set[str]:
    return {str(i.id) for i in client.images.list(filters={"label": provision.LABEL_HASH})}


def test_list_then_prune_by_age(
    cache: Path, tmp_path: Path, client: docker.DockerClient, capsys: pytest.CaptureFixture[str]
) -> None:
    mark = secrets.token_hex(6)
    real = labelled(client)
    unused = throwaway_image(client, tmp_path, "unused", mark)
    used = throwaway_image(client, tmp_path, "used", mark)
    # each with a mirror, as a slow storage driver gets them (images/mirrors.py), of a folder
    # docker.toml mirrors
    (unused_mirror,), (used_mirror,) = (
        mirrors.ensure(client, str(client.images.get(tag).id), ["/usr/lib"])
        for tag in (unused, used)
    )
    # and one of a folder the settings no longer mirror
    (stale,) = mirrors.ensure(client, str(client.images.get(used).id), ["/data"])
    # and one whose fill was killed: no flag
    used_id = str(client.images.get(used).id)
    killed = mirrors.volume_name(used_id, "/killed")
    client.volumes.create(killed, labels={mirrors.LABEL_MIRROR: used_id, mirrors.LABEL_PATH: "/k"})
    # an installed environment kept for each (cells/backends/environments.py)
    kept = []
    for tag in (unused, used):
        image_id = str(client.images.get(tag).id)
        key = environments.key(image_id, [mark], [], venv="/v", owner="1:1")
        with environments.claimed(client, key, image_id, f"{tag}-1.0-py3-none-any.whl") as claim:
            environments.complete(client, claim, 7000)
        kept.append(claim.volume)
    try:
        provision.inspect_reference(client, used)  # a run resolving it: its use is recorded
        code, out = run(capsys, "cache", "list", "--json")
        assert code == 0
        document = json.loads(out)
        assert document["cache_dir"] == str(cache) and document["engine"] is True
        rows = {(r["kind"], r["name"]): r for r in document["entries"]}
        assert rows[("image", unused)]["last_used"].startswith("2001-01-01")
        assert rows[("mirror", unused_mirror.volume)]["last_used"].startswith("2001-01-01")
        assert rows[("mirror", used_mirror.volume)]["what"].startswith("/usr/lib of image ")
        assert rows[("mirror", killed)]["what"].endswith(", never completed")
        assert rows[("environment", kept[0])]["what"].startswith(
            f"{unused}-1.0-py3-none-any.whl installed, image "
        )
        assert rows[("environment", kept[1])]["size"] > 0
        assert rows[("image", used)]["last_used"][:10] == time.strftime("%Y-%m-%d", time.gmtime())
        assert rows[("wheel", "old-wheel")]["what"] == "old-1.0-py3-none-any.whl"
        assert rows[("wheel", "old-wheel")]["size"] >= 5000
        assert rows[("wheelhouse", "old-house")]["what"] == "2 wheel(s)"
        assert rows[("venv", "new-venv")]["size"] < 64 * 1024  # the link is not followed
        assert rows[("scan", "0" * 16)]["last_used"][:10] < time.strftime("%Y-%m-%d")
        assert rows[("scan", "1" * 16)]["size"] >= 2000
        assert not any(r["kind"] == "scan" and r["name"] == "2" * 16 for r in rows.values())
        code, out = run(capsys, "cache", "list")
        assert code == 0 and "old-1.0-py3-none-any.whl" in out and unused in out

        # Files only: the old wheel and wheelhouse go, the recent ones and every image stay.
        code, out = run(capsys, "cache", "prune", "--older-than", "30d", "--keep-images")
        assert code == 0, out
        assert "removed 1 wheel scan(s)" in out
        assert "removed the kept imports and compilers of 1 wheel(s)" in out
        partial = f".{'2' * 64}.json.gz.7.partial"
        recent = f"{'4' * 64}-{'0' * 16}.json"
        assert left(cache) == [partial, "1" * 64 + ".json.gz", recent, "new-venv", "new-wheel"]
        assert {unused, used} <= {t for i in client.images.list() for t in i.tags}

        # Images too, unused for ten years: only the throw-away image dated 2001 goes.
        code, out = run(capsys, "cache", "prune", "--older-than", "3650d")
        assert code == 0, out
        assert f"removed image {unused}" in out
        tags = {t for i in client.images.list() for t in i.tags}
        assert unused not in tags and used in tags
        assert real <= labelled(client), "a real image was pruned"
        # the removed image's mirror went with it, and the one never completed, and the one
        # the settings no longer use; the kept image's current one stayed
        assert f"removed mirror {unused_mirror.volume} (/usr/lib)" in out
        assert f"removed mirror {stale.volume} (/data)" in out
        volumes = {v.name for v in client.volumes.list(filters={"label": mirrors.LABEL_MIRROR})}
        assert used_mirror.volume in volumes and unused_mirror.volume not in volumes
        assert killed not in volumes and stale.volume not in volumes
        # the removed image's environment went too; the kept one's, used lately, stayed
        assert f"removed environment {kept[0]}" in out and kept[1] not in out
        volumes = {v.name for v in client.volumes.list(filters={"label": environments.LABEL_KEY})}
        assert kept[1] in volumes and kept[0] not in volumes
    finally:
        provision.remove_images(client, [unused, used])
        for volume in (unused_mirror.volume, used_mirror.volume, killed, stale.volume):
            mirrors.remove(client, volume)
        for volume in kept:
            environments.remove(client, volume)


def test_prune_skips_an_entry_another_process_holds(
    cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with file_lock("wheel-new-wheel"):
        code, out = run(capsys, "cache", "prune", "--keep-images")
    assert code == 0
    assert "kept wheel new-wheel: another wheelclash process is using it" in out
    assert left(cache) == [f".{'2' * 64}.json.gz.7.partial", "new-wheel"]


def test_a_bad_age_is_an_input_error(cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cache", "prune", "--older-than", "a month"]) == 2
    assert "like 30d or 12h" in capsys.readouterr().err
    assert len(left(cache)) == 9


def test_listing_reads_no_file(cache: Path) -> None:
    """An 8 GiB (sparse) file in the cache: the listing walks it, so memory stays flat."""
    with (cache / "wheels" / "new-wheel" / "huge.bin").open("wb") as handle:
        handle.truncate(8 * 2**30)
    probe = (
        "import resource, subprocess, sys\n"
        "done = subprocess.run([sys.executable, '-m', 'harness.cli', 'cache', 'list', '--json'],"
        " capture_output=True, text=True)\n"
        "print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, timeout=300
    )
    code, peak_kib = (int(word) for word in done.stdout.split())
    assert code == 0, done.stderr
    assert peak_kib < 300 * 1024, f"cache list peaked at {peak_kib} KiB"
