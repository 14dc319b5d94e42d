"""wheelclash supervisor: run a batch of probe processes, one fresh interpreter per cell.

Standard library only (Python 3.8 or newer): it runs on the host for the local backend and
inside the container for the docker backend. It reads one JSON document from the file named by its
argument, or from stdin:

    {"python": ..., "probe": ..., "workdir": ..., "tail_bytes": N, "output_cap": N,
     "cells": [{"id": ..., "spec": {...}, "env": {...}, "timeout": seconds}, ...]}

and writes one JSON line per cell to stdout as soon as that cell ends, so a caller that
dies mid-batch loses only the cell in flight. Every probe runs in its own session; on a
timeout the probe is asked for a Python stack dump (SIGUSR1, faulthandler), then its whole
process group is killed. The supervisor makes itself a child subreaper, so anything a probe
forked and left behind is found and killed before the next cell starts. With "die_with_parent"
in the batch (the local backend, whose harness is its parent), when its caller dies, even by
SIGKILL, the kernel sends it SIGTERM (PR_SET_PDEATHSIG), and it kills the cell in flight and
everything below it before it exits. (Under `docker exec` the parent is the runtime's
short-lived exec process; there the container's removal stops everything.) A probe's output
beyond `output_cap` bytes is dropped from the head while it runs (it is not killed for it), so
the tails keep its last words and the disk holds at most about the cap.

Several supervisors may run at once in one container (`-j`), each with its own batch file
and working folder. `supervisor.py --stop BATCH_FILE` stops the one running that batch and
everything below it, and leaves the others alone: the harness runs it when it gives up on a
batch (its deadline passed, or the run is stopping).
"""

import ctypes
import json
import os
import select
import signal
import subprocess
import sys
import time

PR_SET_CHILD_SUBREAPER = 36
PR_SET_PDEATHSIG = 1
POLL_S = 0.01
CHECK_S = 0.05
DUMP_GRACE_S = 0.5
STOP_GRACE_S = 5.0
FALLOC_FL_KEEP_SIZE = 1
FALLOC_FL_PUNCH_HOLE = 2


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
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass


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


def sweep():
    """Kill and reap whatever the last probe left behind; return how many there were."""
    leftovers = descendants(os.getpid())
    for pid in leftovers:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            time.sleep(POLL_S)
    return len(leftovers)


def probe_preexec():
    """In the probe's process, before exec: be the first the OOM killer picks, not us."""
    try:
        with open("/proc/self/oom_score_adj", "w") as handle:
            handle.write("1000")
    except OSError:
        pass


def capturing_preexec(core_cap):
    """probe_preexec, and let the kernel write a core of up to `core_cap` bytes."""
    import crash_capture  # shipped beside this file; only needed when a batch captures

    def preexec():
        probe_preexec()
        crash_capture.set_core_limit(core_cap)

    return preexec


