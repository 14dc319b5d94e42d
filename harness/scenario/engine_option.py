"""How a user names the Docker engine of an arch: `ARCH=URL` or `ARCH=context`, checked as read.

Only the spelling is checked here, when `[tool.wheelclash] engines` or `--engine` is read;
`harness.images.engines` connects to them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

SCHEMES: Final = ("unix", "tcp", "ssh", "http", "https", "npipe")
CONTEXT_NAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


def problem(arch: str, value: object, arches: Iterable[str]) -> str:
    """What is wrong with one `arch = engine` entry, or ''."""
    valid = tuple(arches)
    if arch not in valid:
        return f"unknown arch {arch!r}; valid: {', '.join(valid)}"
    if not isinstance(value, str) or not value:
        return "must be a Docker engine URL (ssh://user@host, tcp://host:2376) or a context name"
    scheme, sep, rest = value.partition("://")
    if sep:
        if scheme not in SCHEMES or not rest:
            return f"{value!r}: the URL scheme must be one of {', '.join(SCHEMES)}"
        return ""
    if not CONTEXT_NAME.match(value):
        return f"{value!r} is neither an engine URL (scheme://...) nor a docker context name"
    return ""
