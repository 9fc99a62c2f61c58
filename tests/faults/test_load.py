"""The load action against the moto server (and a real HTTP server on 127.0.0.1).

For every target: N events go out, the ledger has exactly N ``sent`` records,
and the ids recorded are found again by ``find_traces`` in what was received.
"""

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import Stubber

from chaoskit import aws, envvars
from chaoskit.errors import AWSActionFailed, BadInput
from chaoskit.faults import load
from chaoskit.ledger import store
from chaoskit.ledger.trace import find_traces
from tests.support.net import async_invoke_endpoint, serve_http

RUN = "run-load-1"
PAYLOAD = json.loads((Path(__file__).parent / "load_events" / "order_placed.json").read_text())


@pytest.fixture
def cfg(aws_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv(envvars.HOME, str(tmp_path / "home"))
    return {**aws_env, "chaoskit_run_id": RUN}


def _sent_ids(cfg: dict[str, Any], source: str) -> list[str]:
    records = [r for r in store.read_run(RUN, cfg) if r.kind == "sent"]
    assert all(r.source == source for r in records)
    assert all(r.detail and "sent_at" in r.detail and "target" in r.detail for r in records)
    return sorted(r.event_id for r in records)


def _queue(cfg: dict[str, Any], name: str = "orders-queue", **attrs: str) -> tuple[str, str]:
    sqs = aws.client("sqs", cfg)
    url = sqs.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    return url, arn["QueueArn"]


def _drain_all(cfg: dict[str, Any], url: str) -> list[dict[str, Any]]:
    sqs = aws.client("sqs", cfg)
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])
    return list(got.get("Messages", []))


def _drain(cfg: dict[str, Any], url: str) -> list[dict[str, Any]]:
    sqs = aws.client("sqs", cfg)
    messages: list[dict[str, Any]] = []
    while True:
        got = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        ).get("Messages", [])
        if not got:
            return messages
        messages.extend(got)
        # FIFO queues hold back a group until its received messages are deleted.
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)
            ],
        )


def _traced_ids(items: list[Any]) -> list[str]:
    found = [t for item in items for t in find_traces(item)]
    assert all(t.run_id == RUN for t in found)
    return sorted(t.event_id for t in found)


def test_sqs_by_name_sends_n_traced_messages_and_records_them(cfg: dict[str, Any]) -> None:
    url, _ = _queue(cfg)
    out = load.send_events("sqs", "orders-queue", count=23, payload=PAYLOAD, configuration=cfg)
    assert (out["sent"], out["failed"], out["run_id"]) == (23, 0, RUN)
    assert len(out["event_ids"]) == 20
    messages = _drain(cfg, url)
    assert len(messages) == 23
    body = json.loads(messages[0]["Body"])
    assert body["order_id"] == "o-1001" and body["chaoskit"]["run_id"] == RUN
    attrs = messages[0]["MessageAttributes"]
    assert attrs["chaoskit-event-id"]["StringValue"] == body["chaoskit"]["event_id"]
    assert _traced_ids(messages) == _sent_ids(cfg, "sqs")
    assert set(out["event_ids"]) <= set(_sent_ids(cfg, "sqs"))


def test_sqs_fifo_by_url_gets_groups_and_deduplication_ids(cfg: dict[str, Any]) -> None:
    url, _ = _queue(cfg, "orders.fifo", FifoQueue="true")
    out = load.send_events("sqs", url, count=12, configuration=cfg)
    assert out["sent"] == 12
    assert _traced_ids(_drain(cfg, url)) == _sent_ids(cfg, "sqs")


