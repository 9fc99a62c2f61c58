"""The audit on a real (moto) deployment: each seeded misconfiguration found, none when correct."""

import io
import json
import zipfile
from typing import Any

import pytest

from chaoskit import aws
from chaoskit.errors import BadInput
from probes import audit


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", "def handler(event, context):\n    return event\n")
    return buf.getvalue()


def _queue(cfg: dict[str, str], name: str, **attrs: str) -> tuple[str, str]:
    sqs = aws.client("sqs", cfg)
    url = sqs.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return url, arn


def deploy(cfg: dict[str, str], good: bool) -> None:
    """Deploy a small app: correct when ``good``, with one of each misconfiguration otherwise."""
    iam, lam = aws.client("iam", cfg), aws.client("lambda", cfg)
    role = iam.create_role(
        RoleName="app-role",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )["Role"]["Arn"]
    arns = {}
    for name in ("orders-worker", "orders-notifier", "orders-stream"):
        arns[name] = lam.create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=role,
            Handler="app.handler",
            Code={"ZipFile": _zip()},
            Timeout=10,
        )["FunctionArn"]
    _, dlq_arn = _queue(cfg, "orders-dlq")
    _, failures_arn = _queue(cfg, "orders-notifier-failures")
    _, stream_failures_arn = _queue(cfg, "orders-stream-failures")
    _, sns_dlq_arn = _queue(cfg, "orders-topic-dlq")
    queue_attrs = (
        {
            "VisibilityTimeout": "60",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5"}),
        }
        if good
        else {"VisibilityTimeout": "30"}
    )
    _, queue_arn = _queue(cfg, "orders-queue", **queue_attrs)
    lam.create_event_source_mapping(
        EventSourceArn=queue_arn, FunctionName="orders-worker", BatchSize=10
    )
    # Async: the notifier is the target of an SNS subscription and has an invoke config.
    invoke: dict[str, Any] = {"FunctionName": "orders-notifier", "MaximumRetryAttempts": 2}
    if good:
        invoke["DestinationConfig"] = {"OnFailure": {"Destination": failures_arn}}
    lam.put_function_event_invoke_config(**invoke)
    sns = aws.client("sns", cfg)
    topic = sns.create_topic(Name="orders-topic")["TopicArn"]
    sub = sns.subscribe(
        TopicArn=topic,
        Protocol="lambda",
        Endpoint=arns["orders-notifier"],
        ReturnSubscriptionArn=True,
    )["SubscriptionArn"]
    if good:
        sns.set_subscription_attributes(
            SubscriptionArn=sub,
            AttributeName="RedrivePolicy",
            AttributeValue=json.dumps({"deadLetterTargetArn": sns_dlq_arn}),
        )
    kinesis = aws.client("kinesis", cfg)
    kinesis.create_stream(StreamName="orders-stream", ShardCount=1)
    stream_arn = kinesis.describe_stream(StreamName="orders-stream")["StreamDescription"][
        "StreamARN"
    ]
    esm: dict[str, Any] = {
        "EventSourceArn": stream_arn,
        "FunctionName": "orders-stream",
        "StartingPosition": "TRIM_HORIZON",
    }
    if good:
        esm.update(
            BisectBatchOnFunctionError=True,
            MaximumRetryAttempts=2,
            DestinationConfig={"OnFailure": {"Destination": stream_failures_arn}},
        )
    lam.create_event_source_mapping(**esm)
    lam.put_function_concurrency(
        FunctionName="orders-worker", ReservedConcurrentExecutions=5 if good else 0
    )
    task: dict[str, Any] = {"Type": "Task", "Resource": arns["orders-worker"], "End": True}
    if good:
        task["Retry"] = [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 3}]
    definition = {
        "StartAt": "Fan",
        "States": {
            "Fan": {
                "Type": "Parallel",
                "End": True,
                "Branches": [{"StartAt": "Charge", "States": {"Charge": task}}],
            }
        },
    }
    aws.client("stepfunctions", cfg).create_state_machine(
        name="orders-workflow", definition=json.dumps(definition), roleArn=role
    )


