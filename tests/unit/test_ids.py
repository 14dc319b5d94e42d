"""Cell ids and variants: every id the planner makes parses back to itself, bad ones are refused."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

import pytest

from harness.build.toolchains import load_catalogue
from harness.common.ids import CellId, LogicalId, MalformedId, Variant
from harness.errors import InputError
from harness.scenario.load import Scenario, load_scenario
from harness.scenario.plan import Cell, plan

SCENARIOS: Final = sorted((Path(__file__).resolve().parents[2] / "scenarios").rglob("*.toml"))


def shipped() -> list[Scenario]:
    catalogue = load_catalogue()
    return [load_scenario(path, catalogue) for path in SCENARIOS]


def shipped_cells() -> list[Cell]:
    """Every cell of every shipped scenario on its own targets, and on a foreign arch and an
    image reference holding '/' and ':', as `--target`/`--arch` would make them."""
    cells: list[Cell] = []
    for scenario in shipped():
        cells += plan(scenario)
        cells += plan(scenario, targets=["quay.io/pypa/manylinux_2_28:2025"], arches=["aarch64"])
    return cells


def test_every_planned_id_round_trips_exactly() -> None:
    cells = shipped_cells()
    assert len(SCENARIOS) >= 20 and len(cells) > 1000
    for cell in cells:
        parsed = CellId.parse(cell.id)
        assert parsed == cell.cell_id, cell.id
        assert str(parsed) == cell.id
        assert parsed.group == cell.group
        assert parsed.repeat == cell.repeat
        logical = parsed.logical
        assert (logical.scenario, logical.dlopen, logical.host) == (
            cell.scenario,
            cell.dlopen,
            cell.host,
        )
        assert (logical.order, logical.use, logical.variant) == (cell.order, cell.use, cell.variant)
        assert LogicalId.parse(str(logical)) == logical


def test_the_shipped_scenarios_make_every_shape_of_id() -> None:
    """The round trip above sees each optional part and each dlopen form at least once."""
    ids = [CellId.parse(cell.id) for cell in shipped_cells()]
    logical = [i.logical for i in ids]
    assert any(i.variant and len(i.variant.choices) == 1 for i in logical)
    assert any(len(i.variant.choices) == 2 for i in logical)
    assert any(i.use for i in logical) and any(not i.use for i in logical)
    assert {i.dlopen.partition(":")[0] for i in logical} == {"local", "global-all", "global"}
    assert {i.host for i in logical} == {"plain", "preload-libstdcxx"}
    assert {i.place for i in logical} >= {
        "host",
        "debian-bullseye-x86_64",
        "quay.io-pypa-manylinux_2_28-2025-aarch64",
    }
    assert max(i.repeat for i in ids) >= 3 and max(len(i.order) for i in logical) >= 10


def test_the_parts_of_an_id() -> None:
    text = "tm/debian-bookworm-x86_64/a=gcc-10+b=zig/global:a/preload-libstdcxx/b,a/use:a,b#12"
    cell = CellId.parse(text)
    assert cell.repeat == 12
    assert cell.group == "tm/debian-bookworm-x86_64/a=gcc-10+b=zig"
    assert str(cell.logical) == text.removesuffix("#12")
    assert cell.logical.tail == "global:a/preload-libstdcxx/b,a/use:a,b"
    assert cell.logical.variant.toolchains == {"a": "gcc-10", "b": "zig"}
    assert (cell.logical.order, cell.logical.use) == (("b", "a"), ("a", "b"))
    plain = CellId.parse("call-once/host/local/plain/a,b#1")
    assert not plain.logical.variant and plain.group == "call-once/host"
    assert plain.logical.tail == "local/plain/a,b"


def test_repeats_share_their_logical_cell() -> None:
    first, second = (CellId.parse(f"s/host/global-all/plain/a,b#{n}") for n in (1, 2))
    assert first != second and first.logical == second.logical
    assert str(first.logical) == "s/host/global-all/plain/a,b"
    other = CellId.parse("s/host/global-all/plain/b,a#1")
    assert other.logical != first.logical
    assert len({first.logical, second.logical, other.logical}) == 2


def test_global_first_is_a_dlopen_mode_of_its_own() -> None:
    cell = CellId.parse("atlas/debian-bookworm-x86_64/global-first/plain/fiona,rasterio#2")
    assert cell.logical.dlopen == "global-first"
    assert cell.logical.order == ("fiona", "rasterio") and cell.repeat == 2
    assert str(cell) == "atlas/debian-bookworm-x86_64/global-first/plain/fiona,rasterio#2"
    with pytest.raises(MalformedId, match="global-first or global:<wheel id>"):
        CellId.parse("s/host/global-last/plain/a,b#1")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "does not end in #<repeat>"),
        ("s/host/local/plain/a,b", "does not end in #<repeat>"),
        ("s/host/local/plain/a,b#", "the repeat '' is not a whole number"),
        ("s/host/local/plain/a,b#0", "the repeat '0' is not a whole number"),
        ("s/host/local/plain/a,b#01", "no leading zeros"),
        ("s/host/local/plain/a,b#x", "the repeat 'x'"),
        ("s/host/local/plain/a,b#1#2", "more than one '#'"),
        ("s/x#1", "2 /-separated parts"),
        ("s/host/a=gcc/x/local/plain/a#1", "7 /-separated parts"),
        ("S/host/local/plain/a#1", "'S' is not a scenario name"),
        ("s/host/local/plain/a,A#1", "'A' in the order is not a wheel id"),
        ("s/host/local/plain/a,,b#1", "'' in the order is not a wheel id"),
        ("s/host/local/plain/a,a#1", "the order names a wheel twice"),
        ("s/host/rtld/plain/a#1", "'rtld' is not a dlopen mode"),
        ("s/host/global:/plain/a#1", "'global:' is not a dlopen mode"),
        ("s/host/local/plain/a,b/use:c#1", "names 'c', not imported"),
        ("s/host/local/plain/a,b/use:#1", "'' in the first-use order is not a wheel id"),
        ("s/host//local/plain/a#1", "its variant part is empty"),
        ("s/host/a-gcc/local/plain/a#1", "'a-gcc' is not <wheel id>=<toolchain>"),
        ("s/host/a=gcc+a=zig/local/plain/a#1", "the variant names wheel 'a' twice"),
        ("s/host/a=/local/plain/a#1", "'' is not a toolchain name"),
        ("s/host/local/pla in/a#1", "'pla in' is not a host mode"),
    ],
)
def test_malformed_ids_are_refused_saying_why(text: str, reason: str) -> None:
    with pytest.raises(MalformedId) as caught:
        CellId.parse(text)
    message = str(caught.value)
    assert message.startswith(f"{text!r} is not a cell id: ")
    assert reason in message
    assert "a cell id reads <scenario>/<place>[/<variant>]" in message


def test_a_malformed_id_is_an_input_error_and_a_value_error() -> None:
    with pytest.raises(InputError):
        CellId.parse("nonsense")
    with pytest.raises(ValueError, match="not a cell id"):
        CellId.parse("nonsense")


def test_logical_ids_parse_without_a_repeat_only() -> None:
    text = "s/debian-trixie-x86_64/a=gcc-12/local/plain/a/use:a"
    logical = LogicalId.parse(text)
    assert str(logical) == text and logical.variant == Variant(choices=(("a", "gcc-12"),))
    with pytest.raises(MalformedId, match=re.escape("has no '#'")):
        LogicalId.parse(f"{text}#1")


def test_ids_cannot_be_built_from_bad_parts() -> None:
    """Construction checks as parsing does, so every id that exists spells itself back."""
    good = LogicalId(scenario="s", place="host", dlopen="local", host="plain", order=("a", "b"))
    assert str(CellId(logical=good, repeat=3)) == "s/host/local/plain/a,b#3"
    with pytest.raises(MalformedId, match="'a/b' in the order is not a wheel id"):
        LogicalId(scenario="s", place="host", dlopen="local", host="plain", order=("a/b",))
    with pytest.raises(MalformedId, match="'deb/ian' is not a place"):
        LogicalId(scenario="s", place="deb/ian", dlopen="local", host="plain", order=("a",))
    with pytest.raises(MalformedId, match="the repeat is a whole number from 1"):
        CellId(logical=good, repeat=0)
    with pytest.raises(MalformedId, match=re.escape("'gcc+12' is not a toolchain name")):
        Variant(choices=(("a", "gcc+12"),))


@pytest.mark.parametrize(
    "text", ["", "a=gcc", "a=gcc-10+b=gcc-12", "a=clang-14-libcxx+b=zig+c=gcc-9", "a_1=x.y"]
)
def test_variants_round_trip(text: str) -> None:
    variant = Variant.parse(text)
    assert str(variant) == text
    assert bool(variant) == bool(text)
    assert variant.toolchains == dict(p.split("=") for p in text.split("+") if p)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("a", "'a' is not <wheel id>=<toolchain>"),
        ("a=gcc+", "'' is not <wheel id>=<toolchain>"),
        ("=gcc", "'' is not a wheel id"),
        ("a=gcc=12", "'gcc=12' is not a toolchain name"),
        ("a=gcc+a=zig", "the variant names wheel 'a' twice"),
    ],
)
def test_malformed_variants_are_refused_saying_why(text: str, reason: str) -> None:
    with pytest.raises(MalformedId) as caught:
        Variant.parse(text)
    assert str(caught.value).startswith(f"{text!r} is not a variant: {reason}")
    assert "e.g. a=gcc-10+b=gcc-12" in str(caught.value)


def test_scenario_variants_are_the_id_parts() -> None:
    scenario = next(s for s in shipped() if s.name == "toolchain-matrix")
    assert len(scenario.variants) > 1
    for variant in scenario.variants:
        assert Variant.parse(str(variant)) == variant
        chosen = scenario.variant(variant)
        assert {w.id: w.toolchain for w in chosen.wheels if w.id in variant.toolchains} == (
            variant.toolchains
        )
    cells = plan(scenario)
    assert {str(CellId.parse(c.id).logical.variant) for c in cells} == {
        str(v) for v in scenario.variants
    }
