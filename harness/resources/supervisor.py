"""wheelclash supervisor: run a batch of probe processes, one fresh interpreter per cell.

Standard library only (Python 3.8 or newer): it runs on the host for the local backend and
inside the container for the docker backend. It reads one JSON document from the file named
by its last argument, or from stdin (with no argument); or, with `--serve NAME`, batch after
batch, one per line of stdin, each followed by a line {"batch_end": ID} (`serve`; NAME only
names the supervisor, for `--stop NAME`, and each line ends a batch, so the caller need not
close its end: through a proxy of the engine's socket, half-closing an exec's stdin can end
its output too):

    {"python": ..., "probe": ..., "workdir": ..., "tail_bytes": N, "output_cap": N,
     "private_home": true,
     "cells": [{"id": ..., "spec": {...}, "env": {...}, "timeout": seconds}, ...]}

and writes one JSON line per cell to stdout as soon as that cell ends, so a caller that
dies mid-batch loses only the cell in flight.

A probe is not the supervisor's own child: a launcher (a forked copy of the supervisor, in a
session of its own) starts it in yet another session and waits for it. So a probe that kills
its parent, or its parent's process group, or its own group, hits the launcher or itself,
never the supervisor; the kernel then kills the probe too (it dies with its launcher), the
cell ends as the probe's own failure, with a line saying so at the end of its stderr, and the
batch goes on. On a timeout the probe is asked for a Python stack dump (SIGUSR1,
faulthandler), then its process group, and nothing else, is killed. The supervisor makes
itself a child subreaper, so the probe of a dead launcher, and anything a probe forked and
left behind, are its own to reap and kill before the next cell starts; then it empties its
working folder (the probe's working directory), so a probe that filled it cannot take the
next cell's room. With "private_home", each probe's HOME and TMPDIR are a folder of its own
in the working folder, so they go with it: no cell sees what an earlier one left there.

With `--users SUPERVISOR_UID:GID,PROBE_UID:GID` (the docker backend starts it as root with
only the capabilities to change users), it first empties the capability bounding set, then
keeps the first user as its real and saved ids and takes the probe's as its effective ones:
it can signal and read its probes, while a probe, which runs as its user alone, can signal
neither the supervisor nor its launcher. With "die_with_parent" in the batch (the local
backend, whose harness is its parent), when its caller dies, even by SIGKILL, the kernel sends
it SIGTERM (PR_SET_PDEATHSIG), and it kills the cell in flight and everything below it before
it exits; a terminating signal while its caller still lives is stray (a probe on the host can
send one) and is ignored. (Under `docker exec` the parent is the runtime's short-lived exec
process; there the container's removal stops everything.) A probe's output beyond
`output_cap` bytes is dropped from the head while it runs (it is not killed for it), so the
tails keep its last words and the disk holds at most about the cap.

With `--root DIR` after `--users`, it first makes DIR its root directory (before it drops
its capabilities), so its probes run there: the docker backend's copy of the image's root
filesystem on the engine's disk, with the container's own mounts bound in, where the
engine's storage driver is slow (harness/images/rootcopy.py).

With `--users`, while it is still root, it also compiles the probe beside it once (probe.pyc,
root's and read-only to the probes, as the source is): an interpreter compiles a script it
is given afresh at every start, about 3 ms a cell for the probe, and only reads a compiled
one. A batch whose "compiled_probe" is true (its python is the interpreter this supervisor
runs on, as the docker backend's venv is) then runs the compiled file where there is one.

Several supervisors may run at once in one container (`-j`), each with its own batch file
(or name) and working folder. `supervisor.py [--users ...] --stop BATCH_FILE` stops the one
running that batch (or serving under that name) and everything below it, and leaves the
others alone: the harness runs it when it
gives up on a batch (its deadline passed, or the run is stopping). In a container it runs
with the same `--users` as the supervisors, whose real user it then shares (so it may signal
them) and whose probes' user it takes as its effective one (so it may signal those).
"""

import ctypes
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
POLL_S = 0.01
CHECK_S = 0.05
DUMP_GRACE_S = 0.5
STOP_GRACE_S = 5.0
LAUNCHER_EXIT_S = 1.0
FALLOC_FL_KEEP_SIZE = 1
FALLOC_FL_PUNCH_HOLE = 2
# Signals that end a process unless it handles them. The supervisor handles them all (see
# `terminate`); its launchers take them back to the default, so a probe that sends one to its
# parent ends its launcher, and so itself.
TERMINATING = (
    signal.SIGHUP,
    signal.SIGINT,
    signal.SIGTERM,
    signal.SIGUSR1,
    signal.SIGUSR2,
    signal.SIGALRM,
)