def test_fifo_events_get_a_group_each_so_all_can_be_read_without_consuming_them(
    cfg: dict[str, Any],
) -> None:
    # One shared group let a FIFO DLQ show only its first 10 messages to a peek (SQS
    # returns nothing more of a group while some of it is in flight): the rest looked lost.
    url, _ = _queue(cfg, "orders.fifo", FifoQueue="true")
    out = load.send_events("sqs", url, count=12, configuration=cfg)
    sqs = aws.client("sqs", cfg)
    seen: dict[str, dict[str, Any]] = {}
    for _ in range(4):  # receive without deleting, as a DLQ peek does
        for m in sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30, AttributeNames=["All"]
        ).get("Messages", []):
            seen[m["MessageId"]] = m
    assert len(seen) == 12
    groups = {m["Attributes"]["MessageGroupId"] for m in seen.values()}
    assert groups == set(out["event_ids"])
    url2, _ = _queue(cfg, "ordered.fifo", FifoQueue="true")
    load.send_events("sqs", url2, count=3, message_group_id="customer-1", configuration=cfg)
    assert {m["Attributes"]["MessageGroupId"] for m in _drain_all(cfg, url2)} == {"customer-1"}


def test_sns_topic_by_name_reaches_a_subscribed_queue(cfg: dict[str, Any]) -> None:
    url, arn = _queue(cfg)
    sns = aws.client("sns", cfg)
    topic = sns.create_topic(Name="orders-topic")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    out = load.send_events("sns", "orders-topic", count=15, payload=PAYLOAD, configuration=cfg)
    assert out["sent"] == 15
    assert _traced_ids(_drain(cfg, url)) == _sent_ids(cfg, "sns")


def test_message_attributes_are_sent_with_their_types_beside_chaoskits(
    cfg: dict[str, Any],
) -> None:
    url, _ = _queue(cfg)
    attributes = {"kind": "order", "priority": 3, "weight": 1.5}
    out = load.send_events("sqs", url, count=2, message_attributes=attributes, configuration=cfg)
    assert out["sent"] == 2
    for message in _drain(cfg, url):
        got = {
            k: (v["DataType"], v["StringValue"]) for k, v in message["MessageAttributes"].items()
        }
        assert got.pop("chaoskit-event-id")[0] == "String"
        assert got == {
            "kind": ("String", "order"),
            "priority": ("Number", "3"),
            "weight": ("Number", "1.5"),
            "chaoskit-run-id": ("String", RUN),
        }


def test_an_unknown_topic_name_is_bad_input(cfg: dict[str, Any]) -> None:
    with pytest.raises(BadInput, match="'nope'"):
        load.send_events("sns", "nope", count=1, configuration=cfg)


def test_eventbridge_events_carry_the_trace_in_detail(cfg: dict[str, Any]) -> None:
    url, arn = _queue(cfg)
    events = aws.client("events", cfg)
    events.create_event_bus(Name="orders-bus")
    pattern = {"source": ["orders.load"], "detail-type": ["OrderPlaced"]}
    events.put_rule(Name="to-queue", EventBusName="orders-bus", EventPattern=json.dumps(pattern))
    events.put_targets(
        Rule="to-queue", EventBusName="orders-bus", Targets=[{"Id": "q", "Arn": arn}]
    )
    out = load.send_events(
        "eventbridge",
        "orders-bus",
        count=11,
        payload=PAYLOAD,
        source="orders.load",
        detail_type="OrderPlaced",
        configuration=cfg,
    )
    assert out["sent"] == 11
    messages = _drain(cfg, url)
    assert json.loads(messages[0]["Body"])["detail"]["type"] == "OrderPlaced"
    assert _traced_ids(messages) == _sent_ids(cfg, "eventbridge")


