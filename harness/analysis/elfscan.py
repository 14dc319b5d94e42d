"""ELF facts of a wheel's shared objects, read with pyelftools.

pyelftools finds the headers, sections, segments and dynamic tags. Symbol and relocation
tables are the part it is slow on: it parses each entry with construct, and a big library has
hundreds of thousands. `_exported` and `_relocated` read such a table's bytes once and unpack
its fixed-size entries with `struct`, in the class and byte order pyelftools reports, naming
values with pyelftools' own enums. A wheel's members are streamed to a temporary file and
parsed from there, so no member is ever held in memory whole.
"""

from __future__ import annotations

import array
import dataclasses
import operator
import shutil
import struct
import tempfile
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final

from elftools.common.exceptions import ELFError
from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile
from elftools.elf.enums import ENUM_ST_INFO_BIND, ENUM_ST_INFO_TYPE, ENUM_ST_VISIBILITY
from elftools.elf.relocation import RelocationSection

from harness.errors import InputError

DF_STATIC_TLS: Final = 0x10
STB_GNU_UNIQUE: Final = "STB_LOOS"  # binding 10; pyelftools names it by the range it opens
EXPORTED_BINDS: Final = ("STB_GLOBAL", "STB_WEAK", STB_GNU_UNIQUE)
VISIBLE: Final = ("STV_DEFAULT", "STV_PROTECTED")
RELOCATION_SECTIONS: Final = (".rela.dyn", ".rela.plt", ".rel.dyn", ".rel.plt")
ELF_MAGIC: Final = b"\x7fELF"
CHUNK: Final = 1 << 20  # bytes per read when a member is copied out of its archive
WINDOW: Final = 1 << 20  # bytes of a string table read at once (more for a longer name)
MACHINES: Final = {
    "EM_X86_64": "x86_64",
    "EM_AARCH64": "aarch64",
    "EM_386": "i686",
    "EM_PPC64": "ppc64le",
    "EM_S390": "s390x",
}


def _names(enum: Mapping[str, Any]) -> dict[int, str]:
    """pyelftools' name of each value of one of its enums."""
    return {value: name for name, value in enum.items() if isinstance(value, int)}


BINDS: Final = _names(ENUM_ST_INFO_BIND)
TYPES: Final = _names(ENUM_ST_INFO_TYPE)
EXPORTED_CODES: Final = frozenset(v for v, name in BINDS.items() if name in EXPORTED_BINDS)
VISIBLE_CODES: Final = frozenset(
    v for v, name in _names(ENUM_ST_VISIBILITY).items() if name in VISIBLE
)
# Elf32_Sym: st_name, st_value, st_size, st_info, st_other, st_shndx;
# Elf64_Sym: st_name, st_info, st_other, st_shndx, st_value, st_size.
SYM_LAYOUT: Final = {32: ("IIIBBH", (0, 3, 4, 5, 2)), 64: ("IBBHQQ", (0, 1, 2, 3, 5))}
# Elf32_Rel(a), Elf64_Rel(a): r_offset then r_info (then r_addend); the symbol's index is
# r_info >> 8 (32-bit) or r_info >> 32 (64-bit).
REL_LAYOUT: Final = {32: ("II", 8), 64: ("QQ", 32)}


@dataclass(frozen=True, kw_only=True, slots=True)  # slots: a big library has 10⁵ of them
class Exported:
    name: str
    bind: str
    kind: str  # STT_FUNC, STT_OBJECT, STT_TLS, ...
    size: int

    @property
    def unique(self) -> bool:
        return self.bind == STB_GNU_UNIQUE


@dataclass(frozen=True, kw_only=True)
class ElfFacts:
    """One shared object: what it exports, needs, binds and carries."""

    path: str  # inside the wheel
    soname: str = ""
    needed: tuple[str, ...] = ()
    rpath: str = ""
    runpath: str = ""
    static_tls: bool = False
    tls_size: int = 0
    exported: tuple[Exported, ...] = ()
    relocated: frozenset[str] = field(default_factory=frozenset)
    comment: tuple[str, ...] = ()
    arch: str = ""

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


def _dynamic(sections: list[Any]) -> dict[str, Any]:
    tags: dict[str, Any] = {"DT_NEEDED": []}
    for section in sections:
        if not isinstance(section, DynamicSection):
            continue
        for tag in section.iter_tags():
            match tag.entry.d_tag:
                case "DT_NEEDED":
                    tags["DT_NEEDED"].append(str(vars(tag)["needed"]))
                case "DT_SONAME":
                    tags["DT_SONAME"] = str(vars(tag)["soname"])
                case "DT_RPATH":
                    tags["DT_RPATH"] = str(vars(tag)["rpath"])
                case "DT_RUNPATH":
                    tags["DT_RUNPATH"] = str(vars(tag)["runpath"])
                case "DT_FLAGS":
                    tags["DT_FLAGS"] = int(tag.entry.d_val)
                case _:
                    pass
    return tags


def _order(elf: Any) -> str:
    return "<" if elf.little_endian else ">"


