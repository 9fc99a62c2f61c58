"""Node.js functions on the sandbox, with chaoskit's layer: every fault kind, traced, reconciled.

The function (``functions/node_worker.mjs``) runs as a local ``node`` process behind
Lambda's Runtime API, with the layer enabled by the real action. Each fault is
injected with the real ``inject_*`` action, confirmed live through the layer's
acknowledgement, and observed from outside: the invoke result, the duration, what
a local third-party server saw, and the ledger records, through SQS (partial batch
responses, a DLQ) and async invoke (an on-failure destination).
"""

import http.server
import json
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chaoskit.faults import inject, layer
from chaoskit.layer.build import build_layer_zip
from chaoskit.ledger import store
from chaoskit.ledger.trace import stamp
from tests.support.sandbox import FUNCTIONS, ROLE, drain, queue, unique, wait_for, zip_files

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")


@pytest.fixture(scope="module")
def ck(
    sandbox: dict[str, Any], aws: Any, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """Configuration with a ledger of its own and the chaoskit layer published."""
    configuration = {**sandbox, "chaoskit_ledger_table": unique("ledger")}
    store.ensure_table(configuration)
    path = build_layer_zip(Path(tmp_path_factory.mktemp("layer")) / "chaoskit.zip")
    arn = aws("lambda").publish_layer_version(
        LayerName=unique("chaoskit"), Content={"ZipFile": path.read_bytes()}
    )["LayerVersionArn"]
    return {**configuration, "layer_arn": arn}


def _node_function(aws: Any, ck: dict[str, Any], timeout: int = 5) -> str:
    name = unique("node-worker")
    aws("lambda").create_function(
        FunctionName=name, Runtime="nodejs20.x", Role=ROLE, Handler="index.handler",
        Code={"ZipFile": zip_files({"index.mjs": (FUNCTIONS / "node_worker.mjs").read_text()})},
        Timeout=timeout,
    )  # fmt: skip
    aws("lambda").get_waiter("function_active_v2").wait(
        FunctionName=name, WaiterConfig={"Delay": 0.5, "MaxAttempts": 60}
    )
    out = layer.enable_chaoskit_layer(name, layer_arn=ck["layer_arn"], configuration=ck)
    assert out["variables"]["AWS_LAMBDA_EXEC_WRAPPER"] == "/opt/chaoskit-wrapper"
    return name


def _invoke(aws: Any, name: str, event: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    response = aws("lambda").invoke(FunctionName=name, Payload=json.dumps(event))
    return response, json.loads(response["Payload"].read() or b"null")


def _live(name: str, ck: dict[str, Any]) -> None:
    assert layer.wait_for_fault_live(name, timeout=30, ping=True, configuration=ck)["live"]


@pytest.fixture
def third_party() -> Iterator[dict[str, Any]]:
    """A third-party HTTP API on 127.0.0.1 that counts the calls reaching it."""
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield {"url": f"http://127.0.0.1:{server.server_address[1]}/pay", "hits": hits}
    finally:
        server.shutdown()


def test_every_in_function_fault_kind_on_a_node_function(aws: Any, ck: dict[str, Any]) -> None:
    name = _node_function(aws, ck, timeout=2)
    response, body = _invoke(aws, name, {"hello": 1})
    assert "FunctionError" not in response and body["ok"] is True, body

    inject.inject_exception(name, exception_type="PaymentDeclined", message="no", configuration=ck)
    _live(name, ck)
    response, body = _invoke(aws, name, {})
    assert response["FunctionError"] == "Unhandled"
    assert (body["errorType"], body["errorMessage"]) == ("PaymentDeclined", "no")

    inject.inject_latency(name, ms=600, replace=True, configuration=ck)
    _live(name, ck)
    started = time.monotonic()
    response, body = _invoke(aws, name, {})
    assert body["ok"] is True and time.monotonic() - started >= 0.6

    inject.inject_status(name, status_code=503, replace=True, configuration=ck)
    _live(name, ck)
    _, body = _invoke(aws, name, {"requestContext": {"apiId": "a"}, "httpMethod": "GET"})
    assert body["statusCode"] == 503 and "injected by chaoskit" in body["body"]

    inject.inject_timeout(name, replace=True, configuration=ck)
    _live(name, ck)
    response, body = _invoke(aws, name, {})
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Sandbox.Timedout", body

    inject.clear_faults(name, configuration=ck)
    _live(name, ck)
    response, body = _invoke(aws, name, {})
    assert "FunctionError" not in response and body["ok"] is True


def test_downstream_faults_on_a_node_function(
    aws: Any, ck: dict[str, Any], third_party: dict[str, Any]
) -> None:
    name = _node_function(aws, ck)
    inject.inject_http_fault(name, hosts=["127.0.0.1"], status=429, retry_after=7, configuration=ck)
    inject.inject_sdk_throttle(
        name, service="dynamodb", operations=["ListTables"], configuration=ck
    )
    _live(name, ck)
    _, body = _invoke(aws, name, {"url": third_party["url"], "dynamodb": True})
    assert body["http"] == {"status": 429, "retryAfter": "7"}
    assert third_party["hits"] == []  # the third party never saw the call
    assert body["dynamodb"] == {"status": 400, "type": "ProvisionedThroughputExceededException"}
    inject.clear_faults(name, configuration=ck)
    _live(name, ck)
    _, body = _invoke(aws, name, {"url": third_party["url"], "dynamodb": True})
    assert body["http"]["status"] == 200 and body["dynamodb"] == {"status": 200, "type": None}
    assert third_party["hits"] == ["/pay"]


def _kinds(ck: dict[str, Any], run_id: str) -> dict[str, list[str]]:
    kinds: dict[str, list[str]] = {}
    for record in store.read_run(run_id, ck):
        kinds.setdefault(record.event_id, []).append(record.kind)
    return {event: sorted(k) for event, k in kinds.items()}


def test_sqs_events_through_a_node_function_are_traced_and_reconciled(
    aws: Any, ck: dict[str, Any]
) -> None:
    name = _node_function(aws, ck)
    dlq_url, dlq_arn = queue(aws, unique("node-dlq"))
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "1"})
    url, arn = queue(aws, unique("node-in"), VisibilityTimeout="2", RedrivePolicy=redrive)
    aws("lambda").create_event_source_mapping(
        EventSourceArn=arn, FunctionName=name, BatchSize=10,
        FunctionResponseTypes=["ReportBatchItemFailures"],
    )  # fmt: skip
    run_id = unique("run")
    sqs = aws("sqs")
    for i, kind in enumerate(["good", "good", "poison", "good"]):
        body = json.dumps(stamp({"kind": kind}, run_id, f"e{i}"))
        sqs.send_message(QueueUrl=url, MessageBody=body)
    dead = drain(sqs, dlq_url, expect=1, timeout=60)
    assert [json.loads(m["Body"])["chaoskit"]["event_id"] for m in dead] == ["e2"]
    expected = {
        "e0": ["attempt", "processed"], "e1": ["attempt", "processed"],
        "e2": ["attempt", "failed"], "e3": ["attempt", "processed"],
    }  # fmt: skip

    def settled() -> bool:
        seen = _kinds(ck, run_id)
        return all(seen.get(e, [])[: len(k)] == k or seen.get(e) == k for e, k in expected.items())

    wait_for(settled, timeout=30, what="ledger records of 4 events")
    seen = _kinds(ck, run_id)
    for event, kinds in expected.items():
        assert set(seen[event]) == set(kinds), (event, seen[event])


def test_async_invokes_of_a_node_function_fail_to_their_destination(
    aws: Any, ck: dict[str, Any]
) -> None:
    name = _node_function(aws, ck)
    dest_url, dest_arn = queue(aws, unique("node-failures"))
    aws("lambda").put_function_event_invoke_config(
        FunctionName=name, MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": dest_arn}},
    )  # fmt: skip
    inject.inject_exception(name, exception_type="Boom", configuration=ck)
    _live(name, ck)
    run_id = unique("run")
    aws("lambda").invoke(
        FunctionName=name, InvocationType="Event", Payload=json.dumps(stamp({}, run_id, "a1"))
    )
    records = drain(aws("sqs"), dest_url, expect=1, timeout=60)
    assert len(records) == 1
    destination = json.loads(records[0]["Body"])
    assert destination["requestContext"]["condition"] == "RetriesExhausted"
    assert destination["responsePayload"]["errorType"] == "Boom"
    wait_for(lambda: _kinds(ck, run_id).get("a1") == ["attempt", "failed"], timeout=20,
             what="the async event's ledger records")  # fmt: skip
