"""The one tar writer of files put into containers: produced as it is read, never a whole
file on disk in memory.

`put_archive` sends whatever it is given as the HTTP request's body. A `TarStream` tells its
exact length up front (so the request carries a Content-Length) and hands out the archive a
block at a time: each member's header, then its bytes (read from disk as they are asked for,
or small ones made in memory: a batch, a spec), then the padding to the next 512-byte block.
A multi-gigabyte wheelhouse then reaches a remote engine with the controller holding one
block of it at a time. Every member belongs to the archive's user unless its entry names
another; a directory's mode is 0755 and a file's 0644 unless its entry says otherwise.
"""

from __future__ import annotations

import tarfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final, Self

from harness.errors import InfrastructureError

BLOCK: Final = tarfile.BLOCKSIZE  # 512: members and their data are padded to this
CHUNK: Final = 1 << 20  # what iterating a stream yields at a time
END: Final = bytes(2 * BLOCK)  # two zero blocks close an archive
DIRECTORY_MODE: Final = 0o755
FILE_MODE: Final = 0o644


@dataclass(frozen=True, kw_only=True)
class Entry:
    """One member: a file copied from `source` on disk, a file of the bytes `data`, or a
    directory when it has neither."""

    name: str  # its path in the archive, relative
    source: Path | None = None
    data: bytes | None = None
    mode: int | None = None  # None: DIRECTORY_MODE or FILE_MODE
    user: str | None = None  # "uid:gid"; None: the archive's

    def __post_init__(self) -> None:
        if self.source is not None and self.data is not None:
            raise ValueError(f"tar entry {self.name}: a file from disk or bytes, not both")

    @property
    def is_directory(self) -> bool:
        return self.source is None and self.data is None


@dataclass(frozen=True, kw_only=True)
class _Piece:
    """A run of the archive's bytes: literal ones (headers, padding) or a file's."""

    size: int
    data: bytes = b""
    source: Path | None = None


def _pieces(entries: Sequence[Entry], user: str) -> list[_Piece]:
    now = int(time.time())
    pieces: list[_Piece] = []
    for entry in entries:
        info = tarfile.TarInfo(entry.name.lstrip("/"))
        default = DIRECTORY_MODE if entry.is_directory else FILE_MODE
        info.mode = default if entry.mode is None else entry.mode
        info.uid, info.gid = (int(part) for part in (entry.user or user).split(":"))
        info.mtime = now
        if entry.is_directory:
            info.type = tarfile.DIRTYPE
        elif entry.data is not None:
            info.size = len(entry.data)
        else:
            assert entry.source is not None
            try:
                found = entry.source.stat()
            except OSError as exc:
                raise InfrastructureError(
                    f"cannot send {entry.source} into the container: {exc}"
                ) from exc
            info.size, info.mtime = found.st_size, int(found.st_mtime)
        header = info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
        pieces.append(_Piece(size=len(header), data=header))
        if info.size:
            if entry.data is not None:
                pieces.append(_Piece(size=info.size, data=entry.data))
            else:
                pieces.append(_Piece(size=info.size, source=entry.source))
            padding = -info.size % BLOCK
            if padding:
                pieces.append(_Piece(size=padding, data=bytes(padding)))
    pieces.append(_Piece(size=len(END), data=END))
    return pieces


def owned(files: Mapping[str, Path | bytes], directories: Sequence[str], user: str) -> TarStream:
    """The archive (for put_archive at /, or at a folder the names are relative to) of
    `directories` and `files`, each a file on disk or bytes, all belonging to `user`."""
    entries = [Entry(name=name) for name in directories]
    for name, content in files.items():
        if isinstance(content, Path):
            entries.append(Entry(name=name, source=content))
        else:
            entries.append(Entry(name=name, data=content))
    return TarStream(entries, user)


class TarStream:
    """The tar archive of `entries`, owned by `user` ("uid:gid"), read like a binary file.

    `len()` is the archive's exact size and `tell()` how much of it has been read, which is
    how `requests` sizes a request body; iterating yields it in `CHUNK`-sized pieces. At most
    one member's file is open at a time, and a read holds no more than it returns.
    """

    def __init__(self, entries: Sequence[Entry], user: str) -> None:
        self._pieces = _pieces(entries, user)
        self._total = sum(piece.size for piece in self._pieces)
        self._position = 0
        self._index = 0  # the piece being read
        self._offset = 0  # how far into it
        self._file: IO[bytes] | None = None

    def __len__(self) -> int:
        return self._total

    def tell(self) -> int:
        return self._position

    def read(self, size: int | None = -1) -> bytes:
        """Up to `size` bytes (the rest of the archive when negative); b'' at its end."""
        wanted = self._total - self._position if size is None or size < 0 else size
        out = bytearray()
        while len(out) < wanted and self._index < len(self._pieces):
            piece = self._pieces[self._index]
            take = min(wanted - len(out), piece.size - self._offset)
            if piece.source is None:
                out += piece.data[self._offset : self._offset + take]
            else:
                out += self._from_file(piece, take)
            self._offset += take
            self._position += take
            if self._offset == piece.size:
                self._next_piece()
        return bytes(out)

    def _from_file(self, piece: _Piece, take: int) -> bytes:
        assert piece.source is not None
        if self._file is None:
            try:
                self._file = piece.source.open("rb")
            except OSError as exc:
                raise InfrastructureError(
                    f"cannot send {piece.source} into the container: {exc}"
                ) from exc
        data = self._file.read(take)
        if len(data) != take:
            self.close()
            raise InfrastructureError(
                f"{piece.source} shrank while it was being sent into the container "
                f"(it had {piece.size} bytes)",
                hint="something changed the file during the run; run again.",
            )
        return data

    def _next_piece(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._index += 1
        self._offset = 0

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self.read(CHUNK):
            yield chunk

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
