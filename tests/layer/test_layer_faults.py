"""In-function faults: each does what it says at rate 1, never at rate 0, and fails open."""

import json
import random
from typing import Any

import pytest
from layer_helpers import Calls, Sleeps, config, load_event, make_layer

from chaoskit import envvars
from chaoskit.layer import events
from chaoskit.layer.config import Match
from chaoskit.layer.exceptions import ChaosKitInjectedTimeout
from chaoskit.layer.runtime import Layer
from tests.support.lambda_context import FakeContext

LATENCY = {"kind": "latency", "ms": 800}
EXCEPTION = {"kind": "exception", "type": "OrdersDown", "message": "boom"}
STATUS = {"kind": "status", "status_code": 503, "body": "busy", "headers": {"Retry-After": "2"}}
TIMEOUT = {"kind": "timeout", "margin_ms": 50}


def _env(*faults: dict[str, Any], **kwargs: Any) -> dict[str, str]:
    return {envvars.CONFIG: config(*faults, **kwargs)}


def test_latency_at_rate_1_sleeps_then_runs_the_handler(lines: Any) -> None:
    sleeps, handler = Sleeps(), Calls()
    layer = make_layer(_env({**LATENCY, "rate": 1}), sleep=sleeps)
    assert layer.invoke(handler, {}, FakeContext()) == "ok"
    assert sleeps == [0.8]
    assert handler.count == 1
    (line,) = lines.faults()
    assert line["kind"] == "latency" and line["version"] == "v-1" and line["rate"] == 1.0
    assert 0 <= line["roll"] < 1


def test_latency_range_stays_within_bounds() -> None:
    sleeps = Sleeps()
    layer = make_layer(
        _env({"kind": "latency", "rate": 1, "min_ms": 100, "max_ms": 200}), sleep=sleeps
    )
    for _ in range(200):
        layer.invoke(Calls(), {}, FakeContext())
    assert all(0.1 <= s <= 0.2 for s in sleeps)
    assert max(sleeps) - min(sleeps) > 0.05


def test_exception_at_rate_1_fails_the_invocation_with_the_named_type(lines: Any) -> None:
    handler = Calls()
    layer = make_layer(_env({**EXCEPTION, "rate": 1}))
    with pytest.raises(Exception, match="boom") as caught:
        layer.invoke(handler, {}, FakeContext())
    assert type(caught.value).__name__ == "OrdersDown"
    assert handler.count == 0
    assert [f["kind"] for f in lines.faults()] == ["exception"]


def test_status_at_rate_1_answers_in_the_api_gateway_shape_without_the_handler() -> None:
    handler = Calls()
    layer = make_layer(_env({**STATUS, "rate": 1}))
    response = layer.invoke(handler, load_event("apigateway"), FakeContext())
    assert response == {
        "statusCode": 503,
        "headers": {"Content-Type": "application/json", "Retry-After": "2"},
        "body": "busy",
        "isBase64Encoded": False,
    }
    assert handler.count == 0


def test_timeout_sleeps_past_the_remaining_time_then_fails() -> None:
    sleeps, handler = Sleeps(), Calls()
    layer = make_layer(_env({**TIMEOUT, "rate": 1}), sleep=sleeps)
    with pytest.raises(ChaosKitInjectedTimeout):
        layer.invoke(handler, {}, FakeContext(remaining_ms=50))
    assert sleeps == [pytest.approx(0.1)]
    assert handler.count == 0


@pytest.mark.parametrize("fault", [LATENCY, EXCEPTION, STATUS, TIMEOUT])
def test_no_fault_fires_at_rate_0(fault: dict[str, Any], lines: Any) -> None:
    sleeps, handler = Sleeps(), Calls()
    layer = make_layer(_env({**fault, "rate": 0}), sleep=sleeps)
    for _ in range(500):
        assert layer.invoke(handler, {}, FakeContext()) == "ok"
    assert handler.count == 500
    assert sleeps == []
    assert lines.faults() == []


