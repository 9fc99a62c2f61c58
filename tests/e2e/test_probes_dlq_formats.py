"""Every DLQ and destination format, produced for real by the sandbox, read by probes.dlq.

Each test makes the sandbox dead-letter one traced event (plain boto3 to set up),
then asks chaoskit's probes what the dead-letter queue holds: the format, the
reason and the event id must come out of the message AWS's shape put there.
With ``CHAOSKIT_E2E_SAVE_EVENTS=1`` the captured messages are also written to
``tests/probes/events/sandbox-<format>.json``, the samples the unit tests parse.
"""

import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from chaoskit import envvars
from chaoskit.ledger import store
from probes import dlq
from tests.support.sandbox import create_function, queue, unique, wait_for

EVENTS = Path(__file__).parents[1] / "probes" / "events"


def _traced(run_id: str, event_id: str, **extra: Any) -> dict[str, Any]:
    return {**extra, "order_id": event_id, "chaoskit": {"run_id": run_id, "event_id": event_id}}


def _run() -> str:
    return f"run-{uuid.uuid4().hex[:8]}"


def _peeked(sandbox: dict[str, Any], url: str, timeout: float = 30) -> list[dict[str, Any]]:
    """Wait until the DLQ holds a message; return what ``peek_messages`` says of it."""
    return wait_for(  # type: ignore[no-any-return]
        lambda: dlq.peek_messages(url, configuration=sandbox),
        timeout=timeout,
        what=f"a message in {url}",
    )


def _save(aws: Any, url: str, name: str) -> None:
    """Write the raw DLQ message as a sample event (opt-in), without consuming it."""
    if not envvars.is_truthy(os.environ.get(envvars.E2E_SAVE_EVENTS)):
        return
    sqs = aws("sqs")
    message = sqs.receive_message(
        QueueUrl=url,
        MaxNumberOfMessages=1,
        VisibilityTimeout=0,
        AttributeNames=["DeadLetterQueueSourceArn"],
        MessageAttributeNames=["All"],
    )["Messages"][0]
    sample = {
        "Body": message["Body"],
        "MessageAttributes": message.get("MessageAttributes") or {},
        "Attributes": message.get("Attributes") or {},
    }
    (EVENTS / f"sandbox-{name}.json").write_text(json.dumps(sample, indent=2) + "\n")


def test_sqs_redrive_after_max_receive_count(aws, sandbox):
    sqs = aws("sqs")
    run = _run()
    dlq_url, dlq_arn = queue(aws, unique("redrive-dlq"))
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "1"})
    src_url, src_arn = queue(aws, unique("redrive-src"), RedrivePolicy=policy)
    sqs.send_message(QueueUrl=src_url, MessageBody=json.dumps(_traced(run, "sqs-1")))
    # First receive uses the one allowed receive; the next one moves it to the DLQ.
    first = sqs.receive_message(QueueUrl=src_url, VisibilityTimeout=0, WaitTimeSeconds=2)
    assert len(first["Messages"]) == 1
    wait_for(
        lambda: (
            not sqs.receive_message(QueueUrl=src_url, WaitTimeSeconds=1).get("Messages")
            and dlq.get_queue_depth(dlq_url, configuration=sandbox)
        ),
        timeout=20,
        what="the redrive",
    )
    peeked = _peeked(sandbox, dlq_url)
    assert [(p["format"], p["reason"], p["condition"]) for p in peeked] == [
        ("sqs_redrive", "max_receive_count", src_arn)
    ]
    assert dlq.get_event_ids(dlq_url, run_id=run, configuration=sandbox) == ["sqs-1"]
    _save(aws, dlq_url, "sqs-redrive")


def test_lambda_on_failure_destination_and_lambda_dlq(aws, sandbox):
    lam = aws("lambda")
    run = _run()
    dest_url, dest_arn = queue(aws, unique("dest"))
    dlq_url, dlq_arn = queue(aws, unique("lambda-dlq"))
    name = unique("dlq-fail")
    create_function(aws, name)
    lam.update_function_configuration(FunctionName=name, DeadLetterConfig={"TargetArn": dlq_arn})
    lam.get_waiter("function_updated_v2").wait(
        FunctionName=name, WaiterConfig={"Delay": 0.5, "MaxAttempts": 60}
    )
    lam.put_function_event_invoke_config(
        FunctionName=name,
        MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": dest_arn}},
    )
    payload = _traced(run, "lambda-1", fail="lambda-dlq-test")
    lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps(payload))

    destination = _peeked(sandbox, dest_url)
    assert [(p["format"], p["reason"], p["condition"], p["attempts"]) for p in destination] == [
        ("lambda_destination", "RetriesExhausted: RuntimeError", "RetriesExhausted", 1)
    ]
    assert dlq.get_event_ids(dest_url, run_id=run, configuration=sandbox) == ["lambda-1"]
    dead = _peeked(sandbox, dlq_url)
    assert [(p["format"], p["reason"]) for p in dead] == [
        ("lambda_dlq", "asked to fail: lambda-dlq-test")
    ]
    assert dlq.get_event_ids(dlq_url, run_id=run, configuration=sandbox) == ["lambda-1"]
    _save(aws, dest_url, "lambda-destination")
    _save(aws, dlq_url, "lambda-dlq")


