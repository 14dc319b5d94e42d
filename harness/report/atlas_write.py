"""Write an atlas edition's folder: results.json and the corpus copied, summary.md
(harness/report/atlas_edition.py) and atlas.html (harness/report/atlas_html.py) written.

The results are attributed again first (harness/analysis/reattribute.py): results merged
before a merge did that, such as the first edition's, still have failing cells that do not
know whether a wheel fails alone while its singleton cells are among the results. Then the
edition's results.json is the results attributed again, not a copy."""

from __future__ import annotations

import itertools
import json
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Final

from harness.analysis.reattribute import reattribute_document
from harness.errors import InputError
from harness.evidence.results import RESULTS_NAME, load_results, results_file
from harness.report.atlas_edition import PAGE_NAME, SUMMARY_NAME, edition_name, summary_markdown
from harness.report.atlas_html import render_atlas
from harness.scenario.load import Expectation

CORPUS_NAME: Final = "corpus.toml"


def write_edition(
    results: Path,
    editions: Path,
    *,
    title: str,
    corpus: Path | None = None,
    description: str = "",
    rules: Mapping[str, Sequence[Expectation]] | None = None,
    said: Callable[[str], None] = lambda line: None,
) -> Path:
    """A new edition folder under `editions` for the results (a run folder or its
    results.json): results.json copied (attributed again, its expectations judged with
    `rules`, the scenarios' by name), the corpus copied, summary.md and atlas.html written.
    Named `<date>-<target>` from the run's start and target; `-2`, `-3`… when taken."""
    source = results_file(results)
    document, cells = load_results(source)
    document, cells, changed = reattribute_document(document, cells, rules)
    targets = {(r.cell.target, r.cell.arch) for r in cells}
    if len(targets) != 1:
        raise InputError(
            f"{source}: an edition is of one target, this run has {len(targets)} "
            f"({', '.join(sorted(f'{t}/{a}' for t, a in targets)) or 'none'}); run the atlas "
            "once per target"
        )
    target, arch = targets.pop()
    date = str(document.get("provenance", {}).get("started", ""))[:10] or "undated"
    base = edition_name(date, target, arch)
    folder = editions / base
    for number in itertools.count(2):
        if not folder.exists():
            break
        folder = editions / f"{base}-{number}"
    folder.mkdir(parents=True)
    if changed:
        text = json.dumps(document, indent=2) + "\n"
        (folder / RESULTS_NAME).write_text(text, encoding="utf-8")
        said(f"attributed {changed} failing cells again from the results' own cells")
    else:
        shutil.copyfile(source, folder / RESULTS_NAME)
    if corpus is not None:
        shutil.copyfile(corpus, folder / CORPUS_NAME)
    run_dir = source.parent.resolve()
    text = summary_markdown(document, cells, title=title, run_dir=run_dir, description=description)
    (folder / SUMMARY_NAME).write_text(text + "\n", encoding="utf-8")
    page = render_atlas(
        document,
        cells,
        title=title,
        edition=folder.name,
        description=description,
        run_dir=run_dir,
    )
    (folder / PAGE_NAME).write_text(page, encoding="utf-8")
    return folder
