"""The docker backend: one confined, long-lived container per (target, arch, wheel set).

The wheel set is installed once, offline, into a venv inside the container; the cells then
run in batches through the stdlib supervisor, one fresh interpreter each, streamed back a
line per cell: one batch, or with `-j` several at once, each its own `docker exec` with its
own batch file and working folder. Containers run without network, with memory and pid
limits, on a read-only root filesystem, and are removed with their volumes in `finally` (also
on Ctrl-C and SIGTERM) unless WHEELCLASH_KEEP_CONTAINERS=1. Leftovers of dead harness
processes are removed on start-up.

Who is who in a container (resources/docker.toml): the probes run as `user`, which can write
nowhere but fixed-size folders in memory (HOME, the cells' folder, /tmp). The scripts and venv
(and a remote engine's copy of the wheels; a local one binds them read-only: transfer.py) are
in a volume on the engine's disk that `user` cannot write: the scripts and batches belong to
root, the venv to `supervisor_user`, who installs it. The supervisor is started as root, with
only the capabilities to change users, and at once keeps `supervisor_user` as its real user
and takes `user` as its effective one: a probe cannot signal it (see resources/supervisor.py).
On an engine whose storage driver is slow, the probes run chrooted into a read-only copy of
the image's root filesystem on the engine's disk, with the container's own mounts bound into
it (images/rootcopy.py, resources/root_binds.py), and the venv is made and installed there
too (resources/enter_root.py); where the engine refuses the binds, the image's /usr/lib and
/usr/bin are read from copies on the engine's disk instead (images/mirrors.py).

The installed venv is kept between containers (environments.py): the first container of an
image and wheel set installs into a named volume, and the next ones mount it read-only.
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

import docker
import docker.errors
from docker.models.containers import Container
from packaging.utils import parse_wheel_filename

from harness import paths
from harness.build import wheelhouse
from harness.build.builders import Builder, ContainerBuilder
from harness.build.wheels import BuiltWheel
from harness.cells.backends import Session, TargetFacts, environments
from harness.cells.backends import transfer as wheel_transfer
from harness.cells.backends.channels import Channel, Channels
from harness.cells.backends.fetch import fetch_capture
from harness.cells.backends.stream import outcomes_from_lines
from harness.cells.install import compile_command, install_command, refusal
from harness.cells.jobs import CellJob, batch, batch_deadline
from harness.cells.outcome import Outcome
from harness.common import progress
from harness.common.digests import file_sha256
from harness.common.progress import StageKind
from harness.common.stopping import Stopped, never
from harness.errors import InfrastructureError
from harness.images import catalogue as image_catalogue
from harness.images import containers, doctor_checks, engines, factcache, mirrors, rootcopy
from harness.images import provision as images
from harness.images.tarstream import Entry, TarStream, owned
from harness.scenario.tomlload import Checker, read_toml

logger = logging.getLogger(__name__)

LABEL_GROUP: Final = "org.wheelclash.group"
# What the supervisor, started as root, needs to take its two users (and to empty the
# capability bounding set first); it holds none of them once it has.
SUPERVISOR_CAPABILITIES: Final = ("SETUID", "SETGID", "SETPCAP")
# With a root copy: to bind the container's mounts into it (once, by resources/root_binds.py)
# and to chroot into it (each supervisor, before it drops them all). No probe holds them: the
# supervisor empties the bounding set before it starts one, and no-new-privileges keeps the
# harness's other commands, run as users other than root, from gaining them.
ROOTING_CAPABILITIES: Final = ("SYS_CHROOT", "SYS_ADMIN")
# What the engine itself mounts into a container's /etc.
ENGINE_FILES: Final = ("/etc/hosts", "/etc/hostname", "/etc/resolv.conf")
ROOT: Final = "0:0"
CONFLICT: Final = 409  # the engine refuses: the container is being removed already
SIZE: Final = re.compile(r"(\d+)([bkmg]?)", re.IGNORECASE)
# docker-py raises its own errors, and requests' (OSErrors) when the engine's socket is gone.
ENGINE_FAILURES: Final = (docker.errors.DockerException, OSError)


@dataclass(frozen=True, kw_only=True)
class Settings:
    confinement: containers.Confinement
    supervisor_user: str
    harness_dir: str
    inputs_dir: str  # where a local engine's container sees the wheels, bound read-only
    default_builder_suite: str
    # The image's folders its cell containers read from mirrors where the storage driver is
    # slow (harness/images/mirrors.py).
    mirrored: tuple[str, ...] = ()
    # Where, on such an engine, cell containers mount a copy of the image's whole root
    # filesystem for their probes to run chrooted in (harness/images/rootcopy.py); "" for
    # never. Where it cannot be made or entered, the mirrors above serve instead.
    root_copy: str = ""
    # Bytes of the engine's disk that installed environments kept between runs may take
    # together (cells/backends/environments.py); 0 keeps none.
    kept_environments: int = 0

    @property
    def workdir(self) -> str:
        return self.confinement.home

    @property
    def cells(self) -> str:
        """The supervisor's working folder, the probes' working directory."""
        return f"{self.workdir}/cells"

    def script(self, name: str) -> str:
        return f"{self.harness_dir}/bin/{name}"

    @property
    def venv(self) -> str:
        return f"{self.harness_dir}/venv"

    @property
    def scratch_dir(self) -> str:
        """TMPDIR and HOME of the supervisor user's own commands (pip): on disk."""
        return f"{self.harness_dir}/tmp"


