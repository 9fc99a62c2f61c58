"""The CLI in-process, and an endpoint that records AWS calls (fixtures in conftest.py)."""

import http.server
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from chaoskit import aws
from chaoskit.cli.main import main


@dataclass
class Recorder:
    """A real HTTP server on 127.0.0.1 that counts every request made to it."""

    url: str
    port: int
    requests: list[str] = field(default_factory=list)


@pytest.fixture(scope="session")
def _recorder_server() -> Iterator[Recorder]:
    recorder = Recorder(url="", port=0)

    class Handler(http.server.BaseHTTPRequestHandler):
        def _record(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            recorder.requests.append(
                f"{self.command} {self.path} {self.headers.get('X-Amz-Target')}"
            )
            self.send_response(500)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _record

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    recorder.port = int(server.server_address[1])
    recorder.url = f"http://127.0.0.1:{recorder.port}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield recorder
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def recorder(
    _recorder_server: Recorder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Recorder]:
    """Point every target at the recording endpoint; keep chaoskit's home in ``tmp_path``."""
    for name in list(os.environ):
        if name.startswith(("AWS_", "CHAOSKIT_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", _recorder_server.url)
    monkeypatch.setenv("CHAOSKIT_SANDBOX_PORT", str(_recorder_server.port))
    monkeypatch.setenv("CHAOSKIT_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    aws.clear_cache()
    _recorder_server.requests.clear()
    yield _recorder_server
    aws.clear_cache()


def run_cli(argv: list[str]) -> int:
    """Run ``chaoskit ARGV`` in this process; return its exit code."""
    try:
        main(argv)
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0
