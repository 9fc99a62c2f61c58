"""Third-party HTTP faults on outbound calls, by host pattern.

Patches ``http.client.HTTPConnection.putrequest`` and the ``connect`` methods
of ``http.client`` and ``urllib3`` connections (so ``requests`` is covered).
A firing fault either raises "connection refused" before any byte reaches the
server, adds latency, or swaps the connection's socket for one that replays a
canned ``429``/``503`` response with ``Retry-After``: the client library then
parses a real HTTP response, and its own retry logic applies. Patches are
installed once, on first use; with nothing armed they pass straight through.
Only imported when a config holds an ``http`` fault.
"""

import contextlib
import errno
import io
import random
import sys
import threading
from collections.abc import Callable
from fnmatch import fnmatchcase
from http.client import HTTPConnection, HTTPSConnection, responses
from typing import Any

from chaoskit.layer import _aws, log
from chaoskit.layer.config import Fault

__all__ = ["arm", "host_matches", "install"]

_lock = threading.Lock()
_armed: tuple[list[Fault], str, random.Random, Callable[[float], None]] | None = None
_PENDING = "_chaoskit_pending"  # connect() rolled for the request that follows
_DECIDED = "_chaoskit_decided"  # putrequest() rolled for the connect() that follows
_MISSING = object()


def host_matches(host: str, port: int | None, patterns: list[str]) -> bool:
    """Tell whether ``host`` (or ``host:port``) matches one of the glob ``patterns``."""
    host = host.lower().strip("[]")
    with_port = f"{host}:{port}" if port else host
    for pattern in patterns:
        pattern = pattern.lower()
        target = with_port if ":" in pattern else host
        if fnmatchcase(target, pattern):
            return True
    return False


class _CannedSocket:
    """A socket that swallows the request and replays one fixed response."""

    def __init__(self, payload: bytes) -> None:
        self._payload = payload

    def makefile(self, *_: Any, **__: Any) -> io.BytesIO:
        return io.BytesIO(self._payload)

    def sendall(self, data: Any) -> None:
        return None

    def send(self, data: Any) -> int:
        return len(data)

    def settimeout(self, _: Any) -> None:
        return None

    def gettimeout(self) -> None:
        return None

    def setsockopt(self, *_: Any) -> None:
        return None

    def shutdown(self, _: Any) -> None:
        return None

    def close(self) -> None:
        return None


def _canned(params: dict[str, Any]) -> _CannedSocket:
    status = int(params["status"])
    body = str(params.get("body") or '{"message": "injected by chaoskit"}').encode()
    lines = [
        f"HTTP/1.1 {status} {responses.get(status, 'Error')}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        "Connection: close",
    ]
    retry_after = params.get("retry_after")
    if retry_after is not None:
        shown = int(retry_after) if retry_after == int(retry_after) else retry_after
        lines.append(f"Retry-After: {shown}")
    return _CannedSocket(("\r\n".join(lines) + "\r\n\r\n").encode() + body)


def _roll(conn: Any) -> Fault | None:
    armed = _armed
    if armed is None or _aws.is_internal():
        return None
    faults, version, rng, _ = armed
    # Through a proxy, the connection's host is the proxy: match the tunnel's target.
    tunnel = getattr(conn, "_tunnel_host", None)
    if tunnel:
        host, port = str(tunnel), getattr(conn, "_tunnel_port", None)
    else:
        host, port = str(getattr(conn, "host", "")), getattr(conn, "port", None)
    for fault in faults:
        if not host_matches(host, port, fault.params["hosts"]):
            continue
        roll = rng.random()
        if roll < fault.rate:
            params = fault.params
            log.fault("http", version, roll, fault.rate, host=host, port=port,
                      status=params.get("status"), latency_ms=params.get("latency_ms"),
                      connection_refused=bool(params.get("connection_refused")))  # fmt: skip
            return fault
    return None


def _refuse(conn: Any) -> None:
    message = "Connection refused (injected by chaoskit)"
    module = sys.modules.get("urllib3.exceptions")
    if module is not None and type(conn).__module__.startswith("urllib3"):
        raise module.NewConnectionError(conn, f"Failed to establish a new connection: {message}")
    raise ConnectionRefusedError(errno.ECONNREFUSED, message)


def _drop_socket(conn: Any) -> None:
    sock = getattr(conn, "sock", None)
    if sock is not None and not isinstance(sock, _CannedSocket):
        with contextlib.suppress(OSError):
            sock.close()
    conn.sock = None


def _use_canned(conn: Any, params: dict[str, Any]) -> None:
    if isinstance(getattr(conn, "sock", None), _CannedSocket):
        return
    _drop_socket(conn)
    conn.sock = _canned(params)
    if hasattr(conn, "is_verified"):
        conn.is_verified = True  # urllib3 would warn about an unverified HTTPS connection


def _patch_connect(cls: type) -> None:
    original = cls.__dict__.get("connect")
    if original is None or getattr(original, "_chaoskit", False):
        return

    def connect(self: Any) -> None:
        if _armed is None or self.__dict__.pop(_DECIDED, False):
            return original(self)
        fault = _roll(self)
        # The request that follows on this connection uses this roll, not a second one.
        self.__dict__[_PENDING] = fault
        if fault is not None:
            if fault.params.get("connection_refused"):
                self.__dict__.pop(_PENDING, None)
                _refuse(self)
            if fault.params.get("status") is not None:
                _use_canned(self, fault.params)
                return None
        return original(self)

    connect._chaoskit = True  # type: ignore[attr-defined]
    cls.connect = connect  # type: ignore[attr-defined]


def _patch_putrequest() -> None:
    original = HTTPConnection.putrequest
    if getattr(original, "_chaoskit", False):
        return

    def putrequest(self: Any, method: str, url: str, *args: Any, **kwargs: Any) -> None:
        if _armed is not None:
            fault = self.__dict__.pop(_PENDING, _MISSING)
            if fault is _MISSING:
                fault = _roll(self)
            if fault is not None:
                params = fault.params
                if params.get("latency_ms") and _armed is not None:
                    _armed[3](float(params["latency_ms"]) / 1000.0)
                if params.get("connection_refused"):
                    _drop_socket(self)
                    _refuse(self)
                if params.get("status") is not None:
                    _use_canned(self, params)
            if getattr(self, "sock", None) is None:
                self.__dict__[_DECIDED] = True  # one roll per request, not one more at connect
        return original(self, method, url, *args, **kwargs)

    putrequest._chaoskit = True  # type: ignore[attr-defined]
    HTTPConnection.putrequest = putrequest  # type: ignore[method-assign]


def install() -> None:
    """Patch http.client, and urllib3 if it is loaded (idempotent)."""
    with _lock:
        _patch_putrequest()
        _patch_connect(HTTPConnection)
        _patch_connect(HTTPSConnection)
        module = sys.modules.get("urllib3.connection")
        if module is not None:
            _patch_connect(module.HTTPConnection)
            _patch_connect(module.HTTPSConnection)


def arm(
    faults: list[Fault], version: str, rng: random.Random, sleep: Callable[[float], None]
) -> Callable[[], None]:
    """Inject ``faults`` into matching outbound HTTP calls until the returned function is called."""
    global _armed
    install()
    _armed = (faults, version, rng, sleep)

    def disarm() -> None:
        global _armed
        _armed = None

    return disarm
