"""Which signals unwind the CLI (harness/cli/interrupts.py), raised for real in this process.

Every test checks that a handler is in place before raising a signal whose default action
would end the test process.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest

from harness.cli.interrupts import signals_unwind


@pytest.fixture(autouse=True)
def dispositions() -> Iterator[None]:
    """The test process's own dispositions, restored after each test."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


@pytest.mark.parametrize("start", [signal.SIG_DFL, signal.SIG_IGN], ids=["default", "ignored"])
def test_sigterm_always_unwinds(start: signal.Handlers) -> None:
    signal.signal(signal.SIGTERM, start)
    with pytest.raises(KeyboardInterrupt, match="SIGTERM"), signals_unwind():
        assert callable(signal.getsignal(signal.SIGTERM))
        signal.raise_signal(signal.SIGTERM)
    assert signal.getsignal(signal.SIGTERM) == start


def test_sighup_unwinds_when_at_its_default() -> None:
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    with pytest.raises(KeyboardInterrupt, match="SIGHUP"), signals_unwind():
        assert callable(signal.getsignal(signal.SIGHUP))
        signal.raise_signal(signal.SIGHUP)
    assert signal.getsignal(signal.SIGHUP) == signal.SIG_DFL


def test_sighup_started_ignored_stays_ignored() -> None:
    """As under nohup: the run goes on."""
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    with signals_unwind():
        assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
        signal.raise_signal(signal.SIGHUP)
    assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN


@pytest.mark.parametrize(
    "start", [signal.SIG_IGN, signal.default_int_handler], ids=["ignored", "python"]
)
def test_sigint_is_left_as_the_process_started(start: signal.Handlers) -> None:
    """Python raises KeyboardInterrupt for SIGINT unless it started ignored (a background job);
    the CLI keeps either."""
    signal.signal(signal.SIGINT, start)
    with signals_unwind():
        assert signal.getsignal(signal.SIGINT) == start
    assert signal.getsignal(signal.SIGINT) == start