def test_a_seeded_rng_gives_the_configured_rate_over_10000_rolls() -> None:
    layer = make_layer(_env({**EXCEPTION, "rate": 0.3}), seed=20261124)
    failures = 0
    for _ in range(10_000):
        try:
            layer.invoke(Calls(), {}, FakeContext())
        except Exception:
            failures += 1
    assert 2850 <= failures <= 3150  # 0.3 +- 5 standard deviations


def test_the_same_seed_gives_the_same_rolls() -> None:
    def run() -> list[bool]:
        layer = make_layer(_env({**LATENCY, "rate": 0.5}), seed=3)
        sleeps = layer.sleep
        out = []
        for _ in range(50):
            before = len(sleeps)  # type: ignore[arg-type]
            layer.invoke(Calls(), {}, FakeContext())
            out.append(len(sleeps) > before)  # type: ignore[arg-type]
        return out

    assert run() == run()


def test_faults_apply_in_order_latency_first() -> None:
    sleeps, handler = Sleeps(), Calls()
    layer = make_layer(_env({**EXCEPTION, "rate": 1}, {**LATENCY, "rate": 1}), sleep=sleeps)
    with pytest.raises(Exception, match="boom"):
        layer.invoke(handler, {}, FakeContext())
    assert sleeps == [0.8]


# --- match ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("event_name", "source"),
    [("sqs", "sqs"), ("sns", "sns"), ("eventbridge", "eventbridge"), ("kinesis", "kinesis"),
     ("dynamodb", "dynamodb"), ("apigateway", "apigateway"), ("direct", "direct")],
)  # fmt: skip
def test_match_on_source(event_name: str, source: str) -> None:
    event = load_event(event_name)
    for candidate in ("sqs", "sns", "eventbridge", "kinesis", "dynamodb", "apigateway", "direct"):
        fault = {**EXCEPTION, "rate": 1, "match": {"source": candidate}}
        handler = Calls()
        layer = make_layer(_env(fault))
        if candidate == source:
            with pytest.raises(Exception, match="boom"):
                layer.invoke(handler, event, FakeContext())
        else:
            layer.invoke(handler, event, FakeContext())
            assert handler.count == 1, candidate


def test_match_on_qualifier_targets_the_canary_alias_only() -> None:
    fault = {**EXCEPTION, "rate": 1, "match": {"qualifier": "live"}}
    layer = make_layer(_env(fault))
    with pytest.raises(Exception, match="boom"):
        layer.invoke(Calls(), {}, FakeContext(qualifier="live"))
    for other in (None, "7", "$LATEST"):
        handler = Calls()
        layer.invoke(handler, {}, FakeContext(qualifier=other))
        assert handler.count == 1
    versioned = make_layer(_env({**EXCEPTION, "rate": 1, "match": {"qualifier": ["3", "$LATEST"]}}))
    with pytest.raises(Exception, match="boom"):
        versioned.invoke(Calls(), {}, FakeContext())


def test_match_on_event_fields_uses_dotted_paths() -> None:
    event = load_event("eventbridge")
    hit = {**EXCEPTION, "rate": 1, "match": {"fields": {"detail.type": "OrderPlaced"}}}
    with pytest.raises(Exception, match="boom"):
        make_layer(_env(hit)).invoke(Calls(), event, FakeContext())
    miss = {**EXCEPTION, "rate": 1, "match": {"fields": {"detail.type": "OrderCancelled"}}}
    handler = Calls()
    make_layer(_env(miss)).invoke(handler, event, FakeContext())
    indexed = {**EXCEPTION, "rate": 1, "match": {"fields": {"Records.0.messageId": "m-1"}}}
    with pytest.raises(Exception, match="boom"):
        make_layer(_env(indexed)).invoke(Calls(), load_event("sqs"), FakeContext())
    assert handler.count == 1


