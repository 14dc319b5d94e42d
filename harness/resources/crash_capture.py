"""wheelclash crash capture: evidence for one failing cell, made where the cell ran.

Standard library only (Python 3.8 or newer). The supervisor imports it from its own folder
when a batch asks for capture, and calls it only for cells that failed, so a passing cell
costs nothing. Everything lands in the cell's capture folder, as plain files the harness
parses later:

- core.gz: the kernel's core file when the host's core_pattern lets it land in the probe's
  working directory, otherwise one made by re-running the cell under `gdb -batch` with
  `generate-core-file` (or, for a hang, by attaching to the live process); capped in size
  (the bytes it holds: the pages a process never touched are holes, which take none) and
  gzip-compressed. A raw core stays in the cell's working folder, which is emptied after
  the cell; only the compressed one goes into the capture folder. gdb loads the core again
  before it is kept (the "core_check" note). A cell whose settings say "keep_core": false
  (the extra runs of a failing cell, whose first run keeps one) keeps none: no core is made
  for it, and the kernel's, once its backtrace is read, is dropped.
- backtrace.txt: gdb's backtrace of the crashing thread and of all threads, and its
  `info sharedlibrary` table (the library map at the moment of failure).
- stderr.txt: the probe's whole stderr (faulthandler's Python stack is in it).
- libraries.txt: the loaded-library map, one path a line, when it was read from /proc.
- ld-debug.txt.gz: LD_DEBUG=bindings output of a re-run, when the batch asks for it.
- capture.json: what was done, with a note for everything that could not be done.
"""

import gzip
import json
import os
import resource
import shutil
import signal
import subprocess
import time

CORE_NAME = "core.gz"
NOT_KEPT = "no core kept: this is an extra run of a failing cell, whose first run keeps one"
BACKTRACE_NAME = "backtrace.txt"
HANG_NAME = "hang-backtrace.txt"
STDERR_NAME = "stderr.txt"
LIBRARIES_NAME = "libraries.txt"
LD_DEBUG_NAME = "ld-debug.txt.gz"
SUMMARY_NAME = "capture.json"
MARK = "@@wheelclash "
GDB_SLACK_S = 30.0
ATTACH_S = 20.0

# gdb commands that print the evidence between markers the harness's parser looks for.
EVIDENCE_COMMANDS = [
    "echo \\n" + MARK + "crash-thread\\n",
    "bt",
    "echo \\n" + MARK + "all-threads\\n",
    "thread apply all bt",
    "echo \\n" + MARK + "libraries\\n",
    "info sharedlibrary",
    "echo \\n" + MARK + "end\\n",
]
GDB_PREAMBLE = [
    "set pagination off",
    "set confirm off",
    "set width 0",
    "set print frame-arguments scalars",
    # The docker seccomp profile refuses the personality() call that turns ASLR off.
    "set disable-randomization off",
]


def gdb_command(extra, commands):
    argv = ["gdb", "-batch", "-nx", "-iex", "set auto-load python-scripts off"]
    argv += ["-iex", "set debuginfod enabled off"]
    for command in GDB_PREAMBLE + commands:
        argv += ["-ex", command]
    return argv + extra


def set_core_limit(limit):
    """In the probe, before exec: let the kernel write cores up to `limit` bytes (0: none)."""
    try:
        _, hard = resource.getrlimit(resource.RLIMIT_CORE)
        soft = limit if hard == resource.RLIM_INFINITY else min(limit, hard)
        resource.setrlimit(resource.RLIMIT_CORE, (soft, hard))
    except (OSError, ValueError):
        pass


def file_size_limit(limit, then=None):
    """A preexec: files written (a core by gdb) stop at `limit` bytes instead of filling the
    disk; SIGXFSZ is ignored so the writer sees an error rather than dying."""

    def preexec():
        if then is not None:
            then()
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        try:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        except (OSError, ValueError):
            pass

    return preexec


def stored_bytes(path):
    """The bytes a file holds: a core is sparse where the process's memory was never touched
    (a thread pool's stacks, an allocator's reserve), and those holes take no room."""
    try:
        return os.stat(path).st_blocks * 512
    except OSError:
        return 0


