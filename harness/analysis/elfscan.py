"""ELF facts of a wheel's shared objects, read with pyelftools (no hand-written parsing)."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from elftools.common.exceptions import ELFError
from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile
from elftools.elf.relocation import RelocationSection

from harness.errors import InputError

DF_STATIC_TLS: Final = 0x10
STB_GNU_UNIQUE: Final = "STB_LOOS"  # binding 10; pyelftools names it by the range it opens
EXPORTED_BINDS: Final = ("STB_GLOBAL", "STB_WEAK", STB_GNU_UNIQUE)
ELF_MAGIC: Final = b"\x7fELF"
MACHINES: Final = {
    "EM_X86_64": "x86_64",
    "EM_AARCH64": "aarch64",
    "EM_386": "i686",
    "EM_PPC64": "ppc64le",
    "EM_S390": "s390x",
}


@dataclass(frozen=True, kw_only=True)
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


def _dynamic(elf: Any) -> dict[str, Any]:
    tags: dict[str, Any] = {"DT_NEEDED": []}
    for section in elf.iter_sections():
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


def _exported(elf: Any) -> tuple[Exported, ...]:
    table = elf.get_section_by_name(".dynsym")
    if table is None:
        return ()
    out: list[Exported] = []
    for symbol in table.iter_symbols():
        info = symbol.entry.st_info
        if (
            not symbol.name
            or symbol.entry.st_shndx == "SHN_UNDEF"
            or info.bind not in EXPORTED_BINDS
            or symbol.entry.st_other.visibility not in ("STV_DEFAULT", "STV_PROTECTED")
        ):
            continue
        out.append(
            Exported(
                name=str(symbol.name),
                bind=str(info.bind),
                kind=str(info.type),
                size=int(symbol.entry.st_size),
            )
        )
    return tuple(out)


def _relocated(elf: Any) -> frozenset[str]:
    """Names the object's dynamic relocations refer to (what the loader may bind elsewhere)."""
    names: set[str] = set()
    for section in elf.iter_sections():
        if not isinstance(section, RelocationSection):
            continue
        if section.name not in (".rela.dyn", ".rela.plt", ".rel.dyn", ".rel.plt"):
            continue
        symbols = elf.get_section(section["sh_link"])
        for relocation in section.iter_relocations():
            index = relocation["r_info_sym"]
            if index:
                name = symbols.get_symbol(index).name
                if name:
                    names.add(str(name))
    return frozenset(names)


def _comment(elf: Any) -> tuple[str, ...]:
    section = elf.get_section_by_name(".comment")
    if section is None:
        return ()
    parts = (p.decode(errors="replace").strip() for p in bytes(section.data()).split(b"\0"))
    return tuple(dict.fromkeys(p for p in parts if p))


def read_elf(path: str, data: bytes, relocations: bool = True) -> ElfFacts:
    """The facts of one ELF shared object given as bytes (its dynamic relocations only when
    asked: reading them is the slow part for big libraries)."""
    elf = ELFFile(io.BytesIO(data))
    dynamic = _dynamic(elf)
    tls = [s["p_memsz"] for s in elf.iter_segments() if s["p_type"] == "PT_TLS"]
    return ElfFacts(
        path=path,
        soname=dynamic.get("DT_SONAME", ""),
        needed=tuple(dynamic["DT_NEEDED"]),
        rpath=dynamic.get("DT_RPATH", ""),
        runpath=dynamic.get("DT_RUNPATH", ""),
        static_tls=bool(dynamic.get("DT_FLAGS", 0) & DF_STATIC_TLS),
        tls_size=int(sum(tls)),
        exported=_exported(elf),
        relocated=_relocated(elf) if relocations else frozenset(),
        comment=_comment(elf),
        arch=MACHINES.get(str(elf["e_machine"]), str(elf["e_machine"])),
    )


def elf_members(wheel: Path) -> Iterator[tuple[str, bytes]]:
    """(archive path, bytes) of every ELF file in the wheel."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            for info in archive.infolist():
                base = info.filename.rsplit("/", 1)[-1]
                if not (base.endswith(".so") or ".so." in base):
                    continue
                data = archive.read(info.filename)
                if data.startswith(ELF_MAGIC):
                    yield info.filename, data
    except (OSError, zipfile.BadZipFile) as exc:
        raise InputError(f"{wheel}: not a readable wheel ({exc}); pass a .whl file") from exc


def scan_wheel(wheel: Path, skip_relocations: frozenset[str] = frozenset()) -> tuple[ElfFacts, ...]:
    """Every shared object of a wheel; InputError naming the file when one is not valid ELF."""
    out: list[ElfFacts] = []
    for path, data in elf_members(wheel):
        try:
            out.append(read_elf(path, data, relocations=path not in skip_relocations))
        except ELFError as exc:
            raise InputError(f"{wheel}: {path} is not a valid ELF file ({exc})") from exc
    return tuple(out)


def scan_file(path: Path) -> ElfFacts:
    """The facts of one ELF file on disk (a runtime library, or a test's own object)."""
    try:
        return read_elf(str(path), path.read_bytes())
    except (OSError, ELFError) as exc:
        raise InputError(f"{path}: not a readable ELF file ({exc})") from exc
