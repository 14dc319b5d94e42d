"""`wheelclash check` on real PyPI wheels, pinned, on debian:bookworm in containers.

Each test is one `check --download` run of a few real wheels whose behaviour under the
loading modes is known (measured by hand first, with the same code outside wheelclash):

1. duckdb 2.0.1 puts its extension `_duckdb` at the top level beside the pure-Python
   `duckdb/`: the cells import the public `duckdb` (which loads `_duckdb`) first;
2. lightgbm 4.7.0 has no extension module: `import lightgbm` loads `lib_lightgbm.so` with
   ctypes (and the system's libgomp.so.1);
3. polars 2.1.0 is pure Python: its native code is in the dependency polars-runtime-32;
4. duckdb RTLD_GLOBAL before psycopg2-binary 2.9.13 crashes psycopg2's TLS start-up (the
   public `import duckdb` imports hashlib, so the system's libcrypto becomes global and
   psycopg2's bundled libssl mixes it with its own libcrypto); with `--import duckdb=_duckdb`
   the same pair passes;
5. pyarrow 26.0.1 loaded RTLD_GLOBAL breaks CPython's `_ssl` by itself, in every order;
6. fiona 1.10.1 RTLD_GLOBAL before rasterio 1.4.4 segfaults while rasterio loads (their
   bundled PROJ copies export the same C++ names).

Every wheel and dependency is pinned (here, and in tests/data/real-wheels/constraints.txt),
and `--download` keeps each requirement's wheels in a wheelhouse under the cache folder
(~/.cache/wheelclash/wheelhouses, which CI keeps), so a warm run downloads nothing: it
installs each set in its container and runs the cells. Cold, the wheelhouses are 260 MB.

Warm runtime of this file (bookworm image and wheelhouses cached), as
`pytest tests/integration/test_real_wheels.py -p no:randomly -q` runs it on this machine (2
cores shared with other work, Docker on fuse-overlayfs): 71 s (the four runs 33, 7, 16 and
14 s), and 139 s while other work loaded the machine (load rising to 190).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from harness import paths
from harness.cli import main
from harness.common.verdicts import FailureKind, Verdict
from harness.evidence.results import Attribution, CellResult
from tests.integration.conftest import REPO, cells_in

SCHEMA = json.loads(paths.RESULTS_SCHEMA.read_text())
TARGET = "debian:bookworm"
CONSTRAINTS = REPO / "tests" / "data" / "real-wheels" / "constraints.txt"
DUCKDB = "duckdb==2.0.1"
PSYCOPG2 = "psycopg2-binary==2.9.13"
LIGHTGBM = "lightgbm==4.7.0"
POLARS = "polars==2.1.0"
PYARROW = "pyarrow==26.0.1"
MSGPACK = "msgpack==1.2.4"
FIONA = "fiona==1.10.1"
RASTERIO = "rasterio==1.4.4"

# The first use of each wheel, run in every cell after the imports, for the wheels the cell
# imported (a pair's cell imports two of the set; the others are installed, not loaded).
EXERCISE = """
import sys
if "duckdb" in sys.modules:
    import duckdb
    assert duckdb.execute("select 6 * 7").fetchone() == (42,)
elif "_duckdb" in sys.modules:
    import _duckdb
    assert _duckdb.connect().execute("select 6 * 7").fetchone() == (42,)
if "lightgbm" in sys.modules:
    import lightgbm, numpy
    data = lightgbm.Dataset(numpy.arange(40.0).reshape(20, 2), label=numpy.arange(20.0) % 2)
    assert data.construct().num_data() == 20
if "polars" in sys.modules:
    import polars
    frame = polars.DataFrame({"a": [1, 2, 3]})
    assert frame.select(polars.col("a").sum()).item() == 6
