"""wheelclash probe: import extension modules in one order, use them, then exit normally.

Runs inside the target's Python (3.8 or newer), so it uses the standard library only and
is shipped as a file, never built as a string. Usage:

    python probe.py SPEC_JSON

SPEC_JSON holds: "events" (a file to append JSON event lines to), "imports" (a list of
{"module", "global"}), "exercises" (a list of {"module", "function", "threads"}), "snippet"
(optional Python code run after the exercises; a line `# step: LABEL` starts a step of its
own), "victims" (true to use CPython's own C extensions afterwards) and "hide" (optional:
{"modules": dotted prefixes, "dists": canonical distribution names}, what of an environment
shared with other pairs the cell must not see). Exit codes: 0 when every step passed, 10 for
an import error, 11 for a failed check, 12 for bad arguments. After the last step the probe
writes the "sentinel" event and returns to the interpreter, so a crash while the process
shuts down is still seen. After each import step that loaded one of the victims' modules
(a wheel that imports `ssl` itself), the probe writes "loaded": which ones, so the caller knows
the wheels that load a victim before those after them (and so may mend their failures).
"""

import faulthandler
import importlib
import json
import os
import signal
import sys
import threading

EXIT_IMPORT_ERROR = 10
EXIT_WRONG_RESULT = 11
EXIT_USAGE = 12
STEP_MARK = "# step: "


class Events:
    """Append-only event log that survives a crash: each event is one unbuffered write."""

    def __init__(self, path):
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def emit(self, event, **fields):
        fields["event"] = event
        os.write(self.fd, (json.dumps(fields, default=str) + "\n").encode("utf-8"))


def format_exc():
    """The traceback being handled. `traceback` is imported only here: it pulls in linecache,
    tokenize and re, about 10 ms of every probe's start-up, and only failures need it."""
    import traceback

    return traceback.format_exc()


def loaded_libraries():
    """Shared objects mapped into this process, in load order, from /proc/self/maps."""
    seen = []
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                parts = line.split(None, 5)
                if len(parts) == 6:
                    path = parts[5].strip()
                    if ".so" in os.path.basename(path) and path not in seen:
                        seen.append(path)
    except OSError:
        pass
    return seen


def snippet_parts(snippet):
    """The snippet as (label, code) steps: a line `# step: LABEL` starts a part of its own
    (`wheelclash atlas` gives each wheel's exercise one), so a crash names the part it was in.
    Every part is padded with blank lines to keep its line numbers those of the whole snippet,
    and the parts share one namespace: run in order they do what the whole snippet does."""
    lines = snippet.split("\n")
    marks = [n for n, line in enumerate(lines) if line.startswith(STEP_MARK)]
    parts = []
    bounds = [0, *marks, len(lines)]
    for index in range(len(bounds) - 1):
        start, end = bounds[index], bounds[index + 1]
        marked = start in marks
        label = lines[start][len(STEP_MARK) :].strip() if marked else ""
        body = lines[start + 1 if marked else start : end]
        if "\n".join(body).strip():
            parts.append((label, "\n" * (start + 1 if marked else start) + "\n".join(body)))
    return parts


def canonical_name(name):
    """A distribution name as packaging's canonicalize_name spells it. `re` is imported here
    only: nothing needs it unless something is hidden."""
    import re

    return re.sub(r"[-_.]+", "-", name).lower()


def dist_name(dist):
    """A distribution's canonical name, or "" when its metadata cannot be read (such a one
    is kept: the caller meets the same error it would without hiding, when it reads it)."""
    try:
        return canonical_name(dist.metadata.get("Name") or "")
    except Exception:
        return ""


