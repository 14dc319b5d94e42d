"""Unit tests are pure: starting a process or talking to Docker here is a bug in the test."""

from __future__ import annotations

import subprocess
from typing import Any, NoReturn

import pytest


def _forbidden(*args: Any, **kwargs: Any) -> NoReturn:
    raise AssertionError(f"unit tests must not start processes or reach Docker: {args[:1]}")


@pytest.fixture(autouse=True)
def no_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(subprocess, "Popen", _forbidden)
    monkeypatch.setattr(subprocess, "run", _forbidden)
    try:
        import docker
    except ImportError:
        return
    monkeypatch.setattr(docker, "from_env", _forbidden)
    monkeypatch.setattr(docker, "DockerClient", _forbidden)
