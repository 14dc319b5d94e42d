"""Keep each scenario group on one pytest-xdist worker, whatever the pytest version.

xdist's `--dist loadgroup` tells the controller an item's group by appending `@<group>` to
the node id on the worker. From pytest 9.2, node ids are structured and that mutation no
longer takes effect (pytest-xdist issue #1386), so groups were silently spread over the
workers, and each worker then ran the whole group's batch: twice the work, and two
containers. A cell's group is part of its id (`CellId.group`, harness/common/ids.py), so
this scheduler reads it from the node id of a scenario item instead, and leaves every other
test to xdist's own loadgroup rule.
"""

from __future__ import annotations

from typing import Any

import pytest
from xdist.scheduler import LoadGroupScheduling  # type: ignore[import-untyped]

from harness.common.ids import CellId, MalformedId


class CellGroupScheduling(LoadGroupScheduling):  # type: ignore[misc]
    def _split_scope(self, nodeid: str) -> str:
        path, separator, name = nodeid.partition("::")
        if separator and path.endswith(".toml"):
            try:
                return f"{path}::{CellId.parse(name).group}"
            except MalformedId:
                pass  # not a cell of a scenario file
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
