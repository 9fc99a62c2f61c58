"""Helpers for the fault-action tests: real resources on the moto server."""

import io
import zipfile
from typing import Any

from chaoskit import aws


def code_zip(body: str = "def handler(event, context):\n    return event\n") -> bytes:
    """Return a zip holding ``app.py``."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", body)
    return buf.getvalue()


def make_function(config: dict[str, Any], name: str, tags: dict[str, str] | None = None) -> str:
    """Create a function (and its role, once); return its ARN."""
    iam = aws.client("iam", config)
    try:
        role = iam.get_role(RoleName="faults-role")["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        role = iam.create_role(RoleName="faults-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    return str(
        aws.client("lambda", config).create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=role,
            Handler="app.handler",
            Code={"ZipFile": code_zip()},
            Tags=tags or {},
        )["FunctionArn"]
    )