def test_kinesis_records_are_put_in_one_batch(cfg: dict[str, Any]) -> None:
    kinesis = aws.client("kinesis", cfg)
    kinesis.create_stream(StreamName="orders-stream", ShardCount=1)
    calls: list[int] = []
    kinesis.meta.events.register(
        "provide-client-params.kinesis.PutRecords",
        lambda params, **kw: calls.append(len(params["Records"])),
    )
    out = load.send_events("kinesis", "orders-stream", count=30, configuration=cfg)
    assert out["sent"] == 30 and calls == [30]
    shard = kinesis.describe_stream(StreamName="orders-stream")["StreamDescription"]["Shards"][0]
    iterator = kinesis.get_shard_iterator(
        StreamName="orders-stream", ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    records = kinesis.get_records(ShardIterator=iterator, Limit=100)["Records"]
    # As a Lambda event: base64 ``data``.
    shaped = [{"kinesis": {"data": base64.b64encode(r["Data"]).decode()}} for r in records]
    assert _traced_ids(shaped) == _sent_ids(cfg, "kinesis")


def _state_machine(cfg: dict[str, Any], name: str = "orders-flow") -> str:
    role = aws.client("iam", cfg).create_role(RoleName="sfn", AssumeRolePolicyDocument="{}")
    definition = {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}
    return str(
        aws.client("stepfunctions", cfg).create_state_machine(
            name=name, definition=json.dumps(definition), roleArn=role["Role"]["Arn"]
        )["stateMachineArn"]
    )


def test_state_machine_executions_carry_the_event_and_are_named_after_it(
    cfg: dict[str, Any],
) -> None:
    arn = _state_machine(cfg)
    out = load.send_events(
        "stepfunctions", "orders-flow", count=3, payload=PAYLOAD, configuration=cfg
    )
    assert (out["sent"], out["failed"]) == (3, 0)
    sfn = aws.client("stepfunctions", cfg)
    executions = sfn.list_executions(stateMachineArn=arn)["executions"]
    inputs = [
        json.loads(sfn.describe_execution(executionArn=e["executionArn"])["input"])
        for e in executions
    ]
    assert all(i["type"] == PAYLOAD["type"] for i in inputs)
    sent = _sent_ids(cfg, "stepfunctions")
    assert _traced_ids(inputs) == sent
    # One execution per event, named after it: a retried start cannot start a second.
    assert sorted(e["name"] for e in executions) == [f"chaoskit-{i}" for i in sent]


def test_a_state_machine_is_found_by_arn_and_an_unknown_name_is_bad_input(
    cfg: dict[str, Any],
) -> None:
    arn = _state_machine(cfg)
    assert load.send_events("stepfunctions", arn, count=1, configuration=cfg)["sent"] == 1
    with pytest.raises(BadInput, match="no state machine named 'nope'"):
        load.send_events("stepfunctions", "nope", count=1, configuration=cfg)


def test_lambda_async_invokes_are_recorded(cfg: dict[str, Any]) -> None:
    role = aws.client("iam", cfg).create_role(RoleName="r", AssumeRolePolicyDocument="{}")
    aws.client("lambda", cfg).create_function(
        FunctionName="orders-ingest",
        Runtime="python3.12",
        Role=role["Role"]["Arn"],
        Handler="app.handler",
        Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18},
    )
    out = load.send_events("lambda", "orders-ingest", count=4, concurrency=2, configuration=cfg)
    assert (out["sent"], out["failed"]) == (4, 0)
    assert len(_sent_ids(cfg, "lambda")) == 4


def test_lambda_invokes_reuse_one_connection(cfg: dict[str, Any]) -> None:
    """Each invoke reads its answer, so the SDK keeps one connection for them all."""
    with async_invoke_endpoint() as endpoint:
        sender = load._lambda(
            "orders-ingest",
            {**cfg, "chaoskit_endpoint_url": endpoint.url},
            {"invocation_type": "Event"},
        )
        results = [sender([(f"e-{n}", {"n": n})]) for n in range(3)]

    assert results == [[None]] * 3
    assert (endpoint.connections, endpoint.invokes) == (1, 3)


