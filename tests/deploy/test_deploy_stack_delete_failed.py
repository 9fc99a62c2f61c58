"""A stack whose creation failed is deleted before it is created again.

CloudFormation's answers are played by botocore's Stubber on a real client (it
checks every request and answer against the service model): the first delete
ends in DELETE_FAILED, the second retains the resource that would not delete.
"""

from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from chaoskit.deploy import stack
from chaoskit.deploy.stack import _delete_failed, _Waiting

NAME = "orders"
STACK_ID = f"arn:aws:cloudformation:us-east-1:000000000000:stack/{NAME}/1"


def _event(n: int, logical: str, status: str, reason: str = "") -> dict[str, Any]:
    event = {
        "StackId": STACK_ID,
        "EventId": f"e{n}",
        "StackName": NAME,
        "LogicalResourceId": logical,
        "ResourceType": "AWS::S3::Bucket" if logical != NAME else "AWS::CloudFormation::Stack",
        "Timestamp": datetime(2026, 1, 1, tzinfo=UTC),
        "ResourceStatus": status,
    }
    if reason:
        event["ResourceStatusReason"] = reason
    return event


def _stack(status: str) -> dict[str, Any]:
    return {
        "Stacks": [
            {
                "StackName": NAME,
                "StackId": STACK_ID,
                "CreationTime": datetime(2026, 1, 1, tzinfo=UTC),
                "StackStatus": status,
            }
        ]
    }


def _cfn() -> Any:
    return boto3.client(
        "cloudformation",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _first_delete_fails(
    stub: Stubber, old: list[dict[str, Any]], failed: list[dict[str, Any]]
) -> None:
    """The stack's old events, the delete, and the DELETE_FAILED it ends in."""
    by_name = {"StackName": NAME}
    stub.add_response("describe_stack_events", {"StackEvents": old}, by_name)
    stub.add_response("delete_stack", {}, by_name)
    stub.add_response("describe_stack_events", {"StackEvents": failed}, by_name)
    stub.add_response("describe_stacks", _stack("DELETE_FAILED"), by_name)
    stub.add_response("describe_stack_events", {"StackEvents": failed}, by_name)


def _delete_until_gone(cfn: Any, stub: Stubber) -> list[str]:
    """Stub the stack gone, run the delete of a ROLLBACK_COMPLETE stack; return what it said."""
    stub.add_client_error(
        "describe_stacks", "ValidationError", f"Stack with id {NAME} does not exist"
    )
    said: list[str] = []
    _delete_failed(
        cfn, NAME, "ROLLBACK_COMPLETE", said.append, _Waiting(60, lambda _s: None, lambda: 0.0)
    )
    stub.assert_no_pending_responses()
    return said


def test_a_failed_stack_is_deleted_retaining_what_would_not_delete(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(stack, "_DELETE_FAILED_RECHECKS", 2)
    cfn = _cfn()
    old = [_event(0, NAME, "ROLLBACK_COMPLETE")]
    failed = [_event(1, "Bucket", "DELETE_FAILED", "bucket not empty"), *old]
    with Stubber(cfn) as stub:
        by_name = {"StackName": NAME}
        _first_delete_fails(stub, old, failed)
        for _ in range(2):  # still DELETE_FAILED when looked at again, twice
            stub.add_response("describe_stacks", _stack("DELETE_FAILED"), by_name)
        stub.add_response("delete_stack", {}, {**by_name, "RetainResources": ["Bucket"]})
        stub.add_response("describe_stack_events", {"StackEvents": failed}, by_name)
        said = _delete_until_gone(cfn, stub)
    assert said[0].startswith("stack 'orders' is ROLLBACK_COMPLETE")
    assert any("DELETE_FAILED" in line and "Bucket: bucket not empty" in line for line in said)
    assert said[-1] == "deleting stack 'orders' again, retaining Bucket"


def test_a_delete_failed_the_sandbox_then_completes_is_not_deleted_again() -> None:
    # The sandbox's CloudFormation said DELETE_FAILED of a rolled-back stack ("No deployed
    # instances of resource 'FnRole' were found") and went on deleting it: taken as
    # final, the retaining delete failed the same way and `chaoskit deploy` stopped,
    # though the stack was gone a moment later.
    cfn = _cfn()
    old = [_event(0, NAME, "ROLLBACK_COMPLETE")]
    failed = [_event(1, "Fn", "DELETE_FAILED", "No deployed instances of resource 'FnRole'"), *old]
    with Stubber(cfn) as stub:
        by_name = {"StackName": NAME}
        _first_delete_fails(stub, old, failed)
        stub.add_response("describe_stacks", _stack("DELETE_FAILED"), by_name)
        said = _delete_until_gone(cfn, stub)
    assert not any(line.startswith("deleting stack 'orders' again") for line in said), said
