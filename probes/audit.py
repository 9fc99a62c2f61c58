"""Audit deployed configuration for the failure modes that lose events.

Seven static checks (see ``docs/probes.md``): async functions without an
on-failure destination or DLQ, SQS visibility timeouts under 6x the consumer's
timeout, queues without a redrive policy, unsafe stream mappings, SNS
subscriptions without a DLQ, reserved concurrency left at 0, and Step
Functions tasks without Retry or Catch. Each finding names the resource, the
check, the risk, the fix and a severity (low, medium, high, critical).
"""

from typing import Any

from chaoslib.types import Configuration, Secrets

from chaoskit.errors import BadInput
from probes._audit_checks import CHECKS, SEVERITIES, run_checks

__all__ = ["CHECK_IDS", "SEVERITIES", "count_findings", "get_findings"]

CHECK_IDS = tuple(CHECKS)


def _validated(checks: list[str] | None, min_severity: str) -> list[str]:
    if min_severity not in SEVERITIES:
        raise BadInput(
            f"unknown severity '{min_severity}': expected one of {', '.join(SEVERITIES)}"
        )
    chosen = list(checks or CHECK_IDS)
    unknown = [c for c in chosen if c not in CHECKS]
    if unknown:
        raise BadInput(
            f"unknown audit check '{unknown[0]}': expected one of {', '.join(CHECK_IDS)}"
        )
    return chosen


def get_findings(
    checks: list[str] | None = None,
    min_severity: str = "low",
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> list[dict[str, Any]]:
    """Audit the target's deployed configuration; return findings, worst first.

    Args:
        checks: check ids to run (default: all seven).
        min_severity: leave out findings below this severity
            (low, medium, high, critical).

    Returns:
        Findings ``{"resource", "check", "risk", "fix", "severity"}``.
    """
    chosen = _validated(checks, min_severity)
    floor = SEVERITIES.index(min_severity)
    return [
        f for f in run_checks(configuration, chosen) if SEVERITIES.index(f["severity"]) >= floor
    ]


def count_findings(
    min_severity: str = "medium",
    checks: list[str] | None = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> int:
    """Return how many audit findings are at or above a severity.

    Args:
        min_severity: the lowest severity counted (default medium).
        checks: check ids to run (default: all seven).
    """
    return len(get_findings(checks, min_severity, configuration))
