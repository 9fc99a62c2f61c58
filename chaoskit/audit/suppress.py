"""Suppressions written in the template, per resource, each with a reason.

```yaml
Resources:
  AuditQueue:
    Type: AWS::SQS::Queue
    Metadata:
      chaoskit:
        suppress:
          - rule: sqs-no-redrive-policy
            reason: messages are replayed from the source table
```

A suppression names a rule id; the reason is required (an empty or missing
reason is bad input, exit 2). A suppression on a SAM function also covers
what SAM generates from it (its event source mappings, alias, rules).
"""

from collections.abc import Iterable
from dataclasses import dataclass

from chaoskit.audit.findings import RULES, Finding
from chaoskit.topology.exceptions import TemplateError
from chaoskit.topology.model import Topology

__all__ = ["Suppression", "apply_suppressions", "suppressions_of"]


@dataclass(frozen=True)
class Suppression:
    """One rule silenced on one resource, and why."""

    resource: str
    rule: str
    reason: str


def suppressions_of(topo: Topology) -> list[Suppression]:
    """Read and validate every suppression of a topology's resources.

    Raises:
        TemplateError: a suppression without a reason, or naming no known rule.
    """
    out = []
    for lid, meta in topo.source_metadata.items():
        block = meta.get("chaoskit")
        if block is None:
            continue
        entries = block.get("suppress") if isinstance(block, dict) else None
        if not isinstance(entries, list):
            raise TemplateError(
                f"{topo.source}: resource '{lid}' Metadata.chaoskit must have a 'suppress' list"
            )
        for i, entry in enumerate(entries):
            where = f"{topo.source}: resource '{lid}' Metadata.chaoskit.suppress[{i}]"
            if not isinstance(entry, dict) or not isinstance(entry.get("rule"), str):
                raise TemplateError(f"{where}: expected a mapping with 'rule' and 'reason'")
            if entry["rule"] not in RULES:
                raise TemplateError(
                    f"{where}: unknown rule '{entry['rule']}': expected one of "
                    f"{', '.join(sorted(RULES))}"
                )
            reason = entry.get("reason")
            if not isinstance(reason, str) or not reason.strip():
                raise TemplateError(f"{where}: a suppression needs a non-empty 'reason'")
            out.append(Suppression(lid, entry["rule"], reason.strip()))
    return out


def apply_suppressions(
    findings: Iterable[Finding], suppressions: Iterable[Suppression]
) -> tuple[list[Finding], list[tuple[Finding, Suppression]]]:
    """Split findings into those that stand and those a suppression silences."""
    by_key = {(s.resource, s.rule): s for s in suppressions}
    kept, silenced = [], []
    for f in findings:
        source = f.key.split("/", 1)[0]
        s = by_key.get((source, f.rule))
        if s is None:
            kept.append(f)
        else:
            silenced.append((f, s))
    return kept, silenced
