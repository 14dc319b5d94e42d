"""Write a run's rendered reports beside its results.json: report.html and summary.md."""

from __future__ import annotations

from pathlib import Path

from harness.report import html as html_report
from harness.report import markdown as markdown_report
from harness.report.model import load_view


def write_reports(results: Path) -> tuple[Path, Path]:
    """Render the run at `results` (its folder or results.json); the two files written."""
    found, _, view = load_view(results)
    html_path = found.parent / html_report.REPORT_NAME
    markdown_path = found.parent / markdown_report.SUMMARY_NAME
    html_path.write_text(html_report.render(view), encoding="utf-8")
    markdown_path.write_text(markdown_report.render(view), encoding="utf-8")
    return html_path, markdown_path
