"""The closed set of verdicts, import-error subkinds and failure kinds, spelled as
results.json spells them.

Scenario expectations, the classifier, results and reports all use these words.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class Verdict(StrEnum):
    """The closed set of verdicts, spelled as they appear in results.json."""

    PASS = "pass"
    SEGFAULT = "segfault"
    ABORT = "abort"
    BUS_ERROR = "bus-error"
    ILLEGAL_INSTRUCTION = "illegal-instruction"
    FPE = "fpe"
    OTHER_SIGNAL = "other-signal"
    HANG = "hang"
    IMPORT_ERROR = "import-error"
    EXIT_CRASH = "exit-crash"
    WRONG_RESULT = "wrong-result"
    NOT_INSTALLABLE = "not-installable"
    INFRA_ERROR = "infra-error"


class ImportErrorKind(StrEnum):
    """Why an import failed, read from the loader's message (or, for a missing dependency,
    from a `ModuleNotFoundError` naming a module that no installed wheel provides). A missing
    library is a shared object that no wheel of the set ships and the target image lacks
    (Tk for `PIL._imagingtk`, say)."""

    UNDEFINED_SYMBOL = "undefined-symbol"
    VERSION_NOT_FOUND = "version-not-found"
    STATIC_TLS = "static-tls"
    MISSING_DEPENDENCY = "missing-dependency"
    MISSING_LIBRARY = "missing-library"
    OTHER = "other"


# Import errors that say the environment lacks something (a wheel left out of the set, a
# system library the target image does not have), not that the wheels conflict: no
# mechanism is credited with them and they are no failure to explain.
NOT_THE_WHEELS: Final = frozenset(
    {ImportErrorKind.MISSING_DEPENDENCY, ImportErrorKind.MISSING_LIBRARY}
)


# Verdicts that mean the process died or misbehaved because of the code under test.
FAILURES: Final = frozenset(Verdict) - {Verdict.PASS, Verdict.NOT_INSTALLABLE, Verdict.INFRA_ERROR}


class FailureKind(StrEnum):
    """Whose failure a failing cell shows (its attribution): one wheel's own,
    which it also shows alone, or that of two or more wheels together."""

    SINGLE_WHEEL = "single-wheel"
    CROSS_WHEEL = "cross-wheel"
