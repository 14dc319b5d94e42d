"""The atlas's scenarios: one per unordered pair of corpus wheels, built the way `check`
builds one (from_wheels.py), run in both orders and in every dlopen mode asked, and one per
wheel alone.

Each pair is a scenario of its own, so it is an environment of its own, as users install it:
what a cell shows is the pair and its dependencies alone (no other corpus wheel that an import
could pick up when present; pairs that share an installed pool hide the rest of it, see
harness/run/pools.py), and a pair that pip cannot install together is `not-installable` with
pip's reason while every other pair runs. Each wheel's exercise is a
step of its own in the cell (`# step: <id>`), so a crash names whose exercise it was in.
Each wheel also runs alone, in a scenario named by its id (`fiona`), in the same modes: the
singletons that attribution reads for every pair holding the same wheel file
(harness/analysis/borrowed.py), and that `check --against` takes from an edition.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Final

from harness.common.ids import GLOBAL_ALL, GLOBAL_FIRST, LOCAL
from harness.scenario.corpus import Corpus, CorpusWheel, pair_name
from harness.scenario.from_wheels import CheckOptions, Input, scenario_for, wheel_id_for
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


def exercise_for(exercise: str, kept: Sequence[str], ids: Sequence[str]) -> str:
    """`exercise` for a run of only the wheels `kept`: the steps named by the id of a wheel
    of `ids` that is not kept are left out (a wheel run alone runs its own exercise, not its
    partner's, which would import the partner); unnamed steps and those of other labels stay.
    Blank lines keep every kept line's number, so a traceback's lines are the whole
    exercise's."""
    dropped = set(ids) - set(kept)
    out: list[str] = []
    skipping = False
    for line in exercise.split("\n"):
        if line.startswith(STEP_MARK):
            skipping = line[len(STEP_MARK) :].strip() in dropped
        out.append("" if skipping else line)
    return "\n".join(out)


def pair_scenario(
    corpus: Corpus, a: CorpusWheel, b: CorpusWheel, options: AtlasOptions
) -> Scenario:
    """The scenario of one pair: both orders, every mode, expected to pass."""
    description = f"atlas {corpus.name}: {a.project} and {b.project}"
    return _scenario(corpus, (a, b), options, pair_name(a.id, b.id), description)


def singleton_name(wheel_id: str) -> str:
    """The scenario name of a wheel alone: its id with `-` for `_`."""
    return wheel_id.replace("_", "-")


def singleton_scenario(corpus: Corpus, wheel: CorpusWheel, options: AtlasOptions) -> Scenario:
    """The scenario of one wheel alone, in every mode, expected to pass."""
    description = f"atlas {corpus.name}: {wheel.project} alone"
    return _scenario(corpus, (wheel,), options, singleton_name(wheel.id), description)


def group_scenario(
    corpus: Corpus, name: str, ids: Sequence[str], options: AtlasOptions
) -> Scenario:
    """The scenario of a screening group (harness/scenario/screen_groups.py): its wheels
    installed together, each wheel's exercise a step of its own. Its cells are made by the
    screening (harness/run/screen.py), not planned from its matrix."""
    wheels = [corpus.wheel(wheel_id) for wheel_id in ids]
    description = f"atlas {corpus.name}: screening group of {', '.join(ids)}"
    # its orders, should it be planned, are the sequence and its reverse: a 2-way array
    return _scenario(corpus, wheels, options, name, description, cover=2)


def _scenario(
    corpus: Corpus,
    wheels: Sequence[CorpusWheel],
    options: AtlasOptions,
    name: str,
    description: str,
    cover: int | None = None,
) -> Scenario:
    inputs = [Input(id=w.id, wheel=w.wheel, requirement=w.requirement) for w in wheels]
    check = CheckOptions(
        targets=options.targets,
        arch=options.arch,
        dlopen=options.dlopen,
        exercise=exercise_of(wheels),
        timeout_s=corpus.timeout_s,
        victims=corpus.victims,
        pairs=len(wheels) == 2 and cover is None,
        cover=cover,
        # Not a singleton per pair (each wheel's would run 39 times in a 40-wheel corpus):
        # attribution runs the singletons of failing pairs only (harness/run/attribute.py).
        singletons=False,
        imports=tuple(f"{w.id}={','.join(w.imports)}" for w in wheels if w.imports),
    )
    scenario, _ = scenario_for(inputs, check, name, description)
    return replace(scenario, path=corpus.path)


def pair_scenarios(corpus: Corpus, options: AtlasOptions) -> tuple[Scenario, ...]:
    """Every wheel's singleton scenario, then every pair's, in corpus order."""
    return (
        *(singleton_scenario(corpus, w, options) for w in corpus.wheels),
        *(pair_scenario(corpus, a, b, options) for a, b in corpus.pairs()),
    )


def screened_scenarios(
    corpus: Corpus, pairs: Sequence[tuple[str, str]], options: AtlasOptions
) -> tuple[Scenario, ...]:
    """Every wheel's singleton scenario, then the scenarios of the pairs that screening
    chose (harness/run/screen.py), in corpus order."""
    chosen = {frozenset(p) for p in pairs}
    return (
        *(singleton_scenario(corpus, w, options) for w in corpus.wheels),
        *(
            pair_scenario(corpus, a, b, options)
            for a, b in corpus.pairs()
            if frozenset((a.id, b.id)) in chosen
        ),
    )


def against(corpus: Corpus, given: Sequence[Input], exercise: str = "") -> Corpus:
    """The corpus with the given wheels in it (`check --against`): a given wheel of a corpus
    wheel's project takes that wheel's place (its id, imports and exercise stay, so its
    pairs are the atlas's own), the others come last, with `exercise` as theirs."""
    wheels = list(corpus.wheels)
    for item in given:
        new = CorpusWheel(
            id=item.id,
            project=item.id,
            requirement=item.requirement,
            wheel=item.wheel,
            exercise=exercise,
        )
        at = next(
            (i for i, w in enumerate(wheels) if item.id in (w.id, wheel_id_for(w.project))), None
        )
        if at is None:
            wheels.append(new)
        else:
            wheels[at] = replace(wheels[at], requirement=item.requirement, wheel=item.wheel)
    return replace(corpus, wheels=tuple(wheels))


def against_scenarios(
    corpus: Corpus, given_ids: Sequence[str], options: AtlasOptions
) -> tuple[Scenario, ...]:
    """Every wheel alone, then every pair with a given wheel in it (the corpus from
    `against`)."""
    mine = {
        w.id for w in corpus.wheels if w.id in given_ids or wheel_id_for(w.project) in given_ids
    }
    return (
        *(singleton_scenario(corpus, w, options) for w in corpus.wheels),
        *(
            pair_scenario(corpus, a, b, options)
            for a, b in corpus.pairs()
            if a.id in mine or b.id in mine
        ),
    )
