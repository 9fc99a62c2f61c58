"""A stand-in for the third-party payments API, for local targets.

``POST /charge`` answers ``{"status": "charged"}``; ``GET /health`` answers 200.
chaoskit's HTTP faults (429 with Retry-After, 503, refused connections) are
injected in the worker, in front of this server, exactly as they would be in
front of the real provider.

    python experiments/app/payments_stub.py --port 4590
"""

import argparse
import json
import threading
from typing import Any

from chaoskit.sandbox.plugin.http11 import HttpServer, Reply, Request

# The worker calls the stub once per order, on a new connection each time; Python's
# http.server (a thread per connection, headers parsed by the email package) cost
# about 1 ms of CPU per order on the machine the sandbox shares with it.


class Payments:
    """Answer charges and health checks; count the charges."""

    def __init__(self) -> None:
        self.charges = 0
        self._lock = threading.Lock()

    def __call__(self, request: Request) -> Reply:
        path = request.target.split("?", 1)[0].rstrip("/")
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


def _json(status: str, body: dict[str, Any]) -> Reply:
    data = json.dumps(body).encode()
    headers = [("content-type", "application/json"), ("content-length", str(len(data)))]
    return status, headers, [data]


def make_server(host: str = "127.0.0.1", port: int = 0) -> HttpServer:
    """Return a bound (not yet serving) payments server; port 0 picks a free one."""
    return HttpServer(Payments(), "payments-stub", host, port)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4590)
    args = parser.parse_args()
    make_server(args.host, args.port).start()
    threading.Event().wait()


if __name__ == "__main__":
    main()
