"""Sample dead-letter messages and real (moto) queues, as fixtures.

Registered for every test folder by ``tests/conftest.py``.
"""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from chaoskit import aws

__all__ = ["EVENTS", "load_event", "make_queue", "sample", "send_sample"]

#: Sample DLQ messages, as AWS (or the sandbox) delivered them.
EVENTS = Path(__file__).resolve().parent.parent / "probes" / "events"


def load_event(name: str) -> dict[str, Any]:
    """Return a sample message from ``tests/probes/events``."""
    data: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return data


@pytest.fixture
def sample() -> Callable[[str], dict[str, Any]]:
    """Return the loader of sample messages."""
    return load_event


@pytest.fixture
def make_queue(aws_env: dict[str, str]) -> Callable[..., str]:
    """Create an SQS queue on the moto server; return its URL."""

    def make(name: str, **attributes: str) -> str:
        sqs = aws.client("sqs", aws_env)
        return str(sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"])

    return make


@pytest.fixture
def send_sample(aws_env: dict[str, str]) -> Callable[[str, str], None]:
    """Send a sample message (body and attributes as AWS delivers them) to a queue."""

    def send(url: str, name: str) -> None:
        message = load_event(name)
        aws.client("sqs", aws_env).send_message(
            QueueUrl=url,
            MessageBody=message["Body"],
            MessageAttributes=message.get("MessageAttributes") or {},
        )

    return send
