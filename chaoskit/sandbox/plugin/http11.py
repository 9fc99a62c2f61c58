"""A small threaded HTTP/1.1 server for the sandbox's busiest loopback paths.

Two servers in LocalStack's process answer a request for nearly every event a
function handles: the function gateway (:mod:`.function_gateway`: the AWS calls
functions make) and each Node.js environment's Runtime API
(:mod:`.runtime_api`). Both talk only to local processes over kept-alive
connections, where Python's ``http.server`` spends most of its time parsing
headers with the ``email`` package and twisted hands every request between
threads. Here one thread serves one connection from its first request to its
last: read the request line, the headers and the body, call the handler, write
the answer (in one ``sendall`` when its length is known). A thread whose
connection closed waits for the next one (for :data:`WORKER_IDLE_SECONDS`)
rather than end: a client that opens a connection per request (``urllib``, a
boto3 client created per invocation) then costs no thread start per request,
which was about 40% of such a request's CPU in the reference app's payments stub.

Connections are blocking sockets whose idle limit the kernel keeps
(``SO_RCVTIMEO``/``SO_SNDTIMEO``, :func:`kernel_timeouts`). A Python socket with a
timeout polls before every read and write: two system calls, and two chances to
lose the GIL to another of LocalStack's threads and sleep until it is handed back
(the largest cause of that process's context switches in a profile of the
reference app). A blocking socket makes one.

What it speaks: HTTP/1.1 and 1.0, keep-alive (closed on ``Connection: close``,
or after an HTTP/1.0 request without ``keep-alive``), ``Content-Length`` and
chunked request bodies, ``Expect: 100-continue``, and answers of unknown length
streamed chunked (HTTP/1.1) or until the close (HTTP/1.0). Not TLS, HTTP/2 or
WebSockets. It binds loopback addresses only. Nothing here may import
``chaoskit`` or LocalStack.
"""

from __future__ import annotations

import contextlib
import io
import logging
import queue
import socket
import struct
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

LOG = logging.getLogger(__name__)

__all__ = ["BadRequest", "HttpServer", "Reply", "Request"]

#: Longest request line or header line, and most header lines, we read.
MAX_LINE = 65536
MAX_HEADERS = 200
#: Seconds a kept-alive connection may stay idle before its thread lets it go.
IDLE_TIMEOUT = 900.0
#: Seconds a thread with no connection waits for a new one before it ends.
WORKER_IDLE_SECONDS = 60.0


class BadRequest(Exception):
    """The client sent something that is not an HTTP/1.x request we can read."""


@dataclass
class Request:
    """One request as read from the connection."""

    method: str
    target: str
    version: str
    headers: list[tuple[bytes, bytes]]  # as sent: names keep their case
    body: bytes
    peer: tuple[str, int]  # the client's address
    local: tuple[str, int]  # the server's address, as the client reached it

    def header(self, name: bytes, default: bytes = b"") -> bytes:
        """The first header called ``name`` (lower case), else ``default``."""
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return default


#: status line text ("200 OK"), headers, and the body's parts (closed after, if it can be).
Reply = tuple[str, list[tuple[str, str]], Iterable[bytes]]
Handler = Callable[[Request], Reply]


_Inbox = queue.SimpleQueue[tuple[socket.socket, tuple[str, int]] | None]


