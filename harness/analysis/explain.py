"""Static predictors: what a set of wheels' ELF files say about how they may break each other.

The predictor table (symbol patterns, runtime names, messages) is data, in
`resources/predictors.toml`; the facts behind it are in docs/mechanisms.md.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from harness import paths
from harness.analysis.bundled import (
    MECHANISM,
    PREDICTOR,
    Copy,
    LibraryFamily,
    carried,
    collisions,
    copies,
    parse_families,
)
from harness.analysis.elfscan import ElfFacts, Exported, scan_file, with_names
from harness.analysis.mechanisms import Mechanism, Predictor
from harness.analysis.scancache import Opened, read, read_with
from harness.common.digests import file_sha256
from harness.evidence.demangle import demangle
from harness.scenario.tomlload import Checker, read_toml

PREDICTORS_TOML: Final = paths.RESOURCES / "predictors.toml"
MESSAGE_KEYS: Final = (
    "runtime_internals",
    "runtime_copies",
    "unique_same",
    "bundled_runtime",
    "call_once_private",
    "call_once_pair",
    "unique_count",
    "unique_shared",
    "static_tls",
    "tls_size",
    "bundled_soname",
    "shared_soname",
    "rpath",
    "runpath",
    "dlopenflags",
    "compiler",
    "bundled_pair",
    "bundled_system",
)


@dataclass(frozen=True, kw_only=True)
class InternalPattern:
    pattern: re.Pattern[str]
    what: str
    runtime_only: bool
    mechanism: Mechanism | None  # None: a stateless copy, reported as a fact


@dataclass(frozen=True, kw_only=True)
class Predictors:
    internals: tuple[InternalPattern, ...]
    call_once: tuple[re.Pattern[str], ...]
    shared_libstdcxx: re.Pattern[str]
    runtime_libraries: tuple[re.Pattern[str], ...]
    runtime_search: tuple[Path, ...]
    unique_soname: re.Pattern[str]
    tls_surplus: dict[str, int]
    messages: dict[str, str]
    bundled: tuple[LibraryFamily, ...] = ()


def _mechanism(check: Checker, row: dict[str, Any], key: str) -> Mechanism | None:
    """A row's `mechanism`: a number of docs/mechanisms.md, or "" for none."""
    value = check.string(row, "mechanism", key)
    if not value:
        return None
    if value not in set(Mechanism):
        check.add(key, f'unknown mechanism {value!r}; use one of {", ".join(Mechanism)}, or ""')
        return None
    return Mechanism(value)


def _regex(check: Checker, value: str, key: str) -> re.Pattern[str]:
    """The compiled pattern; a bad one is a problem at `key` (the stand-in never matches, and
    the loader raises before it could be used)."""
    try:
        return re.compile(value)
    except re.error as exc:
        check.add(key, f"not a regular expression: {exc}; fix the pattern (Python `re` syntax)")
        return re.compile("(?!)")


def _regexes(
    check: Checker, table: dict[str, Any], name: str, key: str
) -> tuple[re.Pattern[str], ...]:
    return tuple(
        _regex(check, value, f"{key}[{index}]")
        for index, value in enumerate(check.strings(table, name, key))
    )


def _internals(check: Checker, doc: dict[str, Any]) -> tuple[InternalPattern, ...]:
    rows = doc.get("runtime_internal", [])
    if not isinstance(rows, list):
        check.add("runtime_internal", "must be an array of tables ([[runtime_internal]])")
        return ()
    internals = []
    for index, row in enumerate(rows):
        key = f"runtime_internal[{index}]"
        if not isinstance(row, dict):
            check.add(key, "must be a table with pattern, what, mechanism and runtime_only")
            continue
        check.unknown_keys(row, {"pattern", "what", "runtime_only", "mechanism"}, key)
        internals.append(
            InternalPattern(
                pattern=_regex(
                    check, check.string(row, "pattern", f"{key}.pattern"), f"{key}.pattern"
                ),
                what=check.string(row, "what", f"{key}.what"),
                runtime_only=check.boolean(row, "runtime_only", f"{key}.runtime_only", False),
                mechanism=_mechanism(check, row, f"{key}.mechanism"),
            )
        )
    return tuple(internals)