class Hider:
    """A finder (the path finder, or another on sys.meta_path), blind to what the "hide" spec
    names: a cell whose wheels share an
    environment with other pairs' sees its own, as if the others were not installed. A hidden
    module is not found (`import` raises the usual ModuleNotFoundError, find_spec gives None),
    and a hidden distribution has no metadata; pkgutil does not list it either
    (`hide_from_pkgutil`). The standard library is never hidden: a
    distribution that ships a backport (`enum`, `typing`) must not take the original away."""

    def __init__(self, modules, dists, finder):
        self.modules = tuple(modules)
        self.dists = frozenset(canonical_name(name) for name in dists)
        self.finder = finder

    @property
    def stdlib(self):
        return known_stdlib()

    # Equal to the finder it hides behind: code that removes its own finder from
    # sys.meta_path, or looks for one there (`PathFinder in sys.meta_path`), finds it.
    def __eq__(self, other):
        return other is self or other is self.finder

    def __hash__(self):
        return hash(id(self.finder))

    def hides(self, name):
        return any(name == p or name.startswith(p + ".") for p in self.modules)

    def find_spec(self, name, path=None, target=None):
        spec = self.finder.find_spec(name, path, target)
        if spec is None or not self.hides(name) or self.in_stdlib(spec):
            return spec
        return None

    def in_stdlib(self, spec):
        """Whether everything the spec would load lies in the standard library."""
        places = list(spec.submodule_search_locations or [])
        if spec.has_location and spec.origin:
            places.append(spec.origin)
        return bool(places) and all(under_stdlib(place, self.stdlib) for place in places)

    def find_distributions(self, *args, **kwargs):
        """The finder's distributions (importlib.metadata asks every finder on
        sys.meta_path), but the hidden ones; none from a finder that lists none."""
        listed = getattr(self.finder, "find_distributions", None)
        for dist in listed(*args, **kwargs) if listed else ():
            if dist_name(dist) not in self.dists:
                yield dist

    def invalidate_caches(self):
        invalidate = getattr(self.finder, "invalidate_caches", None)
        if invalidate is not None:
            invalidate()


# The standard library's folders, found when first needed: sysconfig costs a cell about a
# millisecond, and only a hidden name found, or pkgutil listing, asks.
STDLIB = []


def known_stdlib():
    if not STDLIB:
        STDLIB.append(stdlib_roots())
    return STDLIB[0]


def stdlib_roots():
    """The standard library's folders, resolved (a venv's are its base interpreter's)."""
    import sysconfig

    paths = sysconfig.get_paths()
    return tuple(sorted({os.path.realpath(paths[key]) for key in ("stdlib", "platstdlib")}))


def under_stdlib(place, roots):
    """Whether a file or folder lies in the standard library. A site-packages inside it (a
    Python installed without a venv, as in the python:3.x images) does not count."""
    real = os.path.realpath(place)
    for root in roots:
        relative = os.path.relpath(real, root)
        if relative == os.pardir or relative.startswith(os.pardir + os.sep):
            continue
        if relative.split(os.sep, 1)[0] not in ("site-packages", "dist-packages"):
            return True
    return False


def hiders(entries, modules, dists):
    """`entries` (sys.meta_path) with every finder that finds modules by spec behind a Hider:
    the path finder, and those that .pth files put there at start-up (an editable install's,
    a namespace package's); the built-in and frozen importers serve only the standard
    library's own modules and are kept as they are."""
    import importlib.machinery

    kept = (importlib.machinery.BuiltinImporter, importlib.machinery.FrozenImporter)
    return [
        entry
        if entry in kept
        or isinstance(entry, (Hider, PkgutilWatch))
        or not hasattr(entry, "find_spec")
        else Hider(modules, dists, entry)
        for entry in entries
    ]


class HidingPath(list):
    """sys.meta_path while hiding: a finder put on it (insert, append, extend, +=, an item or
    a slice set) is put behind a Hider as it is put there, so not even the import that puts
    an import hook there finds through it what is hidden."""

    def __init__(self, entries, modules, dists):
        self.modules, self.dists = modules, dists
        super().__init__(hiders(list(entries), modules, dists))

    def _wrapped(self, entries):
        return hiders(list(entries), self.modules, self.dists)

    def insert(self, index, entry):
        super().insert(index, self._wrapped([entry])[0])

    def append(self, entry):
        super().append(self._wrapped([entry])[0])

    def extend(self, entries):
        super().extend(self._wrapped(entries))

    def __iadd__(self, entries):
        self.extend(entries)
        return self

    def __setitem__(self, index, value):
        if isinstance(index, slice):
            super().__setitem__(index, self._wrapped(value))
        else:
            super().__setitem__(index, self._wrapped([value])[0])


def hide(settings):
    """Put Hiders in the finders' places on sys.meta_path, before the first import, and make
    it a HidingPath."""
    import importlib.machinery

    modules, dists = settings.get("modules", ()), settings.get("dists", ())
    rehide(settings)
    path = [
        h for h in sys.meta_path if getattr(h, "finder", None) is importlib.machinery.PathFinder
    ]
    HIDING.append(path[0] if path else Hider(modules, dists, importlib.machinery.PathFinder))
    if "pkgutil" in sys.modules:
        hide_from_pkgutil(sys.modules["pkgutil"])
    else:
        # Importing pkgutil costs a cell about 15 ms, and few use it: it is hidden from as
        # it is imported, by whatever imports it.
        sys.meta_path.insert(0, PkgutilWatch())