def resident_bytes(pid):
    try:
        with open("/proc/%d/status" % pid) as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def guest_core(cwd):
    """The core qemu-user wrote of the process it emulated (`qemu_<prog>_<time>_<pid>.core` in
    the working directory), the newest one, or None where the process was not emulated."""
    try:
        names = [n for n in os.listdir(cwd) if n.startswith("qemu_") and n.endswith(".core")]
    except OSError:
        return None
    if not names:
        return None
    paths = sorted((os.path.join(cwd, n) for n in names), key=os.path.getmtime)
    for stale in paths[:-1]:
        os.unlink(stale)
    return paths[-1]


def kernel_core_path(cwd, pid):
    """Where the kernel writes a core of `pid` started in `cwd`, or None when it goes elsewhere.

    Only a plain core_pattern (no pipe to a helper) whose specifiers we can expand lands
    in the process's own filesystem, where the harness can pick it up.
    """
    try:
        with open("/proc/sys/kernel/core_pattern") as handle:
            pattern = handle.read().strip()
    except OSError:
        return None
    if not pattern or pattern.startswith("|"):
        return None
    name = pattern.replace("%%", "\0").replace("%p", str(pid))
    if "%" in name:
        return None
    name = name.replace("\0", "%")
    try:
        with open("/proc/sys/kernel/core_uses_pid") as handle:
            uses_pid = handle.read().strip() == "1"
    except OSError:
        uses_pid = False
    if uses_pid and "%p" not in pattern:
        name += "." + str(pid)
    return os.path.join(cwd, name)


def _run(argv, env, timeout, preexec, cwd):
    """Run a tool in its own session, in `cwd`; kill the whole group when it overstays."""
    try:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            preexec_fn=preexec,
        )
    except OSError as exc:
        return None, "could not start %s: %s" % (argv[0], exc)
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        output, _ = proc.communicate()
        text = output.decode("utf-8", "replace")
        return None, "%s ran over its %.0f s limit:\n%s" % (argv[0], timeout, text[-2000:])
    return proc.returncode, output.decode("utf-8", "replace")


