"""wheelclash target facts: what this interpreter and its system are. Standard library only.

Prints one JSON line: python version, glibc version, the libstdc++ file name, the machine,
and the wheel tags this interpreter accepts (from pip's vendored `packaging`, when present),
so the harness can tell a wheel that cannot install here from one that crashes.
"""

import ctypes
import ctypes.util
import json
import os
import platform
import sys


def libstdcxx():
    name = ctypes.util.find_library("stdc++")
    if not name:
        return ""
    try:
        ctypes.CDLL(name)
    except OSError:
        return name
    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.split()[-1]
            if "libstdc++.so" in path:
                return os.path.basename(os.path.realpath(path))
    return name


def supported_tags():
    try:
        from pip._vendor.packaging import tags
    except ImportError:
        try:
            from packaging import tags
        except ImportError:
            return None
    return [str(tag) for tag in tags.sys_tags()]


def main():
    facts = {
        "python": platform.python_version(),
        "glibc": os.confstr("CS_GNU_LIBC_VERSION") if hasattr(os, "confstr") else "",
        "libstdcxx": libstdcxx(),
        "machine": platform.machine(),
        "executable": sys.executable,
        "tags": supported_tags(),
    }
    sys.stdout.write(json.dumps(facts) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
