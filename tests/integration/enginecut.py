"""A private doorway to the Docker engine that a test can cut, as if the engine went away.

The shared engine must never be stopped in tests; instead the harness under test is given
DOCKER_HOST=unix://<this socket>, and every byte passes through here to the real socket.
`cut()` closes the doorway and every connection through it: from then on the harness sees an
engine that refuses connections, while everyone else's engine keeps running.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from pathlib import Path
from typing import Final

ENGINE: Final = "/var/run/docker.sock"


class EngineDoor:
    def __init__(self, path: Path, engine: str = ENGINE) -> None:
        self.path = path
        self.engine = engine
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(str(path))
        self._listener.listen(64)
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        self._cut = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="engine-door", daemon=True)
        self._thread.start()

    @property
    def docker_host(self) -> str:
        return f"unix://{self.path}"

    def _accept(self) -> None:
        while not self._cut.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                upstream.connect(self.engine)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._cut.is_set():
                    client.close()
                    upstream.close()
                    return
                self._open += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(1 << 16):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)

    def cut(self) -> None:
        """The engine is gone for whoever uses this door: refuse and drop every connection."""
        self._cut.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        with self._lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._open.clear()
        self._thread.join(timeout=5)

    def close(self) -> None:
        if not self._cut.is_set():
            self.cut()
        self.path.unlink(missing_ok=True)
