"""Whether this kernel runs a foreign arch's binaries through qemu-user (binfmt_misc).

A container of a foreign arch runs its programs through the kernel's binfmt_misc entry for
that arch. The entry must carry the F (fix-binary) flag: the kernel then opens the qemu
interpreter when the entry is registered, so it works inside containers, whose root
filesystems have no /usr/libexec/qemu-binfmt of the host's. Without the entry, every exec in
the container fails with `exec format error`, which is the machine's fault, never the wheels'.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Final, assert_never

from harness.errors import InfrastructureError

BINFMT_MISC: Final = Path("/proc/sys/fs/binfmt_misc")
FIX_BINARY: Final = "F"


class State(StrEnum):
    READY = "ready"
    NOT_MOUNTED = "not-mounted"
    MISSING = "missing"
    DISABLED = "disabled"
    NO_FIX_BINARY = "no-fix-binary"


@dataclass(frozen=True, kw_only=True)
class Entry:
    """One /proc/sys/fs/binfmt_misc/<name> file, parsed."""

    name: str
    enabled: bool
    interpreter: str
    flags: str

    @classmethod
    def parse(cls, name: str, text: str) -> Entry:
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        fields = dict(line.partition(" ")[::2] for line in lines[1:])
        return cls(
            name=name,
            enabled=bool(lines) and lines[0] == "enabled",
            interpreter=fields.get("interpreter", "").strip(),
            flags=fields.get("flags:", "").strip(),
        )


@dataclass(frozen=True, kw_only=True)
class Registration:
    arch: str
    qemu: str
    state: State
    entry: Entry | None = None

    @property
    def path(self) -> Path:
        return BINFMT_MISC / f"qemu-{self.qemu}"


def inspect(arch: str, qemu: str, root: Path | None = None) -> Registration:
    """The state of the `qemu-<qemu>` entry under `root` (default: the binfmt_misc mount)."""
    root = root or BINFMT_MISC
    if not (root / "status").exists():
        return Registration(arch=arch, qemu=qemu, state=State.NOT_MOUNTED)
    try:
        text = (root / f"qemu-{qemu}").read_text(encoding="utf-8")
    except OSError:
        return Registration(arch=arch, qemu=qemu, state=State.MISSING)
    entry = Entry.parse(f"qemu-{qemu}", text)
    if not entry.enabled:
        state = State.DISABLED
    elif FIX_BINARY not in entry.flags:
        state = State.NO_FIX_BINARY
    else:
        state = State.READY
    return Registration(arch=arch, qemu=qemu, state=state, entry=entry)


def what_and_steps(registration: Registration) -> tuple[str, list[str]]:
    """What is wrong with a registration that is not ready, and the commands that fix it."""
    arch, qemu, path = registration.arch, registration.qemu, registration.path
    install = (
        "apt-get install qemu-user-static binfmt-support arch-test   # registers with flags PF\n"
        f"  update-binfmts --enable qemu-{qemu}"
    )
    match registration.state:
        case State.READY:
            return "", []
        case State.NOT_MOUNTED:
            what = f"binfmt_misc is not mounted at {BINFMT_MISC}"
            steps = [f"mount -t binfmt_misc binfmt_misc {BINFMT_MISC}", install]
        case State.MISSING:
            what = f"no qemu-user interpreter is registered for {arch} ({path} is missing)"
            steps = [install]
        case State.DISABLED:
            what = f"{path} is registered but disabled"
            steps = [f"update-binfmts --enable qemu-{qemu}   (or: echo 1 > {path})"]
        case State.NO_FIX_BINARY:
            flags = registration.entry.flags if registration.entry else ""
            what = (
                f"{path} lacks the F (fix-binary) flag (flags: {flags or 'none'}), so the "
                "interpreter is looked up inside each container, where it does not exist"
            )
            steps = [
                f"echo -1 > {path}   # unregister, then register again with F:",
                install,
            ]
        case _:
            assert_never(registration.state)
    return what, steps


def installer(arch: str) -> str:
    """The binfmt installer image's command, an alternative to the Debian packages."""
    return "docker run --privileged --rm tonistiigi/binfmt --install " + arch


def runbook(registration: Registration, host: str) -> InfrastructureError:
    """What is wrong with a registration that is not ready and how to fix it, as an error."""
    arch = registration.arch
    what, steps = what_and_steps(registration)
    lines = "\n".join(f"  {step}" for step in steps)
    return InfrastructureError(
        f"{arch} containers need qemu-user emulation on this {host} host, and {what}.",
        context="Without it every program in them fails with `exec format error`; no cell ran.",
        hint=(
            f"enable it (as root):\n{lines}\n"
            f"or use the binfmt installer image: {installer(arch)}\n"
            f"or map {arch} to a native {arch} Docker engine: "
            f'[tool.wheelclash] engines = {{ {arch} = "ssh://user@{arch}-host" }} or '
            f"--engine {arch}=URL."
        ),
    )


def require(arch: str, qemu: str, host: str, root: Path | None = None) -> None:
    """Raise the runbook error unless the kernel runs `arch` binaries through qemu (flag F)."""
    registration = inspect(arch, qemu, root)
    if registration.state != State.READY:
        raise runbook(registration, host)