def prctl(option, value):
    """prctl(2) with one argument; whether it worked (False where there is no libc to ask)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(option, value, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


class ExitWaiter:
    """Wakes as soon as a process exits (a pidfd, Linux 5.3 and Python 3.9 on), else polls."""

    def __init__(self, pid):
        self.fd = None
        if hasattr(os, "pidfd_open"):
            try:
                self.fd = os.pidfd_open(pid)
            except OSError:
                self.fd = None

    def wait(self, limit):
        """Return after the process exits or `limit` seconds, whichever comes first."""
        if self.fd is None:
            time.sleep(POLL_S)
        else:
            select.select([self.fd], [], [], limit)

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def become_subreaper():
    prctl(PR_SET_CHILD_SUBREAPER, 1)


def parse_users(text):
    """`SUPERVISOR_UID:GID,PROBE_UID:GID` as ((uid, gid), (uid, gid))."""
    try:
        pairs = [tuple(int(n) for n in part.split(":")) for part in text.split(",")]
    except ValueError:
        pairs = []
    if len(pairs) != 2 or any(len(pair) != 2 for pair in pairs):
        raise SystemExit(
            "supervisor: --users takes SUPERVISOR_UID:GID,PROBE_UID:GID, not %r" % text
        )
    return pairs[0], pairs[1]


def take_users(supervisor, probe):
    """As root: empty the capability bounding set (no child can ever regain a capability),
    then keep `supervisor` as the real and saved ids and take `probe` as the effective ones.
    With no id left 0, no capability is left either. The supervisor can then signal its
    probes and read their files and /proc (its effective ids are theirs), and become its
    own user again; a probe, which runs as the probe user alone, cannot signal the supervisor
    or its launchers (the kernel compares the sender's ids with the target's real and saved
    ones) nor trace them."""
    if os.geteuid() != 0:
        raise SystemExit(
            "supervisor: --users needs root to take them (running as uid %d)" % os.geteuid()
        )
    with open("/proc/sys/kernel/cap_last_cap") as handle:
        last = int(handle.read())
    for cap in range(last + 1):
        if not prctl(PR_CAPBSET_DROP, cap):
            raise SystemExit("supervisor: could not drop capability %d from the bounding set" % cap)
    os.setgroups([])
    os.setresgid(supervisor[1], probe[1], supervisor[1])
    os.setresuid(supervisor[0], probe[0], supervisor[0])


def enter_root(root):
    """As root, before taking the users: make `root` this process's root directory, keeping
    the working directory's path (the docker backend's copy of the image's root filesystem,
    with the container's own mounts bound in: harness/images/rootcopy.py). Its probes then
    resolve every path there, never through the container's own root."""
    if not root.startswith("/"):
        raise SystemExit("supervisor: --root takes an absolute folder, not %r" % root)
    here = os.getcwd()
    try:
        os.chroot(root)
        os.chdir(here if os.path.isdir(here) else "/")
    except OSError as exc:
        raise SystemExit("supervisor: could not enter %s: %s" % (root, exc)) from exc


def settle_identity():
    """In a child, before exec: become the effective user alone, real and saved ids too (a
    no-op where the supervisor has one identity), and own /proc/self again."""
    uid, gid = os.geteuid(), os.getegid()
    if os.getresuid() == (uid, uid, uid) and os.getresgid() == (gid, gid, gid):
        return
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    # A process whose ids changed is not dumpable, and its /proc files belong to root.
    prctl(PR_SET_DUMPABLE, 1)


