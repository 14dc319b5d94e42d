"""The closed sets `wheelclash explain` speaks in, spelled as predictors.toml, results.json
(`findings`, `agreement`) and the reports spell them: the mechanisms by number, the predictors
by name."""

from __future__ import annotations

from enum import StrEnum


class Mechanism(StrEnum):
    """How one wheel breaks another (docs/mechanisms.md); each has a scenario of its name."""

    CALL_ONCE = "1"  # a private runtime's call_once trampoline, interposed
    FIRST_LOADER_HIJACK = "2"  # runtime internals exported by the module imported first
    MIXED_UNWINDERS = "3"  # libgcc_s's unwind functions bound to LLVM's libunwind
    UNIQUE_LAYOUTS = "4"  # STB_GNU_UNIQUE objects of two layouts merged into one
    STATIC_TLS = "5"  # initial-exec TLS beyond glibc's static TLS surplus
    SAME_SONAME = "6"  # two libraries under one SONAME: the first loaded wins
    EXIT_CRASH = "7"  # an interposed global constructed and destroyed twice
    INTERPOSITION = "interposition"  # a bundled library's exported copy binds another's users


class Predictor(StrEnum):
    """What a finding of `explain` is about; README.md's table says when each fires."""

    CALL_ONCE_INTERPOSITION = "call-once-interposition"
    CALL_ONCE_TRAMPOLINE = "call-once-trampoline"
    RUNTIME_INTERNALS = "runtime-internals"
    RUNTIME_COPIES = "runtime-copies"
    UNIQUE_SYMBOLS = "unique-symbols"
    UNIQUE_SHARED = "unique-shared"
    UNIQUE_SAME = "unique-same"
    STATIC_TLS = "static-tls"
    TLS_SIZE = "tls-size"
    BUNDLED_RUNTIME = "bundled-runtime"
    BUNDLED_SONAME = "bundled-soname"
    SHARED_SONAME = "shared-soname"
    RPATH = "rpath"
    RUNPATH = "runpath"
    COMPILER = "compiler"
    DLOPENFLAGS = "dlopenflags"
    BUNDLED_LIBRARY = "bundled-library"
