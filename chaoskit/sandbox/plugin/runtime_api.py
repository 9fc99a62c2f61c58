"""Lambda's Runtime API for one execution environment, served from the sandbox.

Functions whose runtime speaks the Runtime API themselves (Node.js here, through
``node_bootstrap.mjs``; any runtime interface client in general) talk to this
server as they would to Lambda: ``GET /2018-06-01/runtime/invocation/next``
blocks until an invocation, ``POST .../invocation/<id>/response`` or
``.../error`` answers it, ``POST /2018-06-01/runtime/init/error`` reports a
failed init. It binds 127.0.0.1 on a free port and completes the executor
endpoint's futures, so LocalStack sees the same results as from the Python
bootstrap. Nothing here may import ``chaoskit``.
"""

from __future__ import annotations

import http.server
import json
import queue
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

PREFIX = "/2018-06-01/runtime"

Result = Callable[[str, bytes, bool], None]


class RuntimeApi:
    """One environment's Runtime API: a queue of invocations and the callbacks of their results.

    Args:
        timeout_s: the function's timeout (the deadline handed to the runtime).
        on_ready: called once, when the runtime first asks for an invocation.
        on_result: called with (request id, body, is_error) for each answer.
    """

    def __init__(self, timeout_s: float, on_ready: Callable[[], None], on_result: Result) -> None:
        self.timeout_s = timeout_s
        self.on_ready = on_ready
        self.on_result = on_result
        self.invocations: queue.Queue[dict[str, Any]] = queue.Queue()
        self.init_error: bytes | None = None
        self._ready = False
        self._server: http.server.ThreadingHTTPServer | None = None

    @property
    def port(self) -> int:
        """The port the server listens on (127.0.0.1)."""
        assert self._server is not None
        return int(self._server.server_address[1])

    def deliver(self, payload: dict[str, Any]) -> None:
        """Queue an invocation (LocalStack's invoke payload) for the runtime."""
        self.invocations.put({**payload, "received_ms": time.time() * 1000})

    def _mark_ready(self) -> None:
        if not self._ready:
            self._ready = True
            self.on_ready()

    def start(self) -> None:
        """Serve on 127.0.0.1, on a free port, in a daemon thread."""
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                # Without it, Nagle's algorithm held a small write until the runtime's
                # delayed ACK (40 ms): two such stalls made every Node.js invocation
                # take over 80 ms, and capped the async invokes of a function at the
                # event poller's threads / 80 ms.
                self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def _reply(
                self, status: int, body: bytes = b"", headers: dict[str, str] | None = None
            ) -> None:
                self.send_response(status)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                # Head and body in one write (end_headers would send the head alone).
                self._headers_buffer.append(b"\r\n" + body)  # type: ignore[attr-defined]
                self.flush_headers()

            def do_GET(self) -> None:
                if self.path != f"{PREFIX}/invocation/next":
                    self._reply(404, b'{"errorType": "InvalidRequest"}')
                    return
                api._mark_ready()
                invocation = api.invocations.get()
                deadline = int(invocation["received_ms"] + api.timeout_s * 1000)
                self._reply(
                    200,
                    str(invocation.get("payload") or "{}").encode(),
                    {
                        "Content-Type": "application/json",
                        "Lambda-Runtime-Aws-Request-Id": str(invocation.get("invoke-id", "")),
                        "Lambda-Runtime-Deadline-Ms": str(deadline),
                        "Lambda-Runtime-Invoked-Function-Arn": str(
                            invocation.get("invoked-function-arn", "")
                        ),
                        "Lambda-Runtime-Trace-Id": str(invocation.get("trace-id") or ""),
                    },
                )

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                parts = self.path[len(PREFIX) :].strip("/").split("/")
                if parts == ["init", "error"]:
                    api.init_error = (
                        body
                        or json.dumps(
                            {"errorType": "Runtime.Unknown", "errorMessage": "init failed"}
                        ).encode()
                    )
                    api._mark_ready()
                    self._reply(202, b'{"status": "OK"}')
                elif (
                    len(parts) == 3
                    and parts[0] == "invocation"
                    and parts[2] in ("response", "error")
                ):
                    self._reply(202, b'{"status": "OK"}')
                    api.on_result(parts[1], body, parts[2] == "error")
                else:
                    self._reply(404, b'{"errorType": "InvalidRequest"}')

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, name="lambda-runtime-api", daemon=True
        ).start()

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
