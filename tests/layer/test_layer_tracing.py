"""Ledger tracing and acknowledgements from inside the function, against the moto server."""

import threading
from typing import Any

import pytest
from layer_helpers import Calls, config, load_event, make_layer

from chaoskit import envvars
from chaoskit.layer import _aws
from chaoskit.ledger.records import parse_items
from chaoskit.ledger.store import read_acks, read_run
from tests.support.lambda_context import FakeContext


def _count_batch_writes() -> list[str]:
    calls: list[str] = []
    _aws.client("dynamodb").meta.events.register(
        "before-send.dynamodb.BatchWriteItem", lambda **kw: calls.append("x")
    )
    return calls


def _kinds(records: list[Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for r in records:
        out.setdefault(r.event_id, []).append(r.kind)
    return out


def test_an_sqs_batch_records_attempts_then_outcomes_honouring_batch_item_failures(
    layer_aws: dict[str, str],
) -> None:
    writes = _count_batch_writes()
    handler = Calls(result={"batchItemFailures": [{"itemIdentifier": "m-2"}]})
    layer = make_layer({})
    layer.invoke(handler, load_event("sqs"), FakeContext(qualifier="live"))
    records = read_run("run-1", layer_aws)
    assert _kinds(records) == {
        "e-1": ["attempt", "processed"],
        "e-2": ["attempt", "failed"],
        "e-3": ["attempt", "processed"],
    }
    attempt = next(r for r in records if r.kind == "attempt")
    assert attempt.source == "sqs"
    queue = "arn:aws:sqs:us-east-1:123456789012:orders-queue"
    # The deadline: when Lambda ends the invocation at the latest (3 s remained).
    assert attempt.detail is not None
    assert attempt.at + 2.9 <= attempt.detail.pop("deadline") <= attempt.at + 3.1
    assert attempt.detail == {"function": "orders-worker", "qualifier": "live",
                              "request_id": "req-1", "source": "sqs", "queue": queue}  # fmt: skip
    failed = next(r for r in records if r.kind == "failed")
    assert failed.detail is not None and failed.detail["error"] == "batchItemFailure"
    assert "deadline" not in failed.detail  # only attempts can be left without an outcome
    # A quick handler: its attempts were still held when its outcomes came, so one call.
    assert len(writes) == 1


def test_a_handler_that_runs_past_the_hold_has_its_attempts_written_while_it_runs(
    layer_aws: dict[str, str],
) -> None:
    seen: list[list[str]] = []

    def slow_handler(event: Any, context: Any) -> str:
        # Wait (bounded) for the writer thread to put the attempts on record. The run is
        # read shard by shard, so a read may see one write half done: wait for all three.
        for _ in range(500):
            kinds = sorted(r.kind for r in read_run("run-1", layer_aws))
            if len(kinds) >= 3:
                break
            threading.Event().wait(0.01)
        seen.append(kinds)
        return "ok"

    writes = _count_batch_writes()
    make_layer({}).invoke(slow_handler, load_event("sqs"), FakeContext())
    assert seen == [["attempt", "attempt", "attempt"]]
    assert (
        sorted(r.kind for r in read_run("run-1", layer_aws)) == ["attempt"] * 3 + ["processed"] * 3
    )
    assert len(writes) == 2


def test_kinesis_batch_item_failures_name_sequence_numbers(layer_aws: dict[str, str]) -> None:
    handler = Calls(result={"batchItemFailures": [{"itemIdentifier": "49592"}]})
    make_layer({}).invoke(handler, load_event("kinesis"), FakeContext())
    assert _kinds(read_run("run-1", layer_aws)) == {
        "k-1": ["attempt", "processed"],
        "k-2": ["attempt", "failed"],
    }


def test_a_stream_batch_is_retried_from_the_earliest_failure_so_later_records_fail() -> None:
    from chaoskit.layer.tracing import collect, outcomes

    event = load_event("kinesis")  # sequence numbers 49591, 49592
    traced = collect(event, "kinesis")
    result = {"batchItemFailures": [{"itemIdentifier": "49591"}]}
    kinds = [r.kind for r in outcomes(traced, "kinesis", {}, result, None, event)]
    assert kinds == ["failed", "failed"]
    # On SQS only the named message is retried.
    sqs = load_event("sqs")
    result = {"batchItemFailures": [{"itemIdentifier": "m-1"}]}
    kinds = [r.kind for r in outcomes(collect(sqs, "sqs"), "sqs", {}, result, None, sqs)]
    assert kinds == ["failed", "processed", "processed"]


@pytest.mark.parametrize("ident", [None, ""])
def test_an_empty_item_identifier_fails_the_whole_batch(ident: str | None) -> None:
    from chaoskit.layer.tracing import collect, outcomes

    sqs = load_event("sqs")
    result = {"batchItemFailures": [{"itemIdentifier": ident}]}
    kinds = [r.kind for r in outcomes(collect(sqs, "sqs"), "sqs", {}, result, None, sqs)]
    assert kinds == ["failed", "failed", "failed"]
    assert [r.kind for r in outcomes(collect(sqs, "sqs"), "sqs", {}, {"batchItemFailures": []},
                                     None, sqs)] == ["processed"] * 3  # fmt: skip


def test_a_handler_error_records_every_traced_event_as_failed(layer_aws: dict[str, str]) -> None:
    handler = Calls(error=ValueError("bad order"))
    with pytest.raises(ValueError):
        make_layer({}).invoke(handler, load_event("sns"), FakeContext())
    records = read_run("run-1", layer_aws)
    assert _kinds(records) == {"e-sns": ["attempt", "failed"]}
    failed = records[-1] if records[-1].kind == "failed" else records[0]
    assert failed.detail is not None and failed.detail["error"] == "ValueError"


def test_an_injected_exception_is_recorded_as_failed_with_its_type(
    layer_aws: dict[str, str],
) -> None:
    env = {envvars.CONFIG: config({"kind": "exception", "rate": 1, "type": "OrdersDown"})}
    with pytest.raises(Exception, match="injected"):
        make_layer(env).invoke(Calls(), load_event("direct"), FakeContext())
    records = read_run("run-1", layer_aws)
    assert sorted(r.kind for r in records) == ["attempt", "failed", "fault"]
    (failed,) = [r for r in records if r.kind == "failed"]
    assert failed.detail is not None and failed.detail["error"] == "OrdersDown"
    (fault,) = [r for r in records if r.kind == "fault"]
    assert fault.detail == {
        "fault": 0, "kind": "exception", "function": "orders-worker", "request_id": "req-1",
        "event_ids": ["e-direct"], "version": "v-1",
    }  # fmt: skip


def test_a_large_batch_is_written_whole_packed_in_one_call(
    layer_aws: dict[str, str], lines: Any
) -> None:
    writes = _count_batch_writes()
    one = load_event("sqs")["Records"][0]
    big: dict[str, list[Any]] = {"Records": []}
    for i in range(40):
        record = dict(one, messageId=f"m-{i}")
        record["body"] = one["body"].replace('"e-1"', f'"big-{i}"')
        big["Records"].append(record)
    make_layer({}).invoke(Calls(), big, FakeContext())
    assert len(writes) == 1  # 80 records in one packed item (one per record was 4 calls)
    items = _aws.client("dynamodb").scan(TableName="chaoskit-ledger")["Items"]
    assert [len(parse_items(item)) for item in items if item["run"]["S"] == "run-1"] == [80]
    kinds = _kinds(read_run("run-1", layer_aws))
    assert len(kinds) == 40 and all(k == ["attempt", "processed"] for k in kinds.values())
    assert lines.warnings() == []


def test_untraced_events_write_nothing(layer_aws: dict[str, str]) -> None:
    writes = _count_batch_writes()
    make_layer({}).invoke(Calls(), {"order": 1}, FakeContext())
    assert writes == []


def test_a_missing_ledger_table_is_swallowed_with_one_warning_per_failed_write(
    layer_aws: dict[str, str], lines: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(envvars.LEDGER_TABLE, "no-such-table")
    handler = Calls()
    assert make_layer({}).invoke(handler, load_event("direct"), FakeContext()) == "ok"
    assert handler.count == 1
    warnings = lines.warnings()
    assert len(warnings) == 1  # attempt and outcome went in one call
    assert "no-such-table" in warnings[0]["message"]


def test_an_unreachable_ledger_never_changes_the_outcome(lines: Any) -> None:
    # The autouse fixture points AWS at a closed port on 127.0.0.1.
    handler = Calls()
    assert make_layer({}).invoke(handler, load_event("direct"), FakeContext()) == "ok"
    assert handler.count == 1
    assert 1 <= len(lines.warnings()) <= 2


def test_the_first_application_of_a_version_is_acknowledged_once(
    layer_aws: dict[str, str],
) -> None:
    acks: list[str] = []
    _aws.client("dynamodb").meta.events.register(
        "before-send.dynamodb.PutItem", lambda **kw: acks.append("x")
    )
    env = {envvars.CONFIG: config(version="v-7"), envvars.ACK: "1"}
    layer = make_layer(env)
    for _ in range(5):
        layer.invoke(Calls(), {}, FakeContext(qualifier="live"))
    assert len(acks) == 1
    (ack,) = read_acks("orders-worker", layer_aws)
    assert ack["environment"] == layer.environment_id
    assert ack["version"] == "v-7"
    assert ack["qualifier"] == "live"
    env[envvars.CONFIG] = config(version="v-8")
    layer.invoke(Calls(), {}, FakeContext())
    (ack,) = read_acks("orders-worker", layer_aws)  # overwritten per environment
    assert ack["version"] == "v-8"
    assert len(acks) == 2


def test_a_ping_acknowledges_the_config_without_running_the_handler(
    layer_aws: dict[str, str],
) -> None:
    env = {envvars.CONFIG: config({"kind": "exception", "rate": 1}, version="v-3"),
           envvars.ACK: "yes"}  # fmt: skip
    handler = Calls()
    pong = make_layer(env).invoke(handler, load_event("ping"), FakeContext())
    assert pong["version"] == "v-3"
    assert handler.count == 0
    assert [a["version"] for a in read_acks("orders-worker", layer_aws)] == ["v-3"]


def test_without_the_ack_setting_nothing_is_acknowledged(layer_aws: dict[str, str]) -> None:
    make_layer({envvars.CONFIG: config(version="v-1")}).invoke(Calls(), {}, FakeContext())
    assert read_acks("orders-worker", layer_aws) == []


def test_the_fast_negative_check_never_hides_a_trace() -> None:
    from chaoskit.layer.tracing import collect

    sqs = load_event("sqs")
    assert [t.trace.event_id for t in collect(sqs, "sqs")] == ["e-1", "e-2", "e-3"]
    by_attribute = {"Records": [{
        "messageId": "m-9", "body": "plain text", "eventSource": "aws:sqs",
        "messageAttributes": {"chaoskit-run-id": {"stringValue": "run-1"},
                              "chaoskit-event-id": {"stringValue": "attr-1"}},
    }]}  # fmt: skip
    assert [(t.trace.event_id, t.item_id) for t in collect(by_attribute, "sqs")] == [
        ("attr-1", "m-9")
    ]
    assert [t.trace.event_id for t in collect(load_event("sns"), "sns")] == ["e-sns"]
    plain = {"Records": [{"messageId": "m-1", "body": "{}", "eventSource": "aws:sqs"}]}
    assert collect(plain, "sqs") == []


def test_a_failed_ack_is_retried_once_per_ttl_not_per_invocation(
    layer_aws: dict[str, str], lines: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(envvars.LEDGER_TABLE, "no-such-table")
    env = {envvars.CONFIG: config(version="v-1"), envvars.ACK: "1", envvars.CONFIG_TTL: "60"}
    layer = make_layer(env)
    for _ in range(5):
        assert layer.invoke(Calls(), {}, FakeContext()) == "ok"
    assert len(lines.warnings()) == 1
    assert layer.acked_version is None
    monkeypatch.setenv(envvars.LEDGER_TABLE, "chaoskit-ledger")
    layer._ack_retry_at = 0.0  # the TTL has passed
    layer.invoke(Calls(), {}, FakeContext())
    assert layer.acked_version == "v-1"
    assert [a["version"] for a in read_acks("orders-worker", layer_aws)] == ["v-1"]


def test_events_reaching_a_handler_that_cannot_be_loaded_are_recorded_failed_with_its_error(
    layer_aws: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    # A bundle that leaves out a module it imports (a public Node.js app, built with
    # esbuild, expects the runtime's AWS SDK): with nothing on record, the kill switch
    # called its 10 events "never delivered" while every invocation failed to load.
    from chaoskit.layer import handler as wrapper

    monkeypatch.setenv(envvars.ORIGINAL_HANDLER, "app.handler")
    monkeypatch.setenv(envvars.LEDGER_FLUSH, "inline")
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "app.py").write_text("import not_in_the_bundle\n\ndef handler(e, c): ...\n")
    monkeypatch.setattr(wrapper, "layer", make_layer({envvars.LEDGER_FLUSH: "inline"}))
    monkeypatch.setattr(wrapper, "_original", None)
    for _ in range(2):  # every invocation fails the same way, as Lambda's runtime does
        with pytest.raises(Exception) as caught:
            wrapper.handler(load_event("sqs"), FakeContext())
        assert type(caught.value).__name__ == "Runtime.ImportModuleError"
        assert "Unable to import module 'app': No module named 'not_in_the_bundle'" in str(
            caught.value
        )
    records = read_run("run-1", layer_aws)
    assert _kinds(records) == {e: ["attempt", "failed"] * 2 for e in ("e-1", "e-2", "e-3")}
    failed = next(r for r in records if r.kind == "failed")
    assert failed.detail is not None and failed.detail["error"] == "Runtime.ImportModuleError"