if "psycopg2" in sys.modules:
    # A loopback server (containers have no network, but a loopback) answers libpq's
    # SSLRequest with "S" and hangs up after the ClientHello: libpq and OpenSSL start TLS
    # for real, then psycopg2 raises OperationalError.
    import socket, threading, psycopg2
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    hello = []
    def answer():
        peer, _ = server.accept()
        peer.recv(8)
        peer.sendall(b"S")
        hello.append(peer.recv(4096))
        peer.close()
    listener = threading.Thread(target=answer, daemon=True)
    listener.start()
    try:
        psycopg2.connect(host="127.0.0.1", port=server.getsockname()[1], sslmode="require",
                         user="u", dbname="d", connect_timeout=5)
    except psycopg2.OperationalError:
        pass
    else:
        raise AssertionError("a fake server accepted the connection")
    listener.join(5)
    assert hello and hello[0][0] == 0x16, "libpq sent no TLS handshake record"
if "pyarrow" in sys.modules:
    import io, pyarrow, pyarrow.parquet
    table = pyarrow.table({"a": [1, 2, 3]})
    sink = io.BytesIO()
    pyarrow.parquet.write_table(table, sink)
    assert pyarrow.parquet.read_table(io.BytesIO(sink.getvalue())).equals(table)
if "msgpack" in sys.modules:
    import msgpack
    assert msgpack.unpackb(msgpack.packb([1, "x"])) == [1, "x"]
if "rasterio" in sys.modules:
    import numpy, rasterio
    from rasterio.io import MemoryFile
    from rasterio.transform import from_origin
    with MemoryFile() as memory:
        profile = dict(driver="GTiff", width=4, height=4, count=1, dtype="uint8",
                       transform=from_origin(0, 4, 1, 1))
        with memory.open(**profile) as raster:
            raster.write(numpy.full((1, 4, 4), 7, dtype="uint8"))
        with memory.open() as raster:
            assert int(raster.read(1).sum()) == 112
if "fiona" in sys.modules:
    import fiona.io
    schema = {"geometry": "Point", "properties": {"n": "int"}}
    with fiona.io.MemoryFile() as memory:
        with memory.open(driver="GeoJSON", schema=schema, crs="EPSG:4326") as layer:
            layer.write({"geometry": {"type": "Point", "coordinates": (1.0, 2.0)},
                         "properties": {"n": 3}})
        with memory.open() as layer:
            assert [feature["properties"]["n"] for feature in layer] == [3]
