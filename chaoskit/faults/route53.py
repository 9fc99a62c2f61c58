"""Route 53: fail a health check on purpose, and restore its flags exactly.

Failover routing answers the primary record while its health check is
healthy and the secondary otherwise. Inverting the check makes a healthy
endpoint report unhealthy, so traffic fails over without touching the
endpoint. ``mode="force"`` also disables the check: Route 53 then treats a
disabled, inverted check as unhealthy whatever the endpoint does. The
restore puts ``Inverted`` and ``Disabled`` back as they were.
"""

from collections.abc import Mapping
from typing import Any

from chaoslib.types import Configuration, Secrets

from chaoskit.aws import client
from chaoskit.errors import AWSActionFailed, BadInput, expect_state
from chaoskit.functions.select import aws_call
from chaoskit.run_context import current_run_id
from chaoskit.undo import expiry, guard, mutation, rollback_run

__all__ = ["fail_health_check", "restore_health_check"]

ACTION = "fail_health_check"
RESTORER = "chaoskit.faults.route53:restore_health_check_snapshot"
MODES = ("invert", "force")


def _flags(health_check_id: str, configuration: Mapping[str, Any] | None) -> dict[str, bool]:
    r53 = client("route53", configuration)
    missing = f"health check '{health_check_id}' not found on the target"
    found = aws_call(
        "route53:GetHealthCheck",
        health_check_id,
        r53.get_health_check,
        missing,
        HealthCheckId=health_check_id,
    )
    config = found["HealthCheck"]["HealthCheckConfig"]
    got = {
        "inverted": bool(config.get("Inverted", False)),
        "disabled": bool(config.get("Disabled", False)),
    }
    # Two APIs return a check's flags; a target where they disagree (the sandbox once
    # did, after an update) cannot be trusted for a snapshot or a read-back.
    listed = _listed_flags(health_check_id, configuration)
    if listed is not None and listed != got:
        raise AWSActionFailed(
            "route53:GetHealthCheck",
            health_check_id,
            "InconsistentState",
            f"GetHealthCheck says {got} but ListHealthChecks says {listed}: the target "
            "reports two states for this health check, refusing to act on either",
        )
    return got


def _listed_flags(
    health_check_id: str, configuration: Mapping[str, Any] | None
) -> dict[str, bool] | None:
    r53 = client("route53", configuration)
    kwargs: dict[str, Any] = {}
    while True:
        page = aws_call(
            "route53:ListHealthChecks", health_check_id, r53.list_health_checks, **kwargs
        )
        for check in page.get("HealthChecks", []):
            if check.get("Id") == health_check_id:
                config = check.get("HealthCheckConfig") or {}
                return {
                    "inverted": bool(config.get("Inverted", False)),
                    "disabled": bool(config.get("Disabled", False)),
                }
        if not page.get("IsTruncated") or not page.get("NextMarker"):
            return None
        kwargs["Marker"] = page["NextMarker"]


def _tags(health_check_id: str, configuration: Mapping[str, Any] | None) -> dict[str, str]:
    r53 = client("route53", configuration)
    found = aws_call(
        "route53:ListTagsForResource",
        health_check_id,
        r53.list_tags_for_resource,
        ResourceType="healthcheck",
        ResourceId=health_check_id,
    )
    return {t["Key"]: t.get("Value", "") for t in found["ResourceTagSet"].get("Tags", [])}


def _set(
    health_check_id: str, wanted: Mapping[str, bool], configuration: Mapping[str, Any] | None
) -> None:
    if _flags(health_check_id, configuration) == dict(wanted):
        return
    r53 = client("route53", configuration)
    aws_call(
        "route53:UpdateHealthCheck",
        health_check_id,
        r53.update_health_check,
        HealthCheckId=health_check_id,
        Inverted=bool(wanted["inverted"]),
        Disabled=bool(wanted["disabled"]),
    )
    after = _flags(health_check_id, configuration)
    expect_state("route53:UpdateHealthCheck", health_check_id, dict(wanted), after)


def restore_health_check_snapshot(snapshot: dict[str, Any], configuration: dict[str, Any]) -> None:
    """Put a health check's Inverted and Disabled flags back (restorer)."""
    _set(
        str(snapshot["health_check_id"]),
        {"inverted": bool(snapshot["inverted"]), "disabled": bool(snapshot["disabled"])},
        configuration,
    )


def fail_health_check(
    health_check_id: str,
    mode: str = "invert",
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Make a Route 53 health check report unhealthy, so failover routing switches.

    Args:
        health_check_id: the health check's id.
        mode: ``invert`` flips ``Inverted`` (a healthy endpoint reports
            unhealthy); ``force`` sets ``Inverted`` and ``Disabled`` (always
            unhealthy, whatever the endpoint does).

    Returns:
        ``health_check_id``, ``previous`` and ``now`` (``inverted`` and
        ``disabled`` flags), ``dry_run``.
    """
    if mode not in MODES:
        raise BadInput(f"invalid mode '{mode}': expected one of {', '.join(MODES)}")
    previous = _flags(health_check_id, configuration)
    guard(health_check_id, _tags(health_check_id, configuration), configuration)
    if mode == "invert":
        wanted = {"inverted": not previous["inverted"], "disabled": False}
    else:
        wanted = {"inverted": True, "disabled": True}
    snapshot = {"health_check_id": health_check_id, **previous}
    tagged = [("route53", expiry.health_check_arn(health_check_id))]
    with mutation(
        ACTION, health_check_id, RESTORER, snapshot, configuration, tagged=tagged
    ) as change:
        if not change.dry_run:
            _set(health_check_id, wanted, configuration)
    return {
        "health_check_id": health_check_id,
        "previous": previous,
        "now": previous if change.dry_run else wanted,
        "dry_run": change.dry_run,
    }


def restore_health_check(
    health_check_id: str | None = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> list[dict[str, Any]]:
    """Restore the health checks this run failed, flags exactly as they were.

    Args:
        health_check_id: only this health check; default every one this run failed.

    Returns:
        One row per restored change; empty when nothing was left to restore.
    """
    return rollback_run(
        current_run_id(configuration), configuration, action=ACTION, resource=health_check_id
    )
