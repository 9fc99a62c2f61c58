"""Render audit results as a table, JSON or SARIF 2.1.0 (with file and line for templates)."""

import os
from pathlib import Path
from typing import Any

from chaoskit import __version__
from chaoskit.audit.engine import AuditResult
from chaoskit.audit.findings import RULES, SEVERITIES, Finding

__all__ = ["SARIF_LEVEL", "render_sarif", "render_table", "sarif_log"]

#: SARIF result level of each severity.
SARIF_LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note"}
_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_DOCS = "docs/audit.md"


def render_table(result: AuditResult) -> str:
    """Return the findings as plain text, one block per finding."""
    lines = []
    for f in result.findings:
        where = f" ({_where(f)})" if f.location and f.location.line else ""
        lines.append(f"{f.severity.upper():<8} {f.rule:<34} {f.resource}{where}")
        lines.append(f"         evidence: {f.evidence}")
        lines.append(f"         why: {f.why}")
        lines.append("         fix:")
        lines.extend(f"           {line}" for line in f.fix.splitlines())
    if not result.findings:
        lines.append("no findings: nothing here is known to lose events")
    else:
        counts = {s: sum(f.severity == s for f in result.findings) for s in reversed(SEVERITIES)}
        lines.append(", ".join(f"{n} {s}" for s, n in counts.items() if n))
    if result.suppressed:
        lines.append(f"{len(result.suppressed)} suppressed:")
        lines.extend(f"  {f.rule} on {f.resource}: {s.reason}" for f, s in result.suppressed)
    return "\n".join(lines)


def _where(f: Finding) -> str:
    assert f.location is not None
    return f"{f.location.file}:{f.location.line}"


def _uri(file: str, base: Path) -> str:
    path = Path(file)
    try:
        return path.resolve().relative_to(base).as_posix()
    except ValueError:
        return path.resolve().as_uri()


def _location(f: Finding, base: Path) -> dict[str, Any]:
    logical = {"name": f.key, "fullyQualifiedName": f.resource, "kind": "resource"}
    out: dict[str, Any] = {"logicalLocations": [logical]}
    if f.location is not None and f.location.file:
        physical: dict[str, Any] = {"artifactLocation": {"uri": _uri(f.location.file, base)}}
        if f.location.line:
            physical["region"] = {"startLine": f.location.line}
        out["physicalLocation"] = physical
    return out


def render_sarif(result: AuditResult, base: str | Path | None = None) -> dict[str, Any]:
    """Return a SARIF 2.1.0 log: one rule per audit rule, locations relative to ``base``.

    Args:
        result: the audit result.
        base: the folder artifact URIs are relative to (default: the current
            folder, which is the repository root in CI code scanning).
    """
    root = Path(base or os.getcwd()).resolve()
    ids = list(RULES)
    rules = [
        {
            "id": rule_id,
            "name": rule_id,
            "shortDescription": {"text": RULES[rule_id].title},
            "fullDescription": {
                "text": (RULES[rule_id].check.__doc__ or RULES[rule_id].title).strip()
            },
            "helpUri": f"{_DOCS}#{rule_id}",
            "defaultConfiguration": {"level": SARIF_LEVEL[RULES[rule_id].severity]},
            "properties": {"severity": RULES[rule_id].severity},
        }
        for rule_id in ids
    ]
    results = [
        {
            "ruleId": f.rule,
            "ruleIndex": ids.index(f.rule),
            "level": SARIF_LEVEL[f.severity],
            "message": {"text": f"{f.resource}: {f.why}. Evidence: {f.evidence}. Fix:\n{f.fix}"},
            "locations": [_location(f, root)],
            "properties": {"severity": f.severity, "evidence": f.evidence},
        }
        for f in result.findings
    ]
    results.extend(
        {
            "ruleId": f.rule,
            "ruleIndex": ids.index(f.rule),
            "level": SARIF_LEVEL[f.severity],
            "message": {"text": f"{f.resource}: {f.why}"},
            "locations": [_location(f, root)],
            "suppressions": [{"kind": "inSource", "justification": s.reason}],
        }
        for f, s in result.suppressed
    )
    return sarif_log(rules, results)


def sarif_log(rules: list[dict[str, Any]], results: list[dict[str, Any]]) -> dict[str, Any]:
    """Return a SARIF 2.1.0 log of one chaoskit run with these rules and results."""
    return {
        "$schema": _SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "chaoskit",
                        "version": __version__,
                        "rules": rules,
                    }
                },
                "results": results,
            }
        ],
    }
