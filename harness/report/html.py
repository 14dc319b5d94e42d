"""The self-contained HTML report of one run: matrix, filters, each cell's evidence, provenance.

One file, nothing fetched at view time: the CSS and the filter script (resources/report.css,
report.js) are inlined, and a Content-Security-Policy allows only that script (by its hash),
inline styles and no network. Every value from the results is escaped; stderr is untrusted.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any, Final, assert_never

from harness import paths
from harness.analysis.baseline import ORDER as STATUS_ORDER
from harness.common.verdicts import Verdict
from harness.report.culprits import culprit_groups, culprit_text
from harness.report.model import CellView, RunView
from harness.report.terminal import most_severe

REPORT_NAME: Final = "report.html"
MAX_LIBRARIES: Final = 200


def colour(verdict: Verdict) -> str:
    """One background colour per verdict."""
    match verdict:
        case Verdict.PASS:
            return "#bfe5bf"
        case Verdict.SEGFAULT:
            return "#f28b82"
        case Verdict.ABORT:
            return "#f6ae6b"
        case Verdict.BUS_ERROR:
            return "#e79bd0"
        case Verdict.ILLEGAL_INSTRUCTION:
            return "#c7a4f0"
        case Verdict.FPE:
            return "#a7b6f2"
        case Verdict.OTHER_SIGNAL:
            return "#d6a5a5"
        case Verdict.HANG:
            return "#8fc9f0"
        case Verdict.IMPORT_ERROR:
            return "#f7e37a"
        case Verdict.EXIT_CRASH:
            return "#f5b8c4"
        case Verdict.WRONG_RESULT:
            return "#ffd59e"
        case Verdict.NOT_INSTALLABLE:
            return "#d9d9d9"
        case Verdict.INFRA_ERROR:
            return "#9e9e9e"
        case _:
            assert_never(verdict)


@functools.cache
def asset(name: str) -> str:
    """A file of harness/resources (the CSS and scripts pages inline), read once."""
    return (paths.RESOURCES / name).read_text(encoding="utf-8")


def _script_hash(script: str) -> str:
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return "sha256-" + base64.b64encode(digest).decode("ascii")


def content_security_policy(script: str) -> str:
    """No network, inline styles, and only `script` (by its hash) may run."""
    return (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; "
        f"script-src '{_script_hash(script)}'; base-uri 'none'; form-action 'none'"
    )


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def verdict_css() -> str:
    """One rule per verdict: `.v-<verdict>` gets the verdict's colour."""
    return "\n".join(
        f".v-{v.value} {{ background: {colour(v)}; }}\n"
        f"details.cell.v-{v.value} {{ border-left-color: {colour(v)}; background: none; }}"
        for v in Verdict
    )


def _combined(cells: Sequence[CellView]) -> Verdict:
    return most_severe(c.outcome.verdict for c in cells)


def _data(cells: Sequence[CellView]) -> str:
    """The filter attributes of a matrix cell or a details block."""
    first = cells[0]
    verdicts = " ".join(sorted({str(c.outcome.verdict) for c in cells}))
    unexpected = "1" if any(not c.outcome.matches_expectation for c in cells) else "0"
    return (
        f'data-verdicts="{_e(verdicts)}" data-scenario="{_e(first.cell.scenario)}" '
        f'data-target="{_e(first.cell.target)}" data-unexpected="{unexpected}" '
        f'data-baseline="{_e(first.baseline)}"'
    )


def _select(name: str, label: str, values: Iterable[str]) -> str:
    options = "".join(f'<option value="{_e(v)}">{_e(v)}</option>' for v in values)
    return (
        f'<label>{_e(label)} <select name="{name}"><option value="">all</option>'
        f"{options}</select></label>"
    )


