"""``chaoskit audit``: find configurations that lose events.

``--template PATH`` audits SAM/CloudFormation templates or ``cdk.out``
folders without any AWS call; ``--stack NAME`` audits a deployed stack with
the same rules; with neither, the target account's deployed resources are
audited by the account-wide checks. Prints a table (default), JSON or SARIF
2.1.0 (file and line locations for templates). Exit codes: 0 no finding at or
above ``--fail-on``, 1 at least one, 2 bad input.
"""

import json
from pathlib import Path
from typing import Any

import click

from chaoskit.audit import RULES, AuditResult, audit_stack, audit_templates
from chaoskit.audit import render as audit_render
from chaoskit.aws import TARGETS, resolve_target, target_settings
from chaoskit.inputs import check_reachable
from chaoskit.runner import parse_vars
from probes._audit_checks import CHECKS, SEVERITIES
from probes.audit import get_findings

__all__ = ["command", "render_sarif", "render_table"]


def render_table(findings: list[dict[str, Any]]) -> str:
    """Return the findings as a plain-text table, one finding per block."""
    if not findings:
        return "no findings: nothing in this deployment is known to lose events"
    lines = []
    for f in findings:
        lines.append(f"{f['severity'].upper():<8} {f['check']:<30} {f['resource']}")
        lines.append(f"         risk: {f['risk']}")
        lines.append(f"         fix:  {f['fix']}")
    counts = {s: sum(f["severity"] == s for f in findings) for s in reversed(SEVERITIES)}
    lines.append(", ".join(f"{n} {s}" for s, n in counts.items() if n))
    return "\n".join(lines)


def render_sarif(findings: list[dict[str, Any]]) -> dict[str, Any]:
    """Return the findings as a SARIF 2.1.0 log (one run, one rule per check)."""
    rules = [
        {
            "id": check,
            "name": check,
            "shortDescription": {"text": (func.__doc__ or check).strip().splitlines()[0]},
            "fullDescription": {"text": f"see docs/probes.md, audit check '{check}'"},
        }
        for check, func in CHECKS.items()
    ]
    index = {check: i for i, check in enumerate(CHECKS)}
    results = [
        {
            "ruleId": f["check"],
            "ruleIndex": index[f["check"]],
            "level": audit_render.SARIF_LEVEL[f["severity"]],
            "message": {"text": f"{f['resource']}: {f['risk']}. Fix: {f['fix']}."},
            "locations": [
                {
                    "logicalLocations": [
                        {
                            "name": f["resource"],
                            "fullyQualifiedName": f["resource"],
                            "kind": "resource",
                        }
                    ]
                }
            ],
            "properties": {"severity": f["severity"]},
        }
        for f in findings
    ]
    return audit_render.sarif_log(rules, results)


@click.command("audit")
@click.option(
    "--template",
    "templates",
    multiple=True,
    type=click.Path(exists=True),
    help="SAM/CloudFormation template or cdk.out folder (repeatable); no AWS call.",
)
@click.option("--stack", help="Audit this deployed CloudFormation stack.")
@click.option(
    "--rule", "rules", multiple=True, type=click.Choice(list(RULES)), help="Run only these rules."
)
@click.option("--target", type=click.Choice(TARGETS), help="Where AWS calls go (default sandbox).")
@click.option("--endpoint-url", help="Explicit endpoint for every AWS service.")
@click.option(
    "--var", "variables", multiple=True, metavar="KEY=VALUE", help="Configuration override."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "sarif"]),
    default="table",
    show_default=True,
    help="Output format.",
)
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write to a file.")
@click.option(
    "--check", "checks", multiple=True, type=click.Choice(list(CHECKS)), help="Run only these."
)
@click.option(
    "--fail-on",
    type=click.Choice([*SEVERITIES, "none"]),
    default="high",
    show_default=True,
    help="Exit 1 if a finding is at or above this severity.",
)
def command(
    templates: tuple[str, ...],
    stack: str | None,
    rules: tuple[str, ...],
    target: str | None,
    endpoint_url: str | None,
    variables: tuple[str, ...],
    fmt: str,
    output: str | None,
    checks: tuple[str, ...],
    fail_on: str,
) -> None:
    """Audit templates, a deployed stack or the target account for ways to lose events."""
    configuration: dict[str, Any] = {
        **parse_vars(variables),
        **target_settings(target, endpoint_url),
    }
    if (templates or stack) and checks:
        raise click.UsageError("--check applies to the account audit; use --rule")
    if templates and not stack:
        # a template audit is offline: no endpoint to reach
        result = audit_templates(templates, list(rules) or None)
        _emit_result(result, fmt, output, fail_on)
        return
    resolved = resolve_target(configuration)
    if resolved.endpoint_url:
        check_reachable(resolved.endpoint_url, resolved.name)
    if templates or stack:
        result = AuditResult()
        if templates:
            result.extend(audit_templates(templates, list(rules) or None))
        if stack:
            result.extend(audit_stack(stack, configuration, list(rules) or None))
        _emit_result(result, fmt, output, fail_on)
        return
    if rules:
        raise click.UsageError("--rule applies to --template and --stack; use --check")
    findings = get_findings(list(checks) or None, "low", configuration)
    if fmt == "table":
        text = render_table(findings)
    elif fmt == "json":
        text = json.dumps(findings, indent=2)
    else:
        text = json.dumps(render_sarif(findings), indent=2)
    _emit(text, output, [f["severity"] for f in findings], fail_on)


def _emit_result(result: AuditResult, fmt: str, output: str | None, fail_on: str) -> None:
    if fmt == "table":
        text = audit_render.render_table(result)
    elif fmt == "json":
        text = json.dumps(result.as_dict(), indent=2)
    else:
        text = json.dumps(audit_render.render_sarif(result), indent=2)
    _emit(text, output, [f.severity for f in result.findings], fail_on)


def _emit(text: str, output: str | None, severities: list[str], fail_on: str) -> None:
    """Print or write ``text``; exit 1 if a severity is at or above ``fail_on``."""
    if output:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        Path(output).write_text(text + "\n", encoding="utf-8")
    else:
        click.echo(text)
    if fail_on != "none":
        floor = SEVERITIES.index(fail_on)
        if any(SEVERITIES.index(s) >= floor for s in severities):
            raise click.exceptions.Exit(1)
