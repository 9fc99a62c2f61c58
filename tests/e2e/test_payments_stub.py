"""The reference app's payments stub: what it answers, and that it ends with its emulators.

``deploy.py`` starts the stub detached on local targets. It used to outlive them:
after the demo and ``chaoskit sandbox down`` it kept port 4590. The lifetime tests run
the stub as ``deploy.py`` does (a real process) against emulators that are plain
listening sockets on 127.0.0.1, and its lease on its own. (That it listens on
loopback only is checked with the sandbox's listeners, in ``test_sandbox_loopback.py``.)
"""

import importlib.util
import json
import os
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import ModuleType

import pytest
import reference_app

from tests.support.net import free_port

APP = reference_app.load()


def _stub_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("stub", reference_app.APP / "payments_stub.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _call(url: str, body: bytes | None = None) -> tuple[int, dict[str, object]]:
    """POST ``body`` (GET without one) to the stub; its status and JSON answer."""
    request = urllib.request.Request(url, data=body, method="POST" if body else "GET")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def _url(listener: socket.socket) -> str:
    return f"http://127.0.0.1:{listener.getsockname()[1]}"


def _accepts(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_the_stub_charges_counts_and_refuses_what_is_not_json() -> None:
    server = _stub_module().make_server()
    server.start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        assert _call(f"{base}/charge", b'{"order_id": "o-1", "amount": 3}') == (
            200,
            {"status": "charged", "order_id": "o-1"},
        )
        assert _call(f"{base}/charge", b"not json")[0] == 400
        assert _call(f"{base}/health") == (200, {"ok": True, "charges": 1})
        assert _call(f"{base}/nope")[0] == 404
    finally:
        server.close()


def test_the_stub_serves_while_any_emulator_it_serves_is_up_then_exits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAOSKIT_HOME", str(tmp_path / "home"))
    port = free_port()
    first = socket.create_server(("127.0.0.1", 0))
    second = socket.create_server(("127.0.0.1", 0))
    pid_file = tmp_path / "home" / "payments-stub.pid"
    try:
        assert APP.ensure_payments_stub(port=port, while_up=_url(first)).endswith(f":{port}/charge")
        pid = int(pid_file.read_text())
        # A second emulator finds the stub serving and joins it: no second stub.
        APP.ensure_payments_stub(port=port, while_up=_url(second))
        assert int(pid_file.read_text()) == pid
        first.close()
        time.sleep(5)  # more than three checks a second apart with the first one down
        assert _accepts(port), "the stub stopped while the second emulator was up"
        second.close()
        deadline = time.monotonic() + 20
        while _accepts(port) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _accepts(port), "the stub still serves with no emulator up"
        log = (tmp_path / "home" / "payments-stub.log").read_text()
        assert "no emulator it serves accepts connections; stopping" in log
    finally:
        first.close()
        second.close()
        if _accepts(port):
            APP.stop_payments_stub()
    _reap(pid, timeout=10)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def _reap(pid: int, timeout: float) -> None:
    """Collect the exited stub (this process started it) so that its PID is gone."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG)[0]:
                return
        except ChildProcessError:  # already collected
            return
        time.sleep(0.1)


def test_a_lease_ends_after_its_misses_and_then_takes_no_one() -> None:
    stub = _stub_module()
    up = {("127.0.0.1", 4566): True}
    lease = stub.Lease(["http://127.0.0.1:4566"], misses=2, reachable=lambda a: up.get(a, False))
    assert lease.check() and lease.check()
    up[("127.0.0.1", 4566)] = False
    assert lease.check()  # one miss
    assert lease.add("http://localhost:4599")  # joining resets the misses
    assert lease.check()
    assert not lease.check()  # two in a row: the lease ends
    assert lease.ended.is_set()
    assert not lease.add("http://127.0.0.1:4566"), "a lease that ended took a new emulator"
    up[("127.0.0.1", 4566)] = True
    assert not lease.check(), "an ended lease came back"


def test_watch_takes_emulators_on_this_machine_only() -> None:
    stub = _stub_module()
    lease = stub.Lease(["http://127.0.0.1:4566"], reachable=lambda a: True)
    servers = [stub.make_server(lease=lease), stub.make_server()]
    for server in servers:
        server.start()

    def watch(server: object, body: bytes) -> tuple[int, dict[str, object]]:
        return _call(f"http://127.0.0.1:{server.port}/_watch", body)  # type: ignore[attr-defined]

    try:
        leased, permanent = servers
        assert watch(leased, b'{"endpoint": "http://localhost:4567"}') == (200, {"watching": True})
        assert watch(leased, b'{"endpoint": "http://10.1.2.3:4566"}')[0] == 400
        assert watch(leased, b'{"endpoint": 7}')[0] == 400
        assert watch(leased, b"not json")[0] == 400
        assert watch(permanent, b'{"endpoint": "http://[::1]:4566"}') == (200, {"watching": False})
        assert lease.add("http://127.0.0.1:1")  # still open: /_watch did not end it
        lease.ended.set()
        assert watch(leased, b'{"endpoint": "http://127.0.0.1:4566"}')[0] == 503
        # Charges are not counted for /_watch calls.
        assert _call(f"http://127.0.0.1:{leased.port}/health")[1]["charges"] == 0
    finally:
        for server in servers:
            server.close()