def _typed(value: Any) -> dict[str, Any]:
    # DynamoDB's typed JSON for the few plain values the tests put in a stream image.
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int):
        return {"N": str(value)}
    return {"S": value}


def _with_payloads(source: str, payloads: list[dict[str, Any]]) -> dict[str, Any]:
    import base64
    import copy
    import json

    event = load_event(source)
    template = event["Records"][0]
    records = []
    for i, payload in enumerate(payloads):
        record = copy.deepcopy(template)
        text = json.dumps(payload)
        if source == "sqs":
            record["body"], record["messageId"] = text, f"m-{i}"
        elif source == "kinesis":
            record["kinesis"]["data"] = base64.b64encode(text.encode()).decode()
        elif source == "dynamodb":
            record["dynamodb"]["NewImage"] = {k: _typed(v) for k, v in payload.items()}
            record["dynamodb"]["SequenceNumber"] = str(100 + i)
        else:
            record["Sns"]["Message"] = text
        records.append(record)
    event["Records"] = records
    return event


@pytest.mark.parametrize("source", ["sqs", "kinesis", "sns", "dynamodb"])
def test_a_field_of_one_records_payload_fails_every_batch_that_holds_it(source: str) -> None:
    # The poison pill: a batch fails while it holds the record, so bisection isolates it.
    pill = {**EXCEPTION, "rate": 1, "match": {"fields": {"chaoskit_poison_pill": True}}}
    with_pill = _with_payloads(source, [{"id": 1}, {"id": 2, "chaoskit_poison_pill": True}])
    with pytest.raises(Exception, match="boom"):
        make_layer(_env(pill)).invoke(Calls(), with_pill, FakeContext())
    handler = Calls()
    without = _with_payloads(source, [{"id": 1}, {"id": 3, "chaoskit_poison_pill": False}])
    make_layer(_env(pill)).invoke(handler, without, FakeContext())
    assert handler.count == 1


def test_a_poison_pill_in_an_sns_notification_an_sqs_body_holds_is_matched() -> None:
    # SNS -> SQS without raw delivery: each body is SNS's envelope, the payload its Message.
    pill = {**EXCEPTION, "rate": 1, "match": {"fields": {"chaoskit_poison_pill": True}}}

    def wrapped(*payloads: dict[str, Any]) -> dict[str, Any]:
        event = _with_payloads("sqs", list(payloads))
        for record in event["Records"]:
            record["body"] = json.dumps({
                "Type": "Notification", "MessageId": "m", "Message": record["body"],
                "TopicArn": "arn:aws:sns:us-east-1:123456789012:orders", "Timestamp": "t",
            })  # fmt: skip
        return event

    with pytest.raises(Exception, match="boom"):
        make_layer(_env(pill)).invoke(
            Calls(), wrapped({"id": 1}, {"id": 2, "chaoskit_poison_pill": True}), FakeContext()
        )
    handler = Calls()
    make_layer(_env(pill)).invoke(handler, wrapped({"id": 1}), FakeContext())
    assert handler.count == 1
    assert list(events.record_payloads(wrapped({"id": 4}), "sqs")) == [{"id": 4}]
    # A body that only looks like one (no TopicArn) is the payload itself.
    plain = {"Type": "Notification", "Message": "{}"}
    event = {"Records": [{"eventSource": "aws:sqs", "messageId": "x", "body": json.dumps(plain)}]}
    assert list(events.record_payloads(event, "sqs")) == [plain]


