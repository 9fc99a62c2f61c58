"""The ledger probes on an app whose DLQ has its own consumer (moto).

The app: ``input`` queue (redrive to ``input-dlq``, maxReceiveCount 1) ->
``processor`` -> ``output`` queue -> ``writer``; ``writer`` also consumes
``input-dlq``. Nothing here invokes a function: the ledger records are the ones
the layer writes, and the app's configuration is real (moto).
"""

import io
import json
import time
import zipfile
from typing import Any

import pytest

from chaoskit import aws
from chaoskit.ledger import store
from chaoskit.ledger.records import Record, to_log_line
from probes import dlq
from probes.ledger import reconcile_run

RUN = "run-app"


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("app.py", "def handler(event, context):\n    return None\n")
    return buf.getvalue()


@pytest.fixture
def app(aws_env: dict[str, str]) -> dict[str, str]:
    sqs, lam = aws.client("sqs", aws_env), aws.client("lambda", aws_env)
    role = aws.client("iam", aws_env).create_role(
        RoleName="app-role", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17"})
    )["Role"]["Arn"]
    arns = {}
    for name in ("input-dlq", "output"):
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        arns[name] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": arns["input-dlq"], "maxReceiveCount": "1"})
    url = sqs.create_queue(QueueName="input", Attributes={"RedrivePolicy": redrive})["QueueUrl"]
    arns["input"] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    for name in ("processor", "writer"):
        lam.create_function(FunctionName=name, Runtime="python3.12", Role=role,
                            Handler="app.handler", Code={"ZipFile": _zip()})  # fmt: skip
    lam.create_event_source_mapping(EventSourceArn=arns["input"], FunctionName="processor")
    lam.create_event_source_mapping(EventSourceArn=arns["output"], FunctionName="writer")
    lam.create_event_source_mapping(EventSourceArn=arns["input-dlq"], FunctionName="writer")
    store.ensure_table(aws_env)
    return arns


def _hop(event: str, function: str, queue: str, at: float, outcome: str) -> list[Record]:
    detail = {"function": function, "queue": queue, "request_id": f"{event}{function}{at}"}
    return [
        Record(RUN, event, "attempt", at, "sqs", detail),
        Record(RUN, event, outcome, at + 0.1, "sqs", detail),
    ]


def test_dead_lettering_is_learnt_from_the_dlq_consumer_and_the_dlq_is_never_read(
    app: dict[str, str], aws_env: dict[str, str], caplog: Any
) -> None:
    records = [Record(RUN, e, "sent", 1.0) for e in ("ok", "dead", "dropped")]
    records += _hop("ok", "processor", app["input"], 2.0, "processed")
    records += _hop("ok", "writer", app["output"], 3.0, "processed")
    records += _hop("dead", "processor", app["input"], 2.0, "failed")
    records += _hop("dead", "writer", app["input-dlq"], 9.0, "processed")
    records += _hop("dropped", "processor", app["input"], 2.0, "failed")  # filtered out
    store.write(records, aws_env)
    sqs = aws.client("sqs", aws_env)
    dlq_url = sqs.get_queue_url(QueueName="input-dlq")["QueueUrl"]
    sqs.send_message(QueueUrl=dlq_url, MessageBody=json.dumps({"chaoskit": {"run_id": RUN,
                     "event_id": "dead"}}))  # fmt: skip

    receives: list[str] = []
    sqs.meta.events.register("before-send.sqs.ReceiveMessage", lambda **kw: receives.append("x"))
    assert dlq.record_dead_letters(["input-dlq"], RUN, configuration=aws_env) == {}
    assert "has a consumer (writer)" in caplog.text
    assert receives == []  # never received from: the app's consumer is not raced

    out = reconcile_run(RUN, configuration=aws_env)
    assert (out["processed"], out["dead_lettered"], out["lost"]) == (1, 1, 1)
    assert out["lost_ids"] == ["dropped"] and out["lost_reasons"] == {"failed at processor": 1}
    assert out["dead_letter_queues"] == ["input-dlq"]
    assert out["terminal_stages"] == ["writer"]
    assert any("'input-dlq' is a dead-letter queue with a consumer" in w for w in out["warnings"])
    assert out["stages"]["processor"] == {
        "attempts": 3, "processed": 1, "failed": 2, "duplicates": 0, "dead_lettered": 1,
    }  # fmt: skip
    assert out["queues"]["input-dlq"]["dead_lettered"] == 1

    # Polled again as more stages show up (a new discovery): the run still warns once.
    from chaoskit.ledger import discover

    discover._found.clear()
    again = reconcile_run(RUN, configuration=aws_env)
    assert any("with a consumer" in w for w in again["warnings"])
    assert caplog.text.count("'input-dlq' is a dead-letter queue with a consumer") == 1