def rehide(settings):
    """Put a Hider before each finder on sys.meta_path that has none: at start-up, and after
    each step, for the finders the tested code put there itself past HidingPath (a list of
    its own set as sys.meta_path, an extension's C code), which would find what is hidden."""
    modules, dists = settings.get("modules", ()), settings.get("dists", ())
    if not isinstance(sys.meta_path, HidingPath):  # at start-up, or the tested code set it
        sys.meta_path = HidingPath(sys.meta_path, modules, dists)
    wrapped = hiders(sys.meta_path, modules, dists)  # one put there past the list's methods
    if list(map(id, wrapped)) != list(map(id, sys.meta_path)):  # (3.8: no zip strict=)
        sys.meta_path[:] = wrapped
    pkgutil = sys.modules.get("pkgutil")
    if pkgutil is not None and HIDING:
        hide_from_pkgutil(pkgutil)  # imported past the watch (a finder put before it)


# The Hider of the path finder, once hiding has started: what pkgutil's lister consults.
HIDING = []


class PkgutilWatch:
    """First on sys.meta_path until pkgutil is imported: finds nothing itself, but hands the
    import of pkgutil the spec the finders after it give, with a loader that hides from the
    module as soon as it has run, before whoever imported it can list anything."""

    def find_spec(self, name, path=None, target=None):
        if name != "pkgutil":
            return None
        for finder in [entry for entry in sys.meta_path if entry is not self]:
            find = getattr(finder, "find_spec", None)
            spec = find(name, path, target) if find is not None else None
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = HidingLoader(spec.loader)
                return spec
        return None


class HidingLoader:
    """pkgutil's own loader, hiding from the module once it has run; then the module's
    __loader__ and __spec__.loader are the original again, as if it had loaded it alone."""

    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        create = getattr(self.loader, "create_module", None)
        return create(spec) if create is not None else None

    def exec_module(self, module):
        self.loader.exec_module(module)
        sys.meta_path[:] = [entry for entry in sys.meta_path if not isinstance(entry, PkgutilWatch)]
        module.__loader__ = self.loader
        if getattr(module, "__spec__", None) is not None:
            module.__spec__.loader = self.loader
        hide_from_pkgutil(module)

    def __getattr__(self, name):
        return getattr(self.loader, name)


def hide_from_pkgutil(pkgutil):
    """pkgutil.iter_modules and walk_packages list the modules of sys.path's folders by reading
    them, not through sys.meta_path: give them a lister that leaves the hidden out (but never
    the standard library's). Once per module."""
    import functools

    listed = pkgutil.iter_importer_modules
    if getattr(listed, "wheelclash_hides", False):
        return
    hider = HIDING[0]

    @functools.wraps(listed)  # keeps the singledispatch `register`, for code that extends it
    def iter_importer_modules(importer, prefix=""):
        folder = getattr(importer, "path", None)
        stdlib = isinstance(folder, str) and under_stdlib(folder, hider.stdlib)
        for name, is_package in listed(importer, prefix):
            if stdlib or not hider.hides(name):
                yield name, is_package

    iter_importer_modules.wheelclash_hides = True
    pkgutil.iter_importer_modules = iter_importer_modules


def _use_hashlib():
    import hashlib

    digest = hashlib.sha256(b"abc").hexdigest()
    if digest != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad":
        raise AssertionError("sha256('abc') gave " + digest)


def _use_ssl():
    import ssl

    context = ssl.create_default_context()
    if context.verify_mode != ssl.CERT_REQUIRED:
        raise AssertionError("default SSL context does not verify certificates")


def _use_sqlite():
    import sqlite3

    db = sqlite3.connect(":memory:")
    db.execute("create table t (x integer)")
    db.executemany("insert into t values (?)", [(1,), (2,), (3,)])
    (total,) = db.execute("select sum(x) from t").fetchone()
    db.close()
    if total != 6:
        raise AssertionError("sqlite summed to %r" % (total,))


def _use_ctypes():
    import ctypes

    if ctypes.c_int(41).value + 1 != 42:
        raise AssertionError("ctypes arithmetic")


def _roundtrip(module_name):
    def use():
        module = importlib.import_module(module_name)
        data = b"wheelclash " * 64
        if module.decompress(module.compress(data)) != data:
            raise AssertionError(module_name + " round trip changed the data")

    return use


def _use_expat():
    import pyexpat

    seen = []
    parser = pyexpat.ParserCreate()
    parser.StartElementHandler = lambda name, attrs: seen.append((name, attrs))
    parser.Parse("<wheel name='clash'/>", True)
    if seen != [("wheel", {"name": "clash"})]:
        raise AssertionError("expat parsed %r" % (seen,))


