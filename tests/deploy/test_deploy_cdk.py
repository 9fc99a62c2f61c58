"""CDK output, as ``cdk synth`` writes it, deployed as ``cdk deploy`` would.

The templates are a third-party CDK app's (``tests/apps/cdk-error-handling``,
synthesized unmodified). Before: ``chaoskit deploy --template
cdk.out/SQSDLQStack.template.json`` named the stack ``cdk-out`` and failed
("Parameter BootstrapVersion should either have input value or default value"),
and nothing published the function's code asset, which the template reads from
CDK's bootstrap bucket. Against moto here (assets, bootstrap checks, refusals);
the whole deploy and a redeploy run on the sandbox in
``tests/e2e/test_sandbox_cdk_deploy.py``.
"""

import json
import shutil
from pathlib import Path
from typing import Any

import boto3
import pytest

from chaoskit.deploy import cdk_assets, default_stack_name, template_file
from chaoskit.deploy.template import load_template
from chaoskit.errors import BadInput
from chaoskit.suite import generate_suite
from chaoskit.topology import load_template as load_topology
from chaoskit.topology.cdk import cdk_stack

ASSEMBLY = Path(__file__).resolve().parents[1] / "apps" / "cdk-error-handling" / "cdk.out"
TEMPLATE = ASSEMBLY / "SQSDLQStack.template.json"
ASSET = "689fd71d379c3158d5c8d50a1186aabcc234a8aa2138d5303a5aa063aa7f0b58"
BUCKET = "cdk-hnb659fds-assets-123456789012-us-east-1"  # moto's account


def _keys(bucket: str) -> list[str]:
    listed = boto3.client("s3").list_objects_v2(Bucket=bucket)
    return sorted(o["Key"] for o in listed.get("Contents", []))


def test_the_stack_is_named_as_cdk_names_it_and_one_of_several_must_be_chosen() -> None:
    assert default_stack_name(TEMPLATE) == "SQSDLQStack"  # was "cdk-out", its folder
    stack = cdk_stack(TEMPLATE)
    assert stack is not None and stack.stack_name == "SQSDLQStack"
    assert stack.bootstrap_parameter == "/cdk-bootstrap/hnb659fds/version"
    assert {(a.packaging, a.source.name) for a in stack.files} == {
        ("zip", f"asset.{ASSET}"),
        ("file", "SQSDLQStack.template.json"),
    }
    with pytest.raises(BadInput, match=r"holds 3 stacks \(.*SQSDLQStack.template.json"):
        template_file(ASSEMBLY)


