"""Running external commands the way the CLI promises: echoed at -v, output kept for errors."""

from __future__ import annotations

import logging
import shlex
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

logger = logging.getLogger(__name__)


def run_logged(
    cmd: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    logger.info("+ %s", shlex.join(cmd))
    return subprocess.run(list(cmd), env=env, cwd=cwd, capture_output=True, text=True, check=False)