def _filters(view: RunView) -> str:
    verdicts = [str(v) for v in Verdict if any(c.outcome.verdict == v for c in view.cells)]
    parts = [
        _select("verdict", "verdict", verdicts),
        _select("scenario", "scenario", dict.fromkeys(c.cell.scenario for c in view.cells)),
        _select("target", "target", dict.fromkeys(c.cell.target for c in view.cells)),
    ]
    if view.baseline:
        present = {c.baseline for c in view.cells}
        parts.append(
            _select("baseline", "baseline", [str(s) for s in STATUS_ORDER if s in present])
        )
    parts.append('<label><input type="checkbox" name="unexpected"> unexpected only</label>')
    parts.append('<span id="shown"></span>')
    return f'<form id="filters">{"".join(parts)}</form>'


def _matrices(view: RunView, anchors: Mapping[str, str]) -> str:
    tables: dict[str, list[CellView]] = defaultdict(list)
    for cell in view.cells:
        tables[cell.table].append(cell)
    blocks = []
    for title, cells in tables.items():
        orders = list(dict.fromkeys(c.order for c in cells))
        modes = list(dict.fromkeys(c.mode for c in cells))
        grid: dict[tuple[str, str], list[CellView]] = defaultdict(list)
        for cell in cells:
            grid[(cell.mode, cell.order)].append(cell)
        head = "".join(f"<th>{_e(o)}</th>" for o in orders)
        rows = []
        for mode in modes:
            tds = []
            for order in orders:
                group = grid.get((mode, order))
                if not group:
                    tds.append("<td>-</td>")
                    continue
                verdict = _combined(group)
                kinds = sorted({str(c.outcome.verdict) for c in group})
                text = str(verdict) if len(kinds) == 1 else "flaky(" + "/".join(kinds) + ")"
                unexpected = any(not c.outcome.matches_expectation for c in group)
                marks = " !" if unexpected else ""
                status = group[0].baseline
                badge = (
                    f' <span class="badge status-{_e(status)}">{_e(status)}</span>'
                    if (status and status != "unchanged")
                    else ""
                )
                hover = f"expected {group[0].cell.expected}; {len(group)} run(s)"
                tds.append(
                    f'<td class="f v-{verdict.value}{" unexpected" if unexpected else ""}" '
                    f'{_data(group)} title="{_e(hover)}"><a href="#{anchors[group[0].id]}">'
                    f"{_e(text)}{marks}</a>{badge}</td>"
                )
            rows.append(f"<tr><th>{_e(mode)}</th>{''.join(tds)}</tr>")
        blocks.append(
            f'<section class="table"><h3>{_e(title)}</h3><table class="matrix">'
            f"<tr><th>mode \\ order</th>{head}</tr>{''.join(rows)}</table></section>"
        )
    return "".join(blocks)


def _pre(label: str, text: str) -> str:
    return f"<h4>{_e(label)}</h4><pre>{_e(text)}</pre>" if text.strip() else ""


def _artefact_link(name: str, where: str) -> str:
    # Only paths inside the run folder become links; anything with a scheme stays text.
    if ":" in where or where.startswith(("/", "\\")) or ".." in where.split("/"):
        return f"<li>{_e(name)}: <code>{_e(where)}</code></li>"
    return f'<li><a href="./{_e(where)}">{_e(name)}</a> <code>{_e(where)}</code></li>'


def _shown(value: object) -> str:
    """A fact's text; a missing one (None) is empty, so the fact is left out."""
    return "" if value is None else str(value)


