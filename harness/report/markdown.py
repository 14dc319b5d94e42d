"""The Markdown summary of one run, for a CI step summary ($GITHUB_STEP_SUMMARY).

Short on purpose (GitHub caps a step summary at 1 MiB): the counts, the baseline
comparison, the unexpected cells with their reproducers, one matrix per scenario and
target, static findings and the provenance that identifies the run.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from harness.report.culprits import culprit_groups, culprit_text
from harness.report.html import REPORT_NAME
from harness.report.model import CellView, RunView
from harness.report.terminal import SEVERITY

SUMMARY_NAME: Final = "summary.md"
MAX_LISTED: Final = 40
MAX_REPRODUCERS: Final = 5


def cell_text(value: object) -> str:
    """A value made safe for one Markdown table cell: one line, no HTML, no column breaks."""
    text = " ".join(str(value).split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("|", "\\|")


def table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(cell_text(h) for h in header) + " |"]
    lines.append("|" + "---|" * len(header))
    lines += ["| " + " | ".join(cell_text(v) for v in row) + " |" for row in rows]
    return lines


def fenced(text: str, info: str = "") -> list[str]:
    """A fenced code block whose fence is longer than any backtick run inside."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence + info, text, fence]


def _matrix(cells: Sequence[CellView]) -> list[str]:
    orders = list(dict.fromkeys(c.order for c in cells))
    modes = list(dict.fromkeys(c.mode for c in cells))
    grid: dict[tuple[str, str], list[CellView]] = defaultdict(list)
    for cell in cells:
        grid[(cell.mode, cell.order)].append(cell)
    rows = []
    for mode in modes:
        row: list[object] = [mode]
        for order in orders:
            group = grid.get((mode, order), [])
            if not group:
                row.append("-")
                continue
            seen = {c.outcome.verdict for c in group}
            kinds = sorted(str(v) for v in seen)
            text = str(next(v for v in SEVERITY if v in seen))
            text = text if len(kinds) == 1 else "flaky(" + "/".join(kinds) + ")"
            unexpected = any(not c.outcome.matches_expectation for c in group)
            row.append(text + (" ❗" if unexpected else ""))
        rows.append(row)
    return table(["mode \\ order", *orders], rows)


def _baseline(baseline: Mapping[str, Any]) -> list[str]:
    if not baseline:
        return []
    counts = baseline.get("counts") or {}
    parts = ", ".join(f"{n} {k}" for k, n in counts.items() if n)
    lines = [
        "",
        "### Against the baseline",
        "",
        f"`{cell_text(baseline.get('path', ''))}`: {parts}",
    ]
    changed = [
        c
        for c in baseline.get("cells") or []
        if isinstance(c, Mapping) and c.get("status") != "unchanged"
    ]
    if changed:
        rows = [
            (
                c.get("status", ""),
                f"`{c.get('cell', '')}`",
                "/".join(c.get("before") or []) or "-",
                "/".join(c.get("after") or []) or "-",
            )
            for c in changed[:MAX_LISTED]
        ]
        lines += ["", *table(["status", "cell", "before", "after"], rows)]
        if len(changed) > MAX_LISTED:
            lines.append(f"\n… and {len(changed) - MAX_LISTED} more in results.json")
    return lines


def _unexpected(view: RunView) -> list[str]:
    cells = view.unexpected
    if not cells:
        return []
    rows = [
        (
            f"`{c.id}`",
            c.verdict_text,
            c.cell.expected,
            culprit_text(c.result) or "-",
            c.outcome.detail or c.outcome.last_step,
        )
        for c in cells[:MAX_LISTED]
    ]
    lines = [
        "",
        "### Unexpected verdicts",
        "",
        *table(["cell", "verdict", "expected", "culprits", "detail"], rows),
    ]
    if len(cells) > MAX_LISTED:
        lines.append(f"\n… and {len(cells) - MAX_LISTED} more in the HTML report")
    reproducible = [c for c in cells if c.cell.reproducer][:MAX_REPRODUCERS]
    if reproducible:
        lines += ["", "<details><summary>Reproduce without wheelclash</summary>", ""]
        for cell in reproducible:
            lines += [f"`{cell_text(cell.id)}`", "", *fenced(cell.cell.reproducer, "sh"), ""]
        lines.append("</details>")
    return lines


def _culprits(view: RunView) -> list[str]:
    groups = culprit_groups(c.result for c in view.cells)
    if not groups:
        return []
    rows = [
        (g.kind, f"**{g.label}**", len(g.cells), g.how_text(), f"`{g.cells[0].id}`")
        for g in groups[:MAX_LISTED]
    ]
    lines = [
        "",
        "### Failures by culprit",
        "",
        *table(["kind", "culprits", "cells", "how", "first cell"], rows),
    ]
    if len(groups) > MAX_LISTED:
        lines.append(f"\n… and {len(groups) - MAX_LISTED} more in the HTML report")
    return lines


def _findings(view: RunView) -> list[str]:
    if not view.findings:
        return []
    rows = [(f.wheel, f.predictor, f.mechanism, f.detail) for f in view.findings[:MAX_LISTED]]
    return [
        "",
        "### Static findings",
        "",
        *table(["wheel", "predictor", "mechanism", "detail"], rows),
    ]


def _provenance(provenance: Mapping[str, Any]) -> list[str]:
    lines = [
        "",
        "### Provenance",
        "",
        f"wheelclash {cell_text(provenance.get('harness_version', ''))}",
    ]
    targets = provenance.get("targets") or []
    if targets:
        keys = ["target", "arch", "python", "glibc", "libstdcxx"]
        target_rows = [
            [
                *(t.get(k, "") or "-" for k in keys),
                t.get("image_digest") or t.get("image_id") or "-",
            ]
            for t in targets
        ]
        lines += ["", *table([*keys, "image"], target_rows)]
    wheels = provenance.get("wheels") or []
    if wheels:
        rows = [
            (
                str(w.get("path", "")).rsplit("/", 1)[-1],
                str(w.get("sha256", ""))[:16],
                w.get("compiler", ""),
                w.get("link", ""),
            )
            for w in wheels
        ]
        lines += ["", *table(["wheel", "sha256 (first 16)", "compiler", "link"], rows)]
    return lines


def render(view: RunView) -> str:
    """The summary as Markdown text."""
    counts = ", ".join(f"{n} {v}" for v, n in view.counts().items())
    unexpected = len(view.unexpected)
    regressed = int((view.baseline.get("counts") or {}).get("regressed", 0)) if view.baseline else 0
    head = "❌" if regressed or (unexpected and not view.baseline) else "✅"
    lines = [
        f"## {head} wheelclash {cell_text(view.name)}: {len(view.cells)} cells, "
        f"{unexpected} unexpected" + (f", {regressed} regressed" if view.baseline else ""),
        "",
        counts,
    ]
    lines += _baseline(view.baseline)
    lines += _unexpected(view)
    lines += _culprits(view)
    tables: dict[str, list[CellView]] = defaultdict(list)
    for cell in view.cells:
        tables[cell.table].append(cell)
    lines += ["", "### Matrix", "", "❗ = the verdict differs from the scenario's expectation"]
    for title, cells in tables.items():
        lines += ["", f"**{cell_text(title)}**", "", *_matrix(cells)]
    lines += _findings(view)
    lines += _provenance(view.provenance)
    lines += ["", f"The full evidence of every cell is in `{REPORT_NAME}` beside results.json."]
    return "\n".join(lines) + "\n"
