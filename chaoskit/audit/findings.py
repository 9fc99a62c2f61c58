"""Findings, severities and the registry of audit rules."""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from chaoskit.topology.model import Element, Location, Topology

__all__ = [
    "RULES",
    "SEVERITIES",
    "Finding",
    "RuleInfo",
    "resource_key",
    "rule",
]

SEVERITIES = ("low", "medium", "high", "critical")


@dataclass(frozen=True)
class RuleInfo:
    """An audit rule: its id, what it checks, how bad a finding is."""

    id: str
    title: str
    severity: str
    check: Callable[[Topology], Iterator["Finding"]] = field(repr=False, compare=False)


@dataclass
class Finding:
    """One way the application can lose events.

    ``resource`` is how the user finds the element: its ARN for a deployed
    stack, its logical ID for a template. ``key`` is the resource written in
    the template (``Function/Event`` for an element SAM generates from a
    function's event).
    """

    rule: str
    severity: str
    resource: str
    key: str
    evidence: dict[str, Any]
    why: str
    fix: str
    location: Location | None = None
    source: str = ""

    def as_dict(self) -> dict[str, Any]:
        """Return the finding as JSON-safe data."""
        out: dict[str, Any] = {
            "rule": self.rule,
            "severity": self.severity,
            "resource": self.resource,
            "key": self.key,
            "evidence": self.evidence,
            "why": self.why,
            "fix": self.fix,
            "source": self.source,
        }
        if self.location is not None:
            out["location"] = {"file": self.location.file, "line": self.location.line}
        return out


RULES: dict[str, RuleInfo] = {}


def rule(
    rule_id: str, title: str, severity: str
) -> Callable[[Callable[[Topology], Iterator[Finding]]], Callable[[Topology], Iterator[Finding]]]:
    """Register an audit rule (a generator of findings over a topology)."""

    def register(
        check: Callable[[Topology], Iterator[Finding]],
    ) -> Callable[[Topology], Iterator[Finding]]:
        RULES[rule_id] = RuleInfo(rule_id, title, severity, check)
        return check

    return register


def resource_key(el: Element) -> str:
    """Return the template-level name of an element (``Function/Event`` for SAM events)."""
    if el.logical_id == el.source_id:
        return el.logical_id
    if el.logical_id.startswith(el.source_id):
        rest = el.logical_id[len(el.source_id) :].lstrip(".")
        return f"{el.source_id}/{rest}"
    return el.logical_id


def finding(
    rule_id: str,
    el: Element,
    evidence: dict[str, Any],
    why: str,
    fix: str,
    prop: str | None = None,
    location: Location | None = None,
    severity: str | None = None,
) -> Finding:
    """Build a finding about ``el``, located at ``prop`` when its line is known."""
    where = location or el.location
    if location is None and where is not None and prop and prop in el.lines:
        where = Location(where.file, el.lines[prop])
    return Finding(
        rule=rule_id,
        severity=severity or RULES[rule_id].severity,
        resource=el.name,
        key=resource_key(el),
        evidence=evidence,
        why=why,
        fix=fix,
        location=where,
    )
