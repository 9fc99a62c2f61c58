"""Route 53 health probing against real endpoints on 127.0.0.1, and its status rules."""

import http.server
import socket
import threading
from types import SimpleNamespace

import pytest

from chaoskit.sandbox.plugin import health


@pytest.fixture
def endpoint():
    state = SimpleNamespace(status=200, body=b"all good")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(state.status)
            self.send_header("Content-Length", str(len(state.body)))
            self.end_headers()
            self.wfile.write(state.body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state.port = server.server_address[1]
    yield state
    server.shutdown()


def _check(port, kind="HTTP", **extra):
    values = {
        "type_": kind,
        "ip_address": "127.0.0.1",
        "fqdn": None,
        "port": port,
        "resource_path": "/health",
        "search_string": None,
        "failure_threshold": 1,
        "inverted": False,
        "disabled": False,
        "request_interval": 10,
        "children": None,
        "health_threshold": None,
    }
    values.update(extra)
    return SimpleNamespace(**values)


def test_http_probe_reads_the_status_code(endpoint):
    ok, detail = health.probe(_check(endpoint.port))
    assert ok and detail.startswith("Success: HTTP Status Code 200")
    endpoint.status = 503
    ok, detail = health.probe(_check(endpoint.port))
    assert not ok and "HTTP Status Code 503" in detail


def test_string_match_probe_needs_the_search_string(endpoint):
    assert health.probe(_check(endpoint.port, "HTTP_STR_MATCH", search_string="good"))[0]
    assert not health.probe(_check(endpoint.port, "HTTP_STR_MATCH", search_string="bad"))[0]


def test_tcp_probe_and_a_closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        assert health.probe(_check(sock.getsockname()[1], "TCP"))[0]
        closed = sock.getsockname()[1]
    assert not health.probe(_check(closed, "TCP"))[0]
    assert not health.probe(_check(closed))[0]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        (False, False),
        ("true", True),
        ("false", False),
        ("False", False),
        (None, False),
    ],
)
def test_flags_as_moto_keeps_them(value, expected):
    assert health.flag(value) is expected


def test_failure_threshold_inverted_and_disabled(endpoint, monkeypatch):
    check = _check(endpoint.port, failure_threshold=2)
    checker = health.HealthChecker()
    monkeypatch.setattr(checker, "_all_checks", lambda: {"hc": check})
    checker._probe("hc", check)
    assert checker.is_healthy("hc")
    endpoint.status = 500
    checker._probe("hc", check)
    assert checker.is_healthy("hc")  # one failure of two
    checker._probe("hc", check)
    assert not checker.is_healthy("hc")
    assert checker.observation("hc")[0].startswith("Failure: HTTP Status Code 500")
    check.inverted = "true"
    assert checker.is_healthy("hc")
    check.inverted, check.disabled = "false", "true"
    assert checker.is_healthy("hc")
    check.disabled = "false"
    assert not checker.is_healthy("hc")
    assert checker.is_healthy("unknown")  # records without a known check stay healthy
