"""probes.audit against real deployments on the sandbox.

Each test works in a region of its own (the sandbox keeps regions apart, as AWS
does), so the audit sees exactly what the test deployed and nothing the rest of
the suite left in ``us-east-1``: one seeded misconfiguration per check must give
exactly one finding naming that resource, and the reference app deployed by
``experiments/app/deploy.py`` must give none.
"""

import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest
import reference_app
from botocore.config import Config

from probes import audit
from tests.support.sandbox import ROLE, create_function, queue, unique, wait_for

SEEDED_REGION = "ap-southeast-2"
APP_REGION = "eu-central-1"


def _regional(endpoint: str, region: str) -> Callable[[str], Any]:
    config = Config(retries={"mode": "standard", "max_attempts": 2}, read_timeout=60)

    def make(service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=endpoint,
            region_name=region,
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=config,
        )

    return make


@pytest.fixture(scope="module")
def seeded(sandbox_endpoint: str) -> dict[str, Any]:
    """Deploy one misconfiguration per audit check; return the findings expected."""
    aws = _regional(sandbox_endpoint, SEEDED_REGION)
    lam, sns = aws("lambda"), aws("sns")
    expected: set[tuple[str, str]] = set()

    # Invoked asynchronously (it has an event invoke config) but nowhere to fail to.
    fn_async = unique("audit-async")
    create_function(aws, fn_async)
    lam.put_function_event_invoke_config(FunctionName=fn_async, MaximumRetryAttempts=0)
    expected.add(("async-no-failure-destination", f"lambda:{fn_async}"))

    # Visibility 10 s under 6x the consumer's 5 s timeout (the queue has a redrive policy).
    _, vis_dlq_arn = queue(aws, unique("audit-vis-dlq"))
    vis_name = unique("audit-vis")
    _, vis_arn = queue(
        aws,
        vis_name,
        VisibilityTimeout="10",
        RedrivePolicy=json.dumps({"deadLetterTargetArn": vis_dlq_arn, "maxReceiveCount": 3}),
    )
    fn_consumer = unique("audit-consumer")
    create_function(aws, fn_consumer, timeout=5)
    lam.create_event_source_mapping(
        FunctionName=fn_consumer, EventSourceArn=vis_arn, BatchSize=1, Enabled=False
    )
    expected.add(("sqs-visibility-timeout", f"sqs:{vis_name}"))

    # A work queue without a redrive policy.
    plain = unique("audit-plain")
    queue(aws, plain)
    expected.add(("sqs-no-redrive-policy", f"sqs:{plain}"))

    # A Kinesis mapping with no bisect, no retry limit, no on-failure destination.
    kinesis = aws("kinesis")
    stream = unique("audit-stream")
    kinesis.create_stream(StreamName=stream, ShardCount=1)
    kinesis.get_waiter("stream_exists").wait(
        StreamName=stream, WaiterConfig={"Delay": 0.5, "MaxAttempts": 60}
    )
    stream_arn = kinesis.describe_stream(StreamName=stream)["StreamDescription"]["StreamARN"]
    fn_stream = unique("audit-stream-fn")
    create_function(aws, fn_stream)
    mapping = lam.create_event_source_mapping(
        FunctionName=fn_stream,
        EventSourceArn=stream_arn,
        StartingPosition="LATEST",
        Enabled=False,
    )
    expected.add(
        ("stream-mapping-unsafe", f"lambda-esm:{mapping['UUID']} ({stream} -> {fn_stream})")
    )

    # An SNS -> SQS subscription without a redrive policy (its queue has one).
    _, sub_dlq_arn = queue(aws, unique("audit-sub-dlq"))
    _, sub_queue_arn = queue(
        aws,
        unique("audit-sub"),
        RedrivePolicy=json.dumps({"deadLetterTargetArn": sub_dlq_arn, "maxReceiveCount": 3}),
    )
    topic = sns.create_topic(Name=unique("audit-topic"))["TopicArn"]
    sub = sns.subscribe(
        TopicArn=topic, Protocol="sqs", Endpoint=sub_queue_arn, ReturnSubscriptionArn=True
    )
    expected.add(("sns-subscription-no-dlq", f"sns-subscription:{sub['SubscriptionArn']}"))

    # A kill switch left on.
    fn_zero = unique("audit-zero")
    create_function(aws, fn_zero)
    lam.put_function_concurrency(FunctionName=fn_zero, ReservedConcurrentExecutions=0)
    expected.add(("reserved-concurrency-zero", f"lambda:{fn_zero}"))

    # A Step Functions task with neither Retry nor Catch.
    machine = unique("audit-flow")
    consumer_arn = lam.get_function(FunctionName=fn_consumer)["Configuration"]["FunctionArn"]
    definition = {
        "StartAt": "Charge",
        "States": {"Charge": {"Type": "Task", "Resource": consumer_arn, "End": True}},
    }
    aws("stepfunctions").create_state_machine(
        name=machine, definition=json.dumps(definition), roleArn=ROLE
    )
    expected.add(("sfn-task-no-retry", f"states:{machine}/Charge"))
    return {"expected": expected, "fn_zero": fn_zero}


def test_each_seeded_misconfiguration_is_found_naming_its_resource(seeded, sandbox):
    config = {**sandbox, "aws_region": SEEDED_REGION}
    findings = audit.get_findings(configuration=config)
    assert {(f["check"], f["resource"]) for f in findings} == seeded["expected"]
    assert all(f["risk"] and f["fix"] for f in findings)
    # Worst first: the kill switch left on leads.
    assert findings[0]["check"] == "reserved-concurrency-zero"
    assert audit.count_findings("critical", configuration=config) == 1


def test_a_fixed_misconfiguration_is_no_longer_found(seeded, sandbox, sandbox_endpoint):
    lam = _regional(sandbox_endpoint, SEEDED_REGION)("lambda")
    lam.delete_function_concurrency(FunctionName=seeded["fn_zero"])
    config = {**sandbox, "aws_region": SEEDED_REGION}
    wait_for(
        lambda: not audit.get_findings(["reserved-concurrency-zero"], configuration=config),
        timeout=10,
        what="the concurrency finding to clear",
    )
    lam.put_function_concurrency(FunctionName=seeded["fn_zero"], ReservedConcurrentExecutions=0)


def test_the_reference_app_deployed_correctly_has_no_finding(sandbox):
    config = {
        **sandbox,
        "aws_region": APP_REGION,
        # The audit reads configuration only: no payments stub needs to run.
        "orders_payments_url": "http://localhost:9/charge",
    }
    deployed = reference_app.load().deploy(config)
    assert {"orders-worker", "orders-step"} <= set(deployed["resources"].values())
    assert audit.get_findings(configuration=config) == []
