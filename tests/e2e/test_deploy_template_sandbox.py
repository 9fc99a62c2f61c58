"""``chaoskit deploy --template`` onto the sandbox: package, create, run, no-op, update, fail.

The app is written here: a SAM function in a folder with a ``requirements.txt``
(a wheel built by the test, so no network), fed by SQS, recording into a table.
"""

import json
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from wheel_factory import make_wheel

from chaoskit import aws as chaoskit_aws
from chaoskit.deploy import DeployFailed, deploy_template, read_stack
from tests.support.sandbox import unique, wait_for

APP = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  Flavor: {Type: String, Default: first}
Resources:
  DeadLetters: {Type: AWS::SQS::Queue}
  Orders:
    Type: AWS::SQS::Queue
    Properties:
      RedrivePolicy: {deadLetterTargetArn: !GetAtt DeadLetters.Arn, maxReceiveCount: 3}
  Seen:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
  Recorder:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.12
      Handler: app.handler
      CodeUri: src/
      Environment: {Variables: {TABLE: !Ref Seen, FLAVOR: !Ref Flavor}}
      Events:
        FromOrders: {Type: SQS, Properties: {Queue: !GetAtt Orders.Arn}}
Outputs:
  QueueUrl: {Value: !Ref Orders}
  TableName: {Value: !Ref Seen}
"""

HANDLER = """\
import os

import boto3
import tinydep


def handler(event, context):
    for record in event["Records"]:
        boto3.client("dynamodb").put_item(
            TableName=os.environ["TABLE"],
            Item={
                "id": {"S": record["body"]},
                "flavor": {"S": os.environ["FLAVOR"]},
                "dependency": {"S": tinydep.NAME},
            },
        )
    return {}
"""


@pytest.fixture
def app(tmp_path: Path) -> Path:
    """The app's folder; returns its template."""
    src = tmp_path / "app" / "src"
    src.mkdir(parents=True)
    (src / "app.py").write_text(HANDLER)
    wheel = make_wheel(tmp_path, "tinydep")
    (src / "requirements.txt").write_text(f"{wheel}\n")
    template = tmp_path / "app" / "template.yaml"
    template.write_text(APP)
    return template


