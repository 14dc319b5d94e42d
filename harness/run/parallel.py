"""`-j N`: how a run's work is split over N jobs, and the threads that run it.

The work comes in groups: the cells of one environment (a venv, or a container per target,
arch and wheel set). `split` says, once for the run, in how many supervisor batches each
group's cells run: one per group while there are at least as many groups as jobs, so the
groups run side by side, each in its own environment; with fewer groups than jobs, the jobs
left over go to the groups, whose batches then run at once in the group's one environment
(`dealt` deals a group's cells to its batches). This module is the one place that decides
that split.

`run_units` runs units of work on up to N threads, each unit wholly on one thread; the work
itself happens in the supervisors' processes (or the containers), so threads suffice. The
runner uses it twice: for the groups, and within a group for its batches. Results come back
in the order they finish; the caller writes them and puts them in plan order at the end.
When the caller leaves early (an interrupt, a failure), every unit is told to stop (its
`stopped` turns true): a session then abandons the cell in flight, stops its batch and
closes (which kills its processes and removes its container) before `run_units` returns.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Generator, Iterator, Sequence
from fractions import Fraction
from typing import Final, TypeVar

from harness.common.stopping import Stopped, never

logger = logging.getLogger(__name__)

Unit = TypeVar("Unit")
Item = TypeVar("Item")
Result = TypeVar("Result")


class _Done:
    """A worker has no more units."""


DONE: Final = _Done()


def split(sizes: Sequence[int], jobs: int) -> tuple[int, ...]:
    """In how many batches to run each group (given by its number of cells) with `jobs` jobs.

    One each while there are at least as many groups as jobs. Otherwise each job left over
    goes to the group with the most cells per batch (ties: the earlier group), and a group
    never gets more batches than it has cells: then the batches add up to at most `jobs`.
    """
    parts = [1] * len(sizes)
    for _ in range(jobs - len(sizes)):
        growable = [i for i, size in enumerate(sizes) if parts[i] < size]
        if not growable:
            break
        fullest = max(growable, key=lambda i: (Fraction(sizes[i], parts[i]), -i))
        parts[fullest] += 1
    return tuple(parts)


def dealt(items: Sequence[Item], parts: int) -> tuple[tuple[Item, ...], ...]:
    """`items` dealt round-robin into `parts` batches, each in the items' order. Neighbours
    in the plan (the repeats of one order, an order's two dlopen modes) go to different
    batches, so batches of alike cells end at about the same time."""
    count = max(1, min(parts, len(items)))
    return tuple(tuple(items[i::count]) for i in range(count)) if items else ()


def run_units(
    units: Sequence[Unit],
    run: Callable[[Unit, Stopped], Iterator[Result]],
    jobs: int,
    stopped: Stopped = never,
) -> Generator[Result, None, None]:
    """Every result of `run(unit, stopped)` for each unit, with up to `jobs` units running at
    once. A unit's `stopped` turns true when the caller has left (or `stopped` given here,
    an enclosing run's, is true); the unit should then end soon."""
    if jobs <= 1 or len(units) <= 1:
        for unit in units:
            yield from run(unit, stopped)
        return
    pending: queue.SimpleQueue[Unit] = queue.SimpleQueue()
    for unit in units:
        pending.put(unit)
    results: queue.SimpleQueue[Result | BaseException | _Done] = queue.SimpleQueue()
    stop = threading.Event()

    def halted() -> bool:
        return stop.is_set() or stopped()

    def work() -> None:
        try:
            while not halted():
                try:
                    unit = pending.get_nowait()
                except queue.Empty:
                    return
                produced = run(unit, halted)
                try:
                    for result in produced:
                        results.put(result)
                        if halted():
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
