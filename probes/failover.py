"""Route 53 failover: health check status, the DNS answer, and "secondary during, primary after".

``get_dns_answer`` asks Route 53 what it answers for a record right now
(``TestDNSAnswer``, on AWS and on the sandbox) and names the failover role
(``primary``/``secondary``) of the record set whose values it returned. Each
answer is also kept as a sample of the run (``$CHAOSKIT_HOME/failover/<run
id>.jsonl``), so that ``is_failover_observed`` can judge the whole run at
the end: at least one answer inside the fault window (from the undo journal)
was the secondary, the last one inside it was the secondary, and the last
answer after it was the primary again. Call ``get_dns_answer`` in the method
while the fault is on (``wait_for_dns_role`` waits for the switch instead of
a pause), then once more after the rollback.
"""

import json
import time
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError
from chaoslib.types import Configuration, Secrets

from chaoskit import aws
from chaoskit.errors import BadInput, FaultNotObserved, aws_failure
from chaoskit.run_context import current_run_id
from chaoskit.runs import home
from probes._window import fault_window, in_window

__all__ = [
    "get_dns_answer",
    "get_failover_samples",
    "get_health_check_status",
    "is_failover_observed",
    "is_health_check_healthy",
    "wait_for_dns_role",
]

# Injected in tests: waits never really sleep there.
_clock = time.time
_sleep = time.sleep


