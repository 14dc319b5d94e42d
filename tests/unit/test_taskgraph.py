"""The step graph: what waits for what, the bound, and how the first failure stops it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from harness.run.taskgraph import Step, check_graph, run_steps


class Recorder:
    """Start and end times of each step, and the most steps seen running at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.started: dict[str, float] = {}
        self.ended: dict[str, float] = {}
        self.threads: dict[str, int] = {}
        self.now = 0
        self.most = 0

    def step(
        self, key: str, needs: tuple[str, ...] = (), seconds: float = 0.05, value: object = None
    ) -> Step:
        def work(given: Mapping[str, object]) -> object:
            with self.lock:
                self.started[key] = time.monotonic()
                self.threads[key] = threading.get_ident()
                self.now += 1
                self.most = max(self.most, self.now)
            time.sleep(seconds)
            with self.lock:
                self.now -= 1
                self.ended[key] = time.monotonic()
            return value if value is not None else (key, dict(given))

        return Step(key=key, label=f"step {key}", needs=needs, work=work)


def test_a_step_starts_after_what_it_needs_and_gets_its_results() -> None:
    rec = Recorder()
    steps = [
        rec.step("image", seconds=0.2, value="image-id"),
        rec.step("other image", seconds=0.2, value="other-id"),
        rec.step("wheel", needs=("image",), seconds=0.05),
    ]
    results = run_steps(steps, jobs=3)
    assert rec.started["wheel"] >= rec.ended["image"]
    assert results["wheel"] == ("wheel", {"image": "image-id"})
    # The independent images ran at the same time; the wheel did not wait for the other one.
    assert rec.started["other image"] < rec.ended["image"]
    assert results.keys() == {"image", "other image", "wheel"}


def test_a_wheel_waits_only_for_its_own_builder_image() -> None:
    rec = Recorder()
    steps = [
        rec.step("fast image", seconds=0.05),
        rec.step("slow image", seconds=0.5),
        rec.step("wheel of fast", needs=("fast image",), seconds=0.05),
    ]
    run_steps(steps, jobs=2)
    assert rec.ended["wheel of fast"] < rec.ended["slow image"]


@pytest.mark.parametrize("jobs", [2, 3])
def test_no_more_than_jobs_steps_run_at_once(jobs: int) -> None:
    rec = Recorder()
    run_steps([rec.step(f"s{i}") for i in range(7)], jobs=jobs)
    assert rec.most == jobs


def test_one_job_runs_the_steps_in_order_in_this_thread() -> None:
    rec = Recorder()
    keys = ["b", "a", "c", "d"]
    run_steps([rec.step(k, seconds=0.0) for k in keys], jobs=1)
    assert rec.most == 1
    assert sorted(keys, key=rec.started.__getitem__) == keys
    assert set(rec.threads.values()) == {threading.get_ident()}


def read_missing(path: Path) -> Callable[[Mapping[str, object]], object]:
    def work(_: Mapping[str, object]) -> object:
        return path.read_text()  # a real failure: FileNotFoundError

    return work


@pytest.mark.parametrize("jobs", [1, 2])
def test_the_first_failure_is_raised_naming_its_step(jobs: int, tmp_path: Path) -> None:
    rec = Recorder()
    steps = [
        Step(key="image", label="builder image wc/builder:x", work=read_missing(tmp_path / "no")),
        rec.step("wheel", needs=("image",)),
        rec.step("later", seconds=0.0),
    ]
    with pytest.raises(FileNotFoundError) as caught:
        run_steps(steps, jobs=jobs)
    assert "while preparing builder image wc/builder:x" in caught.value.__notes__
    assert "wheel" not in rec.started  # what needs the failed step never starts


def test_a_failure_lets_running_steps_finish_and_starts_no_more(tmp_path: Path) -> None:
    rec = Recorder()

    def fail_soon(_: Mapping[str, object]) -> object:
        time.sleep(0.05)
        return (tmp_path / "missing").read_bytes()

    steps = [
        rec.step("long", seconds=0.4),
        Step(key="bad", label="wheel 'a'", work=fail_soon),
        rec.step("queued 1"),
        rec.step("queued 2"),
    ]
    with pytest.raises(FileNotFoundError) as caught:
        run_steps(steps, jobs=2)
    assert caught.value.__notes__ == ["while preparing wheel 'a'"]
    assert "long" in rec.ended  # finished cleanly, not abandoned half-way
    assert "queued 1" not in rec.started and "queued 2" not in rec.started


def test_only_the_first_of_two_failures_is_raised(tmp_path: Path) -> None:
    def fail_after(seconds: float, name: str) -> Callable[[Mapping[str, object]], object]:
        def work(_: Mapping[str, object]) -> object:
            time.sleep(seconds)
            return (tmp_path / name).read_text()

        return work

    steps = [
        Step(key="late", label="late", work=fail_after(0.3, "late")),
        Step(key="early", label="early", work=fail_after(0.0, "early")),
    ]
    with pytest.raises(FileNotFoundError) as caught:
        run_steps(steps, jobs=2)
    assert caught.value.filename == str(tmp_path / "early")


def test_a_graph_must_list_what_a_step_needs_before_it() -> None:
    rec = Recorder()
    with pytest.raises(ValueError, match="not listed before it"):
        check_graph([rec.step("wheel", needs=("image",)), rec.step("image")])
    with pytest.raises(ValueError, match="two steps have the key"):
        check_graph([rec.step("x"), rec.step("x")])
    with pytest.raises(ValueError, match="jobs must be 1 or more"):
        run_steps([rec.step("x")], jobs=0)
