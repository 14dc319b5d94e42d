"""Helpers and shared words that every stage may use.

Holds no stage of the pipeline: a file lock, the logged-subprocess helper, and the closed
vocabularies (cell ids, variants, verdicts) that scenario files, results and reports all
spell the same way. May import only `harness.errors` and `harness.paths`.
"""
