"""Stage 5, evidence: turn outcomes into verdicts and keep what proves them.

The verdict classifier, crash parsing, capture (cores, backtraces, library maps), the
per-cell result record and repetition (flakes: repeats within a run and over runs).
May import: every stage before it (common, scenario, images, build, cells).
"""
