"""What happened to one probe process, as reported by the supervisor."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, assert_never


class ProbeEvent(StrEnum):
    """The events of a cell's report, spelled as resources/probe.py (and, for a line that is
    not JSON, resources/supervisor.py) writes them."""

    START = "start"
    STEP = "step"
    SENTINEL = "sentinel"
    IMPORT_ERROR = "import-error"
    WRONG_RESULT = "wrong-result"
    LIBRARIES = "libraries"
    VICTIM_MISSING = "victim-missing"
    LOADED = "loaded"
    GARBLED = "garbled"


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """Raw facts about one cell's process: no judgement yet (that is `verdict.classify`)."""

    cell_id: str
    returncode: int | None = None
    signal: int | None = None
    timed_out: bool = False
    duration_s: float = 0.0
    stdout_tail: str = ""
    stderr_tail: str = ""
    started: bool = False
    last_step: str = ""
    sentinel_seen: bool = False
    import_error: str | None = None
    import_error_type: str = ""  # the exception's class name, e.g. ModuleNotFoundError
    # Top-level module names the cell's installed wheels provide (from its job).
    provided: frozenset[str] = frozenset()
    wrong_result: str | None = None
    loaded_libraries: tuple[str, ...] = ()
    hang_stack: str = ""
    infra_error: str = ""
    not_installable: str = ""
    python_traceback: str = ""
    artefacts: tuple[tuple[str, str], ...] = ()  # (name, file in the cell's capture folder)
    capture_notes: tuple[str, ...] = ()
    # (step, victim modules): the import steps that loaded victims' modules, in order, each
    # with those it loaded first (resources/probe.py's "loaded")
    victims_loaded: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @classmethod
    def from_report(
        cls, report: Mapping[str, Any], provided: frozenset[str] = frozenset()
    ) -> Outcome:
        """Build from one JSON line of the supervisor (resources/supervisor.py); `provided`
        are the top-level names the cell's wheels install (its job's)."""
        events: list[Mapping[str, Any]] = list(report.get("events", []))
        last_step = ""
        sentinel = False
        started = False
        import_error: str | None = None
        import_error_type = ""
        wrong_result: str | None = None
        libraries: tuple[str, ...] = ()
        traceback = ""
        loaded: list[tuple[str, tuple[str, ...]]] = []
        for event in events:
            try:
                kind = ProbeEvent(str(event.get("event")))
            except ValueError:
                continue  # not one the probe writes (code under test can write there too)
            match kind:
                case ProbeEvent.START:
                    started = True
                case ProbeEvent.STEP:
                    last_step = str(event.get("what", ""))
                case ProbeEvent.SENTINEL:
                    sentinel = True
                case ProbeEvent.IMPORT_ERROR:
                    import_error = (
                        f"{event.get('module')}: {event.get('type')}: {event.get('message')}"
                    )
                    import_error_type = str(event.get("type", ""))
                    traceback = str(event.get("traceback", ""))
                case ProbeEvent.WRONG_RESULT:
                    wrong_result = f"{event.get('where')}: {event.get('message')}"
                    traceback = str(event.get("traceback", ""))
                case ProbeEvent.LIBRARIES:
                    libraries = tuple(str(p) for p in event.get("paths", []))
                case ProbeEvent.LOADED:
                    names = event.get("modules", [])
                    if isinstance(names, list):
                        loaded.append((str(event.get("step", "")), tuple(map(str, names))))
                case ProbeEvent.VICTIM_MISSING | ProbeEvent.GARBLED:
                    pass  # a victim not installed, a line that was not JSON: nothing to judge
                case _:
                    assert_never(kind)
        return cls(
            cell_id=str(report["id"]),
            returncode=report.get("returncode"),
            signal=report.get("signal"),
            timed_out=bool(report.get("timed_out", False)),
            duration_s=float(report.get("duration_s", 0.0)),
            stdout_tail=str(report.get("stdout_tail", "")),
            stderr_tail=str(report.get("stderr_tail", "")),
            started=started,
            last_step=last_step,
            sentinel_seen=sentinel,
            import_error=import_error,
            import_error_type=import_error_type,
            provided=provided,
            wrong_result=wrong_result,
            loaded_libraries=libraries,
            hang_stack=str(report.get("hang_stack", "")),
            infra_error=str(report.get("infra_error", "")),
            python_traceback=traceback,
            victims_loaded=tuple(loaded),
            **_capture_fields(report.get("capture")),
        )

    @classmethod
    def infra(cls, cell_id: str, reason: str) -> Outcome:
        return cls(cell_id=cell_id, infra_error=reason)


def _capture_fields(capture: Any) -> dict[str, Any]:
    """The supervisor's "capture" entry (resources/crash_capture.py), when there is one."""
    if not isinstance(capture, Mapping):
        return {}
    artefacts = capture.get("artefacts", {})
    notes = capture.get("notes", [])
    return {
        "artefacts": tuple(sorted((str(k), str(v)) for k, v in artefacts.items()))
        if isinstance(artefacts, Mapping)
        else (),
        "capture_notes": tuple(str(n) for n in notes) if isinstance(notes, list) else (),
    }
