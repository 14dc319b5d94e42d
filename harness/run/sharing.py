"""Pools at run time: each pool's environment (harness/run/pools.py) is opened once, when a
set it serves first runs, and stays open for the others until the run's cells are done; a
set's cells run there hiding what their set would not install.

A pool that pip will not install, or that fails to open, is remembered: its sets then open
environments of their own, as without pools, so one bad pool costs one install, not one per
set, and never a verdict. A pool whose container dies under a batch's cells (those cells are
infra-errors) is opened afresh for the next set: what killed it does not end the others'
cells. Next sets of one pool run their cells together, in one batch per job (`chunks`): one
supervisor batch for several sets instead of one each; towards the end of a run with several
jobs, a set's cells may be split over the last, small batches.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, replace
from types import TracebackType
from typing import Final

from harness.build.builders import Builder
from harness.build.wheels import BuiltWheel
from harness.cells.backends import Backend, Session, TargetFacts
from harness.cells.jobs import CellJob
from harness.cells.outcome import Outcome
from harness.common.ids import CellId
from harness.common.stopping import Stopped, never
from harness.errors import InfrastructureError
from harness.run.pools import Pool, Seat
from harness.scenario.plan import Cell

logger = logging.getLogger(__name__)

# The most cells of several sets run together in one batch (a batch's cells stream back as
# they end, so this bounds only how long one exec lives and how jobs balance).
MAX_CHUNK_CELLS: Final = 60


@dataclass(frozen=True, kw_only=True)
class PoolSession:
    """A pool's session as the sets it serves see it: each cell hides the rest of the pool
    from its own set (its seat, found by the cell's group), so the cells of several sets can
    run in one batch."""

    session: Session
    pool: Pool
    pools: Pools

    @property
    def facts(self) -> TargetFacts:
        return self.session.facts

    @property
    def not_installable(self) -> str:
        return ""

    def run(self, jobs: Sequence[CellJob], stopped: Stopped = never) -> Iterator[Outcome]:
        return self._watched([self._hiding(job) for job in jobs], stopped)

    def _hiding(self, job: CellJob) -> CellJob:
        seat = self.pools.seats[CellId.parse(job.cell_id).group]
        if seat.pool != self.pool:
            raise ValueError(f"cell {job.cell_id} has no seat in {self.pool.name}")
        return replace(job, hidden_modules=seat.hidden_modules, hidden_dists=seat.hidden_dists)

    def _watched(self, jobs: Sequence[CellJob], stopped: Stopped) -> Iterator[Outcome]:
        failed = False
        try:
            for outcome in self.session.run(jobs, stopped):
                failed = failed or bool(outcome.infra_error)
                yield outcome
        except InfrastructureError:
            failed = True
            raise
        finally:
            if failed and not stopped():
                self.pools.check(self.pool, self.session)


class Pools:
    """The run's open pools; closing it closes them (removes their containers)."""

    def __init__(self, seats: Mapping[str, Seat], batches: int) -> None:
        self.seats = dict(seats)
        self.batches = batches  # each pool runs up to -j batches at once
        self._stack = ExitStack()
        self._lock = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._open: dict[str, Session] = {}
        self._refused: dict[str, str] = {}  # pool name -> why its sets run on their own

    def __enter__(self) -> Pools:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            self._open.clear()
            self._stack.close()

    def backend(self, key: str, backend: Backend) -> Backend:
        """The backend for set `key`'s cells: `backend` itself when no pool serves it."""
        seat = self.seats.get(key)
        if seat is None:
            return backend
        return SeatedBackend(inner=backend, pools=self, seat=seat)

    def _pool_lock(self, pool: Pool) -> threading.Lock:
        with self._lock:
            return self._locks.setdefault(pool.name, threading.Lock())

    def _session(self, backend: Backend, pool: Pool) -> Session | None:
        """The pool's open session, opened now if it is not; None when it is refused."""
        with self._pool_lock(pool):
            if pool.name in self._refused:
                return None
            if pool.name not in self._open:
                refusal = ""
                try:
                    # Opened outside the run-wide lock (an install takes minutes); only an
                    # installed pool's closing is handed to the run's stack.
                    with ExitStack() as own:
                        opening = backend.open(pool.target, pool.arch, pool.wheels, self.batches)
                        session = own.enter_context(opening)
                        refusal = session.not_installable
                        if not refusal:
                            with self._lock:
                                self._stack.push(own.pop_all())
                except InfrastructureError as exc:
                    refusal = f"it could not be opened: {exc}"
                if refusal:
                    self._refuse(pool, refusal)
                    return None
                self._open[pool.name] = session
            return self._open[pool.name]

    def check(self, pool: Pool, session: Session) -> None:
        """After infra-errors in a pool: forget its session when its container is gone, so
        the next set opens the pool again (the dead one is removed when the run ends)."""
        alive = getattr(session, "alive", None)
        if alive is None or alive():
            return
        with self._pool_lock(pool):
            if self._open.get(pool.name) is session:
                logger.warning("%s: its container is gone; the next set opens it again", pool.name)
                del self._open[pool.name]

    def _refuse(self, pool: Pool, why: str) -> None:
        logger.warning("%s: its %d sets run on their own: %s", pool.name, len(pool.members), why)
        with self._lock:
            self._refused[pool.name] = why

    @contextmanager
    def seated(
        self,
        backend: Backend,
        seat: Seat,
        place: tuple[str, str],
        wheels: Sequence[BuiltWheel],
        batches: int,
    ) -> Iterator[Session]:
        session = self.shared(backend, seat.pool)
        if session is None:
            target, arch = place
            with backend.open(target, arch, wheels, batches) as own:
                yield own
            return
        yield session

    def shared(self, backend: Backend, pool: Pool) -> PoolSession | None:
        """The pool's session for its sets' cells, opened now if it is not; None when its
        sets run on their own (it was refused)."""
        session = self._session(backend, pool)
        return None if session is None else PoolSession(session=session, pool=pool, pools=self)


class SeatedBackend:
    """A backend whose `open` gives a set its seat in a pool."""

    def __init__(self, *, inner: Backend, pools: Pools, seat: Seat) -> None:
        self.inner = inner
        self.pools = pools
        self.seat = seat
        self.name = inner.name

    def unavailable_reason(self) -> str | None:
        return self.inner.unavailable_reason()

    def describe(self) -> Mapping[str, str]:
        return self.inner.describe()

    def builder(self, target: str, arch: str) -> Builder:
        return self.inner.builder(target, arch)

    def open(
        self, target: str, arch: str, wheels: Sequence[BuiltWheel], batches: int = 1
    ) -> AbstractContextManager[Session]:
        return self.pools.seated(self.inner, self.seat, (target, arch), wheels, batches)


def chunks(
    units: Sequence[Sequence[Cell]], seats: Mapping[str, Seat], jobs: int
) -> list[tuple[Sequence[Cell], ...]]:
    """The units (each a wheel set's cells), next ones that share a pool put together, so
    their cells run in one batch (one supervisor batch for several sets): up to a third of
    each job's share of the cells, and at most MAX_CHUNK_CELLS. With several jobs, a chunk
    holds at most half of each job's share of the cells still left when it opens (at least
    one cell), and a pool's set is split between chunks where that limit falls: the last
    chunks are a cell or two, so the jobs end within about a cell of each other (each job
    takes the next chunk when it is free: run_units). Units without a seat stay alone and
    whole, and every cell keeps its place in the order."""
    total = sum(len(unit) for unit in units)
    share = max(1, jobs)
    most = max(1, min(MAX_CHUNK_CELLS, total // (3 * share)))
    out: list[tuple[Sequence[Cell], ...]] = []
    room = 0  # cells the open chunk may still take
    left = total  # cells not in a closed chunk
    splits = share > 1  # alone, a job waits for no other: its sets stay whole

    def opened() -> int:
        nonlocal left
        if out:
            left -= sum(len(u) for u in out[-1])
        return max(1, min(most, -(-left // (2 * share)))) if splits else most

    for unit in units:
        seat = seats.get(unit[0].group) if unit else None
        if seat is None:
            opened()
            out.append((unit,))
            room = 0
            continue
        rest: Sequence[Cell] = unit
        while rest:
            fits = room > 0 if splits else len(rest) <= room
            if out and fits and _pool_of(out[-1], seats) == seat.pool.name:
                taken, rest = rest[:room], rest[room:]
                out[-1] = (*out[-1], taken)
                room -= len(taken)
                continue
            room = opened()
            cut = room if splits else len(rest)
            taken, rest = rest[:cut], rest[cut:]
            out.append((taken,))
            room -= len(taken)
    return out


def _pool_of(chunk: tuple[Sequence[Cell], ...], seats: Mapping[str, Seat]) -> str:
    seat = seats.get(chunk[0][0].group)
    return seat.pool.name if seat is not None else ""
