"""Keep each scenario group on one pytest-xdist worker, whatever the pytest version.

xdist's `--dist loadgroup` tells the controller an item's group by appending `@<group>` to
the node id on the worker. From pytest 9.2, node ids are structured and that mutation no
longer takes effect (pytest-xdist issue #1386), so groups were silently spread over the
workers, and each worker then ran the whole group's batch: twice the work, and two
containers. A cell's group is part of its id (`<group>/<dlopen>/<host>/<order>#<repeat>`, with
`/use:<ids>` after the order when the first-use order differs), so this scheduler reads it
from the node id of a scenario item instead, and leaves every other test to xdist's own
loadgroup rule.
"""

from __future__ import annotations

import re
from typing import Any, Final

import pytest
from xdist.scheduler import LoadGroupScheduling  # type: ignore[import-untyped]

# dlopen, host and order#repeat follow the group in a cell id; none of them holds a '/'.
CELL_TAIL_SEGMENTS = 3
# The first-use segment (harness/scenario/first_use.py), between the order and the repeat.
USE_SEGMENT: Final = re.compile(r"/use:[^/#]*(?=#)")


class CellGroupScheduling(LoadGroupScheduling):  # type: ignore[misc]
    def _split_scope(self, nodeid: str) -> str:
        path, separator, cell_id = nodeid.partition("::")
        cell_id = USE_SEGMENT.sub("", cell_id)
        if separator and path.endswith(".toml") and cell_id.count("/") > CELL_TAIL_SEGMENTS:
            return f"{path}::{cell_id.rsplit('/', CELL_TAIL_SEGMENTS)[0]}"
        scope: str = super()._split_scope(nodeid)
        return scope


def scope_of(nodeid: str) -> str:
    """The unit a node id is scheduled with (for tests; `_split_scope` uses no state)."""
    bare: CellGroupScheduling = object.__new__(CellGroupScheduling)
    return bare._split_scope(nodeid)


def make_scheduler(config: pytest.Config, log: Any) -> CellGroupScheduling | None:
    if config.getvalue("dist") != "loadgroup":
        return None
    return CellGroupScheduling(config, log)