def test_a_plain_template_is_in_no_assembly(tmp_path: Path) -> None:
    plain = tmp_path / "app" / "template.json"
    plain.parent.mkdir()
    plain.write_text(json.dumps({"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}}))
    assert cdk_stack(plain) is None
    assert default_stack_name(plain) == "app"


def test_the_topology_finds_the_code_and_the_alias_the_queue_invokes() -> None:
    topo = load_topology(TEMPLATE)
    fn = topo.functions["lambda8B5974B5"]
    # no aws:asset:path metadata (synthesized without the CDK CLI): the asset manifest says it
    assert fn.code_dir == str(ASSEMBLY / f"asset.{ASSET}")
    assert topo.aliases_invoked("lambda8B5974B5") == ["CURRENT"]


def test_the_suite_moves_the_alias_to_the_layer_and_sends_the_apps_samples(
    tmp_path: Path,
) -> None:
    copy = tmp_path / "cdk.out"
    shutil.copytree(ASSEMBLY, copy)
    raised = copy / TEMPLATE.name  # python3.9, which the layer refuses: raised as init says
    raised.write_text(raised.read_text().replace('"python3.9"', '"python3.12"'))
    # a CDK app keeps its sample events beside cdk.out, not in it
    (tmp_path / "events").mkdir()
    sample = {"Records": [{"eventSource": "aws:sqs", "body": json.dumps({"pass": True})}]}
    (tmp_path / "events" / "sqs.json").write_text(json.dumps(sample))
    suite = generate_suite(template=raised)
    assert suite.stack == "SQSDLQStack"
    enables = [
        step
        for planned in suite.experiments
        for step in planned.experiment["method"]
        if step["provider"].get("func") == "enable_chaoskit_layer"
    ]
    assert enables and all(e["provider"]["arguments"]["aliases"] == ["CURRENT"] for e in enables)
    sends = [
        step["provider"]["arguments"]
        for planned in suite.experiments
        for step in planned.experiment["method"]
        if step["provider"].get("func") == "send_events"
    ]
    assert sends and all(args.get("payload") == {"pass": True} for args in sends), sends


def test_assets_are_published_where_the_template_reads_them(aws_env: dict[str, Any]) -> None:
    stack = cdk_stack(TEMPLATE)
    assert stack is not None
    lines: list[str] = []
    prepared = cdk_assets.prepare(load_template(TEMPLATE), stack, aws_env, lines.append)

    assert _keys(BUCKET) == [f"{ASSET}.zip"]  # the code; the template itself is deployed as a body
    body = boto3.client("s3").get_object(Bucket=BUCKET, Key=f"{ASSET}.zip")["Body"].read()
    assert b"lambda.py" in body
    assert "BootstrapVersion" not in (prepared.get("Parameters") or {})
    assert "Rules" not in prepared
    assert any("no CDK bootstrap" in line for line in lines), lines
    again: list[str] = []
    cdk_assets.prepare(load_template(TEMPLATE), stack, aws_env, again.append)
    assert any("already published" in line for line in again), again


def test_an_aws_account_without_the_bootstrap_is_refused_and_left_alone(
    aws_env: dict[str, Any],
) -> None:
    stack = cdk_stack(TEMPLATE)
    assert stack is not None
    on_aws = {"chaoskit_target": "aws", "aws_region": "us-east-1"}  # AWS_ENDPOINT_URL: moto

    with pytest.raises(BadInput, match=rf"bucket '{BUCKET}'.*cdk bootstrap"):
        cdk_assets.prepare(load_template(TEMPLATE), stack, on_aws)
    assert boto3.client("s3").list_buckets()["Buckets"] == []  # not created

    boto3.client("s3").create_bucket(Bucket=BUCKET)
    with pytest.raises(BadInput, match=r"SSM parameter '/cdk-bootstrap/hnb659fds/version'"):
        cdk_assets.prepare(load_template(TEMPLATE), stack, on_aws)

    boto3.client("ssm").put_parameter(
        Name="/cdk-bootstrap/hnb659fds/version", Value="21", Type="String"
    )
    prepared = cdk_assets.prepare(load_template(TEMPLATE), stack, on_aws)
    assert prepared["Parameters"]["BootstrapVersion"]["Default"] == stack.bootstrap_parameter
    assert "CheckBootstrapVersion" in prepared["Rules"]
    assert _keys(BUCKET) == [f"{ASSET}.zip"]


def test_container_image_assets_are_refused_by_name(tmp_path: Path) -> None:
    copy = tmp_path / "cdk.out"
    shutil.copytree(ASSEMBLY, copy)
    manifest = copy / "SQSDLQStack.assets.json"
    doc = json.loads(manifest.read_text())
    doc["dockerImages"] = {"abc123": {"source": {"directory": "asset.abc123"}, "destinations": {}}}
    manifest.write_text(json.dumps(doc))
    stack = cdk_stack(copy / "SQSDLQStack.template.json")
    assert stack is not None

    with pytest.raises(BadInput, match=r"container image assets \(abc123 \(asset.abc123\)\)"):
        cdk_assets.prepare(load_template(copy / "SQSDLQStack.template.json"), stack, None)


def test_a_malformed_asset_manifest_names_the_file_and_field(tmp_path: Path) -> None:
    copy = tmp_path / "cdk.out"
    shutil.copytree(ASSEMBLY, copy)
    manifest = copy / "SQSDLQStack.assets.json"
    doc = json.loads(manifest.read_text())
    del doc["files"][ASSET]["source"]["path"]
    manifest.write_text(json.dumps(doc))

    with pytest.raises(BadInput, match=rf"SQSDLQStack.assets.json'.*{ASSET}.*source.path"):
        cdk_stack(copy / "SQSDLQStack.template.json")
