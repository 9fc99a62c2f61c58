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
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{api.port}",
        "LAMBDA_TASK_ROOT": str(tmp_path),
        "_HANDLER": "index.handler",
    }
    proc = subprocess.Popen(
        [node_binary, str(node.BOOTSTRAP), str(LOADER)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
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
