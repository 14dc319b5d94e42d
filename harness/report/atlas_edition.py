"""An atlas edition: a run's results.json and the summary spec authors paste.

`atlas/editions/<date>-<target>/` holds `results.json` (the run's, as written),
`corpus.toml` (the corpus that ran, when known), `atlas.html` (harness/report/atlas_html.py,
written with the summary by harness/report/atlas_write.py) and `summary.md`: the verdict
counts, then every failure grouped by culprit set and dlopen mode, each group with the
orders that failed, how often (over its runs: `--repeat-failures`), the step that crashed,
the mechanism when a static prediction's evidence bears it out (results.json `agreement`),
and a one-line reproducer; then the pairs pip could not install together. Cores and
backtraces stay in the run folder, out of git: each group names its cell, whose evidence
sits under that folder.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from harness.common.ids import GLOBAL_ALL, GLOBAL_FIRST, LOCAL, CellId
from harness.common.verdicts import FAILURES, Verdict
from harness.evidence.results import CellResult

SUMMARY_NAME: Final = "summary.md"
PAGE_NAME: Final = "atlas.html"  # harness/report/atlas_html.py
# Rows of one culprit set, in this order of modes (others after them, by name).
MODE_ORDER: Final = (LOCAL, GLOBAL_FIRST, GLOBAL_ALL)


def culprit_set(cell: Mapping[str, Any], result: CellResult) -> tuple[tuple[str, ...], bool]:
    """Whose failure a failing cell shows, and whether that was worked out.

    A cell that carries an attribution (`{"attribution": {"culprits": [...]}}`) is grouped by
    its culprits; one without (attribution did not run, or its run stopped early) by its wheel
    pair, marked not attributed."""
    attribution = cell.get("attribution")
    if isinstance(attribution, Mapping) and attribution.get("culprits"):
        return tuple(sorted(str(c) for c in attribution["culprits"])), True
    return tuple(sorted(result.cell.order)), False


def edition_name(date: str, target: str, arch: str) -> str:
    """`2026-12-04-debian-bookworm` (`-aarch64` added for another arch than x86_64)."""
    place = target.replace(":", "-").replace("/", "-")
    return f"{date}-{place}" + ("" if arch == "x86_64" else f"-{arch}")


@dataclass(frozen=True, kw_only=True)
class Group:
    culprits: tuple[str, ...]
    attributed: bool
    mode: str
    runs: tuple[CellResult, ...]  # every run of the group's failing logical cells

    def failing_orders(self) -> list[str]:
        return list(
            dict.fromkeys(",".join(r.cell.order) for r in self.runs if _fails(r.outcome.verdict))
        )

    def counts(self) -> str:
        """Per failing order: each verdict with its runs, e.g. `a,b: segfault 3/3`."""
        parts = []
        for order in self.failing_orders():
            runs = [r for r in self.runs if ",".join(r.cell.order) == order]
            tally = Counter(_outcome(r) for r in runs)
            shown = ", ".join(f"{label} {n}/{len(runs)}" for label, n in tally.most_common())
            parts.append(f"{order}: {shown}")
        return "; ".join(parts)

    def steps(self) -> str:
        """Per failing order, the steps its failing runs stopped at."""
        parts = []
        orders = self.failing_orders()
        for order in orders:
            found = [
                r.outcome.last_step
                for r in self.runs
                if ",".join(r.cell.order) == order and _fails(r.outcome.verdict)
            ]
            steps = ", ".join(dict.fromkeys(s for s in found if s)) or "-"
            parts.append(f"{order}: {steps}" if len(orders) > 1 else steps)
        return "; ".join(parts)

    def first_failure(self) -> CellResult:
        return next(r for r in self.runs if _fails(r.outcome.verdict))


def _fails(verdict: Verdict) -> bool:
    return verdict in FAILURES


def _outcome(result: CellResult) -> str:
    subkind = result.outcome.subkind
    return f"{result.outcome.verdict}:{subkind}" if subkind else str(result.outcome.verdict)


def groups(document: Mapping[str, Any], results: Sequence[CellResult]) -> list[Group]:
    """Failures by (culprit set, mode): by culprit set, then local, global-first,
    global-all. Every run of a logical cell goes where its attributed run's culprits put it
    (only a cell's first failing run is attributed, not its repeats `#2`, `#3`)."""
    raw = {str(c["id"]): c for c in document.get("cells", [])}
    failing = {str(CellId.parse(r.id).logical) for r in results if _fails(r.outcome.verdict)}
    found_for: dict[str, tuple[tuple[str, ...], bool]] = {}
    for result in results:
        culprits, known = culprit_set(raw.get(result.id, {}), result)
        if known:
            found_for.setdefault(str(CellId.parse(result.id).logical), (culprits, known))
    by_key: dict[tuple[tuple[str, ...], str], list[CellResult]] = {}
    attributed: dict[tuple[tuple[str, ...], str], bool] = {}
    for result in results:
        logical = str(CellId.parse(result.id).logical)
        if logical not in failing:
            continue
        culprits, known = found_for.get(logical) or culprit_set(raw.get(result.id, {}), result)
        key = (culprits, result.cell.dlopen)
        by_key.setdefault(key, []).append(result)
        attributed[key] = attributed.get(key, False) or known
    modes = {mode: rank for rank, mode in enumerate(MODE_ORDER)}
    found = [
        Group(culprits=c, attributed=attributed[(c, m)], mode=m, runs=tuple(runs))
        for (c, m), runs in by_key.items()
    ]
    return sorted(found, key=lambda g: (g.culprits, modes.get(g.mode, len(modes)), g.mode))


def mechanisms(document: Mapping[str, Any]) -> dict[str, list[str]]:
    """Cell id → the mechanisms whose prediction its evidence bears out (from `agreement`)."""
    out: dict[str, list[str]] = {}
    for row in document.get("agreement", []):
        if not row.get("mechanism"):
            continue
        label = (
            f"mechanism {row['mechanism']} ({row.get('predictor', '')} on {row.get('wheel', '')})"
        )
        for cell_id in row.get("explained_cells", []):
            out.setdefault(str(cell_id), []).append(label)
    return out


def _code(text: str) -> str:
    """Inline Markdown code that survives a table: the longest backtick run is fenced over."""
    text = text.replace("|", "\\|").replace("\n", " ")
    longest = 0
    current = 0
    for char in text:
        current = current + 1 if char == "`" else 0
        longest = max(longest, current)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _fenced(text: str) -> str:
    """A fenced shell block holding `text`, indented under its list item."""
    longest = max((len(run) for run in text.split("\n") if set(run) == {"`"}), default=0)
    fence = "`" * max(3, longest + 1)
    return "\n".join(f"   {line}" for line in [f"{fence}sh", *text.splitlines(), fence])


def _cell_text(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _reuse_lines(record: Any, cells: int) -> list[str]:
    """What an incremental edition took from the previous one (results.json `reuse`)."""
    if not isinstance(record, Mapping) or not record.get("from"):
        return []
    taken = len(record.get("cells", []))
    return [
        f"{taken} of {cells} cells ({len(record.get('groups', []))} unchanged environments) "
        f"were taken from {_code(str(record['from']))} ({record.get('why', '')}): the same wheel "
        "files, "
        f"inputs and cell-affecting harness files; {cells - taken} ran now.",
        "",
    ]


_FIRST_NOTE: Final = (
    " In the global modes each ordered pair of a group ran in a cell with its first wheel "
    "first (nothing RTLD_GLOBAL loaded before it), as its pair cell runs; locally in "
    "sequences of the group's wheels. There a passing cell showed a pair clean only when "
    "nothing before its second wheel had loaded a CPython module that one of the two can "
    "break (its bundled libraries': `victims_exposed`) and neither loads alone "
    "(`victims_loaded`): the victims' step loads it after the pair, where it can fail."
)


def _screen_lines(record: Any) -> list[str]:
    """What screening ran and chose (results.json `screen`), for a screened edition."""
    if not isinstance(record, Mapping):
        return []
    groups_run = record.get("groups", [])
    skipped = sum(1 for g in groups_run if g.get("not_screened"))
    run = len(record.get("pairs_run", []))
    modes = {m.get("dlopen") for g in groups_run for m in g.get("modes", [])}
    return [
        f"Screened (`atlas --screen`): {len(groups_run)} groups of up to "
        f"{record.get('group_size', '?')} wheels imported together"
        f"{f' ({skipped} not screened)' if skipped else ''}, {record.get('cells', 0)} group and "
        f"split cells; {run} pairs then ran as pairs ({len(record.get('found', []))} isolated, "
        f"{len(record.get('unexplained', []))} from failures no pair explained, "
        f"{len(record.get('uncovered', []))} unscreened), {len(record.get('confirmed', []))} "
        "confirmed. The other pairs passed screening and have no cells here (`s` in the page)."
        + (_FIRST_NOTE if modes & {GLOBAL_ALL, GLOBAL_FIRST} else ""),
        "",
    ]


def _failing_runs(run: Mapping[str, Any], results: Sequence[CellResult]) -> int:
    """How many times a failing cell was run in all: the run's setting; for results merged
    before merges kept it, the most repeats any cell has."""
    if "repeat_failures" in run:
        return int(run["repeat_failures"])
    return max((r.cell.cell_id.repeat for r in results), default=1)


def summary_markdown(
    document: Mapping[str, Any],
    results: Sequence[CellResult],
    *,
    title: str,
    run_dir: Path | None,
    description: str = "",
) -> str:
    """The edition's summary.md."""
    provenance = document.get("provenance", {})
    pairs = {r.cell.scenario for r in results}
    counts = Counter(str(r.outcome.verdict) for r in results)
    run = document.get("run", {})
    lines = [f"# {title}", ""]
    if description:
        lines += [description, ""]
    targets = ", ".join(
        f"{t['target']} ({t['arch']}; glibc {str(t.get('glibc', '?')).removeprefix('glibc ')}, "
        f"Python {t.get('python', '?')})"
        for t in provenance.get("targets", [])
    )
    modes = ", ".join(dict.fromkeys(r.cell.dlopen for r in results))
    lines += [
        f"wheelclash {provenance.get('harness_version', '?')}, started "
        f"{provenance.get('started', '?')}; {len(pairs)} pairs, {len(results)} cells"
        f"{'' if run.get('complete', True) else ' (INCOMPLETE: some planned cells are missing)'}.",
        "",
        f"Targets: {targets or 'this machine'}. Modes: {modes}. A failing cell was run "
        f"{_failing_runs(run, results)} times in all.",
        "",
        f"The wheel × wheel matrices, each square's evidence and reproducer: {PAGE_NAME} "
        "beside this file (self-contained; open it in a browser).",
        "",
        *_reuse_lines(document.get("reuse"), len(results)),
        *_screen_lines(document.get("screen")),
        "| verdict | cells |",
        "|---|---|",
        *(f"| {verdict} | {n} |" for verdict, n in counts.most_common()),
        "",
    ]
    found = groups(document, results)
    why = mechanisms(document)
    lines += ["## Conflicts", ""]
    if not found:
        lines += ["No pair failed.", ""]
    else:
        if not all(g.attributed for g in found):
            lines += [
                "Culprits are each cell's wheel pair (marked *pair*) where the results carry "
                "no attribution yet; a failure one wheel also shows alone is listed under the "
                "pair all the same.",
                "",
            ]
        lines += [
            "| # | culprits | mode | failed (runs) | crashed at | mechanism | cell |",
            "|---|---|---|---|---|---|---|",
        ]
        for number, group in enumerate(found, 1):
            first = group.first_failure()
            explained = sorted({label for r in group.runs for label in why.get(r.id, ())})
            who = " + ".join(group.culprits) + ("" if group.attributed else " *pair*")
            lines.append(
                f"| {number} | {_cell_text(who)} | {group.mode} | "
                f"{_cell_text(group.counts())} | {_cell_text(group.steps())} | "
                f"{_cell_text('; '.join(explained) or 'not explained')} | {_code(first.id)} |"
            )
        lines += ["", "### Reproducers", ""]
        lines += ["One shell command per row above, for its cell, without wheelclash:", ""]
        for number, group in enumerate(found, 1):
            first = group.first_failure()
            lines += [
                f"{number}. {_code(first.id)}",
                "",
                _fenced(first.cell.reproducer or "(no reproducer recorded)"),
                "",
            ]
    refused = [r for r in results if r.outcome.verdict == Verdict.NOT_INSTALLABLE]
    if refused:
        lines += ["## Not installable together", ""]
        seen: dict[str, str] = {}
        for result in refused:
            seen.setdefault(result.cell.scenario, result.outcome.detail)
        lines += [f"- {pair}: {_cell_text(reason)}" for pair, reason in seen.items()]
        lines.append("")
    broken = [r for r in results if r.outcome.verdict == Verdict.INFRA_ERROR]
    if broken:
        lines += [
            f"{len(broken)} cells are infra-error (the engine or harness failed, not the "
            f"wheels), e.g. {_code(broken[0].id)}: {_cell_text(broken[0].outcome.detail)}",
            "",
        ]
    captured = [r for r in results if r.evidence.artefacts]
    if captured:
        where = str(run_dir) if run_dir else "the run folder"
        lines += [
            "## Evidence",
            "",
            f"Cores, backtraces and stderr of {len(captured)} failing cells are kept out of "
            f"git, in {_code(where)}: each cell's files are under the path its results.json "
            "entry names (`evidence.artefacts`), e.g. "
            f"{_code(next(iter(captured[0].evidence.artefacts.values())))} for "
            f"{_code(captured[0].id)}.",
            "",
        ]
    return "\n".join(lines)
