"""Read the AWS-recorded snapshot excerpts vendored in ``aws_recorded/``.

LocalStack records these snapshots against real AWS (tests marked AWS-validated);
``aws_recorded/SOURCE.md`` names the repository, commit and files. The snapshot
tool stores message bodies parsed; :func:`as_received` turns a recorded message
back into what ``ReceiveMessage`` returns (bodies as JSON strings).
"""

import json
from functools import cache
from pathlib import Path
from typing import Any

RECORDED = Path(__file__).with_name("aws_recorded") / "snapshots.json"
BASE = "tests/aws/services/"


@cache
def _all() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(RECORDED.read_text())
    return data


def recorded(test: str, key: str | None = None) -> Any:
    """Return the recorded content of one LocalStack test (``path.py::Class::test``)."""
    matches = [k for k in _all() if k.endswith(test)]
    if len(matches) != 1:
        raise KeyError(f"expected one recorded test ending with {test!r}, found {matches}")
    content = _all()[matches[0]]["recorded-content"]
    return content if key is None else content[key]


def as_received(message: dict[str, Any]) -> dict[str, Any]:
    """Return a recorded SQS message as ``ReceiveMessage`` returns it (string bodies)."""
    out = dict(message)
    body = out.get("Body")
    if isinstance(body, dict) and isinstance(body.get("Message"), dict | list):
        body = {**body, "Message": json.dumps(body["Message"])}
    if not isinstance(body, str):
        out["Body"] = json.dumps(body)
    return out


def sns_envelope(message: dict[str, Any]) -> dict[str, Any]:
    """Wrap a recorded SNS notification (as delivered to SQS) into an SQS message."""
    body = {**message, "Message": json.dumps(message["Message"])}
    return {"Body": json.dumps(body), "MessageId": "m-sns"}