def _surplus(check: Checker, doc: dict[str, Any]) -> dict[str, int]:
    key = "static_tls.surplus_bytes"
    table = check.table(check.table(doc, "static_tls", "static_tls"), "surplus_bytes", key)
    surplus = {}
    for arch, value in table.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            check.add(f"{key}.{arch}", "must be a whole number of bytes (glibc's TLS surplus)")
        else:
            surplus[str(arch)] = value
    return surplus


@functools.cache
def load_predictors(path: Path = PREDICTORS_TOML) -> Predictors:
    """The predictor table, validated; every problem of the file at once."""
    doc = read_toml(path)
    check = Checker(path)
    check.unknown_keys(
        doc,
        {
            "runtime_internal",
            "call_once",
            "runtime",
            "bundled",
            "bundled_library",
            "static_tls",
            "messages",
        },
        "",
    )
    once = check.table(doc, "call_once", "call_once")
    runtime = check.table(doc, "runtime", "runtime")
    bundled = check.table(doc, "bundled", "bundled")
    messages = check.table(doc, "messages", "messages")
    for name in MESSAGE_KEYS:
        if not isinstance(messages.get(name), str):
            check.add(f"messages.{name}", "missing; every predictor needs its message")
    for name in sorted(set(messages) - set(MESSAGE_KEYS)):
        check.add(f"messages.{name}", f"unknown message; valid: {', '.join(MESSAGE_KEYS)}")
    predictors = Predictors(
        internals=_internals(check, doc),
        call_once=_regexes(check, once, "patterns", "call_once.patterns"),
        shared_libstdcxx=_regex(
            check,
            check.string(once, "shared_runtime", "call_once.shared_runtime"),
            "call_once.shared_runtime",
        ),
        runtime_libraries=_regexes(check, runtime, "libraries", "runtime.libraries"),
        runtime_search=tuple(Path(p) for p in check.strings(runtime, "search", "runtime.search")),
        unique_soname=_regex(
            check,
            check.string(bundled, "unique_soname", "bundled.unique_soname"),
            "bundled.unique_soname",
        ),
        tls_surplus=_surplus(check, doc),
        messages={k: str(v) for k, v in messages.items()},
        bundled=parse_families(check, doc),
    )
    check.raise_if_any()  # after every value is built, so a bad pattern is reported, not used
    return predictors


@functools.cache
def runtime_exports(search: tuple[Path, ...]) -> frozenset[str]:
    """Names this machine's libstdc++.so.6 and libgcc_s.so.1 export (empty when not found)."""
    names: set[str] = set()
    for library in ("libstdc++.so.6", "libgcc_s.so.1"):
        found = next((d / library for d in search if (d / library).is_file()), None)
        if found is not None:
            names |= {e.name for e in scan_file(found.resolve()).exported}
    return frozenset(names)


@dataclass(frozen=True, kw_only=True)
class Finding:
    """One predictor that fired on a wheel: a prediction of a mechanism, or a fact (None)."""

    wheel_id: str
    wheel: str
    predictor: Predictor
    mechanism: Mechanism | None
    detail: str
    before: tuple[str, ...] = ()  # wheel ids whose import order the prediction needs
    rtld_global: str = ""  # the wheel that must be loaded RTLD_GLOBAL, if any
    # What a failing cell's evidence must name to bear the finding out (analysis/credit.py):
    symbols: frozenset[str] = frozenset()  # dynamic symbol names it is about
    files: frozenset[str] = frozenset()  # file names of the objects holding those symbols
    libraries: frozenset[str] = frozenset()  # file names or SONAMEs it is about as a whole

    def to_json(self) -> dict[str, str]:
        return {
            "wheel_id": self.wheel_id,
            "wheel": self.wheel,
            "predictor": str(self.predictor),
            "mechanism": str(self.mechanism or ""),
            "detail": self.detail,
        }


