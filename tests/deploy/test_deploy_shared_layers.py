"""Layers of other accounts, on a target that cannot fetch them (moto; pip offline).

A public template (aws-samples/serverless-patterns ``apigw-sqs-lambda-ddb``) names
Powertools' public layer, ``arn:aws:lambda:${AWS::Region}:017000801446:layer:
AWSLambdaPowertoolsPythonV2:32``: the sandbox refused it ("Fetching shared layers from
AWS is a pro feature") and the whole stack rolled back.
"""

import io
import zipfile
from pathlib import Path

import pytest
from wheel_factory import make_wheel

from chaoskit import aws
from chaoskit.deploy.shared_layers import parse_layer_arn, replace_shared_layers

ACCOUNT = "123456789012"  # moto's
POWERTOOLS = {
    "Fn::Sub": "arn:aws:lambda:${AWS::Region}:017000801446:layer:AWSLambdaPowertoolsPythonV2:32"
}
OTHER = "arn:aws:lambda:us-east-1:464622532012:layer:Datadog-Extension:65"


def test_a_layer_arn_is_read_from_a_literal_or_a_sub() -> None:
    layer = parse_layer_arn(POWERTOOLS)
    assert layer is not None and (layer.account, layer.name, layer.version) == (
        "017000801446",
        "AWSLambdaPowertoolsPythonV2",
        32,
    )
    assert layer.requirement == "aws-lambda-powertools[all]>=2,<3"
    v3 = "arn:aws:lambda:eu-west-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python313-arm64:7"
    assert parse_layer_arn(v3).requirement == "aws-lambda-powertools[all]>=3,<4"  # type: ignore[union-attr]
    v1 = "arn:aws:lambda:eu-west-1:017000801446:layer:AWSLambdaPowertoolsPython:4"
    assert parse_layer_arn(v1).requirement == "aws-lambda-powertools[all]>=1,<2"  # type: ignore[union-attr]
    assert parse_layer_arn(OTHER).requirement is None  # type: ignore[union-attr]
    assert parse_layer_arn({"Fn::Sub": "arn:aws:lambda:${AWS::Region}:${Acct}:layer:x:1"}) is None
    assert parse_layer_arn({"Ref": "SharedLayer"}) is None
    own = parse_layer_arn({"Fn::Sub": "arn:aws:lambda:${AWS::Region}:${AWS::AccountId}:layer:x:1"})
    assert own is None  # this account's: not another's


@pytest.fixture
def offline_powertools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """pip finds a stand-in aws-lambda-powertools 2.9 in a local folder, never on PyPI."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    make_wheel(wheels, "aws_lambda_powertools", version="2.9")
    make_wheel(wheels, "aws_lambda_powertools", version="3.1")  # a major the ARN does not ask
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    return wheels


def _template() -> dict:
    function = {"Type": "AWS::Serverless::Function", "Properties": {"Handler": "app.handler"}}
    return {
        "Globals": {"Function": {"Runtime": "python3.12", "Layers": [POWERTOOLS]}},
        "Resources": {
            "Writer": {**function, "Properties": {**function["Properties"],
                                                  "Layers": [OTHER, {"Ref": "Local"}]}},
            "Reader": {**function, "Properties": {**function["Properties"],
                                                  "Runtime": "python3.13"}},
            "Plain": {"Type": "AWS::Lambda::Function",
                      "Properties": {"Runtime": "python3.12", "Layers": [{"Ref": "Local"}]}},
        },
    }  # fmt: skip


def test_powertools_is_built_and_published_once_and_other_accounts_layers_left_out(
    aws_env: dict[str, str], offline_powertools: Path, tmp_path: Path
) -> None:
    template = _template()
    lines: list[str] = []
    warnings = replace_shared_layers(
        template, ACCOUNT, "artifacts", tmp_path / "cache", aws_env, lines.append
    )
    resources = template["Resources"]
    writer, reader = resources["Writer"]["Properties"], resources["Reader"]["Properties"]
    # Globals' layers come first, in each function's own list; the global one is gone.
    assert "Layers" not in template["Globals"]["Function"]
    built_312, built_313 = writer["Layers"][0], reader["Layers"][0]
    assert writer["Layers"][1:] == [{"Ref": "Local"}] and len(reader["Layers"]) == 1
    assert built_312 != built_313  # one per runtime: binary extras differ
    for arn in (built_312, built_313):
        assert arn.startswith(f"arn:aws:lambda:us-east-1:{ACCOUNT}:layer:chaoskit-AWSLambda")
    assert resources["Plain"]["Properties"]["Layers"] == [{"Ref": "Local"}]  # untouched
    (warning,) = warnings
    assert f"layer {OTHER} of function 'Writer' belongs to account 464622532012" in warning
    assert any(line.startswith("warning: layer") for line in lines)
    # The published content: the major the ARN asks for, under python/.
    lam = aws.client("lambda", aws_env)
    name, number = built_312.rsplit(":", 2)[1:]
    version = lam.get_layer_version(LayerName=name, VersionNumber=int(number))
    assert version["CompatibleRuntimes"] == ["python3.12"]
    s3 = aws.client("s3", aws_env)
    key = s3.list_objects_v2(Bucket="artifacts")["Contents"]
    names: set[str] = set()
    for obj in key:
        body = s3.get_object(Bucket="artifacts", Key=obj["Key"])["Body"].read()
        names |= set(zipfile.ZipFile(io.BytesIO(body)).namelist())
    assert "python/aws_lambda_powertools/__init__.py" in names
    assert "python/aws_lambda_powertools-2.9.dist-info/METADATA" in names
    assert not any("3.1" in n for n in names)

    # Deployed again: the same content, the same layer versions (the stack does not change).
    again = _template()
    replace_shared_layers(again, ACCOUNT, "artifacts", tmp_path / "cache", aws_env)
    assert again["Resources"]["Writer"]["Properties"]["Layers"][0] == built_312
    assert again["Resources"]["Reader"]["Properties"]["Layers"][0] == built_313
    versions = lam.list_layer_versions(LayerName="chaoskit-AWSLambdaPowertoolsPythonV2")
    assert len(versions["LayerVersions"]) == 2


def test_a_template_without_other_accounts_layers_is_left_as_it_is(
    aws_env: dict[str, str], tmp_path: Path
) -> None:
    template = _template()
    template["Globals"]["Function"]["Layers"] = [f"arn:aws:lambda:us-east-1:{ACCOUNT}:layer:own:3"]
    template["Resources"]["Writer"]["Properties"]["Layers"] = [{"Ref": "Local"}]
    before = repr(template)
    assert replace_shared_layers(template, ACCOUNT, "artifacts", tmp_path, aws_env) == []
    assert repr(template) == before