def test_a_poison_pill_in_a_tables_change_record_on_kinesis_is_matched() -> None:
    # A table's Kinesis streaming destination: each record's data is the table's change
    # record (as AWS writes it), the item in its NewImage, typed.
    pill = {**EXCEPTION, "rate": 1, "match": {"fields": {"chaoskit_poison_pill": True}}}

    def change(item: dict[str, Any], name: str = "INSERT") -> dict[str, Any]:
        typed = {k: {"BOOL": v} if isinstance(v, bool) else {"S": str(v)} for k, v in item.items()}
        images = {"OldImage": typed} if name == "REMOVE" else {"NewImage": typed}
        return {
            "awsRegion": "us-east-1", "eventID": "e", "eventName": name, "userIdentity": None,
            "recordFormat": "application/json", "tableName": "t", "eventSource": "aws:dynamodb",
            "dynamodb": {"ApproximateCreationDateTime": 1, "Keys": {"id": typed["id"]},
                         **images, "SizeBytes": 1},
        }  # fmt: skip

    poisoned = [change({"id": 1}), change({"id": 2, "chaoskit_poison_pill": True})]
    with pytest.raises(Exception, match="boom"):
        make_layer(_env(pill)).invoke(Calls(), _with_payloads("kinesis", poisoned), FakeContext())
    handler = Calls()
    make_layer(_env(pill)).invoke(
        handler, _with_payloads("kinesis", [change({"id": 1})]), FakeContext()
    )
    assert handler.count == 1
    removed = _with_payloads("kinesis", [change({"id": 3}, "REMOVE")])
    assert list(events.record_payloads(removed, "kinesis")) == []
    # Data that only looks like one (no recordFormat) is the payload itself.
    plain = {"eventSource": "aws:dynamodb", "dynamodb": {"NewImage": {"id": {"S": "4"}}}}
    assert list(events.record_payloads(_with_payloads("kinesis", [plain]), "kinesis")) == [plain]


def _stream(*streamed: Any) -> dict[str, Any]:
    return {"Records": [{"eventSource": "aws:dynamodb", "dynamodb": d} for d in streamed]}


def test_a_dynamodb_new_image_is_matched_as_plain_values() -> None:
    image = {
        "pk": {"S": "o-1"},
        "order": {"M": {"amount": {"N": "12"}, "lines": {"L": [{"S": "a"}, {"N": "1.5"}]}}},
        "paid": {"BOOL": False},
        "note": {"NULL": True},
        "tags": {"SS": ["x", "y"]},
        "sizes": {"NS": ["1", "2.5"]},
        "blob": {"B": "AQI="},
        "blobs": {"BS": ["AQI="]},
    }
    event = _stream({"Keys": {"pk": {"S": "o-1"}}, "NewImage": image, "SequenceNumber": "1"})
    assert list(events.record_payloads(event, "dynamodb")) == [{
        "pk": "o-1", "order": {"amount": 12, "lines": ["a", 1.5]}, "paid": False, "note": None,
        "tags": ["x", "y"], "sizes": [1, 2.5], "blob": "AQI=", "blobs": ["AQI="],
    }]  # fmt: skip
    for fields, hit in [
        ((("order.amount", 12),), True),
        ((("order.amount", "12"),), False),
        ((("order.lines.1", 1.5), ("paid", False)), True),
        ((("note", None), ("pk", "o-2")), False),
    ]:
        assert events.matches(Match(fields=fields), event, "dynamodb", "$LATEST") is hit, fields


def test_a_stream_record_without_a_new_image_has_no_payload() -> None:
    keys_only = {"Keys": {"pk": {"S": "o-1"}}, "SequenceNumber": "1"}
    old_image = {**keys_only, "OldImage": {"pk": {"S": "o-1"}}}
    event = _stream(keys_only, old_image)
    assert list(events.record_payloads(event, "dynamodb")) == []
    assert not events.matches(Match(fields=(("pk", "o-1"),)), event, "dynamodb", "$LATEST")


