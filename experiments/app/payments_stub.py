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
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class PaymentsHandler(BaseHTTPRequestHandler):
    """Answer charges and health checks."""

    charges = 0
    _lock = threading.Lock()

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/health"):
            self._send(200, {"ok": True, "charges": PaymentsHandler.charges})
        else:
            self._send(404, {"error": f"no route {self.path}"})

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        try:
            order = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            self._send(400, {"error": "body must be JSON"})
            return
        with PaymentsHandler._lock:
            PaymentsHandler.charges += 1
        self._send(200, {"status": "charged", "order_id": order.get("order_id")})

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return


def make_server(host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """Return a bound (not yet serving) payments server; port 0 picks a free one."""
    server = ThreadingHTTPServer((host, port), PaymentsHandler)
    server.daemon_threads = True
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4590)
    args = parser.parse_args()
    make_server(args.host, args.port).serve_forever()


if __name__ == "__main__":
    main()
