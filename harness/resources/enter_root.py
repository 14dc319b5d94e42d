"""wheelclash enter root: run one of the harness's own commands in a container's root copy.

Standard library only (Python 3.8 or newer). Started as root by the docker backend, in a
container whose probes run chrooted into a copy of the image's root filesystem
(harness/images/rootcopy.py, after resources/root_binds.py):

    enter_root.py ROOT UID:GID COMMAND [ARG...]

makes ROOT its root directory (keeping the working directory's path), empties the capability
bounding set, becomes UID:GID alone (real, effective and saved ids, no supplementary groups),
and execs COMMAND with the environment it was given. The harness runs its venv and pip
commands so: they resolve every path in the copy on the engine's disk, not through a slow
storage driver, as the user who owns the venv.
"""

import ctypes
import os
import sys

PR_CAPBSET_DROP = 24


def main(argv):
    if len(argv) < 4:
        sys.stderr.write("usage: enter_root.py ROOT UID:GID COMMAND [ARG...]\n")
        return 2
    root, user, command = argv[1], argv[2], argv[3:]
    try:
        uid, gid = (int(n) for n in user.split(":"))
    except ValueError:
        sys.stderr.write("enter_root.py: UID:GID must be two numbers, not %r\n" % user)
        return 2
    here = os.getcwd()
    os.chroot(root)
    os.chdir(here if os.path.isdir(here) else "/")
    libc = ctypes.CDLL(None, use_errno=True)
    with open("/proc/sys/kernel/cap_last_cap") as handle:
        last = int(handle.read())
    for cap in range(last + 1):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            sys.stderr.write("enter_root.py: could not drop capability %d\n" % cap)
            return 1
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    os.execvp(command[0], command)
    return 1  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv))
