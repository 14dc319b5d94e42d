"""Pools: which wheel sets share one environment, and what each set's cells hide of it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from harness.build.wheels import BuiltWheel
from harness.common.digests import file_sha256
from harness.run.pools import Hiding, WheelSet, hidden, plan_pools
from harness.run.sharing import chunks
from harness.scenario.plan import Cell
from harness.scenario.wheel_contents import read_contents
from tests.unit.helpers import build_wheel


def house(
    root: Path, name: str, wheels: dict[str, dict[str, str]], versions: dict[str, str]
) -> Path:
    """A wheelhouse folder holding one wheel per project."""
    folder = root / name
    folder.mkdir()
    for project, files in wheels.items():
        build_wheel(folder, project, files, version=versions.get(project, "1.0"))
    return folder


def given(folder: Path, project: str) -> BuiltWheel:
    path = next(folder.glob(f"{project}-*.whl"))
    sha = file_sha256(path)
    return BuiltWheel(
        wheel_id=project,
        module=project,
        fixture=project,
        toolchain="given",
        link="",
        path=path,
        sha256=sha,
        compiler="",
        elf_comment="",
        builder="given",
        builder_id="",
        audit="",
        cache_key=sha[:32],
        wheelhouse=str(folder),
    )


def wheel_set(key: str, wheels: Sequence[BuiltWheel]) -> WheelSet:
    return WheelSet(key=key, target="debian:bookworm", arch="x86_64", wheels=tuple(wheels))


NUMPY = {"numpy/__init__.py": "", "numpy.libs/libopenblas.so": ""}


def corpus(root: Path) -> dict[str, BuiltWheel]:
    """a and b both need numpy 2.0 (the same file name); c needs numpy 1.26."""
    a = house(root, "a", {"a": {"a/__init__.py": ""}, "numpy": NUMPY}, {"numpy": "2.0"})
    b = house(root, "b", {"b": {"b.py": ""}, "numpy": NUMPY}, {"numpy": "2.0"})
    c = house(root, "c", {"c": {"c/__init__.py": ""}, "numpy": NUMPY}, {"numpy": "1.26"})
    return {"a": given(a, "a"), "b": given(b, "b"), "c": given(c, "c")}


def test_sets_whose_files_agree_share_a_pool_and_hide_the_rest(tmp_path: Path) -> None:
    w = corpus(tmp_path)
    sets = [
        wheel_set("a", [w["a"]]),
        wheel_set("b", [w["b"]]),
        wheel_set("c", [w["c"]]),
        wheel_set("a--b", [w["a"], w["b"]]),
        wheel_set("a--c", [w["a"], w["c"]]),
        wheel_set("b--c", [w["b"], w["c"]]),
    ]
    seats = plan_pools(sets)
    # c's numpy is another file: c, and the pairs that would install two numpys, are left
    # out; c alone would be a pool of one.
    assert set(seats) == {"a", "b", "a--b"}
    pool = seats["a"].pool
    assert pool.members == ("a", "b", "a--b")
    assert [x.wheel_id for x in pool.wheels] == ["a", "b"]
    assert seats["a"].hidden_modules == ("b",)
    assert seats["a"].hidden_dists == ("b",)
    assert seats["b"].hidden_modules == ("a",)
    assert seats["a--b"].hidden_modules == ()
    assert seats["a--b"].hidden_dists == ()


def test_a_pth_file_keeps_a_set_out_of_pools_without_it(tmp_path: Path) -> None:
    tools = {"setuptools/__init__.py": "", "distutils-precedence.pth": "import os"}
    a = house(tmp_path, "a", {"a": {"a/__init__.py": ""}, "setuptools": tools}, {})
    b = house(tmp_path, "b", {"b": {"b/__init__.py": ""}}, {})
    c = house(tmp_path, "c", {"c": {"c/__init__.py": ""}}, {})
    wa, wb, wc = given(a, "a"), given(b, "b"), given(c, "c")
    seats = plan_pools(
        [
            wheel_set("a", [wa]),
            wheel_set("b", [wb]),
            wheel_set("c", [wc]),
            wheel_set("a--b", [wa, wb]),
            wheel_set("a--c", [wa, wc]),
            wheel_set("b--c", [wb, wc]),
        ]
    )
    # The sets with setuptools' .pth share a pool of their own: it runs in each of them.
    assert seats["a"].pool == seats["a--b"].pool == seats["a--c"].pool
    assert seats["b"].pool == seats["c"].pool == seats["b--c"].pool
    assert seats["a"].pool != seats["b"].pool
    assert "setuptools" not in seats["b"].hidden_dists  # not in b's pool at all
    assert seats["a--b"].hidden_modules == ("c",)


def test_a_namespace_portion_is_hidden_by_its_own_package(tmp_path: Path) -> None:
    proto = {"google/protobuf/__init__.py": "", "google/protobuf/message.py": ""}
    re2 = {"google/re2/__init__.py": "", "re2.py": ""}
    a = house(tmp_path, "a", {"protobuf": proto}, {})
    b = house(tmp_path, "b", {"google-re2": re2}, {})
    wa, wb = given(a, "protobuf"), given(b, "google_re2")
    seats = plan_pools([wheel_set("a", [wa]), wheel_set("b", [wb]), wheel_set("a--b", [wa, wb])])
    assert seats["a"].hidden_modules == ("google.re2", "re2")
    assert seats["a"].hidden_dists == ("google-re2",)
    assert seats["b"].hidden_modules == ("google.protobuf",)


def test_a_set_whose_modules_the_hiding_would_take_runs_alone(tmp_path: Path) -> None:
    # x holds the regular package `pkg`; y only `pkg/sub` (no pkg/__init__.py): hiding x's
    # `pkg` from y's cells would hide y's own `pkg.sub` too.
    x = house(tmp_path, "x", {"x": {"pkg/__init__.py": ""}}, {})
    y = house(tmp_path, "y", {"y": {"pkg/sub/__init__.py": ""}}, {})
    z = house(tmp_path, "z", {"z": {"z.py": ""}}, {})
    wx, wy, wz = given(x, "x"), given(y, "y"), given(z, "z")
    seats = plan_pools(
        [
            wheel_set("x", [wx]),
            wheel_set("y", [wy]),
            wheel_set("z", [wz]),
            wheel_set("x--z", [wx, wz]),
        ]
    )
    assert "y" not in seats
    assert set(seats) == {"x", "z", "x--z"}
    assert seats["x"].hidden_modules == ("pkg.sub", "z")


def test_two_builds_of_one_file_name_never_share(tmp_path: Path) -> None:
    one = house(tmp_path, "one", {"a": {"a/__init__.py": ""}}, {})
    two = house(tmp_path, "two", {"a": {"a/__init__.py": "# another build\n"}}, {})
    other = house(tmp_path, "o", {"o": {"o.py": ""}}, {})
    first, second, wo = given(one, "a"), given(two, "a"), given(other, "o")
    assert first.path.name == second.path.name and first.sha256 != second.sha256
    seats = plan_pools(
        [
            wheel_set("a1", [first]),
            wheel_set("o", [wo]),
            wheel_set("a2", [second]),
            wheel_set("a2--o", [second, wo]),
        ]
    )
    assert seats["a1"].pool != seats["a2"].pool
    assert set(seats) == {"a1", "o", "a2", "a2--o"}
    assert seats["a2"].pool.members == ("a2", "a2--o")


def test_sets_of_other_targets_never_share(tmp_path: Path) -> None:
    w = corpus(tmp_path)
    here = wheel_set("a", [w["a"]])
    there = WheelSet(key="b", target="debian:trixie", arch="x86_64", wheels=(w["b"],))
    assert plan_pools([here, there]) == {}


@pytest.mark.parametrize(
    ("files", "roots"),
    [
        (
            {"numpy/__init__.py": "", "numpy/core/_m.cpython-311-x86_64-linux-gnu.so": ""},
            ("numpy",),
        ),
        ({"google/protobuf/__init__.py": "", "google/protobuf/x.py": ""}, ("google.protobuf",)),
        (
            {"_cffi_backend.cpython-311-x86_64-linux-gnu.so": "", "cffi/__init__.py": ""},
            ("_cffi_backend", "cffi"),
        ),
        ({"six.py": "", "data/x.txt": ""}, ("six",)),
    ],
)
def test_own_roots(tmp_path: Path, files: dict[str, str], roots: tuple[str, ...]) -> None:
    assert read_contents(build_wheel(tmp_path, "p", files)).own_roots() == roots


def cells_of(scenario: str, count: int = 6) -> tuple[Cell, ...]:
    return tuple(
        Cell(
            scenario=scenario, target="debian:bookworm", arch="x86_64", dlopen="local",
            host="plain", order=(scenario.replace("--", "_"), f"w{n}"), repeat=1,
        )
        for n in range(count)
    )  # fmt: skip


def test_chunks_put_next_sets_of_one_pool_together_in_order(tmp_path: Path) -> None:
    w = corpus(tmp_path)
    seats = plan_pools([wheel_set(k, [w[x] for x in k.split("--")]) for k in ("a", "b", "a--b")])
    group = {k: cells_of(k)[0].group for k in ("a", "b", "a--b", "c")}
    seats = {group[k]: seat for k, seat in seats.items()}
    units = [cells_of("a"), cells_of("c", 30), cells_of("b"), cells_of("a--b")]
    # 48 cells, one job: chunks of up to 16 cells; c has no seat and stays alone, and a does
    # not join b across it
    got = chunks(units, seats, jobs=1)
    assert [[u[0].scenario for u in chunk] for chunk in got] == [["a"], ["c"], ["b", "a--b"]]
    # two jobs: at most half of each job's share of what is left, a set split where that
    # falls (b in halves, a--b down to single cells at the end); c, seatless, stays whole
    two = chunks(units, seats, jobs=2)
    shape = [[(u[0].scenario, len(u)) for u in chunk] for chunk in two]
    assert shape[:4] == [[("a", 6)], [("c", 30)], [("b", 3)], [("b", 3)]], shape
    assert shape[4:] == [[("a--b", 2)]] + [[("a--b", 1)]] * 4, shape
    for split_up in (got, two):
        assert [c for chunk in split_up for u in chunk for c in u] == [c for u in units for c in u]


def test_the_last_chunks_shrink_to_single_cells(tmp_path: Path) -> None:
    w = corpus(tmp_path)
    seats = plan_pools([wheel_set(k, [w[x] for x in k.split("--")]) for k in ("a", "b", "a--b")])
    seat = seats["a--b"]
    units = [cells_of(f"s{n}") for n in range(72)]  # 432 cells of one pool, as the 12 wheels
    got = chunks(units, {u[0].group: seat for u in units}, jobs=2)
    sizes = [sum(len(u) for u in chunk) for chunk in got]
    # 60 cells (MAX_CHUNK_CELLS) while 240 or more are left, then a quarter of what is left
    # (half of each job's share), down to single cells: the jobs end about a cell apart
    assert sizes == [60, 60, 60, 60, 48, 36, 27, 21, 15, 12, 9, 6, 5, 4, 3, 2, 1, 1, 1, 1]
    assert [c for chunk in got for u in chunk for c in u] == [c for u in units for c in u]
    # one job waits for no other: its chunks stay big to the end
    alone = chunks(units, {u[0].group: seat for u in units}, jobs=1)
    assert [sum(len(u) for u in chunk) for chunk in alone] == [60] * 7 + [12]


def test_a_part_of_a_group_hides_what_only_the_other_wheels_install(tmp_path: Path) -> None:
    # a group of a, b (both with numpy 2.0) and d, which brings an optional extra e: a part
    # holding a alone sees numpy and a, as a's own environment would
    w = corpus(tmp_path)
    d = house(tmp_path, "d", {"d": {"d/__init__.py": ""}, "e": {"e.py": ""}}, {})
    group = [w["a"], w["b"], given(d, "d")]
    assert hidden(group, ["a"]) == Hiding(modules=("b", "d", "e"), dists=("b", "d", "e"))
    assert hidden(group, ["a", "d"]) == Hiding(modules=("b",), dists=("b",))
    assert hidden(group, ["a", "b", "d"]) == Hiding()
    # a project with two files (c's numpy 1.26): pip's pick is the group's, and a part
    # holding a wheel that needs it keeps it
    assert hidden([*group, w["c"]], ["a"]) == Hiding(
        modules=("b", "c", "d", "e"), dists=("b", "c", "d", "e")
    )
