"""The one tar writer of files put into containers (wheels to a remote engine, scripts,
batches, a build's sources): a valid archive of files read from disk as it goes and of bytes,
owned by one user, whose memory does not grow with the files."""

from __future__ import annotations

import io
import os
import tarfile
import tracemalloc
from pathlib import Path
from typing import IO, cast

import pytest
from requests.utils import super_len

from harness.errors import InfrastructureError
from harness.images.tarstream import CHUNK, Entry, TarStream, owned

LONG_NAME = "wheelhouse/" + "x" * 150 + "-1.0-py3-none-any.whl"


def members(stream: TarStream) -> dict[str, tuple[tarfile.TarInfo, bytes]]:
    """Every member as tarfile reads it back in stream mode, with the contents of files."""
    found: dict[str, tuple[tarfile.TarInfo, bytes]] = {}
    with tarfile.open(fileobj=cast(IO[bytes], stream), mode="r|") as archive:
        for info in archive:
            extracted = archive.extractfile(info) if info.isfile() else None
            found[info.name] = (info, extracted.read() if extracted else b"")
    return found


def test_the_stream_is_a_tar_that_reads_back_with_names_sizes_modes_and_owner(
    tmp_path: Path,
) -> None:
    odd = tmp_path / "odd.whl"
    odd.write_bytes(os.urandom(1000))  # not a multiple of 512: padded
    exact = tmp_path / "exact.py"
    exact.write_bytes(b"p" * 1024)
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    entries = [
        Entry(name="bin", mode=0o755),
        Entry(name="bin/probe.py", source=exact, mode=0o755),
        Entry(name="wheels/odd.whl", source=odd),
        Entry(name="/wheels/empty", source=empty, mode=0o600),
        Entry(name=LONG_NAME, source=odd),
    ]
    stream = TarStream(entries, "10000:10001")
    size = len(stream)
    found = members(stream)
    assert stream.tell() == size
    assert list(found) == ["bin", "bin/probe.py", "wheels/odd.whl", "wheels/empty", LONG_NAME]
    directory, _ = found["bin"]
    assert directory.isdir() and directory.mode == 0o755
    expected = {
        "bin/probe.py": (exact.read_bytes(), 0o755),
        "wheels/odd.whl": (odd.read_bytes(), 0o644),
        "wheels/empty": (b"", 0o600),
        LONG_NAME: (odd.read_bytes(), 0o644),
    }
    for name, (data, mode) in expected.items():
        info, content = found[name]
        assert (info.size, info.mode, content) == (len(data), mode, data), name
    assert {(info.uid, info.gid) for info, _ in found.values()} == {(10000, 10001)}


def test_an_entry_may_belong_to_another_user_than_the_archive() -> None:
    entries = [
        Entry(name="bin"),
        Entry(name="venv", user="1000:1000"),
        Entry(name="tmp", user="1000:1001"),
        Entry(name="bin/x", data=b"x"),
    ]
    found = members(TarStream(entries, "0:0"))
    owners = {name: (info.uid, info.gid) for name, (info, _) in found.items()}
    assert owners == {"bin": (0, 0), "venv": (1000, 1000), "tmp": (1000, 1001), "bin/x": (0, 0)}


def test_its_length_is_exact_and_requests_sizes_the_body_from_it(tmp_path: Path) -> None:
    wheel = tmp_path / "a.whl"
    wheel.write_bytes(os.urandom(3 * CHUNK + 7))
    stream = TarStream([Entry(name="wheels/a.whl", source=wheel)], "0:0")
    # requests sends a Content-Length then, not a chunked upload
    assert super_len(stream) == len(stream)  # type: ignore[no-untyped-call]
    chunks = list(stream)
    assert sum(len(c) for c in chunks) == len(stream)
    assert max(len(c) for c in chunks) == CHUNK
    assert stream.read(10) == b""
    whole = b"".join(chunks)
    with tarfile.open(fileobj=io.BytesIO(whole)) as archive:
        extracted = archive.extractfile("wheels/a.whl")
        assert extracted is not None and extracted.read() == wheel.read_bytes()


def test_reads_of_any_size_give_the_same_bytes(tmp_path: Path) -> None:
    wheel = tmp_path / "a.whl"
    wheel.write_bytes(os.urandom(5000))
    entries = [Entry(name="w", mode=0o755), Entry(name="w/a.whl", source=wheel)]
    whole = TarStream(entries, "1:1").read()
    stream = TarStream(entries, "1:1")
    pieces = []
    for size in [1, 511, 512, 513, 4096, 7, 100_000]:
        pieces.append(stream.read(size))
        assert len(pieces[-1]) <= size
    assert b"".join(pieces) + stream.read() == whole