def size_bytes(text: str) -> int | None:
    """Bytes in a size as the engine takes it ("512m", "1g"), or None when it is not one."""
    match = SIZE.fullmatch(text.strip())
    if match is None:
        return None
    return int(match[1]) << {"": 0, "b": 0, "k": 10, "m": 20, "g": 30}[match[2].lower()]


def check_user(check: Checker, table: dict[str, Any], name: str, key: str) -> str:
    """A "uid:gid" of numbers, neither of them 0."""
    value = check.string(table, name, key)
    parts = value.split(":")
    if len(parts) != 2 or not all(p.isdigit() and int(p) > 0 for p in parts):
        check.add(key, f'must be "uid:gid", two numbers other than 0 (is {value!r})')
    return value


@functools.cache
def load_settings(path: Path = paths.RESOURCES / "docker.toml") -> Settings:
    check = Checker(path)
    document = read_toml(path)
    check.unknown_keys(document, {"container", "builder"}, "")
    table = check.table(document, "container", "container")
    keys = {"user", "supervisor_user", "memory", "pids", "workdir", "harness_dir", "scratch"}
    keys |= {"inputs_dir", "mirrored", "root_copy", "kept_environments"}
    check.unknown_keys(table, keys, "container")
    scratch = check.table(table, "scratch", "container.scratch")
    check.unknown_keys(scratch, {"home", "cells", "tmp"}, "container.scratch")
    builder = check.table(document, "builder", "builder")
    check.unknown_keys(builder, {"default_suite"}, "builder")
    user = check_user(check, table, "user", "container.user")
    supervisor_user = check_user(check, table, "supervisor_user", "container.supervisor_user")
    if user == supervisor_user:
        check.add("container.supervisor_user", "must differ from container.user")
    memory = check.string(table, "memory", "container.memory")
    home = check.string(table, "workdir", "container.workdir")
    harness_dir = check.string(table, "harness_dir", "container.harness_dir")
    inputs_dir = check.string(table, "inputs_dir", "container.inputs_dir")
    if inputs_dir and not inputs_dir.startswith("/"):
        check.add("container.inputs_dir", f"must be an absolute path (is {inputs_dir!r})")
    mirrored = check.strings(table, "mirrored", "container.mirrored")
    given = check.string(table, "root_copy", "container.root_copy")
    root_copy = given.rstrip("/")
    if given and (not given.startswith("/") or root_copy in ("", harness_dir, home)):
        check.add(
            "container.root_copy",
            f'must be "" or an absolute folder other than / and the harness\'s own (is {given!r})',
        )
    kept = check.string(table, "kept_environments", "container.kept_environments", "0")
    if kept.strip() != "0" and not size_bytes(kept):
        check.add(
            "container.kept_environments",
            f'must be a size such as "20g", or "0" to keep none (is {kept!r})',
        )
    for folder in mirrored:
        if not folder.startswith("/") or folder.rstrip("/") in ("", harness_dir, home):
            check.add(
                "container.mirrored",
                f"must list absolute folders of the image other than / and the harness's own "
                f"(has {folder!r})",
            )
    sizes = {
        n: check.string(scratch, n, f"container.scratch.{n}") for n in ("home", "cells", "tmp")
    }
    for name, size in [("memory", memory), *sizes.items()]:
        key = "container.memory" if name == "memory" else f"container.scratch.{name}"
        if size and not size_bytes(size):
            check.add(key, f'must be a size such as "256m" or "1g" (is {size!r})')
    total = sum(size_bytes(size) or 0 for size in sizes.values())
    if total >= (size_bytes(memory) or total + 1):
        check.add(
            "container.scratch",
            f"the scratch folders ({', '.join(sizes.values())}) live in memory and must leave "
            f"room for the probes under container.memory ({memory}); make them smaller",
        )
    settings = Settings(
        confinement=containers.Confinement(
            user=user,
            memory=memory,
            pids=check.integer(table, "pids", "container.pids", 512, 16),
            home=home,
            # The only places the wheels can write: fixed sizes, in memory. HOME holds the
            # capture folders the harness copies out, so it is a volume (see Scratch).
            scratch=(
                containers.Scratch(path=home, size=sizes["home"], owner=user, archived=True),
                containers.Scratch(path=f"{home}/cells", size=sizes["cells"], owner=user),
                containers.Scratch(path="/tmp", size=sizes["tmp"]),
            ),
            read_only=True,
            volumes=(harness_dir,),
            capabilities=SUPERVISOR_CAPABILITIES,
            init_user=ROOT,
        ),
        supervisor_user=supervisor_user,
        harness_dir=harness_dir,
        inputs_dir=inputs_dir,
        default_builder_suite=check.string(builder, "default_suite", "builder.default_suite"),
        mirrored=mirrored,
        root_copy=root_copy,
        kept_environments=size_bytes(kept) or 0,
    )
    memory = settings.confinement.memory
    if memory and not containers.MEMORY_RE.match(memory):
        check.add(
            "container.memory",
            f"{memory!r} is not a memory size; write a whole number "
            'and a unit b, k, m or g, e.g. "2g"',
        )
    check.raise_if_any()
    return settings


def root_copy_points(settings: Settings) -> tuple[str, ...]:
    """The folders a root copy is made with, for the container's mounts to be bound on."""
    return (settings.harness_dir, settings.inputs_dir, settings.workdir, "/tmp")


def mirror_paths(settings: Settings) -> frozenset[str]:
    """The mirror paths (images/mirrors.py's labels) these settings use: the mirrored
    folders and the root copy's key; others were made by other settings."""
    root = settings.root_copy
    copy = {rootcopy.key([root, *root_copy_points(settings)])} if root else set()
    return frozenset(settings.mirrored) | copy


