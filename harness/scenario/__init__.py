"""Stage 1, scenario: read what is to be tested and plan the cells.

TOML loading and validation, `[tool.wheelclash]` defaults, the pure planner, covering
arrays, first-use orders, and the scenario that `check` builds from wheels.
May import: `harness.common`.
"""