def _string(table: bytes, offset: int) -> str:
    """The NUL-terminated name at `offset` of a string table, decoded as pyelftools does."""
    end = table.find(b"\0", offset)
    raw = table[offset:] if end < 0 else table[offset:end]
    return raw.decode("utf-8", errors="replace")


@dataclass(frozen=True, kw_only=True)
class _SymbolTable:
    """A symbol table's bytes, unpacked entry by entry, and its string table's bytes."""

    entry: struct.Struct
    picks: tuple[int, ...]  # st_name, st_info, st_other, st_shndx, st_size in `entry`
    stride: int
    data: bytes
    strings: bytes

    def __len__(self) -> int:
        return len(self.data) // self.stride

    def entries(self) -> Iterator[tuple[int, int, int, int, int]]:
        """(st_name, st_info, st_other, st_shndx, st_size) of every entry, in order."""
        pick = operator.itemgetter(*self.picks)
        if self.stride == self.entry.size:
            rows = self.entry.iter_unpack(self.data[: len(self) * self.stride])
        else:
            rows = (self.entry.unpack_from(self.data, i * self.stride) for i in range(len(self)))
        return map(pick, rows)

    def name(self, index: int) -> str:
        if index >= len(self):
            return ""
        row = self.entry.unpack_from(self.data, index * self.stride)
        return _string(self.strings, row[self.picks[0]])


def _symbol_table(
    elf: Any, sections: list[Any], section: Any, strings: bool = True
) -> _SymbolTable:
    """The table's entries, and its string table's bytes unless `strings` is False."""
    layout, picks = SYM_LAYOUT[elf.elfclass]
    entry = struct.Struct(_order(elf) + layout)
    return _SymbolTable(
        entry=entry,
        picks=picks,
        stride=int(section["sh_entsize"]) or entry.size,
        data=bytes(section.data()),
        strings=bytes(sections[section["sh_link"]].data()) if strings else b"",
    )


def _exported(elf: Any, sections: list[Any], stream: IO[bytes]) -> Iterator[Exported]:
    """The defined, visible global, weak and GNU-unique names of .dynsym, one at a time,
    ordered by where their names are in the string table (which is then read from `stream`
    in windows, not held: one library of tensorflow-cpu has 80 MB of names). The table's
    entries are read now; `stream` must stay open until the names have been read."""
    section = next((s for s in sections if s.name == ".dynsym"), None)
    if section is None:
        return iter(())
    table = _symbol_table(elf, sections, section, strings=False)
    at = array.array("Q")  # st_name of each exported entry
    infos = bytearray()
    sizes = array.array("Q")
    for st_name, info, other, shndx, size in table.entries():
        if (
            not st_name
            or shndx == 0
            or info >> 4 not in EXPORTED_CODES
            or other & 7 not in VISIBLE_CODES
        ):
            continue
        at.append(st_name)
        infos.append(info)
        sizes.append(size)
    strings = sections[section["sh_link"]]
    order = sorted(range(len(at)), key=at.__getitem__)
    return _names_of(
        order, at, infos, sizes, stream, int(strings["sh_offset"]), int(strings["sh_size"])
    )


def _names_of(
    order: list[int],
    at: array.array[int],
    infos: bytearray,
    sizes: array.array[int],
    stream: IO[bytes],
    base: int,
    size: int,
) -> Iterator[Exported]:
    window, start = b"", 0  # the bytes of the string table read last, and their offset
    for index in order:
        offset = at[index]
        if offset >= size:
            continue
        end = window.find(b"\0", offset - start) if offset >= start else -1
        length = WINDOW
        while offset < start or (end < 0 and start + len(window) < size):
            stream.seek(base + offset)
            want = min(length, size - offset)
            window, start = stream.read(want), offset
            end, length = window.find(b"\0"), length * 2
            if len(window) < want:
                break  # the file ends early: the name runs to its end
        raw = window[offset - start : len(window) if end < 0 else end]
        name = raw.decode("utf-8", errors="replace")
        if not name:
            continue
        info = infos[index]
        kind = info & 0xF
        yield Exported(
            name=name, bind=BINDS[info >> 4], kind=TYPES.get(kind, str(kind)), size=sizes[index]
        )


def _relocated(elf: Any, sections: list[Any]) -> frozenset[str]:
    """Names the object's dynamic relocations refer to (what the loader may bind elsewhere)."""
    layout, shift = REL_LAYOUT[elf.elfclass]
    entry = struct.Struct(_order(elf) + layout)
    tables: dict[int, _SymbolTable] = {}
    names: set[str] = set()
    for section in sections:
        if not isinstance(section, RelocationSection) or section.name not in RELOCATION_SECTIONS:
            continue
        link = int(section["sh_link"])
        if link not in tables:
            tables[link] = _symbol_table(elf, sections, sections[link])
        symbols = tables[link]
        data = bytes(section.data())
        stride = int(section["sh_entsize"]) or entry.size
        indices = {
            entry.unpack_from(data, offset)[1] >> shift
            for offset in range(0, len(data) - entry.size + 1, stride)
        }
        names.update(symbols.name(index) for index in indices if index)
    names.discard("")
    return frozenset(names)


