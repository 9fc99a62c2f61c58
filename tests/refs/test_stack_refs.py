"""Experiments aimed at a stack's logical IDs and outputs (moto's CloudFormation)."""

import copy
import json
import logging
from pathlib import Path
from typing import Any

import pytest
import yaml
from chaoslib.experiment import run_experiment

from chaoskit import aws
from chaoskit.errors import BadInput
from chaoskit.runner import run_experiment_file
from chaoskit.stack_refs import StackIndex, find_references, load_stack, resolve_experiment

STACK = "shop"
TEMPLATE = {
    "AWSTemplateFormatVersion": "2010-09-09",
    "Resources": {
        "OrdersDLQ": {"Type": "AWS::SQS::Queue"},
        "OrdersQueue": {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "RedrivePolicy": {
                    "deadLetterTargetArn": {"Fn::GetAtt": ["OrdersDLQ", "Arn"]},
                    "maxReceiveCount": 3,
                }
            },
        },
        "OrdersTable": {
            "Type": "AWS::DynamoDB::Table",
            "Properties": {
                "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
                "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
                "BillingMode": "PAY_PER_REQUEST",
            },
        },
        "WorkerRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {"AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": []}},
        },
        "Worker": {
            "Type": "AWS::Lambda::Function",
            "Properties": {
                "Runtime": "python3.12",
                "Handler": "index.handler",
                "Role": {"Fn::GetAtt": ["WorkerRole", "Arn"]},
                "Code": {"ZipFile": "def handler(event, context):\n    return event\n"},
            },
        },
    },
    "Outputs": {
        "QueueUrl": {"Value": {"Ref": "OrdersQueue"}},
        "TableName": {"Value": {"Ref": "OrdersTable"}},
    },
}


