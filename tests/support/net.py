"""Ports on 127.0.0.1 for the servers tests start, and a Lambda endpoint that counts connections."""

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["AsyncInvokes", "async_invoke_endpoint", "free_port", "serve_http"]


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now.

    The port is closed again before returning: the caller binds it (or, to
    test a refused connection, leaves it closed).
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve_http(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve ``handler`` on a free port of 127.0.0.1 while the block runs; yield its URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class AsyncInvokes:
    """What :func:`async_invoke_endpoint` saw: its URL, connections accepted, invokes answered."""

    def __init__(self) -> None:
        self.url = ""
        self.connections = 0
        self.invokes = 0


@contextmanager
def async_invoke_endpoint() -> Iterator[AsyncInvokes]:
    """Serve Lambda's answer to an asynchronous invoke on 127.0.0.1, counting connections.

    Every POST is answered as Lambda answers ``InvocationType=Event``: 202, an empty
    body with ``Content-Length: 0``, on a kept-alive HTTP/1.1 connection.
    """
    seen = AsyncInvokes()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            with lock:
                seen.connections += 1

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length") or 0))
            with lock:
                seen.invokes += 1
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    with serve_http(Handler) as url:
        seen.url = url
        yield seen
