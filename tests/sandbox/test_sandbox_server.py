"""Starting, finding and stopping the LocalStack process, with a stand-in LocalStack.

The stand-in is a real process: a small HTTP server answering
``/_localstack/health``, started the way the sandbox starts LocalStack.
"""

import json
import os
import socket
import sys
import textwrap
import time
from pathlib import Path

import pytest

from chaoskit.sandbox import server
from chaoskit.sandbox.errors import SandboxError
from chaoskit.sandbox.options import SandboxOptions
from chaoskit.sandbox.paths import SandboxPaths
from tests.support.net import free_port

FAKE = textwrap.dedent(
    """
    import http.server, json, os, sys
    if os.environ.get("FAKE_EXIT"):
        print("fatal: cannot start", flush=True)
        sys.exit(3)
    port = int(os.environ["GATEWAY_LISTEN"].rsplit(":", 1)[1])
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"services": {"lambda": "available"}}).encode()
            self.send_response(200); self.end_headers(); self.wfile.write(body)
        def log_message(self, *a): pass
    print("Ready.", flush=True)
    http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
    """
)


@pytest.fixture
def fake_localstack(tmp_path: Path) -> Path:
    """A 'python' that runs the stand-in when called as ``-m localstack.runtime.main``."""
    script = tmp_path / "fake_localstack.py"
    script.write_text(FAKE)
    exe = tmp_path / "bin" / "python"
    exe.parent.mkdir()
    # argv keeps "localstack.runtime.main", which is how the sandbox recognises its process
    exe.write_text(f'#!/bin/sh\nexec {sys.executable} {script} "$@"\n')
    exe.chmod(0o755)
    return exe


@pytest.fixture
def paths(tmp_path: Path) -> SandboxPaths:
    return SandboxPaths(root=tmp_path / "sandbox", port=free_port())


def test_env_binds_localhost_and_keeps_state_in_the_state_dir(paths):
    env = server.localstack_env(paths, SandboxOptions(retry_base_delay=1), "{}", base={})
    assert env["GATEWAY_LISTEN"] == f"127.0.0.1:{paths.port}"
    assert env["DNS_ADDRESS"] == "0"
    for key in ("LOCALSTACK_VOLUME_DIR", "FILESYSTEM_ROOT", "TMPDIR", "HOME"):
        assert Path(env[key]).is_relative_to(paths.state), key
    assert env["LAMBDA_RUNTIME_EXECUTOR"] == "chaoskit-process"
    assert env["PROVIDER_OVERRIDE_DYNAMODB"] == "chaoskit"
    assert env["LAMBDA_RETRY_BASE_DELAY"] == "1"


def test_env_drops_the_callers_aws_settings(paths):
    base = {"AWS_PROFILE": "prod", "AWS_ENDPOINT_URL": "http://x", "PATH": "/usr/bin"}
    env = server.localstack_env(paths, SandboxOptions(), "{}", base=base)
    assert "AWS_PROFILE" not in env and "AWS_ENDPOINT_URL" not in env
    assert env["PATH"] == "/usr/bin"


def test_start_waits_for_health_then_stop_ends_it(paths, fake_localstack):
    env = {**os.environ, **server.localstack_env(paths, SandboxOptions(), "{}")}
    state = server.start(paths, fake_localstack, env, SandboxOptions(), timeout=20)
    try:
        assert state["port"] == paths.port
        assert server.health(paths.port) == {"services": {"lambda": "available"}}
        running = server.running_state(paths)
        assert running is not None and running["pid"] == state["pid"]
        assert json.loads(paths.pid_file.read_text())["pid"] == state["pid"]
    finally:
        assert server.stop(paths, timeout=5) is True
    assert server.running_state(paths) is None
    assert not paths.pid_file.exists()
    assert not server.port_in_use(paths.port)
    assert server.stop(paths) is False


def test_start_reports_an_early_exit_with_the_log(paths, fake_localstack):
    env = {**os.environ, **server.localstack_env(paths, SandboxOptions(), "{}"), "FAKE_EXIT": "1"}
    with pytest.raises(SandboxError, match=r"exited with code 3(.|\n)*cannot start"):
        server.start(paths, fake_localstack, env, SandboxOptions(), timeout=20)
    assert not paths.pid_file.exists()


def test_start_refuses_a_port_in_use(paths, fake_localstack):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", paths.port))
        sock.listen()
        with pytest.raises(SandboxError, match=f"port {paths.port} .* in use"):
            server.start(paths, fake_localstack, dict(os.environ), SandboxOptions())


def test_a_stale_pid_file_is_not_a_running_sandbox(paths):
    paths.state.mkdir(parents=True)
    paths.pid_file.write_text(json.dumps({"pid": os.getpid(), "port": paths.port}))
    assert server.running_state(paths) is None  # our pid is alive but is not LocalStack
    assert server.stop(paths) is False
    assert not paths.pid_file.exists()


def test_tree_rss_counts_a_process_and_its_children(real_python):
    import subprocess

    from chaoskit.sandbox import tree_rss_mb

    alone = tree_rss_mb(os.getpid())
    assert alone is not None and alone > 10
    child = subprocess.Popen([real_python, "-c", "import time; time.sleep(5)"])
    try:
        deadline = time.monotonic() + 5
        while (tree_rss_mb(os.getpid()) or 0) <= alone + 1 and time.monotonic() < deadline:
            time.sleep(0.05)  # the child is starting up
        assert (tree_rss_mb(os.getpid()) or 0) > alone + 1
    finally:
        child.kill()
        child.wait()