@dataclass(frozen=True, kw_only=True)
class Scanned:
    """A wheel as the predictors between wheels see it. Its own findings are worked out as
    its ELF files are read, one at a time; `elves` then keep only the names the pair and
    bundled-library predictors read (call_once trampolines and what binds them, GNU-unique
    names, names of a bundled library family), so a wheel with 10⁵ exported names costs
    little to hold."""

    wheel_id: str
    path: Path
    sha256: str
    elves: tuple[ElfFacts, ...]
    modules: frozenset[str]  # archive paths of extension modules
    findings: tuple[Finding, ...]  # the wheel's own
    # The bundled library families it exports copies of (analysis/bundled.py): worked out
    # once per wheel, not once per set it is explained in.
    copies: tuple[Copy, ...] = ()


def _once(table: Predictors) -> Callable[[str], bool]:
    """Whether a name is a call_once trampoline's (what mechanism 1's pair predictor reads)."""
    return lambda name: any(p.search(name) for p in table.call_once)


def _slim(elf: ElfFacts, table: Predictors) -> ElfFacts:
    """The facts with only the names a predictor between wheels can use."""
    family, once = carried(table.bundled), _once(table)
    kept = tuple(e for e in elf.exported if e.unique or once(e.name) or family(e.name))
    return dataclasses.replace(elf, exported=kept, relocated=frozenset(filter(once, elf.relocated)))


def _relevant(table: Predictors) -> Callable[[Exported], bool]:
    """Whether any predictor reads an exported name: the rest are dropped as they are read
    (what `_slim` keeps, and the runtime internals the wheel's own findings read)."""
    family, once = carried(table.bundled), _once(table)
    internal = [row.pattern for row in table.internals]

    def relevant(symbol: Exported) -> bool:
        name = symbol.name
        return symbol.unique or family(name) or once(name) or any(p.search(name) for p in internal)

    return relevant


def _read(
    wheel_id: str,
    path: Path,
    sha256: str,
    table: Predictors,
    runtime: frozenset[str],
    opened: Opened,
) -> Scanned:
    relevant = _relevant(table)
    elves: list[ElfFacts] = []
    findings: list[Finding] = []
    for facts, names in opened.files:
        elf = with_names(facts, filter(relevant, names))
        module = elf.path in opened.modules
        findings += _elf_findings(wheel_id, path.name, elf, module, table, runtime)
        elves.append(_slim(elf, table))
    if opened.python_hits:
        findings.append(_hits_finding(wheel_id, path.name, opened.python_hits, table))
    return Scanned(
        wheel_id=wheel_id,
        path=path,
        sha256=sha256,
        elves=tuple(elves),
        modules=opened.modules,
        findings=tuple(findings),
        copies=copies(wheel_id, elves, opened.modules, table.bundled),
    )


def _scan(
    wheel_id: str, path: Path, sha256: str, table: Predictors, runtime: frozenset[str]
) -> Scanned:
    sha256 = sha256 or file_sha256(path)
    return read_with(
        path, sha256, lambda opened: _read(wheel_id, path, sha256, table, runtime, opened)
    )


def _exports_of(item: Scanned, elf_path: str) -> frozenset[str]:
    """Every name one ELF file of a wheel exports, read back from the scan cache."""
    for facts, names in read(item.path, item.sha256).files:
        if facts.path == elf_path:
            return frozenset(e.name for e in names)
    return frozenset()


def _needs_runtime(elf: ElfFacts, table: Predictors) -> str:
    return next((n for n in elf.needed if any(p.search(n) for p in table.runtime_libraries)), "")