class HttpServer:
    """Serve ``handler`` on ``port`` (0: a free one) of ``host``, one thread per connection.

    A connection goes to a thread that has none (the one that became free last), or
    to a new thread if every thread has one; a thread left without a connection for
    ``worker_idle`` seconds ends.

    Args:
        handler: answers one request; an exception answers 500 and closes the connection.
        name: names the server's threads.
        host: a loopback address.
        port: the port to bind, or 0 for a free one.
        worker_idle: seconds a thread waits for a new connection before it ends.
    """

    def __init__(
        self,
        handler: Handler,
        name: str,
        host: str = "127.0.0.1",
        port: int = 0,
        worker_idle: float = WORKER_IDLE_SECONDS,
    ) -> None:
        if not (host.startswith("127.") or host == "::1"):
            raise ValueError(f"{name} listens on a loopback address only, not {host!r}")
        self.handler = handler
        self.name = name
        self.sock = socket.create_server((host, port))
        self.host, self.port = self.sock.getsockname()[:2]
        self._closed = threading.Event()
        self._worker_idle = worker_idle
        self._lock = threading.Lock()
        self._free: list[_Inbox] = []  # the inboxes of threads without a connection
        self._workers = 0

    def start(self) -> None:
        """Accept connections in a daemon thread."""
        threading.Thread(target=self._accept, name=self.name, daemon=True).start()

    def close(self) -> None:
        """Stop accepting; connections being served end with their client."""
        self._closed.set()
        with contextlib.suppress(OSError):  # wakes the thread in accept(); close does not
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        with self._lock:
            free, self._free = self._free, []
        for inbox in free:
            inbox.put(None)

    def workers(self) -> tuple[int, int]:
        """``(threads, of which without a connection)``, for tests and diagnostics."""
        with self._lock:
            return self._workers, len(self._free)

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn, peer = self.sock.accept()
            except OSError:
                if self._closed.is_set():
                    return
                continue
            with self._lock:
                inbox = self._free.pop() if self._free else None
                if inbox is None:
                    self._workers += 1
            if inbox is not None:
                inbox.put((conn, peer))
                continue
            inbox = queue.SimpleQueue()
            inbox.put((conn, peer))
            number = self._workers
            threading.Thread(
                target=self._work, args=(inbox,), name=f"{self.name}-{number}", daemon=True
            ).start()

    def _work(self, inbox: _Inbox) -> None:
        """Serve the connections handed to ``inbox``, one after the other, until idle."""
        try:
            while (item := self._next(inbox)) is not None:
                self._serve(*item)
        finally:
            with self._lock:
                self._workers -= 1

    def _next(self, inbox: _Inbox) -> tuple[socket.socket, tuple[str, int]] | None:
        """The next connection for this thread, or ``None`` when it should end."""
        with contextlib.suppress(queue.Empty):
            return inbox.get_nowait()  # the first one, handed over with the thread
        with self._lock:
            if self._closed.is_set():
                return None
            self._free.append(inbox)
        try:
            return inbox.get(timeout=self._worker_idle)
        except queue.Empty:
            with self._lock:
                if inbox in self._free:  # nobody picked this thread: end it
                    self._free.remove(inbox)
                    return None
            return inbox.get()  # picked just now: the connection is on its way

    def _serve(self, conn: socket.socket, peer: tuple[str, int]) -> None:
        # Without TCP_NODELAY a small answer waits for the client's delayed ACK (40 ms).
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        rfile: Any = (
            io.BufferedReader(_Reader(conn), 65536)
            if kernel_timeouts(conn, IDLE_TIMEOUT)
            else conn.makefile("rb", buffering=65536)
        )
        try:
            local = conn.getsockname()[:2]
            while self._serve_one(conn, rfile, peer, local):
                pass
        except BadRequest as err:
            LOG.debug("%s: bad request from %s: %s", self.name, peer, err)
            _send_error(conn, "400 Bad Request", str(err))
        except (OSError, ValueError) as err:  # the client left, or stalled too long
            LOG.debug("%s: connection from %s ended: %s", self.name, peer, err)
        finally:
            rfile.close()
            conn.close()

    def _serve_one(
        self, conn: socket.socket, rfile: Any, peer: tuple[str, int], local: tuple[str, int]
    ) -> bool:
        """Read, handle and answer one request; return whether the connection stays open."""
        line = rfile.readline(MAX_LINE + 1)
        while line in (b"\r\n", b"\n"):  # RFC 9112 2.2: empty lines before a request
            line = rfile.readline(MAX_LINE + 1)
        if not line:
            return False
        method, target, version = _request_line(line)
        headers = _header_lines(rfile)
        lowered = {name.lower(): value for name, value in headers}
        connection = lowered.get(b"connection", b"").lower()
        if version == "HTTP/1.1":
            keep_alive = b"close" not in connection
            if lowered.get(b"expect", b"").lower() == b"100-continue":
                conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        else:
            keep_alive = b"keep-alive" in connection
        request = Request(method, target, version, headers, _read_body(rfile, lowered), peer, local)
        try:
            status, reply_headers, body = self.handler(request)
        except Exception:
            LOG.exception("%s: the handler of %s %s raised", self.name, method, target)
            _send_error(conn, "500 Internal Server Error", "internal error")
            return False
        try:
            return _write(conn, request, status, reply_headers, body) and keep_alive
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()


class _Reader(io.RawIOBase):
    """A blocking socket's reads, where the kernel's time limit raises ``TimeoutError``."""

    def __init__(self, conn: socket.socket) -> None:
        self._conn = conn

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            return self._conn.recv_into(buffer)
        except BlockingIOError:  # SO_RCVTIMEO passed with nothing received
            raise TimeoutError("no data within the connection's time limit") from None


