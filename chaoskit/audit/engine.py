"""Run the audit rules on topologies: templates before deploy, stacks after."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaoskit.audit import rules_code, rules_expiry, rules_lambda, rules_queues, rules_routing
from chaoskit.audit.findings import RULES, SEVERITIES, Finding
from chaoskit.audit.suppress import Suppression, apply_suppressions, suppressions_of
from chaoskit.errors import BadInput
from chaoskit.topology import Topology, from_stack, load_templates

__all__ = ["AuditResult", "audit_stack", "audit_templates", "audit_topology"]

# the rule modules register themselves on import
_MODULES = (rules_code, rules_expiry, rules_lambda, rules_queues, rules_routing)


@dataclass
class AuditResult:
    """Findings that stand, findings silenced by a suppression, what was read."""

    findings: list[Finding] = field(default_factory=list)
    suppressed: list[tuple[Finding, Suppression]] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)

    def extend(self, other: "AuditResult") -> None:
        """Add another result (one per template) to this one."""
        self.findings.extend(other.findings)
        self.suppressed.extend(other.suppressed)
        self.sources.extend(other.sources)

    def as_dict(self) -> dict[str, Any]:
        """Return the result as JSON-safe data."""
        return {
            "sources": self.sources,
            "findings": [f.as_dict() for f in self.findings],
            "suppressed": [{**f.as_dict(), "reason": s.reason} for f, s in self.suppressed],
        }


def _chosen(rules: Sequence[str] | None) -> list[str]:
    chosen = list(rules or RULES)
    unknown = [r for r in chosen if r not in RULES]
    if unknown:
        raise BadInput(f"unknown audit rule '{unknown[0]}': expected one of {', '.join(RULES)}")
    return chosen


def audit_topology(
    topo: Topology, rules: Sequence[str] | None = None, min_severity: str = "low"
) -> AuditResult:
    """Run the rules on one topology; return findings worst first, suppressions applied.

    Args:
        topo: the topology (from a template or a deployed stack).
        rules: rule ids to run (default: all).
        min_severity: leave out findings below this severity.

    Raises:
        BadInput: an unknown rule or severity, or a suppression without a reason.
    """
    if min_severity not in SEVERITIES:
        raise BadInput(
            f"unknown severity '{min_severity}': expected one of {', '.join(SEVERITIES)}"
        )
    floor = SEVERITIES.index(min_severity)
    found: list[Finding] = []
    for rule_id in _chosen(rules):
        for f in RULES[rule_id].check(topo):
            f.source = topo.source
            if SEVERITIES.index(f.severity) >= floor:
                found.append(f)
    found.sort(key=lambda f: (-SEVERITIES.index(f.severity), f.rule, f.key))
    kept, silenced = apply_suppressions(found, suppressions_of(topo))
    return AuditResult(kept, silenced, [topo.source])


def audit_templates(
    paths: Iterable[str | Path],
    rules: Sequence[str] | None = None,
    min_severity: str = "low",
    parameters: dict[str, Any] | None = None,
) -> AuditResult:
    """Audit templates (SAM/CloudFormation files, ``cdk.out`` folders) without any AWS call."""
    result = AuditResult()
    for path in paths:
        for topo in load_templates(path, parameters):
            result.extend(audit_topology(topo, rules, min_severity))
    return result


def audit_stack(
    stack_name: str,
    configuration: dict[str, Any] | None = None,
    rules: Sequence[str] | None = None,
    min_severity: str = "low",
) -> AuditResult:
    """Audit a deployed stack: the same rules, on live values, resources named by ARN."""
    return audit_topology(from_stack(stack_name, configuration), rules, min_severity)
