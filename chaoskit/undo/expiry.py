"""Every harmful change carries a deadline, on the target where AWS allows it.

Each journaled change records ``expires_at``: when it was made plus the fault
ceiling (``chaoskit_max_fault_duration``, default 4 hours). A Lambda function
that chaoskit changes (kill switch, layer, faults, canary, event source
mappings) is also tagged, for as long as the change is live, with

- ``chaoskit:expires-at``: the deadline, ISO-8601 UTC;
- ``chaoskit:run-id``: the run that changed it;

so anyone looking at the function (console, audit, ``ListTags``) sees that it
is under a fault and until when, and ``chaoskit rollback --expired`` restores
every change whose deadline has passed. The tags are removed (or put back as
they were) when the function's last change of the run is restored.

What the target itself enforces without the operator's machine: the layer
ignores a fault config past its ``expires_at``. The kill switch, alias
routing, mapping, table, stage and health check changes stay until a
rollback runs: the tag says they are overdue, it does not undo them.
"""

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chaoskit.aws import client
from chaoskit.errors import aws_failure
from chaoskit.layer.config import DEFAULT_MAX_FAULT_SECONDS

__all__ = [
    "EXPIRES_TAG",
    "RUN_TAG",
    "deadline",
    "iso",
    "read_tags",
    "remove",
    "tag",
]

EXPIRES_TAG = "chaoskit:expires-at"
RUN_TAG = "chaoskit:run-id"


def deadline(configuration: Mapping[str, Any] | None, now: float | None = None) -> float:
    """Return when a change made now expires: now plus the fault ceiling."""
    from chaoskit.undo.guard import max_fault_duration

    start = time.time() if now is None else now
    return round(start + max_fault_duration(configuration, DEFAULT_MAX_FAULT_SECONDS), 3)


def iso(epoch: float) -> str:
    """Return an epoch time as ISO-8601 UTC (``2026-11-30T19:30:00Z``)."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def read_tags(arn: str, configuration: Mapping[str, Any] | None) -> dict[str, str | None]:
    """Return the current values of chaoskit's two tags on a function (``None`` = absent)."""
    try:
        found = client("lambda", configuration).list_tags(Resource=arn).get("Tags") or {}
    except (ClientError, BotoCoreError) as err:
        raise aws_failure("lambda:ListTags", arn, err) from err
    return {EXPIRES_TAG: found.get(EXPIRES_TAG), RUN_TAG: found.get(RUN_TAG)}


def tag(arn: str, run_id: str, expires_at: float, configuration: Mapping[str, Any] | None) -> None:
    """Tag a function with the change's deadline and run id.

    Raises:
        AWSActionFailed: Lambda refused the tags (the change is then not made).
    """
    tags = {EXPIRES_TAG: iso(expires_at), RUN_TAG: run_id}
    try:
        client("lambda", configuration).tag_resource(Resource=arn, Tags=tags)
    except (ClientError, BotoCoreError) as err:
        raise aws_failure("lambda:TagResource", arn, err) from err


def remove(
    arn: str, previous: Mapping[str, str | None], configuration: Mapping[str, Any] | None
) -> None:
    """Put chaoskit's tags back as they were before the run (absent, or their old values).

    Idempotent; a function that no longer exists has no tags to remove.
    """
    lam = client("lambda", configuration)
    back = {k: v for k, v in previous.items() if v is not None}
    gone = [k for k, v in previous.items() if v is None]
    try:
        if gone:
            lam.untag_resource(Resource=arn, TagKeys=gone)
        if back:
            lam.tag_resource(Resource=arn, Tags=back)
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return
        raise aws_failure("lambda:UntagResource", arn, err) from err
    except BotoCoreError as err:
        raise aws_failure("lambda:UntagResource", arn, err) from err
