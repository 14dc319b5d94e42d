"""Run each corpus wheel's imports and exercise alone, in a fresh interpreter of a venv that
holds the corpus, before the exercise goes into the corpus.

    .venv/bin/python atlas/check_exercises.py atlas/corpus.toml VENV_PYTHON WHEELHOUSE

The imports are what the atlas imports: the entry's `imports`, else the wheel's public
packages as wheelclash reads them from the wheel found in WHEELHOUSE. Prints one line per
wheel (ok, or the exit status and the stderr's last line) and exits 1 when any failed.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from packaging.utils import canonicalize_name, parse_wheel_filename

from harness.scenario.corpus import load_corpus
from harness.scenario.user_imports import imports_for


def main(corpus_path: str, python: str, wheelhouse: str) -> int:
    corpus = load_corpus(Path(corpus_path))
    files = {
        (canonicalize_name(parse_wheel_filename(f.name)[0]), str(parse_wheel_filename(f.name)[1])): f
        for f in Path(wheelhouse).glob("*.whl")
    }
    failed = 0
    for wheel in corpus.wheels:
        version = wheel.requirement.rpartition("=")[2]
        path = wheel.wheel or files.get((canonicalize_name(wheel.project), version))
        if path is None:
            print(f"{wheel.id}: no {wheel.project} {version} wheel in {wheelhouse}")
            failed += 1
            continue
        modules = wheel.imports or imports_for(path)
        code = "".join(f"import {m}\n" for m in modules) + wheel.exercise
        with tempfile.TemporaryDirectory() as cwd:
            done = subprocess.run(
                [python, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=600
            )
        if done.returncode == 0:
            print(f"{wheel.id}: ok ({', '.join(modules)})")
        else:
            failed += 1
            last = (done.stderr.strip().splitlines() or [""])[-1]
            print(f"{wheel.id}: exit {done.returncode} ({', '.join(modules)}): {last}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