@pytest.fixture
def cfg(aws_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("CHAOSKIT_HOME", str(tmp_path / "home"))
    aws.client("cloudformation", aws_env).create_stack(
        StackName=STACK, TemplateBody=json.dumps(TEMPLATE)
    )
    return {**aws_env, "chaoskit_stack": STACK}


def _experiment(*steps: dict[str, Any], config: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "version": "1.0.0",
        "title": "refs",
        "description": "stack references",
        "configuration": dict(config or {}),
        "method": list(steps),
    }


def _probe(name: str, func: str, module: str = "probes.dlq", **arguments: Any) -> dict:
    provider = {"type": "python", "module": module, "func": func, "arguments": arguments}
    return {"type": "probe", "name": name, "provider": provider}


def _kill(name: str, *functions: str) -> dict:
    return {
        "type": "action",
        "name": name,
        "provider": {
            "type": "python",
            "module": "chaoskit.faults.kill_switch",
            "func": "set_reserved_concurrency",
            "arguments": {"function_names": list(functions), "concurrency": 0},
        },
    }


def _physical(cfg: dict[str, Any], logical_id: str) -> str:
    out = aws.client("cloudformation", cfg).describe_stack_resource(
        StackName=STACK, LogicalResourceId=logical_id
    )
    return str(out["StackResourceDetail"]["PhysicalResourceId"])


def test_stack_and_output_references_resolve_everywhere_once(
    cfg: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    experiment = _experiment(
        _kill("stop", "stack:Worker"),
        _probe("depth", "get_queue_depth", queue="output:QueueUrl"),
        _probe("settle", "wait_until_settled", "probes.ledger", dlqs=["stack:OrdersDLQ"]),
        config={**cfg, "table": "stack:OrdersTable", "note": "stack: not a reference"},
    )
    loads: list[str] = []

    def load(name: str, settings: Any) -> StackIndex:
        loads.append(name)
        return load_stack(name, settings)

    assert find_references(experiment, experiment["configuration"]) == [
        "stack:OrdersTable",
        "stack:Worker",
        "output:QueueUrl",
        "stack:OrdersDLQ",
    ]
    with caplog.at_level(logging.INFO, logger="chaostoolkit.chaoskit"):
        resolved = resolve_experiment(experiment, load=load)
    assert loads == [STACK]  # one read of the stack per run
    worker = _physical(cfg, "Worker")
    queue_url = _physical(cfg, "OrdersQueue")
    method = experiment["method"]
    assert method[0]["provider"]["arguments"]["function_names"] == [worker]
    assert method[1]["provider"]["arguments"]["queue"] == queue_url
    assert method[2]["provider"]["arguments"]["dlqs"] == [_physical(cfg, "OrdersDLQ")]
    assert experiment["configuration"]["table"] == _physical(cfg, "OrdersTable")
    assert experiment["configuration"]["note"] == "stack: not a reference"
    assert {r.reference: r.value for r in resolved}["output:QueueUrl"] == queue_url
    assert f"stack:Worker -> {worker} (AWS::Lambda::Function)" in caplog.text


def test_a_missing_logical_id_names_it_its_step_and_the_stacks_ids_and_changes_nothing(
    cfg: dict[str, Any],
) -> None:
    experiment = _experiment(
        _kill("stop", "stack:Worker"), _probe("depth", "get_queue_depth", queue="stack:Ordrs")
    )
    before = copy.deepcopy(experiment)
    with pytest.raises(BadInput) as err:
        resolve_experiment(experiment, settings=cfg)
    message = str(err.value)
    assert "stack:Ordrs (in method probe 'depth')" in message
    assert "no such logical ID" in message
    assert "OrdersDLQ, OrdersQueue, OrdersTable, Worker, WorkerRole" in message
    assert "Its outputs: QueueUrl, TableName" in message
    assert experiment == before


def test_a_missing_output_and_a_missing_stack_are_bad_input(cfg: dict[str, Any]) -> None:
    experiment = _experiment(_probe("depth", "get_queue_depth", queue="output:Nope"))
    with pytest.raises(BadInput, match=r"output:Nope .*no such output.*Its outputs: QueueUrl"):
        resolve_experiment(experiment, settings=cfg)
    with pytest.raises(BadInput, match=r"stack 'gone' .*does not exist on the target"):
        resolve_experiment(experiment, settings={**cfg, "chaoskit_stack": "gone"})
    with pytest.raises(BadInput, match=r"output:Nope in method probe 'depth' needs a stack"):
        resolve_experiment(
            experiment, settings={k: v for k, v in cfg.items() if k != "chaoskit_stack"}
        )


def test_alias_and_event_source_arn_parameters_get_the_form_they_take() -> None:
    index = StackIndex(
        "app",
        "arn:aws:cloudformation:eu-west-1:111122223333:stack/app/x",
        {
            "Live": (
                "AWS::Lambda::Alias",
                "arn:aws:lambda:eu-west-1:111122223333:function:fn:live",
            ),
            "Q": ("AWS::SQS::Queue", "https://sqs.eu-west-1.amazonaws.com/111122223333/app-Q-1"),
            "S": ("AWS::Kinesis::Stream", "app-S-1"),
            "T": ("AWS::DynamoDB::Table", "app-T-1"),
        },
        {},
    )
    action = {
        "type": "action",
        "name": "a",
        "provider": {
            "type": "python",
            "module": "m",
            "func": "f",
            "arguments": {"alias": "stack:Live", "event_source_arn": "stack:Q"},
        },
    }
    experiment = _experiment(action, config={"chaoskit_stack": "app"})
    resolve_experiment(experiment, load=lambda name, settings: index)
    args = experiment["method"][0]["provider"]["arguments"]
    assert args == {
        "alias": "live",
        "event_source_arn": "arn:aws:sqs:eu-west-1:111122223333:app-Q-1",
    }
    action["provider"]["arguments"] = {"event_source_arn": "stack:S", "table_name": "stack:T"}
    resolve_experiment(experiment, load=lambda name, settings: index)
    assert experiment["method"][0]["provider"]["arguments"] == {
        "event_source_arn": "arn:aws:kinesis:eu-west-1:111122223333:stream/app-S-1",
        "table_name": "app-T-1",
    }
    action["provider"]["arguments"] = {"event_source_arn": "stack:T"}
    with pytest.raises(BadInput, match=r"stack:T \(AWS::DynamoDB::Table\).*event_source_arn"):
        resolve_experiment(experiment, load=lambda name, settings: index)


def _concurrency(cfg: dict[str, Any], name: str) -> Any:
    out = aws.client("lambda", cfg).get_function_concurrency(FunctionName=name)
    return out.get("ReservedConcurrentExecutions")


def test_chaoskit_run_refuses_a_bad_reference_before_any_harm(
    cfg: dict[str, Any], tmp_path: Path
) -> None:
    experiment = _experiment(
        _kill("stop", "stack:Worker"),
        _probe("depth", "get_queue_depth", queue="stack:Missing"),
        config={"chaoskit_stack": STACK},
    )
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(experiment))
    variables = {k: v for k, v in cfg.items() if k != "chaoskit_stack"}
    with pytest.raises(BadInput, match="stack:Missing"):
        run_experiment_file(path, variables=variables, read_records=lambda *a: [])
    assert _concurrency(cfg, _physical(cfg, "Worker")) is None  # the kill switch never ran


def test_chaoskit_run_resolves_prints_and_journals_the_references(
    cfg: dict[str, Any], tmp_path: Path
) -> None:
    experiment = _experiment(
        _probe("depth", "get_queue_depth", queue="stack:OrdersQueue"),
        config={"chaoskit_stack": {"type": "env", "key": "SHOP_STACK", "default": STACK}},
    )
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(experiment))
    said: list[str] = []
    variables = {k: v for k, v in cfg.items() if k != "chaoskit_stack"}
    result = run_experiment_file(
        path, variables=variables, read_records=lambda *a: [], say=said.append
    )
    queue_url = _physical(cfg, "OrdersQueue")
    resolved = (
        f"stack '{STACK}': 1 reference(s) resolved\n"
        f"  stack:OrdersQueue -> {queue_url} (AWS::SQS::Queue)"
    )
    assert resolved in said
    assert result.journal["chaoskit"]["stack"]["resolved"][0]["value"] == queue_url
    run = result.journal["run"][0]
    assert run["status"] == "succeeded" and run["output"] == 0


def test_plain_chaos_run_resolves_through_the_control_and_refuses_before_harm(
    cfg: dict[str, Any],
) -> None:
    control = {
        "name": "chaoskit",
        "provider": {"type": "python", "module": "chaoskit.undo.control"},
    }
    good = _experiment(_probe("depth", "get_queue_depth", queue="stack:OrdersQueue"), config=cfg)
    good["controls"] = [control]
    journal = run_experiment(good, settings={"runtime": {"rollbacks": {"strategy": "always"}}})
    assert journal["status"] == "completed"
    assert journal["run"][0]["output"] == 0

    bad = _experiment(
        _kill("stop", "stack:Worker"),
        _probe("depth", "get_queue_depth", queue="stack:Missing"),
        config=cfg,
    )
    bad["controls"] = [copy.deepcopy(control)]
    journal = run_experiment(bad, settings={"runtime": {"rollbacks": {"strategy": "always"}}})
    assert journal["status"] == "interrupted"
    assert journal["run"] == []
    assert _concurrency(cfg, _physical(cfg, "Worker")) is None
