"""An atlas edition's page, atlas.html: per target and dlopen mode a wheel × wheel matrix
(harness/report/atlas_matrix.py), each square's details one click away, and the failures
grouped by culprit set.

One self-contained file like the run report (harness/report/html.py): its CSS and script
(resources/report.css, atlas.css, atlas.js) are inlined under the same Content-Security-
Policy, and every value read from the results is escaped. Cores and backtraces are not in an
edition: a square names its cells, where their files sit in the run folder, and how to
re-make them (the cell's reproducer, or `wheelclash repro`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any, Final

from harness.common.verdicts import FAILURES, Verdict
from harness.evidence.results import RESULTS_NAME, CellResult
from harness.report.atlas_edition import Group, groups, mechanisms
from harness.report.atlas_matrix import Matrix, Square, failing_squares, matrices, screened_pairs
from harness.report.html import asset, content_security_policy, verdict_css

Place = tuple[str, str, str, str, str]  # target, arch, mode, first wheel, second wheel


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _anchors(found: Sequence[Matrix]) -> dict[Place, str]:
    """Each square that ran → its details' id (made of indices: no wheel text in ids)."""
    return {
        (m.target, m.arch, m.mode, s.first, s.second): (
            f"sq-{number}-{m.wheels.index(s.first)}-{m.wheels.index(s.second)}"
        )
        for number, m in enumerate(found)
        for s in m.squares.values()
    }


_SCREENED_NOTE: Final = (
    " s: the pair passed screening (atlas --screen) in a group of wheels imported together and "
    "ran no pair cell."
)


def _label(square: Square) -> str:
    """The square's own text: failing runs of all, `ok`, `pip` (not installable)."""
    worst = square.worst
    if worst is None:
        return "–"
    if worst in FAILURES:
        return f"{sum(v in FAILURES for v in square.verdicts)}/{square.total}"
    return {Verdict.PASS: "ok", Verdict.NOT_INSTALLABLE: "pip"}.get(worst, "infra")


def _who(square: Square) -> str:
    return f"{square.first} alone" if square.diagonal else f"{square.first} then {square.second}"


def _tally(square: Square) -> str:
    return ", ".join(f"{text} {n}/{square.total}" for text, n in square.tally())


def _matrix(
    matrix: Matrix, anchors: Mapping[Place, str], screened: frozenset[frozenset[str]]
) -> str:
    head = "".join(f'<th class="col"><span>{_e(w)}</span></th>' for w in matrix.wheels)
    rows = []
    for first in matrix.wheels:
        tds = []
        for second in matrix.wheels:
            square = matrix.square(first, second)
            diagonal = " diag" if square.diagonal else ""
            worst = square.worst
            if worst is None and frozenset((first, second)) in screened:
                tip = f"{_who(square)}: passed screening in a group; no pair cell ran"
                tds.append(f'<td class="sq screened" title="{_e(tip)}">s</td>')
                continue
            if worst is None:
                why = "not run alone" if square.diagonal else "did not run in this mode"
                tip = f"{_who(square)}: {why}"
                tds.append(f'<td class="sq none{diagonal}" title="{_e(tip)}">–</td>')
                continue
            anchor = anchors[(matrix.target, matrix.arch, matrix.mode, first, second)]
            tip = f"{_who(square)}, {matrix.mode}: {_tally(square)}"
            tds.append(
                f'<td class="sq v-{worst.value}{diagonal}" data-verdict="{worst.value}" '
                f'data-first="{_e(first)}" data-second="{_e(second)}" title="{_e(tip)}">'
                f'<a href="#{anchor}" data-square="{anchor}">{_e(_label(square))}</a></td>'
            )
        rows.append(f'<tr><th class="row">{_e(first)}</th>{"".join(tds)}</tr>')
    return (
        f'<section class="atlas-matrix" data-target="{_e(matrix.target)}" '
        f'data-mode="{_e(matrix.mode)}"><h3>{_e(matrix.target)} ({_e(matrix.arch)}), '
        f"<code>{_e(matrix.mode)}</code></h3>"
        f'<table class="atlas"><tr><th class="corner">first ↓ second →</th>{head}</tr>'
        f"{''.join(rows)}</table></section>"
    )


