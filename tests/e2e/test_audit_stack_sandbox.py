"""The same audit rules on a template and on the stack deployed from it, on the sandbox.

Each app under ``tests/apps/`` (public templates nobody here wrote) is deployed
unchanged by ``chaoskit.deploy.deploy_template``; ``audit_stack`` must then
report the same hazards as ``audit_templates`` on the file (the code rules
aside: a deployed stack's code is not read), each named by its ARN or physical ID.
"""

from pathlib import Path
from typing import Any

import pytest

from chaoskit.audit import audit_stack, audit_templates
from chaoskit.deploy import deploy_template
from tests.support.sandbox import delete_stack

APPS = Path(__file__).resolve().parents[1] / "apps"

pytestmark = pytest.mark.sandbox


@pytest.mark.parametrize("app", ["sqs-dlq", "sns-async", "kinesis-onfailure"])
def test_stack_audit_matches_the_template_audit(
    app: str, sandbox: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAOSKIT_HOME", str(tmp_path / "home"))
    template = APPS / app / "template.yaml"
    stack_name = f"audit-{app}"
    deployed = deploy_template(template, stack_name=stack_name, configuration=sandbox)
    assert deployed["status"] in ("CREATE_COMPLETE", "UPDATE_COMPLETE"), deployed
    try:
        offline = audit_templates([template])
        live = audit_stack(stack_name, sandbox)
    finally:
        delete_stack(sandbox, stack_name)

    def hazards(findings: list[Any]) -> set[tuple[str, str]]:
        return {(f.rule, f.key) for f in findings if not f.rule.startswith("code-")}

    assert hazards(live.findings) == hazards(offline.findings)
    for f in live.findings:
        # named as deployed: an ARN, or the physical ID (a mapping's UUID)
        assert f.resource != f.key.replace("/", ""), f
    print(app, sorted(hazards(live.findings)))