def _private_libstdcxx(elf: ElfFacts, table: Predictors) -> bool:
    return not any(table.shared_libstdcxx.search(n) for n in elf.needed)


def _elf_findings(
    wheel_id: str,
    wheel: str,
    elf: ElfFacts,
    module: bool,
    table: Predictors,
    runtime: frozenset[str],
) -> list[Finding]:
    """What one ELF file of a wheel says on its own (`module`: an extension module)."""
    msg = table.messages
    out: list[Finding] = []

    def add(predictor: Predictor, mechanism: Mechanism | None, detail: str, **extra: Any) -> None:
        out.append(
            Finding(
                wheel_id=wheel_id,
                wheel=wheel,
                predictor=predictor,
                mechanism=mechanism,
                detail=detail,
                **extra,
            )
        )

    needed = _needs_runtime(elf, table)
    matched = [(e.name, _internal(e.name, table, runtime)) for e in elf.exported]
    stateful = sorted(n for n, row in matched if row is not None and row.mechanism)
    stateless = sorted(n for n, row in matched if row is not None and not row.mechanism)
    for names, predictor, mechanism, key in (
        (
            stateful,
            Predictor.RUNTIME_INTERNALS,
            Mechanism.FIRST_LOADER_HIJACK,
            "runtime_internals",
        ),
        (stateless, Predictor.RUNTIME_COPIES, None, "runtime_copies"),
    ):
        if names and needed:
            shown = ", ".join(names[:5]) + (" …" if len(names) > 5 else "")
            detail = msg[key].format(count=len(names), names=shown, runtime=needed)
            add(
                predictor,
                mechanism,
                f"{elf.name} {detail}",
                symbols=frozenset(names),
                files=frozenset({elf.name}),
            )
    trampolines = _trampolines(elf, table)
    if trampolines and _private_libstdcxx(elf, table) and module:
        add(
            Predictor.CALL_ONCE_TRAMPOLINE,
            None,
            f"{elf.name} " + msg["call_once_private"].format(symbol=trampolines[0]),
        )
    unique = [e for e in elf.exported if e.unique]
    if unique:
        add(
            Predictor.UNIQUE_SYMBOLS,
            None,
            f"{elf.name}: " + msg["unique_count"].format(count=len(unique)),
        )
    arch_surplus = table.tls_surplus.get(elf.arch, min(table.tls_surplus.values() or [1664]))
    if elf.static_tls:
        add(
            Predictor.STATIC_TLS,
            Mechanism.STATIC_TLS,
            msg["static_tls"].format(file=elf.name, size=elf.tls_size, surplus=arch_surplus),
            libraries=frozenset({elf.name}),
        )
    elif elf.tls_size:
        add(Predictor.TLS_SIZE, None, msg["tls_size"].format(file=elf.name, size=elf.tls_size))
    bundled = not module and elf.soname
    if bundled and any(p.search(elf.soname) for p in table.runtime_libraries):
        detail = msg["bundled_runtime"].format(file=elf.path, soname=elf.soname)
        add(
            Predictor.BUNDLED_RUNTIME,
            Mechanism.SAME_SONAME,
            detail,
            libraries=frozenset({elf.name, elf.soname}),
        )
    elif bundled and not table.unique_soname.search(elf.soname):
        detail = msg["bundled_soname"].format(file=elf.path, soname=elf.soname)
        add(Predictor.BUNDLED_SONAME, None, detail)
    if elf.rpath:
        add(Predictor.RPATH, None, msg["rpath"].format(file=elf.name, value=elf.rpath))
    if elf.runpath:
        add(Predictor.RUNPATH, None, msg["runpath"].format(file=elf.name, value=elf.runpath))
    if elf.comment and module:
        add(
            Predictor.COMPILER,
            None,
            msg["compiler"].format(file=elf.name, comment="; ".join(elf.comment)),
        )
    return out


