"""A stand-in for the third-party payments API, for local targets.

``POST /charge`` answers ``{"status": "charged"}``; ``GET /health`` answers 200.
chaoskit's HTTP faults (429 with Retry-After, 503, refused connections) are
injected in the worker, in front of this server, exactly as they would be in
front of the real provider.

    python experiments/app/payments_stub.py --port 4590 [--while-up URL ...]

With ``--while-up``, the stub serves only while one of the emulators it was started
for (the sandbox, LocalStack) accepts connections: once none has for three checks a
second apart, it exits. ``POST /_watch`` with ``{"endpoint": URL}`` adds an emulator
on this machine (``127.0.0.1``, ``localhost`` or ``::1``); ``deploy.py`` sends it when
it finds the stub already serving, so two emulators can share one stub. Without
``--while-up`` the stub runs until it is stopped, and ``/_watch`` changes nothing.
"""

import argparse
import json
import socket
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from chaoskit.sandbox.plugin.http11 import HttpServer, Reply, Request

# The worker calls the stub once per order, on a new connection each time; Python's
# http.server (a thread per connection, headers parsed by the email package) cost
# about 1 ms of CPU per order on the machine the sandbox shares with it.


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _address(endpoint: str) -> tuple[str, int]:
    """``(host, port)`` of an emulator's URL; ValueError if it names no host."""
    parts = urlsplit(endpoint)
    if not parts.hostname:
        raise ValueError(f"not a URL with a host: {endpoint!r}")
    return parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)


def accepts_connections(address: tuple[str, int]) -> bool:
    try:
        with socket.create_connection(address, timeout=1):
            return True
    except OSError:
        return False


class Lease:
    """The emulators the stub serves; it ends once none has accepted a connection lately.

    Args:
        endpoints: the emulators' URLs.
        misses: checks in a row with no emulator up after which the lease ends.
        reachable: tells whether an address accepts connections (tests pass their own).
    """

    def __init__(
        self,
        endpoints: Iterable[str],
        misses: int = 3,
        reachable: Callable[[tuple[str, int]], bool] = accepts_connections,
    ) -> None:
        self._addresses = {_address(e) for e in endpoints}
        self._misses = misses
        self._missed = 0
        self._reachable = reachable
        self._lock = threading.Lock()
        self.ended = threading.Event()

    def add(self, endpoint: str) -> bool:
        """Serve ``endpoint`` too; False if the lease has already ended (too late to join)."""
        address = _address(endpoint)
        with self._lock:
            if self.ended.is_set():
                return False
            self._addresses.add(address)
            self._missed = 0
            return True

    def check(self) -> bool:
        """Check the emulators once; end the lease on the last allowed miss. True while it holds."""
        with self._lock:
            addresses = list(self._addresses)
        up = any(self._reachable(a) for a in addresses)
        with self._lock:
            if self.ended.is_set():
                return False
            self._missed = 0 if up else self._missed + 1
            if self._missed >= self._misses:
                self.ended.set()
                return False
            return True

    def run(self, interval: float = 1.0) -> None:
        """Check every ``interval`` seconds until the lease ends."""
        while self.check():
            self.ended.wait(interval)


class Payments:
    """Answer charges and health checks; count the charges."""

    def __init__(self, lease: Lease | None = None) -> None:
        self.charges = 0
        self.lease = lease
        self._lock = threading.Lock()

    def __call__(self, request: Request) -> Reply:
        path = request.target.split("?", 1)[0].rstrip("/")
        if request.method == "POST" and path == "/_watch":
            return self._watch(request.body)
        if request.method == "GET":
            if path.endswith("/health"):
                return _json("200 OK", {"ok": True, "charges": self.charges})
            return _json("404 Not Found", {"error": f"no route {request.target}"})
        if request.method != "POST":
            return _json("405 Method Not Allowed", {"error": f"{request.method} not allowed"})
        try:
            order = json.loads(request.body or b"{}")
            order_id = order.get("order_id") if isinstance(order, dict) else None
        except ValueError:
            return _json("400 Bad Request", {"error": "body must be JSON"})
        with self._lock:
            self.charges += 1
        return _json("200 OK", {"status": "charged", "order_id": order_id})

    def _watch(self, body: bytes | None) -> Reply:
        try:
            endpoint = json.loads(body or b"{}").get("endpoint")
            host = _address(endpoint)[0]
        except (ValueError, AttributeError, TypeError):
            return _json("400 Bad Request", {"error": 'expected {"endpoint": "http://host:port"}'})
        if host not in LOOPBACK:
            return _json("400 Bad Request", {"error": f"{host} is not on this machine"})
        if self.lease is None:
            return _json("200 OK", {"watching": False})  # runs until stopped anyway
        if not self.lease.add(endpoint):
            return _json("503 Service Unavailable", {"error": "the stub is stopping"})
        return _json("200 OK", {"watching": True})


def _json(status: str, body: dict[str, Any]) -> Reply:
    data = json.dumps(body).encode()
    headers = [("content-type", "application/json"), ("content-length", str(len(data)))]
    return status, headers, [data]


def make_server(host: str = "127.0.0.1", port: int = 0, lease: Lease | None = None) -> HttpServer:
    """Return a bound (not yet serving) payments server; port 0 picks a free one."""
    return HttpServer(Payments(lease), "payments-stub", host, port)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4590)
    parser.add_argument(
        "--while-up",
        action="append",
        default=[],
        metavar="URL",
        help="serve while this emulator accepts connections (repeatable)",
    )
    args = parser.parse_args()
    try:
        lease = Lease(args.while_up) if args.while_up else None
    except ValueError as err:
        parser.error(f"--while-up: {err}")
    server = make_server(args.host, args.port, lease)
    server.start()
    if lease is None:
        threading.Event().wait()
        return
    lease.run()
    print("payments stub: no emulator it serves accepts connections; stopping", file=sys.stderr)
    server.close()


if __name__ == "__main__":
    main()
