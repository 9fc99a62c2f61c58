"""Helpers of the end-to-end tests: plain boto3 against a running sandbox.

The fixtures (``sandbox``, ``aws``, ``recorder``) live in ``tests/e2e/conftest.py``;
these are the plain functions the tests import, with deadlines on every wait.
"""

import io
import json
import time
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = [
    "FUNCTIONS",
    "ROLE",
    "RUNTIME",
    "attempts",
    "create_function",
    "drain",
    "function_zip",
    "queue",
    "run_generated_gameday",
    "unique",
    "wait_for",
    "zip_files",
]

FUNCTIONS = Path(__file__).resolve().parent.parent / "e2e" / "functions"
ROLE = "arn:aws:iam::000000000000:role/lambda-role"
#: Python runtime of the test functions (mapped to a local interpreter by the sandbox).
RUNTIME = "python3.12"


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


def delete_stack(configuration: dict[str, Any], name: str) -> None:
    """Delete the stack ``name`` on the target, if it is there, and wait until it is gone.

    Apps nobody here wrote name some resources themselves (a Kinesis stream, a table):
    a test that deploys one deletes its stack afterwards, so another test that deploys
    the same template in the same sandbox, in whatever order, finds no resource in the way.
    """
    from chaoskit import aws as chaoskit_aws
    from chaoskit.deploy.stack import stack_status

    if stack_status(name, configuration) is None:
        return
    cloudformation = chaoskit_aws.client("cloudformation", configuration)
    cloudformation.delete_stack(StackName=name)
    cloudformation.get_waiter("stack_delete_complete").wait(
        StackName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120}
    )


def run_generated_gameday(
    sandbox: dict[str, Any], suite: Path, out: Path, slugs: tuple[str, ...]
) -> Any:
    """Run the experiments ``slugs`` of the game day ``chaoskit init`` wrote to ``suite``.

    Aimed at the session's sandbox, quietly, with its history under ``out``; returns the
    :class:`chaoskit.gameday.run.GameDayResult`.
    """
    import dataclasses

    from rich.console import Console

    from chaoskit.gameday.history import History
    from chaoskit.gameday.run import run_gameday
    from chaoskit.gameday.spec import load_gameday

    gameday = load_gameday(suite / "gameday.yaml")
    gameday = dataclasses.replace(
        gameday,
        endpoint_url=sandbox["chaoskit_endpoint_url"],
        experiments=tuple(e for e in gameday.ordered() if Path(e.path).stem in slugs),
    )
    return run_gameday(
        gameday, out, history=History(out / "h.db"), console=Console(file=io.StringIO())
    )