def _hits_finding(
    wheel_id: str, wheel: str, python_hits: tuple[str, ...], table: Predictors
) -> Finding:
    where = ", ".join(python_hits[:3]) + (" …" if len(python_hits) > 3 else "")
    return Finding(
        wheel_id=wheel_id,
        wheel=wheel,
        predictor=Predictor.DLOPENFLAGS,
        mechanism=None,
        detail=table.messages["dlopenflags"].format(where=where),
    )


def _internal(name: str, table: Predictors, runtime: frozenset[str]) -> InternalPattern | None:
    """The first runtime-internal row matching an exported name, or None."""
    for row in table.internals:
        if row.pattern.search(name):
            return row if not row.runtime_only or name in runtime else None
    return None


def _trampolines(elf: ElfFacts, table: Predictors) -> list[str]:
    return sorted(e.name for e in elf.exported if any(p.search(e.name) for p in table.call_once))


def _pair_findings(items: Sequence[Scanned], table: Predictors) -> list[Finding]:
    msg = table.messages
    out: list[Finding] = []
    for provider in items:
        for user in items:
            if provider is user:
                continue
            # Mechanism 1: a private-runtime trampoline, and a shared-runtime module binding it.
            offered = {
                name
                for elf in provider.elves
                if elf.path in provider.modules and _private_libstdcxx(elf, table)
                for name in _trampolines(elf, table)
            }
            bound = sorted(
                {
                    name
                    for elf in user.elves
                    if not _private_libstdcxx(elf, table)
                    for name in offered & elf.relocated
                }
            )
            if bound:
                holders = {
                    elf.name
                    for elf in provider.elves
                    if elf.path in provider.modules and set(bound) & set(_trampolines(elf, table))
                }
                out.append(
                    Finding(
                        wheel_id=provider.wheel_id,
                        wheel=provider.path.name,
                        predictor=Predictor.CALL_ONCE_INTERPOSITION,
                        mechanism=Mechanism.CALL_ONCE,
                        detail=msg["call_once_pair"].format(
                            provider=provider.wheel_id, user=user.wheel_id, symbol=bound[0]
                        ),
                        before=(provider.wheel_id, user.wheel_id),
                        rtld_global=provider.wheel_id,
                        symbols=frozenset(bound),
                        files=frozenset(holders),
                    )
                )
    for index, first in enumerate(items):
        for second in items[index + 1 :]:
            mine = {e.name: e.size for elf in first.elves for e in elf.exported if e.unique}
            theirs = {e.name: e.size for elf in second.elves for e in elf.exported if e.unique}
            shared = sorted(set(mine) & set(theirs))
            if shared:
                differ = [n for n in shared if mine[n] != theirs[n]]
                names = ", ".join(shared[:3]) + (" …" if len(shared) > 3 else "")
                sizes = (
                    f"; {len(differ)} differ in size ({', '.join(differ[:3])}), so one "
                    "module's code runs on the other's layout"
                )
                key = "unique_shared" if differ else "unique_same"
                listed = frozenset(differ or shared)
                holders = {
                    elf.name
                    for item in (first, second)
                    for elf in item.elves
                    if any(e.unique and e.name in listed for e in elf.exported)
                }
                out.append(
                    Finding(
                        wheel_id=first.wheel_id,
                        wheel=first.path.name,
                        predictor=Predictor.UNIQUE_SHARED if differ else Predictor.UNIQUE_SAME,
                        mechanism=Mechanism.UNIQUE_LAYOUTS if differ else None,
                        detail=msg[key].format(
                            count=len(shared), other=second.wheel_id, names=names, sizes=sizes
                        ),
                        symbols=listed,
                        files=frozenset(holders),
                    )
                )
            sonames = {
                e.soname for e in first.elves if e.path not in first.modules and e.soname
            } & {e.soname for e in second.elves if e.path not in second.modules and e.soname}
            for soname in sorted(sonames):
                copies = [
                    (item, elf)
                    for item in (first, second)
                    for elf in item.elves
                    if elf.soname == soname
                ]
                # Every name of both copies: read back now, one file at a time (rare).
                exports = [_exports_of(item, elf.path) for item, elf in copies]
                one_only = frozenset.union(*exports) - frozenset.intersection(*exports)
                out.append(
                    Finding(
                        wheel_id=first.wheel_id,
                        wheel=first.path.name,
                        predictor=Predictor.SHARED_SONAME,
                        mechanism=Mechanism.SAME_SONAME,
                        detail=msg["shared_soname"].format(soname=soname, other=second.wheel_id),
                        symbols=frozenset(one_only),  # what one copy has and the other lacks
                        libraries=frozenset({soname, *(elf.name for _, elf in copies)}),
                    )
                )
    return out


