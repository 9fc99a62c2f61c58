"""The sandbox's small HTTP/1.1 server and its WSGI adapter, over real sockets on 127.0.0.1.

It serves every AWS call a function makes (the function gateway) and the Node.js
Runtime API, so it must read what an SDK sends (kept-alive connections, chunked
bodies, ``Expect: 100-continue``) and answer so a client reads it whole.
"""

import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from chaoskit.sandbox.plugin import http11
from chaoskit.sandbox.plugin.function_gateway import wsgi_handler
from chaoskit.sandbox.plugin.http11 import HttpServer, Reply, Request


def _echo(request: Request) -> Reply:
    body = json.dumps(
        {
            "method": request.method,
            "target": request.target,
            "body": request.body.decode(),
            "headers": [[k.decode(), v.decode()] for k, v in request.headers],
        }
    ).encode()
    return (
        "200 OK",
        [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
        [body],
    )


@pytest.fixture
def serve() -> Iterator:
    servers: list[HttpServer] = []

    def start(handler) -> tuple[HttpServer, list[socket.socket]]:
        server = HttpServer(handler, "test-http11")
        connections: list[socket.socket] = []
        serve_connection = server._serve

        def counting(conn: socket.socket, peer: tuple[str, int]) -> None:
            connections.append(conn)
            serve_connection(conn, peer)

        server._serve = counting  # type: ignore[method-assign]
        server.start()
        servers.append(server)
        return server, connections

    yield start
    for server in servers:
        server.close()


def _raw(port: int, data: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(data)
    return sock


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    while True:
        data = sock.recv(65536)
        if not data:
            return b"".join(chunks)
        chunks.append(data)


def test_requests_on_one_kept_alive_connection(serve):
    server, connections = serve(_echo)
    client = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    answers = []
    for n in range(3):
        client.request("POST", f"/path?n={n}", body=f"body {n}", headers={"X-Case": "Kept"})
        response = client.getresponse()
        assert response.status == 200
        answers.append(json.loads(response.read()))
    nodelay = connections[0].getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)  # still open
    client.close()
    assert [a["target"] for a in answers] == ["/path?n=0", "/path?n=1", "/path?n=2"]
    assert [a["body"] for a in answers] == ["body 0", "body 1", "body 2"]
    assert ["X-Case", "Kept"] in answers[0]["headers"]  # names as sent
    assert len(connections) == 1
    assert nodelay  # a small answer is not held for the client's delayed ACK


def test_chunked_request_body_is_read_whole(serve):
    server, _ = serve(_echo)
    sock = _raw(
        server.port,
        b"PUT /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nTrailer: t\r\n\r\n",
    )
    head, _, body = _read_all(sock).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert json.loads(body)["body"] == "hello, world"


def test_expect_100_continue_is_answered_before_the_body(serve):
    server, _ = serve(_echo)
    sock = _raw(
        server.port,
        b"PUT /obj HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n"
        b"Connection: close\r\n\r\n",
    )
    assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"  # the client waits for this
    sock.sendall(b"data")
    head, _, body = _read_all(sock).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert json.loads(body)["body"] == "data"


def test_answer_of_unknown_length_is_streamed_chunked(serve):
    def stream(request: Request) -> Reply:
        return "200 OK", [("Content-Type", "text/plain")], iter([b"one ", b"", b"two ", b"three"])

    server, connections = serve(stream)
    client = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    for _ in range(2):  # the connection stays usable after a chunked answer
        client.request("GET", "/stream")
        response = client.getresponse()
        assert response.getheader("Transfer-Encoding") == "chunked"
        assert response.read() == b"one two three"
    assert len(connections) == 1


def test_head_answer_has_no_body_and_the_connection_goes_on(serve):
    server, _ = serve(_echo)
    client = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    client.request("HEAD", "/x")
    response = client.getresponse()
    assert response.status == 200
    assert response.read() == b""
    client.request("GET", "/after")
    assert json.loads(client.getresponse().read())["target"] == "/after"


def test_connection_close_and_http10_end_the_connection(serve):
    server, _ = serve(_echo)
    for request in (
        b"GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GET /b HTTP/1.0\r\n\r\n",
    ):
        sock = _raw(server.port, request)
        answer = _read_all(sock)  # returns only once the server closed
        assert answer.split(b"\r\n", 1)[0].endswith(b"200 OK")


def test_bad_request_and_failing_handler_answer_an_error_and_close(serve):
    def boom(request: Request) -> Reply:
        raise RuntimeError("handler failed")

    server, _ = serve(boom)
    assert _read_all(_raw(server.port, b"NONSENSE\r\n\r\n")).startswith(b"HTTP/1.1 400 ")
    assert _read_all(_raw(server.port, b"GET / HTTP/1.1\r\nBad header\r\n\r\n")).startswith(
        b"HTTP/1.1 400 "
    )
    failed = _read_all(_raw(server.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
    assert failed.startswith(b"HTTP/1.1 500 ")


def _thread_name(request: Request) -> Reply:
    name = threading.current_thread().name.encode()
    return "200 OK", [("Content-Length", str(len(name)))], [name]


def _wait_for(check, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_connection_per_request_reuses_the_thread_of_the_last_one():
    server = HttpServer(_thread_name, "test-reuse")
    server.start()
    try:
        served_by = set()
        for _ in range(20):  # as urllib does: a new connection for each request
            client = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
            client.request("GET", "/")
            served_by.add(client.getresponse().read().decode())
            client.close()
            _wait_for(lambda: server.workers()[1] == 1)  # the thread is free again
        assert len(served_by) == 1
        assert server.workers() == (1, 1)
    finally:
        server.close()


def test_connections_at_once_each_get_a_thread_and_idle_threads_end():
    server = HttpServer(_thread_name, "test-idle", worker_idle=0.3)
    server.start()
    try:
        clients = [
            http.client.HTTPConnection("127.0.0.1", server.port, timeout=5) for _ in range(5)
        ]
        for client in clients:  # five kept-alive connections open together
            client.request("GET", "/")
        names = {client.getresponse().read().decode() for client in clients}
        assert len(names) == 5
        assert server.workers() == (5, 0)
        for client in clients:
            client.close()
        _wait_for(lambda: server.workers() == (0, 0))  # free, then gone after 0.3 s
        late = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        late.request("GET", "/")
        assert late.getresponse().status == 200  # a new thread for a new connection
        late.close()
    finally:
        server.close()


def test_closing_the_server_ends_its_free_threads():
    server = HttpServer(_thread_name, "test-close")
    server.start()
    client = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    client.request("GET", "/")
    client.getresponse().read()
    client.close()
    _wait_for(lambda: server.workers() == (1, 1))
    server.close()
    _wait_for(lambda: server.workers() == (0, 0))


def test_idle_and_stalled_connections_are_let_go_after_the_kernels_time_limit(serve, monkeypatch):
    monkeypatch.setattr(http11, "IDLE_TIMEOUT", 0.3)
    server, connections = serve(_echo)
    idle = _raw(server.port, b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
    stalled = _raw(server.port, b"POST /b HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc")
    started = time.monotonic()
    answered = _read_all(idle)  # the answer, then the close once idle for 0.3 s
    assert answered.startswith(b"HTTP/1.1 200 OK") and answered.endswith(b"}")
    assert _read_all(stalled) == b""  # seven bytes of its body never came
    assert 0.25 < time.monotonic() - started < 5
    _wait_for(lambda: server.workers() == (2, 2))  # both threads free for the next
    # Blocking sockets: one system call per read or write, no poll before each.
    assert [conn.gettimeout() for conn in connections] == [None, None]


def test_listens_on_loopback_only():
    with pytest.raises(ValueError, match="loopback"):
        HttpServer(_echo, "test-http11", host="0.0.0.0")


def test_wsgi_adapter_builds_the_environ_rolo_reads(serve):
    seen = {}

    def app(environ, start_response):
        seen.update({k: v for k, v in environ.items() if isinstance(v, (str, list))})
        seen["input"] = environ["wsgi.input"].read()
        start_response("201 Created", [("X-Answer", "yes")])

        def parts():
            yield b"streamed"
            yield b" answer"

        return parts()

    server, _ = serve(wsgi_handler(app))
    client = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    client.putrequest("POST", "/2015-03-31/functions/f%3A1/invocations?Qualifier=live")
    client.putheader("Content-Type", "application/x-amz-json-1.0")
    client.putheader("X-Amz-Target", "DynamoDB_20120810.PutItem")
    client.putheader("X-Dup", "a")
    client.putheader("X-Dup", "b")
    client.putheader("Transfer-Encoding", "chunked")
    client.endheaders()
    client.send(b'3\r\n{"a\r\n2\r\n"}\r\n0\r\n\r\n')
    response = client.getresponse()
    assert (response.status, response.getheader("X-Answer")) == (201, "yes")
    assert response.read() == b"streamed answer"
    assert seen["REQUEST_METHOD"] == "POST"
    assert seen["PATH_INFO"] == "/2015-03-31/functions/f:1/invocations"
    assert seen["QUERY_STRING"] == "Qualifier=live"
    assert seen["RAW_URI"] == "/2015-03-31/functions/f%3A1/invocations?Qualifier=live"
    assert seen["CONTENT_TYPE"] == "application/x-amz-json-1.0"
    assert seen["CONTENT_LENGTH"] == "5"  # of the body as the app reads it, dechunked
    assert seen["input"] == b'{"a"}'
    assert seen["HTTP_X_AMZ_TARGET"] == "DynamoDB_20120810.PutItem"
    assert seen["HTTP_X_DUP"] == "a,b"
    assert (b"X-Amz-Target", b"DynamoDB_20120810.PutItem") in seen["rolo.headers"]
    assert seen["SERVER_PORT"] == str(server.port)