def get_health_check_status(
    health_check_id: str, configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """Return a Route 53 health check's status as its checkers report it.

    Args:
        health_check_id: the health check id.

    Returns:
        ``{"healthy": bool, "checkers": n, "failing": n, "reports": [status text]}``;
        healthy when more than half of the checkers report success.
    """
    r53 = aws.client("route53", configuration)
    try:
        out = r53.get_health_check_status(HealthCheckId=health_check_id)
    except ClientError as err:
        raise aws_failure("route53:GetHealthCheckStatus", health_check_id, err) from err
    reports = [
        str(o.get("StatusReport", {}).get("Status", "")) for o in out["HealthCheckObservations"]
    ]
    failing = sum(1 for r in reports if not r.startswith("Success"))
    return {
        "healthy": bool(reports) and failing * 2 < len(reports),
        "checkers": len(reports),
        "failing": failing,
        "reports": reports,
    }


def is_health_check_healthy(
    health_check_id: str, configuration: Configuration = None, secrets: Secrets = None
) -> bool:
    """Tell whether a Route 53 health check is healthy (most checkers report success).

    Args:
        health_check_id: the health check id.
    """
    return bool(get_health_check_status(health_check_id, configuration)["healthy"])


def _zone_id(zone: str, configuration: Configuration) -> str:
    if zone.startswith("/hostedzone/"):
        return zone.rsplit("/", 1)[-1]
    if "." not in zone.rstrip("."):
        return zone  # already an id
    r53 = aws.client("route53", configuration)
    name = zone.rstrip(".") + "."
    try:
        zones = r53.list_hosted_zones_by_name(DNSName=name)["HostedZones"]
    except ClientError as err:
        raise aws_failure("route53:ListHostedZonesByName", zone, err) from err
    for found in zones:
        if found["Name"] == name:
            return str(found["Id"]).rsplit("/", 1)[-1]
    raise BadInput(f"no hosted zone named '{zone}'")


def _roles(zone_id: str, record: str, rtype: str, configuration: Configuration) -> dict[str, str]:
    """Return ``{value: role}`` of the failover record sets of ``record``."""
    name = record.rstrip(".") + "."
    r53 = aws.client("route53", configuration)
    try:
        sets = r53.list_resource_record_sets(
            HostedZoneId=zone_id, StartRecordName=name, StartRecordType=rtype
        )["ResourceRecordSets"]
    except ClientError as err:
        raise aws_failure("route53:ListResourceRecordSets", record, err) from err
    roles = {}
    for rs in sets:
        if rs["Name"] != name or rs["Type"] != rtype or "Failover" not in rs:
            continue
        values = [v["Value"] for v in rs.get("ResourceRecords", [])]
        if "AliasTarget" in rs:
            values.append(rs["AliasTarget"]["DNSName"].rstrip("."))
        for value in values:
            roles[value] = str(rs["Failover"]).lower()
    return roles


def role_of(answer: list[str], roles: dict[str, str]) -> str | None:
    """Return the failover role whose values the answer holds (``None`` if none or mixed)."""
    found = {roles.get(value.rstrip(".")) or roles.get(value) for value in answer}
    return found.pop() if len(found) == 1 and None not in found else None


def _samples_path(run_id: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in run_id)
    return home() / "failover" / f"{safe}.jsonl"


def get_dns_answer(
    zone: str,
    record_name: str,
    record_type: str = "A",
    run_id: str | None = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Ask Route 53 what it answers for a record now, and which failover role that is.

    The answer is also kept as a sample of the run for ``is_failover_observed``.

    Args:
        zone: hosted zone name (``orders.example.test``) or id.
        record_name: the record, e.g. ``api.orders.example.test``.
        record_type: the record type (default A).
        run_id: the run the sample belongs to (default: the current run).

    Returns:
        ``{"t", "record", "answer": [values], "code", "role": "primary" | "secondary" | null}``.
    """
    zone_id = _zone_id(zone, configuration)
    r53 = aws.client("route53", configuration)
    try:
        out = r53.test_dns_answer(
            HostedZoneId=zone_id, RecordName=record_name, RecordType=record_type
        )
    except ClientError as err:
        raise aws_failure("route53:TestDNSAnswer", record_name, err) from err
    answer = [str(v) for v in out.get("RecordData", [])]
    sample = {
        "t": _clock(),
        "record": record_name,
        "answer": answer,
        "code": out.get("ResponseCode"),
        "role": role_of(answer, _roles(zone_id, record_name, record_type, configuration)),
    }
    path = _samples_path(run_id or current_run_id(configuration))
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(sample, sort_keys=True) + "\n")
    return sample


def wait_for_dns_role(
    zone: str,
    record_name: str,
    role: str,
    timeout: float = 120,
    poll_interval: float = 5,
    record_type: str = "A",
    require: bool = True,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Poll the DNS answer until it is the given failover role, or the timeout.

    Args:
        zone: hosted zone name or id.
        record_name: the record.
        role: ``primary`` or ``secondary``.
        timeout: the most seconds to wait.
        poll_interval: seconds between answers.
        record_type: the record type (default A).
        require: fail the step when the role is not reached (default); with
            ``False``, return ``reached: false`` instead.

    Returns:
        The last answer (see ``get_dns_answer``) plus ``reached`` (bool).

    Raises:
        FaultNotObserved: ``require`` is set and the record never answered ``role``.
    """
    if role not in ("primary", "secondary"):
        raise BadInput(f"unknown failover role '{role}': expected primary or secondary")
    start = _clock()
    while True:
        sample = get_dns_answer(zone, record_name, record_type, configuration=configuration)
        waited = _clock() - start
        if sample["role"] == role or waited >= timeout:
            reached = sample["role"] == role
            if require and not reached:
                raise FaultNotObserved(
                    f"'{record_name}' still answers {sample['role'] or 'no failover role'} after "
                    f"{timeout:g} s, not {role}: the failover did not happen"
                )
            return {**sample, "reached": reached}
        _sleep(max(0.0, min(poll_interval, timeout - waited)))


def get_failover_samples(
    record_name: str | None = None,
    run_id: str | None = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> list[dict[str, Any]]:
    """Return the DNS answers sampled during the run, oldest first.

    Args:
        record_name: only this record (default: every record).
        run_id: the run (default: the current run).
    """
    path = _samples_path(run_id or current_run_id(configuration))
    if not path.exists():
        return []
    samples = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return sorted(
        (s for s in samples if record_name is None or s.get("record") == record_name),
        key=lambda s: float(s["t"]),
    )


def judge_failover(
    samples: list[dict[str, Any]], start: float | None, end: float | None
) -> dict[str, Any]:
    """Judge samples against a fault window: secondary during the fault, primary after."""
    during = [s for s in samples if in_window(float(s["t"]), start, end)]
    after = [s for s in samples if end is not None and float(s["t"]) > end]
    secondary_during = bool(during) and any(s["role"] == "secondary" for s in during)
    still_secondary = bool(during) and during[-1]["role"] == "secondary"
    primary_after = bool(after) and after[-1]["role"] == "primary"
    return {
        "samples_during": len(during),
        "samples_after": len(after),
        "secondary_during_fault": secondary_during and still_secondary,
        "primary_after": primary_after,
        "observed": secondary_during and still_secondary and primary_after,
    }


def is_failover_observed(
    record_name: str,
    run_id: str | None = None,
    start: float | None = None,
    end: float | None = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> bool:
    """Tell whether the record answered secondary during the fault and primary after it.

    Judged from the DNS answers sampled during the run by ``get_dns_answer``.
    The fault window comes from the run's undo journal unless ``start`` and
    ``end`` (epoch seconds) are given; with no window, or no answer sampled
    after the fault, the answer is false.

    Args:
        record_name: the record, e.g. ``api.orders.example.test``.
        run_id: the run (default: the current run).
        start: fault start, epoch seconds.
        end: fault end, epoch seconds.
    """
    run = run_id or current_run_id(configuration)
    if start is None and end is None:
        window = fault_window(run)
        if window is None:
            return False
        start, end = window
    samples = get_failover_samples(record_name, run, configuration)
    return bool(judge_failover(samples, start, end)["observed"])