def keep_containers() -> bool:
    return os.environ.get("WHEELCLASH_KEEP_CONTAINERS", "") == "1"


def not_installable_reason(wheels: Sequence[BuiltWheel], tags: Sequence[str] | None) -> str:
    """Why pip would refuse a wheel of the set on a target accepting `tags`, or ''."""
    if tags is None:
        return ""
    accepted = set(tags)
    for wheel in wheels:
        _, _, _, wheel_tags = parse_wheel_filename(wheel.path.name)
        if not {str(t) for t in wheel_tags} & accepted:
            best = next((t for t in tags if "manylinux" in t), tags[0] if tags else "none")
            return (
                f"{wheel.path.name} is not a supported wheel on this target: its tags "
                f"{', '.join(sorted(str(t) for t in wheel_tags))} match none of the tags the "
                f"target's Python accepts (the most specific is {best})"
            )
    return ""


@dataclass(frozen=True, kw_only=True)
class DockerSession:
    client: docker.DockerClient
    container: Container
    facts: TargetFacts
    settings: Settings
    not_installable: str = ""
    root: str = ""  # the folder its supervisors chroot into (the image's root copy), or ""
    # its serving supervisors no batch is using (a local engine's: channels.py)
    channels: Channels = field(default_factory=Channels, compare=False)

    def alive(self, settle_s: float = 2.0) -> bool:
        """Whether the container still runs (a pool's serves many sets: run/sharing.py).
        Asked after its cells failed: a container being killed reads `running` for a moment
        after its processes died, so it must read so for `settle_s` to count as alive."""
        until = time.monotonic() + settle_s
        while self._state() == "running":
            if time.monotonic() >= until:
                return True
            time.sleep(0.25)
        return False

    def run(self, jobs: Sequence[CellJob], stopped: Stopped = never) -> Iterator[Outcome]:
        settings = self.settings
        by_id = {job.cell_id: job for job in jobs}
        # On a local engine a supervisor serves batch after batch on its exec's stdin;
        # elsewhere each batch is put into the container first (an engine round trip and an
        # archive, ~50 ms) and has an exec of its own.
        if containers.pipes_stdin(self.client.api):
            outcomes = self._served(jobs, stopped)
        else:
            outcomes = self._filed(jobs, stopped)
        for outcome in outcomes:
            job = by_id[outcome.cell_id]
            yield fetch_capture(
                self.container,
                f"{settings.workdir}/capture",
                job,
                outcome,
                user=settings.confinement.user,
            )

    def _document(self, jobs: Sequence[CellJob], workdir: str) -> dict[str, Any]:
        settings = self.settings
        return batch(
            jobs,
            python=f"{settings.venv}/bin/python",
            probe=settings.script("probe.py"),
            workdir=workdir,  # its probes' files (and kernel cores): its own
            capture_root=f"{settings.workdir}/capture",  # a folder per cell
            private_home=True,  # the container's HOME and /tmp outlive cells, of other pairs too
            compiled_probe=True,  # its venv's python is the python3 the supervisor runs on
        )

    def _served(self, jobs: Sequence[CellJob], stopped: Stopped) -> Iterator[Outcome]:
        """The batch, sent to an idle serving supervisor (or a new one), as one line; its
        report lines read until its end line. Given up on, its supervisor is stopped."""
        batch_id = f"batch-{uuid.uuid4().hex[:16]}"
        channel, was_idle = self._send(jobs, batch_id)
        deadline = batch_deadline(jobs)
        ended = False
        try:
            lines = channel.lines(batch_id, deadline, stopped)
            first = next(lines, None)
            if first is None and was_idle and channel.finished.is_set() and not channel.ended:
                # Its idle supervisor had died (killed between batches) before the batch
                # reached it: the stream's end came in only after the batch went out. It
                # never ran a cell of it, so a new supervisor takes the batch, once.
                logger.warning("an idle supervisor had died; its batch goes to a new one")
                channel.close()
                channel = self._opened_with(jobs, batch_id)
                lines = channel.lines(batch_id, deadline, stopped)
            elif first is not None:
                lines = itertools.chain([first], lines)
            yield from outcomes_from_lines(lines, jobs, lambda: self._why_missing(channel.failure))
            ended = channel.ended
        finally:
            if ended:
                self.channels.give_back(channel)
            else:
                if not channel.finished.is_set():
                    # The deadline passed, the run stops or the consumer left: stop this
                    # supervisor (the container's others go on).
                    self._stop(channel.name)
                channel.close()

    def _send(self, jobs: Sequence[CellJob], batch_id: str) -> tuple[Channel, bool]:
        """The channel the batch was sent on, and whether it was an idle one: an idle one,
        or a new one when none is or the one taken has just ended. Its probes work in the
        channel's own folder."""
        idle = self.channels.take()
        if idle is not None:
            try:
                idle.send(self._served_document(jobs, idle, batch_id))
                return idle, True
            except OSError:
                idle.close()  # its supervisor or stream ended since; a new one takes it
        return self._opened_with(jobs, batch_id), False

    def _opened_with(self, jobs: Sequence[CellJob], batch_id: str) -> Channel:
        """A new serving supervisor's channel, the batch sent on it."""
        channel = self._open_channel()
        try:
            channel.send(self._served_document(jobs, channel, batch_id))
        except OSError as exc:
            channel.close()
            raise InfrastructureError(
                f"the engine failed to take the batch in: its supervisor's stdin refused it ({exc})"
            ) from exc
        return channel

    def _served_document(
        self, jobs: Sequence[CellJob], channel: Channel, batch_id: str
    ) -> dict[str, Any]:
        stem = channel.name.rsplit("/", 1)[-1]
        document = self._document(jobs, workdir=f"{self.settings.cells}/{stem}")
        return {**document, "batch_id": batch_id}

    def _open_channel(self) -> Channel:
        name = f"{self.settings.harness_dir}/batches/serve-{uuid.uuid4().hex[:16]}"
        command = [*self._supervisor_run(), "--serve", name]
        logger.info("+ docker exec %s %s", self.container.short_id, " ".join(command))
        api = self.client.api
        try:
            made = api.exec_create(self.container.id, command, user=ROOT, stdin=True)
            return Channel(api, made["Id"], name)
        except ENGINE_FAILURES as exc:
            raise InfrastructureError(f"the engine failed to start the supervisor: {exc}") from exc

    def _why_missing(self, failure: Sequence[str]) -> str:
        detail = failure[0] if failure else f"container {self._state()}"
        return f"the in-container supervisor stopped reporting ({detail})"

    def _filed(self, jobs: Sequence[CellJob], stopped: Stopped) -> Iterator[Outcome]:
        """The batch, put into the container as a file, run by a supervisor of its own."""
        settings = self.settings
        stem = f"batch-{uuid.uuid4().hex[:16]}"
        name = f"batches/{stem}.json"
        data = json.dumps(self._document(jobs, workdir=f"{settings.cells}/{stem}")).encode()
        try:
            # Root's: the supervisor reads it as root could, and no probe may change it.
            with owned({name: data}, [], ROOT) as archive:
                self.container.put_archive(settings.harness_dir, archive)
        except ENGINE_FAILURES as exc:
            why = f"the engine failed to take the batch in: {exc}"
            raise InfrastructureError(why) from exc
        deadline = batch_deadline(jobs)
        return self._stream(f"{settings.harness_dir}/{name}", jobs, deadline, stopped)

    def _stream(
        self, batch_file: str, jobs: Sequence[CellJob], deadline: float, stopped: Stopped
    ) -> Iterator[Outcome]:
        """Exec the supervisor on a batch file and read its lines, until the stream ends,
        the deadline passes or the run stops."""
        api = self.client.api
        command = [*self._supervisor_run(), batch_file]
        logger.info("+ docker exec %s %s", self.container.short_id, " ".join(command))
        try:
            exec_id = api.exec_create(self.container.id, command, user=ROOT)["Id"]
            channel = Channel(api, exec_id, batch_file)
        except ENGINE_FAILURES as exc:
            raise InfrastructureError(f"the engine failed to start the supervisor: {exc}") from exc
        try:
            lines = channel.lines(None, deadline, stopped)
            yield from outcomes_from_lines(lines, jobs, lambda: self._why_missing(channel.failure))
        finally:
            if not channel.finished.is_set():
                # The deadline passed, the run stops or the consumer left: stop this batch.
                self._stop(batch_file)
            channel.close()

    def _stop(self, batch_file: str) -> None:
        """Stop the supervisor of one batch and its probes; the container's other batches
        go on. When that cannot be done, kill the container: nothing may run on unwatched."""
        command = [*self._supervisor(), "--stop", batch_file]
        try:
            code, output = containers.exec_text(
                self.container, command, user=ROOT, workdir=self.settings.harness_dir
            )
        except InfrastructureError as exc:
            code, output = -1, str(exc)
        if code == 0:
            return
        logger.warning(
            "could not stop the batch %s (%s); killing its container", batch_file, output
        )
        try:
            self.container.kill()
        except ENGINE_FAILURES:
            pass  # gone already, or the engine is: `confined` reports it

    def _supervisor(self) -> list[str]:
        """The supervisor's command, started as root: it takes the supervisor's real user
        and the probes' effective one at once (resources/supervisor.py `--users`)."""
        settings = self.settings
        users = f"{settings.supervisor_user},{settings.confinement.user}"
        # -I: nothing from the environment or HOME, since it starts as root
        return ["python3", "-I", settings.script("supervisor.py"), "--users", users]

    def _supervisor_run(self) -> list[str]:
        """The supervisor's command for a batch: in the image's root copy, if it has one."""
        return [*self._supervisor(), *(["--root", self.root] if self.root else [])]

    def _state(self) -> str:
        try:
            self.container.reload()
        except ENGINE_FAILURES as exc:
            return f"unreachable ({exc})"
        return str(self.container.status)


