"""Lambda plumbing against the moto server: names, waits, merged updates that skip no-ops."""

import io
import zipfile
from typing import Any

import pytest
from botocore.stub import Stubber

from chaoskit import aws
from chaoskit.errors import AWSActionFailed, BadInput
from chaoskit.functions import config as lc


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", "def handler(event, context):\n    return event\n")
    return buf.getvalue()


@pytest.fixture
def function(aws_env: dict[str, str]) -> str:
    role = aws.client("iam", aws_env).create_role(
        RoleName="fn-role", AssumeRolePolicyDocument="{}"
    )["Role"]["Arn"]
    aws.client("lambda", aws_env).create_function(
        FunctionName="orders-worker",
        Runtime="python3.12",
        Role=role,
        Handler="app.handler",
        Code={"ZipFile": _zip()},
        Environment={"Variables": {"A": "1", "B": "2"}},
    )
    return "orders-worker"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("orders-worker", "orders-worker"),
        ("orders-worker:live", "orders-worker"),
        ("arn:aws:lambda:us-east-1:123456789012:function:orders-worker", "orders-worker"),
        ("arn:aws:lambda:us-east-1:123456789012:function:orders-worker:7", "orders-worker"),
    ],
)
def test_function_name_of_accepts_names_and_arns(value: str, expected: str) -> None:
    assert lc.function_name_of(value) == expected


@pytest.mark.parametrize("value", ["", "arn:aws:sqs:us-east-1:123456789012:orders-queue"])
def test_function_name_of_refuses_what_is_not_a_function(value: str) -> None:
    with pytest.raises(BadInput, match="function"):
        lc.function_name_of(value)


def test_layer_name_of_drops_the_version() -> None:
    arn = "arn:aws:lambda:us-east-1:123456789012:layer:chaoskit:12"
    assert lc.layer_name_of(arn) == "arn:aws:lambda:us-east-1:123456789012:layer:chaoskit"


def test_environment_of_tells_absent_from_empty() -> None:
    assert lc.environment_of({}) is None
    assert lc.environment_of({"Environment": {"Variables": {}}}) == {}
    assert lc.environment_of({"Environment": {"Variables": {"A": "1"}}}) == {"A": "1"}


def _count_updates(aws_env: dict[str, str]) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []
    aws.client("lambda", aws_env).meta.events.register(
        "before-call.lambda.UpdateFunctionConfiguration",
        lambda params, **kwargs: sent.append(params),
    )
    return sent


def test_update_merges_variables_and_skips_a_second_identical_update(
    function: str, aws_env: dict[str, str]
) -> None:
    sent = _count_updates(aws_env)

    def planner(config: dict[str, Any]) -> lc.Plan:
        variables = lc.environment_of(config) or {}
        variables["C"] = "3"
        return {"Variables": variables}

    after = lc.update_configuration(function, planner, aws_env)
    assert lc.environment_of(after) == {"A": "1", "B": "2", "C": "3"}
    assert len(sent) == 1
    again = lc.update_configuration(function, planner, aws_env)
    assert lc.environment_of(again) == {"A": "1", "B": "2", "C": "3"}
    assert len(sent) == 1  # the second, identical plan sent nothing


def test_update_to_no_variables_removes_the_environment(
    function: str, aws_env: dict[str, str]
) -> None:
    after = lc.update_configuration(function, lambda c: {"Variables": None}, aws_env)
    assert lc.environment_of(after) in (None, {})
    assert lc.get_function(function, aws_env)["Tags"] == {}


def test_update_of_a_missing_function_names_the_call_and_function(
    aws_env: dict[str, str],
) -> None:
    with pytest.raises(AWSActionFailed, match=r"'ghost'.*ResourceNotFoundException"):
        lc.update_configuration("ghost", lambda c: {"Variables": None}, aws_env)


def _config(status: str, reason: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {"FunctionName": "fn", "State": "Active", "LastUpdateStatus": status}
    if reason:
        out["LastUpdateStatusReason"] = reason
        out["LastUpdateStatusReasonCode"] = "EniLimitExceeded"
    return out


def test_wait_polls_until_the_update_settles(aws_env: dict[str, str]) -> None:
    lam = aws.client("lambda", aws_env)
    slept: list[float] = []
    with Stubber(lam) as stub:
        stub.add_response("get_function_configuration", _config("InProgress"))
        stub.add_response("get_function_configuration", _config("InProgress"))
        stub.add_response("get_function_configuration", _config("Successful"))
        out = lc.wait_until_updated("fn", aws_env, sleep=slept.append, clock=lambda: 0.0)
    assert out["LastUpdateStatus"] == "Successful"
    assert slept == [0.25, 0.5]


def test_wait_reports_a_failed_update(aws_env: dict[str, str]) -> None:
    lam = aws.client("lambda", aws_env)
    with Stubber(lam) as stub:
        stub.add_response("get_function_configuration", _config("Failed", "no ENI"))
        with pytest.raises(AWSActionFailed, match="EniLimitExceeded: no ENI"):
            lc.wait_until_updated("fn", aws_env, sleep=lambda s: None)


def test_wait_gives_up_after_the_timeout(aws_env: dict[str, str]) -> None:
    lam = aws.client("lambda", aws_env)
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    with Stubber(lam) as stub:
        for _ in range(10):
            stub.add_response("get_function_configuration", _config("InProgress"))
        with pytest.raises(AWSActionFailed, match="UpdateTimeout"):
            lc.wait_until_updated("fn", aws_env, timeout=1.0, sleep=sleep, clock=lambda: now[0])


def test_update_replans_when_another_update_got_in_between(aws_env: dict[str, str]) -> None:
    lam = aws.client("lambda", aws_env)
    before = {**_config("Successful"), "Environment": {"Variables": {"A": "1"}}}
    raced = {**_config("Successful"), "Environment": {"Variables": {"A": "1", "Z": "9"}}}
    after = {**_config("Successful"), "Environment": {"Variables": {"A": "1", "Z": "9", "C": "3"}}}
    slept: list[float] = []

    def planner(config: dict[str, Any]) -> lc.Plan:
        return {"Variables": {**(lc.environment_of(config) or {}), "C": "3"}}

    with Stubber(lam) as stub:
        stub.add_response("get_function_configuration", before)
        stub.add_client_error(
            "update_function_configuration",
            service_error_code="ResourceConflictException",
            http_status_code=409,
            expected_params={
                "FunctionName": "fn",
                "Environment": {"Variables": {"A": "1", "C": "3"}},
            },
        )
        stub.add_response("get_function_configuration", raced)
        # The second plan keeps the variable the other writer added.
        stub.add_response(
            "update_function_configuration",
            {},
            expected_params={
                "FunctionName": "fn",
                "Environment": {"Variables": {"A": "1", "Z": "9", "C": "3"}},
            },
        )
        stub.add_response("get_function_configuration", after)
        out = lc.update_configuration("fn", planner, aws_env, sleep=slept.append)
        stub.assert_no_pending_responses()
    assert lc.environment_of(out) == {"A": "1", "Z": "9", "C": "3"}
    assert slept == [0.5]
