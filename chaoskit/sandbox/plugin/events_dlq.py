"""EventBridge target dead-letter queues, which LocalStack core stores but never uses.

LocalStack 2026.3's EventBridge provider accepts a target's ``DeadLetterConfig``
and then, when the target fails (a missing function, queue or state machine), only
logs ``TargetDeliveryFailure``: the event is dropped. AWS sends such an event
(non-retryable errors: a missing resource or permission) straight to the
target's DLQ, without retries, with message attributes ``ERROR_CODE``,
``ERROR_MESSAGE``, ``EXHAUSTED_RETRY_CONDITION``, ``RETRY_ATTEMPTS``,
``RULE_ARN`` and ``TARGET_ARN``, the event itself as the body.

The patch wraps ``TargetSender.process_event``: when delivery raises and the
target has a ``DeadLetterConfig`` with an SQS ``Arn``, the original event (before
``Input``/``InputPath``/``InputTransformer``) is sent to that queue with those
attributes, then the error is re-raised so LocalStack logs it as before. The
sandbox does not retry retryable errors either (LocalStack never does), so
``RETRY_ATTEMPTS`` is always ``0`` and the condition ``MaximumRetryAttempts``.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from localstack.utils.patch import Patch

from .patching import wrap

LOG = logging.getLogger(__name__)

#: AWS's ERROR_CODE for the AWS error codes a failed target call raises.
_ERROR_CODES = {
    "ResourceNotFoundException": "RESOURCE_NOT_FOUND",
    "AWS.SimpleQueueService.NonExistentQueue": "RESOURCE_NOT_FOUND",
    "QueueDoesNotExist": "RESOURCE_NOT_FOUND",
    "NotFound": "RESOURCE_NOT_FOUND",
    "StateMachineDoesNotExist": "RESOURCE_NOT_FOUND",
    "AccessDeniedException": "NO_PERMISSIONS",
    "AccessDenied": "NO_PERMISSIONS",
}


def _error_code(error: Exception) -> str:
    code = getattr(error, "response", {}).get("Error", {}).get("Code")
    return _ERROR_CODES.get(str(code), "SDK_CLIENT_ERROR")


def _attributes(sender: Any, error: Exception) -> dict[str, dict[str, str]]:
    values = {
        "ERROR_CODE": _error_code(error),
        "ERROR_MESSAGE": str(error)[:1000] or type(error).__name__,
        "EXHAUSTED_RETRY_CONDITION": "MaximumRetryAttempts",
        "RETRY_ATTEMPTS": "0",
        "RULE_ARN": str(sender.rule_arn),
        "TARGET_ARN": str(sender.target["Arn"]),
    }
    return {k: {"DataType": "String", "StringValue": v} for k, v in values.items()}


def send_to_target_dlq(sender: Any, event: Any, error: Exception) -> bool:
    """Send a failed target's event to its DLQ; return whether it was sent."""
    from localstack.aws.connect import connect_to
    from localstack.utils.aws import arns

    dlq_arn = (sender.target.get("DeadLetterConfig") or {}).get("Arn")
    if not dlq_arn or ":sqs:" not in dlq_arn:
        return False
    try:
        sqs = connect_to(region_name=arns.extract_region_from_arn(dlq_arn)).sqs
        sqs.send_message(
            QueueUrl=arns.sqs_queue_url_for_arn(dlq_arn),
            MessageBody=json.dumps(event),
            MessageAttributes=_attributes(sender, error),
        )
    except Exception as err:  # the target's own error is the one reported
        LOG.warning("could not send the failed event to the target DLQ %s: %s", dlq_arn, err)
        return False
    return True


def patches() -> list[Patch]:
    """Send events a rule's target failed to deliver to the target's DLQ."""
    from localstack.services.events.target import TargetSender

    def process_event(original: Any, self: Any, event: Any, trace_header: Any) -> Any:
        untouched = json.loads(json.dumps(event)) if isinstance(event, dict) else event
        try:
            return original(self, event, trace_header)
        except Exception as error:
            if isinstance(untouched, dict):
                untouched.pop("event-bus-name", None)
            send_to_target_dlq(self, untouched, error)
            raise

    return [wrap(TargetSender, "process_event", process_event)]
