"""`-j N`: run units of work (a group's cells: one venv or container) on N threads at once.

Each unit runs, as with pytest-xdist's `--dist loadgroup`, wholly on one worker; the work
itself happens in the supervisor's processes (or the container), so threads suffice.
Results come back in the order they finish; the caller writes them and puts them in plan
order at the end. On an interrupt the workers finish the cell in flight, then close their
session (which kills its processes and removes its container) before this returns.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Final, TypeVar

logger = logging.getLogger(__name__)

Unit = TypeVar("Unit")
Result = TypeVar("Result")


class _Done:
    """A worker has no more units."""


DONE: Final = _Done()


def run_units(
    units: Sequence[Unit], run: Callable[[Unit], Iterator[Result]], jobs: int
) -> Iterator[Result]:
    """Every result of `run(unit)` for each unit, with up to `jobs` units running at once."""
    if jobs <= 1 or len(units) <= 1:
        for unit in units:
            yield from run(unit)
        return
    pending: queue.SimpleQueue[Unit] = queue.SimpleQueue()
    for unit in units:
        pending.put(unit)
    results: queue.SimpleQueue[Result | BaseException | _Done] = queue.SimpleQueue()
    stop = threading.Event()

    def work() -> None:
        try:
            while not stop.is_set():
                try:
                    unit = pending.get_nowait()
                except queue.Empty:
                    return
                produced = run(unit)
                try:
                    for result in produced:
                        results.put(result)
                        if stop.is_set():
                            return
                finally:
                    close = getattr(produced, "close", None)
                    if close is not None:
                        close()
        except BaseException as exc:  # handed to the main thread, which re-raises it
            stop.set()
            results.put(exc)
        finally:
            results.put(DONE)

    workers = [
        threading.Thread(target=work, name=f"wheelclash-worker-{i + 1}", daemon=True)
        for i in range(min(jobs, len(units)))
    ]
    for worker in workers:
        worker.start()
    try:
        running = len(workers)
        while running:
            item = results.get()
            if isinstance(item, _Done):
                running -= 1
            elif isinstance(item, BaseException):
                raise item
            else:
                yield item
    finally:
        stop.set()
        for worker in workers:
            worker.join()
