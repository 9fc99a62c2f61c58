"""DLQ and destination messages captured from the sandbox, parsed offline.

``tests/e2e/test_probes_dlq_formats.py`` produces one message of each format on
the sandbox and, with ``CHAOSKIT_E2E_SAVE_EVENTS=1``, saves it here as
``sandbox-<format>.json``: the exact body and attributes the sandbox delivered.
"""

from collections.abc import Callable
from typing import Any

import pytest

from probes._dlq_formats import classify, parse_message

# sample -> (format, event id, reason, condition, attempts)
CAPTURED = {
    "sandbox-sqs-redrive": ("sqs_redrive", "sqs-1", "max_receive_count", "redrive-src", None),
    "sandbox-lambda-destination": (
        "lambda_destination",
        "lambda-1",
        "RetriesExhausted: RuntimeError",
        "RetriesExhausted",
        1,
    ),
    "sandbox-lambda-dlq": ("lambda_dlq", "lambda-1", "asked to fail: lambda-dlq-test", "200", None),
    "sandbox-sns-dlq": ("sns_dlq", "sns-1", "sns delivery failed", None, None),
    "sandbox-eventbridge-dlq": (
        "eventbridge_dlq",
        "eb-1",
        "RESOURCE_NOT_FOUND",
        "MaximumRetryAttempts",
        0,
    ),
}


@pytest.mark.parametrize("name", sorted(CAPTURED))
def test_a_captured_sandbox_message_is_parsed(
    name: str, sample: Callable[[str], dict[str, Any]]
) -> None:
    fmt, event_id, reason, condition, attempts = CAPTURED[name]
    message = {**sample(name), "MessageId": "m-1"}
    assert classify(message) == fmt
    [letter] = parse_message(message)
    assert letter.run_id.startswith("run-") and letter.event_id == event_id
    assert (letter.format, letter.reason, letter.attempts) == (fmt, reason, attempts)
    if condition == "redrive-src":  # the source queue's ARN, named per test run
        assert ":redrive-src-" in str(letter.condition)
    else:
        assert letter.condition == condition
