"""Every kind of resource chaoskit changes carries the change's deadline while it is live.

Health checks, DynamoDB tables, API Gateway stages and event source mappings
(besides functions) are tagged ``chaoskit:expires-at`` / ``chaoskit:run-id``
while changed; the tags as they were are journaled before they are written,
read back, and put back exactly at rollback (a user's own value of our key
too). Against the moto server.
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
from chaoskit.faults import route53, throttle
from chaoskit.undo import changes, rollback_run
from chaoskit.undo.expiry import EXPIRES_TAG, RUN_TAG, health_check_arn, read_all, read_tags
from chaoskit.undo.store import journal_path

RUN = "run-kinds"


@pytest.fixture
def cfg(aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict:
    monkeypatch.setenv("CHAOSKIT_HOME", str(tmp_path / "home"))
    return {**aws_env, "chaoskit_run_id": RUN, "chaoskit_max_fault_duration": 900}


def health_check(cfg: dict[str, Any]) -> tuple[str, str]:
    r53 = aws.client("route53", cfg)
    check = r53.create_health_check(
        CallerReference="kinds",
        HealthCheckConfig={"Type": "HTTP", "FullyQualifiedDomainName": "a.test", "Port": 80},
    )["HealthCheck"]["Id"]
    r53.change_tags_for_resource(
        ResourceType="healthcheck",
        ResourceId=check,
        AddTags=[{"Key": "app", "Value": "orders"}, {"Key": RUN_TAG, "Value": "users-own"}],
    )
    return "route53", health_check_arn(check)


def table(cfg: dict[str, Any]) -> tuple[str, str]:
    ddb = aws.client("dynamodb", cfg)
    arn = ddb.create_table(
        TableName="orders-table",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 5},
        Tags=[{"Key": "app", "Value": "orders"}],
    )["TableDescription"]["TableArn"]
    return "dynamodb", str(arn)


def stage(cfg: dict[str, Any]) -> tuple[str, str]:
    apig = aws.client("apigateway", cfg)
    api = str(apig.create_rest_api(name="orders-api")["id"])
    root = apig.get_resources(restApiId=api)["items"][0]["id"]
    apig.put_method(restApiId=api, resourceId=root, httpMethod="GET", authorizationType="NONE")
    apig.put_integration(restApiId=api, resourceId=root, httpMethod="GET", type="MOCK")
    deployment = apig.create_deployment(restApiId=api)["id"]
    apig.create_stage(
        restApiId=api, stageName="prod", deploymentId=deployment, tags={"app": "orders"}
    )
    return "apigateway", f"arn:aws:apigateway:us-east-1::/restapis/{api}/stages/prod"


def make_function(cfg: dict[str, Any], name: str, tags: dict[str, str]) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", "def handler(e, c):\n    return e\n")
    role = aws.client("iam", cfg).create_role(RoleName="kinds", AssumeRolePolicyDocument="{}")
    aws.client("lambda", cfg).create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role["Role"]["Arn"],
        Handler="app.handler",
        Code={"ZipFile": buf.getvalue()},
        Tags=tags,
    )


def mapping(cfg: dict[str, Any]) -> tuple[str, str]:
    make_function(cfg, "orders-worker", {"app": "orders"})
    sqs = aws.client("sqs", cfg)
    url = sqs.create_queue(QueueName="orders-queue")["QueueUrl"]
    queue = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    found = aws.client("lambda", cfg).create_event_source_mapping(
        FunctionName="orders-worker", EventSourceArn=queue, BatchSize=5, Tags={"app": "orders"}
    )
    return "lambda", str(found["EventSourceMappingArn"])


def fail_check(cfg: dict[str, Any], arn: str) -> None:
    route53.fail_health_check(arn.rsplit("/", 1)[-1], configuration=cfg)


def cut_table(cfg: dict[str, Any], arn: str) -> None:
    throttle.cut_table_capacity("orders-table", configuration=cfg)


def throttle_stage(cfg: dict[str, Any], arn: str) -> None:
    api = arn.split("/restapis/")[1].split("/")[0]
    throttle.throttle_api_stage(api, "prod", 1, 2, configuration=cfg)


def disable_mapping(cfg: dict[str, Any], arn: str) -> None:
    throttle.disable_event_source_mapping(uuid=arn.rsplit(":", 1)[-1], configuration=cfg)


CASES: dict[str, tuple[Callable[[dict], tuple[str, str]], Callable[[dict, str], None]]] = {
    "health check": (health_check, fail_check),
    "table": (table, cut_table),
    "stage": (stage, throttle_stage),
    "event source mapping": (mapping, disable_mapping),
}


@pytest.fixture(params=sorted(CASES))
def case(request: pytest.FixtureRequest, cfg: dict[str, Any]) -> tuple[str, str, Callable]:
    make, act = CASES[request.param]
    kind, arn = make(cfg)
    return kind, arn, act


def test_the_changed_resource_carries_the_deadline_until_restored(
    cfg: dict[str, Any], case: tuple[str, str, Callable]
) -> None:
    kind, arn, act = case
    before = read_all(kind, arn, cfg)
    act(cfg, arn)
    [change] = changes(RUN)
    during = read_all(kind, arn, cfg)
    assert during[RUN_TAG] == RUN
    assert during[EXPIRES_TAG].endswith("Z")
    assert during["app"] == "orders"
    # The tags as they were are in the journal's first record of the change,
    # written before the tags were.
    first = [line for line in journal_path(RUN).read_text().splitlines() if '"pending"' in line]
    assert len(first) == 1 and arn in first[0]
    tagged = [t for t in change["expiry_tags"] if t["arn"] == arn]
    assert tagged == [
        {"kind": kind, "arn": arn, "previous": {k: before.get(k) for k in (EXPIRES_TAG, RUN_TAG)}}
    ]
    rollback_run(RUN)
    assert read_all(kind, arn, cfg) == before  # exactly, a user's own value included


def test_a_mapping_change_tags_the_function_too(cfg: dict[str, Any]) -> None:
    _, arn = mapping(cfg)
    disable_mapping(cfg, arn)
    fn = aws.client("lambda", cfg).get_function(FunctionName="orders-worker")
    fn_arn = fn["Configuration"]["FunctionArn"]
    assert read_tags(fn_arn, cfg)[RUN_TAG] == RUN
    rollback_run(RUN)
    assert read_all("lambda", fn_arn, cfg) == {"app": "orders"}


def _swallow(cfg: dict[str, Any], service: str, operation: str) -> None:
    client = aws.client(service, cfg)
    service_id = client.meta.service_model.service_id.hyphenize()

    def fake(**kwargs: Any) -> tuple[Any, dict[str, Any]]:
        return AWSResponse("http://swallowed", 200, {}, None), {
            "ResponseMetadata": {"HTTPStatusCode": 200}
        }

    client.meta.events.register_first(f"before-call.{service_id}.{operation}", fake)


@pytest.mark.parametrize(
    ("name", "service", "operation"),
    [
        ("health check", "route53", "ChangeTagsForResource"),
        ("table", "dynamodb", "TagResource"),
        ("stage", "apigateway", "TagResource"),
    ],
)
def test_a_tag_that_does_not_read_back_stops_the_change(
    cfg: dict[str, Any], name: str, service: str, operation: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chaoskit.undo import expiry

    monkeypatch.setattr(expiry, "sleep", lambda s: None)
    make, act = CASES[name]
    kind, arn = make(cfg)
    before = read_all(kind, arn, cfg)
    _swallow(cfg, service, operation)
    with pytest.raises(FaultNotApplied):
        act(cfg, arn)
    assert [c["status"] for c in changes(RUN)] == ["not-applied"]
    assert read_all(kind, arn, cfg) == before
