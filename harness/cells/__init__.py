"""Stage 4, cells: run each cell's probe in a fresh interpreter and record its outcome.

Cell jobs (what the probe imports and uses), the raw `Outcome` of a probe process, and
the backends (`local`, `docker`) that execute batches of jobs.
May import: `harness.common`, `harness.scenario`, `harness.images`, `harness.build`.
"""
