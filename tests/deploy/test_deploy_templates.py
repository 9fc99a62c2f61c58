"""Reading templates (short-form tags) and checking the parameters given for them."""

import json
from pathlib import Path

import pytest

from chaoskit.deploy import default_stack_name
from chaoskit.deploy.template import (
    check_parameters,
    dump_template,
    load_template,
    parse_parameters,
)
from chaoskit.errors import BadInput

SAM = """\
AWSTemplateFormatVersion: 2010-09-09
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage: {Type: String, Default: test}
  Secret: {Type: String}
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
Resources:
  Dlq: {Type: AWS::SQS::Queue}
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt Dlq.Arn
        maxReceiveCount: 3
      QueueName: !If [IsProd, !Sub "${AWS::StackName}-q", !Ref AWS::NoValue]
      Tags:
        - {Key: arn, Value: !Join [":", [!Select [0, !Split [",", "a,b"]], !GetAtt [Dlq, Arn]]]}
"""


def test_short_forms_become_long_forms(tmp_path: Path) -> None:
    path = tmp_path / "template.yaml"
    path.write_text(SAM)
    loaded = load_template(path)
    assert loaded["AWSTemplateFormatVersion"] == "2010-09-09"  # a string, not a date
    queue = loaded["Resources"]["Queue"]["Properties"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["Dlq", "Arn"]}
    assert queue["QueueName"] == {
        "Fn::If": ["IsProd", {"Fn::Sub": "${AWS::StackName}-q"}, {"Ref": "AWS::NoValue"}]
    }
    assert loaded["Conditions"]["IsProd"] == {"Fn::Equals": [{"Ref": "Stage"}, "prod"]}
    value = queue["Tags"][0]["Value"]["Fn::Join"][1]
    assert value[0] == {"Fn::Select": [0, {"Fn::Split": [",", "a,b"]}]}
    assert value[1] == {"Fn::GetAtt": ["Dlq", "Arn"]}
    assert json.loads(dump_template(loaded)) == loaded


def test_json_templates_load_as_they_are(tmp_path: Path) -> None:
    doc = {"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}, "Outputs": {}}
    path = tmp_path / "t.json"
    path.write_text(json.dumps(doc))
    assert load_template(path) == doc


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, "does not exist"),
        ("Resources: [a, b", "not valid YAML or JSON"),
        ("Outputs: {}\n", "has no 'Resources' map"),
        ("Resources:\n  Q: !Bogus x\n", "unknown CloudFormation tag '!Bogus'"),
    ],
)
def test_bad_templates_are_bad_input(tmp_path: Path, text: str | None, expected: str) -> None:
    path = tmp_path / "template.yaml"
    if text is not None:
        path.write_text(text)
    with pytest.raises(BadInput, match=expected) as info:
        load_template(path)
    assert str(path) in str(info.value)


def test_parameters_parse_and_check() -> None:
    assert parse_parameters(["A=1", "B=x=y", "C="]) == {"A": "1", "B": "x=y", "C": ""}
    with pytest.raises(BadInput, match="invalid --parameter 'oops': expected KEY=VALUE"):
        parse_parameters(["oops"])
    template = {"Parameters": {"Stage": {"Default": "t"}, "Secret": {"Type": "String"}}}
    check_parameters(template, {"Secret": "s"})
    check_parameters(template, {}, previous=["Secret"])  # the stack keeps its value
    with pytest.raises(BadInput, match=r"unknown parameter 'Nope' .*Secret, Stage"):
        check_parameters(template, {"Secret": "s", "Nope": "1"})
    with pytest.raises(BadInput, match=r"parameter 'Secret' .* has no default"):
        check_parameters(template, {"Stage": "x"})


def test_a_sam_apps_stack_is_named_as_sam_deploy_names_it(tmp_path: Path) -> None:
    # A SAM app's stack on AWS is the samconfig's stack_name, and `sam build` writes the
    # template to .aws-sam/build: the stack of aws-samples/serverless-patterns
    # sqs-lambda-ddb-sam-ts was named "build".
    app = tmp_path / "sqs-lambda-ddb-sam-ts"
    built = app / ".aws-sam" / "build" / "template.yaml"
    assert default_stack_name(built) == "sqs-lambda-ddb-sam-ts"
    app.mkdir()
    (app / "samconfig.toml").write_text(
        'version = 0.1\n[default.deploy.parameters]\nstack_name = "orders-prod"\n'
        '[staging.deploy.parameters]\nstack_name = "orders-staging"\n'
    )
    assert default_stack_name(built) == "orders-prod"
    assert default_stack_name(app / "template.yaml") == "orders-prod"
    (app / "samconfig.toml").write_text("not = [toml")
    assert default_stack_name(app / "template.yaml") == "sqs-lambda-ddb-sam-ts"
    (app / "samconfig.toml").unlink()
    (app / "samconfig.yaml").write_text(
        "version: 0.1\ndefault:\n  global:\n    parameters:\n      stack_name: from-yaml\n"
    )
    assert default_stack_name(app / "template.yaml") == "from-yaml"


def test_default_stack_name_is_the_folder_made_valid(tmp_path: Path) -> None:
    assert default_stack_name(tmp_path / "my_app" / "template.yaml") == "my-app"
    assert default_stack_name(tmp_path / "2fast" / "template.yaml") == "app-2fast"