def descendants(root):
    """Pids of every live descendant of `root`, read from /proc."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    found, stack = [], [root]
    while stack:
        for pid in children.get(stack.pop(), []):
            found.append(pid)
            stack.append(pid)
    return found


def sweep(keep=None):
    """Kill and reap whatever the last probe left behind: every descendant but the `keep`
    pid (the launcher, between cells). Returns how many there were."""
    me = os.getpid()
    leftovers = [pid for pid in descendants(me) if pid != keep]
    for pid in leftovers:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    deadline = time.monotonic() + 2.0
    while leftovers and time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            if not [pid for pid in descendants(me) if pid != keep]:
                break
            time.sleep(POLL_S)
    return len(leftovers)


def make_removable(folder):
    """Give back to the owner every folder under `folder` that a probe made unreadable."""
    for root, dirs, _ in os.walk(folder):
        for name in dirs:
            path = os.path.join(root, name)
            try:
                if not os.path.islink(path):
                    os.chmod(path, 0o700)
            except OSError:
                pass


def empty_folder(folder):
    """Remove everything in `folder`: the probe's working directory, where nothing of the
    supervisor's outlives its cell. A probe that filled it (with files, folders it made
    unreadable, fifos), or took it away, leaves the next cell the whole room."""
    try:
        os.makedirs(folder, exist_ok=True)
        os.chmod(folder, 0o700)
        names = os.listdir(folder)
    except OSError:
        return
    make_removable(folder)
    for name in names:
        path = os.path.join(folder, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            try:
                os.unlink(path)
            except OSError:
                pass


def probe_preexec():
    """In the probe's process, before exec: run as the probe's user alone, and be the first
    the OOM killer picks, not us."""
    settle_identity()
    try:
        with open("/proc/self/oom_score_adj", "w") as handle:
            handle.write("1000")
    except OSError:
        pass


def capturing_preexec(core_cap):
    """probe_preexec, and let the kernel write a core of up to `core_cap` bytes."""
    crash_capture = import_crash_capture()

    def preexec():
        probe_preexec()
        crash_capture.set_core_limit(core_cap)

    return preexec


def import_crash_capture():
    """crash_capture, from this file's own folder (which `python -I` leaves off sys.path)."""
    here = os.path.dirname(os.path.abspath(__file__))
    if here not in sys.path:
        sys.path.insert(0, here)
    import crash_capture

    return crash_capture


def cell_capture(batch, cell, spec, env, preexec):
    """The evidence collector for a cell whose batch asks for capture, else None."""
    settings = cell.get("capture")
    if not settings:
        return None
    crash_capture = import_crash_capture()
    return crash_capture.CellCapture(
        settings,
        batch["python"],
        batch["probe"],
        spec,
        env,
        float(cell["timeout"]),
        preexec,
        settle_identity,
        scratch=batch["workdir"],
    )


def tail(path, limit):
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - limit))
            data = handle.read()
    except OSError:
        return "", 0
    return data.decode("utf-8", "replace"), size


def read_from(path, offset, limit):
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            return handle.read(limit).decode("utf-8", "replace")
    except OSError:
        return ""


def read_events(path):
    events = []
    try:
        with open(path, "rb") as handle:
            for line in handle:
                try:
                    events.append(json.loads(line.decode("utf-8", "replace")))
                except ValueError:
                    events.append(
                        {"event": "garbled", "text": line[:200].decode("utf-8", "replace")}
                    )
    except OSError:
        pass
    return events


def drop_head(path, keep):
    """Free all but the last `keep` bytes of a probe's output file, without stopping the probe.

    The file keeps its size (the probe writes on at its own offset); the head becomes a hole,
    so the disk holds at most `keep` bytes plus what arrives before the next check. Where the
    hole cannot be punched, the file is cut and its last `keep` bytes written back where they
    were, so the probe's last words survive either way.
    """
    try:
        size = os.path.getsize(path)
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return
    try:
        start = max(0, size - keep) // 4096 * 4096
        if not start:
            return
        libc = ctypes.CDLL(None, use_errno=True)
        fallocate = libc.fallocate
        fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong]
        if fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, start) != 0:
            cut_keeping_tail(fd, size, keep)
    except (OSError, AttributeError):
        try:
            cut_keeping_tail(fd, size, keep)
        except OSError:
            pass
    finally:
        os.close(fd)


def cut_keeping_tail(fd, size, keep):
    """Cut a file to nothing but its last `keep` bytes, left at their own offset."""
    offset = max(0, size - keep)
    last = os.pread(fd, keep, offset)
    os.ftruncate(fd, 0)
    os.pwrite(fd, last, offset)


def stored_bytes(path):
    """Bytes a file really occupies (holes excluded)."""
    try:
        return os.stat(path).st_blocks * 512
    except OSError:
        return 0