class CellCapture:
    """Evidence for one cell, written into `settings["dir"]`."""

    def __init__(
        self, settings, python, probe, spec, env, timeout, preexec, settle=None, *, scratch
    ):
        """`preexec` is what the probe runs before exec; `settle`, what every tool (gdb)
        runs first: the supervisor's step to the probe's user alone, where it holds two
        (gdb may attach only to a process of its own real user). `scratch` is the cell's
        working folder, emptied after it: raw cores are written there, not into `dir`."""
        self.dir = settings["dir"]
        self.scratch = scratch
        self.core_cap = int(settings.get("core_cap", 512 << 20))
        self.keep_core = bool(settings.get("keep_core", True))
        self.bindings = bool(settings.get("bindings"))
        self.python = python
        self.probe = probe
        self.spec = spec
        self.env = env
        self.timeout = timeout
        self.preexec = preexec
        self.settle = settle
        self.artefacts = {}
        self.notes = []
        self.core_check = ""
        self.core_origin = "the kernel wrote it"
        self.seconds = 0.0
        self.gdb = shutil.which("gdb")

    def _tool(self, argv, env, timeout, preexec):
        """_run for one of capture's own tools or re-runs, as the probe's user."""
        settle = self.settle

        def first_settle():
            if settle is not None:
                settle()
            if preexec is not None:
                preexec()

        return _run(argv, env, timeout, first_settle, self.dir)

    def path(self, name):
        os.makedirs(self.dir, exist_ok=True)
        return os.path.join(self.dir, name)

    def raw_core(self):
        """Where gdb writes a core: the scratch folder, which has the room for it."""
        return os.path.join(self.scratch, "capture.core")

    def keep(self, artefact, name, text):
        with open(self.path(name), "w", encoding="utf-8") as handle:
            handle.write(text)
        self.artefacts[artefact] = name

    # -- hangs: while the process still lives -------------------------------------------

    def live_process(self, pid):
        """Before the kill: the library map from /proc and, with gdb, stacks and a core."""
        started = time.monotonic()
        os.makedirs(self.dir, exist_ok=True)
        try:
            self._live_process(pid)
        finally:
            self.seconds += time.monotonic() - started

    def _live_process(self, pid):
        try:
            with open("/proc/%d/maps" % pid) as maps:
                self.keep("libraries", LIBRARIES_NAME, "\n".join(maps_paths(maps)) + "\n")
        except OSError as exc:
            self.notes.append("could not read the hung process's maps: %s" % (exc,))
        if not self.gdb:
            self.notes.append("gdb is not installed here: no native stacks of the hung process")
            return
        raw = self.raw_core()
        commands = [*EVIDENCE_COMMANDS, "detach"]
        size = resident_bytes(pid)
        if not self.keep_core:
            self.notes.append(NOT_KEPT)
        elif size < self.core_cap:
            commands.insert(-1, "generate-core-file " + raw)
        else:
            self.notes.append(
                "no core: the hung process holds %d bytes (cap %d)" % (size, self.core_cap)
            )
        limit = file_size_limit(self.core_cap)
        code, output = self._tool(gdb_command(["-p", str(pid)], commands), None, ATTACH_S, limit)
        self.keep("hang_stack", HANG_NAME, output)
        if code is None:
            self.notes.append(output.splitlines()[0] if output else "gdb failed")
        if self.keep_core and size < self.core_cap:
            self._keep_core(raw, "gdb attached to the hung process")

    # -- after the process ended -----------------------------------------------------------

    def after(self, report, stderr_path, kernel_core):
        """Capture for a cell that ended in failure; returns the report's "capture" entry."""
        started = time.monotonic()
        os.makedirs(self.dir, exist_ok=True)
        if os.path.exists(stderr_path) and os.path.getsize(stderr_path):
            shutil.copyfile(stderr_path, self.path(STDERR_NAME))
            self.artefacts["stderr"] = STDERR_NAME
        signum = report.get("signal")
        if report.get("timed_out"):
            pass  # the live process was captured before the kill
        elif signum is not None:
            guest = guest_core(os.path.dirname(stderr_path))
            if guest is not None:
                # Under qemu-user the kernel's core is of qemu itself (the host arch, no guest
                # registers); qemu writes the emulated process's own core beside it.
                self.notes.append(
                    "ran under qemu-user: the core is qemu's dump of the emulated process (the "
                    "kernel's core of qemu itself is dropped); gdb cannot attach to or re-run a "
                    "process under qemu-user, so a hang or a crash without that core has no "
                    "native stacks"
                )
                if kernel_core and os.path.exists(kernel_core):
                    os.unlink(kernel_core)
                kernel_core = guest
                self.core_origin = "qemu-user wrote it"
            self._crash(signum, kernel_core)
        if self.bindings:
            self._ld_debug()
        if kernel_core and os.path.exists(kernel_core):
            os.unlink(kernel_core)
        summary = {
            "artefacts": self.artefacts,
            "notes": self.notes,
            "core_check": self.core_check,
            "seconds": round(self.seconds + time.monotonic() - started, 3),
        }
        with open(self.path(SUMMARY_NAME), "w") as handle:
            json.dump(summary, handle, indent=2)
        self.artefacts["summary"] = SUMMARY_NAME
        summary["artefacts"] = self.artefacts
        return summary

    def _crash(self, signum, kernel_core):
        if not self.gdb:
            self.notes.append("gdb is not installed here: no native backtrace")
            if kernel_core and os.path.exists(kernel_core):
                self._keep_core(kernel_core, self.core_origin)
            return
        if kernel_core and os.path.exists(kernel_core):
            size = stored_bytes(kernel_core)
            if 0 < size < self.core_cap:
                _, output = self._tool(
                    gdb_command([self.python, kernel_core], EVIDENCE_COMMANDS),
                    None,
                    GDB_SLACK_S,
                    None,
                )
                self.keep("backtrace", BACKTRACE_NAME, output)
                if not self.keep_core:
                    self.notes.append(NOT_KEPT)
                    return  # `after` removes the kernel's core
                # The backtrace above was read from this core: that is the check.
                self._keep_core(kernel_core, self.core_origin, output)
                return
            self.notes.append(
                "the kernel's core held %d bytes (cap %d): re-run" % (size, self.core_cap)
            )
        if signum == signal.SIGKILL:
            self.notes.append("SIGKILL cannot be caught by gdb: no re-run, no core")
            return
        self._rerun_under_gdb()

    def _rerun_under_gdb(self):
        raw = self.raw_core()
        spec = dict(self.spec)
        spec["events"] = self.path("rerun.events")
        made = ["generate-core-file " + raw] if self.keep_core else []
        commands = ["run", *EVIDENCE_COMMANDS, *made, "kill"]
        argv = gdb_command(["--args", self.python, self.probe, json.dumps(spec)], commands)
        limit = file_size_limit(self.core_cap, self.preexec)
        code, output = self._tool(argv, self.env, self.timeout + GDB_SLACK_S, limit)
        self.keep("backtrace", BACKTRACE_NAME, output)
        if os.path.exists(spec["events"]):
            os.unlink(spec["events"])
        if code is None:
            self.notes.append(output.splitlines()[0])
        if "\nProgram received signal" not in "\n" + output:
            self.notes.append("the re-run under gdb did not stop on a signal (a flaky crash?)")
        if not self.keep_core:
            self.notes.append(NOT_KEPT)
            return
        self._keep_core(raw, "gdb re-ran the cell")

    def _keep_core(self, raw, origin, loaded=None):
        """Check that gdb loads the core with the same binaries, then cap it and compress it
        into the capture folder; the raw core is removed.

        `loaded` is gdb's output from reading this very core, when there is one already."""
        if not os.path.exists(raw):
            self.notes.append("no core was written (%s)" % origin)
            return
        size = stored_bytes(raw)
        if size >= self.core_cap:
            os.unlink(raw)
            self.notes.append(
                "the core (%d bytes) exceeded the cap of %d bytes" % (size, self.core_cap)
            )
            return
        if loaded is not None:
            code, output = 0, loaded
        elif self.gdb:
            argv = gdb_command([self.python, raw], ["bt"])
            code, output = self._tool(argv, None, GDB_SLACK_S, None)
        else:
            code, output = None, "gdb is not installed here"
        lines = output.splitlines()
        frames = sum(1 for line in lines if line.startswith("#") and "<unavailable>" not in line)
        if code == 0 and frames:
            self.core_check = "gdb loaded the core (%s): %d frames" % (origin, frames)
        else:
            self.notes.append("gdb could not load the core again: %s" % (output[-300:],))
        with open(raw, "rb") as source, gzip.open(self.path(CORE_NAME), "wb", 3) as target:
            shutil.copyfileobj(source, target, 1 << 20)
        os.unlink(raw)
        self.artefacts["core"] = CORE_NAME

    def _ld_debug(self):
        """Re-run with LD_DEBUG=bindings; keep the loader's output, compressed."""
        stem = self.path("ld-debug")
        env = dict(self.env)
        env["LD_DEBUG"] = "bindings"
        env["LD_DEBUG_OUTPUT"] = stem
        spec = dict(self.spec)
        spec["events"] = self.path("ld-debug.events")
        preexec = self.preexec

        def no_core():  # this re-run crashes again; its core would be one too many
            preexec()
            set_core_limit(0)

        argv = [self.python, self.probe, json.dumps(spec)]
        code, output = self._tool(argv, env, self.timeout, no_core)
        if code is None:
            self.notes.append("the LD_DEBUG re-run: " + output.splitlines()[0])
        written = sorted(n for n in os.listdir(self.dir) if n.startswith("ld-debug."))
        with gzip.open(self.path(LD_DEBUG_NAME), "wb", 3) as target:
            for name in written:
                if name in ("ld-debug.events", LD_DEBUG_NAME):
                    continue
                with open(self.path(name), "rb") as source:
                    shutil.copyfileobj(source, target, 1 << 20)
                os.unlink(self.path(name))
        if os.path.exists(spec["events"]):
            os.unlink(spec["events"])
        self.artefacts["ld_debug"] = LD_DEBUG_NAME


def maps_paths(lines):
    """The files mapped in a /proc/PID/maps text, once each, in first-mapped order."""
    seen = []
    for line in lines:
        parts = line.split(None, 5)
        if len(parts) == 6:
            path = parts[5].strip()
            if path.startswith("/") and path not in seen:
                seen.append(path)
    return seen
