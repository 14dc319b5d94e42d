"""pytest plugin: each scenario file is a collector, each cell an item.

`pytest scenarios/` collects every scenario file into one item per cell. The first item of
a group (one scenario on one target and arch) runs the whole group as one supervisor batch;
the others read their result. Under pytest-xdist, items of a group carry an `xdist_group`
mark and `-n N` defaults to `--dist loadgroup`, so a group runs on one worker only.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import pytest

from harness.build.toolchains import load_catalogue
from harness.build.wheels import BuiltWheel
from harness.cells.backends import Backend
from harness.cells.capture_request import CaptureSettings
from harness.errors import HarnessError
from harness.evidence import flakes
from harness.evidence.results import CellResult, new_run_id
from harness.report import culprits
from harness.report import terminal as report
from harness.report.culprits import culprit_text
from harness.run import attribute
from harness.run.runner import Backends, cells_for, run_group, wheels_for
from harness.scenario.load import Scenario, load_scenario
from harness.scenario.plan import Cell, expected_for

USER_PROPERTY: Final = "wheelclash_result"

backends_key: Final = pytest.StashKey[Backends]()
wheels_key: Final = pytest.StashKey[dict[str, tuple[BuiltWheel, ...]]]()
groups_key: Final = pytest.StashKey[dict[str, dict[str, CellResult]]]()
capture_key: Final = pytest.StashKey[CaptureSettings | None]()
budget_key: Final = pytest.StashKey[attribute.Budget]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("wheelclash")
    group.addoption(
        "--wheelclash-backend",
        default="auto",
        help="where scenario cells run: auto (docker when an engine answers and a scenario "
        "names container targets, else local), local or docker",
    )
    group.addoption(
        "--wheelclash-target",
        default=None,
        help="comma-separated targets replacing the scenarios' own (docker backend)",
    )
    group.addoption(
        "--wheelclash-results",
        default="results",
        help="where failing cells leave their crash evidence: <dir>/<run-id>/<cell>/ "
        "(default: results)",
    )
    group.addoption(
        "--wheelclash-no-capture",
        action="store_true",
        help="keep no crash evidence (core, backtrace, library map) for failing cells",
    )
    group.addoption(
        "--wheelclash-attribution-budget",
        type=int,
        default=attribute.DEFAULT_BUDGET,
        help="at most this many extra runs in the session (each worker's) to find failing "
        "cells' culprits: wheels alone, subsets of larger cells "
        f"(default {attribute.DEFAULT_BUDGET})",
    )
    group.addoption(
        "--wheelclash-debug-bindings",
        action="store_true",
        help="re-run failing cells with LD_DEBUG=bindings and report runtime symbols bound "
        "to an extension module",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """With -n and no explicit --dist, keep each group's cells on one worker."""
    option = config.option
    if getattr(option, "numprocesses", None) and getattr(option, "dist", None) == "no":
        option.dist = "loadgroup"


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """loadgroup that reads a cell's group from its id (harness/run/xdist_groups.py)."""
    from harness.run.xdist_groups import make_scheduler

    return make_scheduler(config, log)


def pytest_configure(config: pytest.Config) -> None:
    config.stash[wheels_key] = {}
    config.stash[groups_key] = {}
    limit = config.getoption("wheelclash_attribution_budget")
    config.stash[budget_key] = attribute.Budget(limit=max(0, limit))
    config.pluginmanager.register(MatrixReporter(), "wheelclash-matrix")


def _capture(config: pytest.Config) -> CaptureSettings | None:
    """This session's (or xdist worker's) capture settings, with a run folder of its own."""
    if capture_key not in config.stash:
        settings = None
        if not config.getoption("wheelclash_no_capture"):
            root = Path(config.getoption("wheelclash_results"))
            settings = CaptureSettings(
                run_dir=(config.invocation_params.dir / root / new_run_id()).resolve(),
                debug_bindings=config.getoption("wheelclash_debug_bindings"),
            )
        config.stash[capture_key] = settings
    return config.stash[capture_key]


def _backend(config: pytest.Config, scenario: Scenario) -> Backend:
    """The scenario's backend; `auto` is resolved per scenario, as on the command line."""
    if backends_key not in config.stash:
        name = config.getoption("wheelclash_backend")
        config.stash[backends_key] = Backends(name, _targets(config))
    return config.stash[backends_key].for_scenario(scenario)


def pytest_report_header(config: pytest.Config) -> list[str]:
    catalogue = load_catalogue()
    ready = [t.name for t in catalogue.toolchains.values() if t.suite is None and t.available()]
    return [
        f"wheelclash: backend {config.getoption('wheelclash_backend')}, "
        f"toolchains on this machine: {', '.join(ready) or 'none'}"
    ]


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> ScenarioFile | None:
    if file_path.suffix != ".toml" or file_path.name == "pyproject.toml":
        return None
    explicit = any(Path(arg).resolve() == file_path.resolve() for arg in parent.config.args)
    if file_path.parent.name == "scenarios" or explicit:
        collector: ScenarioFile = ScenarioFile.from_parent(parent, path=file_path)
        return collector
    return None