def kill_group(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass


def output_paths(workdir, index):
    """The cell's events, stdout and stderr files (the working folder is emptied after
    every cell, so nothing is left in them from before)."""
    stem = os.path.join(workdir, "cell-%d" % index)
    return {name: stem + "." + name for name in ("events", "stdout", "stderr")}


def private_home(batch):
    """The probes' HOME and TMPDIR with "private_home", else None: a folder in the working
    folder, which is emptied after every cell (see empty_folder)."""
    if not batch.get("private_home"):
        return None
    return os.path.join(batch["workdir"], "home")


def make_private_home(batch):
    """Make the cell's private home, if the batch asks for one, before its probe starts. It
    is made with the supervisor's effective ids, which are the probe's: the probe owns it
    (whatever the umask)."""
    home = private_home(batch)
    if home is not None:
        os.makedirs(home, exist_ok=True)
        os.chmod(home, 0o700)


def probe_env(batch, cell):
    env = dict(os.environ)
    env.update(cell.get("env", {}))
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    home = private_home(batch)
    if home is not None:
        # After the cell's own: the batch promises every probe a home of its own.
        env["HOME"] = env["TMPDIR"] = home
    return env


def cell_preexec(workdir, settings):
    """What the probe's process runs before exec: probe_preexec, and for a cell that captures,
    the core limit too. Cores go to the kernel only where we can pick them up: a plain
    core_pattern. For a pipe (systemd-coredump, apport) the limit is 0, so nothing lands on
    the host."""
    if not settings:
        return probe_preexec
    crash_capture = import_crash_capture()
    landing = crash_capture.kernel_core_path(workdir, 0) is not None
    kernel_cores = settings.get("kernel_cores", True) and landing
    return capturing_preexec(int(settings.get("core_cap", 0)) if kernel_cores else 0)


def cell_setup(batch, index):
    """Cell `index`'s output paths, probe spec, environment and preexec: the same wherever
    they are worked out (the supervisor and its launcher)."""
    cell = batch["cells"][index]
    paths = output_paths(batch["workdir"], index)
    spec = dict(cell["spec"])
    spec["events"] = paths["events"]
    preexec = cell_preexec(batch["workdir"], cell.get("capture"))
    return paths, spec, probe_env(batch, cell), preexec


class LaunchFailed(Exception):
    """The launcher could not start the probe."""


def start_probe(batch, index, parent):
    """In the launcher: cell `index`'s probe, in its own session, dying with its parent."""
    paths, spec, env, preexec = cell_setup(batch, index)

    def child():
        preexec()
        # After the change of ids, which would clear it: a probe that kills its parent dies.
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:
            raise LaunchFailed("the launcher is gone")

    with open(paths["stdout"], "wb") as out, open(paths["stderr"], "wb") as err:
        return subprocess.Popen(
            [batch["python"], batch["probe"], json.dumps(spec)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            cwd=batch["workdir"],
            env=env,
            start_new_session=True,
            preexec_fn=child,
        )


def launcher_loop(requests, status, supervisor, batch):
    """The launcher's whole life, in a forked copy of the supervisor; it never returns.

    In a session of its own, dying with the supervisor, it reads cell indexes from
    `requests`, starts each cell's probe and waits for it, and reports on `status`: "pid N"
    once the probe runs, "exit RC" once it has reaped it, or "error TEXT"."""
    code = 0
    try:
        for signum in TERMINATING:
            signal.signal(signum, signal.SIG_DFL)
        os.setsid()
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != supervisor:
            raise LaunchFailed("the supervisor is gone")
        # Not the supervisor's stdin: serving, it carries the batches to come.
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        parent = os.getpid()
        buffer = b""
        while True:
            while b"\n" not in buffer:
                chunk = os.read(requests, 4096)
                if not chunk:
                    os._exit(0)  # the supervisor is done
                buffer += chunk
            line, buffer = buffer.split(b"\n", 1)
            try:
                proc = start_probe(batch, int(line), parent)
            except Exception as exc:
                text = ("%s: %s" % (type(exc).__name__, exc)).replace("\n", " ")
                os.write(status, ("error %s\n" % text).encode("utf-8", "replace"))
                continue
            os.write(status, b"pid %d\n" % proc.pid)
            proc.wait()
            os.write(status, b"exit %d\n" % proc.returncode)
    except BaseException:  # its end closes the pipe: the supervisor sees it gone
        code = 1
    os._exit(code)


class Launched:
    """One probe, started by the launcher. `launcher_signal` is what killed the launcher
    while the probe ran, if anything did; `lost`, that the probe's end can never be known
    (the launcher reaped it and died before it could report)."""

    def __init__(self, launcher):
        self.launcher = launcher
        self.launcher_pid = launcher.pid
        self.pid = None
        self.returncode = None
        self.error = None
        self.lost = False
        self.launcher_signal = None
        self._exit = None  # wakes when the probe has ended, once it runs
        self._ended_at = None

    def started(self, pid):
        self.pid = pid
        self._exit = ExitWaiter(pid)

    def poll(self):
        if self.returncode is None and not self.lost:
            self.launcher.read(block=False)
            if self.returncode is None and self.launcher.pid is not None and self._ended():
                # The probe has ended and its launcher does not say so: it was stopped (a
                # probe on the host can do that to its parent). Do without it.
                if self._ended_at is None:
                    self._ended_at = time.monotonic()
                elif time.monotonic() - self._ended_at > LAUNCHER_EXIT_S:
                    self.launcher.discard()
            if self.returncode is None and self.launcher.pid is None:
                self._reap_orphan()
        return self.returncode

    def _ended(self):
        return self._exit.fd is not None and bool(select.select([self._exit.fd], [], [], 0)[0])

    def running(self):
        return self.poll() is None and not self.lost

    def _reap_orphan(self):
        """The launcher died under the probe, which is the supervisor's own child now (a
        subreaper inherits its orphaned descendants)."""
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            self.lost = True
            return
        if pid:
            if os.WIFSIGNALED(status):
                self.returncode = -os.WTERMSIG(status)
            else:
                self.returncode = os.WEXITSTATUS(status)

    def wait_event(self, limit):
        """Return once the launcher writes or ends, or the probe ends (where there is no
        launcher to say so, or it says nothing), or after `limit` seconds."""
        if self.launcher.pid is None:
            self._exit.wait(limit)
        elif self._exit.fd is None or self._ended_at is not None:
            self.launcher.wait_event([], limit)
        else:
            self.launcher.wait_event([self._exit.fd], limit)

    def wait(self, limit):
        """Whether the probe ended within `limit` seconds."""
        deadline = time.monotonic() + limit
        while self.running():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.wait_event(min(left, CHECK_S))
        return True

    def close(self):
        if self._exit is not None:
            self._exit.close()


class Launcher:
    """The probes' parent: a forked copy of the supervisor, started when the first cell
    needs it and again after it died, that starts each probe on request and waits for it."""

    def __init__(self, batch):
        self.batch = batch
        self.pid = None
        self.requests = None
        self.status = None
        self.current = None
        self._buffer = b""

    def _spawn(self):
        requests_r, requests_w = os.pipe()
        status_r, status_w = os.pipe()
        supervisor = os.getpid()
        try:
            pid = os.fork()
        except OSError:
            for fd in (requests_r, requests_w, status_r, status_w):
                os.close(fd)
            raise
        if pid == 0:
            try:
                os.close(requests_w)
                os.close(status_r)
                launcher_loop(requests_r, status_w, supervisor, self.batch)
            finally:
                os._exit(1)
        os.close(requests_r)
        os.close(status_w)
        self.pid, self.requests, self.status, self._buffer = pid, requests_w, status_r, b""

    def start(self, index):
        """Cell `index`'s probe, running; LaunchFailed when the launcher cannot start it. A
        launcher found dead (killed between cells) is replaced once."""
        for _ in range(2):
            if self.pid is None:
                self._spawn()
            proc = self.current = Launched(self)
            try:
                os.write(self.requests, b"%d\n" % index)
            except OSError:
                pass  # it is dead: reading below finds it gone
            while proc.pid is None and proc.error is None and self.pid is not None:
                self.read(block=True)
            if proc.pid is not None:
                return proc
            if proc.error is not None:
                raise LaunchFailed(proc.error)
        raise LaunchFailed("the launcher died before the probe started, twice")

    def read(self, block):
        """Take in what the launcher has written (waiting for something when `block`); at
        the end of its pipe, reap it and forget it."""
        while self.pid is not None:
            if not block and not select.select([self.status], [], [], 0)[0]:
                break
            chunk = os.read(self.status, 4096)
            block = False
            if not chunk:
                self._gone()
                break
            self._buffer += chunk
            while b"\n" in self._buffer:
                line, self._buffer = self._buffer.split(b"\n", 1)
                self._take(line.decode("utf-8", "replace"))

    def _take(self, line):
        proc = self.current
        word, _, rest = line.partition(" ")
        if proc is None:
            return
        if word == "pid":
            proc.started(int(rest))
        elif word == "exit":
            proc.returncode = int(rest)
        elif word == "error":
            proc.error = rest

    def _gone(self, killed_here=False):
        """The launcher's end of the pipe closed: it died (or the supervisor is stopping it)."""
        status = None
        deadline = time.monotonic() + LAUNCHER_EXIT_S
        while time.monotonic() < deadline:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                break  # reaped already, by a sweep
            if pid:
                break
            time.sleep(POLL_S / 10)
        proc = self.current
        if (
            not killed_here
            and proc is not None
            and proc.returncode is None
            and status is not None
            and os.WIFSIGNALED(status)
        ):
            proc.launcher_signal = os.WTERMSIG(status)
        if self.requests is not None:
            os.close(self.requests)
        os.close(self.status)
        self.pid = self.requests = self.status = None

    def wait_event(self, others, limit):
        """Return once the launcher writes or ends, or one of the `others` is readable."""
        select.select([self.status, *others], [], [], limit)

    def discard(self):
        """Kill a launcher that is stuck; the cell in flight does not count it as its doing."""
        try:
            os.kill(self.pid, signal.SIGKILL)
        except OSError:
            pass
        self._gone(killed_here=True)

    def stop(self):
        """At the end of the batch: let the launcher go (it leaves when its requests end)."""
        if self.pid is not None:
            os.close(self.requests)
            self.requests = None
            while self.pid is not None:
                self.read(block=True)


def stop_hung(proc, capture):
    """A probe past its timeout: ask it for its Python stack (SIGUSR1), give it a moment to
    write it, let capture look at the live process, then kill its group. Returns the seconds
    capture took, which are not the probe's own."""
    try:
        os.kill(proc.pid, signal.SIGUSR1)
    except OSError:
        pass
    proc.wait(DUMP_GRACE_S)
    spent = 0.0
    if capture is not None and proc.running():
        capturing = time.monotonic()
        capture.live_process(proc.pid)
        spent = time.monotonic() - capturing
    kill_group(proc)
    return spent


def watch(proc, report, paths, start, timeout, cap, limit, capture):
    """Wait for the probe to end, stopping it at its timeout and dropping the head of its
    output past the cap (it runs on). Sets the report's timed_out, output_overflow and
    duration_s; returns where the stack dump starts in stderr, or None without a timeout."""
    dump_at = None
    while proc.running():
        elapsed = time.monotonic() - start
        if elapsed > timeout and dump_at is None:
            report["timed_out"] = True
            dump_at = os.path.getsize(paths["stderr"])
            start += stop_hung(proc, capture)
        elif stored_bytes(paths["stdout"]) + stored_bytes(paths["stderr"]) > cap:
            # Output beyond the cap is dropped from the head; the probe runs on.
            report["output_overflow"] = True
            drop_head(paths["stdout"], limit)
            drop_head(paths["stderr"], limit)
        proc.wait_event(CHECK_S)
    report["duration_s"] = round(time.monotonic() - start, 4)
    kill_group(proc)
    return dump_at


def signal_name(signum):
    try:
        return signal.Signals(signum).name
    except ValueError:
        return "signal %d" % signum


def note_launcher_death(proc, stderr_path):
    """Say, at the end of the cell's stderr, that the probe's parent was killed under it."""
    line = (
        "\nwheelclash supervisor: the probe's parent (its launcher, pid %d) was killed by %s "
        "while the probe ran (pid %d), and the probe was killed with it\n"
        % (proc.launcher_pid, signal_name(proc.launcher_signal), proc.pid)
    )
    try:
        with open(stderr_path, "a") as handle:
            handle.write(line)
    except OSError:
        pass


def record_output(report, proc, paths, limit, dump_at):
    """The probe's exit status, the tails of its output, its stack dump and its events."""
    code = proc.returncode
    report["returncode"] = code
    report["signal"] = -code if code is not None and code < 0 else None
    report["stdout_tail"], report["stdout_bytes"] = tail(paths["stdout"], limit)
    report["stderr_tail"], report["stderr_bytes"] = tail(paths["stderr"], limit)
    if dump_at is not None:
        report["hang_stack"] = read_from(paths["stderr"], dump_at, limit)
    report["events"] = read_events(paths["events"])


def evidence(capture, report, stderr_path, kernel_core):
    """What capture gathered about a failed cell; its failure is a note, never the verdict's."""
    try:
        return capture.after(report, stderr_path, kernel_core)
    except Exception as exc:  # evidence is a bonus: never lose the cell's own verdict
        # What it left is incomplete, and it would take the room of later cells' evidence
        # (the capture folders share a small tmpfs in a container).
        shutil.rmtree(capture.dir, ignore_errors=True)
        return {"notes": ["capture failed: %s: %s" % (type(exc).__name__, exc)]}


def run_cell(batch, launcher, index):
    """Run one cell's probe to its end and return its report line (a dict)."""
    cell = batch["cells"][index]
    workdir = batch["workdir"]
    paths, spec, env, preexec = cell_setup(batch, index)
    cap = int(batch.get("output_cap", 64 << 20))
    limit = int(batch.get("tail_bytes", 4000))
    report = {"id": cell["id"], "timed_out": False, "output_overflow": False}
    capture = cell_capture(batch, cell, spec, env, preexec)
    kernel_core = None

    start = time.monotonic()
    try:
        make_private_home(batch)
        proc = launcher.start(index)
    except (OSError, LaunchFailed) as exc:
        report["infra_error"] = "could not start the probe: %s" % (exc,)
        sweep(launcher.pid)
        empty_folder(workdir)
        return report
    RUNNING["pgid"] = proc.pid
    if capture is not None:
        kernel_core = import_crash_capture().kernel_core_path(workdir, proc.pid)
    timeout = float(cell["timeout"])
    dump_at = watch(proc, report, paths, start, timeout, cap, limit, capture)
    RUNNING["pgid"] = None
    proc.close()
    report["leftover_processes"] = sweep(launcher.pid)

    if proc.launcher_signal is not None:
        note_launcher_death(proc, paths["stderr"])
    record_output(report, proc, paths, limit, dump_at)
    if proc.lost:
        report["infra_error"] = (
            "the probe's exit status was lost: its launcher reaped it and was killed before "
            "it could report it"
        )
    failed = proc.returncode != 0 or report["timed_out"] or report["output_overflow"]
    if capture is not None and failed:
        report["capture"] = evidence(capture, report, paths["stderr"], kernel_core)
    empty_folder(workdir)
    return report


# The process group of the cell in flight, and, with die_with_parent, the harness's pid.
RUNNING = {"pgid": None, "parent": None}


def terminate(signum, frame):
    """A terminating signal. With die_with_parent the kernel sends SIGTERM when the harness
    dies: kill the cell in flight and whatever it left behind, then leave. While the harness
    lives any such signal is stray (the harness sends none; a probe on the host can) and is
    ignored. In a container, where no probe can signal the supervisor, each one ends it so."""
    parent = RUNNING["parent"]
    if parent is not None and os.getppid() == parent:
        sys.stderr.write("supervisor: ignored %s: the harness is alive\n" % signal_name(signum))
        sys.stderr.flush()
        return
    pgid = RUNNING["pgid"]
    if pgid:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except OSError:
            pass
    sweep()
    os._exit(143)


def die_with_parent():
    """Have the kernel send SIGTERM when the harness goes, even by SIGKILL, so no probe (a
    hang, say) outlives it. Where the harness is already gone, go now."""
    parent = os.getppid()
    if not prctl(PR_SET_PDEATHSIG, signal.SIGTERM):
        return
    RUNNING["parent"] = parent
    if parent == 1 or os.getppid() != parent:
        RUNNING["parent"] = None
        os.kill(os.getpid(), signal.SIGTERM)


def command_line(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            return handle.read().split(b"\0")[:-1]
    except OSError:
        return []


def alive(pid):
    """Whether `pid` runs; a zombie (dead, not yet reaped by its parent) does not."""
    try:
        with open("/proc/%d/stat" % pid) as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def send(pid, signum):
    try:
        os.kill(pid, signum)
    except OSError:
        pass


def supervisors_of(batch_file):
    """Pids of the supervisors running `batch_file` (`python3 .../supervisor.py FILE`)."""
    wanted = os.fsencode(batch_file)
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        args = command_line(int(entry))
        script = any(arg.endswith(b"supervisor.py") for arg in args)
        if args and args[-1] == wanted and script and b"--stop" not in args:
            found.append(int(entry))
    # A launcher is a forked copy of its supervisor, with the same command line: leave it to
    # its supervisor, which kills it with everything below.
    return [pid for pid in found if parent_of(pid) not in found]


def parent_of(pid):
    try:
        with open("/proc/%d/stat" % pid) as stat:
            return int(stat.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def stop_batch(batch_file):
    """Stop the supervisor running `batch_file` and everything below it. SIGTERM first: it
    kills its cell in flight and what that left, and exits. Whatever still runs after a
    grace is frozen (SIGSTOP: it starts no more probes), its descendants are killed until
    none is left, then it is. Exit status 0 once none runs."""
    found = supervisors_of(batch_file)
    for pid in found:
        send(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_S
    while time.monotonic() < deadline and any(alive(pid) for pid in found):
        time.sleep(CHECK_S)
    for pid in [pid for pid in found if alive(pid)]:
        send(pid, signal.SIGSTOP)
        for _ in range(100):
            below = [child for child in descendants(pid) if alive(child)]
            if not below:
                break
            for child in below:
                send(child, signal.SIGKILL)
            time.sleep(POLL_S)
        send(pid, signal.SIGKILL)
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline and any(alive(pid) for pid in found):
        time.sleep(POLL_S)
    left = [pid for pid in found if alive(pid)]
    sys.stdout.write(json.dumps({"stopped": len(found) - len(left), "left": left}) + "\n")
    return 1 if left else 0


def main(argv):
    args = argv[1:]
    users = None
    if args[:1] == ["--users"]:
        users = parse_users(args[1] if len(args) > 1 else "")
        args = args[2:]
    if args[:1] == ["--root"]:
        enter_root(args[1] if len(args) > 1 else "")
        args = args[2:]
    if users is not None:
        if args[:1] != ["--stop"]:
            compile_probe(os.path.dirname(os.path.abspath(__file__)))
        take_users(*users)
    if len(args) == 2 and args[0] == "--stop":
        return stop_batch(args[1])
    become_subreaper()
    for signum in TERMINATING:
        signal.signal(signum, terminate)
    if args[:1] == ["--serve"]:
        return serve(sys.stdin.buffer)
    if args:
        with open(args[0]) as handle:
            batch = json.load(handle)
    else:
        batch = json.load(sys.stdin)
    run_batch(batch)
    return 0


def compile_probe(folder):
    """Compile `folder`'s probe.py to probe.pyc beside it, unless that is there: written
    whole under another name first, so a supervisor starting at the same time never runs a
    part of it. Where it cannot be written, the probes run the source."""
    source = os.path.join(folder, "probe.py")
    target = source + "c"
    if os.path.exists(target) or not os.path.exists(source):
        return
    import py_compile

    scratch = "%s.%d" % (target, os.getpid())
    try:
        py_compile.compile(source, cfile=scratch, doraise=True)
        os.replace(scratch, target)
    except (OSError, py_compile.PyCompileError):
        try:
            os.unlink(scratch)
        except OSError:
            pass


def probe_of(batch):
    """What a cell's interpreter runs: the compiled probe where the batch allows it and
    there is one, else the probe's source."""
    probe = batch["probe"]
    if batch.get("compiled_probe") and os.path.isfile(probe + "c"):
        return probe + "c"
    return probe


def run_batch(batch):
    """Run a batch's cells one after another, writing each one's report line as it ends."""
    batch = dict(batch, probe=probe_of(batch))
    if batch.get("die_with_parent"):
        die_with_parent()
    os.makedirs(batch["workdir"], exist_ok=True)
    empty_folder(batch["workdir"])
    launcher = Launcher(batch)
    for index in range(len(batch["cells"])):
        sys.stdout.write(json.dumps(run_cell(batch, launcher, index)) + "\n")
        sys.stdout.flush()
    launcher.stop()


def serve(stdin):
    """Batch after batch, one per line of stdin, until it ends: after each batch's report
    lines, a line {"batch_end": ID} (the batch's "batch_id"), so its caller knows it may send
    the next. A line that is not a batch ends the supervisor, with a line saying so."""
    while True:
        line = stdin.readline()
        if not line:
            return 0
        if not line.strip():
            continue
        try:
            batch = json.loads(line)
        except ValueError as exc:
            batch = "not JSON: %s" % exc
        if not isinstance(batch, dict) or "cells" not in batch or "workdir" not in batch:
            why = batch if isinstance(batch, str) else "no cells and workdir"
            sys.stdout.write(json.dumps({"bad_batch": why}) + "\n")
            sys.stdout.flush()
            return 2
        run_batch(batch)
        sys.stdout.write(json.dumps({"batch_end": batch.get("batch_id", "")}) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
