"""Every harmful change carries a deadline, on the target where AWS allows it.

Each journaled change records ``expires_at``: when it was made plus the fault
ceiling (``chaoskit_max_fault_duration``, default 4 hours). Every resource a
change harms is also tagged, for as long as the change is live, with

- ``chaoskit:expires-at``: the deadline, ISO-8601 UTC;
- ``chaoskit:run-id``: the run that changed it;

so anyone looking at it (console, ``chaoskit audit --stack``, ``chaoskit
rollback --expired``) sees that it is under a fault and until when. Tagged
kinds (:data:`KINDS`): Lambda functions and event source mappings, DynamoDB
tables, API Gateway REST stages and Route 53 health checks. What the tags
were before is journaled before they are written; the write is read back; the
tags are put back exactly (the user's own values, or removed) when the run's
last change on the resource is restored.

What the target itself enforces without the operator's machine: the layer
ignores a fault config past its ``expires_at``; with
``chaoskit_scheduled_restore_role`` set, an EventBridge Scheduler schedule puts
the kill switch's reserved concurrency back at the deadline
(:mod:`chaoskit.undo.scheduled`). Alias routing, mapping, table, stage and
health check changes stay until a rollback runs: the tag says they are
overdue, it does not undo them.
"""

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chaoskit.aws import client
from chaoskit.errors import aws_failure, expect_state
from chaoskit.layer.config import DEFAULT_MAX_FAULT_SECONDS

__all__ = [
    "EXPIRES_TAG",
    "KINDS",
    "RUN_TAG",
    "deadline",
    "health_check_arn",
    "iso",
    "parse_iso",
    "read_all",
    "read_tags",
    "remove",
    "tag",
]

EXPIRES_TAG = "chaoskit:expires-at"
RUN_TAG = "chaoskit:run-id"
_OURS = (EXPIRES_TAG, RUN_TAG)

#: Kinds of resource chaoskit tags, by the service whose tag API they use.
KINDS = ("lambda", "dynamodb", "apigateway", "route53")

#: Error codes meaning "this resource does not exist" (nothing left to untag).
_GONE = frozenset(
    {"ResourceNotFoundException", "NotFoundException", "NoSuchHealthCheck", "NotFound"}
)

#: Injectable for tests: how to wait between two reads of a tag that has not settled.
sleep: Callable[[float], None] = time.sleep
_READ_BACK_TRIES = 5


def deadline(configuration: Mapping[str, Any] | None, now: float | None = None) -> float:
    """Return when a change made now expires: now plus the fault ceiling."""
    from chaoskit.undo.guard import max_fault_duration

    start = time.time() if now is None else now
    return round(start + max_fault_duration(configuration, DEFAULT_MAX_FAULT_SECONDS), 3)


