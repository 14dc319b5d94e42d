"""Run each corpus wheel's imports and exercise alone, in a fresh interpreter of a venv that
holds that wheel and its dependencies only (as the atlas's singleton cells install it), before
the exercise goes into the corpus.

    .venv/bin/python atlas/check_exercises.py atlas/corpus.toml WHEELHOUSE [ID...]

WHEELHOUSE holds the corpus's wheels and their dependencies (`pip download` of the
requirements); pip installs from it offline. The imports are what the atlas imports: the
entry's `imports`, else the wheel's public packages as wheelclash reads them from the wheel.
An exercise that uses a package its wheel does not depend on fails here, as it would in the
atlas (SimpleITK's once used numpy). Prints one line per wheel (ok, or the exit status and
the stderr's last line) and exits 1 when any failed. IDs limit it to those wheels.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import venv
from pathlib import Path

from packaging.utils import canonicalize_name, parse_wheel_filename

from harness.scenario.corpus import CorpusWheel, load_corpus
from harness.scenario.user_imports import imports_for


def run_alone(wheel: CorpusWheel, path: Path, wheelhouse: str) -> tuple[bool, str]:
    """Install the wheel alone into a new venv, then import and exercise it there."""
    modules = wheel.imports or imports_for(path)
    code = "".join(f"import {m}\n" for m in modules) + wheel.exercise
    with tempfile.TemporaryDirectory() as scratch:
        env = Path(scratch) / "venv"
        venv.create(env, with_pip=True)
        python = str(env / "bin" / "python")
        install = subprocess.run(
            [
                python,
                "-m",
                "pip",
                "install",
                "-q",
                "--no-index",
                "--find-links",
                wheelhouse,
                str(path),
            ],
            capture_output=True,
            text=True,
            timeout=1200,
        )
        if install.returncode != 0:
            last = (install.stderr.strip().splitlines() or [""])[-1]
            return False, f"pip install failed: {last}"
        done = subprocess.run(
            [python, "-c", code], cwd=scratch, capture_output=True, text=True, timeout=600
        )
    if done.returncode == 0:
        return True, f"ok ({', '.join(modules)})"
    last = (done.stderr.strip().splitlines() or [""])[-1]
    return False, f"exit {done.returncode} ({', '.join(modules)}): {last}"


def main(corpus_path: str, wheelhouse: str, *ids: str) -> int:
    corpus = load_corpus(Path(corpus_path))
    files = {}
    for found in Path(wheelhouse).glob("*.whl"):
        name, version, *_ = parse_wheel_filename(found.name)
        files[canonicalize_name(name), str(version)] = found
    failed = 0
    for wheel in corpus.wheels:
        if ids and wheel.id not in ids:
            continue
        version = wheel.requirement.rpartition("=")[2]
        path = wheel.wheel or files.get((canonicalize_name(wheel.project), version))
        if path is None:
            print(f"{wheel.id}: no {wheel.project} {version} wheel in {wheelhouse}")
            failed += 1
            continue
        ok, line = run_alone(wheel, Path(path), wheelhouse)
        failed += not ok
        print(f"{wheel.id}: {line}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
