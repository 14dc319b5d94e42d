"""One-line shell commands that reproduce a cell without wheelclash.

A cell's reproducer does what the probe does, with nothing of wheelclash in between: the
same imports in the same order with the same dlopen flags, the same exercises (from as many
threads), the scenario's exercise code (the job's snippet), the same victims, the same
LD_PRELOAD and environment. For the docker backend it is a `docker run` of the exact image
(by id), confined as the cells' containers are, with the wheels mounted read-only from the
wheel cache and installed offline into a fresh venv, then run as the cells' user; for the
local backend it is the cell's cached venv's python. Pure: strings in, a string out.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from typing import Final

from harness.build.wheels import BuiltWheel
from harness.cells.backends import TargetFacts
from harness.cells.jobs import CellJob
from harness.images.containers import Confinement

# The probe's own environment additions (see resources/supervisor.py) and the container's.
PROBE_ENV: Final = (("PYTHONDONTWRITEBYTECODE", "1"),)
CONTAINER_ENV: Final = (("HOME", "/tmp"), ("LANG", "C.UTF-8"))
CONTAINER_WHEELS: Final = "/wheels"
DONE_MESSAGE: Final = "reproducer: every step passed"

# CPython's own C extensions, used briefly as the probe uses them (resources/probe.py).
VICTIMS: Final = (
    "import hashlib,ssl,sqlite3,ctypes,lzma,bz2,zlib,pyexpat,decimal",
    'assert hashlib.sha256(b"abc").hexdigest().startswith("ba7816bf")',
    "assert ssl.create_default_context().verify_mode==ssl.CERT_REQUIRED",
    'assert sqlite3.connect(":memory:").execute("select 1+2").fetchone()==(3,)',
    "assert ctypes.c_int(41).value+1==42",
    "assert all(m.decompress(m.compress(bytes(640)))==bytes(640) for m in (lzma,bz2,zlib))",
    'p=pyexpat.ParserCreate();p.Parse("<w/>",True)',
    'assert decimal.Decimal("0.1")*3==decimal.Decimal("0.3")',
)

# Calls fn from n fresh threads at once; true when every call returned something but False.
THREADED: Final = (
    "threaded=lambda fn,n:(r:=[],t:=[threading.Thread(target=lambda:r.append(fn())) "
    "for _ in range(n)],[x.start() for x in t],[x.join() for x in t],"
    "len(r)==n and False not in r)[-1]"
)


def python_script(job: CellJob, cwd: str = "") -> str:
    """The probe's steps as one line of Python: imports, exercises, the snippet, victims, a
    last word. The snippet runs as the probe runs it: compiled as `<exercise>`, in a
    namespace of its own. With `cwd`, it first moves there, as the probe starts there."""
    steps = ["import faulthandler,os,sys,threading", "faulthandler.enable(all_threads=True)"]
    if cwd:
        steps.append(f"os.chdir({cwd!r})")
    steps.append("f=sys.getdlopenflags()")
    names: dict[str, str] = {}
    for number, item in enumerate(job.imports):
        alias = f"m{number}"
        names[item.module] = alias
        if item.rtld_global:
            steps += ["sys.setdlopenflags(f|os.RTLD_GLOBAL)", f"import {item.module} as {alias}"]
            steps.append("sys.setdlopenflags(f)")
        else:
            steps.append(f"import {item.module} as {alias}")
    if any(e.threads > 1 for e in job.exercises):
        steps.append(THREADED)
    for exercise in job.exercises:
        call = f"{names.get(exercise.module, exercise.module)}.{exercise.function}"
        if exercise.threads > 1:
            steps.append(f"assert threaded({call},{exercise.threads})")
        else:
            steps.append(f"assert {call}() is not False")
    if job.snippet:
        code = f"compile({job.snippet!r},'<exercise>','exec')"
        steps.append(f"exec({code},{{'__name__':'__exercise__'}})")
    if job.victims:
        steps += VICTIMS
    steps.append(f'print("{DONE_MESSAGE}")')
    return ";".join(steps)


# What a POSIX shell reads specially inside double quotes, each taken literally.
SHELL_ESCAPES: Final = str.maketrans({c: "\\" + c for c in '\\"$`'})


def _double_quoted(text: str) -> str:
    """`text` inside double quotes for a POSIX shell (\\, ", $ and ` escaped)."""
    return f'"{text.translate(SHELL_ESCAPES)}"'


def _environment(job: CellJob) -> list[str]:
    """NAME=value words for `env`: the cell's environment, its preload and the probe's."""
    env = dict(PROBE_ENV)
    env.update(job.env)
    if job.preload:
        env["LD_PRELOAD"] = job.preload
    return [f"{name}={shlex.quote(value)}" for name, value in sorted(env.items())]


def local_command(job: CellJob, python: str) -> str:
    """The cell in the venv it ran in: `env … PYTHON -c "…"`."""
    words = ["env", *_environment(job), shlex.quote(python), "-c"]
    return " ".join(words) + " " + _double_quoted(python_script(job))


def docker_command(
    job: CellJob,
    *,
    image: str,
    wheels: Sequence[str],
    confinement: Confinement,
    venv: str,
    cells: str,
    wheelhouses: Sequence[str] = (),
) -> str:
    """The cell in a fresh container of `image`, held as the cells' own containers are
    (harness/resources/docker.toml): no network, a read-only root filesystem whose only
    writable places are the same fixed-size scratch folders, the same memory and pid limits,
    every capability dropped. Root installs the wheels (mounted read-only, with the
    wheelhouses their dependencies come from) into `venv`, on an anonymous volume removed
    with the container; `setpriv` then drops to the cells' user, who cannot write the venv,
    and the cell runs from `cells`."""
    inside = [f"{CONTAINER_WHEELS}/{path.rsplit('/', 1)[-1]}" for path in wheels]
    houses = [f"/wheelhouse{n}" for n in range(len(wheelhouses))]
    deps = " ".join(f"--find-links {h}" for h in houses) if houses else "--no-deps"
    site = _double_quoted('import sysconfig;print(sysconfig.get_path("purelib"))')
    uid, gid = confinement.user.split(":")
    drop = f"exec setpriv --reuid={uid} --regid={gid} --clear-groups env HOME={confinement.home}"
    script = " && ".join(
        [
            f"python3 -m venv --without-pip {venv}",
            f"s=$({venv}/bin/python -c {site})",
            f"python3 -m pip install -q --no-index {deps} --disable-pip-version-check "
            '--no-cache-dir --target "$s" ' + " ".join(inside),
            " ".join([drop, *_environment(job), f"{venv}/bin/python", "-c"])
            + " "
            + _double_quoted(python_script(job, cwd=cells)),
        ]
    )
    words = [
        "docker run --rm --init --network none --read-only --user 0:0",
        "--cap-drop ALL --cap-add SETUID --cap-add SETGID --security-opt no-new-privileges",
        f"--memory {confinement.memory} --memory-swap {confinement.memory}",
        f"--pids-limit {confinement.pids}",
        *(f"--tmpfs {s.path}:{s.options()},exec" for s in confinement.scratch),
        f"-v {venv.rsplit('/', 1)[0]}",  # anonymous: removed with the container (--rm)
        *(f"-e {name}={value}" for name, value in CONTAINER_ENV),
        *(
            f"-v {shlex.quote(path)}:{shlex.quote(target)}:ro"
            for path, target in zip([*wheels, *wheelhouses], [*inside, *houses], strict=True)
        ),
        f"-w /tmp {shlex.quote(image)} sh -c {shlex.quote(script)}",
    ]
    return " ".join(words)


def for_cell(backend: str, job: CellJob, facts: TargetFacts, wheels: Sequence[BuiltWheel]) -> str:
    """The cell's reproducer where it ran: the local venv's python, or the target's image."""
    if backend == "local":
        from harness.cells.backends.local import venv_dir

        return local_command(job, str(venv_dir(wheels) / "bin" / "python"))
    if backend == "docker" and facts.image_id:
        from harness.cells.backends.docker import load_settings

        settings = load_settings()
        return docker_command(
            job,
            image=facts.image_id,
            wheels=[str(w.path) for w in wheels],
            confinement=settings.confinement,
            venv=settings.venv,
            cells=settings.cells,
            wheelhouses=sorted({w.wheelhouse for w in wheels if w.wheelhouse}),
        )
    return ""
