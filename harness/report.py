"""Human-readable renderings of results: the compact terminal matrix and failure blocks."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from harness.results import CellResult


def _verdict_text(cells: Sequence[CellResult]) -> str:
    verdicts = sorted({str(c.verdict) for c in cells})
    text = verdicts[0] if len(verdicts) == 1 else "flaky(" + "/".join(verdicts) + ")"
    return text if all(c.matches_expectation for c in cells) else text + " !"


def matrix(results: Sequence[CellResult]) -> str:
    """One table per scenario and target: modes down, import orders across, '!' = unexpected."""
    tables: dict[tuple[str, str, str], list[CellResult]] = defaultdict(list)
    for result in results:
        tables[(result.scenario, result.target, result.arch)].append(result)
    blocks = []
    for (scenario, target, arch), cells in tables.items():
        orders = list(dict.fromkeys(",".join(c.order) for c in cells))
        modes = list(dict.fromkeys(f"{c.dlopen}/{c.host}" for c in cells))
        grid: dict[tuple[str, str], list[CellResult]] = defaultdict(list)
        for cell in cells:
            grid[(f"{cell.dlopen}/{cell.host}", ",".join(cell.order))].append(cell)
        rows = [["", *orders]] + [
            [
                mode,
                *(
                    _verdict_text(grid[(mode, order)]) if grid[(mode, order)] else "-"
                    for order in orders
                ),
            ]
            for mode in modes
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        lines = [f"{scenario} on {target} ({arch})"]
        lines += [
            "  " + "  ".join(text.ljust(w) for text, w in zip(row, widths, strict=True)).rstrip()
            for row in rows
        ]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def failure_block(result: CellResult) -> str:
    """What a reader needs to see for one unexpected cell."""
    lines = [
        f"{result.id}",
        f"  verdict {result.verdict}{':' + result.subkind if result.subkind else ''}, "
        f"expected {result.expected}",
        f"  order {', '.join(result.order)}; dlopen {result.dlopen}; host {result.host}",
    ]
    if result.detail:
        lines.append(f"  {result.detail}")
    if result.signal:
        lines.append(f"  signal {result.signal}")
    if result.stderr_tail.strip():
        lines.append("  stderr (tail):")
        lines += ["    " + line for line in result.stderr_tail.strip().splitlines()[-15:]]
    return "\n".join(lines)


def summary_line(results: Sequence[CellResult]) -> str:
    counts: dict[str, int] = defaultdict(int)
    for result in results:
        counts[str(result.verdict)] += 1
    unexpected = sum(not r.matches_expectation for r in results)
    parts = ", ".join(f"{n} {v}" for v, n in sorted(counts.items()))
    return f"{len(results)} cells: {parts}; {unexpected} unexpected"