def test_lambda_sync_function_errors_count_as_failed_not_sent(cfg: dict[str, Any]) -> None:
    from botocore.response import StreamingBody

    lam = aws.client("lambda", cfg)
    store.ensure_table(cfg)
    sender = load._lambda("orders-ingest", cfg, {"invocation_type": "RequestResponse"})
    body = b'{"errorMessage": "boom"}'
    with Stubber(lam) as stub:
        stub.add_response("invoke", {"StatusCode": 200})
        stub.add_response(
            "invoke",
            {
                "StatusCode": 200,
                "FunctionError": "Unhandled",
                "Payload": StreamingBody(__import__("io").BytesIO(body), len(body)),
            },
        )
        out = load._send(sender, "lambda", "orders-ingest", 2, 1, None, {}, RUN, cfg)
    assert (out["sent"], out["failed"]) == (1, 1)
    assert out["errors"] == ['FunctionError Unhandled: {"errorMessage": "boom"}']
    assert len(_sent_ids(cfg, "lambda")) == 1


class _Recorder(BaseHTTPRequestHandler):
    bodies: list[dict[str, Any]] = []
    lock = threading.Lock()

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.lock:
            self.bodies.append(body)
            failing = self.path == "/flaky" and len(self.bodies) % 3 == 0
        self.send_response(503 if failing else 200)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def http_url() -> Iterator[str]:
    _Recorder.bodies = []
    with serve_http(_Recorder) as url:
        yield url


def test_http_posts_json_concurrently(cfg: dict[str, Any], http_url: str) -> None:
    out = load.send_events(
        "http", f"{http_url}/orders", count=8, concurrency=4, payload=PAYLOAD, configuration=cfg
    )
    assert (out["sent"], out["failed"]) == (8, 0)
    assert _traced_ids(_Recorder.bodies) == _sent_ids(cfg, "http")


def test_http_errors_are_failed_and_not_recorded(cfg: dict[str, Any], http_url: str) -> None:
    out = load.send_events("http", f"{http_url}/flaky", count=9, configuration=cfg)
    assert (out["sent"], out["failed"]) == (6, 3)
    assert out["errors"] == ["HTTP 503: Service Unavailable"]
    assert len(_sent_ids(cfg, "http")) == 6


def test_sending_is_paced_to_the_rate_with_an_injected_clock(cfg: dict[str, Any]) -> None:
    url, _ = _queue(cfg)
    store.ensure_table(cfg)
    sender = load._sqs(url, cfg, {})
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(round(seconds, 6))
        now[0] += seconds

    out = load._send(
        sender, "sqs", url, 20, 4, 4.0, {}, RUN, cfg, sleep=sleep, clock=lambda: now[0]
    )
    assert out["sent"] == 20
    assert slept == [1.0, 1.0, 1.0, 1.0]  # batches of 4 at t = 0, 1, 2, 3, 4
    assert out["duration_s"] == 4.0
    assert len(_drain(cfg, url)) == 20


