"""The driver: strings the stages together for one run.

Resume state, the runner's plan → prepare → run → finish steps, parallel groups, shards,
xdist grouping, the minimizer (which re-runs cells), and the cells an incremental run takes
from a previous one (reuse.py), and the environments several wheel sets share (pools.py,
sharing.py). It comes after every stage it drives, so the stages
themselves never import it. Only `harness.plugin` and `harness.cli`
import `harness.run`.
"""
