"""Human-readable renderings of results: the compact terminal matrix and failure blocks."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Final

from harness.common.ids import CellId, Variant
from harness.common.verdicts import Verdict
from harness.evidence.results import CellResult
from harness.report.culprits import culprit_text


def _column(result: CellResult) -> str:
    """A matrix column: the import order, and the first-use order when it differs."""
    cell = result.cell
    order = ",".join(cell.order)
    return f"{order} use:{','.join(cell.use)}" if cell.use else order


def _verdict_text(cells: Sequence[CellResult]) -> str:
    verdicts = sorted({str(c.outcome.verdict) for c in cells})
    text = verdicts[0] if len(verdicts) == 1 else "flaky(" + "/".join(verdicts) + ")"
    return text if all(c.outcome.matches_expectation for c in cells) else text + " !"


# Which verdict a combined cell shows: the first of these that occurred.
SEVERITY: Final = (
    Verdict.SEGFAULT,
    Verdict.ABORT,
    Verdict.BUS_ERROR,
    Verdict.ILLEGAL_INSTRUCTION,
    Verdict.FPE,
    Verdict.OTHER_SIGNAL,
    Verdict.EXIT_CRASH,
    Verdict.HANG,
    Verdict.IMPORT_ERROR,
    Verdict.WRONG_RESULT,
    Verdict.NOT_INSTALLABLE,
    Verdict.INFRA_ERROR,
    Verdict.PASS,
)


def most_severe(verdicts: Iterable[Verdict]) -> Verdict:
    """The first verdict of SEVERITY among `verdicts` (which holds at least one)."""
    seen = set(verdicts)
    return next(v for v in SEVERITY if v in seen)


def worst(cells: Sequence[CellResult]) -> str:
    """The most severe verdict among the cells, with how many of them are not a pass."""
    verdict = most_severe(c.outcome.verdict for c in cells)
    failing = sum(c.outcome.verdict != Verdict.PASS for c in cells)
    text = str(verdict) if verdict == Verdict.PASS else f"{verdict} {failing}/{len(cells)}"
    return text if all(c.outcome.matches_expectation for c in cells) else text + " !"


def _grid(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  " + "  ".join(t.ljust(w) for t, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def _pairs_two(variant: Variant) -> bool:
    """Whether the variant pairs two wheels across toolchains (a table of its own)."""
    return len(variant.choices) == 2


def toolchain_tables(results: Sequence[CellResult]) -> str:
    """For scenarios pairing two wheels across toolchains: one table per target, the first
    wheel's toolchain down, the second's across, each cell the worst verdict of every order
    and mode of that pair with the count of failing cells."""
    tables: dict[tuple[str, str, str], list[tuple[Variant, CellResult]]] = defaultdict(list)
    for result in results:
        cell = result.cell
        variant = Variant.parse(str(cell.variant))
        if _pairs_two(variant):
            tables[(cell.scenario, cell.target, cell.arch)].append((variant, result))
    blocks = []
    for (scenario, target, arch), cells in tables.items():
        by_pair: dict[tuple[str, str], list[CellResult]] = defaultdict(list)
        for variant, found in cells:
            (first, a), (second, b) = variant.choices
            by_pair[(a, b)].append(found)
        downs = list(dict.fromkeys(a for a, _ in by_pair))
        acrosses = list(dict.fromkeys(b for _, b in by_pair))
        corner = f"{first} \\ {second}"
        rows = [[corner, *acrosses]] + [
            [a, *(worst(by_pair[(a, b)]) if by_pair[(a, b)] else "-" for b in acrosses)]
            for a in downs
        ]
        blocks.append(
            "\n".join(
                [f"{scenario} on {target} ({arch}): worst verdict, failing/all", *_grid(rows)]
            )
        )
    return "\n\n".join(blocks)


def matrix(results: Sequence[CellResult]) -> str:
    """One table per scenario and target: modes down, import orders across, '!' = unexpected.
    Scenarios that pair wheels across toolchains are shown by `toolchain_tables` instead."""
    tables: dict[tuple[str, str, str], list[CellResult]] = defaultdict(list)
    for result in results:
        cell = result.cell
        if _pairs_two(Variant.parse(str(cell.variant))):
            continue
        tables[
            (
                cell.scenario,
                cell.target,
                f"{cell.arch}{', emulated' if cell.emulated else ''}"
                f"{' ' + str(cell.variant) if cell.variant else ''}",
            )
        ].append(result)
    blocks = []
    for (scenario, target, arch), cells in tables.items():
        orders = list(dict.fromkeys(_column(c) for c in cells))
        modes = list(dict.fromkeys(f"{c.cell.dlopen}/{c.cell.host}" for c in cells))
        grid: dict[tuple[str, str], list[CellResult]] = defaultdict(list)
        for result in cells:
            grid[(f"{result.cell.dlopen}/{result.cell.host}", _column(result))].append(result)
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
        blocks.append("\n".join([f"{scenario} on {target} ({arch})", *_grid(rows)]))
    tables_text = toolchain_tables(results)
    return "\n\n".join(blocks + ([tables_text] if tables_text else []))


def failure_block(result: CellResult) -> str:
    """What a reader needs to see for one unexpected cell."""
    cell, outcome = result.cell, result.outcome
    lines = [
        f"{result.id}",
        f"  verdict {outcome.verdict}{':' + outcome.subkind if outcome.subkind else ''}, "
        f"expected {cell.expected}",
        f"  order {', '.join(cell.order)}; dlopen {cell.dlopen}; host {cell.host}"
        + (f"; first use {', '.join(cell.use)}" if cell.use else ""),
    ]
    if result.attribution:
        lines.append(f"  culprits: {culprit_text(result)}")
        lines += [f"    {note}" for note in result.attribution.notes]
    if outcome.detail:
        lines.append(f"  {outcome.detail}")
    if outcome.signal:
        lines.append(f"  signal {outcome.signal}")
    lines += evidence_lines(result)
    if outcome.stderr_tail.strip() and not result.evidence.python_stack:
        lines.append("  stderr (tail):")
        lines += ["    " + line for line in outcome.stderr_tail.strip().splitlines()[-15:]]
    return "\n".join(lines)


def evidence_lines(result: CellResult) -> list[str]:
    """The crash evidence of a cell: native frames, Python stack, findings, artefact files."""
    evidence = result.evidence
    lines = []
    if evidence.native_top:
        lines.append("  native frames (crashing thread, innermost first):")
        lines += ["    " + frame for frame in evidence.native_top]
    if evidence.python_stack:
        lines.append("  Python stack:")
        lines += ["    " + line for line in evidence.python_stack.splitlines()[-20:]]
    lines += [f"  duplicate runtime: {finding}" for finding in evidence.duplicate_runtimes]
    lines += [f"  binding: {finding}" for finding in evidence.bindings]
    if evidence.artefacts:
        folders = sorted({path.rsplit("/", 1)[0] for path in evidence.artefacts.values()})
        names = ", ".join(sorted(evidence.artefacts))
        lines.append(f"  artefacts ({names}) in {', '.join(folders)}")
    lines += [f"  capture: {note}" for note in evidence.notes]
    return lines


def summary_line(results: Sequence[CellResult]) -> str:
    counts: dict[str, int] = defaultdict(int)
    for result in results:
        counts[str(result.outcome.verdict)] += 1
    unexpected = sum(not r.outcome.matches_expectation for r in results)
    parts = ", ".join(f"{n} {v}" for v, n in sorted(counts.items()))
    flaky = len({CellId.parse(r.id).logical for r in results if r.evidence.flaky})
    return f"{len(results)} cells: {parts}; {unexpected} unexpected" + (
        f"; {flaky} flaky" if flaky else ""
    )
