"""Functions run as tasks of a state machine: how traced events reach them, where failures end.

Each case is a template with one state machine; the planner's entry (or its note)
is checked against what Step Functions does with the execution's input on the way
to the task (``InputPath``, ``Parameters``, ``ResultPath``, ``OutputPath``, JSONata
``Arguments``/``Output``) and with a failing task's ``Retry`` and ``Catch``.
"""

import json
from pathlib import Path
from typing import Any

import pytest

from chaoskit.suite import generate_suite
from chaoskit.suite.entries import entries_of
from chaoskit.topology import load_template

REFERENCE_APP = Path(__file__).parents[2] / "experiments" / "app" / "template.yaml"

_FUNCTION = {
    "Type": "AWS::Lambda::Function",
    "Properties": {
        "Runtime": "python3.12",
        "Handler": "app.handler",
        "Role": "arn:aws:iam::123456789012:role/r",
        "Code": {"ZipFile": "def handler(event, context):\n    return event\n"},
    },
}


def _task(**fields: Any) -> dict[str, Any]:
    return {"Type": "Task", "Resource": "${TaskArn}", **fields}


def _fallback(**fields: Any) -> dict[str, Any]:
    parameters = {"QueueUrl": "${FallbackUrl}", "MessageBody.$": "$"}
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::sqs:sendMessage",
        "Parameters": parameters,
        "End": True,
        **fields,
    }


RETRY_ALL = [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 2}]
CATCH_KEEPING_INPUT = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Fallback"}]


def _template(
    tmp_path: Path, states: dict[str, Any], start: str, rule: dict[str, Any] | None = None
) -> Path:
    resources: dict[str, Any] = {
        "Task": _FUNCTION,
        "Other": _FUNCTION,
        "Fallback": {"Type": "AWS::SQS::Queue"},
        "Flow": {
            "Type": "AWS::StepFunctions::StateMachine",
            "Properties": {
                "RoleArn": "arn:aws:iam::123456789012:role/sfn",
                "Definition": {"StartAt": start, "States": states},
                "DefinitionSubstitutions": {
                    "TaskArn": {"Fn::GetAtt": ["Task", "Arn"]},
                    "OtherArn": {"Fn::GetAtt": ["Other", "Arn"]},
                    "FallbackUrl": {"Ref": "Fallback"},
                },
            },
        },
    }
    if rule is not None:
        target = {"Id": "flow", "Arn": {"Ref": "Flow"}, **rule.pop("target", {})}
        resources["Placed"] = {
            "Type": "AWS::Events::Rule",
            "Properties": {"EventPattern": rule, "Targets": [target]},
        }
    path = tmp_path / "app" / "template.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"AWSTemplateFormatVersion": "2010-09-09", "Resources": resources}))
    return path


def _entries(path: Path, function: str = "Task") -> tuple[list[Any], list[str]]:
    topo = load_template(path)
    return entries_of(topo, topo.functions[function])


def test_a_first_task_retried_then_caught_into_a_queue_is_started_directly(
    tmp_path: Path,
) -> None:
    path = _template(
        tmp_path,
        {
            "Fulfil": _task(Retry=RETRY_ALL, Catch=CATCH_KEEPING_INPUT, End=True),
            "Fallback": _fallback(),
        },
        "Fulfil",
    )
    (entry,), notes = _entries(path)
    assert notes == []
    assert entry.kind == "stepfunctions"
    assert entry.send == {"target_type": "stepfunctions", "target": "stack:Flow"}
    assert entry.sinks == ["stack:Fallback"] and entry.loses is None
    assert "retries the task 2 time(s)" in entry.retry_path
    assert "queue Fallback" in entry.retry_path


def test_a_rule_that_starts_the_state_machine_is_the_way_in(tmp_path: Path) -> None:
    rule = {"source": ["shop.orders"], "detail-type": ["OrderPlaced"]}
    # The task gets only the event's detail, under a key of its own.
    fulfil = _task(Parameters={"order.$": "$.detail"}, Retry=RETRY_ALL, End=True)
    path = _template(tmp_path, {"Fulfil": fulfil}, "Fulfil", rule)
    (entry,), _ = _entries(path)
    assert entry.send["target_type"] == "eventbridge"
    assert (entry.send["source"], entry.send["detail_type"]) == ("shop.orders", "OrderPlaced")
    assert entry.label == "rule Placed -> state machine Flow (task Fulfil)"
    # No Catch: an event failing every attempt fails its execution.
    assert entry.loses and "no Catch" in entry.loses


@pytest.mark.parametrize(
    ("target", "send"),
    [
        ({"InputPath": "$.detail"}, "eventbridge"),
        # A constant input, or one the transformer builds: the mark is not in it, so the
        # state machine is started directly instead.
        ({"Input": '{"kind": "nightly"}'}, "stepfunctions"),
        ({"InputTransformer": {"InputTemplate": '{"id": <id>}'}}, "stepfunctions"),
    ],
)
def test_what_the_rule_target_passes_decides_whether_the_rule_can_carry_the_mark(
    tmp_path: Path, target: dict[str, Any], send: str
) -> None:
    rule = {"source": ["shop.orders"], "target": target}
    path = _template(tmp_path, {"Fulfil": _task(End=True)}, "Fulfil", rule)
    (entry,), _ = _entries(path)
    assert entry.send["target_type"] == send


