"""Pools at run time: each pool's environment (harness/run/pools.py) is opened once, when a
set it serves first runs, and stays open for the others until the run's cells are done; a
set's cells run there hiding what their set would not install.

A pool that pip will not install, or that fails to open, is remembered: its sets then open
environments of their own, as without pools, so one bad pool costs one install, not one per
set, and never a verdict. A pool whose container dies under a set's cells (those cells are
infra-errors, as they would be in a container of their own) is opened afresh for the next
set: what killed it does not end the others' cells.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, replace
from types import TracebackType

from harness.build.builders import Builder
from harness.build.wheels import BuiltWheel
from harness.cells.backends import Backend, Session, TargetFacts
from harness.cells.jobs import CellJob
from harness.cells.outcome import Outcome
from harness.common.stopping import Stopped, never
from harness.errors import InfrastructureError
from harness.run.pools import Pool, Seat

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class SeatedSession:
    """A pool's session as one set sees it: its cells hide the rest of the pool."""

    session: Session
    seat: Seat
    pools: Pools

    @property
    def facts(self) -> TargetFacts:
        return self.session.facts

    @property
    def not_installable(self) -> str:
        return ""

    def run(self, jobs: Sequence[CellJob], stopped: Stopped = never) -> Iterator[Outcome]:
        seat = self.seat
        hiding = [
            replace(job, hidden_modules=seat.hidden_modules, hidden_dists=seat.hidden_dists)
            for job in jobs
        ]
        return self._watched(hiding, stopped)

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
                self.pools.check(self.seat.pool, self.session)


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

    def refused(self) -> dict[str, str]:
        """The pools whose sets ran on their own, and why."""
        with self._lock:
            return dict(self._refused)

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
        session = self._session(backend, seat.pool)
        if session is None:
            target, arch = place
            with backend.open(target, arch, wheels, batches) as own:
                yield own
            return
        yield SeatedSession(session=session, seat=seat, pools=self)


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
