"""A second Docker engine endpoint for tests: a unix socket that forwards to the real engine.

    python engine_proxy.py LISTEN.sock UPSTREAM.sock LOG

Every HTTP request line that passes through is appended to LOG, so a test can prove which
calls went through this endpoint. Standard library only; stops on SIGTERM.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import sys
import threading

REQUEST = re.compile(rb"(GET|POST|PUT|DELETE|HEAD) (/\S*) HTTP/1\.[01]")


def pipe(source: socket.socket, sink: socket.socket, log: str | None) -> None:
    try:
        while data := source.recv(65536):
            if log is not None:
                with open(log, "ab") as out:
                    for match in REQUEST.finditer(data):
                        out.write(match.group(1) + b" " + match.group(2) + b"\n")
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for end in (source, sink):
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def serve(listen: str, upstream: str, log: str) -> None:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(listen)
    server.listen(64)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    while True:
        client, _ = server.accept()
        engine = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        engine.connect(upstream)
        threading.Thread(target=pipe, args=(client, engine, log), daemon=True).start()
        threading.Thread(target=pipe, args=(engine, client, None), daemon=True).start()


if __name__ == "__main__":
    serve(sys.argv[1], sys.argv[2], sys.argv[3])
