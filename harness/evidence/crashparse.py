"""Parsers for crash evidence: gdb backtraces, faulthandler stacks, library maps, LD_DEBUG.

Pure functions over text; the tests feed them stored tool output (tests/unit).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

MARK: Final = "@@wheelclash "  # resources/crash_capture.py puts these between gdb's answers
SIGNAL_FRAME: Final = "<signal handler called>"


@dataclass(frozen=True, kw_only=True)
class Frame:
    number: int
    address: int | None
    function: str
    source: str = ""
    library: str = ""


@dataclass(frozen=True, kw_only=True)
class LibraryRange:
    low: int | None
    high: int | None
    path: str


@dataclass(frozen=True, kw_only=True)
class GdbReport:
    crash_thread: tuple[Frame, ...]
    all_threads: str
    libraries: tuple[LibraryRange, ...]


_FRAME: Final = re.compile(r"^#(\d+)\s+(?:(0x[0-9a-fA-F]+) in )?(.*)$")
_LIBRARY: Final = re.compile(
    r"^(?:(0x[0-9a-fA-F]+)\s+(0x[0-9a-fA-F]+)\s+)?(?:Yes|No)(?: \(\*\))?\s+(/.*)$"
)


def _sections(text: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith(MARK):
            current = found.setdefault(line[len(MARK) :].strip(), [])
        elif current is not None:
            current.append(line)
    return found


def _strip_args(text: str) -> str:
    """`f<T (&)()> (a=1, b=(x))` → `f<T (&)()>`: drop the trailing balanced argument list."""
    text = text.rstrip()
    if not text.endswith(")"):
        return text
    depth = 0
    for index in range(len(text) - 1, -1, -1):
        if text[index] == ")":
            depth += 1
        elif text[index] == "(":
            depth -= 1
            if depth == 0:
                head = text[:index].rstrip()
                return head or text
    return text


def parse_frame(line: str) -> Frame | None:
    """One `#N ...` line of a gdb backtrace."""
    match = _FRAME.match(line.strip())
    if not match:
        return None
    rest = match.group(3)
    library = ""
    source = ""
    if " from " in rest:
        rest, library = rest.rsplit(" from ", 1)
    if " at " in rest:
        head, tail = rest.rsplit(" at ", 1)
        if ")" not in tail:
            rest, source = head, tail
    function = rest.strip() if rest.strip() == SIGNAL_FRAME else _strip_args(rest)
    return Frame(
        number=int(match.group(1)),
        address=int(match.group(2), 16) if match.group(2) else None,
        function=function,
        source=source.strip(),
        library=library.strip(),
    )


def _frames(lines: Iterable[str]) -> list[Frame]:
    """The frames of the first backtrace in `lines` (numbering restarts at the next one)."""
    frames: list[Frame] = []
    for line in lines:
        frame = parse_frame(line)
        if frame is not None:
            if frames and frame.number <= frames[-1].number:
                break
            frames.append(frame)
    return frames


def parse_gdb(text: str) -> GdbReport:
    """The crashing thread's frames, the all-threads dump and the library table.

    When the crash-thread section holds no frame (gdb answered `No stack.` there, or printed
    a warning instead), the first thread of the all-threads dump stands in for it.
    """
    sections = _sections(text)
    crash = sections.get("crash-thread")
    if crash is None:  # no markers: take the first backtrace in the text
        crash = text.splitlines()
    frames = _frames(crash) or _frames(sections.get("all-threads", []))
    libraries = []
    for line in sections.get("libraries", []):
        match = _LIBRARY.match(line.strip())
        if match:
            low, high, path = match.groups()
            libraries.append(
                LibraryRange(
                    low=int(low, 16) if low else None,
                    high=int(high, 16) if high else None,
                    path=path.strip(),
                )
            )
    return GdbReport(
        crash_thread=tuple(frames),
        all_threads="\n".join(sections.get("all-threads", [])).strip(),
        libraries=tuple(libraries),
    )


def library_of(address: int, libraries: Sequence[LibraryRange]) -> str:
    for library in libraries:
        low, high = library.low, library.high
        if low is not None and high is not None and low <= address < high:
            return library.path
    return ""


@dataclass(frozen=True, kw_only=True)
class Located:
    """A frame of the crashing thread with the file name of the object it runs in."""

    number: int
    function: str  # "??" when gdb found no symbol
    library: str = ""  # file name (no folder); "" when unknown
    source: str = ""
    address: int | None = None

    def describe(self) -> str:
        function = self.function
        if function == "??":
            function = "?? (a jump to address 0)" if self.address == 0 else "?? ()"
        if self.library:
            return f"#{self.number} {function} in {self.library}"
        if self.source:
            return f"#{self.number} {function} at {self.source}"
        return f"#{self.number} {function} in ?"


def crash_frames(report: GdbReport) -> tuple[Located, ...]:
    """The crashing thread's frames, innermost first, each naming its shared object.

    A core written by the kernel after faulthandler re-raised the signal starts with the
    handler's frames; the crash itself is below `<signal handler called>` (when gdb could not
    unwind past the handler, the handler's frames are all there is, and they are kept). A
    frame gdb printed without an address is an inlined one sharing the object of the frame
    above it, except at the top, where its object is unknown.
    """
    frames = list(report.crash_thread)
    handler = [i for i, f in enumerate(frames) if f.function == SIGNAL_FRAME]
    if handler and handler[-1] + 1 < len(frames):
        frames = frames[handler[-1] + 1 :]
    out = []
    library = ""
    for frame in frames:
        if frame.function == SIGNAL_FRAME:
            library = ""
            continue
        if frame.address is not None:
            library = frame.library or library_of(frame.address, report.libraries)
        elif frame.library:
            library = frame.library
        out.append(
            Located(
                number=frame.number,
                function=frame.function,
                library=posixpath.basename(library),
                source=frame.source,
                address=frame.address,
            )
        )
    return tuple(out)


# The C library and the dynamic loader: a run of frames in them (raise, abort, free, exit,
# dlopen's internals) is shown on one line, so the frames that matter fit in the block.
SYSTEM_OBJECT: Final = re.compile(r"^(libc|libpthread|libdl|ld-linux[-\w.]*|ld-musl[-\w]*)\.so")
FOLD_AT: Final = 3


def _names(run: Sequence[Located]) -> str:
    names = ["?? ()" if f.function == "??" else f.function for f in run]
    parts: list[str] = []
    index = 0
    while index < len(names):
        same = 1
        while index + same < len(names) and names[index + same] == names[index]:
            same += 1
        parts.append(names[index] + (f" ×{same}" if same > 1 else ""))
        index += same
    return ", ".join(parts)


def top_frames(report: GdbReport, count: int) -> tuple[str, ...]:
    """Up to `count` lines for the crashing thread's innermost frames, each naming its shared
    object; unsymbolised frames show as `?? ()`. A run of three or more frames in the C
    library or the loader is one line (`#0-#8 in libc.so.6: ?? (), raise, abort, …`)."""
    frames = crash_frames(report)
    shown: list[str] = []
    index = 0
    while index < len(frames) and len(shown) < count:
        frame = frames[index]
        run = 1
        if SYSTEM_OBJECT.match(frame.library):
            while index + run < len(frames) and frames[index + run].library == frame.library:
                run += 1
        if run >= FOLD_AT:
            last = frames[index + run - 1]
            names = _names(frames[index : index + run])
            shown.append(f"#{frame.number}-#{last.number} in {frame.library}: {names}")
            index += run
        else:
            shown.append(frame.describe())
            index += 1
    return tuple(shown)


_PYSTACK_LINE: Final = re.compile(
    r"^(Fatal Python error: |Python runtime state: |Current thread 0x|Thread 0x|Stack \(most"
    r"|  File |  <no Python frame>|  \.\.\.|<Cannot show all threads|\s*$)"
)
_PYSTACK_START: Final = re.compile(r"^(Fatal Python error: |Current thread 0x|Thread 0x|Stack \()")


def python_stack(stderr: str) -> str:
    """faulthandler's dump from a probe's stderr (fatal error or SIGUSR1), or ''."""
    lines = stderr.splitlines()
    start = next((i for i, line in enumerate(lines) if _PYSTACK_START.match(line)), None)
    if start is None:
        return ""
    block = []
    for line in lines[start:]:
        if not _PYSTACK_LINE.match(line):
            break
        block.append(line)
    return "\n".join(block).strip()


_FAMILIES: Final = (
    ("two libstdc++", re.compile(r"^libstdc\+\+(-[0-9a-f]{8})?\.so")),
    ("two libc++", re.compile(r"^libc\+\+(-[0-9a-f]{8})?\.so")),
    ("two unwinders", re.compile(r"^(libgcc_s|libunwind)(-[0-9a-f]{8})?\.so")),
    ("two OpenMP runtimes", re.compile(r"^(libgomp|libiomp5|libomp)(-[0-9a-f]{8})?\.so")),
)


def duplicate_runtimes(paths: Iterable[str]) -> tuple[str, ...]:
    """Findings about runtimes loaded twice: two libstdc++, two unwinders, a name twice."""
    libraries = [p for p in dict.fromkeys(paths) if ".so" in posixpath.basename(p)]
    findings = []
    for label, pattern in _FAMILIES:
        members = [p for p in libraries if pattern.match(posixpath.basename(p))]
        if len(members) > 1:
            findings.append(f"{label}: {', '.join(members)}")
    by_name: dict[str, list[str]] = {}
    for path in libraries:
        by_name.setdefault(posixpath.basename(path), []).append(path)
    for name, found in by_name.items():
        if len(found) > 1:
            findings.append(f"{name} from two paths: {', '.join(found)}")
    return tuple(findings)


@dataclass(frozen=True, kw_only=True)
class Binding:
    """The loader resolved `symbol`, referenced by `referrer`, to the copy in `provider`."""

    referrer: str
    provider: str
    symbol: str


_BINDING: Final = re.compile(
    r"binding file (?P<referrer>.+?) \[\d+\] to (?P<provider>.+?) \[\d+\]: "
    r"(?:\w+ )?symbol `(?P<symbol>[^']+)'"
)
RUNTIME_PREFIXES: Final = (
    "_ZSt",
    "_ZNSt",
    "_ZNKSt",
    "_ZZSt",
    "_ZZNSt",
    "_ZTISt",
    "_ZTSSt",
    "_ZTVSt",
    "_ZN9__gnu_cxx",
    "_ZNK9__gnu_cxx",
    "_ZN10__cxxabiv1",
    "_ZTIN10__cxxabiv1",
    "_ZTVN10__cxxabiv1",
    "_Znw",
    "_Zna",
    "_Zdl",
    "_Zda",
    "__once_",
    "__cxa_",
    "__gxx_personality",
    "_Unwind_",
)
_EXTENSION: Final = re.compile(r"\.(abi3|cpython-[^/]*)\.so$|/site-packages/.*\.so$")


def is_extension_module(path: str) -> bool:
    return bool(_EXTENSION.search(path))


def runtime_bindings(lines: Iterable[str]) -> tuple[Binding, ...]:
    """From LD_DEBUG=bindings output: runtime symbols (std::, __once_*, __cxa_*,
    _Unwind_*) that another object bound to an extension module's copy."""
    found: dict[tuple[str, str, str], Binding] = {}
    for line in lines:
        match = _BINDING.search(line)
        if not match:
            continue
        referrer, provider, symbol = match.group("referrer", "provider", "symbol")
        if referrer == provider or not is_extension_module(provider):
            continue
        if symbol.startswith(RUNTIME_PREFIXES):
            found.setdefault(
                (referrer, provider, symbol),
                Binding(referrer=referrer, provider=provider, symbol=symbol),
            )
    return tuple(found.values())


def describe_binding(binding: Binding, demangled: str = "") -> str:
    name = f"{binding.symbol} ({demangled})" if demangled else binding.symbol
    return (
        f"{posixpath.basename(binding.referrer)} binds {name} to "
        f"{posixpath.basename(binding.provider)} ({binding.provider})"
    )