# What the rooting command writes once root_binds.py has ended, with its exit code.
ROOTED_MARK: Final = "wheelclash-root-binds-exit="
# How long a container may take to start python3 and make its binds.
ROOTING_WAIT_S: Final = 60.0


def rooting_command(settings: Settings) -> tuple[str, ...]:
    """The container's own command where its probes run in the image's root copy: bind the
    container's mounts into the copy (resources/root_binds.py, given as code, since the
    scripts come in after the start), write how that went, then sleep. The binds are then
    made while the harness puts its files in, instead of in an exec of their own after."""
    places = ["/proc", "/sys", "/dev", settings.harness_dir, settings.inputs_dir]
    places += [settings.workdir, "/tmp", *ENGINE_FILES]
    script = f'python3 -I -c "$0" "$@"; echo "{ROOTED_MARK}$?"; exec sleep infinity'
    code = paths.ROOT_BINDS.read_text(encoding="utf-8")
    return ("sh", "-c", script, code, settings.root_copy, *places)


def rooting_result(container: Container, wait_s: float = ROOTING_WAIT_S) -> tuple[int, str]:
    """The rooting command's exit code and output, read from the container's log once it
    has ended; (-1, why) when the log cannot be read or the command never ends."""
    until = time.monotonic() + wait_s
    pause = 0.005
    while True:
        try:
            log = container.logs(stdout=True, stderr=True).decode("utf-8", "replace")
        except ENGINE_FAILURES as exc:
            return -1, f"the container's log could not be read: {exc}"
        before, mark, after = log.partition(ROOTED_MARK)
        if mark and "\n" in after:
            code = after.split("\n", 1)[0].strip()
            return (int(code) if code.isdigit() else -1), before
        if time.monotonic() >= until:
            return -1, f"the binds did not end within {wait_s:.0f} s: {log[-300:]}"
        time.sleep(pause)
        pause = min(pause * 2, 0.1)