def kernel_timeouts(conn: socket.socket, seconds: float) -> bool:
    """Make ``conn`` blocking, its reads and writes limited to ``seconds`` by the kernel.

    Past the limit a read or write fails with ``EAGAIN`` (``BlockingIOError``).
    Returns ``False`` where the kernel has no such options: ``conn`` then keeps a
    Python timeout instead (a poll before each call).
    """
    whole = int(seconds)
    limit = struct.pack("@ll", whole, int((seconds - whole) * 1_000_000))
    try:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, limit)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, limit)
    except (OSError, AttributeError):
        conn.settimeout(seconds)
        return False
    conn.settimeout(None)
    return True


def _write(
    conn: socket.socket,
    request: Request,
    status: str,
    headers: list[tuple[str, str]],
    body: Iterable[bytes],
) -> bool:
    """Write one answer; return False if the connection must close after it."""
    code = int(status.split(None, 1)[0])
    head = [f"{request.version} {status}\r\n"]
    head += [f"{name}: {value}\r\n" for name, value in headers]
    if request.method == "HEAD" or 100 <= code < 200 or code in (204, 304):
        conn.sendall(("".join(head) + "\r\n").encode("latin-1"))
        return True
    parts = iter(body)
    first = next(parts, b"")
    if any(name.lower() == "content-length" for name, _ in headers):
        conn.sendall(("".join(head) + "\r\n").encode("latin-1") + first)
        for part in parts:
            conn.sendall(part)
        return True
    if request.version != "HTTP/1.1":  # HTTP/1.0: the close ends the answer
        conn.sendall(("".join(head) + "\r\n").encode("latin-1") + first)
        for part in parts:
            conn.sendall(part)
        return False
    head.append("Transfer-Encoding: chunked\r\n\r\n")
    conn.sendall("".join(head).encode("latin-1") + _chunk(first))
    for part in parts:
        if part:
            conn.sendall(_chunk(part))
    conn.sendall(b"0\r\n\r\n")
    return True


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data) if data else b""


def _request_line(line: bytes) -> tuple[str, str, str]:
    if len(line) > MAX_LINE:
        raise BadRequest("request line too long")
    parts = line.decode("latin-1").rstrip("\r\n").split(" ")
    if len(parts) != 3 or not parts[0] or parts[2] not in ("HTTP/1.1", "HTTP/1.0"):
        raise BadRequest(f"not an HTTP/1.x request line: {line[:80]!r}")
    return parts[0], parts[1], parts[2]


def _header_lines(rfile: Any) -> list[tuple[bytes, bytes]]:
    headers: list[tuple[bytes, bytes]] = []
    while True:
        line = rfile.readline(MAX_LINE + 1)
        if line in (b"\r\n", b"\n"):
            return headers
        if not line:
            raise BadRequest("connection closed inside the headers")
        if len(line) > MAX_LINE or len(headers) >= MAX_HEADERS:
            raise BadRequest("headers too long")
        name, sep, value = line.partition(b":")
        if not sep or not name or name != name.strip():
            raise BadRequest(f"malformed header line: {line[:80]!r}")
        headers.append((name, value.strip()))


def _read_body(rfile: Any, headers: dict[bytes, bytes]) -> bytes:
    encoding = headers.get(b"transfer-encoding", b"").lower()
    if encoding:
        if encoding.rsplit(b",", 1)[-1].strip() != b"chunked":
            raise BadRequest(f"unsupported transfer-encoding {encoding!r}")
        return _dechunk(rfile)
    length = headers.get(b"content-length")
    if length is None:
        return b""
    if not length.isdigit():
        raise BadRequest(f"bad content-length {length!r}")
    body = rfile.read(int(length))
    if len(body) != int(length):
        raise BadRequest("connection closed inside the body")
    return body


def _dechunk(rfile: Any) -> bytes:
    parts: list[bytes] = []
    while True:
        line = rfile.readline(MAX_LINE + 1)
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise BadRequest(f"bad chunk size line {line[:40]!r}") from None
        if size < 0:
            raise BadRequest(f"bad chunk size line {line[:40]!r}")
        if size == 0:
            _header_lines(rfile)  # trailers, ignored
            return b"".join(parts)
        data = rfile.read(size)
        if len(data) != size or rfile.readline(3) not in (b"\r\n", b"\n"):
            raise BadRequest("malformed chunk")
        parts.append(data)


def _send_error(conn: socket.socket, status: str, message: str) -> None:
    body = message.encode("utf-8", "replace")
    head = f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    with contextlib.suppress(OSError):  # the client is gone
        conn.sendall(head.encode("latin-1") + body)
