"""The exceptions chaoskit raises, with the exit code each one means.

One base, :class:`ChaosKitError`. Failures of Chaos Toolkit activities also
subclass chaoslib's ``ActivityFailed`` so that a run records them as failed
activities. Exit codes follow the CLI contract: 1 run failed or hypothesis
deviated, 2 bad input, 3 safety abort or a rollback that could not restore.
"""

from typing import Any

from chaoslib.exceptions import ActivityFailed

__all__ = [
    "AWSActionFailed",
    "BadInput",
    "ChaosKitError",
    "FaultNotApplied",
    "FaultNotObserved",
    "RollbackFailed",
    "SafetyAbort",
    "aws_failure",
    "expect_state",
]


class ChaosKitError(Exception):
    """Base class of every error chaoskit raises on purpose."""

    exit_code = 1


class BadInput(ChaosKitError):
    """The user's input (a file, a flag, a parameter) is not what was expected."""

    exit_code = 2


class SafetyAbort(ChaosKitError):
    """A guardrail refused the run: allowlist, stop condition, a held lock."""

    exit_code = 3


class RollbackFailed(ChaosKitError):
    """A recorded change could not be restored."""

    exit_code = 3


class AWSActionFailed(ChaosKitError, ActivityFailed):
    """An AWS call made by an activity failed.

    Carries the AWS error code, the operation and the resource so that the
    message says which call on which resource failed, and why.
    """

    def __init__(self, operation: str, resource: str, code: str, message: str) -> None:
        self.operation = operation
        self.resource = resource
        self.code = code
        self.detail = message
        super().__init__(f"{operation} on '{resource}' failed: {code}: {message}")


class FaultNotApplied(ChaosKitError, ActivityFailed):
    """An action's change was accepted but the target does not show it when read back.

    The step fails (the change is undone at once and journaled ``not-applied``):
    a fault that is not on proves nothing.
    """

    def __init__(self, operation: str, resource: str, wanted: Any, found: Any) -> None:
        self.operation = operation
        self.resource = resource
        self.wanted = wanted
        self.found = found
        super().__init__(
            f"{operation} on '{resource}' was accepted but the target does not show it: "
            f"expected {wanted!r}, read back {found!r}"
        )


class FaultNotObserved(ChaosKitError, ActivityFailed):
    """A probe whose purpose is to observe the fault did not observe it: the step fails."""


def expect_state(operation: str, resource: str, wanted: Any, found: Any) -> None:
    """Raise :class:`FaultNotApplied` unless what was read back equals what was written."""
    if found != wanted:
        raise FaultNotApplied(operation, resource, wanted, found)


def aws_failure(operation: str, resource: str, err: Exception) -> AWSActionFailed:
    """Turn a botocore error into an :class:`AWSActionFailed`.

    Call as ``raise aws_failure("lambda:PutFunctionConcurrency", name, err) from err``.
    """
    response: Any = getattr(err, "response", None) or {}
    error = response.get("Error", {}) if isinstance(response, dict) else {}
    code = str(error.get("Code") or type(err).__name__)
    message = str(error.get("Message") or err)
    return AWSActionFailed(operation, resource, code, message)