def _cli(args: list[str], sandbox: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    endpoint = str(sandbox["chaoskit_endpoint_url"])
    return subprocess.run(
        [sys.executable, "-m", "chaoskit.cli.main", "deploy", *args, "--endpoint-url", endpoint],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _item(aws: Callable[[str], Any], table: str, ident: str) -> dict[str, Any] | None:
    item: dict[str, Any] | None = (
        aws("dynamodb").get_item(TableName=table, Key={"id": {"S": ident}}).get("Item")
    )
    return item


def test_deploy_runs_is_idempotent_and_updates(
    app: Path, sandbox: dict[str, Any], aws: Callable[[str], Any]
) -> None:
    chaoskit_aws.clear_cache()
    stack = unique("orders-app")
    lines: list[str] = []
    created = deploy_template(app, stack, configuration=sandbox, progress=lines.append)
    assert created["changed"] is True and created["status"] == "CREATE_COMPLETE"
    assert created["resource_types"]["RecorderFromOrders"] == "AWS::Lambda::EventSourceMapping"
    # Stack events were streamed while waiting, resource by resource.
    assert any("CREATE_COMPLETE" in line and line.endswith(" Recorder") for line in lines)
    described = aws("cloudformation").describe_stack_resources(StackName=stack)["StackResources"]
    assert created["resources"] == {
        r["LogicalResourceId"]: r["PhysicalResourceId"] for r in described
    }
    outputs = created["outputs"]
    aws("sqs").send_message(QueueUrl=outputs["QueueUrl"], MessageBody="order-1")
    item = wait_for(lambda: _item(aws, outputs["TableName"], "order-1"), 60, what="order-1")
    assert item["dependency"]["S"] == "tinydep"  # requirements.txt was packaged
    assert item["flavor"]["S"] == "first"

    # Nothing changed: no change applied, same stack, same map (the CLI this time).
    done = _cli(["--template", str(app), "--stack-name", stack], sandbox)
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert printed["changed"] is False
    assert printed["resources"] == created["resources"]
    assert "no changes" in done.stderr

    updated = deploy_template(app, stack, {"Flavor": "second"}, configuration=sandbox)
    assert updated["changed"] is True and updated["status"] == "UPDATE_COMPLETE"
    aws("sqs").send_message(QueueUrl=outputs["QueueUrl"], MessageBody="order-2")
    item = wait_for(lambda: _item(aws, outputs["TableName"], "order-2"), 60, what="order-2")
    assert item["flavor"]["S"] == "second"
    assert read_stack(stack, sandbox)["resources"] == created["resources"]


BROKEN = textwrap.dedent(
    """\
    Resources:
      Good: {Type: AWS::SQS::Queue}
      Mapping:
        Type: AWS::Lambda::EventSourceMapping
        Properties:
          FunctionName: no-such-function
          EventSourceArn: !GetAtt Good.Arn
    Outputs:
      Url: {Value: !Ref Good}
    """
)


def test_a_failed_stack_names_the_resource_then_a_fixed_template_replaces_it(
    tmp_path: Path, sandbox: dict[str, Any]
) -> None:
    chaoskit_aws.clear_cache()
    stack = unique("broken")
    template = tmp_path / "template.yaml"
    template.write_text(BROKEN)
    with pytest.raises(DeployFailed) as info:
        deploy_template(template, stack, configuration=sandbox)
    assert "resource 'Mapping' (AWS::Lambda::EventSourceMapping) CREATE_FAILED" in str(info.value)
    assert "Function does not exist" in str(info.value)

    done = _cli(["--template", str(template), "--stack-name", stack], sandbox)
    assert done.returncode == 1
    assert done.stdout == ""
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("chaoskit: error: stack ") and "resource 'Mapping'" in last

    template.write_text(BROKEN.split("  Mapping:")[0] + "Outputs:\n  Url: {Value: !Ref Good}\n")
    fixed = deploy_template(template, stack, configuration=sandbox)
    assert fixed["status"] == "CREATE_COMPLETE"
    assert sorted(fixed["resources"]) == ["Good"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--template", "missing.yaml"], "template 'missing.yaml' does not exist"),
        (["--parameter", "Flavor"], "invalid --parameter 'Flavor': expected KEY=VALUE"),
        (["--parameter", "Colour=red"], "unknown parameter 'Colour'"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    app: Path, sandbox: dict[str, Any], args: list[str], expected: str
) -> None:
    if "--template" not in args:
        args = ["--template", str(app), *args]
    done = _cli(args, sandbox)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("chaoskit: error: ")
    assert expected in lines[0]


SHARED = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.13
    Layers:
      - !Sub arn:aws:lambda:${AWS::Region}:017000801446:layer:AWSLambdaPowertoolsPythonV2:32
Resources:
  Greeter:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.handler
      CodeUri: src/
      Layers:
        - arn:aws:lambda:us-east-1:580247275435:layer:LambdaInsightsExtension:49
"""


def test_layers_of_other_accounts_do_not_stop_the_stack(
    sandbox: dict[str, Any],
    aws: Callable[[str], Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A public template naming Powertools' public layer rolled back on the sandbox
    # ("Fetching shared layers from AWS is a pro feature"). pip finds a stand-in
    # aws-lambda-powertools here, offline; the function must import it from its layer.
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    make_wheel(wheels, "aws_lambda_powertools", version="2.9")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    src = tmp_path / "shared" / "src"
    src.mkdir(parents=True)
    (src / "app.py").write_text(
        "import aws_lambda_powertools\n\n"
        "def handler(event, context):\n"
        "    return {'powertools': aws_lambda_powertools.NAME,\n"
        "            'from': aws_lambda_powertools.__file__}\n"
    )
    template = tmp_path / "shared" / "template.yaml"
    template.write_text(SHARED)
    stack = unique("shared-layers")
    lines: list[str] = []
    try:
        created = deploy_template(template, stack, configuration=sandbox, progress=lines.append)
        assert created["status"] == "CREATE_COMPLETE", lines
        assert any("LambdaInsightsExtension:49 of function 'Greeter' belongs to account "
                   "580247275435" in line for line in lines), lines  # fmt: skip
        name = created["resources"]["Greeter"]
        layers = aws("lambda").get_function_configuration(FunctionName=name)["Layers"]
        assert [layer["Arn"].split(":")[6] for layer in layers] == [
            "chaoskit-AWSLambdaPowertoolsPythonV2"
        ]
        out = json.loads(aws("lambda").invoke(FunctionName=name)["Payload"].read())
        assert out["powertools"] == "aws_lambda_powertools", out
        assert "/python/aws_lambda_powertools/" in out["from"], out  # the layer's, not code's
        again = deploy_template(template, stack, configuration=sandbox)
        assert again["changed"] is False  # the same layer version: nothing to update
    finally:
        from tests.support.sandbox import delete_stack

        delete_stack(sandbox, stack)
