"""The event-loss audit: one set of rules on templates (before deploy) and stacks (after).

```python
from chaoskit.audit import audit_templates, audit_stack

result = audit_templates(["template.yaml"])      # no AWS call
for f in result.findings:
    print(f.severity, f.rule, f.resource, f.evidence, f.fix)
```

Rules are listed in ``RULES`` (id -> :class:`RuleInfo`); see ``docs/audit.md``.
"""

from chaoskit.audit.engine import AuditResult, audit_stack, audit_templates, audit_topology
from chaoskit.audit.findings import RULES, SEVERITIES, Finding, RuleInfo
from chaoskit.audit.suppress import Suppression

__all__ = [
    "RULES",
    "SEVERITIES",
    "AuditResult",
    "Finding",
    "RuleInfo",
    "Suppression",
    "audit_stack",
    "audit_templates",
    "audit_topology",
]
