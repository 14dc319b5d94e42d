"""run.json, the manifest `--resume` repeats: read back as written, and refused with a clear
message (the file, the key, what to do) when it is damaged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.errors import InputError
from harness.run.state import MANIFEST_NAME, Manifest

GOOD = Manifest(
    scenarios=("scenarios/call-once.toml",),
    backend="local",
    targets=None,
    select=("*a,b*",),
    cover=None,
    shard="1/2",
    started="2026-12-01T10:00:00+00:00",
    command=("wheelclash", "run", "scenarios/call-once.toml"),
    planned=12,
    wheels=("0" * 64,),
)


def test_a_written_manifest_reads_back_equal(tmp_path: Path) -> None:
    GOOD.write(tmp_path)
    assert Manifest.read(tmp_path) == GOOD


@pytest.mark.parametrize(
    ("content", "key", "says"),
    [
        (b'{"scenarios": ["a.toml"], "backend": "lo', "", "is not readable JSON"),
        (b"\xff\xfe not text", "", "is not readable JSON"),
        (b'["a.toml"]', "", "must hold a JSON object (holds a list)"),
        (None, "scenarios", "must be a list of strings"),
        (None, "planned", "must be a whole number"),
        (None, "color", "unknown key"),
    ],
    ids=["truncated", "not-utf8", "a-list", "wrong-type", "bad-count", "unknown-key"],
)
def test_a_damaged_manifest_is_an_input_error(
    tmp_path: Path, content: bytes | None, key: str, says: str
) -> None:
    GOOD.write(tmp_path)
    path = tmp_path / MANIFEST_NAME
    if content is None:
        data = json.loads(path.read_text())
        data.update({"scenarios": {"a": 1}, "planned": "twelve", "color": "red"})
        content = json.dumps(data).encode()
    path.write_bytes(content)
    with pytest.raises(InputError) as caught:
        Manifest.read(tmp_path)
    message = str(caught.value)
    where = f"{path}: {key}: " if key else f"{path}: "
    assert f"{where}{says}" in message
    assert "Start a new run" in message
