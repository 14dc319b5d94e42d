"""The imports a Python source runs when it is imported, read from its syntax tree (never
run): at module level, in class bodies, in `if`, `try`, `with` blocks and loops (not under
`if TYPE_CHECKING:`, not in functions); those in `if`, `try` and loops are conditional."""

from __future__ import annotations

import ast
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

# One parse at a time in this process: CPython 3.11 before 3.11.8 keeps the syntax tree
# builder's recursion depth in state shared by threads, and two parses at once (the wheels of
# a run are prepared two at a time) can fail with "SystemError: AST constructor recursion
# depth mismatch" (python/cpython#106905). Parsing holds the GIL for most of its work anyway.
_PARSING = threading.Lock()


@dataclass(frozen=True, kw_only=True)
class Imported:
    """One module a source imports when it runs: the dotted name, and whether it is imported
    only under a condition (in a `try`, an `if` or a loop), so the module may do without it."""

    name: str
    conditional: bool


def imports_in(source: bytes, module: str, package: bool) -> tuple[Imported, ...]:
    """The modules a Python source imports when it runs, as absolute dotted names (for
    `from a import b`, both `a` and `a.b`, which may be a submodule). () when it does not
    parse (syntax newer than this Python's)."""
    try:
        with _PARSING:
            tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return ()
    here = module if package else module.rpartition(".")[0]
    return tuple(_walk(tree.body, here, conditional=False))


def _is_type_checking(test: ast.expr) -> bool:
    match test:
        case ast.Name(id="TYPE_CHECKING") | ast.Attribute(attr="TYPE_CHECKING"):
            return True
    return False


def _walk(body: Sequence[ast.stmt], here: str, conditional: bool) -> Iterator[Imported]:
    for node in body:
        match node:
            case ast.Import(names=names):
                yield from (Imported(name=alias.name, conditional=conditional) for alias in names)
            case ast.ImportFrom(module=module, names=names, level=level):
                base = _absolute(here, module or "", level)
                if base:
                    yield Imported(name=base, conditional=conditional)
                    for alias in names:
                        yield Imported(name=f"{base}.{alias.name}", conditional=conditional)
            case ast.Try(body=inner, handlers=handlers, orelse=orelse, finalbody=final):
                yield from _walk(inner, here, conditional=True)
                for handler in handlers:
                    yield from _walk(handler.body, here, conditional=True)
                yield from _walk(orelse, here, conditional=True)
                yield from _walk(final, here, conditional)
            case ast.If(test=test, body=inner, orelse=orelse):
                if not _is_type_checking(test):
                    yield from _walk(inner, here, conditional=True)
                yield from _walk(orelse, here, conditional=True)
            case ast.With(body=inner) | ast.ClassDef(body=inner):
                yield from _walk(inner, here, conditional)
            case ast.For(body=inner, orelse=orelse) | ast.While(body=inner, orelse=orelse):
                yield from _walk([*inner, *orelse], here, conditional=True)


def _absolute(here: str, module: str, level: int) -> str:
    """`from ..x import y` in package `a.b.c` → `a.b.x`; '' when it climbs out."""
    if level == 0:
        return module
    parts = here.split(".") if here else []
    if level - 1 > len(parts) - 1:
        return ""
    base = parts[: len(parts) - (level - 1)]
    return ".".join([*base, module] if module else base)