"""

pytestmark = pytest.mark.docker


def check(
    capsys: pytest.CaptureFixture[str], results: Path, *args: str
) -> tuple[int, dict[str, dict[str, CellResult]], dict[str, Any]]:
    """`check --download` of pinned requirements on bookworm: the exit code, the cells by
    dlopen mode and order (`a,b`; a wheel's singleton cell is `a`), and results.json."""
    code = main(
        [
            "check",
            "--download",
            *args,
            "--constraint",
            str(CONSTRAINTS),
            "--exercise",
            EXERCISE,
            "--target",
            TARGET,
            "--backend",
            "docker",
            "--results",
            str(results),
            "--json",
        ]
    )
    document: dict[str, Any] = json.loads(capsys.readouterr().out)
    jsonschema.validate(document, SCHEMA)
    modes: dict[str, dict[str, CellResult]] = {}
    for cell in cells_in(document):
        modes.setdefault(cell.cell.dlopen, {})[",".join(cell.cell.order)] = cell
    return code, modes, document


def failing(cells: Mapping[str, CellResult]) -> dict[str, Verdict]:
    """The orders whose cell did not pass, with their verdicts."""
    return {o: c.outcome.verdict for o, c in cells.items() if c.outcome.verdict != Verdict.PASS}


def loaded(cell: CellResult, suffix: str) -> bool:
    """Whether a library whose path ends with `suffix` was mapped in the cell's process
    (at its failure, or at the probe's end for a passing cell)."""
    return any(path.endswith(suffix) for path in cell.evidence.libraries)


def test_public_imports_of_real_wheels_and_a_crash_only_the_public_duckdb_causes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Points 1-4: duckdb's public package, lightgbm's ctypes library and polars' runtime
    wheel are imported as users import them, and pass; duckdb RTLD_GLOBAL before psycopg2
    crashes psycopg2's TLS start-up, and nothing else fails."""
    code, modes, _ = check(
        capsys, tmp_path, DUCKDB, PSYCOPG2, LIGHTGBM, POLARS, "--pairs", "--dlopen", "global:duckdb"
    )
    cells = modes["global:duckdb"]
    crash = "duckdb,psycopg2_binary"
    singletons = {"duckdb", "psycopg2_binary", "lightgbm", "polars"}
    assert singletons <= set(cells) and len(cells) == 4 + 12  # each alone, then 6 pairs × 2
    assert set(failing(cells)) == {crash}, {o: c.outcome.detail for o, c in cells.items()}
    assert code == 1

    # 4. The crash: in psycopg2.connect, from the exercise. Whether the mixed OpenSSL pair
    # faults or glibc aborts on the bad free depends on the heap's layout (both are seen).
    crashed = cells[crash]
    assert crashed.outcome.verdict in {Verdict.SEGFAULT, Verdict.ABORT}
    assert crashed.outcome.last_step == "exercise snippet"
    assert "psycopg2/__init__.py" in crashed.evidence.python_stack
    assert " in connect" in crashed.evidence.python_stack
    # 1. The cell imported the public package, RTLD_GLOBAL, and then its extension module,
    # as its stored reproducer shows; the public import brought CPython's _hashlib (with
    # the system's libcrypto) into the process, which `import _duckdb` alone does not.
    steps = "sys.setdlopenflags(f|os.RTLD_GLOBAL);import duckdb as m0;sys.setdlopenflags(f);"
    steps += "sys.setdlopenflags(f|os.RTLD_GLOBAL);import _duckdb as m1;sys.setdlopenflags(f);"
    assert steps + "import psycopg2 as m2;" in crashed.cell.reproducer
    assert loaded(crashed, "/_hashlib.cpython-311-x86_64-linux-gnu.so")
    assert loaded(crashed, "/libcrypto.so.3")
    assert crashed.attribution == Attribution(
        culprits=("duckdb", "psycopg2_binary"),
        failure_kind=FailureKind.CROSS_WHEEL,
        step="exercise snippet",
    )
    # psycopg2 first: its libssl bound its own libcrypto before duckdb's came, and passes.
    assert cells["psycopg2_binary,duckdb"].outcome.verdict == Verdict.PASS

    # 2. lightgbm, a wheel without an extension module, is accepted and its ctypes library
    # is loaded in every cell it is in; 3. polars' native code from its runtime wheel too.
    for order, cell in cells.items():
        ids = order.split(",")
        assert ("lightgbm" in ids) == loaded(cell, "/lightgbm/lib/lib_lightgbm.so"), order
        runtime = "/_polars_runtime_32/_polars_runtime.abi3.so"
        assert ("polars" in ids) == loaded(cell, runtime), order
    assert "import lightgbm as m0;" in cells["lightgbm"].cell.reproducer
    assert "import polars as m0;" in cells["polars"].cell.reproducer


def test_the_private_duckdb_extension_alone_leaves_psycopg2_working(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Point 4's control: `--import duckdb=_duckdb` loads only the extension module
    RTLD_GLOBAL, and psycopg2's TLS start-up then works in both orders."""
    imports = ["--import", "duckdb=_duckdb", "--dlopen", "global:duckdb"]
    code, modes, _ = check(capsys, tmp_path, DUCKDB, PSYCOPG2, *imports)
    cells = modes["global:duckdb"]
    orders = {"duckdb", "psycopg2_binary", "duckdb,psycopg2_binary", "psycopg2_binary,duckdb"}
    assert set(cells) == orders
    assert failing(cells) == {}, {o: c.outcome.stderr_tail for o, c in cells.items()}
    assert code == 0
    # Only the extension module, RTLD_GLOBAL, then psycopg2: no public `duckdb` package.
    steps = "sys.setdlopenflags(f|os.RTLD_GLOBAL);import _duckdb as m0;sys.setdlopenflags(f);"
    assert steps + "import psycopg2 as m1;exec(" in cells["duckdb,psycopg2_binary"].cell.reproducer


def test_pyarrow_global_breaks_ssl_by_itself_in_every_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Point 5: with every module RTLD_GLOBAL, pyarrow's libparquet (OpenSSL linked in and
    exported) takes over the system libcrypto's calls, and `ssl.create_default_context()`
    segfaults in pyarrow's own cell and in both orders with msgpack; pyarrow alone is the
    culprit of each. (No `local` cells: pyarrow alone sometimes aborts at exit there.)"""
    code, modes, document = check(capsys, tmp_path, PYARROW, MSGPACK, "--dlopen", "global-all")
    cells = modes["global-all"]
    assert failing(cells) == {
        "pyarrow": Verdict.SEGFAULT,
        "pyarrow,msgpack": Verdict.SEGFAULT,
        "msgpack,pyarrow": Verdict.SEGFAULT,
    }
    assert cells["msgpack"].outcome.verdict == Verdict.PASS
    assert code == 1
    alone = Attribution(
        culprits=("pyarrow",), failure_kind=FailureKind.SINGLE_WHEEL, step="victim _ssl"
    )
    for order in ("pyarrow", "pyarrow,msgpack", "msgpack,pyarrow"):
        cell = cells[order]
        # After the imports and the parquet round trip, in the victim.
        assert cell.outcome.last_step == "victim _ssl", order
        assert "in create_default_context" in cell.evidence.python_stack, order
        assert cell.attribution == alone, order
        # The evidence was kept: after the round trip the process's core is over 1 GB,
        # nearly all of it holes (untouched thread stacks and allocator reserve), and it
        # must still reach the capture folder (a 256 MiB tmpfs) compressed.
        assert {"core", "backtrace"} <= set(cell.evidence.artefacts), cell.evidence.notes
        frames = "\n".join(cell.evidence.native_top)
        assert "libparquet.so.2600" in frames, frames
    [row] = [r for r in document["agreement"] if r.get("predictor") == "bundled-library"]
    assert row["wheel"] == "pyarrow" and row["observed"], row
    assert (row["cells"], row["failed"], row["explained"]) == (3, 3, 3), row


def test_fiona_global_before_rasterio_segfaults_while_rasterio_loads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Point 6: fiona RTLD_GLOBAL, then rasterio: rasterio's PROJ static initialisers run
    into fiona's older PROJ while rasterio loads. Each passes alone, and rasterio first
    (fiona global after it) passes: both wheels are the culprits, cross-wheel. With
    RTLD_LOCAL everything passes."""
    code, modes, document = check(
        capsys, tmp_path, FIONA, RASTERIO, "--dlopen", "local,global:fiona"
    )
    orders = {"fiona", "rasterio", "fiona,rasterio", "rasterio,fiona"}
    assert set(modes) == {"local", "global:fiona"}
    assert set(modes["local"]) == orders and failing(modes["local"]) == {}
    cells = modes["global:fiona"]
    assert set(cells) == orders
    assert failing(cells) == {"fiona,rasterio": Verdict.SEGFAULT}, {
        o: c.outcome.detail for o, c in cells.items()
    }
    assert code == 1
    crashed = cells["fiona,rasterio"]
    assert crashed.outcome.last_step == "import rasterio"
    # The innermost frames: PROJ's C++ code in fiona's copy, called from rasterio's.
    frames = "\n".join(crashed.evidence.native_top)
    assert "osgeo::internalproj::" in frames and "libproj-fiona-" in frames, frames
    assert crashed.attribution == Attribution(
        culprits=("fiona", "rasterio"),
        failure_kind=FailureKind.CROSS_WHEEL,
        step="import rasterio",
    )
    # Both wheels bundle PROJ under renamed names (`internal_proj_*`, `osgeo::internalproj`):
    # the bundled-library predictor names it, and the crash's frames in fiona's libproj bear
    # it out.
    rows = [
        r
        for r in document["agreement"]
        if r.get("predictor") == "bundled-library" and r.get("wheel") == "fiona"
    ]
    assert any(r["observed"] and r["explained"] == 1 for r in rows), rows
