"""C++ names for mangled symbols, from the C++ runtime's own demangler.

`abi::__cxa_demangle` of libstdc++, called through ctypes (no process is started); gdb and
c++filt print the same names, so a demangled symbol can be compared with a backtrace frame.
"""

from __future__ import annotations

import ctypes
import functools
import logging
from collections.abc import Iterable
from typing import Any

logger = logging.getLogger(__name__)


@functools.cache
def _runtime() -> tuple[Any, Any] | None:
    """libstdc++'s __cxa_demangle and the C library's free, or None without libstdc++."""
    try:
        runtime = ctypes.CDLL("libstdc++.so.6")
        libc = ctypes.CDLL(None)
    except OSError as exc:
        logger.warning("no C++ runtime to demangle symbols with (%s): names stay mangled", exc)
        return None
    function = runtime.__cxa_demangle
    function.restype = ctypes.c_void_p
    function.argtypes = [
        ctypes.c_char_p,
        ctypes.c_void_p,
        ctypes.c_void_p,
        ctypes.POINTER(ctypes.c_int),
    ]
    free = libc.free
    free.argtypes = [ctypes.c_void_p]
    free.restype = None
    return function, free


def demangle(symbols: Iterable[str]) -> dict[str, str]:
    """The C++ name of each mangled symbol (`_Z…`); names that are not mangled are left out."""
    runtime = _runtime()
    if runtime is None:
        return {}
    function, free = runtime
    out: dict[str, str] = {}
    for symbol in symbols:
        if not symbol.startswith("_Z"):
            continue
        status = ctypes.c_int()
        pointer = function(symbol.encode(), None, None, ctypes.byref(status))
        if pointer:
            if status.value == 0:
                out[symbol] = ctypes.string_at(pointer).decode(errors="replace")
            free(pointer)
    return out
