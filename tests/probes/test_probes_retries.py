"""Retry policies read from a real (moto) target, checked against ledger attempts."""

import io
import json
import zipfile
from collections.abc import Callable

import pytest

from chaoskit import aws
from chaoskit.errors import BadInput
from chaoskit.ledger import store
from chaoskit.ledger.records import Record
from probes import retries

RUN = "run-retries"


def _function(cfg: dict[str, str], name: str) -> str:
    role = aws.client("iam", cfg).create_role(
        RoleName=f"{name}-role", AssumeRolePolicyDocument="{}"
    )["Role"]["Arn"]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", "def handler(e, c):\n    return e\n")
    return str(
        aws.client("lambda", cfg).create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=role,
            Handler="app.handler",
            Code={"ZipFile": buf.getvalue()},
        )["FunctionArn"]
    )


def _attempts(fn: str, event: str, n: int, dead: bool = False) -> list[Record]:
    out = [Record(RUN, event, "sent", 1.0)]
    out += [Record(RUN, event, "attempt", 2.0 + i, "lambda", {"function": fn}) for i in range(n)]
    if dead:
        out.append(Record(RUN, event, "dead_lettered", 9.0, "sqs:dlq", {"reason": "x"}))
    return out


def test_async_policy_defaults_to_two_retries_and_reads_the_config(aws_env: dict[str, str]) -> None:
    _function(aws_env, "orders-notifier")
    policy = retries.get_retry_policy("async", "orders-notifier", configuration=aws_env)
    assert (policy["value"], policy["max_attempts"]) == (2, 3)
    aws.client("lambda", aws_env).put_function_event_invoke_config(
        FunctionName="orders-notifier", MaximumRetryAttempts=1, MaximumEventAgeInSeconds=600
    )
    policy = retries.get_retry_policy("async", "orders-notifier", configuration=aws_env)
    assert (policy["max_attempts"], policy["maximum_event_age_seconds"]) == (2, 600)


def test_async_report_flags_over_limit_and_early_dead_letters(aws_env: dict[str, str]) -> None:
    _function(aws_env, "orders-notifier")
    store.ensure_table(aws_env)
    store.write(
        [
            *_attempts("orders-notifier", "ok", 1),
            *_attempts("orders-notifier", "exhausted", 3, dead=True),
            *_attempts("orders-notifier", "too-many", 4),
            *_attempts("orders-notifier", "gave-up", 1, dead=True),
            *_attempts("other-function", "ok", 7),
        ],
        aws_env,
    )
    report = retries.get_retry_report("async", "orders-notifier", run_id=RUN, configuration=aws_env)
    assert report["over_limit"] == ["too-many"]
    assert report["dead_lettered_early"] == ["gave-up"]
    assert report["observed_max"] == 4 and report["honoured"] is False
    assert retries.get_attempts(RUN, "orders-notifier", aws_env) == {
        "exhausted": 3,
        "gave-up": 1,
        "ok": 1,
        "too-many": 4,
    }


def test_sqs_policy_is_max_receive_count(
    aws_env: dict[str, str], make_queue: Callable[..., str]
) -> None:
    make_queue("orders-dlq")
    policy = json.dumps(
        {
            "deadLetterTargetArn": "arn:aws:sqs:us-east-1:123456789012:orders-dlq",
            "maxReceiveCount": "3",
        }
    )
    make_queue("orders-queue", RedrivePolicy=policy)
    make_queue("plain")
    store.ensure_table(aws_env)
    store.write([*_attempts("orders-worker", "a", 3, dead=True), *_attempts("w", "b", 1)], aws_env)
    assert retries.is_retry_policy_honoured(
        "sqs", "orders-queue", run_id=RUN, configuration=aws_env
    )
    unbounded = retries.get_retry_policy("sqs", "plain", configuration=aws_env)
    assert unbounded["max_attempts"] is None


def test_stream_policy_reads_the_mapping(aws_env: dict[str, str]) -> None:
    _function(aws_env, "orders-stream")
    kinesis = aws.client("kinesis", aws_env)
    kinesis.create_stream(StreamName="orders-stream", ShardCount=1)
    arn = kinesis.describe_stream(StreamName="orders-stream")["StreamDescription"]["StreamARN"]
    aws.client("lambda", aws_env).create_event_source_mapping(
        EventSourceArn=arn,
        FunctionName="orders-stream",
        StartingPosition="TRIM_HORIZON",
        MaximumRetryAttempts=2,
    )
    policy = retries.get_retry_policy("stream", "orders-stream", configuration=aws_env)
    assert policy["max_attempts"] == 3
    with pytest.raises(BadInput, match="no stream event source mapping"):
        _function(aws_env, "lonely")
        retries.get_retry_policy("stream", "lonely", configuration=aws_env)


def test_step_functions_retry_per_state_and_error(aws_env: dict[str, str]) -> None:
    definition = {
        "StartAt": "Charge",
        "States": {
            "Charge": {
                "Type": "Task",
                "Resource": "arn:aws:lambda:us-east-1:123456789012:function:orders-step",
                "Retry": [
                    {"ErrorEquals": ["Lambda.TooManyRequestsException"], "MaxAttempts": 5},
                    {"ErrorEquals": ["States.ALL"]},
                ],
                "Next": "Ship",
            },
            "Ship": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage", "End": True},
        },
    }
    aws.client("stepfunctions", aws_env).create_state_machine(
        name="orders-workflow",
        definition=json.dumps(definition),
        roleArn="arn:aws:iam::123456789012:role/sfn",
    )

    def attempts(state: str, error: str | None = None) -> int:
        policy = retries.get_retry_policy(
            "stepfunctions", "orders-workflow", state, error, configuration=aws_env
        )
        return int(policy["max_attempts"])

    assert attempts("Charge") == 6
    assert attempts("Charge", "Lambda.TooManyRequestsException") == 6
    assert attempts("Charge", "ChaosKitInjectedError") == 4  # States.ALL, default 3 retries
    assert attempts("Ship") == 1
    with pytest.raises(BadInput, match="no task state 'Nope'"):
        attempts("Nope")
    with pytest.raises(BadInput, match="unknown retry policy kind 'cron'"):
        retries.get_retry_policy("cron", "x", configuration=aws_env)