def _pre(label: str, text: str, css: str = "") -> str:
    if not text.strip():
        return ""
    attribute = f' class="{css}"' if css else ""
    return f"<h4>{_e(label)}</h4><pre{attribute}>{_e(text)}</pre>"


def _facts(rows: Sequence[tuple[str, str]]) -> str:
    return "<dl>" + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in rows if v) + "</dl>"


def _culprits(shown: CellResult | None) -> tuple[str, str]:
    """(failure kind, culprits) of the shown run; the pair, marked, when not attributed."""
    if shown is None or shown.outcome.verdict not in FAILURES:
        return "", ""
    found = shown.attribution
    if found is not None:
        return str(found.failure_kind), " + ".join(found.culprits)
    return "not attributed", " + ".join(sorted(shown.cell.order)) + " (the cell's wheels)"


def _flakes(square: Square) -> str:
    if square.total < 2:
        return ""
    if square.flake_rate == 0:
        return f"0 (all {square.total} runs alike)"
    return f"{square.flake_rate:.0%} ({_tally(square)})"


def _runs(square: Square, run_dir: Path | None) -> str:
    """Each run's cell id and verdict, and where its cores and backtraces are kept."""
    where = _e(run_dir) if run_dir else "the run folder"
    items = []
    for result in square.runs:
        files = "".join(
            f"<li>{_e(name)}: <code>{_e(path)}</code></li>"
            for name, path in sorted(result.evidence.artefacts.items())
        )
        items.append(
            f"<li><code>{_e(result.id)}</code>: {_e(result.outcome.verdict)}"
            f"{f'<ul>{files}</ul>' if files else ''}</li>"
        )
    items += [
        f"<li><code>{_e(t.cell)}</code> (an attribution run): {_e(t.verdict_text)}"
        f"{f' at {_e(t.step)}' if t.step else ''}</li>"
        for t in square.trials
    ]
    return (
        f"<h4>runs</h4><ul>{''.join(items)}</ul>"
        f'<p class="muted">Cores and backtraces are not in the edition: they are in '
        f"<code>{where}</code> where the atlas ran, under the paths named above. wheelclash "
        "makes them when it runs a failing cell, so running the atlas again makes them again; "
        "the reproducer re-runs one cell by hand, for gdb or a core of your own "
        f"(<code>wheelclash repro CELL --results {_e(RESULTS_NAME)}</code> in this edition's "
        "folder prints and runs it).</p>"
    )


def _details(
    matrix: Matrix, square: Square, anchor: str, why: Mapping[str, list[str]], run_dir: Path | None
) -> str:
    shown = square.shown()
    kind, culprits = _culprits(shown)
    explained = sorted({label for r in square.runs for label in why.get(r.id, ())})
    outcome = shown.outcome if shown else None
    facts = [
        ("verdicts", _tally(square)),
        ("flake rate", _flakes(square)),
        ("failure kind", kind),
        ("culprits", culprits),
        ("mechanism", "; ".join(explained)),
        ("signal", "" if outcome is None or outcome.signal is None else str(outcome.signal)),
        ("step", outcome.last_step if outcome else ""),
        ("detail", outcome.detail if outcome else ""),
        ("evidence of", shown.id if shown and shown.outcome.verdict in FAILURES else ""),
    ]
    parts = [
        f"<h3>{_e(_who(square))}</h3>",
        f'<p class="muted">{_e(matrix.target)} ({_e(matrix.arch)}), {_e(matrix.mode)}</p>',
        _facts(facts),
    ]
    # A passing square's runs are left to `wheelclash repro`: with every pair's long command
    # inlined, a 40-wheel corpus's page would weigh megabytes.
    if shown is not None and shown.outcome.verdict != Verdict.PASS:
        cell, evidence = shown.cell, shown.evidence
        parts += [
            _pre("reproducer (one shell command, without wheelclash)", cell.reproducer, "repro"),
            _pre("frames (crashing thread, innermost first)", "\n".join(evidence.native_top)),
            _pre("Python stack", evidence.python_stack),
            _pre("stderr (tail)", shown.outcome.stderr_tail),
        ]
    parts.append(_runs(square, run_dir))
    return (
        f'<section class="square-details" id="{anchor}" data-verdict="'
        f'{square.worst.value if square.worst else ""}" hidden>{"".join(parts)}</section>'
    )


