"""Whether a failing cell's evidence names what a static finding named.

A prediction is about specific wheels and names: dynamic symbols, the files holding them, and
libraries as a whole (see the `symbols`, `files` and `libraries` of `explain.Finding`). A
failing cell bears it out only when its own evidence names one of them:

- an import error saying `undefined symbol: S` with S among the finding's symbols, or one of
  the loader's `version ... not found` / `static TLS` errors naming one of its libraries;
- a crashing frame (the innermost frames below the C library's abort path) in one of its
  libraries, or in one of its files inside one of its symbols (gdb prints demangled names,
  so the symbols are demangled to compare);
- an LD_DEBUG binding (`--debug-bindings`) of one of its symbols to one of its files.

Anything else leaves the cell "failed, not explained". A dependency that is not installed
(`missing-dependency`, any `ModuleNotFoundError`) never bears out a prediction.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from harness.analysis.explain import Finding
from harness.common.verdicts import NOT_THE_WHEELS, ImportErrorKind, Verdict
from harness.evidence import crashparse
from harness.evidence.crashparse import Located
from harness.evidence.demangle import demangle
from harness.evidence.results import CellResult

CRASH_WINDOW: Final = 8  # frames below the C library's own (raise, abort, free) that count
NOT_INSTALLED: Final = re.compile(r"ModuleNotFoundError|No module named")
UNDEFINED: Final = re.compile(r"undefined symbol: ([^\s,]+)")
NAMED_FILE: Final = re.compile(r"([^\s:/'`\"()]+\.so(?:\.[\w.]+)?)")
LIBRARY_KINDS: Final = frozenset({ImportErrorKind.VERSION_NOT_FOUND, ImportErrorKind.STATIC_TLS})
_TOP_LINE: Final = re.compile(r"^#(\d+)(?:-#\d+ in (\S+):.*| (.*?)(?: in (\S+)| at \S+)?)$")
_BINDING: Final = re.compile(r"^\S+ binds (?P<symbol>\S+)(?: \(.*\))? to (?P<to>\S+) \(")
_QUALIFIERS: Final = re.compile(r"(\s+(const|volatile|noexcept|&&|&))+$")


@dataclass(frozen=True, kw_only=True)
class Bound:
    """A binding line of the cell (`--debug-bindings`): `symbol` went to `provider`'s copy."""

    symbol: str
    provider: str  # file name


@dataclass(frozen=True, kw_only=True)
class CellEvidence:
    """What one failing cell's evidence names."""

    verdict: Verdict
    subkind: str = ""
    message: str = ""  # the import error
    frames: tuple[Located, ...] = ()  # the crashing frames that count (CRASH_WINDOW)
    bindings: tuple[Bound, ...] = ()


def _window(frames: Iterable[Located]) -> tuple[Located, ...]:
    """The crashing frames below the C library's and the loader's own (the abort path)."""
    listed = list(frames)
    start = 0
    while start < len(listed) and crashparse.SYSTEM_OBJECT.match(listed[start].library):
        start += 1
    return tuple(listed[start : start + CRASH_WINDOW])


def _top_lines(lines: Iterable[str]) -> list[Located]:
    """Frames back from a result's `native_top` lines (crashparse.top_frames)."""
    out = []
    for line in lines:
        match = _TOP_LINE.match(line)
        if not match:
            continue
        number, folded, function, library = match.groups()
        if folded:
            out.append(Located(number=int(number), function="", library=folded))
        else:
            name = function or ""
            if name.startswith("?? ("):
                name = "??"
            where = "" if library in (None, "?") else library
            out.append(Located(number=int(number), function=name, library=where))
    return out


def _frames(result: CellResult, run_dir: Path | None) -> tuple[Located, ...]:
    """The crashing frames: from the stored backtrace when it can be read, else `native_top`."""
    artefacts = result.evidence.artefacts
    name = artefacts.get("backtrace") or artefacts.get("hang_stack")
    if run_dir is not None and name:
        try:
            text = (run_dir / name).read_text(encoding="utf-8", errors="replace")
        except OSError:
            text = ""
        frames = crashparse.crash_frames(crashparse.parse_gdb(text))
        if frames:
            return _window(frames)
    return _window(_top_lines(result.evidence.native_top))


