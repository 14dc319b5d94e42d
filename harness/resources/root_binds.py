"""wheelclash root binds: give a copy of the image's root filesystem the container's own mounts.

Standard library only (Python 3.8 or newer). Run once per container, as root, where the
docker backend's cell containers run their probes chrooted into a copy of the image's root
filesystem (harness/images/rootcopy.py): as the container's own command, given as code
(its files come in after the start; `rooting_command` in harness/cells/backends/docker.py):

    python3 -I -c "$(cat root_binds.py)" ROOT PATH...

binds each PATH of the container (with everything mounted below it) at the same place under
ROOT: /proc, /sys and /dev, the harness's folders, the scratch folders in memory, the files
the engine put in /etc. A PATH the container lacks is left out; one whose place is missing
under ROOT fails it. A bind keeps its source's flags (read-only stays read-only). It prints
one JSON line, {"bound": [...]} or {"error": "..."}, and exits 0 only when all went well.
The mounts need CAP_SYS_ADMIN, so an engine that refuses them (an AppArmor profile, a
seccomp filter) makes it fail, and the backend runs that container's probes unchrooted.
"""

import ctypes
import json
import os
import sys

MS_BIND = 4096
MS_REC = 16384


def bind(source, target):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.mount(source.encode(), target.encode(), None, MS_BIND | MS_REC, None) != 0:
        number = ctypes.get_errno()
        raise OSError(number, "binding %s at %s: %s" % (source, target, os.strerror(number)))


def main(argv):
    if len(argv) < 3:
        sys.stdout.write(json.dumps({"error": "usage: root_binds.py ROOT PATH..."}) + "\n")
        return 2
    root, wanted = argv[1].rstrip("/"), argv[2:]
    bound = []
    try:
        for path in wanted:
            if not os.path.lexists(path):
                continue
            target = root + path
            if not os.path.lexists(target):
                raise OSError("%s is missing from the root copy" % target)
            bind(path, target)
            bound.append(path)
    except OSError as exc:
        sys.stdout.write(json.dumps({"error": str(exc), "bound": bound}) + "\n")
        return 1
    sys.stdout.write(json.dumps({"bound": bound}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