@pytest.mark.parametrize("protocol", ["sqs", "lambda"])
def test_sns_subscription_dlq_when_the_endpoint_is_gone(aws, sandbox, protocol):
    sns = aws("sns")
    run = _run()
    dlq_url, dlq_arn = queue(aws, unique("sns-dlq"))
    if protocol == "sqs":
        target_url, endpoint = queue(aws, unique("sns-target"))
    else:
        name = unique("sns-target")
        endpoint = create_function(aws, name)
    topic = sns.create_topic(Name=unique("orders-topic"))["TopicArn"]
    sns.subscribe(
        TopicArn=topic,
        Protocol=protocol,
        Endpoint=endpoint,
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn})},
    )
    # A deleted endpoint is a client-side error: AWS dead-letters it without retrying.
    if protocol == "sqs":
        aws("sqs").delete_queue(QueueUrl=target_url)
    else:
        aws("lambda").delete_function(FunctionName=name)
    sns.publish(TopicArn=topic, Message=json.dumps(_traced(run, "sns-1")))

    peeked = _peeked(sandbox, dlq_url)
    assert [(p["format"], p["reason"]) for p in peeked] == [("sns_dlq", "sns delivery failed")]
    assert json.loads(peeked[0]["body"])["TopicArn"] == topic
    assert dlq.get_event_ids(dlq_url, run_id=run, configuration=sandbox) == ["sns-1"]
    if protocol == "sqs":
        _save(aws, dlq_url, "sns-dlq")


def test_eventbridge_target_dlq_when_the_target_is_gone(aws, sandbox):
    events = aws("events")
    run = _run()
    dlq_url, dlq_arn = queue(aws, unique("eb-dlq"))
    rule = unique("orders-rule")
    rule_arn = events.put_rule(Name=rule, EventPattern=json.dumps({"source": ["chaoskit.test"]}))[
        "RuleArn"
    ]
    missing = f"arn:aws:lambda:us-east-1:000000000000:function:{unique('gone')}"
    events.put_targets(
        Rule=rule,
        Targets=[{"Id": "gone", "Arn": missing, "DeadLetterConfig": {"Arn": dlq_arn}}],
    )
    out = events.put_events(
        Entries=[
            {
                "Source": "chaoskit.test",
                "DetailType": "OrderPlaced",
                "Detail": json.dumps(_traced(run, "eb-1")),
            }
        ]
    )
    assert out["FailedEntryCount"] == 0

    peeked = _peeked(sandbox, dlq_url)
    assert [(p["format"], p["reason"], p["condition"], p["attempts"]) for p in peeked] == [
        ("eventbridge_dlq", "RESOURCE_NOT_FOUND", "MaximumRetryAttempts", 0)
    ]
    assert json.loads(peeked[0]["body"])["detail-type"] == "OrderPlaced"
    assert dlq.get_event_ids(dlq_url, run_id=run, configuration=sandbox) == ["eb-1"]
    raw = aws("sqs").receive_message(
        QueueUrl=dlq_url, VisibilityTimeout=0, MessageAttributeNames=["All"]
    )["Messages"][0]["MessageAttributes"]
    assert raw["RULE_ARN"]["StringValue"] == rule_arn
    assert raw["TARGET_ARN"]["StringValue"] == missing
    _save(aws, dlq_url, "eventbridge-dlq")


def test_dead_letters_reach_the_ledger_and_reconcile(aws, sandbox):
    # The reader writes one dead_lettered record per event, once, into the ledger.
    sqs = aws("sqs")
    run = _run()
    config = {**sandbox, "chaoskit_run_id": run}
    dlq_url, _ = queue(aws, unique("ledger-dlq"))
    for i in range(3):
        sqs.send_message(QueueUrl=dlq_url, MessageBody=json.dumps(_traced(run, f"led-{i}")))
    assert dlq.record_dead_letters([dlq_url], configuration=config) == {dlq_url: 3}
    assert dlq.record_dead_letters([dlq_url], configuration=config) == {dlq_url: 3}
    dead = [r for r in store.read_run(run, config) if r.kind == "dead_lettered"]
    # Read twice, written once.
    assert sorted(r.event_id for r in dead) == ["led-0", "led-1", "led-2"]
    assert {r.detail["format"] for r in dead} == {"sqs_redrive"}
