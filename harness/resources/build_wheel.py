"""wheelclash wheel builder: build one fixture project into a wheel with one toolchain.

Standard library only (Python 3.8+): it runs on the host for local builds and inside the
builder container for the docker backend, so both build the same way. Usage:

    python build_wheel.py SPEC_JSON_FILE

The spec holds "source" (the fixture project), "out" (where the wheel goes), "cxx",
"cxxflags", "ldflags" (where "{pyinit_only_map}" stands for "pyinit_map"), "archive_members"
("ARCHIVE:MEMBER", pulled out of the toolchain's static archive and linked in), "module"
(the extension's name), "python" (the interpreter whose pip and setuptools build it) and,
for a cross build, "plat_name" (e.g. "linux-aarch64", the wheel's platform).
It prints one JSON line: {"ok": true, "wheel": PATH, "compiler": VERSION} or
{"ok": false, "error": WHY, "log": TAIL}.
"""

import json
import os
import shlex
import subprocess
import sys
import tempfile


def run(command, **kwargs):
    return subprocess.run(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, **kwargs
    )


def fail(error, log=""):
    sys.stdout.write(json.dumps({"ok": False, "error": error, "log": log[-4000:]}) + "\n")
    return 1


def compiler_version(cxx):
    try:
        done = run([*shlex.split(cxx), "--version"])
    except OSError as exc:
        return None, str(exc)
    lines = done.stdout.splitlines()
    return (lines[0].strip() if lines else ""), ""


def python_cflags(python):
    """The C flags the building interpreter was configured with (optimisation, NDEBUG)."""
    done = run([python, "-c", "import sysconfig; print(sysconfig.get_config_var('CFLAGS') or '')"])
    return done.stdout.strip() if done.returncode == 0 else ""


def archive_member(cxx, spec, workdir):
    archive_name, member = spec.split(":")
    located = run([*shlex.split(cxx), "-print-file-name=" + archive_name]).stdout.strip()
    if not os.path.isabs(located) or not os.path.isfile(located):
        return None, "the toolchain has no %s (the compiler printed %r)" % (archive_name, located)
    done = run(["ar", "x", located, member], cwd=workdir)
    if done.returncode != 0:
        return None, "could not extract %s from %s: %s" % (member, located, done.stdout.strip())
    return os.path.join(workdir, member), ""


def main(argv):
    with open(argv[1]) as handle:
        spec = json.load(handle)
    cxx = spec["cxx"]
    version, problem = compiler_version(cxx)
    if version is None:
        return fail("the compiler %r cannot run: %s" % (cxx, problem))
    workdir = tempfile.mkdtemp(prefix="wheelclash-objs-")
    ldflags = [flag.replace("{pyinit_only_map}", spec["pyinit_map"]) for flag in spec["ldflags"]]
    for member in spec.get("archive_members", []):
        path, problem = archive_member(cxx, member, workdir)
        if path is None:
            return fail(problem)
        ldflags.append(path)
    env = dict(os.environ)
    # setuptools before 72 compiles C++ with CC and CFLAGS *appended* to Python's own flags
    # and links with LDSHARED; newer ones use CXX, CXXFLAGS and LDCXXSHARED, and an
    # environment CFLAGS or CXXFLAGS *replaces* Python's flags (-O3 -DNDEBUG ...). So pass
    # Python's own flags plus the toolchain's in both, and every setuptools compiles alike.
    base = python_cflags(spec["python"])
    cxxflags = " ".join([base] + [shlex.quote(f) for f in spec["cxxflags"]]).strip()
    env.update(
        CC=cxx,
        CXX=cxx,
        LDSHARED=cxx + " -shared",
        LDCXXSHARED=cxx + " -shared",
        CFLAGS=cxxflags,
        CXXFLAGS=cxxflags,
        LDFLAGS=" ".join(shlex.quote(f) for f in ldflags),
        WHEELCLASH_MODULE=spec["module"],
    )
    if spec.get("plat_name"):  # a cross build: tag the wheel for the target arch
        env["_PYTHON_HOST_PLATFORM"] = spec["plat_name"]
    command = [
        spec["python"],
        "-m",
        "pip",
        "wheel",
        "--no-build-isolation",
        "--no-deps",
        "--no-cache-dir",
        "--disable-pip-version-check",
        "--no-index",
        "-w",
        spec["out"],
        spec["source"],
    ]
    done = run(command, env=env)
    wheels = (
        [n for n in os.listdir(spec["out"]) if n.endswith(".whl")]
        if os.path.isdir(spec["out"])
        else []
    )
    if done.returncode != 0 or len(wheels) != 1:
        return fail("pip wheel failed (exit %d)" % done.returncode, done.stdout)
    result = {"ok": True, "wheel": os.path.join(spec["out"], wheels[0]), "compiler": version}
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
