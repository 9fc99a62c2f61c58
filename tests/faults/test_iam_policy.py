"""`chaoskit iam-policy`: every AWS call an action makes is in the policy it prints.

Each action (and its restore, through the undo journal with the remote lock and
the journal mirror on) runs against the moto server with a botocore hook that
records every operation; the policy printed for that action must allow each
one. Adding a call to an action without updating ``chaoskit.iam`` fails here.
"""

import io
import json
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from chaoskit import aws, envvars
from chaoskit.cli.main import main
from chaoskit.faults import canary, inject, kill_switch, layer, load, route53, throttle
from chaoskit.iam import NEEDS, covers, iam_action, policy
from chaoskit.ledger import store
from chaoskit.undo import rollback_run

Calls = set[str]


def _zip(name: str = "app.py", text: str = "def handler(e, c):\n    return e\n") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(name, text)
    return buf.getvalue()


@pytest.fixture
def recorded(
    aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[tuple[dict[str, Any], Calls]]:
    """A world on moto, and the IAM actions of every call made after it was built."""
    monkeypatch.setenv("CHAOSKIT_HOME", str(tmp_path / "home"))
    cfg = {
        **aws_env,
        "chaoskit_run_id": "run-iam",
        "chaoskit_journal_mirror": True,
        "chaoskit_remote_lock": True,
    }
    _world(cfg)
    calls: Calls = set()
    cfg["_calls"] = calls
    real = aws._session

    def session(target: Any, *args: Any, **kwargs: Any) -> Any:
        made = real(target, *args, **kwargs)

        def record(model: Any, **kwargs: Any) -> None:
            service = model.service_model.service_name
            calls.add(iam_action(service, model.name, model.http.get("method", "")))

        made.events.register("before-call", record)
        return made

    monkeypatch.setattr(aws, "_session", session)
    aws.clear_cache()
    yield cfg, calls
    aws.clear_cache()


def _world(cfg: dict[str, Any]) -> None:
    role = aws.client("iam", cfg).create_role(RoleName="iam", AssumeRolePolicyDocument="{}")
    lam = aws.client("lambda", cfg)
    lam.create_function(
        FunctionName="orders-worker",
        Runtime="python3.12",
        Role=role["Role"]["Arn"],
        Handler="app.handler",
        Code={"ZipFile": _zip()},
        Tags={"app": "orders"},
    )
    for description in ("v1", "v2"):
        lam.update_function_configuration(FunctionName="orders-worker", Description=description)
        lam.publish_version(FunctionName="orders-worker")
    lam.create_alias(FunctionName="orders-worker", Name="live", FunctionVersion="1")
    sqs = aws.client("sqs", cfg)
    url = sqs.create_queue(QueueName="orders-queue")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    lam.create_event_source_mapping(FunctionName="orders-worker", EventSourceArn=arn)
    aws.client("dynamodb", cfg).create_table(
        TableName="orders-table",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        ProvisionedThroughput={"ReadCapacityUnits": 50, "WriteCapacityUnits": 50},
    )
    apig = aws.client("apigateway", cfg)
    api = str(apig.create_rest_api(name="orders-api")["id"])
    root = apig.get_resources(restApiId=api)["items"][0]["id"]
    apig.put_method(restApiId=api, resourceId=root, httpMethod="GET", authorizationType="NONE")
    apig.put_integration(restApiId=api, resourceId=root, httpMethod="GET", type="MOCK")
    apig.create_stage(
        restApiId=api, stageName="prod", deploymentId=apig.create_deployment(restApiId=api)["id"]
    )
    check = aws.client("route53", cfg).create_health_check(
        CallerReference="iam",
        HealthCheckConfig={"Type": "HTTP", "FullyQualifiedDomainName": "a.test", "Port": 80},
    )["HealthCheck"]["Id"]
    cfg["_api"], cfg["_check"] = api, check
    cfg["_layer"] = lam.publish_layer_version(
        LayerName="chaoskit", Content={"ZipFile": _zip("python/x.py", "X = 1\n")}
    )["LayerVersionArn"]


F = "chaoskit.faults."
Act = Callable[[dict[str, Any]], Any]


def _wait_for_a_live_fault(c: dict[str, Any]) -> Any:
    # A fault written and acknowledged by another run before the calls that count.
    setup = {**c, "chaoskit_run_id": "run-iam-setup"}
    aws.client("lambda", setup).update_function_configuration(
        FunctionName="orders-worker", Environment={"Variables": {envvars.CONFIG_TTL: "0"}}
    )
    written = inject.inject_latency("orders-worker", ms=10, configuration=setup)
    aws.client("dynamodb", setup).put_item(
        TableName=store.ensure_table(setup),
        Item={"run_id": {"S": "ack#orders-worker"}, "sk": {"S": "env-1"},
              "version": {"S": written["version"]}, "at": {"N": "1"}},
    )  # fmt: skip
    c["_calls"].clear()
    return layer.wait_for_fault_live("orders-worker", timeout=5, configuration=c)


CASES: dict[str, Act] = {
    f"{F}kill_switch:set_reserved_concurrency": lambda c: kill_switch.set_reserved_concurrency(
        tags={"app": "orders"}, configuration=c
    ),
    f"{F}route53:fail_health_check": lambda c: route53.fail_health_check(
        c["_check"], configuration=c
    ),
    f"{F}canary:shift_alias_traffic": lambda c: canary.shift_alias_traffic(
        "orders-worker", "live", "2", 0.5, configuration=c
    ),
    f"{F}throttle:throttle_api_stage": lambda c: throttle.throttle_api_stage(
        c["_api"], "prod", 1, 2, configuration=c
    ),
    f"{F}throttle:limit_event_source_concurrency": lambda c: (
        throttle.limit_event_source_concurrency(5, "orders-worker", configuration=c)
    ),
    f"{F}throttle:disable_event_source_mapping": lambda c: throttle.disable_event_source_mapping(
        "orders-worker", configuration=c
    ),
    f"{F}throttle:cut_table_capacity": lambda c: throttle.cut_table_capacity(
        "orders-table", configuration=c
    ),
    f"{F}layer:enable_chaoskit_layer": lambda c: layer.enable_chaoskit_layer(
        "orders-worker", layer_arn=c["_layer"], configuration=c
    ),
    f"{F}inject:inject_latency": lambda c: inject.inject_latency(
        "orders-worker", ms=10, configuration=c
    ),
    f"{F}inject:clear_faults": lambda c: inject.clear_faults("orders-worker", configuration=c),
    f"{F}layer:wait_for_fault_live": _wait_for_a_live_fault,
    f"{F}load:send_events": lambda c: load.send_events(
        target_type="sqs", target="orders-queue", count=3, configuration=c
    ),
}


#: A call each case must make: proves the hook records what the action does.
KEY_CALL = {
    f"{F}kill_switch:set_reserved_concurrency": "lambda:PutFunctionConcurrency",
    f"{F}route53:fail_health_check": "route53:UpdateHealthCheck",
    f"{F}canary:shift_alias_traffic": "lambda:UpdateAlias",
    f"{F}throttle:throttle_api_stage": "apigateway:PATCH",
    f"{F}throttle:limit_event_source_concurrency": "lambda:UpdateEventSourceMapping",
    f"{F}throttle:disable_event_source_mapping": "lambda:UpdateEventSourceMapping",
    f"{F}throttle:cut_table_capacity": "dynamodb:UpdateTable",
    f"{F}layer:enable_chaoskit_layer": "lambda:UpdateFunctionConfiguration",
    f"{F}inject:inject_latency": "ssm:PutParameter",
    f"{F}inject:clear_faults": "ssm:GetParameter",
    f"{F}layer:wait_for_fault_live": "dynamodb:Query",
    f"{F}load:send_events": "sqs:SendMessageBatch",
}


@pytest.mark.parametrize("activity", sorted(CASES))
def test_the_policy_of_an_action_allows_every_call_it_and_its_restore_make(
    recorded: tuple[dict[str, Any], Calls], activity: str
) -> None:
    cfg, calls = recorded
    CASES[activity](cfg)
    rollback_run("run-iam", cfg)
    assert KEY_CALL[activity] in calls, f"the hook did not record {KEY_CALL[activity]}"
    document = policy([activity, "chaoskit.undo.actions:rollback_current_run"])
    missing = sorted(c for c in calls if not covers(document, c))
    assert missing == [], f"{activity} calls {missing}: add them to chaoskit.iam.NEEDS"


def test_the_load_policy_allows_writing_events_to_a_table(
    recorded: tuple[dict[str, Any], Calls],
) -> None:
    cfg, calls = recorded
    load.send_events(target_type="dynamodb", target="orders-table", count=3, configuration=cfg)
    assert "dynamodb:BatchWriteItem" in calls
    document = policy([f"{F}load:send_events"], names=["orders-*"])
    missing = sorted(c for c in calls if not covers(document, c))
    assert missing == [], f"send_events calls {missing}: add them to chaoskit.iam.NEEDS"
    tables = next(s for s in document["Statement"] if s["Sid"] == "ChaoskitTable")
    assert "arn:aws:dynamodb:*:*:table/orders-*" in tables["Resource"]
    assert {"dynamodb:DescribeTable", "dynamodb:BatchWriteItem"} <= set(tables["Action"])


def test_the_load_policy_allows_starting_executions_of_a_state_machine_by_name(
    recorded: tuple[dict[str, Any], Calls],
) -> None:
    cfg, calls = recorded
    role = aws.client("iam", cfg).create_role(RoleName="sfn", AssumeRolePolicyDocument="{}")
    definition = {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}
    aws.client("stepfunctions", cfg).create_state_machine(
        name="orders-flow", definition=json.dumps(definition), roleArn=role["Role"]["Arn"]
    )
    calls.clear()
    load.send_events(target_type="stepfunctions", target="orders-flow", count=2, configuration=cfg)
    assert {"states:ListStateMachines", "states:StartExecution"} <= set(calls)
    document = policy([f"{F}load:send_events"], names=["orders-*"])
    missing = sorted(c for c in calls if not covers(document, c))
    assert missing == [], f"send_events calls {missing}: add them to chaoskit.iam.NEEDS"


def test_every_action_module_has_its_needs_declared() -> None:
    import inspect

    from chaoskit.discovery import action_modules

    for module_name in action_modules():
        module = __import__(module_name, fromlist=["__all__"])
        for name in module.__all__:
            if inspect.isfunction(getattr(module, name)):
                assert f"{module_name}:{name}" in NEEDS, f"{module_name}:{name} is not in NEEDS"


def test_resources_are_scoped_to_the_allowlist() -> None:
    document = policy([f"{F}kill_switch:set_reserved_concurrency"], names=["orders-*"])
    functions = next(s for s in document["Statement"] if s["Sid"] == "ChaoskitFunction")
    assert functions["Resource"] == [
        "arn:aws:lambda:*:*:function:orders-*",
        "arn:aws:lambda:*:*:function:orders-*:*",
    ]
    assert "lambda:PutFunctionConcurrency" in functions["Action"]
    assert not covers(document, "lambda:UpdateFunctionConfiguration")


def test_the_cli_prints_the_policy_of_the_given_experiments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CHAOSKIT_HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "settings.yaml").write_text(
        yaml.safe_dump({"chaoskit_allow": {"names": ["orders-worker"]}})
    )
    root = Path(__file__).resolve().parents[2]
    try:
        main(["iam-policy", "--experiment", str(root / "experiments" / "kill-switch.yaml")])
    except SystemExit as exc:
        assert exc.code == 0
    document = json.loads(capsys.readouterr().out)
    assert covers(document, "lambda:PutFunctionConcurrency")
    assert not covers(document, "route53:UpdateHealthCheck")
    functions = next(s for s in document["Statement"] if s["Sid"] == "ChaoskitFunction")
    assert "arn:aws:lambda:*:*:function:orders-worker" in functions["Resource"]
