"""The end-to-end suite: plain boto3 against a real, running sandbox.

The session fixture ``sandbox`` brings the sandbox up once (installing it the
first time, about 3 minutes) on a free port with the test speed knobs
(:data:`chaoskit.sandbox.FAST`), yields the Chaos Toolkit configuration that
targets it, and stops it at the end. ``aws`` builds plain boto3 clients for it.
Every wait in this suite has a deadline, so nothing can hang.
"""

import io
import json
import os
import socket
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from chaoskit import sandbox as chaoskit_sandbox

FUNCTIONS = Path(__file__).with_name("functions")
ROLE = "arn:aws:iam::000000000000:role/lambda-role"
#: Python runtime of the test functions (mapped to a local interpreter by the sandbox).
RUNTIME = "python3.12"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def sandbox_endpoint() -> Iterator[str]:
    """Start a sandbox for this session on a free port; stop it afterwards.

    Prints the sandbox's resident memory before it stops (the benchmark's "RSS after
    the test suite").
    """
    port = _free_port()
    lines: list[str] = []
    endpoint = chaoskit_sandbox.ensure_up(
        port, progress=lines.append, options=chaoskit_sandbox.FAST, timeout=180
    )
    try:
        yield endpoint
    finally:
        rss = chaoskit_sandbox.status(port).get("rss_mb")
        _SUMMARY.append(f"sandbox: RSS {rss} MB at the end of the session")
        chaoskit_sandbox.down(port, purge=True)


_SUMMARY: list[str] = []


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the figures the session measured (the sandbox's RSS after the suite)."""
    for line in _SUMMARY:
        terminalreporter.write_line(line)


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


def unique(prefix: str) -> str:
    """Return a resource name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def zip_files(files: dict[str, str | bytes], modes: dict[str, int] | None = None) -> bytes:
    """Build a zip archive in memory (``modes``: unix permissions per file)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (modes or {}).get(name, 0o644) << 16
            archive.writestr(info, content)
    return buffer.getvalue()


def function_zip() -> bytes:
    """The zip of ``functions/probe.py``, the test functions' code."""
    return zip_files({"probe.py": (FUNCTIONS / "probe.py").read_text()})


def wait_for(
    check: Callable[[], Any], timeout: float, interval: float = 0.25, what: str = "condition"
) -> Any:
    """Call ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def drain(sqs: Any, queue_url: str, expect: int, timeout: float) -> list[dict[str, Any]]:
    """Receive (and delete) messages until ``expect`` arrived or ``timeout`` passed."""
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(got) < expect and time.monotonic() < deadline:
        response = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            MessageAttributeNames=["All"],
            AttributeNames=["All"],
        )
        for message in response.get("Messages", []):
            got.append(message)
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return got


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


def attempts(
    aws: Callable[[str], Any], recorder: dict[str, str], expect: int, timeout: float
) -> list[dict[str, Any]]:
    """Return the attempts recorded so far (waiting for ``expect`` of them, at most ``timeout``)."""
    return [json.loads(m["Body"]) for m in drain(aws("sqs"), recorder["url"], expect, timeout)]


def create_function(
    aws: Callable[[str], Any],
    name: str,
    handler: str = "probe.handler",
    env: dict[str, str] | None = None,
    timeout: int = 5,
    memory: int = 128,
    layers: list[str] | None = None,
    code: bytes | None = None,
) -> str:
    """Create a test function, wait until it is active, and return its ARN."""
    lam = aws("lambda")
    arn: str = lam.create_function(
        FunctionName=name,
        Runtime=RUNTIME,
        Role=ROLE,
        Handler=handler,
        Code={"ZipFile": code or function_zip()},
        Timeout=timeout,
        MemorySize=memory,
        Environment={"Variables": env or {}},
        Layers=layers or [],
    )["FunctionArn"]
    lam.get_waiter("function_active_v2").wait(
        FunctionName=name, WaiterConfig={"Delay": 0.5, "MaxAttempts": 60}
    )
    return arn


def queue(aws: Callable[[str], Any], name: str, **attributes: str) -> tuple[str, str]:
    """Create an SQS queue; return its URL and ARN."""
    sqs = aws("sqs")
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return url, arn


os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