def iso(epoch: float) -> str:
    """Return an epoch time as ISO-8601 UTC (``2026-11-30T19:30:00Z``)."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> float | None:
    """Return the epoch time of a ``chaoskit:expires-at`` value, ``None`` if it is not one."""
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    except (TypeError, ValueError):
        return None


def health_check_arn(health_check_id: str) -> str:
    """Return the ARN of a Route 53 health check (how its tags are addressed here)."""
    return f"arn:aws:route53:::healthcheck/{health_check_id}"


def _health_check_id(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown tagged kind '{kind}': expected one of {', '.join(KINDS)}")


def _pairs(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def _list(kind: str, arn: str, cfg: Mapping[str, Any] | None) -> dict[str, str]:
    if kind == "lambda":
        return dict(client("lambda", cfg).list_tags(Resource=arn).get("Tags") or {})
    if kind == "dynamodb":
        ddb, found, token = client("dynamodb", cfg), {}, None
        while True:
            page = ddb.list_tags_of_resource(
                ResourceArn=arn, **({"NextToken": token} if token else {})
            )
            found.update({t["Key"]: t["Value"] for t in page.get("Tags") or []})
            token = page.get("NextToken")
            if not token:
                return found
    if kind == "apigateway":
        return dict(client("apigateway", cfg).get_tags(resourceArn=arn).get("tags") or {})
    got = client("route53", cfg).list_tags_for_resource(
        ResourceType="healthcheck", ResourceId=_health_check_id(arn)
    )
    return {t["Key"]: t["Value"] for t in (got.get("ResourceTagSet") or {}).get("Tags") or []}


def _put(kind: str, arn: str, tags: Mapping[str, str], cfg: Mapping[str, Any] | None) -> None:
    if kind == "lambda":
        client("lambda", cfg).tag_resource(Resource=arn, Tags=dict(tags))
    elif kind == "dynamodb":
        client("dynamodb", cfg).tag_resource(ResourceArn=arn, Tags=_pairs(tags))
    elif kind == "apigateway":
        client("apigateway", cfg).tag_resource(resourceArn=arn, tags=dict(tags))
    else:
        client("route53", cfg).change_tags_for_resource(
            ResourceType="healthcheck", ResourceId=_health_check_id(arn), AddTags=_pairs(tags)
        )


def _drop(kind: str, arn: str, keys: list[str], cfg: Mapping[str, Any] | None) -> None:
    if kind == "lambda":
        client("lambda", cfg).untag_resource(Resource=arn, TagKeys=keys)
    elif kind == "dynamodb":
        client("dynamodb", cfg).untag_resource(ResourceArn=arn, TagKeys=keys)
    elif kind == "apigateway":
        client("apigateway", cfg).untag_resource(resourceArn=arn, tagKeys=keys)
    else:
        client("route53", cfg).change_tags_for_resource(
            ResourceType="healthcheck", ResourceId=_health_check_id(arn), RemoveTagKeys=keys
        )


def read_all(kind: str, arn: str, configuration: Mapping[str, Any] | None) -> dict[str, str]:
    """Return every tag of a resource of a tagged kind.

    Raises:
        AWSActionFailed: the tags cannot be read (access denied, no such resource...).
    """
    _check_kind(kind)
    try:
        return _list(kind, arn, configuration)
    except (ClientError, BotoCoreError) as err:
        raise aws_failure(f"{kind}:ListTags", arn, err) from err


def read_tags(
    arn: str, configuration: Mapping[str, Any] | None, kind: str = "lambda"
) -> dict[str, str | None]:
    """Return the current values of chaoskit's two tags on a resource (``None`` = absent)."""
    found = read_all(kind, arn, configuration)
    return {key: found.get(key) for key in _OURS}


def _read_back(kind: str, arn: str, wanted: Mapping[str, str | None], cfg: Any) -> None:
    # Tag APIs are eventually consistent on some services: a few reads before failing.
    found: dict[str, str | None] = {}
    for attempt in range(_READ_BACK_TRIES):
        found = read_tags(arn, cfg, kind)
        if found == dict(wanted):
            return
        if attempt + 1 < _READ_BACK_TRIES:
            sleep(1.0)
    expect_state(f"{kind}:TagResource", arn, dict(wanted), found)


def tag(
    arn: str,
    run_id: str,
    expires_at: float,
    configuration: Mapping[str, Any] | None,
    kind: str = "lambda",
) -> None:
    """Tag a resource with the change's deadline and run id, and read the tags back.

    Raises:
        AWSActionFailed: the service refused the tags (the change is then not made).
        FaultNotApplied: the tags do not read back as written.
    """
    _check_kind(kind)
    tags = {EXPIRES_TAG: iso(expires_at), RUN_TAG: run_id}
    try:
        _put(kind, arn, tags, configuration)
    except (ClientError, BotoCoreError) as err:
        raise aws_failure(f"{kind}:TagResource", arn, err) from err
    _read_back(kind, arn, tags, configuration)


def remove(
    arn: str,
    previous: Mapping[str, str | None],
    configuration: Mapping[str, Any] | None,
    kind: str = "lambda",
) -> None:
    """Put chaoskit's tags back as they were before the run (absent, or their old values).

    Only chaoskit's two keys are touched. Idempotent; a resource that no
    longer exists has no tags to remove. Reads back what it wrote.
    """
    _check_kind(kind)
    wanted = {key: previous.get(key) for key in _OURS}
    back = {k: str(v) for k, v in wanted.items() if v is not None}
    gone = [k for k, v in wanted.items() if v is None]
    try:
        if gone:
            _drop(kind, arn, gone, configuration)
        if back:
            _put(kind, arn, back, configuration)
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") in _GONE:
            return
        raise aws_failure(f"{kind}:UntagResource", arn, err) from err
    except BotoCoreError as err:
        raise aws_failure(f"{kind}:UntagResource", arn, err) from err
    _read_back(kind, arn, wanted, configuration)