def _comment(sections: list[Any]) -> tuple[str, ...]:
    section = next((s for s in sections if s.name == ".comment"), None)
    if section is None:
        return ()
    parts = (p.decode(errors="replace").strip() for p in bytes(section.data()).split(b"\0"))
    return tuple(dict.fromkeys(p for p in parts if p))


# An ELF file's facts without its exported names, and those names to be read one at a time
# (before the next file is asked for): how a big library is read without holding its names.
Named = tuple[ElfFacts, Iterator[Exported]]


def read_named(path: str, stream: IO[bytes], relocations: bool = True) -> Named:
    """The facts of one ELF shared object read from a seekable binary file (its dynamic
    relocations only when asked), with its exported names still to be read."""
    elf = ELFFile(stream)
    # pyelftools makes a section anew on every lookup (parsing a GNU hash table each time):
    # make them once.
    sections = list(elf.iter_sections())
    dynamic = _dynamic(sections)
    tls = [s["p_memsz"] for s in elf.iter_segments() if s["p_type"] == "PT_TLS"]
    facts = ElfFacts(
        path=path,
        soname=dynamic.get("DT_SONAME", ""),
        needed=tuple(dynamic["DT_NEEDED"]),
        rpath=dynamic.get("DT_RPATH", ""),
        runpath=dynamic.get("DT_RUNPATH", ""),
        static_tls=bool(dynamic.get("DT_FLAGS", 0) & DF_STATIC_TLS),
        tls_size=int(sum(tls)),
        relocated=_relocated(elf, sections) if relocations else frozenset(),
        comment=_comment(sections),
        arch=MACHINES.get(str(elf["e_machine"]), str(elf["e_machine"])),
    )
    return facts, _exported(elf, sections, stream)


def read_elf(path: str, stream: IO[bytes], relocations: bool = True) -> ElfFacts:
    """The facts of one ELF shared object read from a seekable binary file (its dynamic
    relocations only when asked)."""
    facts, names = read_named(path, stream, relocations)
    return with_names(facts, names)


def with_names(facts: ElfFacts, names: Iterable[Exported]) -> ElfFacts:
    """The facts with these exported names."""
    return dataclasses.replace(facts, exported=tuple(names))


def is_library_name(member: str) -> bool:
    """Whether an archive member is named as a shared object is (`x.so`, `x.so.1`)."""
    base = member.rsplit("/", 1)[-1]
    return base.endswith(".so") or ".so." in base


def elf_members(wheel: Path) -> Iterator[tuple[str, IO[bytes]]]:
    """(archive path, file) of every ELF file in the wheel. Each member is copied in bounded
    chunks to an anonymous temporary file, which is gone once the next member is asked for."""
    try:
        archive = zipfile.ZipFile(wheel)
    except (OSError, zipfile.BadZipFile) as exc:
        raise InputError(f"{wheel}: not a readable wheel ({exc}); pass a .whl file") from exc
    with archive:
        for info in archive.infolist():
            if not is_library_name(info.filename):
                continue
            with tempfile.TemporaryFile(prefix="wheelclash-elf-") as spool:
                try:
                    with archive.open(info) as member:
                        head = member.read(len(ELF_MAGIC))
                        if head != ELF_MAGIC:
                            continue
                        spool.write(head)
                        shutil.copyfileobj(member, spool, CHUNK)
                except (OSError, zipfile.BadZipFile) as exc:
                    raise InputError(
                        f"{wheel}: {info.filename} could not be read ({exc}); pass a complete .whl"
                    ) from exc
                spool.seek(0)
                yield info.filename, spool


def iter_wheel(wheel: Path, skip_relocations: frozenset[str] = frozenset()) -> Iterator[Named]:
    """The facts of a wheel's shared objects, one at a time, each with its exported names
    still to be read (a caller that keeps only what it needs of each never holds them all);
    InputError naming the file when one is not valid ELF."""
    for path, stream in elf_members(wheel):
        try:
            facts, names = read_named(path, stream, relocations=path not in skip_relocations)
        except (ELFError, struct.error) as exc:
            raise InputError(f"{wheel}: {path} is not a valid ELF file ({exc})") from exc
        yield facts, names


def scan_wheel(wheel: Path, skip_relocations: frozenset[str] = frozenset()) -> tuple[ElfFacts, ...]:
    """Every shared object of a wheel; InputError naming the file when one is not valid ELF."""
    return tuple(with_names(f, n) for f, n in iter_wheel(wheel, skip_relocations))


def read_elf_file(path: Path, relocations: bool = True) -> ElfFacts:
    """The facts of one ELF file on disk; OSError or ELFError when it cannot be read."""
    with path.open("rb") as stream:
        return read_elf(str(path), stream, relocations=relocations)


def scan_file(path: Path) -> ElfFacts:
    """The facts of one ELF file on disk (a runtime library, or a test's own object)."""
    try:
        return read_elf_file(path)
    except (OSError, ELFError, struct.error) as exc:
        raise InputError(f"{path}: not a readable ELF file ({exc})") from exc
