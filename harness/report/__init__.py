"""Stage 7, report: render results for people and CI.

The report model read from results.json, the terminal matrix, the HTML page, the Markdown
summary, and the lookup of a stored cell.
May import: every stage before it (common … analysis).
"""