def _bindings(lines: Iterable[str]) -> tuple[Bound, ...]:
    found = (_BINDING.match(line) for line in lines)
    return tuple(Bound(symbol=m["symbol"], provider=m["to"]) for m in found if m)


def evidence_of(result: CellResult, run_dir: Path | None = None) -> CellEvidence:
    """What a failing cell names: its import error, or its crashing frames (from the stored
    backtrace under `run_dir` when there is one) and its bindings."""
    outcome = result.outcome
    if outcome.verdict == Verdict.IMPORT_ERROR:
        return CellEvidence(
            verdict=outcome.verdict, subkind=outcome.subkind or "", message=outcome.detail
        )
    return CellEvidence(
        verdict=outcome.verdict,
        frames=_frames(result, run_dir),
        bindings=_bindings(result.evidence.bindings),
    )


def _strip_params(name: str) -> str:
    """`ns::f(int) const` → `ns::f`: drop trailing qualifiers and one balanced parameter list."""
    name = _QUALIFIERS.sub("", name.strip())
    if name.endswith(")"):
        depth = 0
        for index in range(len(name) - 1, -1, -1):
            depth += {")": 1, "(": -1}.get(name[index], 0)
            if depth == 0:
                if name[:index].strip():
                    name = name[:index].rstrip()
                break
    return name


def _drop_return_type(name: str) -> str:
    """`void ns::f<int>` → `ns::f<int>`: a demangled template's return type, if any."""
    depth = 0
    cut = 0
    for index, char in enumerate(name):
        if char in "<({[":
            depth += 1
        elif char in ">)}]":
            depth -= 1
        elif char == " " and depth == 0:
            cut = index + 1
    return name[cut:]


def normal(name: str) -> str:
    """A function name as it can be compared between c++filt and a gdb frame."""
    return _drop_return_type(_strip_params(name))


def frame_names(symbols: Iterable[str], demangled: Mapping[str, str]) -> frozenset[str]:
    """The names a frame inside one of `symbols` can show: each symbol plain and demangled,
    and for a static local (`f()::x`) the function holding it."""
    out: set[str] = set()
    for symbol in symbols:
        out.add(symbol)
        text = demangled.get(symbol, symbol)
        out.add(normal(text))
        if ")::" in text:
            out.add(normal(text[: text.rindex(")::") + 1]))
    return frozenset(out)


class Judge:
    """Credits findings with cells, demangling a finding's symbols once, when a crash first
    needs them."""

    def __init__(self) -> None:
        self._names: dict[Finding, frozenset[str]] = {}

    def names(self, finding: Finding) -> frozenset[str]:
        if finding not in self._names:
            mangled = sorted(s for s in finding.symbols if s.startswith("_Z"))
            self._names[finding] = frame_names(finding.symbols, demangle(mangled))
        return self._names[finding]

    def credit(self, finding: Finding, evidence: CellEvidence) -> str:
        """Why the cell's evidence bears the finding out, or "" when it does not."""
        if evidence.verdict == Verdict.IMPORT_ERROR:
            return _import_credit(finding, evidence)
        for frame in evidence.frames:
            if frame.library and frame.library in finding.libraries:
                return f"frame {frame.describe()}"
            if frame.library in finding.files and frame.function:
                names = self.names(finding)
                if frame.function in names or normal(frame.function) in names:
                    return f"frame {frame.describe()}"
        for binding in evidence.bindings:
            holders = finding.files | finding.libraries
            if binding.symbol in finding.symbols and binding.provider in holders:
                return f"binding of {binding.symbol} to {binding.provider}"
        return ""


def _import_credit(finding: Finding, evidence: CellEvidence) -> str:
    if evidence.subkind in NOT_THE_WHEELS:
        return ""
    if NOT_INSTALLED.search(evidence.message):
        return ""
    if evidence.subkind == ImportErrorKind.UNDEFINED_SYMBOL:
        match = UNDEFINED.search(evidence.message)
        if match and match.group(1) in finding.symbols:
            return f"undefined symbol {match.group(1)}"
        return ""
    if evidence.subkind in LIBRARY_KINDS:
        files = (n.rstrip(".") for n in NAMED_FILE.findall(evidence.message))
        named = [n for n in files if n in finding.libraries]
        if named:
            return f"{evidence.subkind} naming {named[0]}"
    return ""
