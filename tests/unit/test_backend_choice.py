"""A run's backends, made once and asked for from several threads at once (`atlas --screen
-j N` opens groups in threads)."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

import pytest

from harness.cells.backends.local import LocalBackend
from harness.run import runner
from harness.run.runner import Backends


class SlowToAnswer(LocalBackend):
    """The local backend, whose engine-like check takes a moment, as a Docker ping does."""

    made = 0
    lock = threading.Lock()

    def __init__(self) -> None:
        with SlowToAnswer.lock:
            SlowToAnswer.made += 1

    def unavailable_reason(self) -> str | None:
        time.sleep(0.05)
        return None


def test_threads_asking_at_once_get_one_backend_and_its_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def make(engines: Mapping[str, str]) -> SlowToAnswer:
        return SlowToAnswer()

    monkeypatch.setattr(runner, "BACKENDS", {"local": make})
    SlowToAnswer.made = 0
    backends = Backends("local")
    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(lambda _: backends._get("local"), range(8)))
    assert SlowToAnswer.made == 1
    assert all(backend is got[0][0] and reason is None for backend, reason in got)
