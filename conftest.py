"""Repository-wide test setup: markers that need a Docker engine, and the CI rule for them.

Tests marked `docker` run whenever an engine answers. When it does not, they are skipped on
a developer's machine but fail when `CI` is set (as `.ci/run` does), so CI can never skip
them silently.
"""

from __future__ import annotations

import functools
import os

import pytest

pytest_plugins = ["pytester"]


@functools.cache
def docker_engine_problem() -> str | None:
    """Why no Docker engine answers, or None when one does."""
    try:
        import docker

        client = docker.from_env(timeout=10)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:  # any failure to reach the engine means: no engine
        return f"no Docker engine answers ({type(exc).__name__}: {exc})"
    return None


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("docker") is None:
        return
    problem = docker_engine_problem()
    if problem is None:
        return
    if in_ci():
        pytest.fail(f"{problem}; CI requires the Docker tests to run", pytrace=False)
    pytest.skip(problem)
