"""The Node.js bootstrap talks to the sandbox's Runtime API over one kept-alive connection.

A new connection per request meant a new server thread per request in
LocalStack's process (two per invocation); and without ``TCP_NODELAY`` on the
server's side each small answer waited for the runtime's delayed ACK (every
Node.js invocation took over 80 ms). Runs the real bootstrap in Node.js against
the real :class:`RuntimeApi` on 127.0.0.1.
"""

import json
import os
import shutil
import socket
import subprocess
import threading
from pathlib import Path

import pytest

from chaoskit.sandbox.plugin import node
from chaoskit.sandbox.plugin.runtime_api import RuntimeApi

LOADER = Path(node.__file__).parent.parent.parent / "layer" / "node" / "loader.mjs"


@pytest.fixture
def node_binary() -> str:
    binary = shutil.which("node")
    if binary is None:
        pytest.skip("Node.js is not installed")
    return binary


def _start_bootstrap(node_binary: str, task_root: Path, port: int) -> subprocess.Popen[bytes]:
    """Run the real bootstrap for ``index.handler`` in ``task_root``, against 127.0.0.1:port."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
        "LAMBDA_TASK_ROOT": str(task_root),
        "_HANDLER": "index.handler",
    }
    return subprocess.Popen(
        [node_binary, str(node.BOOTSTRAP), str(LOADER)],
        env=env,
        cwd=task_root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def test_invocations_reuse_one_connection_and_answer_in_order(tmp_path, node_binary):
    handler = "export const handler = async (event) => ({ n: event.n });\n"
    (tmp_path / "index.mjs").write_text(handler)
    results: list[tuple[str, bytes, bool]] = []
    answered = threading.Semaphore(0)

    def on_result(request_id: str, body: bytes, is_error: bool) -> None:
        results.append((request_id, body, is_error))
        answered.release()

    api = RuntimeApi(3.0, lambda: None, on_result)
    api.start()
    connections: list[socket.socket] = []
    assert api._server is not None
    serve = api._server._serve

    def counting(conn: socket.socket, peer: tuple[str, int]) -> None:
        connections.append(conn)
        serve(conn, peer)

    api._server._serve = counting  # type: ignore[method-assign]
    proc = _start_bootstrap(node_binary, tmp_path, api.port)
    try:
        for n in range(3):
            api.deliver({"invoke-id": f"r{n}", "payload": json.dumps({"n": n})})
            assert answered.acquire(timeout=30), proc.stderr
        nodelay = connections[0].getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    finally:
        proc.kill()
        proc.wait()
        api.stop()
    assert results == [(f"r{n}", json.dumps({"n": n}).encode().replace(b" ", b""), False)
                       for n in range(3)]  # fmt: skip
    assert len(connections) == 1, connections
    assert nodelay  # answers are sent at once, not held for the runtime's ACK


def _read_request(conn: socket.socket) -> tuple[str, bytes]:
    """One request from ``conn``: its request line and body ('' when the client closed)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return "", b""
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = next(
        (int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length")),
        0,
    )
    while len(body) < length:
        body += conn.recv(65536)
    return lines[0], body


def test_chunked_answers_a_close_and_a_dropped_idle_connection_are_all_handled(
    tmp_path, node_binary
):
    """An answer read by chunks, 'Connection: close' honoured, and a kept-alive connection
    the server dropped while idle: the runtime reconnects and loses no invocation."""
    (tmp_path / "index.mjs").write_text("export const handler = async (e) => ({ got: e.n });\n")
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(30)
    port = server.getsockname()[1]
    proc = _start_bootstrap(node_binary, tmp_path, port)
    posted: list[tuple[str, bytes]] = []
    ids = "Lambda-Runtime-Aws-Request-Id: r{n}\r\nLambda-Runtime-Deadline-Ms: 9999999999999\r\n"
    try:
        conn, _ = server.accept()
        conn.settimeout(30)
        # 1. next, answered chunked (a chunk, another, the end, a trailer) and closed after.
        assert _read_request(conn)[0] == "GET /2018-06-01/runtime/invocation/next HTTP/1.1"
        conn.sendall(
            ("HTTP/1.1 200 OK\r\n" + ids.format(n=1) + "Transfer-Encoding: chunked\r\n"
             "Connection: close\r\n\r\n4\r\n{\"n\"\r\n3\r\n: 1\r\n1\r\n}\r\n0\r\nX-T: 1\r\n\r\n"
             ).encode()
        )  # fmt: skip
        assert _read_request(conn) == ("", b"")  # the runtime closed its side
        conn.close()
        # 2. the result comes on a new connection, which then stays open for next.
        conn, _ = server.accept()
        conn.settimeout(30)
        posted.append(_read_request(conn))
        conn.sendall(b"HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\n{}")
        assert _read_request(conn)[0].startswith("GET /2018-06-01/runtime/invocation/next")
        # 3. the server drops that connection unanswered (as an idle one dropped just as the
        #    request was sent): the request is sent again on a new connection.
        conn.close()
        conn, _ = server.accept()
        conn.settimeout(30)
        assert _read_request(conn)[0].startswith("GET /2018-06-01/runtime/invocation/next")
        body = b'{"n": 2}'
        conn.sendall(
            f"HTTP/1.1 200 OK\r\n{ids.format(n=2)}Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        posted.append(_read_request(conn))
        conn.sendall(b"HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\n{}")
        assert _read_request(conn)[0].startswith("GET")  # and waits for the next invocation
        conn.close()
    finally:
        proc.kill()
        proc.wait()
        server.close()
    assert posted == [
        ("POST /2018-06-01/runtime/invocation/r1/response HTTP/1.1", b'{"got":1}'),
        ("POST /2018-06-01/runtime/invocation/r2/response HTTP/1.1", b'{"got":2}'),
    ], proc.stderr.read() if proc.stderr else ""
