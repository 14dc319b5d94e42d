"""HTML report and Markdown summary rendering, from results documents with and without the
optional fields of the data contracts."""

from __future__ import annotations

import json
import re
import tempfile
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from harness.analysis.baseline import compare
from harness.cells.outcome import Outcome
from harness.common.ids import CellId
from harness.common.verdicts import FailureKind, Verdict
from harness.errors import InputError
from harness.evidence.classify import Classified
from harness.evidence.results import Attribution, CellResult, Provenance
from harness.report import culprits
from harness.report import html as html_report
from harness.report import markdown as markdown_report
from harness.report import terminal as report
from harness.report.model import load_view, run_view
from harness.run.state import CellIndex, Stream, write_results
from harness.scenario.plan import Cell, Expected

PAYLOAD = "</pre><script>document.body.dataset.pwned='1'</script><img src=x onerror=alert(1)>"


def cell_result(order: tuple[str, ...], verdict: Verdict, stderr: str = "") -> CellResult:
    cell = Cell(
        scenario="pair",
        target="debian:bookworm",
        arch="x86_64",
        dlopen="global:a",
        host="plain",
        order=order,
        repeat=1,
    )
    outcome = Outcome(cell_id=cell.id, returncode=-11, signal=11, stderr_tail=stderr)
    return CellResult.make(
        cell,
        "docker",
        outcome,
        Classified(verdict=verdict, detail="SIGSEGV during import b"),
        Expected(verdict=Verdict.PASS),
        reproducer="docker run --rm x | y & 'z'",
    )


def document(**extra: Any) -> dict[str, Any]:
    results = [
        cell_result(("a", "b"), Verdict.SEGFAULT, stderr=PAYLOAD),
        cell_result(("b", "a"), Verdict.PASS),
    ]
    with tempfile.TemporaryDirectory() as run:  # written the way a run writes it
        index = CellIndex()
        stream = Stream(Path(run), index)
        for result in results:
            stream.add(result)
        stream.close()
        provenance = Provenance(command=("wheelclash", "run"))
        path = write_results(Path(run), provenance, index, [r.id for r in results], {})
        written: dict[str, Any] = json.loads(path.read_text())
    return {**written, **extra}


CAPTURE = {
    "artefacts": {"core": "cells/0/core", "evil": "javascript:alert(1)", "up": "../../etc/passwd"},
    "native_top": ["#0 std::call_once<void (*)()> in wc_a.so", "#1 PyInit_b"],
    "python_stack": "File x.py, line 1",
    "duplicate_runtimes": ["two libstdc++: /a/libstdc++.so.6, /b/libstdc++.so.6"],
    "verdict_counts": {"pass": 1, "segfault": 1},
}
FINDINGS = {
    "findings": [
        {
            "wheel_id": "a",
            "wheel": "a.whl",
            "predictor": "exported-runtime",
            "mechanism": "1",
            "detail": "exports std::call_once <trampoline>",
        }
    ],
    "agreement": [{"mechanism": "1", "predicted": True, "observed": True, "detail": "a,b"}],
}


