"""The reference app's handlers, run in-process against the moto server and a real HTTP API."""

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.app import Payments, load_event, table_items
from tests.support.net import async_invoke_endpoint


def test_worker_stores_each_order_with_its_trace(app_env: dict[str, Any]) -> None:
    from orders import worker

    result = worker.handler(load_event("sqs_orders.json"), None)

    assert result == {"batchItemFailures": []}
    items = table_items(app_env)
    assert set(items) == {"e-1", "e-2"}
    assert items["e-1"]["run_id"] == "run-app"
    assert items["e-1"]["event_id"] == "e-1"
    assert items["e-1"]["payment"] == "charged"


def test_worker_reports_only_the_failed_record(app_env: dict[str, Any], payments: Payments) -> None:
    from orders import worker

    payments.statuses = [500]  # the first order's charge fails and is not retried here

    result = worker.handler(load_event("sqs_orders.json"), None)

    assert result == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}
    assert set(table_items(app_env)) == {"e-2"}


def test_worker_retries_throttled_charges(app_env: dict[str, Any], payments: Payments) -> None:
    from orders import worker

    payments.statuses = [429, 503]  # two throttled answers, then success

    result = worker.handler(load_event("sqs_orders.json"), None)

    assert result == {"batchItemFailures": []}
    assert payments.calls == 4  # 3 attempts for the first order, 1 for the second
    assert set(table_items(app_env)) == {"e-1", "e-2"}


def test_breaker_opens_and_the_fallback_keeps_the_orders(
    app_env: dict[str, Any], payments: Payments, caplog: pytest.LogCaptureFixture
) -> None:
    from orders import payments as payments_module
    from orders import worker

    payments.default = 429  # the provider throttles every call
    events = [load_event("sqs_orders.json") for _ in range(3)]
    for n, event in enumerate(events):
        for record in event["Records"]:
            body = json.loads(record["body"])
            body["chaoskit"]["event_id"] += f"-{n}"
            record["body"] = json.dumps(body)
            record["messageId"] += f"-{n}"

    results = [worker.handler(event, None) for event in events]

    failed = [f["itemIdentifier"] for r in results for f in r["batchItemFailures"]]
    # fail_max=3: two orders fail (and go back to the queue), the third trips the breaker.
    assert failed == ["m-1-0", "m-2-0"]
    assert payments_module.breaker.current_state == "open"
    items = table_items(app_env)
    assert {k: v["payment"] for k, v in items.items()} == {
        "e-1-1": "deferred",
        "e-2-1": "deferred",
        "e-1-2": "deferred",
        "e-2-2": "deferred",
    }
    calls_when_open = payments.calls
    worker.handler(load_event("sqs_orders.json"), None)
    assert payments.calls == calls_when_open  # an open breaker does not call the provider
    # The fallback's log line says why: what the provider answered to the tripping call.
    reasons = [r.getMessage() for r in caplog.records if "payments fallback" in r.getMessage()]
    assert "circuit breaker opened: payments answered 429" in reasons[0], reasons


def test_broken_worker_swallows_the_failure(app_env: dict[str, Any], payments: Payments) -> None:
    from orders import broken

    payments.statuses = [500]

    result = broken.worker_handler(load_event("sqs_orders.json"), None)

    assert result == {"batchItemFailures": []}  # SQS will delete the failed message: lost
    assert set(table_items(app_env)) == {"e-2"}


def test_worker_handles_a_direct_invocation(app_env: dict[str, Any]) -> None:
    from orders import worker

    order = {"amount": 1, "chaoskit": {"run_id": "run-app", "event_id": "d-1"}}

    assert worker.handler(order, None) == {"order_id": "d-1"}
    assert table_items(app_env)["d-1"]["status"] == "accepted"


def test_stream_fails_the_batch_on_a_poison_record(app_env: dict[str, Any]) -> None:
    from orders import stream

    with pytest.raises(stream.PoisonRecord, match="malformed"):
        stream.handler(load_event("kinesis_with_poison.json"), None)
    assert set(table_items(app_env)) == {"k-1"}  # bisecting retries the rest


