"""The layer's ledger writes in real sandbox functions: after the response, inline, at a timeout."""

import base64
import json
import time
from pathlib import Path
from typing import Any

import pytest

from chaoskit.layer.build import build_layer_zip
from chaoskit.ledger import store
from chaoskit.ledger.records import SENT, Record
from chaoskit.ledger.trace import stamp
from probes.ledger import wait_until_settled
from tests.support.sandbox import create_function, unique, wait_for


@pytest.fixture(scope="module")
def layer_arn(aws: Any, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The chaoskit layer, built from this checkout and published to the sandbox."""
    path = build_layer_zip(Path(tmp_path_factory.mktemp("layer")) / "chaoskit.zip")
    return str(
        aws("lambda").publish_layer_version(
            LayerName=unique("chaoskit"), Content={"ZipFile": path.read_bytes()}
        )["LayerVersionArn"]
    )


@pytest.fixture(scope="module")
def ledger(sandbox: dict[str, Any]) -> dict[str, Any]:
    """A ledger table of its own; the configuration that reads it."""
    configuration = {**sandbox, "chaoskit_ledger_table": unique("ledger")}
    store.ensure_table(configuration)
    return configuration


def _layered(aws: Any, layer_arn: str, ledger: dict[str, Any], timeout: int = 5, **env: str) -> str:
    name = unique("ledger-flush")
    variables = {
        "AWS_LAMBDA_EXEC_WRAPPER": "/opt/chaoskit-wrapper",
        "CHAOSKIT_LEDGER_TABLE": ledger["chaoskit_ledger_table"],
        **env,
    }
    create_function(aws, name, env=variables, layers=[layer_arn], timeout=timeout)
    return name


def _invoke(aws: Any, name: str, event: dict[str, Any]) -> tuple[dict[str, Any], Any, str]:
    response = aws("lambda").invoke(FunctionName=name, Payload=json.dumps(event), LogType="Tail")
    body = json.loads(response["Payload"].read() or b"null")
    return response, body, base64.b64decode(response.get("LogResult") or "").decode()


def _kinds(ledger: dict[str, Any], run_id: str) -> list[str]:
    return sorted(r.kind for r in store.read_run(run_id, ledger))


def test_by_default_the_records_are_written_after_the_response(
    aws: Any, layer_arn: str, ledger: dict[str, Any]
) -> None:
    name = _layered(aws, layer_arn, ledger)
    run_id = unique("run")
    for i in range(3):  # the first is a cold start: the extension registers during init
        response, body, log = _invoke(aws, name, stamp({"echo": i}, run_id, f"e-{i}"))
        assert "FunctionError" not in response, body
        assert body["echo"] == i
        assert '"chaoskit": "warning"' not in log, log
    expected = ["attempt"] * 3 + ["processed"] * 3
    wait_for(lambda: _kinds(ledger, run_id) == expected, timeout=10, what="6 ledger records")


def test_inline_writes_are_on_record_when_the_invoke_returns(
    aws: Any, layer_arn: str, ledger: dict[str, Any]
) -> None:
    name = _layered(aws, layer_arn, ledger, CHAOSKIT_LEDGER_FLUSH="inline")
    run_id = unique("run")
    response, body, _ = _invoke(aws, name, stamp({"echo": 1}, run_id, "e-1"))
    assert "FunctionError" not in response, body
    assert _kinds(ledger, run_id) == ["attempt", "processed"]  # no waiting


def test_a_function_killed_at_its_timeout_still_has_its_attempt_on_record(
    aws: Any, layer_arn: str, ledger: dict[str, Any]
) -> None:
    name = _layered(aws, layer_arn, ledger, timeout=1)
    run_id = unique("run")
    response, body, _ = _invoke(aws, name, stamp({"sleep": 5}, run_id, "e-slow"))
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Sandbox.Timedout"
    # The attempt was held 50 ms at most, then written while the handler slept.
    assert _kinds(ledger, run_id) == ["attempt"]


def test_a_run_whose_last_attempt_was_killed_at_its_timeout_settles_with_the_event_lost(
    aws: Any, layer_arn: str, ledger: dict[str, Any]
) -> None:
    # Killed at its timeout, the invocation never records an outcome. Its attempt names
    # its deadline, so once that has passed the event is not "in flight" for ever: the
    # run settles, and the event is lost with the reason.
    name = _layered(aws, layer_arn, ledger, timeout=1)
    run_id = unique("run")
    store.write([Record(run_id, "e-slow", SENT, time.time())], ledger)
    _, body, _ = _invoke(aws, name, stamp({"sleep": 5}, run_id, "e-slow"))
    assert body["errorType"] == "Sandbox.Timedout"
    out = wait_until_settled(
        timeout=60, run_id=run_id, poll_interval=0.5, quiet_seconds=1, configuration=ledger
    )
    assert out["settled"], out
    assert out["in_flight"] == 0 and out["lost_ids"] == ["e-slow"]
    assert out["lost_reasons"] == {f"no outcome at {name} by its deadline": 1}
    assert out["stages"][name]["failed"] == 1
