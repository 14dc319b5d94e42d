"""Atlas corpus files: what a good one gives, and every problem of a bad one at once."""

from __future__ import annotations

import textwrap
import zipfile
from pathlib import Path

import pytest

from harness.errors import InvalidInputFile
from harness.paths import PACKAGE
from harness.scenario.corpus import corpus_keys, load_corpus, pair_name

REPO_CORPUS = PACKAGE.parent / "atlas" / "corpus.toml"


def write(folder: Path, text: str, name: str = "corpus.toml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def tiny_wheel(folder: Path, project: str) -> Path:
    path = folder / f"{project}-1.0-cp38-abi3-linux_x86_64.whl"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{project}.abi3.so", "\x7fELF")
        archive.writestr(f"{project}-1.0.dist-info/RECORD", "")
    return path


def problems(path: Path) -> dict[str, str]:
    with pytest.raises(InvalidInputFile) as caught:
        load_corpus(path)
    assert all(p.file == str(path) for p in caught.value.problems)
    found: dict[str, str] = {}
    for problem in caught.value.problems:
        found[problem.key] = (found.get(problem.key, "") + " | " + problem.message).strip(" |")
    return found


def test_a_good_corpus_gives_its_wheels_with_defaults(tmp_path: Path) -> None:
    (tmp_path / "dist").mkdir()
    tiny_wheel(tmp_path / "dist", "wc_local")
    path = write(
        tmp_path,
        """
        name = "tiny"
        description = "three wheels"

        [[wheel]]
        requirement = "opencv-python-headless==5.1.0.95"
        imports = ["cv2"]
        exercise = "import cv2, numpy as n\\nassert cv2.gemm(n.eye(2), n.eye(2), 1, None, 0).any()"
        note = "bundles OpenBLAS"

        [[wheel]]
        requirement = "PyYAML===6.0.4"
        id = "yaml"

        [[wheel]]
        wheel = "dist/wc_local-1.0-cp38-abi3-linux_x86_64.whl"
        """,
    )
    corpus = load_corpus(path)
    assert (corpus.name, corpus.description) == ("tiny", "three wheels")
    assert corpus.timeout_s == corpus_keys()["top"]["timeout"].default == 120.0
    assert corpus.victims is corpus_keys()["top"]["victims"].default is True
    cv2, yaml, local = corpus.wheels
    assert (cv2.id, cv2.project, cv2.imports) == (
        "opencv_python_headless",
        "opencv-python-headless",
        ("cv2",),
    )
    assert cv2.exercise.startswith("import cv2") and cv2.note == "bundles OpenBLAS"
    assert (yaml.id, yaml.project, yaml.imports, yaml.exercise) == ("yaml", "pyyaml", (), "")
    assert local.wheel == (tmp_path / "dist" / "wc_local-1.0-cp38-abi3-linux_x86_64.whl")
    assert (local.id, local.requirement) == ("wc_local", "")
    assert [(a.id, b.id) for a, b in corpus.pairs()] == [
        ("opencv_python_headless", "yaml"),
        ("opencv_python_headless", "wc_local"),
        ("yaml", "wc_local"),
    ]
    assert pair_name("yaml", "opencv_python_headless") == "opencv-python-headless--yaml"
    assert pair_name("opencv_python_headless", "yaml") == "opencv-python-headless--yaml"


def test_the_name_defaults_to_the_file_name(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[[wheel]]\nrequirement = "a==1"\n[[wheel]]\nrequirement = "b==1"\n',
        "Popular_Wheels.toml",
    )
    assert load_corpus(path).name == "popular-wheels"


def test_every_problem_of_a_bad_corpus_is_named_at_once(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        name = "Not A Name"
        timeout = -1
        victim = true

        [[wheel]]
        requirement = "numpy>=2"

        [[wheel]]
        requirement = "numpy==2.4.6"
        wheel = "numpy.whl"

        [[wheel]]
        requirement = "scipy==1.17.1"
        imports = ["scipy", "not a module"]
        exercise = "import scipy\\nscipy.linalg.inv([[1]]"
        colour = "blue"

        [[wheel]]
        wheel = "missing-1.0-py3-none-any.whl"

        [[wheel]]
        requirement = "SciPy==1.16.0"
        id = "scipy2"

        [[wheel]]
        requirement = "pandas==3.1.1"
        id = "scipy"
        imports = []

        [[wheel]]
        requirement = "lxml==6.2.0"
        id = "9lives"

        [[wheel]]
        requirement = "regex @ https://example.org/regex.whl"

        [[wheel]]
        requirement = "orjson==3.*"
        """,
    )
    found = problems(path)
    assert "lower-case letters, digits and dashes" in found["name"]
    assert "positive" in found["timeout"]
    assert "unknown key" in found["victim"] and "victims" in found["victim"]
    assert "not pinned" in found["wheel[0].requirement"]
    assert "numpy==<version>" in found["wheel[0].requirement"]
    assert "exactly one of requirement" in found["wheel[1]"]
    assert "'not a module' is not a dotted Python module name" in found["wheel[2].imports"]
    assert "is not Python" in found["wheel[2].exercise"]
    assert "unknown key" in found["wheel[2].colour"]
    assert "no such file" in found["wheel[3].wheel"]
    assert "scipy is wheel[2] too" in found["wheel[4]"]
    assert "the id of wheel[2] too" in found["wheel[5].id"]
    assert "lists no module" in found["wheel[5].imports"]
    assert "'9lives'" in found["wheel[6].id"]
    assert "name==version" in found["wheel[7].requirement"]
    assert "not pinned" in found["wheel[8].requirement"]


@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        ('name = "x"\n', "wheel", "missing"),
        ('wheel = "numpy==1"\n', "wheel", "missing"),
        ('[[wheel]]\nrequirement = "numpy==2.4.6"\n', "wheel", "holds 1 wheel(s)"),
        ('wheel = ["numpy==2.4.6", "scipy==1.17.1"]\n', "wheel[0]", "must be a table"),
        (
            "[[wheel]]\nrequirement = 2\n[[wheel]]\nrequirement = 'a==1'\n",
            "wheel[0].requirement",
            "must be a string",
        ),
        (
            "[[wheel]]\nrequirement = 'a==1'\nid = 'a'\n"
            "[[wheel]]\nrequirement = 'b==1'\nid = 'b__c'\n"
            "[[wheel]]\nrequirement = 'c==1'\nid = 'a__b'\n"
            "[[wheel]]\nrequirement = 'd==1'\nid = 'c'\n",
            "wheel",
            "would share the scenario name",
        ),
    ],
)
def test_malformed_corpora(tmp_path: Path, text: str, key: str, message: str) -> None:
    found = problems(write(tmp_path, text))
    assert message in found[key], found


def test_a_missing_or_broken_file_is_named(tmp_path: Path) -> None:
    assert "no such file" in problems(tmp_path / "absent.toml")[""]
    assert "not valid TOML" in problems(write(tmp_path, "[[wheel]\n"))[""]


def test_the_repository_corpus_loads_and_pins_forty_wheels() -> None:
    corpus = load_corpus(REPO_CORPUS)
    assert len(corpus.wheels) >= 40
    assert all("==" in w.requirement for w in corpus.wheels)
    exercised = [w for w in corpus.wheels if w.exercise]
    assert len(exercised) >= 35