class DockerBackend:
    name = "docker"

    def __init__(
        self,
        base_url: str | None = None,
        engines: Mapping[str, str] | None = None,
    ) -> None:
        self.base_url = base_url
        self.engines = dict(engines or {})  # arch -> its own engine (URL or docker context)
        self._client: docker.DockerClient | None = None
        self._engine_clients: dict[str, docker.DockerClient] = {}
        self._janitor_done = False
        self._janitor_lock = threading.Lock()  # groups opened at once (atlas --screen -j N)
        self._builders: dict[tuple[str, str], ContainerBuilder] = {}
        self._driver: str | None = None
        # The target facts of each image (by engine and image id), read in its first
        # container: they are the image's, the same in every container made from it, and
        # reading them starts an interpreter that imports pip's tags (most of a second).
        self._image_facts: dict[tuple[str, str], dict[str, Any]] = {}
        # Likewise the site-packages folder of the venv (always made at the same path).
        self._venv_sites: dict[tuple[str, str], str] = {}
        self._drivers: dict[str, str] = {}  # engine URL -> its storage driver
        self._mirrored: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {}
        self._root_copies: dict[tuple[str, str], str] = {}  # (engine, image id) -> volume
        self._unrooted: dict[str, str] = {}  # engine URL -> why it would not bind
        # The image of each target (by engine, target and arch), found once: every set of a
        # run asks for it (an engine round trip or two each).
        self._targets: dict[tuple[str, str, str], images.ImageInfo] = {}
        self._targets_lock = threading.Lock()

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            try:
                self._client = (
                    docker.DockerClient(base_url=self.base_url, timeout=120)
                    if self.base_url
                    else docker.from_env(timeout=120)
                )
            except docker.errors.DockerException as exc:
                raise engine_unavailable(exc) from exc
        return self._client

    def target_image(self, target: str, arch: str) -> images.ImageInfo:
        """The image `target` runs in on `arch`'s engine (bootstrapped, built or looked up
        the first time it is asked for; after that, remembered for this backend's run)."""
        key = (self.engine_url(arch), target, arch)
        with self._targets_lock:
            found = self._targets.get(key)
        if found is None:
            found = images.resolve_target(self.client_for(arch), target, arch)
            with self._targets_lock:
                self._targets[key] = found
        return found

    def client_for(self, arch: str) -> docker.DockerClient:
        """The engine that runs `arch`: the one mapped to it, else the default one."""
        spec = self.engines.get(arch)
        if spec is None:
            return self.client
        if spec not in self._engine_clients:
            self._engine_clients[spec] = engines.connect(spec)
        return self._engine_clients[spec]

    def engine_url(self, arch: str) -> str:
        """Provenance: the URL of the engine that runs `arch`."""
        spec = self.engines.get(arch)
        if spec is not None:
            return engines.endpoint(spec)
        return self.base_url or os.environ.get("DOCKER_HOST") or engines.DEFAULT

    def emulated(self, client: docker.DockerClient, arch: str) -> bool:
        """Whether `arch` runs under qemu-user on that engine; checks binfmt on a local one."""
        oci = {p.oci: p.name for p in image_catalogue.load_catalogue().platforms.values()}
        emulated = image_catalogue.is_emulated(arch, on=engines.engine_arch(client, oci))
        if emulated and self.engine_url(arch).startswith(("unix://", engines.DEFAULT)):
            images.check_emulation(arch)  # the engine shares this machine's kernel
        return emulated

    def unavailable_reason(self) -> str | None:
        try:
            self.client.ping()
        except (docker.errors.DockerException, InfrastructureError) as exc:
            return str(engine_unavailable(exc))
        return None

    def describe(self) -> Mapping[str, str]:
        version: dict[str, Any] = self.client.version()
        return {
            "backend": self.name,
            "engine": str(version.get("Version", "")),
            "engine_api": str(version.get("ApiVersion", "")),
            "engine_os": f"{version.get('Os', '')}/{version.get('Arch', '')}",
            "storage_driver": self.storage_driver(),
            **({"engines": _engine_list(self.engines)} if self.engines else {}),
        }

    def storage_driver(self) -> str:
        """The engine's storage driver (asked once); a slow one gets a warning."""
        if self._driver is None:
            self._driver = str(self.client.info().get("Driver", ""))
            slow = doctor_checks.slow_driver(self._driver)
            if slow is not None:
                logger.warning(
                    "the Docker engine uses the %s storage driver: %s. What to do: %s "
                    "(`wheelclash doctor` checks the machine)",
                    self._driver,
                    slow.cost,
                    slow.fix,
                )
        return self._driver

    def builder(self, target: str, arch: str) -> Builder:
        """Debian targets build in their own suite's builder; other targets in the default one."""
        kind, _, suite = target.partition(":")
        if kind != "debian" or suite not in image_catalogue.load_catalogue().suites:
            suite = load_settings().default_builder_suite
        if (suite, arch) not in self._builders:
            client = self.client_for(arch)
            self.emulated(client, arch)  # a runbook error now, not a failed build later
            self._builders[(suite, arch)] = ContainerBuilder(client, suite, arch)
        return self._builders[(suite, arch)]

    def remove_leftovers(self) -> tuple[str, ...]:
        """Remove containers left by wheelclash processes on this host that no longer run,
        then their volumes (a container removed without them, by hand, leaves them). Another
        process may be removing the same ones: a container gone, or whose removal the engine
        says is already in progress, is left to it. Returns the ids of the containers this
        call removed."""
        removed: list[str] = []
        label = containers.LABEL_OWNER
        # sparse: no inspect per container, which would race with others removing theirs
        found = self.client.containers.list(all=True, sparse=True, filters={"label": label})
        for container in found:
            owner = str((container.attrs.get("Labels") or {}).get(label, ""))
            if containers.owner_gone(owner):
                logger.warning(
                    "removing container %s left by dead process %s",
                    str(container.id)[:12],
                    owner.rpartition(":")[2],
                )
                try:
                    container.remove(force=True, v=True)
                except docker.errors.NotFound:
                    continue
                except docker.errors.APIError as exc:
                    if exc.status_code != CONFLICT:  # 409: removal already in progress
                        raise
                    continue
                removed.append(str(container.id))
        for volume in self.client.volumes.list(filters={"label": label}):
            if containers.owner_gone(str((volume.attrs.get("Labels") or {}).get(label, ""))):
                try:
                    volume.remove(force=True)
                except docker.errors.APIError:  # gone already, or still in use
                    continue
        return tuple(removed)

    @contextmanager
    def open(
        self, target: str, arch: str, wheels: Sequence[BuiltWheel], batches: int = 1
    ) -> Iterator[Session]:
        """A confined container with the wheel set installed. Its memory and pid limits are
        those of `docker.toml` times `batches`: each of the batches run at once keeps the
        room one batch has alone, as N containers (-j N over N groups) would give them."""
        with self._janitor_lock:
            if not self._janitor_done and not keep_containers():
                self.remove_leftovers()
                self._janitor_done = True
        settings = load_settings()
        client = self.client_for(arch)
        emulated = self.emulated(client, arch)
        image = self.target_image(target, arch)
        labels = {containers.LABEL_OWNER: containers.owner(), LABEL_GROUP: f"{target}/{arch}"}
        placement = self._placement(arch, settings, wheels)
        label = f"container {target} ({arch}) with {progress.few([w.wheel_id for w in wheels])}"
        root_copy = "" if emulated else self._root_copy(client, arch, image.image_id, settings)
        confinement = replace(
            settings.confinement.shared_by(batches),
            binds=placement.binds,
            mirrors=self._mirrors(client, arch, image.image_id, settings.mirrored)
            if not root_copy
            else ((settings.root_copy, root_copy),),  # in place of the mirrors
        )
        if root_copy:  # to bind the container's mounts into the copy and enter it
            capabilities = (*confinement.capabilities, *ROOTING_CAPABILITIES)
            command = rooting_command(settings)
            confinement = replace(confinement, capabilities=capabilities, command=command)
        with ExitStack() as filling:
            claim = self._claim(filling, client, image.image_id, settings, wheels)
            if claim is not None:
                kept = ((settings.venv, claim.volume, claim.ready),)
                confinement = replace(confinement, kept=kept)
            with (
                progress.stage(StageKind.OPEN, label, total=2) as opening,
                containers.confined(
                    client, image.image_id, confinement, labels, keep=keep_containers()
                ) as container,
            ):
                known = (self.engine_url(arch), image.image_id)
                installed = claim is not None and claim.ready
                facts_kept = self._image_facts.get(known) or factcache.read(image.image_id)
                found = self._prepare(container, settings, placement, facts_kept, installed)
                if facts_kept is None:
                    factcache.write(image.image_id, found)
                self._image_facts[known] = found
                root = self._enter_root_copy(container, settings, arch) if root_copy else ""
                facts = TargetFacts(
                    target=target,
                    arch=arch,
                    python=str(found.get("python", "")),
                    glibc=str(found.get("glibc", "")),
                    libstdcxx=str(found.get("libstdcxx", "")),
                    image_id=image.image_id,
                    image_digest=image.digest or "",
                    emulated=emulated,
                    engine=self.engine_url(arch),
                    root_copy=root_copy if root else "",
                )
                opening.advance(1, note="installing the wheel set")
                problem = not_installable_reason(wheels, found.get("tags"))
                if not problem and not installed:
                    site = self._venv(container, settings, self._venv_sites.get(known), root)
                    self._venv_sites[known] = site
                    problem = self._install(container, settings, placement, site, root)
                    if claim is not None and not problem:
                        self._keep(client, container, settings, claim, root)
                        filling.close()  # complete: other runs may use it from now on
                opening.advance(2)
                opening.end()
                session = DockerSession(
                    client=client,
                    container=container,
                    facts=facts,
                    settings=settings,
                    not_installable=problem,
                    root=root,
                )
                try:
                    yield session
                finally:
                    session.channels.close()

    def _claim(
        self,
        filling: ExitStack,
        client: docker.DockerClient,
        image_id: str,
        settings: Settings,
        wheels: Sequence[BuiltWheel],
    ) -> environments.Claim | None:
        """The kept environment of the set on this image, complete or to fill (held in
        `filling` until it is); None when none is kept (the settings, an engine error, or
        fills under way elsewhere), and the set is installed in the container's own volume."""
        if not settings.kept_environments:
            return None
        houses_of = {Path(w.wheelhouse) for w in wheels if w.wheelhouse}
        found = {house: wheelhouse.digests(house) for house in houses_of}
        houses = [
            (path.name, found.get(path.parent, {}).get(path.name) or file_sha256(path))
            for name, path in wheel_transfer.inputs(wheels)
            if name.startswith(f"{wheel_transfer.WHEELHOUSE}/")
        ]
        environment = environments.key(
            image_id,
            [w.sha256 for w in wheels],
            houses,
            venv=settings.venv,
            owner=settings.supervisor_user,
        )
        try:
            named = ", ".join(sorted(w.path.name for w in wheels))
            claim = filling.enter_context(
                environments.claimed(client, environment, image_id, named)
            )
        except (InfrastructureError, *ENGINE_FAILURES) as exc:
            logger.warning("the wheel set is installed without keeping it: %s", exc)
            return None
        if not claim.ready:  # once the container is gone, removed unless it was completed
            filling.callback(environments.discard, client, claim)
        logger.info(
            "environment %s: %s", claim.volume, "kept, installing nothing" if claim.ready else "new"
        )
        return claim

    def _keep(
        self,
        client: docker.DockerClient,
        container: Container,
        settings: Settings,
        claim: environments.Claim,
        root: str,
    ) -> None:
        """Flag the freshly installed environment complete, with its size, and remove the
        least recently used ones beyond `kept_environments`."""
        command = ["du", "-s", "-k", settings.venv]
        code, output = self._exec(container, settings, command, root)
        words = output.split()
        size = int(words[0]) * 1024 if code == 0 and words and words[0].isdigit() else 0
        try:
            environments.complete(client, claim, size)
            environments.evict(client, settings.kept_environments, keep=claim.volume)
        except ENGINE_FAILURES as exc:
            logger.warning("the environment %s is not kept: %s", claim.volume, exc)

    def _slow_files(self, client: docker.DockerClient, engine: str) -> bool:
        """Whether the engine's storage driver makes every file access slow (doctor.toml's
        `mirror`)."""
        if engine not in self._drivers:
            try:
                self._drivers[engine] = str(client.info().get("Driver", ""))
            except ENGINE_FAILURES:
                self._drivers[engine] = ""
        slow = doctor_checks.slow_driver(self._drivers[engine])
        return slow is not None and slow.mirror

    def _root_copy(
        self, client: docker.DockerClient, arch: str, image_id: str, settings: Settings
    ) -> str:
        """The volume with the image's root copy for its cell containers to run their
        probes in, on an engine whose storage driver makes every file access slow; "" on
        others, when it cannot be made, or once the engine refused to bind into one."""
        engine = self.engine_url(arch)
        if not settings.root_copy or engine in self._unrooted:
            return ""
        if not self._slow_files(client, engine):
            return ""
        if (engine, image_id) not in self._root_copies:
            try:
                volume = rootcopy.ensure(
                    client, image_id, settings.root_copy, root_copy_points(settings)
                )
            except InfrastructureError as exc:
                logger.warning("the probes run on the container's own root: %s", exc)
                volume = ""
            self._root_copies[engine, image_id] = volume
        return self._root_copies[engine, image_id]

    def _enter_root_copy(self, container: Container, settings: Settings, arch: str) -> str:
        """The folder its supervisors chroot into: the root copy, once the container's own
        command has bound the container's mounts into it (`rooting_command`, read from the
        container's log); or "" where the engine refused the mounts (its probes then run on
        the container's root, and the engine's next containers get the mirrors instead)."""
        code, output = rooting_result(container)
        if code == 0:
            return settings.root_copy
        self._unrooted[self.engine_url(arch)] = output.strip()[-400:]
        logger.warning(
            "the engine refused to bind the container's mounts into the image's root copy, "
            "so the probes run on the container's own root (slower on this storage driver): %s",
            output.strip()[-400:],
        )
        return ""

    def _mirrors(
        self, client: docker.DockerClient, arch: str, image_id: str, folders: Sequence[str]
    ) -> tuple[tuple[str, str], ...]:
        """(folder, volume) of the image's mirrors, on an engine whose storage driver makes
        every file access slow (doctor.toml's `mirror`); none elsewhere, or when they cannot
        be made (they only save time)."""
        engine = self.engine_url(arch)
        if not folders or not self._slow_files(client, engine):
            return ()
        if (engine, image_id) not in self._mirrored:
            try:
                made = mirrors.ensure(client, image_id, folders)
            except InfrastructureError as exc:
                logger.warning("the containers read the image's own files: %s", exc)
                return ()
            self._mirrored[engine, image_id] = tuple((m.path, m.volume) for m in made)
        return self._mirrored[engine, image_id]

    def _placement(
        self, arch: str, settings: Settings, wheels: Sequence[BuiltWheel]
    ) -> wheel_transfer.Placement:
        """Where the container finds the wheels: bound from this machine's disk on a local
        engine, else streamed from it (see transfer.py); never read whole into memory."""
        files = wheel_transfer.inputs(wheels)
        how = wheel_transfer.choose(self.engine_url(arch), [path for _, path in files])
        logger.info("the wheels reach the container by %s (%d files)", how, len(files))
        return wheel_transfer.place(
            wheels, files, how, harness_dir=settings.harness_dir, inputs_dir=settings.inputs_dir
        )

    def _prepare(
        self,
        container: Container,
        settings: Settings,
        placement: wheel_transfer.Placement,
        known: dict[str, Any] | None = None,
        installed: bool = False,
    ) -> dict[str, Any]:
        """Ship the scripts (and, streaming, the wheels) in; return the target's facts:
        `known`, read from an earlier container of the same image, else read now. With
        `installed`, the venv is a kept environment, mounted read-only, its owner's already."""
        scripts = {
            "probe.py": paths.PROBE,
            "supervisor.py": paths.SUPERVISOR,
            "crash_capture.py": paths.CRASH_CAPTURE,
            "target_facts.py": paths.TARGET_FACTS,
            "enter_root.py": paths.ENTER_ROOT,
        }
        # Names under the harness's volume (the root filesystem is read-only), root's.
        folders = ["bin", "wheels", "wheelhouse", "batches"]
        entries = [
            *(Entry(name=name) for name in folders),
            *(Entry(name=f"bin/{name}", source=path) for name, path in scripts.items()),
            *placement.entries,
        ]
        # The supervisor user's: the venv it installs, and pip's scratch space.
        own = ["tmp"] if installed else ["venv", "tmp"]
        entries += [Entry(name=name, user=settings.supervisor_user) for name in own]
        try:
            with TarStream(entries, ROOT) as stream:  # one engine round trip for all
                container.put_archive(settings.harness_dir, stream)
        except ENGINE_FAILURES as exc:
            raise InfrastructureError(f"the engine failed to take the files in: {exc}") from exc
        if known is not None:
            return known
        command = ["python3", settings.script("target_facts.py")]
        code, output = self._exec(container, settings, command)
        if code != 0:
            raise InfrastructureError(
                f"the target has no working python3 (exit {code})",
                context=output.strip()[-400:],
                hint="a target image needs python3 with the venv module; "
                "debian:<suite> targets have it.",
            )
        facts: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
        return facts

    @staticmethod
    def _exec(
        container: Container, settings: Settings, command: list[str], root: str = ""
    ) -> tuple[int, str]:
        """Run a command as the supervisor user, with its scratch space on disk; in the
        root copy `root` when there is one (resources/enter_root.py), where pip starts and
        reads 2.3 to 2.9 times faster than on this slow storage driver."""
        scratch = settings.scratch_dir
        user = settings.supervisor_user
        if root:
            command = ["python3", "-I", settings.script("enter_root.py"), root, user, *command]
            user = ROOT
        return containers.exec_text(
            container,
            command,
            user=user,
            workdir=settings.harness_dir,
            environment={"HOME": scratch, "TMPDIR": scratch},
        )

    def _venv(
        self, container: Container, settings: Settings, site: str | None, root: str = ""
    ) -> str:
        """Make the venv; return its site-packages folder: `site`, known from an earlier
        container of the same image, else asked of the venv's interpreter.

        The venv is made without pip (ensurepip costs seconds per container): the target's
        own pip installs into its site-packages with --target (`_install`).
        """
        venv = settings.venv
        steps = [["python3", "-m", "venv", "--without-pip", venv]]
        if site is None:
            purelib = "import sysconfig; print(sysconfig.get_path('purelib'))"
            steps.append([f"{venv}/bin/python", "-c", purelib])
        for command in steps:
            code, output = self._exec(container, settings, command, root)
            if code != 0:
                raise InfrastructureError(f"could not create a venv in the target: {output[-400:]}")
        return site or output.strip().splitlines()[-1]

    def _install(
        self,
        container: Container,
        settings: Settings,
        placement: wheel_transfer.Placement,
        site: str,
        root: str = "",
    ) -> str:
        """Install the set offline into the venv's site-packages `site`; '' on success,
        pip's reason when it refuses.

        The target's own pip installs with --target, which every pip since 2014 has. The
        supervisor user installs it, so the probes can read it but not write to it. The
        .pyc files are written afterwards on all the container's cores (pip writes them one
        by one; `compile_command`): measured 6.8 s to 4.5 s for the six wheels of
        benchmarks/atlas_corpus.toml on this 2-core machine.
        """
        install = install_command(
            ["python3", "-m", "pip"],
            placement.wheels,
            placement.wheelhouses,
            target=site,
            compile_bytecode=False,
        )
        code, output = self._exec(container, settings, install, root)
        if code == 0:
            compiling = compile_command(["python3"], site)
            code, output = self._exec(container, settings, compiling, root)
            if code != 0:  # as pip would, go on: such a module compiles when imported
                logger.info("some modules of the set did not compile: %s", output[-400:])
            return ""
        reason = refusal(output)
        if reason:
            return reason
        raise InfrastructureError(
            "pip could not install the wheel set", context=output.strip()[-600:]
        )


def _engine_list(mapping: Mapping[str, str]) -> str:
    return ", ".join(f"{arch}={spec}" for arch, spec in sorted(mapping.items()))


def engine_unavailable(exc: Exception) -> InfrastructureError:
    """The error for an engine that does not answer, with what to do about it."""
    where = os.environ.get("DOCKER_HOST", "the default socket /var/run/docker.sock")
    return InfrastructureError(
        f"no Docker engine answers at {where}.",
        context=str(exc),
        hint="start it (`systemctl start docker` or `dockerd &`), or point DOCKER_HOST at one; "
        "or run on this machine with --backend local.",
    )