def _listed(names: Sequence[str], count: int) -> str:
    return ", ".join(names[:count]) + (" …" if len(names) > count else "")


def _bundled_findings(items: Sequence[Scanned], table: Predictors) -> list[Finding]:
    """Bundled copies of common libraries exporting the names another wheel's copy, or the
    system's copy that CPython loads, exports too (analysis/bundled.py)."""
    msg = table.messages
    carried = [item.copies for item in items]
    wheels = {item.wheel_id: item.path.name for item in items}
    out: list[Finding] = []
    for hit in collisions(carried, table.runtime_search):
        examples = sorted(hit.names, key=lambda n: (len(n), n))[:3]
        shown = demangle(examples)
        common = {
            "files": _listed(hit.mine.files_with(hit.names), 3),
            "count": len(hit.names),
            "family": hit.mine.family.name,
            "names": ", ".join(shown.get(n, n) for n in examples),
            "wheel": hit.mine.wheel_id,
        }
        if hit.other is None:
            detail = msg["bundled_system"].format(
                sonames="/".join(hit.sonames),
                source=hit.source,
                users=hit.mine.family.users,
                **common,
            )
            before: tuple[str, ...] = ()
        else:
            detail = msg["bundled_pair"].format(
                other=hit.other.wheel_id,
                other_files=_listed(hit.other.files_with(hit.names), 3),
                **common,
            )
            before = (hit.mine.wheel_id, hit.other.wheel_id)
        out.append(
            Finding(
                wheel_id=hit.mine.wheel_id,
                wheel=wheels[hit.mine.wheel_id],
                predictor=PREDICTOR,
                mechanism=MECHANISM,
                detail=detail,
                before=before,
                rtld_global=hit.mine.wheel_id,
                symbols=hit.names,
                files=hit.files,
                libraries=hit.libraries,
            )
        )
    return out


def explain(
    wheels: Sequence[tuple[str, Path]],
    table: Predictors | None = None,
    sha256: Mapping[Path, str] | None = None,
    memo: MutableMapping[tuple[str, Path, str], Scanned] | None = None,
) -> list[Finding]:
    """Every finding for a set of (wheel id, .whl path): per wheel, then between wheels.
    A wheel's facts come from the scan cache under its sha256: the one `sha256` gives (the
    run hashed its wheels), else the file is hashed here. `memo`, kept by a caller that
    explains many sets with one table, holds each wheel as read, so it is read once."""
    table = table or load_predictors()
    runtime = runtime_exports(table.runtime_search)
    known = sha256 or {}
    memo = {} if memo is None else memo
    items = []
    for wheel_id, path in wheels:
        key = (wheel_id, path, known.get(path, ""))
        if key not in memo:
            memo[key] = _scan(wheel_id, path, known.get(path, ""), table, runtime)
        items.append(memo[key])
    findings = [f for item in items for f in item.findings]
    return findings + _pair_findings(items, table) + _bundled_findings(items, table)


def mechanisms(findings: Sequence[Finding]) -> list[Mechanism]:
    """The mechanisms the findings predict, in order."""
    return sorted({f.mechanism for f in findings if f.mechanism})
