"""Find resources on a target whose chaoskit deadline tag has passed.

A resource chaoskit changed carries ``chaoskit:expires-at`` while the change
is live (:mod:`chaoskit.undo.expiry`). Once that time has passed, the change
is overdue: a rollback should have put it back. ``chaoskit rollback
--expired`` restores the overdue changes its journals hold and then reads the
target with :func:`find_overdue`, so a resource still tagged (its journal is
on another machine, lost, or its restore failed) is reported, never ignored;
``chaoskit audit --stack`` reads the tags of the stack's resources.

:func:`find_overdue` lists every resource of a tagged kind in the target's
region and reads its tags: Lambda functions and event source mappings,
DynamoDB tables, API Gateway REST stages, Route 53 health checks. On a large
account that is one tag read per resource.
"""

import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chaoskit.aws import client
from chaoskit.errors import AWSActionFailed, aws_failure
from chaoskit.undo.expiry import EXPIRES_TAG, RUN_TAG, health_check_arn, parse_iso, read_all

__all__ = ["Overdue", "find_overdue", "journaled", "overdue_of", "scan_targets"]

_GONE = frozenset(
    {"ResourceNotFoundException", "NotFoundException", "NoSuchHealthCheck", "NotFound"}
)


@dataclass(frozen=True)
class Overdue:
    """A resource whose ``chaoskit:expires-at`` has passed."""

    kind: str
    arn: str
    expires_at: str
    run_id: str | None

    def as_dict(self) -> dict[str, Any]:
        """Return the finding as JSON-safe data."""
        return {
            "kind": self.kind,
            "arn": self.arn,
            EXPIRES_TAG: self.expires_at,
            RUN_TAG: self.run_id,
        }


def overdue_of(
    kind: str, arn: str, tags: Mapping[str, str], now: float | None = None
) -> Overdue | None:
    """Return an :class:`Overdue` when the tags carry a passed deadline, else ``None``.

    A deadline that is not a time chaoskit writes counts as passed: nobody can
    tell when the change was meant to end.
    """
    value = tags.get(EXPIRES_TAG)
    if value is None:
        return None
    when = parse_iso(str(value))
    if when is not None and when > (time.time() if now is None else now):
        return None
    return Overdue(kind, arn, str(value), tags.get(RUN_TAG))


def _pages(service: Any, operation: str, key: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
    for page in service.get_paginator(operation).paginate(**kwargs):
        yield from page.get(key) or []


def _candidates(configuration: Mapping[str, Any] | None) -> Iterator[tuple[str, str]]:
    lam = client("lambda", configuration)
    for fn in _pages(lam, "list_functions", "Functions"):
        yield "lambda", str(fn["FunctionArn"])
    for m in _pages(lam, "list_event_source_mappings", "EventSourceMappings"):
        arn = m.get("EventSourceMappingArn") or ":".join(
            [*str(m["FunctionArn"]).split(":")[:5], "event-source-mapping", str(m["UUID"])]
        )
        yield "lambda", str(arn)
    ddb = client("dynamodb", configuration)
    for name in _pages(ddb, "list_tables", "TableNames"):
        try:
            yield "dynamodb", str(ddb.describe_table(TableName=name)["Table"]["TableArn"])
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") not in _GONE:
                raise
    apig = client("apigateway", configuration)
    region = apig.meta.region_name
    for api in _pages(apig, "get_rest_apis", "items"):
        for stage in apig.get_stages(restApiId=api["id"]).get("item") or []:
            name = stage["stageName"]
            yield "apigateway", f"arn:aws:apigateway:{region}::/restapis/{api['id']}/stages/{name}"
    r53 = client("route53", configuration)
    for check in _pages(r53, "list_health_checks", "HealthChecks"):
        yield "route53", health_check_arn(str(check["Id"]))


def find_overdue(
    configuration: Mapping[str, Any] | None = None, now: float | None = None
) -> list[Overdue]:
    """Return every resource of a tagged kind on the target whose deadline has passed.

    Raises:
        AWSActionFailed: a list or tag read failed (access denied, unreachable...):
            the target could not be read, so nothing can be said about it.
    """
    found = []
    try:
        for kind, arn in _candidates(configuration):
            try:
                tags = read_all(kind, arn, configuration)
            except AWSActionFailed as err:  # a resource deleted since it was listed
                if err.code in _GONE:
                    continue
                raise
            hit = overdue_of(kind, arn, tags, now)
            if hit is not None:
                found.append(hit)
    except (ClientError, BotoCoreError) as err:
        raise aws_failure("list", "the target's resources", err) from err
    return found


def journaled(hit: Overdue) -> bool:
    """Tell whether a local journal holds a change not yet restored that tagged this resource."""
    from chaoskit.undo import store
    from chaoskit.undo.restore import expiry_tags_of

    for run_id in store.run_ids():
        for change in store.unrestored(run_id):
            if any((t["kind"], t["arn"]) == (hit.kind, hit.arn) for t in expiry_tags_of(change)):
                return True
    return False


def scan_targets(
    targets: Sequence[Mapping[str, Any]], now: float | None = None
) -> list[dict[str, Any]]:
    """Read each target (once) for overdue resources; return one row per finding.

    Rows: ``{"status": "overdue", "target", "journaled", **Overdue.as_dict()}``
    or ``{"status": "unreadable", "target", "error"}``.
    """
    from chaoskit.undo.target import describe, resolved_target

    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for wanted in targets:
        where = {k: v for k, v in resolved_target(wanted).items() if v is not None}
        key = repr(sorted(where.items()))
        if key in seen:
            continue
        seen.add(key)
        label = describe(where)
        try:
            hits = find_overdue(where, now)
        except AWSActionFailed as err:
            rows.append({"status": "unreadable", "target": label, "error": str(err)})
            continue
        for hit in hits:
            rows.append(
                {"status": "overdue", "target": label, "journaled": journaled(hit), **hit.as_dict()}
            )
    return rows
