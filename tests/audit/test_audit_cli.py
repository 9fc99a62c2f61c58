"""``chaoskit audit --template/--stack``: formats, exit codes, suppressions, cfn-lint.

A template audit makes no AWS call: botocore's HTTP send is made to fail.
"""

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from botocore.httpsession import URLLib3Session
from click.testing import CliRunner

from chaoskit import aws
from chaoskit.cli.main import cli, main

TEMPLATE = """\
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Resources:
  Orders:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 60
{metadata}
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.12
      Handler: app.handler
      InlineCode: "def handler(e, c):\\n    return None\\n"
      Timeout: 10
      Events:
        Queue:
          Type: SQS
          Properties:
            Queue: !GetAtt Orders.Arn
            BatchSize: 1
"""


def _write(tmp_path: Path, metadata: str = "") -> Path:
    path = tmp_path / "template.yaml"
    path.write_text(TEMPLATE.format(metadata=metadata))
    return path


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Fail any HTTP request botocore would send; record what was attempted."""
    attempted: list[str] = []

    def refuse(self: Any, request: Any) -> Any:
        attempted.append(request.url)
        raise AssertionError(f"AWS call attempted: {request.url}")

    monkeypatch.setattr(URLLib3Session, "send", refuse)
    for var in ("AWS_ENDPOINT_URL", "CHAOSKIT_TARGET"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    aws.clear_cache()
    return attempted


def test_template_audit_makes_no_aws_call(tmp_path: Path, no_network: list[str]) -> None:
    result = CliRunner().invoke(
        cli, ["audit", "--template", str(_write(tmp_path)), "--format", "json"]
    )
    assert no_network == []
    assert result.exit_code == 1, result.output  # a high finding, default --fail-on high
    data = json.loads(result.output)
    assert [f["rule"] for f in data["findings"]] == ["sqs-no-redrive-policy"]
    finding = data["findings"][0]
    assert finding["resource"] == "Orders" and finding["location"]["line"] == 4
    assert finding["evidence"]["RedrivePolicy"] is None and "RedrivePolicy" in finding["fix"]


def test_the_refusing_hook_does_catch_a_call(no_network: list[str]) -> None:
    # the fixture must be able to fail: a real client call is refused
    client = aws.client("sqs", {"chaoskit_target": "aws", "aws_region": "us-east-1"})
    with pytest.raises(AssertionError, match=r"AWS call attempted: https://sqs\."):
        client.list_queues()
    assert no_network


def test_fail_on_threshold(tmp_path: Path) -> None:
    template = str(_write(tmp_path))
    runner = CliRunner()
    assert (
        runner.invoke(cli, ["audit", "--template", template, "--fail-on", "critical"]).exit_code
        == 0
    )
    assert runner.invoke(cli, ["audit", "--template", template, "--fail-on", "high"]).exit_code == 1
    assert runner.invoke(cli, ["audit", "--template", template, "--fail-on", "none"]).exit_code == 0


def test_suppression_with_reason_silences_and_without_reason_is_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ok = (
        "    Metadata:\n      chaoskit:\n        suppress:\n"
        "          - rule: sqs-no-redrive-policy\n"
        "            reason: replayed from the orders table"
    )
    result = CliRunner().invoke(
        cli, ["audit", "--template", str(_write(tmp_path, ok)), "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["findings"] == []
    assert data["suppressed"][0]["reason"] == "replayed from the orders table"
    bad = (
        "    Metadata:\n      chaoskit:\n        suppress:\n          - rule: sqs-no-redrive-policy"
    )
    with pytest.raises(SystemExit) as exit_info:
        main(["audit", "--template", str(_write(tmp_path, bad))])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "needs a non-empty 'reason'" in err and "'Orders'" in err


def test_sarif_has_file_and_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        cli,
        ["audit", "--template", "template.yaml", "--format", "sarif"] if _write(tmp_path) else [],
    )
    log = json.loads(result.output)
    assert log["version"] == "2.1.0"
    run = log["runs"][0]
    ids = [r["id"] for r in run["tool"]["driver"]["rules"]]
    (res,) = run["results"]
    assert ids[res["ruleIndex"]] == res["ruleId"] == "sqs-no-redrive-policy"
    physical = res["locations"][0]["physicalLocation"]
    assert physical["artifactLocation"]["uri"] == "template.yaml"
    assert physical["region"]["startLine"] == 4
    assert res["level"] == "error"


def test_table_output_names_rule_resource_and_fix(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["audit", "--template", str(_write(tmp_path))])
    assert "sqs-no-redrive-policy" in result.output and "Orders" in result.output
    assert "deadLetterTargetArn" in result.output and "1 high" in result.output


def test_cfn_lint_runs_the_audit_as_appended_rules(tmp_path: Path) -> None:
    template = _write(tmp_path)
    cfn_lint = str(Path(sys.executable).with_name("cfn-lint"))
    proc = subprocess.run(
        [cfn_lint, str(template), "-f", "json", "-a", "chaoskit.audit.cfnlint"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    matches = json.loads(proc.stdout)
    ours = [m for m in matches if m["Rule"]["Id"] in ("E9160", "W9160")]
    assert len(ours) == 1, proc.stdout + proc.stderr
    assert ours[0]["Rule"]["Id"] == "E9160"
    assert ours[0]["Message"].startswith("[sqs-no-redrive-policy] Orders:")
    assert ours[0]["Location"]["Start"]["LineNumber"] == 4


def test_stack_audit_runs_the_same_rules_and_names_arns(aws_env: dict[str, str]) -> None:
    body = {
        "Resources": {
            "Orders": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "orders"}},
        }
    }
    aws.client("cloudformation", aws_env).create_stack(
        StackName="shop", TemplateBody=json.dumps(body)
    )
    result = CliRunner().invoke(
        cli,
        ["audit", "--stack", "shop", "--endpoint-url", aws_env["chaoskit_endpoint_url"],
         "--target", "aws", "--format", "json"],
    )  # fmt: skip
    data = json.loads(result.output)
    (finding,) = data["findings"]
    assert finding["rule"] == "sqs-no-redrive-policy"
    assert finding["resource"].startswith("arn:aws:sqs:") and finding["resource"].endswith(
        ":orders"
    )
