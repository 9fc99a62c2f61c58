"""The ledger's internal extension against the sandbox's Extensions API (real HTTP on 127.0.0.1).

The API is served by the sandbox's own runtime loop (``bootstrap.Runtime``) in this
process; the test plays the part of Lambda: it sends ``INVOKE`` events and waits
for the extensions to settle, as the runtime does after each response.
"""

import time
from collections.abc import Iterator
from typing import Any

import pytest
from layer_helpers import Calls, load_event, make_layer
from test_layer_writer import Batches

from chaoskit import envvars
from chaoskit.layer import extension, handler, writer
from chaoskit.sandbox.plugin import bootstrap
from tests.support.lambda_context import FakeContext
from tests.support.net import free_port


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[bootstrap.Runtime, dict[str, str]]]:
    """A runtime API on a free port, and a fresh shared writer that records its calls."""
    runtime = bootstrap.Runtime("http://127.0.0.1:9", "env1")
    port = free_port()
    runtime.serve(port)
    extension.reset()
    monkeypatch.setattr(writer, "_shared", writer.LedgerWriter(Batches()))
    try:
        yield runtime, {"AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}"}
    finally:
        extension.reset()  # the old thread stays parked in ``next``; it is a daemon


def _calls() -> list[list[str]]:
    write = writer.shared()._write
    assert isinstance(write, Batches)
    return write.calls


def _invoke_event(runtime: bootstrap.Runtime, request_id: str, seconds: float) -> None:
    runtime.extensions.dispatch(
        {"eventType": "INVOKE", "requestId": request_id,
         "deadlineMs": int((time.time() + seconds) * 1000)}
    )  # fmt: skip


def test_records_are_written_after_the_response_before_the_next_event(
    api: tuple[bootstrap.Runtime, dict[str, str]],
) -> None:
    runtime, environ = api
    assert extension.register(environ) is True
    assert runtime.extensions.settle(5)  # parked in ``next``: init may end
    runtime.extensions.close()
    _invoke_event(runtime, "req-1", 30)
    layer = make_layer({})
    assert layer.invoke(Calls(), load_event("sqs"), FakeContext()) == "ok"
    # The layer returned without waiting for DynamoDB: no outcome is written yet...
    assert not any(item.startswith("processed") for call in _calls() for item in call)
    # ...and the environment stays busy until the handler is done and the writes are.
    assert runtime.extensions.settle(0.2) is False
    extension.finished("req-1")
    assert runtime.extensions.settle(5) is True
    written = sorted(item for call in _calls() for item in call)
    assert written == [f"{kind}:e-{i}" for kind in ("attempt", "processed") for i in (1, 2, 3)]


def test_the_deadline_ends_the_wait_for_a_handler_that_never_finished(
    api: tuple[bootstrap.Runtime, dict[str, str]],
) -> None:
    runtime, environ = api
    assert extension.register(environ)
    assert runtime.extensions.settle(5)
    make_layer({}).invoke(Calls(), load_event("sns"), FakeContext())
    _invoke_event(runtime, "req-never", 0.3)
    assert runtime.extensions.settle(5) is True
    assert sorted(item for call in _calls() for item in call) == [
        "attempt:e-sns",
        "processed:e-sns",
    ]


def test_the_wrapper_handler_marks_the_invocation_finished_even_when_it_raises(
    api: tuple[bootstrap.Runtime, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime, environ = api
    assert extension.register(environ)
    assert runtime.extensions.settle(5)
    monkeypatch.setattr(handler, "_original", Calls(error=ValueError("bad order")))
    monkeypatch.setattr(handler, "layer", make_layer({}))
    _invoke_event(runtime, "req-1", 30)
    started = time.monotonic()
    with pytest.raises(ValueError):
        handler.handler(load_event("sns"), FakeContext())
    assert runtime.extensions.settle(10) is True
    assert time.monotonic() - started < 10  # settled by finished(), not by the deadline
    assert sorted(item for call in _calls() for item in call) == ["attempt:e-sns", "failed:e-sns"]


def test_a_refused_registration_warns_once_and_the_layer_writes_before_returning(
    api: tuple[bootstrap.Runtime, dict[str, str]], lines: Any
) -> None:
    runtime, environ = api
    runtime.extensions.close()  # init is over: Lambda refuses late registrations
    assert extension.register(environ) is False
    assert extension.active() is False
    (warning,) = lines.warnings()
    assert "could not register the ledger extension" in warning["message"]
    assert "403" in warning["message"]
    make_layer({}).invoke(Calls(), load_event("sns"), FakeContext())
    assert sorted(item for call in _calls() for item in call) == [
        "attempt:e-sns",
        "processed:e-sns",
    ]


def test_inline_mode_registers_nothing(
    api: tuple[bootstrap.Runtime, dict[str, str]], lines: Any
) -> None:
    runtime, environ = api
    assert extension.register({**environ, envvars.LEDGER_FLUSH: "inline"}) is False
    assert runtime.extensions._queued == {}
    assert lines.warnings() == []
    assert extension.register({**environ, envvars.LEDGER_FLUSH: "later"}) is False
    (warning,) = lines.warnings()
    assert "'later' is not 'after-response' or 'inline'" in warning["message"]
    assert runtime.extensions._queued == {}


def test_outside_lambda_nothing_registers() -> None:
    extension.reset()
    assert extension.register({}) is False
    assert extension.active() is False
