"""Steps that wait for other steps, run a bounded number at a time in a thread pool.

A step starts once every step it needs has finished, and is handed their results. Ready
steps start in the order they were given, so a caller lists the steps on the longest path
first. With one job the steps run one after the other in this thread, in the given order.

The first step to fail stops the graph: no further step starts, the running ones are left
to finish (a step is a process or an engine call that writes its result atomically, so
there is nothing to undo), and that failure is raised with a note naming the step.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class Step:
    """One piece of work: `work` gets the results of the steps named in `needs`."""

    key: str  # unique within the graph; what other steps name in `needs`
    label: str  # how the log and errors name it, e.g. "image wheelclash/target:debian-…"
    needs: tuple[str, ...] = ()
    work: Callable[[Mapping[str, object]], object]


def check_graph(steps: Sequence[Step]) -> None:
    """Keys are unique and every step needs only steps listed before it (so no cycles)."""
    seen: set[str] = set()
    for step in steps:
        if step.key in seen:
            raise ValueError(f"two steps have the key {step.key!r}")
        missing = [need for need in step.needs if need not in seen]
        if missing:
            raise ValueError(f"step {step.key!r} needs {missing}, which are not listed before it")
        seen.add(step.key)


def run_steps(steps: Sequence[Step], jobs: int) -> dict[str, object]:
    """Every step's result by key; at most `jobs` steps run at once."""
    check_graph(steps)
    if jobs < 1:
        raise ValueError(f"jobs must be 1 or more, not {jobs}")
    if jobs == 1:
        results: dict[str, object] = {}
        for step in steps:
            results[step.key] = _run_one(step, {need: results[need] for need in step.needs})
        return results
    return _run_pooled(steps, jobs)


def _run_one(step: Step, given: Mapping[str, object]) -> object:
    started = time.monotonic()
    try:
        result = step.work(given)
    except Exception as exc:
        exc.add_note(f"while preparing {step.label}")
        raise
    logger.info("prepared %s in %.1f s", step.label, time.monotonic() - started)
    return result


def _run_pooled(steps: Sequence[Step], jobs: int) -> dict[str, object]:
    results: dict[str, object] = {}
    waiting = list(steps)
    running: dict[Future[object], Step] = {}
    failure: Exception | None = None
    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="wheelclash-prepare") as pool:
        try:
            while waiting or running:
                if failure is None:
                    for step in [s for s in waiting if all(n in results for n in s.needs)]:
                        if len(running) >= jobs:
                            break
                        waiting.remove(step)
                        given = {need: results[need] for need in step.needs}
                        running[pool.submit(_run_one, step, given)] = step
                if not running:
                    break  # stopped by a failure: what waits never starts
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    step = running.pop(future)
                    error = future.exception()
                    if error is None:
                        results[step.key] = future.result()
                    elif failure is None and isinstance(error, Exception):
                        failure = error
                        if running:
                            logger.warning(
                                "preparing %s failed; letting %d running step(s) finish",
                                step.label,
                                len(running),
                            )
                    elif isinstance(error, Exception):
                        logger.warning("also failed: %s", str(error).splitlines()[0])
                    else:
                        raise error
        except BaseException:
            if running:
                logger.warning("stopping: waiting for %d running step(s) to end", len(running))
            raise
    if failure is not None:
        raise failure
    return results
