"""SDK throttling: botocore gets a real AWS error and its own retry modes engage (moto server)."""

import contextlib
import threading
import time
import types
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from layer_helpers import config, load_event, make_layer

from chaoskit import envvars
from chaoskit.layer import writer
from chaoskit.ledger.reconcile import reconcile
from chaoskit.ledger.store import read_run
from tests.support.lambda_context import FakeContext


@pytest.fixture
def backoffs(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record botocore's retry backoff sleeps instead of sleeping."""
    waits: list[float] = []
    monkeypatch.setattr("botocore.endpoint.time", types.SimpleNamespace(sleep=waits.append))

    # The adaptive mode's client-side rate limiter waits on a condition: record, don't wait.
    def no_wait(bucket: Any, amount: float) -> float:
        waits.append(-1.0)
        return 0.0

    monkeypatch.setattr("botocore.retries.bucket.TokenBucket._sleep_amount", no_wait)
    return waits


def _ddb(retries: dict[str, Any] | None) -> Any:
    config = Config(retries=retries) if retries else None
    client = boto3.session.Session().client("dynamodb", config=config)
    client.create_table(
        TableName="orders-table",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return client


def _attempts(client: Any, operation: str) -> list[str]:
    sent: list[str] = []
    client.meta.events.register(f"before-send.dynamodb.{operation}", lambda **kw: sent.append("x"))
    return sent


THROTTLE = {"kind": "sdk_throttle", "rate": 1, "service": "dynamodb", "operations": ["PutItem"],
            "error_code": "ThrottlingException"}  # fmt: skip


# botocore's Config(retries={"max_attempts": n}) counts retries; AWS's shared setting
# max_attempts (AWS_MAX_ATTEMPTS, ~/.aws/config) and total_max_attempts count attempts.
@pytest.mark.parametrize(
    ("retries", "environ"),
    [
        (None, {"AWS_RETRY_MODE": "standard", "AWS_MAX_ATTEMPTS": "3"}),
        ({"mode": "standard", "total_max_attempts": 3}, {}),
        ({"mode": "adaptive", "total_max_attempts": 3}, {}),
        ({"mode": "legacy", "total_max_attempts": 3}, {}),
    ],
    ids=["standard-env", "standard", "adaptive", "legacy"],
)
def test_a_client_made_before_the_fault_makes_exactly_3_attempts_then_raises(
    moto_aws: dict[str, str],
    backoffs: list[float],
    lines: Any,
    retries: dict[str, Any] | None,
    environ: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    ddb = _ddb(retries)  # created at "module import", before any config was read
    sent = _attempts(ddb, "PutItem")

    def handler(event: Any, context: Any) -> None:
        ddb.put_item(TableName="orders-table", Item={"pk": {"S": "o-1"}})

    layer = make_layer({envvars.CONFIG: config(THROTTLE)})
    with pytest.raises(ClientError) as caught:
        layer.invoke(handler, {}, FakeContext())
    assert caught.value.response["Error"]["Code"] == "ThrottlingException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert len(sent) == 3, (sent, caught.value.response["ResponseMetadata"], backoffs)
    assert caught.value.response["ResponseMetadata"]["RetryAttempts"] == 2
    assert len([b for b in backoffs if b >= 0]) == 2  # botocore backed off between attempts
    assert len(lines.faults()) == 3
    assert lines.faults()[0]["operation"] == "PutItem"
    # Nothing reached the table, and outside the invocation the client works again.
    assert "Item" not in ddb.get_item(TableName="orders-table", Key={"pk": {"S": "o-1"}})
    ddb.put_item(TableName="orders-table", Item={"pk": {"S": "o-1"}})
    assert len(sent) == 4


def test_operations_may_be_named_as_in_boto3(
    moto_aws: dict[str, str], backoffs: list[float]
) -> None:
    ddb = _ddb({"mode": "standard", "total_max_attempts": 1})
    fault = {**THROTTLE, "operations": ["put_item"]}
    with pytest.raises(ClientError, match="ThrottlingException"):
        make_layer({envvars.CONFIG: config(fault)}).invoke(
            lambda e, c: ddb.put_item(TableName="orders-table", Item={"pk": {"S": "x"}}),
            {},
            FakeContext(),
        )


def test_other_operations_are_not_throttled(
    moto_aws: dict[str, str], backoffs: list[float]
) -> None:
    ddb = _ddb({"mode": "standard", "total_max_attempts": 3})

    def handler(event: Any, context: Any) -> Any:
        return ddb.get_item(TableName="orders-table", Key={"pk": {"S": "o-1"}})

    out = make_layer({envvars.CONFIG: config(THROTTLE)}).invoke(handler, {}, FakeContext())
    assert out["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_at_rate_half_most_calls_succeed_after_retries(
    moto_aws: dict[str, str], backoffs: list[float], lines: Any
) -> None:
    ddb = _ddb({"mode": "standard", "total_max_attempts": 3})
    sent = _attempts(ddb, "PutItem")
    fault = {**THROTTLE, "rate": 0.5, "error_code": None}  # natural code for DynamoDB
    layer = make_layer({envvars.CONFIG: config(fault)}, seed=11)
    ok = failed = 0
    for i in range(40):

        def handler(event: Any, context: Any, i: int = i) -> None:
            ddb.put_item(TableName="orders-table", Item={"pk": {"S": f"o-{i}"}})

        try:
            layer.invoke(handler, {}, FakeContext())
            ok += 1
        except ClientError as err:
            assert err.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
            failed += 1
    assert ok >= 28  # expected 35 of 40 (1 - 0.5**3)
    assert failed >= 1 or ok == 40
    # Every attempt was either throttled or the one that succeeded.
    assert len(sent) == len(lines.faults()) + ok
    assert len(sent) > 40  # botocore retried
    assert ddb.scan(TableName="orders-table")["Count"] == ok


def test_sessions_created_later_are_throttled_too(
    moto_aws: dict[str, str], backoffs: list[float]
) -> None:
    _ddb({"mode": "standard", "total_max_attempts": 1})
    layer = make_layer({envvars.CONFIG: config({**THROTTLE, "operations": []})})
    layer.invoke(lambda e, c: None, {}, FakeContext())  # installs the hook

    def handler(event: Any, context: Any) -> None:
        fresh = boto3.session.Session().client(
            "dynamodb", config=Config(retries={"mode": "standard", "total_max_attempts": 1})
        )
        fresh.describe_table(TableName="orders-table")

    with pytest.raises(ClientError, match="ThrottlingException"):
        layer.invoke(handler, {}, FakeContext())


def test_the_layers_own_ledger_writes_are_never_throttled(
    layer_aws: dict[str, str], backoffs: list[float]
) -> None:
    ddb = _ddb({"mode": "standard", "total_max_attempts": 1})
    fault = {**THROTTLE, "operations": []}

    def handler(event: Any, context: Any) -> None:
        ddb.put_item(TableName="orders-table", Item={"pk": {"S": "o-1"}})

    with pytest.raises(ClientError):
        make_layer({envvars.CONFIG: config(fault)}).invoke(
            handler, load_event("direct"), FakeContext()
        )
    # One record id per kind: the fired throttle is on record too (before it acted, and
    # at the end, under one id).
    kinds = sorted({(r.event_id, r.kind) for r in read_run("run-1", layer_aws)})
    assert [kind for _, kind in kinds] == ["attempt", "failed", "fault"]


@pytest.mark.parametrize(
    ("service", "call", "code", "status"),
    [
        ("sqs", lambda c: c.list_queues(), "ThrottlingException", 400),
        ("sns", lambda c: c.list_topics(), "Throttling", 400),
        ("s3", lambda c: c.list_buckets(), "SlowDown", 503),
        ("lambda", lambda c: c.list_functions(), "TooManyRequestsException", 429),
        ("ec2", lambda c: c.describe_instances(), "RequestLimitExceeded", 503),
        ("cloudwatch", lambda c: c.list_metrics(), "Throttling", 400),
        ("events", lambda c: c.list_rules(), "ThrottlingException", 400),
        ("kinesis", lambda c: c.list_streams(), "ProvisionedThroughputExceededException", 400),
        ("stepfunctions", lambda c: c.list_state_machines(), "ThrottlingException", 400),
    ],
)
def test_every_protocol_gets_an_error_botocore_parses_to_the_right_code(
    moto_aws: dict[str, str], service: str, call: Any, code: str, status: int
) -> None:
    client = boto3.session.Session().client(
        service, config=Config(retries={"mode": "standard", "total_max_attempts": 1})
    )
    fault = {"kind": "sdk_throttle", "rate": 1, "service": service}
    with pytest.raises(ClientError) as caught:
        make_layer({envvars.CONFIG: config(fault)}).invoke(
            lambda e, c: call(client), {}, FakeContext()
        )
    assert caught.value.response["Error"]["Code"] == code
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == status


def test_added_latency_per_throttled_call(moto_aws: dict[str, str], backoffs: list[float]) -> None:
    ddb = _ddb({"mode": "standard", "total_max_attempts": 2})
    layer = make_layer({envvars.CONFIG: config({**THROTTLE, "latency_ms": 250})})
    with pytest.raises(ClientError):
        layer.invoke(
            lambda e, c: ddb.put_item(TableName="orders-table", Item={"pk": {"S": "x"}}),
            {},
            FakeContext(),
        )
    assert layer.sleep == [0.25, 0.25]


def test_no_call_is_throttled_at_rate_0(
    moto_aws: dict[str, str], backoffs: list[float], lines: Any
) -> None:
    ddb = _ddb({"mode": "standard", "total_max_attempts": 3})
    sent = _attempts(ddb, "PutItem")
    layer = make_layer({envvars.CONFIG: config({**THROTTLE, "rate": 0})})
    for i in range(20):

        def handler(event: Any, context: Any, i: int = i) -> None:
            ddb.put_item(TableName="orders-table", Item={"pk": {"S": f"{i}"}})

        layer.invoke(handler, {}, FakeContext())
    assert len(sent) == 20
    assert backoffs == []
    assert lines.faults() == []


def test_clients_of_boto3s_default_session_are_throttled(
    moto_aws: dict[str, str], backoffs: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    _ddb({"mode": "standard", "total_max_attempts": 1})
    layer = make_layer({envvars.CONFIG: config({**THROTTLE, "operations": []})})

    def handler(event: Any, context: Any) -> None:
        boto3.client(  # the common pattern: boto3's module-level default session
            "dynamodb", config=Config(retries={"mode": "standard", "total_max_attempts": 1})
        ).describe_table(TableName="orders-table")

    with pytest.raises(ClientError, match="ThrottlingException"):
        layer.invoke(handler, {}, FakeContext())
    handler({}, None)  # disarmed: the same call goes through


def _fault_records(run_aws: dict[str, str]) -> list[dict[str, Any]]:
    """Each firing's latest record (a firing may be on record twice under one id)."""
    latest: dict[str, Any] = {}
    for r in sorted(read_run("run-1", run_aws), key=lambda r: r.at):
        if r.kind == "fault":
            latest[r.event_id] = r.detail or {}
    return [dict(d) for d in latest.values()]


def _swallowing(ddb: Any, key: str = "o-1") -> Any:
    def handler(event: Any, context: Any) -> dict[str, Any]:
        # The bug: the order is dropped, the invocation succeeds.
        with contextlib.suppress(ClientError):
            ddb.put_item(TableName="orders-table", Item={"pk": {"S": key}})
        return {"ok": True}

    return handler


def test_a_call_that_failed_for_good_and_was_swallowed_is_on_record(
    layer_aws: dict[str, str], backoffs: list[float], lines: Any
) -> None:
    ddb = _ddb({"mode": "standard", "total_max_attempts": 3})
    layer = make_layer({envvars.CONFIG: config(THROTTLE)})
    assert layer.invoke(_swallowing(ddb), load_event("direct"), FakeContext()) == {"ok": True}
    gave_up = [r for r in lines.refresh() if r["chaoskit"] == "gave_up"]
    assert len(gave_up) == 1, lines
    assert gave_up[0]["operation"] == "PutItem"
    assert gave_up[0]["error_code"] == "ThrottlingException"
    assert gave_up[0]["attempts"] == 3
    details = _fault_records(layer_aws)
    assert len(details) == 3  # one per throttled attempt
    counted = [d for d in details if "gave_up" in d]
    assert [(d["gave_up"], d["swallowed"]) for d in counted] == [(1, 1)]
    assert counted[0]["event_ids"] == ["e-direct"]


def test_a_call_that_succeeded_after_its_retries_did_not_give_up(
    layer_aws: dict[str, str], backoffs: list[float], lines: Any
) -> None:
    ddb = _ddb({"mode": "standard", "total_max_attempts": 3})
    sent = _attempts(ddb, "PutItem")
    fault = {**THROTTLE, "rate": 0.8}  # a call gives up at 0.8 ** 3, about one in two
    layer = make_layer({envvars.CONFIG: config(fault)}, seed=11)
    for i in range(6):
        layer.invoke(_swallowing(ddb, f"o-{i}"), load_event("direct"), FakeContext())
    throttled = len(lines.faults())
    stored = ddb.scan(TableName="orders-table")["Count"]
    gave_up = [r for r in lines.refresh() if r["chaoskit"] == "gave_up"]
    assert throttled > 0
    # Every call either stored its item or gave up: 3 attempts, all of them throttled.
    assert 0 < len(gave_up) == 6 - stored < 6
    assert len(sent) == throttled + stored
    counted = [d for d in _fault_records(layer_aws) if "gave_up" in d]
    assert sum(d["gave_up"] for d in counted) == len(gave_up)
    assert sum(d["swallowed"] for d in counted) == len(gave_up)


def test_a_failure_the_invocation_raised_or_reported_was_not_swallowed(
    layer_aws: dict[str, str], backoffs: list[float], lines: Any
) -> None:
    ddb = _ddb({"mode": "standard", "total_max_attempts": 2})
    layer = make_layer({envvars.CONFIG: config(THROTTLE)})

    def raising(event: Any, context: Any) -> None:
        ddb.put_item(TableName="orders-table", Item={"pk": {"S": "o-1"}})

    with pytest.raises(ClientError):
        layer.invoke(raising, load_event("direct"), FakeContext())

    def batch(event: Any, context: Any) -> dict[str, Any]:
        failures = []
        for record in event["Records"]:
            try:
                ddb.put_item(TableName="orders-table", Item={"pk": {"S": record["messageId"]}})
            except ClientError:
                failures.append({"itemIdentifier": record["messageId"]})
        return {"batchItemFailures": failures}

    layer.invoke(batch, load_event("sqs"), FakeContext())

    def http_answer(event: Any, context: Any) -> dict[str, Any]:
        try:
            ddb.put_item(TableName="orders-table", Item={"pk": {"S": "o-2"}})
        except ClientError:
            return {"statusCode": 503, "body": "try again"}
        return {"statusCode": 200, "body": "ok"}

    layer.invoke(http_answer, load_event("direct"), FakeContext())
    counted = [d for d in _fault_records(layer_aws) if "gave_up" in d]
    assert sorted(d["gave_up"] for d in counted) == [1, 1, 3]
    assert [d["swallowed"] for d in counted] == [0, 0, 0]

    def partly(event: Any, context: Any) -> dict[str, Any]:
        batch(event, context)
        return {"batchItemFailures": [{"itemIdentifier": "m-1"}]}  # reports one of three

    layer.invoke(partly, load_event("sqs"), FakeContext())
    counted = [d for d in _fault_records(layer_aws) if "gave_up" in d]
    assert sorted(d["swallowed"] for d in counted) == [0, 0, 0, 2]


def test_a_throttled_calls_firing_is_on_record_before_its_invocation_ends(
    layer_aws: dict[str, str], backoffs: list[float], lines: Any
) -> None:
    # Lambda may kill the invocation while the SDK retries (a short Timeout): what is not
    # on record by then never will be. Here the handler waits after its call, as if
    # frozen, while the ledger is read.
    ddb = _ddb({"mode": "standard", "total_max_attempts": 3})
    layer = make_layer({envvars.CONFIG: config(THROTTLE)})
    called, release = threading.Event(), threading.Event()

    def frozen(event: Any, context: Any) -> dict[str, Any]:
        _swallowing(ddb)(event, context)
        called.set()
        release.wait(30)
        return {"ok": True}

    invocation = threading.Thread(
        target=layer.invoke, args=(frozen, load_event("direct"), FakeContext())
    )
    invocation.start()
    try:
        assert called.wait(30)
        deadline = time.monotonic() + 10
        while not _fault_records(layer_aws) and time.monotonic() < deadline:
            time.sleep(0.05)
        early = _fault_records(layer_aws)
    finally:
        release.set()
        invocation.join(30)
    assert [(d["kind"], d["event_ids"]) for d in early] == [("sdk_throttle", ["e-direct"])]
    assert "gave_up" not in early[0]
    writer.shared().flush(5)
    records = read_run("run-1", layer_aws)
    # The first firing twice: before it acted, and at the end.
    assert len([r for r in records if r.kind == "fault"]) == 4
    fired = reconcile(records)["faults"]
    assert [(f["fired"], f.get("gave_up"), f.get("swallowed")) for f in fired] == [(3, 1, 1)]
