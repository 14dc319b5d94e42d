"""The version is written once, as harness.__version__; the package metadata reads it."""

from __future__ import annotations

import importlib.metadata
import tomllib
from pathlib import Path

import harness

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def test_pyproject_takes_the_version_from_the_package() -> None:
    document = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))
    assert "version" not in document["project"]
    assert "version" in document["project"]["dynamic"]
    dynamic = document["tool"]["setuptools"]["dynamic"]["version"]
    assert dynamic == {"attr": "harness.__version__"}


def test_the_installed_metadata_has_the_packages_version() -> None:
    assert importlib.metadata.version("wheelclash") == harness.__version__
    assert harness.__version__.count(".") == 2