def test_memory_does_not_grow_with_the_file(tmp_path: Path) -> None:
    """A 200 MB file goes through with a peak of a few chunks: it is never held whole."""
    big = tmp_path / "big.whl"
    with big.open("wb") as out:
        out.truncate(200 << 20)  # sparse: no disk used, but 200 MB to read
    stream = TarStream([Entry(name="wheels/big.whl", source=big)], "0:0")
    tracemalloc.start()
    try:
        sent = sum(len(chunk) for chunk in stream)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sent == len(stream) > 200 << 20
    assert peak < 4 * CHUNK, f"peak {peak} bytes while streaming a 200 MB file"


def test_a_file_that_shrinks_while_sent_is_an_infrastructure_error(tmp_path: Path) -> None:
    wheel = tmp_path / "a.whl"
    wheel.write_bytes(b"w" * 4096)
    stream = TarStream([Entry(name="a.whl", source=wheel)], "0:0")
    wheel.write_bytes(b"w" * 10)
    with pytest.raises(InfrastructureError, match=r"a\.whl shrank"):
        stream.read()


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(InfrastructureError, match=r"gone\.whl"):
        TarStream([Entry(name="gone.whl", source=tmp_path / "gone.whl")], "0:0")


def test_bytes_members_and_default_modes_sit_beside_files_from_disk(tmp_path: Path) -> None:
    script = tmp_path / "build_wheel.py"
    script.write_bytes(b"print('built')\n")
    entries = [
        Entry(name="/work"),  # a directory: 0755 unless told
        Entry(name="work/spec.json", data=b'{"a": 1}'),  # bytes: 0644 unless told
        Entry(name="work/run.sh", data=b"x" * 513, mode=0o700),
        Entry(name="work/build_wheel.py", source=script),
        Entry(name="work/empty.json", data=b""),
        Entry(name="work/locked", mode=0o700),
    ]
    stream = TarStream(entries, "0:0")
    size = len(stream)
    found = members(stream)
    assert stream.tell() == size
    assert list(found) == [
        "work",
        "work/spec.json",
        "work/run.sh",
        "work/build_wheel.py",
        "work/empty.json",
        "work/locked",
    ]
    kinds = {name: (info.isdir(), info.mode, data) for name, (info, data) in found.items()}
    assert kinds == {
        "work": (True, 0o755, b""),
        "work/spec.json": (False, 0o644, b'{"a": 1}'),
        "work/run.sh": (False, 0o700, b"x" * 513),
        "work/build_wheel.py": (False, 0o644, b"print('built')\n"),
        "work/empty.json": (False, 0o644, b""),
        "work/locked": (True, 0o700, b""),
    }


def test_owned_takes_paths_and_bytes_and_gives_them_all_to_one_user(tmp_path: Path) -> None:
    source = tmp_path / "probe.py"
    source.write_bytes(os.urandom(3000))
    files: dict[str, Path | bytes] = {"/opt/w/bin/probe.py": source, "/opt/w/batches/b.json": b"[]"}
    with owned(files, ["/opt/w", "/opt/w/bin", "/opt/w/batches"], "10000:10001") as stream:
        found = members(stream)
    assert list(found) == [
        "opt/w",
        "opt/w/bin",
        "opt/w/batches",
        "opt/w/bin/probe.py",
        "opt/w/batches/b.json",
    ]
    assert {(info.uid, info.gid) for info, _ in found.values()} == {(10000, 10001)}
    assert [info.mode for info, _ in found.values()] == [0o755] * 3 + [0o644] * 2
    assert found["opt/w/bin/probe.py"][1] == source.read_bytes()
    assert found["opt/w/batches/b.json"][1] == b"[]"
    assert found["opt/w"][0].isdir() and found["opt/w/bin/probe.py"][0].isfile()


def test_owned_streams_its_files_from_disk_with_flat_memory(tmp_path: Path) -> None:
    """The helper the builder and the backends use: a 200 MB file is not read whole either."""
    big = tmp_path / "big.whl"
    with big.open("wb") as out:
        out.truncate(200 << 20)
    tracemalloc.start()
    try:
        with owned({"w/big.whl": big, "w/spec.json": b"{}"}, ["w"], "1:1") as stream:
            sent = sum(len(chunk) for chunk in stream)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sent > 200 << 20
    assert peak < 4 * CHUNK, f"peak {peak} bytes while streaming a 200 MB file"


def test_an_entry_is_a_file_from_disk_or_bytes_never_both(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not both"):
        Entry(name="a", source=tmp_path / "a", data=b"a")
