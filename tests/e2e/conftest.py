"""The end-to-end suite: plain boto3 against a real, running sandbox.

The session fixture ``sandbox`` brings the sandbox up once (installing it the
first time, about 3 minutes) on a free port with the test speed knobs
(:data:`chaoskit.sandbox.FAST`), yields the Chaos Toolkit configuration that
targets it, and stops it at the end. ``aws`` builds plain boto3 clients for it.
Every wait in this suite has a deadline, so nothing can hang.
"""

import os
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config

from chaoskit import sandbox as chaoskit_sandbox
from tests.support.net import free_port
from tests.support.sandbox import (  # noqa: F401  (re-exported for older imports)
    FUNCTIONS,
    ROLE,
    RUNTIME,
    attempts,
    create_function,
    drain,
    function_zip,
    queue,
    unique,
    wait_for,
    zip_files,
)
from tests.support.summary import SUMMARY


@pytest.fixture(scope="session")
def sandbox_endpoint() -> Iterator[str]:
    """Start a sandbox for this session on a free port; stop it afterwards.

    Prints the sandbox's resident memory before it stops (the benchmark's "RSS after
    the test suite").
    """
    port = free_port()
    lines: list[str] = []
    endpoint = chaoskit_sandbox.ensure_up(
        port, progress=lines.append, options=chaoskit_sandbox.FAST, timeout=180
    )
    try:
        yield endpoint
    finally:
        rss = chaoskit_sandbox.status(port).get("rss_mb")
        SUMMARY.append(f"sandbox: RSS {rss} MB at the end of the session")
        chaoskit_sandbox.down(port, purge=True)


@pytest.fixture(scope="session")
def sandbox(sandbox_endpoint: str) -> dict[str, Any]:
    """The Chaos Toolkit configuration that targets the session's sandbox."""
    port = int(sandbox_endpoint.rsplit(":", 1)[1])
    return {
        "chaoskit_target": "sandbox",
        "chaoskit_sandbox_port": port,
        "chaoskit_endpoint_url": sandbox_endpoint,
        "aws_region": "us-east-1",
    }


@pytest.fixture(scope="session")
def aws(sandbox_endpoint: str) -> Callable[[str], Any]:
    """Return a factory of plain boto3 clients bound to the sandbox."""
    config = Config(retries={"mode": "standard", "max_attempts": 2}, read_timeout=60)

    def make(service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=sandbox_endpoint,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=config,
        )

    return make


@pytest.fixture
def recorder(aws: Callable[[str], Any]) -> dict[str, str]:
    """A queue the test functions record each attempt into: ``{"name", "url", "arn"}``."""
    sqs = aws("sqs")
    name = unique("attempts")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return {"name": name, "url": url, "arn": arn}


os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
