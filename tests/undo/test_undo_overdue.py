"""Resources past their chaoskit deadline are found on the target, not only in journals.

``chaoskit rollback --expired`` restores what its journals hold, then reads the
target: a resource still tagged ``chaoskit:expires-at`` in the past whose
change no journal here holds is listed and the command exits 3.
``chaoskit audit --stack`` reports the same as ``chaoskit-change-overdue``.
Against the moto server.
"""

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from chaoskit import aws
from chaoskit.cli.main import cli
from chaoskit.faults import route53
from chaoskit.undo import pending_runs
from chaoskit.undo.expiry import EXPIRES_TAG, RUN_TAG, health_check_arn, read_all
from chaoskit.undo.store import journal_path
from tests.support.cli import exit_code as run

PAST = "2020-01-01T00:00:00Z"
FUTURE = "2999-01-01T00:00:00Z"


@pytest.fixture
def cfg(aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict:
    monkeypatch.setenv("CHAOSKIT_HOME", str(tmp_path / "home"))
    return dict(aws_env)


def named(cfg: dict[str, Any]) -> list[str]:
    return ["--target", "localstack", "--endpoint-url", cfg["chaoskit_endpoint_url"]]


def make_table(cfg: dict[str, Any], name: str, tags: dict[str, str]) -> str:
    return str(
        aws.client("dynamodb", cfg).create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 5},
            Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
        )["TableDescription"]["TableArn"]
    )


def make_check(cfg: dict[str, Any], ref: str) -> str:
    return str(
        aws.client("route53", cfg).create_health_check(
            CallerReference=ref,
            HealthCheckConfig={"Type": "HTTP", "FullyQualifiedDomainName": "a.test", "Port": 80},
        )["HealthCheck"]["Id"]
    )


def test_an_overdue_resource_no_journal_holds_is_reported_and_fails(
    cfg: dict[str, Any], capsys: pytest.CaptureFixture
) -> None:
    # Changed by a run whose journal is on another machine: only the tags say so.
    lost = make_table(cfg, "orders-lost", {EXPIRES_TAG: PAST, RUN_TAG: "run-elsewhere"})
    make_table(cfg, "orders-live", {EXPIRES_TAG: FUTURE, RUN_TAG: "run-now"})
    make_table(cfg, "orders-plain", {"app": "orders"})
    assert run(["rollback", "--expired", *named(cfg)]) == 3
    err = capsys.readouterr().err
    assert f"OVERDUE dynamodb {lost}" in err and "run-elsewhere" in err
    assert "orders-live" not in err and "orders-plain" not in err
    assert "cannot be restored from here" in err


def test_a_journaled_overdue_change_is_restored_and_nothing_is_left(cfg: dict[str, Any]) -> None:
    check = make_check(cfg, "journaled")
    route53.fail_health_check(check, configuration={**cfg, "chaoskit_run_id": "run-old"})
    arn = health_check_arn(check)
    assert read_all("route53", arn, cfg)[RUN_TAG] == "run-old"
    path = journal_path("run-old")
    events = [json.loads(line) for line in path.read_text().splitlines()]
    for event in events:
        if "expires_at" in event:
            event["expires_at"] = 1.0  # long past
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    assert run(["rollback", "--expired"]) == 0
    assert pending_runs() == []
    assert read_all("route53", arn, cfg) == {}


def test_a_tag_left_by_a_failed_untag_is_still_reported(
    cfg: dict[str, Any], capsys: pytest.CaptureFixture
) -> None:
    check = make_check(cfg, "left")
    aws.client("route53", cfg).change_tags_for_resource(
        ResourceType="healthcheck",
        ResourceId=check,
        AddTags=[{"Key": EXPIRES_TAG, "Value": PAST}, {"Key": RUN_TAG, "Value": "run-x"}],
    )
    assert run(["rollback", "--expired", *named(cfg)]) == 3
    assert f"OVERDUE route53 {health_check_arn(check)}" in capsys.readouterr().err


def test_an_unreadable_target_is_not_taken_for_a_clean_one(
    cfg: dict[str, Any], capsys: pytest.CaptureFixture
) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens there once closed
    dead = f"http://127.0.0.1:{port}"
    assert run(["rollback", "--expired", "--target", "localstack", "--endpoint-url", dead]) == 3
    assert "COULD NOT READ" in capsys.readouterr().err


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("index.py", "def handler(e, c):\n    return None\n")
    return buf.getvalue()


STACK = {
    "Resources": {
        "Role": {
            "Type": "AWS::IAM::Role",
            "Properties": {"AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": []}},
        },
        "Worker": {
            "Type": "AWS::Lambda::Function",
            "Properties": {
                "FunctionName": "orders-worker",
                "Runtime": "python3.12",
                "Handler": "index.handler",
                "Role": {"Fn::GetAtt": ["Role", "Arn"]},
                "Code": {"ZipFile": "def handler(e, c):\n    return None\n"},
            },
        },
        "Orders": {
            "Type": "AWS::DynamoDB::Table",
            "Properties": {
                "TableName": "orders",
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5},
            },
        },
        "Payments": {
            "Type": "AWS::DynamoDB::Table",
            "Properties": {
                "TableName": "payments",
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5},
            },
        },
        "Check": {
            "Type": "AWS::Route53::HealthCheck",
            "Properties": {
                "HealthCheckConfig": {
                    "Type": "HTTP",
                    "FullyQualifiedDomainName": "a.test",
                    "Port": 80,
                }
            },
        },
    }
}


def _audit(cfg: dict[str, Any]) -> list[dict[str, Any]]:
    result = CliRunner().invoke(
        cli,
        ["audit", "--stack", "shop", "--endpoint-url", cfg["chaoskit_endpoint_url"],
         "--target", "aws", "--format", "json", "--rule", "chaoskit-change-overdue",
         "--fail-on", "none"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return list(json.loads(result.output)["findings"])


def test_the_stack_audit_reports_resources_past_their_deadline(cfg: dict[str, Any]) -> None:
    aws.client("cloudformation", cfg).create_stack(StackName="shop", TemplateBody=json.dumps(STACK))
    assert _audit(cfg) == []
    lam, ddb, r53 = (aws.client(s, cfg) for s in ("lambda", "dynamodb", "route53"))
    fn = lam.get_function(FunctionName="orders-worker")["Configuration"]["FunctionArn"]
    lam.tag_resource(Resource=fn, Tags={EXPIRES_TAG: PAST, RUN_TAG: "run-a"})
    orders = ddb.describe_table(TableName="orders")["Table"]["TableArn"]
    ddb.tag_resource(ResourceArn=orders, Tags=[{"Key": EXPIRES_TAG, "Value": PAST}])
    payments = ddb.describe_table(TableName="payments")["Table"]["TableArn"]
    ddb.tag_resource(ResourceArn=payments, Tags=[{"Key": EXPIRES_TAG, "Value": FUTURE}])
    [check] = r53.list_health_checks()["HealthChecks"]
    r53.change_tags_for_resource(
        ResourceType="healthcheck",
        ResourceId=check["Id"],
        AddTags=[{"Key": EXPIRES_TAG, "Value": PAST}, {"Key": RUN_TAG, "Value": "run-b"}],
    )
    found = {f["evidence"]["arn"]: f for f in _audit(cfg)}
    assert sorted(found) == sorted([fn, orders, health_check_arn(check["Id"])])
    assert found[fn]["evidence"][RUN_TAG] == "run-a"
    assert found[fn]["severity"] == "high"
    assert found[fn]["rule"] == "chaoskit-change-overdue"
    assert "chaoskit rollback --expired" in found[fn]["fix"]
