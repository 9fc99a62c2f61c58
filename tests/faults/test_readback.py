"""Every action reads back what it wrote, and fails the step when the target does not show it.

A target that answers "200 OK" to a change and then does not show it (as the
sandbox's Route 53 did after a health check update) must fail the action,
never let the run go on as if the fault were on. The write is swallowed with
a botocore ``before-call`` hook: the call returns success, the server never
sees it. The change then ends ``not-applied`` in the journal.
"""

import io
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from chaoskit import aws
from chaoskit.errors import FaultNotApplied
from chaoskit.faults import canary, inject, kill_switch, layer, route53, throttle
from chaoskit.undo import changes


def _zip(name: str = "app.py", text: str = "def handler(e, c):\n    return e\n") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(name, text)
    return buf.getvalue()


@pytest.fixture
def cfg(aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict:
    monkeypatch.setenv("CHAOSKIT_HOME", str(tmp_path / "home"))
    config = {**aws_env, "chaoskit_run_id": "run-rb"}
    role = aws.client("iam", config).create_role(RoleName="rb", AssumeRolePolicyDocument="{}")
    aws.client("lambda", config).create_function(
        FunctionName="orders-worker",
        Runtime="python3.12",
        Role=role["Role"]["Arn"],
        Handler="app.handler",
        Code={"ZipFile": _zip()},
    )
    return config


def swallow(config: dict[str, Any], service: str, operation: str) -> None:
    """Make ``operation`` answer success without reaching the server."""
    client = aws.client(service, config)
    service_id = client.meta.service_model.service_id.hyphenize()

    def fake(**kwargs: Any) -> tuple[Any, dict[str, Any]]:
        return AWSResponse("http://swallowed", 200, {}, None), {
            "ResponseMetadata": {"HTTPStatusCode": 200}
        }

    client.meta.events.register_first(f"before-call.{service_id}.{operation}", fake)


def _kill(cfg: dict[str, Any]) -> Callable[[], Any]:
    swallow(cfg, "lambda", "PutFunctionConcurrency")
    return lambda: kill_switch.set_reserved_concurrency(["orders-worker"], configuration=cfg)


def _health(cfg: dict[str, Any]) -> Callable[[], Any]:
    check = aws.client("route53", cfg).create_health_check(
        CallerReference="rb",
        HealthCheckConfig={"Type": "HTTP", "FullyQualifiedDomainName": "a.test", "Port": 80},
    )["HealthCheck"]["Id"]
    swallow(cfg, "route53", "UpdateHealthCheck")
    return lambda: route53.fail_health_check(check, configuration=cfg)


def _layer(cfg: dict[str, Any]) -> Callable[[], Any]:
    arn = aws.client("lambda", cfg).publish_layer_version(
        LayerName="chaoskit", Content={"ZipFile": _zip("python/x.py", "X = 1\n")}
    )["LayerVersionArn"]
    swallow(cfg, "lambda", "UpdateFunctionConfiguration")
    return lambda: layer.enable_chaoskit_layer("orders-worker", layer_arn=arn, configuration=cfg)


def _inject(cfg: dict[str, Any]) -> Callable[[], Any]:
    swallow(cfg, "ssm", "PutParameter")
    return lambda: inject.inject_latency("orders-worker", ms=100, configuration=cfg)


def _canary(cfg: dict[str, Any]) -> Callable[[], Any]:
    lam = aws.client("lambda", cfg)
    for description in ("v1", "v2"):
        lam.update_function_configuration(FunctionName="orders-worker", Description=description)
        lam.publish_version(FunctionName="orders-worker")
    lam.create_alias(FunctionName="orders-worker", Name="live", FunctionVersion="1")
    swallow(cfg, "lambda", "UpdateAlias")
    return lambda: canary.shift_alias_traffic("orders-worker", "live", "2", 0.5, configuration=cfg)


def _stage(cfg: dict[str, Any]) -> Callable[[], Any]:
    apig = aws.client("apigateway", cfg)
    api = str(apig.create_rest_api(name="orders-api")["id"])
    root = apig.get_resources(restApiId=api)["items"][0]["id"]
    apig.put_method(restApiId=api, resourceId=root, httpMethod="GET", authorizationType="NONE")
    apig.put_integration(restApiId=api, resourceId=root, httpMethod="GET", type="MOCK")
    deployment = apig.create_deployment(restApiId=api)["id"]
    apig.create_stage(restApiId=api, stageName="prod", deploymentId=deployment)
    swallow(cfg, "apigateway", "UpdateStage")
    return lambda: throttle.throttle_api_stage(api, "prod", 1, 2, configuration=cfg)


def _mapping(cfg: dict[str, Any]) -> Callable[[], Any]:
    sqs = aws.client("sqs", cfg)
    url = sqs.create_queue(QueueName="orders-queue")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    aws.client("lambda", cfg).create_event_source_mapping(
        FunctionName="orders-worker", EventSourceArn=arn, BatchSize=5
    )
    swallow(cfg, "lambda", "UpdateEventSourceMapping")
    return lambda: throttle.disable_event_source_mapping("orders-worker", configuration=cfg)


def _table(cfg: dict[str, Any]) -> Callable[[], Any]:
    aws.client("dynamodb", cfg).create_table(
        TableName="orders-table",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        ProvisionedThroughput={"ReadCapacityUnits": 50, "WriteCapacityUnits": 50},
    )
    swallow(cfg, "dynamodb", "UpdateTable")
    return lambda: throttle.cut_table_capacity("orders-table", configuration=cfg)


@pytest.mark.parametrize(
    "setup",
    [_kill, _health, _layer, _inject, _canary, _stage, _mapping, _table],
    ids=["kill-switch", "health-check", "layer", "inject", "canary", "stage", "mapping", "table"],
)
def test_a_write_the_target_does_not_show_fails_the_action(
    cfg: dict[str, Any], setup: Callable[[dict[str, Any]], Callable[[], Any]]
) -> None:
    act = setup(cfg)
    with pytest.raises(FaultNotApplied, match="does not show"):
        act()
    assert [c["status"] for c in changes("run-rb")] == ["not-applied"]