def test_a_missing_queue_names_the_call(cfg: dict[str, Any]) -> None:
    with pytest.raises(AWSActionFailed, match="sqs:GetQueueUrl on 'ghost'"):
        load.send_events("sqs", "ghost", count=1, configuration=cfg)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"target_type": "smtp", "target": "x"}, "unknown target_type 'smtp'"),
        ({"target_type": "sqs", "target": "q", "count": -1}, "invalid count"),
        ({"target_type": "sqs", "target": "q", "rate_per_second": 0}, "rate_per_second"),
        ({"target_type": "http", "target": "ftp://x"}, "invalid URL"),
        (
            {"target_type": "lambda", "target": "f", "invocation_type": "DryRun"},
            "invocation_type",
        ),
        (
            {"target_type": "kinesis", "target": "s", "message_attributes": {"a": "b"}},
            "message_attributes are for sqs and sns targets, not 'kinesis'",
        ),
        (
            {"target_type": "sqs", "target": "q", "message_attributes": {"tags": ["a", "b"]}},
            r"invalid message_attributes.tags \['a', 'b'\]: expected a string, a number",
        ),
        (
            {"target_type": "sns", "target": "t", "message_attributes": {"chaoskit-run-id": "x"}},
            "invalid message_attributes.chaoskit-run-id: expected a name other than chaoskit's",
        ),
        (
            {"target_type": "sqs", "target": "q", "message_attributes": {"flag": True}},
            "invalid message_attributes.flag True",
        ),
        (
            {
                "target_type": "sqs",
                "target": "q",
                "message_attributes": {f"a{i}": "x" for i in range(9)},
            },
            "9 message_attributes: expected at most 8",
        ),
    ],
)
def test_bad_input_is_refused(cfg: dict[str, Any], kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(BadInput, match=match):
        load.send_events(configuration=cfg, **kwargs)


def test_dry_run_sends_nothing(cfg: dict[str, Any]) -> None:
    url, _ = _queue(cfg)
    out = load.send_events("sqs", url, count=5, configuration={**cfg, "chaoskit_dry_run": True})
    assert out["sent"] == 0 and out["dry_run"] is True
    assert _drain(cfg, url) == []


def test_numbers_given_as_strings_by_experiment_variables_are_accepted(
    cfg: dict[str, Any],
) -> None:
    url, _ = _queue(cfg)
    out = load.send_events("sqs", url, count="12", rate_per_second="1000", configuration=cfg)  # type: ignore[arg-type]
    assert out["sent"] == 12
    with pytest.raises(BadInput, match="expected numbers"):
        load.send_events("sqs", url, count="many", configuration=cfg)  # type: ignore[arg-type]


def test_long_sends_log_progress_and_flush_the_ledger_in_batches(
    cfg: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    kinesis = aws.client("kinesis", cfg)
    kinesis.create_stream(StreamName="orders-stream", ShardCount=1)
    store.ensure_table(cfg)
    writes: list[int] = []
    aws.client("dynamodb", cfg).meta.events.register(
        "provide-client-params.dynamodb.BatchWriteItem",
        lambda params, **kw: writes.append(sum(len(v) for v in params["RequestItems"].values())),
    )
    sender = load._kinesis("orders-stream", cfg, {})
    now = [0.0]

    def clock() -> float:
        now[0] += 2.0  # every look at the clock is two seconds later
        return now[0]

    with caplog.at_level("INFO", logger="chaostoolkit.chaoskit"):
        out = load._send(
            sender, "kinesis", "orders-stream", 250, 50, None, {}, RUN, cfg, clock=clock
        )
    assert out["sent"] == 250
    # Flushed as the send goes (several writes), each within BatchWriteItem's 25 items;
    # records are packed (up to 100 per item), and every one reads back below.
    assert len(writes) > 1 and max(writes) <= 25
    progress = [r.getMessage() for r in caplog.records if r.getMessage().startswith("load: ")]
    assert progress and all("to kinesis 'orders-stream'" in line for line in progress)
    assert len(_sent_ids(cfg, "kinesis")) == 250


def test_large_payloads_are_split_to_stay_under_the_batch_byte_limit(
    cfg: dict[str, Any],
) -> None:
    url, _ = _queue(cfg)
    sizes: list[int] = []
    aws.client("sqs", cfg).meta.events.register(
        "provide-client-params.sqs.SendMessageBatch",
        lambda params, **kw: sizes.append(sum(len(e["MessageBody"]) for e in params["Entries"])),
    )
    big = {"blob": "x" * 60_000}
    out = load.send_events("sqs", url, count=10, payload=big, configuration=cfg)
    assert (out["sent"], out["failed"]) == (10, 0)
    assert len(sizes) == 3 and max(sizes) <= 256 * 1024
    assert _traced_ids(_drain(cfg, url)) == _sent_ids(cfg, "sqs")


def test_a_batch_answered_result_by_result_maps_each_failure_to_its_event() -> None:
    results = [{"ErrorCode": "ThrottlingException", "ErrorMessage": "slow down"}, {"EventId": "x"}]
    assert load._positional_errors(results, 3, "entry") == [
        "ThrottlingException: slow down",
        None,
        "no result entry",
    ]