def test_broken_stream_skips_the_poison_record_silently(app_env: dict[str, Any]) -> None:
    from orders import broken

    result = broken.stream_handler(load_event("kinesis_with_poison.json"), None)

    assert result == {"processed": 2}
    assert set(table_items(app_env)) == {"k-1", "k-3"}


def test_step_fulfils_the_order_from_an_eventbridge_event(app_env: dict[str, Any]) -> None:
    from orders import step

    result = step.handler(load_event("eventbridge_order.json"), None)

    assert result == {"order_id": "w-1", "status": "fulfilled"}
    assert table_items(app_env)["w-1"]["run_id"] == "run-app"


def test_broken_step_reports_success_on_failure(
    app_env: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from orders import broken, step

    monkeypatch.setenv("ORDERS_TABLE", "no-such-table")
    with pytest.raises(Exception, match=r"ResourceNotFound|not found"):
        step.handler(load_event("eventbridge_order.json"), None)
    assert broken.step_handler(load_event("eventbridge_order.json"), None) == {"status": "ok"}


def test_ingest_queues_the_body_verbatim(app_env: dict[str, Any]) -> None:
    from orders import ingest

    from chaoskit import aws

    event = load_event("apigw_post_order.json")
    response = ingest.handler(event, None)

    assert response["statusCode"] == 202
    sqs = aws.client("sqs", app_env)
    messages = sqs.receive_message(QueueUrl=app_env["queue_url"], WaitTimeSeconds=1)["Messages"]
    assert json.loads(messages[0]["Body"]) == json.loads(event["body"])


def test_ingest_answers_health_checks_and_refuses_bad_bodies(app_env: dict[str, Any]) -> None:
    from orders import ingest

    health = ingest.handler({"httpMethod": "GET", "path": "/health"}, None)
    bad = ingest.handler({"httpMethod": "POST", "path": "/orders", "body": "[1]"}, None)

    assert health["statusCode"] == 200
    assert json.loads(health["body"])["ok"] is True
    assert bad["statusCode"] == 400


NOTIFIER = Path(__file__).resolve().parents[2] / "experiments" / "app" / "node" / "notifier.mjs"
NOTIFY = """
const { handler } = await import(process.argv[1]);
const out = {};
out.ok = await handler({ order_id: "o-1" });
try { await handler({ order_id: "o-2", notify_fail: true }); }
catch (err) { out.error = [err.name, err.message]; }
console.log(JSON.stringify(out));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_the_nodejs_notifier_fails_when_told_to() -> None:
    done = subprocess.run(
        ["node", "--input-type=module", "-e", NOTIFY, NOTIFIER.as_uri()],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["ok"] == {"notified": True}
    assert out["error"] == ["NotificationFailed", "cannot notify for order o-2"]


def test_ingest_decodes_a_base64_body(app_env: dict[str, Any]) -> None:
    import base64

    from orders import ingest

    body = base64.b64encode(b'{"amount": 2}').decode()
    event = {"httpMethod": "POST", "path": "/orders", "body": body, "isBase64Encoded": True}

    assert ingest.handler(event, None)["statusCode"] == 202


def test_worker_notifies_on_one_kept_alive_connection(
    app_env: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each order's notification reuses the SDK's connection instead of opening a new one.

    Lambda answers an asynchronous invoke 202 with an empty streaming payload; left
    unread, it keeps its connection out of the SDK's pool, so each invoke opened one.
    """
    from orders import worker

    with async_invoke_endpoint() as endpoint:
        monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", endpoint.url)
        monkeypatch.setenv("ORDERS_NOTIFIER_FUNCTION", "orders-notifier")
        for n in range(3):
            worker.notify({"order_id": f"o-{n}"})

    assert (endpoint.connections, endpoint.invokes) == (1, 3)
