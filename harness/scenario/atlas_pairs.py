"""The atlas's scenarios: one per unordered pair of corpus wheels, built the way `check`
builds one (from_wheels.py), run in both orders and in every dlopen mode asked.

Each pair is a scenario of its own, so it is installed on its own, as users install it: what
a cell shows is the pair and its dependencies alone (no other corpus wheel that an import
could pick up when present), and a pair that pip cannot install together is
`not-installable` with pip's reason while every other pair runs. Each wheel's exercise is a
step of its own in the cell (`# step: <id>`), so a crash names whose exercise it was in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Final

from harness.common.ids import GLOBAL_ALL, GLOBAL_FIRST, LOCAL
from harness.scenario.corpus import Corpus, CorpusWheel, pair_name
from harness.scenario.from_wheels import CheckOptions, Input, scenario_for
from harness.scenario.load import Scenario

ATLAS_MODES: Final = (LOCAL, GLOBAL_ALL, GLOBAL_FIRST)
STEP_MARK: Final = "# step: "  # the probe's (resources/probe.py)


@dataclass(frozen=True, kw_only=True)
class AtlasOptions:
    targets: tuple[str, ...]
    arch: tuple[str, ...] = ()
    dlopen: tuple[str, ...] = ATLAS_MODES


def exercise_of(wheels: Sequence[CorpusWheel]) -> str:
    """The pair's exercise: each wheel's, in corpus order, as steps named by wheel id."""
    return "\n".join(f"{STEP_MARK}{w.id}\n{w.exercise.strip()}" for w in wheels if w.exercise)


def pair_scenario(
    corpus: Corpus, a: CorpusWheel, b: CorpusWheel, options: AtlasOptions
) -> Scenario:
    """The scenario of one pair: both orders, every mode, expected to pass."""
    inputs = [Input(id=w.id, wheel=w.wheel, requirement=w.requirement) for w in (a, b)]
    check = CheckOptions(
        targets=options.targets,
        arch=options.arch,
        dlopen=options.dlopen,
        exercise=exercise_of((a, b)),
        timeout_s=corpus.timeout_s,
        victims=corpus.victims,
        pairs=True,
        # Not a singleton per pair (each wheel's would run 39 times in a 40-wheel corpus):
        # attribution runs the singletons of failing pairs only (harness/run/attribute.py).
        singletons=False,
        imports=tuple(f"{w.id}={','.join(w.imports)}" for w in (a, b) if w.imports),
    )
    description = f"atlas {corpus.name}: {a.project} and {b.project}"
    scenario, _ = scenario_for(inputs, check, pair_name(a.id, b.id), description)
    return replace(scenario, path=corpus.path)


def pair_scenarios(corpus: Corpus, options: AtlasOptions) -> tuple[Scenario, ...]:
    """Every pair's scenario, in corpus order."""
    return tuple(pair_scenario(corpus, a, b, options) for a, b in corpus.pairs())