def test_a_correct_deployment_has_no_findings(
    aws_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    deploy(aws_env, good=True)
    assert audit.get_findings(configuration=aws_env) == []
    assert audit.count_findings("low", configuration=aws_env) == 0
    code, out = _cli(["audit", *_target(aws_env), "--fail-on", "low"], capsys)
    assert code == 0 and out.startswith("no findings")


def test_each_seeded_misconfiguration_is_found_and_reported(
    aws_env: dict[str, str], capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    # One deployment for every assertion: deploying on moto is the slow part.
    deploy(aws_env, good=False)
    _check_probes(aws_env)
    _check_cli_table(aws_env, capsys)
    _check_cli_json_and_sarif(aws_env, capsys, tmp_path)


def _check_probes(aws_env: dict[str, str]) -> None:
    findings = audit.get_findings(configuration=aws_env)
    got = {(f["check"], f["resource"].split(" ")[0]) for f in findings}
    resources = {check: res for check, res in got}
    assert set(resources) == set(audit.CHECK_IDS)
    assert resources["async-no-failure-destination"] == "lambda:orders-notifier"
    assert resources["sqs-visibility-timeout"] == "sqs:orders-queue"
    assert resources["reserved-concurrency-zero"] == "lambda:orders-worker"
    assert resources["sfn-task-no-retry"] == "states:orders-workflow/Fan/Charge"
    assert resources["sns-subscription-no-dlq"].startswith("sns-subscription:arn:aws:sns:")
    # Dead-letter and failure queues do not need a redrive policy of their own.
    assert [f["resource"] for f in findings if f["check"] == "sqs-no-redrive-policy"] == [
        "sqs:orders-queue"
    ]
    stream = next(f for f in findings if f["check"] == "stream-mapping-unsafe")
    assert "BisectBatchOnFunctionError, MaximumRetryAttempts, DestinationConfig" in stream["risk"]
    assert findings[0]["severity"] == "critical"  # worst first
    assert all(f["risk"] and f["fix"] for f in findings)
    assert audit.count_findings("high", configuration=aws_env) == 3
    only = audit.get_findings(checks=["sqs-visibility-timeout"], configuration=aws_env)
    assert [f["check"] for f in only] == ["sqs-visibility-timeout"]
    assert audit.count_findings("critical", configuration=aws_env) == 1
    with pytest.raises(BadInput, match="unknown audit check 'nope'"):
        audit.get_findings(checks=["nope"], configuration=aws_env)
    with pytest.raises(BadInput, match="unknown severity 'severe'"):
        audit.count_findings("severe", configuration=aws_env)


def _cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    from chaoskit.cli.main import main

    try:
        code = int(main(args) or 0)  # the console script exits with main's return value
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, capsys.readouterr().out


def _target(cfg: dict[str, str]) -> list[str]:
    return ["--target", "localstack", "--endpoint-url", cfg["chaoskit_endpoint_url"]]


def _check_cli_table(aws_env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _cli(["audit", *_target(aws_env)], capsys)
    assert code == 1
    assert "CRITICAL reserved-concurrency-zero" in out and "lambda:orders-worker" in out
    assert "1 critical, 2 high, 4 medium" in out
    code, _ = _cli(
        ["audit", *_target(aws_env), "--fail-on", "critical", "--check", "sqs-visibility-timeout"],
        capsys,
    )
    assert code == 0


def _check_cli_json_and_sarif(
    aws_env: dict[str, str], capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    code, out = _cli(["audit", *_target(aws_env), "--format", "json", "--fail-on", "none"], capsys)
    findings = json.loads(out)
    assert code == 0 and len(findings) == 7
    assert set(findings[0]) == {"resource", "check", "risk", "fix", "severity"}
    sarif_path = tmp_path / "audit.sarif"
    code, _ = _cli(["audit", *_target(aws_env), "--format", "sarif", "-o", str(sarif_path)], capsys)
    sarif = json.loads(sarif_path.read_text())
    assert code == 1 and sarif["version"] == "2.1.0"
    run = sarif["runs"][0]
    rule_ids = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert sorted(rule_ids) == sorted(audit.CHECK_IDS)
    levels = {r["ruleId"]: r["level"] for r in run["results"]}
    assert levels["reserved-concurrency-zero"] == "error"
    assert levels["sqs-no-redrive-policy"] == "warning"
    for result in run["results"]:
        assert rule_ids[result["ruleIndex"]] == result["ruleId"]
        assert result["locations"][0]["logicalLocations"][0]["name"]