def test_a_stopped_functions_queue_still_leads_to_its_dlq_and_that_dlqs_consumer(
    app: dict[str, str], aws_env: dict[str, str]
) -> None:
    # A kill switch on processor: no attempt is traced, so no record names the input
    # queue. Its messages are dead-lettered all the same (throttled receives count toward
    # maxReceiveCount), into a DLQ whose consumer's filter may drop them: say so.
    records = [Record(RUN, e, "sent", 1.0) for e in ("a", "b")]
    store.write(records, aws_env)
    out = reconcile_run(RUN, configuration={**aws_env, "chaoskit_terminal_stages": "processor"})
    # The DLQ's reader left no trace: the reason says where the events may be, unseen.
    assert out["lost"] == 2 and out["lost_reasons"] == {
        "never delivered (if dead-lettered to input-dlq, whose reader writer left no trace "
        "(is the chaoskit layer enabled on it?): unseen there)": 2
    }
    assert out["dead_letter_queues"] == ["input-dlq"]
    assert any("'input-dlq' is a dead-letter queue with a consumer" in w for w in out["warnings"])


def test_a_dlq_read_through_a_filter_is_named_in_the_lost_reason_and_the_warning(
    app: dict[str, str], aws_env: dict[str, str]
) -> None:
    # writer reads input-dlq through a filter: Lambda deletes what it drops, unseen, even
    # though writer is traced (it delivered one dead-lettered event through the DLQ).
    lam = aws.client("lambda", aws_env)
    for m in lam.list_event_source_mappings(EventSourceArn=app["input-dlq"])["EventSourceMappings"]:
        lam.delete_event_source_mapping(UUID=m["UUID"])
    pattern = json.dumps({"body": {"data": {"type": ["TEST"]}}})
    lam.create_event_source_mapping(
        EventSourceArn=app["input-dlq"],
        FunctionName="writer",
        FilterCriteria={"Filters": [{"Pattern": pattern}]},
    )
    records = [Record(RUN, e, "sent", 1.0) for e in ("dead", "dropped")]
    records += _hop("dead", "processor", app["input"], 2.0, "failed")
    records += _hop("dead", "writer", app["input-dlq"], 9.0, "failed")
    records += _hop("dropped", "processor", app["input"], 2.0, "failed")
    store.write(records, aws_env)
    out = reconcile_run(RUN, configuration={**aws_env, "chaoskit_terminal_stages": "processor"})
    assert (out["dead_lettered"], out["lost"]) == (1, 1), out
    assert out["lost_reasons"] == {
        "failed at processor (if dead-lettered to input-dlq, whose reader writer deletes what "
        "its filter drops: unseen there)": 1
    }
    assert any(
        "writer reads it through a filter (FilterCriteria), and Lambda deletes what the "
        "filter drops, unseen" in w
        for w in out["warnings"]
    ), out["warnings"]


