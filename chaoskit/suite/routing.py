"""Experiments on routing: a canary per weighted alias, failover per Route 53 failover pair."""

from typing import TYPE_CHECKING, Any

from chaoskit.suite import activities as act
from chaoskit.suite.entries import ref
from chaoskit.topology import FailoverRecord, Topology

if TYPE_CHECKING:
    from chaoskit.suite.plan import Suite

__all__ = ["plan_canaries", "plan_failovers"]


def _version_ref(text: str) -> str | None:
    """Return how an experiment names a weighted version, or None when it is not known."""
    if text.isdigit():
        return text
    if text and text[0].isalpha() and text.replace("_", "").isalnum():
        return ref(text)  # a version resource of the stack (AWS::Lambda::Version)
    return None


def plan_canaries(topo: Topology, suite: "Suite") -> None:
    """Add a canary experiment for each alias that routes a weight to a second version."""
    from chaoskit.suite.plan import FAULT_DURATION, Planned, _experiment, _slug

    for alias in topo.aliases.values():
        fn = topo.function_of(alias.function)
        label = f"alias {alias.logical_id} ({alias.alias_name or '?'})"
        if fn is None:
            suite.uncovered.append(f"{label}: its function is not in the stack")
            continue
        if not alias.routing_weights:
            if alias.deployment_type:
                suite.uncovered.append(
                    f"{label}: a {alias.deployment_type} deployment shifts traffic only while "
                    "one runs; no second version to weight now"
                )
            continue
        version_text = next(iter(alias.routing_weights))
        version = _version_ref(version_text)
        if version is None:
            suite.uncovered.append(f"{label}: weighted version '{version_text}' not understood")
            continue
        suite.found.append(f"{label}: weights {alias.routing_weights}")
        f = ref(fn.logical_id)
        qualified = f"{ref(alias.logical_id)}"
        method: list[dict[str, Any]] = [
            act.enable_layer(f),
            act.action(
                "shift-half-the-traffic-to-the-candidate",
                "chaoskit.faults.canary",
                "shift_alias_traffic",
                function_name=f,
                alias=ref(alias.logical_id),
                version=version,
                weight=0.5,
            ),
            act.action(
                "the-candidate-fails",
                "chaoskit.faults.inject",
                "inject_exception",
                function_name=f,
                rate=1.0,
                match={"qualifier": version if version.isdigit() else "${candidate_version}"},
                duration=FAULT_DURATION,
            ),
            {
                **act.send(
                    "send-events-to-the-alias",
                    {"target_type": "lambda", "target": qualified, "invocation_type": "Event"},
                ),
                "pauses": {"after": 10},
            },
            act.clear_faults(f),
            act.action(
                "restore-the-alias",
                "chaoskit.faults.canary",
                "restore_alias_traffic",
                function_name=f,
                alias=ref(alias.logical_id),
            ),
            act.wait_settled([], [], retry_grace="${retry_grace}"),
        ]
        experiment = _experiment(
            f"A failing canary behind {alias.alias_name or alias.logical_id} loses no event",
            f"Half of {label}'s traffic goes to the candidate version, which fails every "
            "invocation. Asynchronous retries (and the function's destination, if any) must "
            "keep every event; the alias is restored after.",
            ["canary", "alias"],
            method,
            suite.stack,
        )
        experiment["configuration"]["retry_grace"] = 200  # AWS's async retries, minutes apart
        if not version.isdigit():
            experiment["configuration"]["candidate_version"] = "2"
        suite.experiments.append(
            Planned(
                _slug("canary", alias.logical_id),
                "canary",
                experiment,
                f"a failing candidate behind {label} does not lose events",
            )
        )


def _zone(record: FailoverRecord) -> str | None:
    props = record.properties or {}
    for key in ("HostedZoneName", "HostedZoneId"):
        value = props.get(key)
        if isinstance(value, str):
            return value.rstrip(".") if key == "HostedZoneName" else value
        if isinstance(value, dict) and isinstance(value.get("Ref"), str):
            return ref(value["Ref"])
    return None


def plan_failovers(topo: Topology, suite: "Suite") -> None:
    """Add a failover experiment for each PRIMARY/SECONDARY pair with a health check."""
    from chaoskit.suite.plan import Planned, _experiment, _slug

    pairs: dict[tuple[str, str], dict[str, FailoverRecord]] = {}
    for record in topo.failover_records.values():
        key = (record.record_name, record.record_type)
        pairs.setdefault(key, {})[record.failover.upper()] = record
    for (name, rtype), roles in pairs.items():
        primary, secondary = roles.get("PRIMARY"), roles.get("SECONDARY")
        label = f"failover record {name} ({rtype})"
        if primary is None or secondary is None:
            suite.uncovered.append(f"{label}: no PRIMARY/SECONDARY pair")
            continue
        check = primary.health_check.logical_id if primary.health_check else None
        zone = _zone(primary)
        if check is None or zone is None:
            why = "its primary has no health check of the stack" if check is None else "no zone"
            suite.uncovered.append(f"{label}: {why}")
            continue
        suite.found.append(f"{label}: primary health check {check}")
        dns = {"zone": zone, "record_name": name.rstrip("."), "record_type": rtype}
        method = [
            act.action(
                "fail-the-primary-health-check",
                "chaoskit.faults.route53",
                "fail_health_check",
                health_check_id=ref(check),
                mode="invert",
            ),
            act.probe(
                "dns-answers-the-secondary",
                "probes.failover",
                "wait_for_dns_role",
                role="secondary",
                timeout=90,
                poll_interval=1,
                **dns,
            ),
            act.action(
                "restore-the-primary-health-check",
                "chaoskit.faults.route53",
                "restore_health_check",
                health_check_id=ref(check),
            ),
            act.probe(
                "dns-answers-the-primary-again",
                "probes.failover",
                "wait_for_dns_role",
                role="primary",
                timeout=90,
                poll_interval=1,
                **dns,
            ),
        ]
        suite.experiments.append(
            Planned(
                _slug("failover", name),
                "failover",
                _experiment(
                    f"{name} fails over to the secondary and back",
                    f"The primary's health check {check} is failed (inverted): DNS must answer "
                    "the secondary, then the primary again once restored. No events are sent: "
                    "the ledger hypothesis only proves nothing was left in flight.",
                    ["failover", "route53"],
                    method,
                    suite.stack,
                ),
                f"{name} answers the secondary while the primary is unhealthy, then the primary",
            )
        )
