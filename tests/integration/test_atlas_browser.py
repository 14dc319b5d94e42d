"""The atlas page in a real browser: Debian's chromium, driven by Playwright, opens the page
`atlas edition` writes for the first real edition (atlas/samples/editions/…), with a hostile
stderr in one failing run; a click on a failing square shows its details."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.common.verdicts import Verdict
from harness.evidence.results import load_results
from harness.report.atlas_matrix import matrices
from harness.report.html import colour
from harness.scenario.corpus import load_corpus
from tests.integration.test_html_browser import chromium
from tests.unit.helpers import SAMPLE_EDITION, SAMPLE_FAILURE, sample_edition_document

PAYLOAD = (
    "</pre><script>document.body.dataset.pwned='script'</script>"
    "<img src=x onerror=\"document.body.dataset.pwned='img'\"><b>bold</b>"
)


def sync_playwright() -> Any:
    try:
        from playwright.sync_api import sync_playwright as start
    except ImportError:
        message = "no playwright; ./bootstrap --test installs it (the test group)"
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:  # as chromium()
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return start()


@pytest.fixture(scope="module")
def edition(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample's results with a hostile stderr, made an edition by the CLI."""
    root = tmp_path_factory.mktemp("atlas")
    document = sample_edition_document()
    cell = next(c for c in document["cells"] if c["id"] == SAMPLE_FAILURE)
    cell["outcome"]["stderr_tail"] = PAYLOAD
    (root / "run").mkdir()
    (root / "run" / "results.json").write_text(json.dumps(document))
    corpus = str(SAMPLE_EDITION / "corpus.toml")
    editions = root / "editions"
    assert main(["atlas", "edition", str(root / "run"), "--corpus", corpus,
                 "--editions", str(editions)]) == 0  # fmt: skip
    (folder,) = editions.iterdir()
    return folder


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_playwright() as playwright:
        args = ["--no-sandbox"] if os.geteuid() == 0 else []  # as root, no sandbox
        launched = playwright.chromium.launch(executable_path=chromium(), args=args)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any, edition: Path) -> Iterator[Any]:
    opened = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.goto((edition / "atlas.html").as_uri())
    assert opened.evaluate("document.body.dataset.atlasReady") == "1"  # its script ran
    yield opened
    assert errors == []
    assert opened.evaluate("document.body.dataset.pwned") is None  # the payload did not
    opened.close()


def _rgb(hex_colour: str) -> str:
    red, green, blue = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({red}, {green}, {blue})"


def test_matrices_match_the_corpus_and_colours_match_verdicts(page: Any, edition: Path) -> None:
    wheels = sorted(w.id for w in load_corpus(edition / "corpus.toml").wheels)
    document, results = load_results(edition / "results.json")
    expected = matrices(document, results)
    shown = page.evaluate(
        """() => [...document.querySelectorAll("section.atlas-matrix")].map(s => ({
            mode: s.dataset.mode,
            columns: [...s.querySelectorAll("th.col")].map(th => th.textContent),
            rows: [...s.querySelectorAll("tr")].slice(1).map(tr => ({
                wheel: tr.querySelector("th.row").textContent,
                squares: [...tr.querySelectorAll("td.sq")].map(td => ({
                    verdict: td.dataset.verdict || null,
                    background: getComputedStyle(td).backgroundColor,
                })),
            })),
        }))"""
    )
    assert [m["mode"] for m in shown] == ["local", "global-first", "global-all"]
    for matrix, model in zip(shown, expected, strict=True):
        assert matrix["columns"] == wheels
        assert [r["wheel"] for r in matrix["rows"]] == wheels
        for row, first in zip(matrix["rows"], wheels, strict=True):
            assert len(row["squares"]) == len(wheels)
            for square, second in zip(row["squares"], wheels, strict=True):
                worst = model.square(first, second).worst
                assert square["verdict"] == (worst.value if worst else None)
                if worst is not None:
                    assert square["background"] == _rgb(colour(worst))
    failing = [
        (m["mode"], r["wheel"], s["verdict"])
        for m in shown
        for r in m["rows"]
        for s in r["squares"]
        if s["verdict"] not in (None, "pass")
    ]
    assert len(failing) == 6
    assert page.locator("td.sq.v-segfault").count() == 2
    assert _rgb(colour(Verdict.SEGFAULT)) != _rgb(colour(Verdict.ABORT))


def test_clicking_a_failing_square_shows_its_culprits_and_reproducer(
    page: Any, edition: Path
) -> None:
    _, results = load_results(edition / "results.json")
    reproducer = next(r for r in results if r.id == SAMPLE_FAILURE).cell.reproducer
    assert page.locator("#details-empty").is_visible()
    square = page.locator(
        'section[data-mode="global-first"] td.sq[data-first="fiona"][data-second="rasterio"]'
    )
    square.click()
    details = page.locator("#details .square-details:visible")
    assert details.count() == 1
    assert details.locator("h3").inner_text() == "fiona then rasterio"
    text = details.inner_text()
    assert "fiona + rasterio" in text and "segfault 3/3" in text and "import rasterio" in text
    assert details.locator("pre.repro").inner_text() == reproducer
    assert "<script>document.body.dataset.pwned='script'</script>" in text  # shown as text
    assert "selected" in (square.get_attribute("class") or "")
    assert page.url.endswith("#sq-1-0-2")
    assert not page.locator("#details-empty").is_visible()


def test_a_culprit_row_opens_its_square(page: Any) -> None:
    page.locator("#groups a[data-square]").first.click()
    details = page.locator("#details .square-details:visible")
    assert details.locator("h3").inner_text() == "rasterio then fiona"
    assert "abort 3/3" in details.inner_text()
    selected = page.locator("td.sq.selected")
    assert selected.get_attribute("data-first") == "rasterio"
    assert selected.get_attribute("data-verdict") == "abort"
