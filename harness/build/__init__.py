"""Stage 3, build: the wheels a scenario names.

Toolchains, builders (host or container), fixture wheels, wheelhouses, given and
downloaded wheels, auditwheel, wheel contents and provenance stamps.
May import: `harness.common`, `harness.scenario`, `harness.images`.
"""
