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

import json
import queue
import time
from collections.abc import Callable
from typing import Any

from .http11 import HttpServer, Reply, Request

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
        self._server: HttpServer | None = None

    @property
    def port(self) -> int:
        """The port the server listens on (127.0.0.1)."""
        assert self._server is not None
        return int(self._server.port)

    def deliver(self, payload: dict[str, Any]) -> None:
        """Queue an invocation (LocalStack's invoke payload) for the runtime."""
        self.invocations.put({**payload, "received_ms": time.time() * 1000})

    def _mark_ready(self) -> None:
        if not self._ready:
            self._ready = True
            self.on_ready()

    def start(self) -> None:
        """Serve on 127.0.0.1, on a free port (:mod:`.http11`: one thread per connection,
        ``TCP_NODELAY``, each answer in one write)."""
        self._server = HttpServer(self._handle, "lambda-runtime-api")
        self._server.start()

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.close()

    def _handle(self, request: Request) -> Reply:
        if request.method == "GET" and request.target == f"{PREFIX}/invocation/next":
            self._mark_ready()
            invocation = self.invocations.get()
            deadline = int(invocation["received_ms"] + self.timeout_s * 1000)
            return _reply(
                "200 OK",
                str(invocation.get("payload") or "{}").encode(),
                [
                    ("Content-Type", "application/json"),
                    ("Lambda-Runtime-Aws-Request-Id", str(invocation.get("invoke-id", ""))),
                    ("Lambda-Runtime-Deadline-Ms", str(deadline)),
                    (
                        "Lambda-Runtime-Invoked-Function-Arn",
                        str(invocation.get("invoked-function-arn", "")),
                    ),
                    ("Lambda-Runtime-Trace-Id", str(invocation.get("trace-id") or "")),
                ],
            )
        parts = request.target[len(PREFIX) :].strip("/").split("/")
        if request.method != "POST" or not request.target.startswith(PREFIX):
            return _reply("404 Not Found", b'{"errorType": "InvalidRequest"}')
        if parts == ["init", "error"]:
            self.init_error = (
                request.body
                or json.dumps(
                    {"errorType": "Runtime.Unknown", "errorMessage": "init failed"}
                ).encode()
            )
            self._mark_ready()
            return _reply("202 Accepted", b'{"status": "OK"}')
        if len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
            self.on_result(parts[1], request.body, parts[2] == "error")
            return _reply("202 Accepted", b'{"status": "OK"}')
        return _reply("404 Not Found", b'{"errorType": "InvalidRequest"}')


def _reply(status: str, body: bytes, headers: list[tuple[str, str]] | None = None) -> Reply:
    return status, [*(headers or []), ("Content-Length", str(len(body)))], [body]