class Scripts(HTMLParser):
    """Counts <script> elements and collects the href of every link."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts = 0
        self.hrefs: list[str] = []
        self.handlers: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.scripts += tag == "script"
        self.hrefs += [v or "" for k, v in attrs if k == "href"]
        self.handlers += [k for k, _ in attrs if k.startswith("on")]


def parsed(text: str) -> Scripts:
    parser = Scripts()
    parser.feed(text)
    return parser


def test_html_escapes_untrusted_text_and_has_one_script_allowed_by_hash() -> None:
    text = html_report.render(run_view(document(), name="run-1"))
    found = parsed(text)
    assert found.scripts == 1 and found.handlers == []
    assert "&lt;script&gt;document.body.dataset.pwned" in text
    assert "docker run --rm x | y &amp; &#x27;z&#x27;" in text
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', text)
    assert csp and "default-src &#x27;none&#x27;" in csp.group(1)
    assert html_report._script_hash(html_report.asset("report.js")) in csp.group(1)
    assert "http://" not in text and "https://" not in text  # nothing fetched at view time


def test_html_without_optional_fields_leaves_those_parts_out() -> None:
    text = html_report.render(run_view(document(), name="run-1"))
    for absent in ("Static findings", "Against the baseline", "artefacts", "backtrace (top)"):
        assert absent not in text
    assert 'data-verdicts="segfault"' in text and 'class="f v-segfault unexpected"' in text


def test_html_shows_capture_findings_and_baseline_when_present() -> None:
    raw = document(**FINDINGS)
    raw["cells"][0]["evidence"].update(CAPTURE)
    old = {"pair/debian-bookworm-x86_64/global:a/plain/a,b": frozenset({Verdict.PASS})}
    new = {
        str(CellId.parse(c["id"]).logical): frozenset({Verdict(c["outcome"]["verdict"])})
        for c in raw["cells"]
    }
    raw["baseline"] = compare("old/results.json", old, new).to_json()
    text = html_report.render(run_view(raw, name="run-1"))
    assert "std::call_once&lt;void (*)()&gt; in wc_a.so" in text
    assert "two libstdc++: /a/libstdc++.so.6" in text
    assert "<dt>flaky</dt><dd>yes</dd>" in text
    assert "exports std::call_once &lt;trampoline&gt;" in text and "Static findings" in text
    assert 'class="badge status-regressed"' in text and 'data-baseline="regressed"' in text
    hrefs = parsed(text).hrefs
    assert "./cells/0/core" in hrefs
    assert not any("javascript" in h or ".." in h for h in hrefs)


def test_every_verdict_has_its_own_colour() -> None:
    colours = {html_report.colour(v) for v in Verdict}
    assert len(colours) == len(Verdict)


def test_markdown_summary_lists_unexpected_cells_reproducers_and_regressions() -> None:
    raw = document(**FINDINGS)
    raw["baseline"] = compare(
        "old/results.json",
        {"pair/debian-bookworm-x86_64/global:a/plain/a,b": frozenset({Verdict.PASS})},
        {"pair/debian-bookworm-x86_64/global:a/plain/a,b": frozenset({Verdict.SEGFAULT})},
    ).to_json()
    text = markdown_report.render(run_view(raw, name="run-1"))
    assert text.startswith("## ❌ wheelclash run-1: 2 cells, 1 unexpected, 1 regressed")
    assert (
        "| regressed | `pair/debian-bookworm-x86_64/global:a/plain/a,b` | pass | segfault |" in text
    )
    assert "| global:a/plain | segfault ❗ | pass |" in text
    assert "```sh\ndocker run --rm x | y & 'z'\n```" in text
    assert "exports std::call_once &lt;trampoline&gt;" in text
    assert "<script>" not in text


@pytest.mark.parametrize(
    ("value", "cell"),
    [("a|b", "a\\|b"), ("line\nbreak", "line break"), ("<b>x</b>", "&lt;b&gt;x&lt;/b&gt;")],
)
def test_markdown_table_cells_are_one_safe_line(value: str, cell: str) -> None:
    assert markdown_report.cell_text(value) == cell


def test_markdown_fence_outgrows_backticks_inside() -> None:
    assert markdown_report.fenced("a ```` b")[0] == "`````"


def test_a_cell_with_only_the_required_keys_still_renders() -> None:
    (full, _) = document()["cells"]
    optional = {"use", "index", "emulated", "reproducer"}
    minimal = {
        "cells": [
            {
                "id": full["id"],
                "cell": {k: v for k, v in full["cell"].items() if k not in optional},
                "outcome": full["outcome"],
            }
        ]
    }
    view = run_view(json.loads(json.dumps(minimal)))
    assert "pair/debian-bookworm-x86_64/global:a/plain/a,b#1" in html_report.render(view)
    assert "1 cells, 1 unexpected" in markdown_report.render(view)


def test_results_of_another_schema_version_are_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "results.json").write_text(json.dumps({**document(), "schema_version": 1}))
    with pytest.raises(InputError) as caught:
        load_view(tmp_path)
    message = str(caught.value)
    assert str(tmp_path / "results.json") in message and "schema_version 1" in message
    assert "re-run the scenarios" in message


def attributed(order: tuple[str, ...], culprits: tuple[str, ...], step: str) -> CellResult:
    result = cell_result(order, Verdict.SEGFAULT)
    kind = FailureKind.SINGLE_WHEEL if len(culprits) == 1 else FailureKind.CROSS_WHEEL
    found = Attribution(
        culprits=culprits, failure_kind=kind, step=step, notes=("c also fails alone",)
    )
    outcome = replace(result.outcome, last_step=step)
    return replace(result, outcome=outcome, attribution=found)


def test_failures_are_grouped_by_culprit_in_every_report() -> None:
    results = [
        attributed(("a", "c"), ("a",), "victim _ssl"),
        attributed(("c", "a"), ("a",), "victim _ssl"),
        attributed(("a", "b"), ("a", "b"), "import b"),
        attributed(("a",), ("a",), "victim _ssl"),
        cell_result(("b", "a"), Verdict.PASS),
    ]
    assert culprits.summary_lines(results) == [
        "single-wheel: a ×3 (segfault at victim _ssl)",
        "cross-wheel: a+b ×1 (segfault at import b)",
    ]
    # Only the pair whose culprits are both its wheels is a cross-wheel conflict.
    assert culprits.cross_wheel_pairs(results) == {("global:a", frozenset({"a", "b"}))}
    block = report.failure_block(results[2])
    assert "\n  culprits: a+b (cross-wheel)\n    c also fails alone\n" in block
    raw = {"schema_version": 3, "provenance": {}, "cells": [r.to_json() for r in results]}
    view = run_view(json.loads(json.dumps(raw)), name="run-1")
    html = html_report.render(view)
    assert "Failures by culprit" in html
    assert "<td>single-wheel</td><td><b>a</b></td><td>3</td>" in html
    assert "<dt>culprits</dt><dd>a+b (cross-wheel)</dd>" in html
    markdown = markdown_report.render(view)
    assert "| single-wheel | **a** | 3 | segfault at victim _ssl |" in markdown
    assert "| cross-wheel | **a+b** | 1 | segfault at import b |" in markdown
    # a failing cell without an attribution is listed as such; no failure, no section
    unattributed = html_report.render(run_view(document(), name="run-2"))
    assert "<td>unattributed</td><td><b>?</b></td><td>1</td>" in unattributed
    passing = {"cells": [cell_result(("b", "a"), Verdict.PASS).to_json()]}
    assert "Failures by culprit" not in html_report.render(run_view(passing))