def _groups(found: Sequence[Group], anchors: Mapping[Place, str]) -> str:
    if not found:
        return '<h2 id="culprits">Failures by culprit set</h2><p>No pair failed.</p>'
    rows = []
    for number, group in enumerate(found, 1):
        first = group.first_failure()
        cell = first.cell
        anchor = anchors.get((cell.target, cell.arch, cell.dlopen, cell.order[0], cell.order[-1]))
        who = " + ".join(group.culprits) + ("" if group.attributed else " (pair)")
        link = (
            f'<a href="#{anchor}" data-square="{anchor}"><code>{_e(first.id)}</code></a>'
            if anchor
            else f"<code>{_e(first.id)}</code>"
        )
        rows.append(
            f"<tr><td>{number}</td><td><b>{_e(who)}</b></td><td>{_e(group.mode)}</td>"
            f"<td>{_e(group.counts())}</td><td>{_e(group.steps())}</td><td>{link}</td></tr>"
        )
    head = "".join(
        f"<th>{h}</th>" for h in ("#", "culprits", "mode", "failed (runs)", "crashed at", "cell")
    )
    return (
        '<h2 id="culprits">Failures by culprit set</h2><p class="muted">as in summary.md; '
        "(pair): the results carry no attribution for the group, so its culprits are the "
        "cell's two wheels</p>"
        f'<div class="wide"><table id="groups"><tr>{head}</tr>{"".join(rows)}</table></div>'
    )


def render_atlas(
    document: Mapping[str, Any],
    results: Sequence[CellResult],
    *,
    title: str,
    edition: str = "",
    description: str = "",
    run_dir: Path | None = None,
) -> str:
    """The edition's atlas.html as one HTML document."""
    script = asset("atlas.js")
    csp = content_security_policy(script)
    found = matrices(document, results)
    anchors = _anchors(found)
    screened = screened_pairs(document)
    why = mechanisms(document)
    provenance = document.get("provenance", {})
    counts = Counter(str(r.outcome.verdict) for r in results)
    legend = "".join(
        f'<span class="v-{_e(v)}">{_e(v)} {counts[v]}</span>' for v in Verdict if counts[v]
    )
    details = "".join(
        _details(m, s, anchors[(m.target, m.arch, m.mode, s.first, s.second)], why, run_dir)
        for m in found
        for s in m.squares.values()
    )
    squares = sum(len(m.squares) for m in found)
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_e(csp)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title>"
        f"<style>{asset('report.css')}\n{verdict_css()}\n{asset('atlas.css')}</style></head><body>"
        f'<h1>{_e(title)} <span class="muted">{_e(edition)}</span></h1>'
        f"{f'<p>{_e(description)}</p>' if description else ''}"
        f'<p class="summary" id="summary">{len({r.cell.scenario for r in results})} pairs, '
        f"{len(results)} cells; {failing_squares(found)} of {squares} squares fail; wheelclash "
        f"{_e(provenance.get('harness_version', '?'))}, started "
        f"{_e(provenance.get('started', '?'))}</p>"
        f'<p class="legend">{legend}</p>'
        '<h2 id="matrices">Matrices</h2><p class="muted">One per target and dlopen mode. Rows: '
        "the wheel imported first; columns: the wheel imported second; each square is coloured "
        "by the worst verdict of that ordered pair's runs (failing runs / runs, ok, pip: not "
        "installable together). The diagonal is the wheel alone. Click a square for its "
        "details."
        f"{_SCREENED_NOTE if screened else ''}</p>"
        '<div class="atlas-layout"><div class="matrices">'
        f"{''.join(_matrix(m, anchors, screened) for m in found)}</div>"
        '<aside id="details"><p id="details-empty" class="muted">Click a square for its '
        f"verdicts, culprits, evidence and reproducer.</p>{details}</aside></div>"
        f"{_groups(groups(document, results), anchors)}"
        f"<script>{script}</script></body></html>\n"
    )