def test_malformed_stream_records_do_not_raise() -> None:
    deep: dict[str, Any] = {"S": "bottom"}
    for _ in range(2000):
        deep = {"M": {"a": deep}}
    odd = {
        "plain": "x",
        "number": {"N": "twelve"},
        "unknown": {"Q": 1},
        "bad_map": {"M": [1]},
        "two_tags": {"S": "x", "N": "1"},
        "numbers": {"NS": ["1", "x", None]},
        "deep": deep,
    }
    event = _stream("x", {"NewImage": "x"}, {"NewImage": None}, {"NewImage": odd})
    event["Records"].insert(1, {"eventSource": "aws:dynamodb"})
    (payload,) = events.record_payloads(event, "dynamodb")
    assert payload["plain"] == "x" and payload["number"] == "twelve"
    assert payload["unknown"] == {"Q": 1} and payload["bad_map"] == {"M": [1]}
    assert payload["two_tags"] == {"S": "x", "N": "1"} and payload["numbers"] == [1, "x", None]
    assert not events.matches(Match(fields=(("x", 1),)), event, "dynamodb", "$LATEST")
    assert [ident for _, ident in events.batch_items(event, "dynamodb")] == [None] * 5


# --- fail-open -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "environ",
    [
        _env({**EXCEPTION, "rate": 1}, expires_at=1_000_000_000),  # expired
        _env({**EXCEPTION, "rate": 1}, expires_at="2001-09-09T01:46:40Z"),  # expired, ISO
        {envvars.CONFIG: '{"version": "v", "faults": [{"kind": "exception"'},  # malformed
        {envvars.CONFIG: config({"kind": "meteor", "rate": 1})},  # unknown kind
        {},  # missing
    ],
    ids=["expired", "expired-iso", "malformed", "unknown-kind", "missing"],
)
def test_no_usable_config_means_no_fault_and_the_handler_runs_once(
    environ: dict[str, str], lines: Any
) -> None:
    handler = Calls()
    layer = make_layer(environ)
    for _ in range(3):
        assert layer.invoke(handler, {}, FakeContext()) == "ok"
    assert handler.count == 3
    assert lines.faults() == []
    assert len(lines.warnings()) <= 1


def test_a_broken_loader_warns_once_per_failure_and_runs_the_handler_once(lines: Any) -> None:
    class Broken:
        def load(self) -> None:
            raise RuntimeError("config store exploded")

    layer = Layer({}, loader=Broken(), rng=random.Random(1), sleep=Sleeps())  # type: ignore[arg-type]
    handler = Calls()
    assert layer.invoke(handler, {}, FakeContext()) == "ok"
    assert handler.count == 1
    (warning,) = lines.warnings()
    assert "config store exploded" in warning["message"]


def test_the_handler_error_propagates_and_the_handler_ran_once() -> None:
    handler = Calls(error=KeyError("user bug"))
    layer = make_layer(_env({**LATENCY, "rate": 1}))
    with pytest.raises(KeyError):
        layer.invoke(handler, {}, FakeContext())
    assert handler.count == 1


def test_a_timeout_without_a_context_is_skipped_with_a_warning(lines: Any) -> None:
    handler = Calls()
    layer = make_layer(_env({**TIMEOUT, "rate": 1}))
    assert layer.invoke(handler, {}, object()) == "ok"
    assert handler.count == 1
    assert len(lines.warnings()) == 1


def test_the_kill_switch_disables_everything(lines: Any) -> None:
    env = _env({**EXCEPTION, "rate": 1})
    env[envvars.DISABLED] = "true"
    handler = Calls()
    assert make_layer(env).invoke(handler, {}, FakeContext()) == "ok"
    assert handler.count == 1
    assert lines.refresh() == []


def test_a_ping_is_answered_without_the_handler_or_any_fault() -> None:
    handler = Calls()
    layer = make_layer(_env({**EXCEPTION, "rate": 1}, version="v-9"))
    pong = layer.invoke(handler, load_event("ping"), FakeContext())
    assert pong["chaoskit"] == "pong"
    assert pong["version"] == "v-9"
    assert pong["environment"] == layer.environment_id
    assert handler.count == 0