def test_retries_of_lambdas_own_errors_only_do_not_absorb_a_functions_errors(
    tmp_path: Path,
) -> None:
    retry = [{"ErrorEquals": ["Lambda.ServiceException", "Lambda.SdkClientException"]}]
    path = _template(tmp_path, {"Fulfil": _task(Retry=retry, End=True)}, "Fulfil")
    (entry,), _ = _entries(path)
    assert "names only Lambda.SdkClientException, Lambda.ServiceException" in entry.retry_path
    assert entry.loses is not None


@pytest.mark.parametrize(
    ("catch", "fallback", "loses"),
    [
        # The default ResultPath replaces the input with the error: no mark reaches the queue.
        ({"ErrorEquals": ["States.ALL"], "Next": "Fallback"}, _fallback(), "replaces the event"),
        (
            {"ErrorEquals": ["States.ALL"], "ResultPath": None, "Next": "Fallback"},
            _fallback(Parameters={"QueueUrl": "${FallbackUrl}", "MessageBody": "failed"}),
            "without the event's mark",
        ),
        (
            {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Fallback"},
            {"Type": "Fail"},
            "fails the execution",
        ),
        (
            {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Fallback"},
            {
                "Type": "Task",
                "Resource": "arn:aws:states:::sns:publish",
                "Parameters": {"TopicArn": "arn:aws:sns:us-east-1:1:t", "Message.$": "$"},
                "End": True,
            },
            "cannot read",
        ),
        # A Pass state with a constant result replaces the caught event on the way.
        (
            {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Fallback"},
            {"Type": "Pass", "Result": {"failed": True}, "Next": "Fulfil"},
            "Pass state Fallback after its Catch",
        ),
        # Only a named error is caught, not a function's own.
        ({"ErrorEquals": ["Timeout"], "Next": "Fallback"}, _fallback(), "no Catch"),
    ],
)
def test_a_catch_that_leaves_the_event_where_chaoskit_cannot_see_it_expects_losses(
    tmp_path: Path, catch: dict[str, Any], fallback: dict[str, Any], loses: str
) -> None:
    states = {"Fulfil": _task(Catch=[catch], End=True), "Fallback": fallback}
    (entry,), _ = _entries(_template(tmp_path, states, "Fulfil"))
    assert entry.sinks == []
    assert entry.loses and loses in entry.loses


def test_a_pass_state_between_the_catch_and_the_queue_keeps_the_event(tmp_path: Path) -> None:
    states = {
        "Fulfil": _task(
            Catch=[{"ErrorEquals": ["States.TaskFailed"], "ResultPath": None, "Next": "Note"}],
            End=True,
        ),
        "Note": {"Type": "Pass", "Result": "failed", "ResultPath": "$.status", "Next": "Fallback"},
        "Fallback": _fallback(),
    }
    (entry,), _ = _entries(_template(tmp_path, states, "Fulfil"))
    assert entry.sinks == ["stack:Fallback"] and entry.loses is None


def test_a_pass_state_after_the_catch_reads_the_executions_own_input(tmp_path: Path) -> None:
    rule = {"source": ["shop.orders"]}
    body = {"QueueUrl": "${FallbackUrl}", "MessageBody.$": "$.event.detail"}
    states = {
        # The task's input is the event's detail under a key of its own ...
        "Prepare": {"Type": "Pass", "Parameters": {"order.$": "$.detail"}, "Next": "Fulfil"},
        "Fulfil": _task(
            Catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Keep"}],
            End=True,
        ),
        # ... and the fallback sends the detail of the execution's input, the event.
        "Keep": {"Type": "Pass", "Parameters": {"event.$": "$$.Execution.Input"}, "Next": "DLQ"},
        "DLQ": _fallback(Parameters=body),
    }
    (entry,), _ = _entries(_template(tmp_path, states, "Prepare", rule))
    assert entry.send["target_type"] == "eventbridge"
    assert entry.sinks == ["stack:Fallback"] and entry.loses is None


@pytest.mark.parametrize(
    ("states", "start", "why"),
    [
        (
            {
                "Route": {"Type": "Choice", "Choices": [], "Default": "Fulfil"},
                "Fulfil": _task(End=True),
            },
            "Route",
            "Choice state Route on the way decides which events reach it",
        ),
        (
            {
                "Check": {"Type": "Task", "Resource": "${OtherArn}", "Next": "Fulfil"},
                "Fulfil": _task(End=True),
            },
            "Check",
            "Task state Check on the way: its result replaces the input",
        ),
        (
            {"Fulfil": _task(InputPath="$.order", End=True)},
            "Fulfil",
            "its InputPath leaves the mark out",
        ),
        (
            {
                "Fulfil": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::lambda:invoke",
                    "Parameters": {"FunctionName": "${TaskArn}", "Payload.$": "$.items[0]"},
                    "End": True,
                }
            },
            "Fulfil",
            "its Parameters leave the mark out",
        ),
        (
            {
                "Fulfil": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                    "Parameters": {"FunctionName": "${TaskArn}", "Payload.$": "$"},
                    "End": True,
                }
            },
            "Fulfil",
            "waits for a task token",
        ),
        (
            {
                "Each": {
                    "Type": "Map",
                    "ItemProcessor": {"StartAt": "Fulfil", "States": {"Fulfil": _task(End=True)}},
                    "End": True,
                }
            },
            "Each",
            "inside Map state Each",
        ),
    ],
)
def test_a_task_the_mark_may_not_reach_is_reported_with_the_state_that_drops_it(
    tmp_path: Path, states: dict[str, Any], start: str, why: str
) -> None:
    entries, notes = _entries(_template(tmp_path, states, start))
    assert entries == []
    (note,) = notes
    assert note.startswith("Task: a task of state machine Flow that traced events do not reach: ")
    assert why in note


@pytest.mark.parametrize(
    "states",
    [
        # An earlier task whose result lands beside the input, then a Wait.
        {
            "Check": {
                "Type": "Task",
                "Resource": "${OtherArn}",
                "ResultPath": "$.check",
                "Next": "Hold",
            },
            "Hold": {"Type": "Wait", "Seconds": 1, "Next": "Fulfil"},
            "Fulfil": _task(End=True),
        },
        # The optimised integration, with the whole input as its payload.
        {
            "Fulfil": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": "${TaskArn}", "Payload.$": "$"},
                "End": True,
            }
        },
        # A branch of a Parallel state gets the Parallel's input.
        {
            "Both": {
                "Type": "Parallel",
                "Branches": [{"StartAt": "Fulfil", "States": {"Fulfil": _task(End=True)}}],
                "End": True,
            }
        },
        # JSONata: the state's input as the payload.
        {
            "Fulfil": {
                "Type": "Task",
                "QueryLanguage": "JSONata",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Arguments": {"FunctionName": "${TaskArn}", "Payload": "{% $states.input %}"},
                "End": True,
            }
        },
    ],
)
def test_states_that_keep_the_input_let_the_mark_reach_the_task(
    tmp_path: Path, states: dict[str, Any]
) -> None:
    (entry,), notes = _entries(_template(tmp_path, states, next(iter(states))))
    assert entry.kind == "stepfunctions" and notes == []


