"""The audit as cfn-lint rules, for teams that already run cfn-lint.

    cfn-lint -a chaoskit.audit.cfnlint template.yaml

``-a`` (``--append-rules``) takes this module's import path. Two rules carry
every audit finding: ``E9160`` for high and critical findings, ``W9160`` for
medium and low ones; each message starts with the audit rule id, which is
what ``--ignore-checks``-style suppressions cannot see, so suppress with the
template ``Metadata.chaoskit.suppress`` entries instead.
"""

from functools import lru_cache
from typing import Any

from cfnlint.rules import CloudFormationLintRule, RuleMatch

from chaoskit.audit.engine import audit_templates
from chaoskit.audit.findings import Finding
from chaoskit.errors import ChaosKitError

__all__ = ["EventLossError", "EventLossWarning"]

_SERIOUS = ("high", "critical")


@lru_cache(maxsize=32)
def _findings(filename: str) -> tuple[Finding, ...]:
    return tuple(audit_templates([filename]).findings)


def _path(f: Finding, template: Any) -> list[str | int]:
    """Point at the resource, or at the SAM event that generated the element."""
    source, _, event = f.key.partition("/")
    path: list[str | int] = ["Resources", source]
    resource = (template.get("Resources") or {}).get(source) if isinstance(template, dict) else None
    events = ((resource or {}).get("Properties") or {}).get("Events") if resource else None
    if event and isinstance(events, dict) and event in events:
        path += ["Properties", "Events", event]
    return path


class _Audit(CloudFormationLintRule):
    source_url = "docs/audit.md"
    tags = ["chaoskit", "event-loss"]
    severities: tuple[str, ...] = ()

    def match(self, cfn: Any) -> list[RuleMatch]:
        """Return the audit findings of this template at the rule's severities."""
        filename = getattr(cfn, "filename", None)
        if not filename or filename == "-":
            return []
        try:
            found = _findings(str(filename))
        except ChaosKitError as err:
            return [RuleMatch(["Resources"], f"chaoskit audit could not run: {err}")]
        return [
            RuleMatch(
                _path(f, getattr(cfn, "template", None)),
                f"[{f.rule}] {f.key}: {f.why} (evidence: {f.evidence})",
            )
            for f in found
            if f.severity in self.severities
        ]


class EventLossError(_Audit):
    """High and critical event-loss hazards found by the chaoskit audit."""

    id = "E9160"
    shortdesc = "chaoskit: event-loss hazard (high, critical)"
    description = "Configuration that loses events under failure (chaoskit audit, docs/audit.md)"
    severities = _SERIOUS


class EventLossWarning(_Audit):
    """Medium and low event-loss hazards found by the chaoskit audit."""

    id = "W9160"
    shortdesc = "chaoskit: event-loss hazard (medium, low)"
    description = "Configuration that may lose events under failure (chaoskit audit, docs/audit.md)"
    severities = ("low", "medium")
