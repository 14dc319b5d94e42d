"""A wheel run alone in a group of its own answers for the singleton cells of the groups
that hold the same wheel file (harness/analysis/borrowed.py)."""

from __future__ import annotations

from pathlib import Path

from harness.analysis.borrowed import singletons
from harness.build.wheels import BuiltWheel
from harness.common.verdicts import Verdict
from tests.unit.helpers import made_result

P, S = Verdict.PASS, Verdict.SEGFAULT


def wheel(wheel_id: str, sha256: str) -> BuiltWheel:
    return BuiltWheel(
        wheel_id=wheel_id, module=wheel_id, fixture="", toolchain="given", link="",
        path=Path(f"/w/{wheel_id}.whl"), sha256=sha256, compiler="", elf_comment="",
        builder="", builder_id="", audit="", cache_key="",
    )  # fmt: skip


def test_singletons_stand_for_pairs_with_the_same_wheel_file() -> None:
    alone_a = made_result("a", ("a",), P)
    alone_b = made_result("b", ("b",), S)
    pair = made_result("a--b", ("a", "b"), S)
    other = made_result("b--c", ("b", "c"), P)
    built = {
        "a/host": (wheel("a", "1" * 64),),
        "b/host": (wheel("b", "2" * 64),),
        "a--b/host": (wheel("a", "1" * 64), wheel("b", "2" * 64)),
        # another build of b: its singleton does not stand for this group's
        "b--c/host": (wheel("b", "9" * 64), wheel("c", "3" * 64)),
    }
    found = singletons([alone_a, alone_b, pair, other], built)
    assert [(r.id, r.outcome.verdict) for r in found] == [
        ("a--b/host/local/plain/a#1", P),
        ("a--b/host/local/plain/b#1", S),
    ]
