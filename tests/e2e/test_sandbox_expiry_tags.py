"""On the sandbox: each kind chaoskit changes carries the deadline tags while the change is live.

The same actions as ``tests/undo/test_undo_expiry_kinds.py`` (moto), on the
sandbox's own services: a table's capacity cut, a REST stage's throttling, an
event source mapping disabled (the mapping and its function are tagged), a
health check failed. Tags are put back exactly by the rollback.
"""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from chaoskit.faults import route53, throttle
from chaoskit.undo import rollback_run
from chaoskit.undo.expiry import EXPIRES_TAG, RUN_TAG, health_check_arn, read_all
from tests.support.sandbox import create_function, delete_stack, queue, unique


@pytest.fixture
def cfg(sandbox: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict:
    monkeypatch.setenv("CHAOSKIT_HOME", str(tmp_path / "home"))
    return {**sandbox, "chaoskit_run_id": unique("run-tags"), "chaoskit_remote_lock": False}


def _check(cfg: dict, before: dict, kind: str, arn: str, act: Callable[[], Any]) -> None:
    act()
    during = read_all(kind, arn, cfg)
    assert during[RUN_TAG] == cfg["chaoskit_run_id"] and during[EXPIRES_TAG].endswith("Z")
    assert rollback_run(cfg["chaoskit_run_id"])
    assert read_all(kind, arn, cfg) == before


def test_table(cfg: dict[str, Any], aws: Callable[[str], Any]) -> None:
    name = unique("orders")
    arn = aws("dynamodb").create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 5},
        Tags=[{"Key": "app", "Value": "orders"}],
    )["TableDescription"]["TableArn"]
    act = lambda: throttle.cut_table_capacity(name, configuration=cfg)  # noqa: E731
    _check(cfg, {"app": "orders"}, "dynamodb", arn, act)


def test_stage(cfg: dict[str, Any], aws: Callable[[str], Any]) -> None:
    apig = aws("apigateway")
    api = apig.create_rest_api(name=unique("orders-api"))["id"]
    root = apig.get_resources(restApiId=api)["items"][0]["id"]
    apig.put_method(restApiId=api, resourceId=root, httpMethod="GET", authorizationType="NONE")
    apig.put_integration(restApiId=api, resourceId=root, httpMethod="GET", type="MOCK")
    deployment = apig.create_deployment(restApiId=api)["id"]
    apig.create_stage(restApiId=api, stageName="prod", deploymentId=deployment)
    arn = f"arn:aws:apigateway:us-east-1::/restapis/{api}/stages/prod"
    apig.tag_resource(resourceArn=arn, tags={"app": "orders"})
    act = lambda: throttle.throttle_api_stage(api, "prod", 1, 2, configuration=cfg)  # noqa: E731
    _check(cfg, {"app": "orders"}, "apigateway", arn, act)


def test_event_source_mapping(cfg: dict[str, Any], aws: Callable[[str], Any]) -> None:
    fn = unique("orders-worker")
    fn_arn = create_function(aws, fn)
    _, queue_arn = queue(aws, unique("orders-queue"))
    mapping = aws("lambda").create_event_source_mapping(
        FunctionName=fn, EventSourceArn=queue_arn, BatchSize=1
    )
    arn = mapping.get("EventSourceMappingArn") or ":".join(
        [*fn_arn.split(":")[:5], "event-source-mapping", mapping["UUID"]]
    )
    before = read_all("lambda", arn, cfg)
    fn_before = read_all("lambda", fn_arn, cfg)
    act = lambda: throttle.disable_event_source_mapping(  # noqa: E731
        uuid=mapping["UUID"], configuration=cfg
    )
    act()
    assert read_all("lambda", arn, cfg)[RUN_TAG] == cfg["chaoskit_run_id"]
    assert read_all("lambda", fn_arn, cfg)[RUN_TAG] == cfg["chaoskit_run_id"]
    rollback_run(cfg["chaoskit_run_id"])
    assert read_all("lambda", arn, cfg) == before
    assert read_all("lambda", fn_arn, cfg) == fn_before


def test_health_check(cfg: dict[str, Any], aws: Callable[[str], Any]) -> None:
    r53 = aws("route53")
    check = r53.create_health_check(
        CallerReference=unique("ref"),
        HealthCheckConfig={
            "Type": "HTTP",
            "IPAddress": "127.0.0.1",
            "Port": 9,
            "ResourcePath": "/health",
        },
    )["HealthCheck"]["Id"]
    r53.change_tags_for_resource(
        ResourceType="healthcheck", ResourceId=check, AddTags=[{"Key": "app", "Value": "orders"}]
    )
    act = lambda: route53.fail_health_check(check, configuration=cfg)  # noqa: E731
    _check(cfg, {"app": "orders"}, "route53", health_check_arn(check), act)


STACK = {
    "Resources": {
        "Api": {"Type": "AWS::ApiGateway::RestApi", "Properties": {"Name": "expiry-api"}},
        "ApiMethod": {
            "Type": "AWS::ApiGateway::Method",
            "Properties": {
                "RestApiId": {"Ref": "Api"},
                "ResourceId": {"Fn::GetAtt": ["Api", "RootResourceId"]},
                "HttpMethod": "GET",
                "AuthorizationType": "NONE",
                "Integration": {"Type": "MOCK"},
            },
        },
        "ApiDeployment": {
            "Type": "AWS::ApiGateway::Deployment",
            "DependsOn": "ApiMethod",
            "Properties": {"RestApiId": {"Ref": "Api"}},
        },
        "ApiStage": {
            "Type": "AWS::ApiGateway::Stage",
            "Properties": {
                "RestApiId": {"Ref": "Api"},
                "StageName": "prod",
                "DeploymentId": {"Ref": "ApiDeployment"},
            },
        },
        "Orders": {
            "Type": "AWS::DynamoDB::Table",
            "Properties": {
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5},
            },
        },
    }
}


def test_the_stack_audit_reads_the_tags_of_a_stage_and_a_table(
    cfg: dict[str, Any], aws: Callable[[str], Any]
) -> None:
    import json

    from chaoskit.audit import audit_stack

    name = unique("expiry-stack")
    cfn = aws("cloudformation")
    cfn.create_stack(StackName=name, TemplateBody=json.dumps(STACK))
    cfn.get_waiter("stack_create_complete").wait(
        StackName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120}
    )
    try:
        resources = {
            r["LogicalResourceId"]: r["PhysicalResourceId"]
            for r in cfn.describe_stack_resources(StackName=name)["StackResources"]
        }
        stage = f"arn:aws:apigateway:us-east-1::/restapis/{resources['Api']}/stages/prod"
        table = aws("dynamodb").describe_table(TableName=resources["Orders"])["Table"]["TableArn"]
        assert audit_stack(name, cfg, ["chaoskit-change-overdue"]).findings == []
        past = {EXPIRES_TAG: "2020-01-01T00:00:00Z", RUN_TAG: "run-gone"}
        aws("apigateway").tag_resource(resourceArn=stage, tags=past)
        aws("dynamodb").tag_resource(
            ResourceArn=table, Tags=[{"Key": k, "Value": v} for k, v in past.items()]
        )
        found = audit_stack(name, cfg, ["chaoskit-change-overdue"]).findings
        assert sorted(f.evidence["arn"] for f in found) == sorted([stage, table])
        assert {f.evidence[RUN_TAG] for f in found} == {"run-gone"}
    finally:
        delete_stack(cfg, name)