def _use_decimal():
    import decimal

    if decimal.Decimal("0.1") * 3 != decimal.Decimal("0.3"):
        raise AssertionError("decimal arithmetic")


VICTIMS = (
    ("_hashlib", _use_hashlib),
    ("_ssl", _use_ssl),
    ("_sqlite3", _use_sqlite),
    ("_ctypes", _use_ctypes),
    ("_lzma", _roundtrip("lzma")),
    ("_bz2", _roundtrip("bz2")),
    ("zlib", _roundtrip("zlib")),
    ("pyexpat", _use_expat),
    ("_decimal", _use_decimal),
)


def run_exercise(function, threads):
    """Call an exercise, from `threads` threads at once when asked; re-raise the first error."""
    if threads <= 1:
        result = function()
        if result is False:
            raise AssertionError("exercise returned False")
        return
    errors = []

    def worker():
        try:
            if function() is False:
                errors.append(AssertionError("exercise returned False"))
        except BaseException as exc:  # reported below, in the main thread
            errors.append(exc)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    if errors:
        raise errors[0]


def main(argv):
    if len(argv) != 2:
        sys.stderr.write("usage: probe.py SPEC_JSON\n")
        return EXIT_USAGE
    try:
        spec = json.loads(argv[1])
        events = Events(spec["events"])
    except (ValueError, KeyError, OSError) as exc:
        sys.stderr.write("probe: bad spec: %s\n" % (exc,))
        return EXIT_USAGE

    if spec.get("hide"):
        hide(spec["hide"])
    faulthandler.enable(all_threads=True)
    if hasattr(faulthandler, "register"):
        faulthandler.register(signal.SIGUSR1, all_threads=True)
    base_flags = sys.getdlopenflags()
    events.emit("start", pid=os.getpid(), python=sys.version.split()[0], dlopenflags=base_flags)

    modules = {}
    victims = [name for name, _ in VICTIMS]
    present = {name for name in victims if name in sys.modules}
    for item in spec.get("imports", []):
        name = item["module"]
        flags = base_flags | (os.RTLD_GLOBAL if item.get("global") else 0)
        events.emit("step", what="import " + name, dlopenflags=flags)
        sys.setdlopenflags(flags)
        try:
            modules[name] = importlib.import_module(name)
        except BaseException as exc:
            events.emit(
                "import-error",
                module=name,
                type=type(exc).__name__,
                message=str(exc),
                traceback=format_exc(),
            )
            events.emit("libraries", paths=loaded_libraries())
            return EXIT_IMPORT_ERROR
        finally:
            sys.setdlopenflags(base_flags)
        if spec.get("hide"):
            rehide(spec["hide"])
        now = [name for name in victims if name not in present and name in sys.modules]
        if now:
            events.emit("loaded", step="import " + name, modules=now)
            present.update(now)

    for item in spec.get("exercises", []):
        name, function = item["module"], item["function"]
        where = "exercise %s.%s" % (name, function)
        if spec.get("hide"):
            rehide(spec["hide"])
        events.emit("step", what=where)
        try:
            run_exercise(getattr(modules[name], function), int(item.get("threads", 1)))
        except BaseException as exc:
            message = "%s: %s" % (type(exc).__name__, exc)
            events.emit("wrong-result", where=where, message=message, traceback=format_exc())
            events.emit("libraries", paths=loaded_libraries())
            return EXIT_WRONG_RESULT

    namespace = {"__name__": "__exercise__"}
    for label, code in snippet_parts(spec.get("snippet") or ""):
        where = "exercise " + label if label else "exercise snippet"
        if spec.get("hide"):
            rehide(spec["hide"])
        events.emit("step", what=where)
        try:
            exec(compile(code, "<exercise>", "exec"), namespace)
        except BaseException as exc:
            message = "%s: %s" % (type(exc).__name__, exc)
            events.emit("wrong-result", where=where, message=message)
            events.emit("libraries", paths=loaded_libraries())
            return EXIT_WRONG_RESULT

    if spec.get("victims"):
        for name, use in VICTIMS:
            where = "victim " + name
            # The step is announced before the import: a crash while the victim loads is
            # the victim's step, not the one before it.
            events.emit("step", what=where)
            try:
                importlib.import_module(name)
            except ImportError:
                events.emit("victim-missing", module=name)
                continue
            try:
                use()
            except BaseException as exc:
                events.emit(
                    "wrong-result", where=where, message="%s: %s" % (type(exc).__name__, exc)
                )
                return EXIT_WRONG_RESULT

    events.emit("libraries", paths=loaded_libraries())
    sys.stdout.flush()
    events.emit("sentinel")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