def _cell_details(view: CellView, anchor: str, image: str) -> str:
    cell, outcome, evidence = view.cell, view.outcome, view.evidence
    attribution = view.result.attribution
    facts = [
        ("verdict", view.verdict_text),
        ("expected", cell.expected),
        ("order", view.order),
        ("mode", view.mode),
        ("target", f"{cell.target} ({cell.arch}) via {cell.backend}"),
        ("image", image),
        ("repeat", str(cell.repeat)),
        ("detail", outcome.detail),
        ("signal", _shown(outcome.signal)),
        ("return code", _shown(outcome.returncode)),
        ("last step", outcome.last_step),
        ("culprits", culprit_text(view.result)),
        ("attribution", "; ".join(attribution.notes) if attribution else ""),
        ("baseline", view.baseline),
        ("flaky", "yes" if evidence.flaky else ""),
    ]
    dl = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in facts if v)
    parts = [f"<dl>{dl}</dl>"]
    if cell.reproducer:
        parts.append(_pre("reproduce without wheelclash", cell.reproducer))
    if evidence.duplicate_runtimes:
        items = "".join(f"<li>{_e(d)}</li>" for d in evidence.duplicate_runtimes)
        parts.append(f"<h4>duplicate runtimes</h4><ul>{items}</ul>")
    parts.append(_pre("backtrace (top)", "\n".join(evidence.native_top)))
    parts.append(_pre("Python stack", evidence.python_stack))
    parts.append(_pre("stderr (tail)", outcome.stderr_tail))
    parts.append(_pre("stdout (tail)", outcome.stdout_tail))
    parts.append(_pre("stack dump before the kill", outcome.hang_stack))
    if evidence.libraries:
        shown = evidence.libraries[:MAX_LIBRARIES]
        more = len(evidence.libraries) - len(shown)
        parts.append(
            _pre(
                f"loaded libraries ({len(evidence.libraries)})",
                "\n".join(shown) + (f"\n… {more} more" if more > 0 else ""),
            )
        )
    if evidence.artefacts:
        links = "".join(_artefact_link(n, w) for n, w in sorted(evidence.artefacts.items()))
        parts.append(f"<h4>artefacts</h4><ul>{links}</ul>")
    matches = outcome.matches_expectation
    mark = "" if matches else " !"
    return (
        f'<details class="cell f v-{outcome.verdict.value}" id="{anchor}" {_data([view])}'
        f"{'' if matches else ' open'}>"
        f"<summary><code>{_e(view.id)}</code> — <b>{_e(view.verdict_text)}{mark}</b> "
        f'<span class="muted">expected {_e(cell.expected)}</span></summary>'
        f"{''.join(parts)}</details>"
    )