def test_records_a_function_logged_instead_of_writing_are_counted_once(
    app: dict[str, str], aws_env: dict[str, str]
) -> None:
    written = [Record(RUN, "a", "sent", 1.0)]
    written += _hop("a", "processor", app["input"], 2.0, "processed")
    store.write(written, aws_env)
    logs = aws.client("logs", aws_env)
    group = "/aws/lambda/writer"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    logged = _hop("a", "writer", app["output"], 3.0, "processed")
    line = to_log_line([*logged, written[1]])  # one record the table has as well
    now_ms = int(time.time() * 1000)  # older events are rejected, as on AWS
    logs.put_log_events(logGroupName=group, logStreamName="s",
                        logEvents=[{"timestamp": now_ms, "message": line}])  # fmt: skip
    out = reconcile_run(RUN, configuration={**aws_env, "chaoskit_functions": ["writer"]})
    assert out["records_from_logs"] == 2
    assert (out["processed"], out["lost"], out["terminal_stages"]) == (1, 0, ["writer"])


def test_events_sent_straight_to_a_dlq_are_not_dead_lettered_on_arrival(
    app: dict[str, str], aws_env: dict[str, str], caplog: Any
) -> None:
    # An experiment on the DLQ's own reader sends its events to input-dlq. Each one writer
    # then got from there was delivered, not dead-lettered: a run of 2 processed read as
    # "0 processed, 2 dead-lettered (dead-lettered to input-dlq)".
    url = aws.client("sqs", aws_env).get_queue_url(QueueName="input-dlq")["QueueUrl"]
    records = [Record(RUN, e, "sent", 1.0, "sqs", {"target": url}) for e in ("a", "b")]
    records += _hop("a", "writer", app["input-dlq"], 2.0, "processed")
    records += _hop("b", "writer", app["input-dlq"], 2.0, "processed")
    store.write(records, aws_env)
    config = {**aws_env, "chaoskit_terminal_stages": "processor,writer"}  # input -> input-dlq
    out = reconcile_run(RUN, configuration=config)
    assert (out["processed"], out["dead_lettered"], out["lost"]) == (2, 0, 0), out
    assert out["dead_letter_queues"] == []
    assert "input-dlq' is a dead-letter queue" not in caplog.text
    # The same deliveries, the events sent to input: they were dead-lettered there.
    again = [
        Record("run-to-input", r.event_id, r.kind, r.at, r.source,
               {**(r.detail or {}), "target": url.replace("input-dlq", "input")}
               if r.kind == "sent" else r.detail)
        for r in records
    ]  # fmt: skip
    store.write(again, aws_env)
    out = reconcile_run("run-to-input", configuration=config)
    assert (out["processed"], out["dead_lettered"]) == (0, 2), out
    assert out["dead_letter_queues"] == ["input-dlq"]


def test_the_wait_lasts_until_a_dlq_with_a_consumer_is_empty(
    app: dict[str, str], aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # processor failed the event; SQS moved it to input-dlq, whose consumer (writer) had
    # not polled yet. The event read as lost ("failed at processor"), the counts stayed
    # quiet, and the wait settled with 10 of 10 lost; seconds later writer took them all.
    from probes import ledger

    sqs = aws.client("sqs", aws_env)
    dlq_url = sqs.get_queue_url(QueueName="input-dlq")["QueueUrl"]
    records = [Record(RUN, "a", "sent", 1.0), *_hop("a", "processor", app["input"], 2.0, "failed")]
    store.write(records, aws_env)
    sqs.send_message(QueueUrl=dlq_url, MessageBody=json.dumps({"chaoskit": {"run_id": RUN,
                     "event_id": "a"}}))  # fmt: skip
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds
        if now[0] >= 20:  # writer's mapping polls at last: it takes the message
            for message in sqs.receive_message(QueueUrl=dlq_url).get("Messages", []):
                sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
                store.write(_hop("a", "writer", app["input-dlq"], 30.0, "processed"), aws_env)

    monkeypatch.setattr(ledger, "_clock", lambda: now[0])
    monkeypatch.setattr(ledger, "_sleep", sleep)
    out = ledger.wait_until_settled(
        timeout=120, queues=["input"], dlqs=["input-dlq"], run_id=RUN, poll_interval=2,
        quiet_seconds=6, configuration={**aws_env, "chaoskit_terminal_stages": "writer"},
    )  # fmt: skip
    assert out["settled"] is True and out["waited_s"] >= 20, out
    assert (out["dead_lettered"], out["lost"]) == (1, 0), out
