"""Stage 6, analysis: explain and compare results.

Static ELF findings (explain) and their agreement with observed cells, reproducers,
baselines and merging sharded results.
May import: every stage before it (common … evidence).
"""