class ScenarioFile(pytest.File):
    def collect(self) -> Iterator[CellItem]:
        try:
            scenario = load_scenario(self.path, load_catalogue())
            cells = cells_for(scenario, _backend(self.config, scenario), _targets(self.config))
        except HarnessError as exc:
            raise self.CollectError(str(exc)) from exc
        for cell in cells:
            item: CellItem = CellItem.from_parent(self, name=cell.id, scenario=scenario, cell=cell)
            item.add_marker(pytest.mark.xdist_group(name=cell.group))
            yield item


def _targets(config: pytest.Config) -> tuple[str, ...] | None:
    raw = config.getoption("wheelclash_target")
    return tuple(t for t in raw.split(",") if t) if raw else None


class CellMismatch(Exception):
    def __init__(self, result: CellResult) -> None:
        super().__init__(result.id)
        self.result = result


class CellItem(pytest.Item):
    def __init__(self, *, scenario: Scenario, cell: Cell, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario
        self.cell = cell
        self.result: CellResult | None = None

    def runtest(self) -> None:
        self.result = self._group_results()[self.cell.id]
        self.user_properties.append((USER_PROPERTY, json.dumps(self.result.to_json())))
        stderr = self.result.outcome.stderr_tail
        if stderr.strip():
            self.add_report_section("call", "probe stderr", stderr)
        found = self.result.attribution
        if found is not None:
            self.user_properties.append(("culprits", "+".join(found.culprits)))
            self.user_properties.append(("failure_kind", str(found.failure_kind)))
            lines = [f"culprits: {culprit_text(self.result)}", f"step: {found.step}"]
            self.add_report_section("call", "attribution", "\n".join([*lines, *found.notes]))
        evidence = report.evidence_lines(self.result)
        if evidence:
            self.add_report_section("call", "crash evidence", "\n".join(evidence))
        if not self.result.outcome.matches_expectation:
            raise CellMismatch(self.result)

    def _group_results(self) -> dict[str, CellResult]:
        config = self.config
        groups = config.stash[groups_key]
        if self.cell.group not in groups:
            backend = _backend(config, self.scenario)
            wheels = config.stash[wheels_key]
            if self.cell.group not in wheels:
                wheels[self.cell.group] = wheels_for(self.scenario, self.cell, backend)
            siblings = [
                item.cell
                for item in self.session.items
                if isinstance(item, CellItem) and item.cell.group == self.cell.group
            ]
            results = list(
                run_group(
                    self.scenario,
                    siblings,
                    backend,
                    wheels[self.cell.group],
                    capture=_capture(config),
                )
            )
            # Attribution, as a run's finish step does it, over this group's cells.
            place = attribute.Place(
                scenario=self.scenario,
                backend=backend,
                wheels=wheels[self.cell.group],
                cell=self.cell,
            )
            amended, _ = attribute.attribute_cells(
                results, {self.cell.group: place}, config.stash[budget_key]
            )
            by_id = {r.id: r for r in results} | {r.id: r for r in amended}
            groups[self.cell.group] = {r.id: r for r in flakes.annotate(list(by_id.values()))}
        return groups[self.cell.group]

    def repr_failure(
        self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None
    ) -> str | Any:
        if isinstance(excinfo.value, CellMismatch):
            result = excinfo.value.result
            # The first line is what JUnit shows as the failure's message.
            verdict, cell = result.outcome.verdict, result.cell
            lines = [f"{verdict}, expected {cell.expected}: {result.id}"]
            lines.append(report.failure_block(result))
            if cell.reproducer:
                lines.append(f"  reproduce without wheelclash:\n    {cell.reproducer}")
            return "\n".join(lines)
        if isinstance(excinfo.value, HarnessError):
            return f"wheelclash: {excinfo.value}"
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        expected = expected_for(self.scenario.expectations, self.cell)
        return self.path, None, f"{self.cell.id} (expect {expected})"


class MatrixReporter:
    """Collects every cell's result (from xdist workers too) and prints the matrix at the end."""

    def __init__(self) -> None:
        self.results: list[CellResult] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call":
            return
        for name, value in report.user_properties:
            if name == USER_PROPERTY and isinstance(value, str):
                self.results.append(CellResult.from_json(json.loads(value)))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.results:
            terminalreporter.section("wheelclash matrix")
            terminalreporter.write_line(report.matrix(self.results))
            for line in culprits.summary_lines(self.results):
                terminalreporter.write_line(f"failures by culprit: {line}")
            terminalreporter.write_line(report.summary_line(self.results))