def test_the_reference_workflow_is_planned_from_its_packaged_definition_file() -> None:
    suite = generate_suite(template=REFERENCE_APP, stack_name="orders")
    assert "state machine Workflow: 2 task state(s)" in suite.found
    (errors,) = [p for p in suite.experiments if p.slug == "errors-step-stepfunctions"]
    method = {a["name"]: a["provider"].get("arguments", {}) for a in errors.experiment["method"]}
    assert method["send-events-under-errors"]["source"] == "chaoskit.orders"
    assert method["wait-until-settled"]["dlqs"] == ["stack:WorkflowFallback"]
    assert errors.experiment["configuration"]["chaoskit_terminal_stages"] == ["stack:Step"]
    assert not [n for n in suite.uncovered if n.startswith("Step:")]


def test_the_settle_wait_allows_for_the_tasks_retries(tmp_path: Path) -> None:
    # Step Functions waits 30, 60 (capped at 45), then 45 s before the three retries: an
    # event whose attempt failed is not lost meanwhile.
    retry = [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 30, "MaxAttempts": 3,
              "BackoffRate": 2, "MaxDelaySeconds": 45}]  # fmt: skip
    states = {"Fulfil": _task(Retry=retry, Catch=CATCH_KEEPING_INPUT, End=True),
              "Fallback": _fallback()}  # fmt: skip
    suite = generate_suite(template=_template(tmp_path, states, "Fulfil"), stack_name="app")
    (errors,) = [p for p in suite.experiments if p.kind == "errors"]
    config = errors.experiment["configuration"]
    assert (config["retry_grace"], config["settle_timeout"]) == (55, 300)
    settle = next(a for a in errors.experiment["method"] if a["name"] == "wait-until-settled")
    assert settle["provider"]["arguments"]["retry_grace"] == "${retry_grace}"

    retry[0].update(MaxAttempts=6, MaxDelaySeconds=100)  # 30 + 60 + 4 x 100 s
    states["Fulfil"]["Retry"] = retry
    suite = generate_suite(template=_template(tmp_path, states, "Fulfil"), stack_name="app")
    (errors,) = [p for p in suite.experiments if p.kind == "errors"]
    config = errors.experiment["configuration"]
    assert (config["retry_grace"], config["settle_timeout"]) == (110, 610)