def cell_capture(batch, cell, spec, env, preexec):
    """The evidence collector for a cell whose batch asks for capture, else None."""
    settings = cell.get("capture")
    if not settings:
        return None
    import crash_capture

    return crash_capture.CellCapture(
        settings, batch["python"], batch["probe"], spec, env, float(cell["timeout"]), preexec
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
    """The cell's events, stdout and stderr files, with nothing left in them from before."""
    stem = os.path.join(workdir, "cell-%d" % index)
    paths = {name: stem + "." + name for name in ("events", "stdout", "stderr")}
    for path in paths.values():
        if os.path.exists(path):
            os.unlink(path)
    return paths


def probe_env(cell):
    env = dict(os.environ)
    env.update(cell.get("env", {}))
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def cell_preexec(workdir, settings):
    """What the probe's process runs before exec: probe_preexec, and for a cell that captures,
    the core limit too. Cores go to the kernel only where we can pick them up: a plain
    core_pattern. For a pipe (systemd-coredump, apport) the limit is 0, so nothing lands on
    the host."""
    if not settings:
        return probe_preexec
    import crash_capture

    landing = crash_capture.kernel_core_path(workdir, 0) is not None
    kernel_cores = settings.get("kernel_cores", True) and landing
    return capturing_preexec(int(settings.get("core_cap", 0)) if kernel_cores else 0)


def start_probe(batch, spec, env, preexec, out, err):
    """The probe for one cell, in its own session, writing to `out` and `err`."""
    return subprocess.Popen(
        [batch["python"], batch["probe"], json.dumps(spec)],
        stdin=subprocess.DEVNULL,
        stdout=out,
        stderr=err,
        cwd=batch["workdir"],
        env=env,
        start_new_session=True,
        preexec_fn=preexec,
    )


def stop_hung(proc, capture):
    """A probe past its timeout: ask it for its Python stack (SIGUSR1), give it a moment to
    write it, let capture look at the live process, then kill its group. Returns the seconds
    capture took, which are not the probe's own."""
    try:
        os.kill(proc.pid, signal.SIGUSR1)
    except OSError:
        pass
    try:
        proc.wait(DUMP_GRACE_S)
    except subprocess.TimeoutExpired:
        pass
    spent = 0.0
    if capture is not None and proc.poll() is None:
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
    exited = ExitWaiter(proc.pid)
    while proc.poll() is None:
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
        exited.wait(CHECK_S)
    report["duration_s"] = round(time.monotonic() - start, 4)
    exited.close()
    kill_group(proc)
    return dump_at


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
        return {"notes": ["capture failed: %s: %s" % (type(exc).__name__, exc)]}


def remove_files(paths, kernel_core):
    if kernel_core and os.path.exists(kernel_core):
        os.unlink(kernel_core)
    for path in paths.values():
        try:
            os.unlink(path)
        except OSError:
            pass


def run_cell(batch, cell, index):
    """Run one cell's probe to its end and return its report line (a dict)."""
    workdir = batch["workdir"]
    paths = output_paths(workdir, index)
    spec = dict(cell["spec"])
    spec["events"] = paths["events"]
    env = probe_env(cell)
    cap = int(batch.get("output_cap", 64 << 20))
    limit = int(batch.get("tail_bytes", 4000))
    report = {"id": cell["id"], "timed_out": False, "output_overflow": False}
    preexec = cell_preexec(workdir, cell.get("capture"))
    capture = cell_capture(batch, cell, spec, env, preexec)
    kernel_core = None

    start = time.monotonic()
    with open(paths["stdout"], "wb") as out, open(paths["stderr"], "wb") as err:
        try:
            proc = start_probe(batch, spec, env, preexec, out, err)
        except OSError as exc:
            report["infra_error"] = "could not start the probe: %s" % (exc,)
            return report
        RUNNING["pgid"] = proc.pid
        if capture is not None:
            import crash_capture

            kernel_core = crash_capture.kernel_core_path(workdir, proc.pid)
        timeout = float(cell["timeout"])
        dump_at = watch(proc, report, paths, start, timeout, cap, limit, capture)
    RUNNING["pgid"] = None
    report["leftover_processes"] = sweep()

    record_output(report, proc, paths, limit, dump_at)
    failed = proc.returncode != 0 or report["timed_out"] or report["output_overflow"]
    if capture is not None and failed:
        report["capture"] = evidence(capture, report, paths["stderr"], kernel_core)
    remove_files(paths, kernel_core)
    return report


# The process group of the cell in flight, for the SIGTERM handler.
RUNNING = {"pgid": None}


def terminate(signum, frame):
    """SIGTERM, also sent by the kernel when the harness dies (die_with_parent): kill the
    cell in flight and whatever it left behind, then leave."""
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
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:
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
        if len(args) >= 2 and args[-1] == wanted and args[-2].endswith(b"supervisor.py"):
            found.append(int(entry))
    return found


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


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--stop":
        return stop_batch(sys.argv[2])
    become_subreaper()
    signal.signal(signal.SIGTERM, terminate)
    if len(sys.argv) > 1:
        with open(sys.argv[1]) as handle:
            batch = json.load(handle)
    else:
        batch = json.load(sys.stdin)
    if batch.get("die_with_parent"):
        die_with_parent()
    os.makedirs(batch["workdir"], exist_ok=True)
    for index, cell in enumerate(batch["cells"]):
        sys.stdout.write(json.dumps(run_cell(batch, cell, index)) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
