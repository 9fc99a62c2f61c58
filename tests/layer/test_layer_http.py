"""Third-party HTTP faults against a real HTTP server on 127.0.0.1."""

import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from layer_helpers import Sleeps, config, make_layer

from chaoskit import envvars
from chaoskit.layer.outbound import host_matches
from tests.support.lambda_context import FakeContext


class Server:
    """A local HTTP server that counts the requests it really received."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.paths.append(self.path)
                body = b'{"ok": true}'
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                return None

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, host: str = "127.0.0.1", path: str = "/pay") -> str:
        return f"http://{host}:{self.port}{path}"


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


def _layer(*faults: dict[str, Any], sleep: Sleeps | None = None) -> Any:
    return make_layer({envvars.CONFIG: config(*faults)}, sleep=sleep)


HTTP_429 = {"kind": "http", "rate": 1, "hosts": ["127.0.0.1"], "status": 429, "retry_after": 1}


def test_requests_gets_the_injected_429_with_retry_after(server: Server, lines: Any) -> None:
    def handler(event: Any, context: Any) -> Any:
        response = requests.get(server.url(), timeout=5)
        return response.status_code, response.headers.get("Retry-After"), response.json()

    status, retry_after, body = _layer(HTTP_429).invoke(handler, {}, FakeContext())
    assert (status, retry_after) == (429, "1")
    assert body == {"message": "injected by chaoskit"}
    assert server.paths == []
    (line,) = lines.faults()
    assert line["kind"] == "http" and line["status"] == 429 and line["host"] == "127.0.0.1"


def test_a_reused_keep_alive_connection_is_faulted_too(server: Server) -> None:
    session = requests.Session()
    assert session.get(server.url(), timeout=5).status_code == 200  # pooled connection
    status = _layer(HTTP_429).invoke(
        lambda e, c: session.get(server.url(), timeout=5).status_code, {}, FakeContext()
    )
    assert status == 429
    assert session.get(server.url(), timeout=5).status_code == 200  # disarmed afterwards
    assert server.paths == ["/pay", "/pay"]


def test_urllib_through_http_client_gets_the_injected_503(server: Server) -> None:
    fault = {**HTTP_429, "status": 503, "retry_after": 7}

    def handler(event: Any, context: Any) -> Any:
        try:
            urllib.request.urlopen(server.url(), timeout=5)
        except urllib.error.HTTPError as err:
            return err.code, err.headers["Retry-After"]
        return None

    assert _layer(fault).invoke(handler, {}, FakeContext()) == (503, "7")
    assert server.paths == []


def test_connection_refused_means_the_server_sees_no_request(server: Server) -> None:
    fault = {"kind": "http", "rate": 1, "hosts": ["127.0.0.1"], "connection_refused": True}

    def handler(event: Any, context: Any) -> Any:
        with pytest.raises(requests.ConnectionError, match="refused"):
            requests.get(server.url(), timeout=5)
        with pytest.raises(urllib.error.URLError) as caught:
            urllib.request.urlopen(server.url(), timeout=5)
        assert isinstance(caught.value.reason, ConnectionRefusedError)
        return "done"

    assert _layer(fault).invoke(handler, {}, FakeContext()) == "done"
    assert server.paths == []


def test_latency_delays_the_call_which_then_reaches_the_server(server: Server) -> None:
    sleeps = Sleeps()
    fault = {"kind": "http", "rate": 1, "hosts": ["127.0.0.1"], "latency_ms": 300}
    status = _layer(fault, sleep=sleeps).invoke(
        lambda e, c: requests.get(server.url(), timeout=5).status_code, {}, FakeContext()
    )
    assert status == 200
    assert sleeps == [0.3]
    assert server.paths == ["/pay"]


def test_other_hosts_and_rate_0_pass_through(server: Server, lines: Any) -> None:
    other = {**HTTP_429, "hosts": ["payments.example.com", "*.stripe.com"]}
    never = {**HTTP_429, "rate": 0}
    layer = _layer(other, never)
    for _ in range(20):
        status = layer.invoke(
            lambda e, c: requests.get(server.url(), timeout=5).status_code, {}, FakeContext()
        )
        assert status == 200
    assert len(server.paths) == 20
    assert lines.faults() == []


def test_a_host_pattern_with_a_port_matches_only_that_port(server: Server) -> None:
    fault = {**HTTP_429, "hosts": [f"localhost:{server.port}"]}
    status = _layer(fault).invoke(
        lambda e, c: requests.get(server.url("localhost"), timeout=5).status_code,
        {},
        FakeContext(),
    )
    assert status == 429


def test_host_patterns() -> None:
    assert host_matches("api.stripe.com", 443, ["*.stripe.com"])
    assert not host_matches("stripe.com", 443, ["*.stripe.com"])
    assert host_matches("Payments.Example.com", 443, ["payments.example.com"])
    assert host_matches("localhost", 8080, ["localhost:8080"])
    assert not host_matches("localhost", 8081, ["localhost:8080"])


def test_urllib3_retries_honour_the_injected_retry_after(server: Server) -> None:
    import urllib3

    sleeps: list[float] = []

    class Retry(urllib3.Retry):
        def sleep_for_retry(self, response: Any) -> bool:
            after = self.get_retry_after(response)
            if after is None:
                return False
            sleeps.append(after)
            return True

    pool = urllib3.PoolManager(retries=Retry(total=2, status_forcelist=[429]))
    fault = {**HTTP_429, "retry_after": 2}

    def handler(event: Any, context: Any) -> Any:
        with pytest.raises(urllib3.exceptions.MaxRetryError):
            pool.request("GET", server.url())
        return "done"

    _layer(fault).invoke(handler, {}, FakeContext())
    assert sleeps == [2.0, 2.0]
    assert server.paths == []


def test_one_roll_per_request_gives_the_configured_rate(server: Server, lines: Any) -> None:
    fault = {**HTTP_429, "rate": 0.5}
    layer = make_layer({envvars.CONFIG: config(fault)}, seed=5)
    session = requests.Session()

    def handler(event: Any, context: Any) -> list[int]:
        codes = []
        for _ in range(100):  # new connection per request (http.client)
            try:
                urllib.request.urlopen(server.url(), timeout=5).read()
                codes.append(200)
            except urllib.error.HTTPError as err:
                codes.append(err.code)
        for _ in range(100):  # pooled keep-alive connections (urllib3)
            codes.append(session.get(server.url(), timeout=5).status_code)
        return codes

    codes = layer.invoke(handler, {}, FakeContext())
    injected = codes.count(429)
    assert injected == len(lines.faults())  # every roll that fired answered exactly one request
    assert 70 <= injected <= 130  # 0.5 of 200, +- 4 standard deviations
    assert len(server.paths) == codes.count(200)


def test_https_hosts_are_answered_without_dns_tls_or_any_packet() -> None:
    # payments.example.com is never resolved: the fault answers before any connection.
    fault = {**HTTP_429, "hosts": ["payments.example.com"], "status": 503, "retry_after": 3}
    refused = {"kind": "http", "rate": 1, "hosts": ["*.stripe.com"], "connection_refused": True}

    def handler(event: Any, context: Any) -> Any:
        via_requests = requests.get("https://payments.example.com/charge", timeout=5)
        try:
            urllib.request.urlopen("https://payments.example.com/charge", timeout=5)
        except urllib.error.HTTPError as err:
            via_urllib = err.code
        with pytest.raises(requests.ConnectionError):
            requests.post("https://api.stripe.com/v1/charges", timeout=5)
        return via_requests.status_code, via_requests.headers["Retry-After"], via_urllib

    assert _layer(fault, refused).invoke(handler, {}, FakeContext()) == (503, "3", 503)