def _table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_e(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f'<div class="wide"><table><tr>{head}</tr>{body}</table></div>'


def _facts(rows: Iterable[tuple[str, object]]) -> str:
    """A two-column table of named facts, names as row headers."""
    body = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _baseline(view: RunView) -> str:
    if not view.baseline:
        return ""
    counts = view.baseline.get("counts") or {}
    badges = " ".join(
        f'<span class="badge status-{_e(k)}">{_e(n)} {_e(k)}</span>' for k, n in counts.items() if n
    )
    changed = [
        (
            c.get("status", ""),
            c.get("cell", ""),
            "/".join(c.get("before") or []) or "-",
            "/".join(c.get("after") or []) or "-",
        )
        for c in view.baseline.get("cells") or []
        if isinstance(c, Mapping) and c.get("status") != "unchanged"
    ]
    table = _table(["status", "cell", "before", "after"], changed) if changed else ""
    return (
        f'<h2 id="baseline">Against the baseline</h2><p>{_e(view.baseline.get("path", ""))}</p>'
        f"<p>{badges}</p>{table}"
    )


def _culprits(view: RunView, anchors: Mapping[str, str]) -> str:
    """The failing cells grouped by culprit set (harness/report/culprits.py)."""
    groups = culprit_groups(c.result for c in view.cells)
    if not groups:
        return ""
    rows = []
    for group in groups:
        first = group.cells[0]
        rows.append(
            f"<tr><td>{_e(group.kind)}</td><td><b>{_e(group.label)}</b></td>"
            f"<td>{len(group.cells)}</td><td>{_e(group.how_text())}</td>"
            f'<td><a href="#{anchors[first.id]}"><code>{_e(first.id)}</code></a></td></tr>'
        )
    head = "".join(f"<th>{_e(h)}</th>" for h in ("kind", "culprits", "cells", "how", "first cell"))
    return (
        '<h2 id="culprits">Failures by culprit</h2><p class="muted">single-wheel: the culprit '
        "fails the same way alone (the same verdict at the same step), so every set it is in "
        "fails; cross-wheel: the smallest set of wheels found failing together</p>"
        f'<div class="wide"><table><tr>{head}</tr>{"".join(rows)}</table></div>'
    )


def _findings(view: RunView) -> str:
    if not view.findings and not view.agreement:
        return ""
    parts = ['<h2 id="findings">Static findings</h2>']
    if view.findings:
        parts.append(
            _table(
                ["wheel", "predictor", "mechanism", "detail"],
                ((f.wheel, f.predictor, f.mechanism, f.detail) for f in view.findings),
            )
        )
    if view.agreement:
        parts.append("<h3>Prediction against the runtime verdicts</h3>")
        parts.append(
            _table(
                ["mechanism", "predicted", "observed", "detail"],
                (
                    (
                        a.get("mechanism", ""),
                        a.get("predicted", ""),
                        a.get("observed", ""),
                        a.get("detail", ""),
                    )
                    for a in view.agreement
                ),
            )
        )
    return "".join(parts)


def _provenance(provenance: Mapping[str, Any]) -> str:
    parts = ['<h2 id="provenance">Provenance</h2>']
    command = " ".join(str(c) for c in provenance.get("command") or [])
    facts = [
        ("harness version", provenance.get("harness_version", "")),
        ("started", provenance.get("started", "")),
        ("command", command),
    ]
    parts.append(_facts((k, v) for k, v in facts if v))
    backends = provenance.get("backends") or {}
    if backends:
        parts.append("<h3>Backends</h3>")
        parts.append(
            _table(
                ["backend", "facts"],
                ((n, ", ".join(f"{k} {v}" for k, v in f.items())) for n, f in backends.items()),
            )
        )
    targets = provenance.get("targets") or []
    if targets:
        parts.append("<h3>Targets and images</h3>")
        keys = ["target", "arch", "python", "glibc", "libstdcxx", "image_id", "image_digest"]
        parts.append(_table(keys, ([t.get(k, "") for k in keys] for t in targets)))
    compilers = provenance.get("compilers") or {}
    if compilers:
        parts.append("<h3>Compilers</h3>")
        parts.append(_table(["toolchain @ builder", "version"], compilers.items()))
    wheels = provenance.get("wheels") or []
    if wheels:
        parts.append("<h3>Wheels</h3>")
        keys = ["wheel_id", "toolchain", "link", "sha256", "compiler", "builder", "audit"]
        rows = [
            [w.get("path", "").rsplit("/", 1)[-1]] + [w.get(k, "") for k in keys] for w in wheels
        ]
        parts.append(_table(["file", *keys], rows))
    return "".join(parts)


def render(view: RunView) -> str:
    """The whole report as one HTML document."""
    script = asset("report.js")
    csp = content_security_policy(script)
    anchors = {c.id: f"cell-{n}" for n, c in enumerate(view.cells)}
    counts = view.counts()
    legend = "".join(f'<span class="v-{_e(v)}">{_e(v)} {n}</span>' for v, n in counts.items())
    unexpected = len(view.unexpected)
    harness = view.provenance.get("harness_version", "")
    cells = "".join(_cell_details(c, anchors[c.id], view.image_for(c)) for c in view.cells)
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_e(csp)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>wheelclash report {_e(view.name)}</title>"
        f"<style>{asset('report.css')}\n{verdict_css()}</style></head>"
        f'<body data-unexpected="{unexpected}">'
        f'<h1>wheelclash report <span class="muted">{_e(view.name)}</span></h1>'
        f'<p class="summary" id="summary">{len(view.cells)} cells, {unexpected} unexpected; '
        f"wheelclash {_e(harness)}, started {_e(view.provenance.get('started', ''))}</p>"
        f'<p class="legend">{legend}</p>'
        f"{_filters(view)}"
        f"{_baseline(view)}"
        f'<h2 id="matrix">Matrix</h2><p class="muted">modes down, import orders across; '
        f"! = the verdict differs from the scenario's expectation; click a cell for its "
        f"evidence</p>{_matrices(view, anchors)}"
        f"{_culprits(view, anchors)}"
        f"{_findings(view)}"
        f'<h2 id="cells">Cells</h2>{cells}'
        f"{_provenance(view.provenance)}"
        f"<script>{script}</script></body></html>\n"
    )
