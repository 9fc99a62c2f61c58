"""Packaging a template's local artifacts: what is found, zips, requirements, uploads.

Requirements are real ``pip install`` runs of small wheels built here (no
network); uploads go to the session's moto server.
"""

import dataclasses
import hashlib
import io
import os
import zipfile
from pathlib import Path
from typing import Any

import boto3
import pytest
from wheel_factory import make_wheel

from chaoskit.deploy import artifacts
from chaoskit.deploy.exceptions import DeployFailed
from chaoskit.errors import BadInput


def names(data: bytes) -> list[str]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return archive.namelist()


@pytest.fixture
def app(tmp_path: Path) -> Path:
    """An app folder: two function folders, a definition, a prebuilt zip."""
    root = tmp_path / "app"
    (root / "src" / "pkg" / "__pycache__").mkdir(parents=True)
    (root / "src" / "pkg" / "__init__.py").write_text("")
    (root / "src" / "pkg" / "__pycache__" / "x.cpython-312.pyc").write_bytes(b"junk")
    (root / "src" / "handler.py").write_text("def handler(e, c):\n    return e\n")
    run = root / "src" / "run.sh"
    run.write_text("#!/bin/sh\n")
    run.chmod(0o755)
    (root / "other").mkdir()
    (root / "other" / "app.py").write_text("X = 1\n")
    (root / "workflow.asl.json").write_text('{"StartAt": "A", "States": {}}')
    (root / "prebuilt.zip").write_bytes(b"PK\x05\x06" + b"\0" * 18)
    return root


TEMPLATE: dict[str, Any] = {
    "Transform": "AWS::Serverless-2016-10-31",
    "Globals": {"Function": {"Runtime": "python3.12", "CodeUri": "other"}},
    "Resources": {
        "Own": {
            "Type": "AWS::Serverless::Function",
            "Properties": {"CodeUri": "src/", "Architectures": ["arm64"]},
        },
        "FromGlobals": {"Type": "AWS::Serverless::Function", "Properties": {}},
        "Inline": {"Type": "AWS::Serverless::Function", "Properties": {"InlineCode": "x"}},
        "Remote": {
            "Type": "AWS::Serverless::Function",
            "Properties": {"CodeUri": "s3://somewhere/code.zip"},
        },
        "Plain": {
            "Type": "AWS::Lambda::Function",
            "Properties": {"Code": "prebuilt.zip", "Runtime": "python3.11"},
        },
        "Machine": {
            "Type": "AWS::StepFunctions::StateMachine",
            "Properties": {"DefinitionS3Location": "workflow.asl.json"},
        },
        "Sam": {
            "Type": "AWS::Serverless::StateMachine",
            "Properties": {"DefinitionUri": "./workflow.asl.json"},
        },
        "Queue": {"Type": "AWS::SQS::Queue", "Properties": {"CodeUri": "src"}},
    },
}


def test_local_paths_are_found_with_their_runtime_and_architecture(app: Path) -> None:
    found = {a.logical_id: a for a in artifacts.find_artifacts(TEMPLATE, app)}
    assert sorted(found) == ["FromGlobals", "Machine", "Own", "Plain", "Sam"]
    assert found["Own"].path == app / "src"
    assert (found["Own"].runtime, found["Own"].architecture) == ("python3.12", "arm64")
    assert found["FromGlobals"].path == app / "other"
    assert found["FromGlobals"].in_globals
    assert (found["Plain"].kind, found["Plain"].style) == ("code", "s3_code")
    assert found["Plain"].runtime == "python3.11"
    assert (found["Machine"].kind, found["Machine"].style) == ("file", "bucket_key")


def test_a_missing_path_names_the_resource_and_the_path(app: Path) -> None:
    template = {
        "Resources": {
            "Fn": {"Type": "AWS::Serverless::Function", "Properties": {"CodeUri": "gone/"}}
        }
    }
    with pytest.raises(BadInput, match="CodeUri of resource 'Fn' names 'gone/'"):
        artifacts.find_artifacts(template, app)


def test_a_function_without_codeuri_packages_the_templates_folder(app: Path) -> None:
    # SAM CLI's default CodeUri is "." (aws-samples/serverless-patterns
    # dynamodb-streams-lambda-eventbridge-sam-node has none): the SAM transform refused
    # the function with "Only one of 'InlineCode' or 'CodeUri' can be set."
    template = {
        "Resources": {
            "Fn": {"Type": "AWS::Serverless::Function", "Properties": {"Runtime": "nodejs22.x"}},
            "Image": {
                "Type": "AWS::Serverless::Function",
                "Properties": {"PackageType": "Image", "ImageUri": "repo/fn:1"},
            },
        }
    }
    (found,) = artifacts.find_artifacts(template, app)
    assert (found.logical_id, found.path, found.in_globals) == ("Fn", app, False)


def _built(handler: str, runtime: str, method: str = "esbuild") -> dict[str, Any]:
    return {
        "Resources": {
            "Fn": {
                "Type": "AWS::Serverless::Function",
                "Properties": {"CodeUri": "code", "Handler": handler, "Runtime": runtime},
                "Metadata": {"BuildMethod": method, "BuildProperties": {"Minify": True}},
            }
        }
    }


def test_code_that_sam_build_builds_is_refused_until_built(tmp_path: Path) -> None:
    # esbuild's entry point is src/handler.ts; Lambda loads handler.js from the zip.
    code = tmp_path / "code"
    (code / "src").mkdir(parents=True)
    (code / "src" / "handler.ts").write_text("export const handler = async () => {};\n")
    template = _built("handler.handler", "nodejs22.x")
    with pytest.raises(BadInput) as caught:
        artifacts.find_artifacts(template, tmp_path)
    message = str(caught.value)
    assert "function 'Fn' is built by `sam build` (Metadata BuildMethod: esbuild)" in message
    assert "no handler.js or handler.mjs or handler.cjs for Handler 'handler.handler'" in message
    assert "run `sam build`" in message
    built = tmp_path / ".aws-sam" / "build" / "template.yaml"
    built.parent.mkdir(parents=True)
    built.write_text("Resources: {}\n")
    with pytest.raises(BadInput, match=f"deploy the template it built, {built}"):
        artifacts.find_artifacts(template, tmp_path)
    (code / "handler.mjs").write_text("export const handler = async () => {};\n")
    (found,) = artifacts.find_artifacts(template, tmp_path)
    assert found.path == code


@pytest.mark.parametrize(
    ("handler", "runtime", "method", "present", "refused"),
    [
        ("pkg.mod.handler", "python3.12", "makefile", "pkg/mod.py", False),
        ("pkg.mod.handler", "python3.12", "makefile", "pkg.py", True),
        ("app.handler", "python3.12", "python3.12", "app/__init__.py", False),
        ("dist/app.handler", "nodejs20.x", "esbuild", "dist/app.js", False),
        ("dist/app.handler", "nodejs20.x", "esbuild", "app.js", True),
        ("bootstrap", "provided.al2023", "go1.x", "bootstrap", False),
        ("bootstrap", "provided.al2023", "go1.x", "main.go", True),
        # Lambda's Java and .NET runtimes load classes: nothing to check by file.
        ("App::App.Function::Handler", "dotnet8", "dotnet7", "App.csproj", False),
    ],
)
def test_the_file_a_built_functions_handler_loads_is_looked_for(
    tmp_path: Path, handler: str, runtime: str, method: str, present: str, refused: bool
) -> None:
    file = tmp_path / "code" / present
    file.parent.mkdir(parents=True)
    file.write_text("")
    template = _built(handler, runtime, method)
    if refused:
        with pytest.raises(BadInput, match="is built by `sam build`"):
            artifacts.find_artifacts(template, tmp_path)
    else:
        assert len(artifacts.find_artifacts(template, tmp_path)) == 1
    # Without a build method the folder is taken as it is (a layer may hold the handler).
    del template["Resources"]["Fn"]["Metadata"]
    assert len(artifacts.find_artifacts(template, tmp_path)) == 1


def test_zips_are_reproducible_skip_caches_and_keep_modes(app: Path) -> None:
    first = artifacts.zip_folder([app / "src"])
    os.utime(app / "src" / "handler.py", (1_000_000_000, 1_000_000_000))
    assert artifacts.zip_folder([app / "src"]) == first
    assert names(first) == ["handler.py", "pkg/__init__.py", "run.sh"]
    with zipfile.ZipFile(io.BytesIO(first)) as archive:
        assert (archive.getinfo("run.sh").external_attr >> 16) & 0o777 == 0o755
        assert (archive.getinfo("handler.py").external_attr >> 16) & 0o777 == 0o644
    (app / "src" / "handler.py").write_text("changed = True\n")
    assert artifacts.zip_folder([app / "src"]) != first


def test_requirements_are_installed_once_per_runtime_and_cached(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, "tinydep")
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(f"{wheel}\n")
    cache = tmp_path / "cache"
    folder = artifacts.install_requirements(requirements, "python3.12", "x86_64", cache)
    assert (folder / "tinydep" / "__init__.py").is_file()
    assert not list(folder.rglob("*.pyc"))  # --no-compile: reproducible zips
    wheel.unlink()  # a second install would now fail: the cache must answer
    again = artifacts.install_requirements(requirements, "python3.12", "x86_64", cache)
    assert again == folder
    with pytest.raises(DeployFailed, match="could not install"):
        artifacts.install_requirements(requirements, "python3.11", "x86_64", cache)


def test_requirements_respect_the_functions_python_version(tmp_path: Path) -> None:
    # A wheel only CPython 3.10 may install: right for python3.10, refused for 3.12.
    wheel = make_wheel(tmp_path, "only310", tag="cp310-none-any")
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(f"{wheel}\n")
    cache = tmp_path / "cache"
    folder = artifacts.install_requirements(requirements, "python3.10", "x86_64", cache)
    assert (folder / "only310" / "__init__.py").is_file()
    with pytest.raises(DeployFailed, match=r"for python3\.12"):
        artifacts.install_requirements(requirements, "python3.12", "x86_64", cache)
    with pytest.raises(BadInput, match="needs a Python runtime"):
        artifacts.install_requirements(requirements, "nodejs20.x", "x86_64", cache)


def test_packaging_uploads_by_content_and_rewrites_each_property(
    app: Path, aws_env: dict[str, str], tmp_path: Path
) -> None:
    wheel = make_wheel(tmp_path, "tinydep")
    (app / "src" / "requirements.txt").write_text(f"{wheel}\n")
    lines: list[str] = []
    packaged = artifacts.package_template(
        TEMPLATE, app, "code-bucket", tmp_path / "cache", aws_env, lines.append
    )
    resources = packaged["Resources"]
    own = resources["Own"]["Properties"]["CodeUri"]
    assert own.startswith("s3://code-bucket/chaoskit-deploy/") and own.endswith(".zip")
    assert resources["FromGlobals"]["Properties"]["CodeUri"].startswith("s3://code-bucket/")
    assert "CodeUri" not in packaged["Globals"]["Function"]
    assert resources["Remote"]["Properties"]["CodeUri"] == "s3://somewhere/code.zip"
    assert "CodeUri" not in resources["Inline"]["Properties"]
    assert set(resources["Plain"]["Properties"]["Code"]) == {"S3Bucket", "S3Key"}
    machine = resources["Machine"]["Properties"]["DefinitionS3Location"]
    assert machine == resources["Sam"]["Properties"]["DefinitionUri"]  # same file, one upload
    assert machine["Key"].endswith(".json")
    assert TEMPLATE["Resources"]["Own"]["Properties"]["CodeUri"] == "src/"  # not mutated

    s3 = boto3.client("s3", endpoint_url=aws_env["chaoskit_endpoint_url"], region_name="us-east-1")
    key = own.removeprefix("s3://code-bucket/")
    body = s3.get_object(Bucket="code-bucket", Key=key)["Body"].read()
    assert key == f"chaoskit-deploy/{hashlib.sha256(body).hexdigest()}.zip"
    assert "tinydep/__init__.py" in names(body) and "handler.py" in names(body)
    definition = s3.get_object(Bucket="code-bucket", Key=machine["Key"])["Body"].read()
    assert definition == (app / "workflow.asl.json").read_bytes()

    again = artifacts.package_template(
        TEMPLATE, app, "code-bucket", tmp_path / "cache", aws_env, lines.append
    )
    assert again == packaged  # unchanged sources, unchanged template: nothing to update
    (app / "src" / "handler.py").write_text("def handler(e, c):\n    return 1\n")
    changed = artifacts.package_template(
        TEMPLATE, app, "code-bucket", tmp_path / "cache", aws_env, lines.append
    )
    assert changed["Resources"]["Own"]["Properties"]["CodeUri"] != own
    assert changed["Resources"]["FromGlobals"] == packaged["Resources"]["FromGlobals"]


def test_an_aws_include_anywhere_in_the_template_is_uploaded(
    app: Path, aws_env: dict[str, str], tmp_path: Path
) -> None:
    # api-sqs-lambda-python keeps its HTTP API's OpenAPI body in api.yaml, included with
    # Fn::Transform AWS::Include; a local Location made the change set fail.
    (app / "api.yaml").write_text("openapi: 3.0.1\npaths: {}\n")
    include = {"Fn::Transform": {"Name": "AWS::Include", "Parameters": {"Location": "api.yaml"}}}
    remote = {
        "Fn::Transform": {"Name": "AWS::Include", "Parameters": {"Location": "s3://b/k.yaml"}}
    }
    template = {
        "Resources": {
            "Api": {"Type": "AWS::Serverless::HttpApi", "Properties": {"DefinitionBody": include}},
            "Other": {"Type": "AWS::Serverless::Api", "Properties": {"DefinitionBody": remote}},
        },
        "Outputs": {"Listed": {"Value": [include]}},
    }
    packaged = artifacts.package_template(template, app, "code-bucket", tmp_path / "c", aws_env)
    body = packaged["Resources"]["Api"]["Properties"]["DefinitionBody"]
    location = body["Fn::Transform"]["Parameters"]["Location"]
    assert location.startswith("s3://code-bucket/chaoskit-deploy/") and location.endswith(".yaml")
    assert packaged["Outputs"]["Listed"]["Value"][0]["Fn::Transform"]["Parameters"] == {
        "Location": location
    }
    assert packaged["Resources"]["Other"]["Properties"]["DefinitionBody"] == remote
    s3 = boto3.client("s3", endpoint_url=aws_env["chaoskit_endpoint_url"], region_name="us-east-1")
    got = s3.get_object(Bucket="code-bucket", Key=location.removeprefix("s3://code-bucket/"))
    assert got["Body"].read() == (app / "api.yaml").read_bytes()
    assert include["Fn::Transform"]["Parameters"]["Location"] == "api.yaml"  # not mutated

    (app / "api.yaml").unlink()
    with pytest.raises(BadInput, match=r"Location 'api\.yaml' of an AWS::Include transform"):
        artifacts.package_template(template, app, "code-bucket", tmp_path / "c", aws_env)


def _layer(method: str, arch: str | None = None) -> dict[str, Any]:
    props: dict[str, Any] = {"ContentUri": "share_layer/"}
    if arch:
        props["CompatibleArchitectures"] = [arch]
    layer = {"Type": "AWS::Serverless::LayerVersion", "Properties": props,
             "Metadata": {"BuildMethod": method}}  # fmt: skip
    return {"Transform": "AWS::Serverless-2016-10-31", "Resources": {"Shared": layer}}


def test_a_python_layer_sam_builds_is_zipped_under_python_with_its_requirements(
    tmp_path: Path,
) -> None:
    # sns-sqs-lambda-xray's layer is a folder holding a requirements.txt, built by
    # `sam build` (BuildMethod python3.14). Zipped as it was, with no python/ folder and
    # nothing installed, both of its functions failed every invocation with
    # "No module named 'aws_lambda_powertools'".
    layer = tmp_path / "share_layer"
    layer.mkdir()
    wheel = make_wheel(tmp_path, "tinydep")
    (layer / "requirements.txt").write_text(f"{wheel}\n")
    (layer / "helpers.py").write_text("X = 1\n")
    (found,) = artifacts.find_artifacts(_layer("python3.12", "arm64"), tmp_path)
    assert (found.layer_folder, found.runtime, found.architecture) == (
        "python", "python3.12", "arm64"
    )  # fmt: skip
    lines: list[str] = []
    data = artifacts._artifact_bytes(
        dataclasses.replace(found, architecture="x86_64"), tmp_path / "cache", lines.append
    )
    assert "python/helpers.py" in names(data)
    assert "python/tinydep/__init__.py" in names(data)
    assert not [n for n in names(data) if not n.startswith("python/")]
    assert any("requirements" in line and "Shared" in line for line in lines)
    # A folder already laid out for Lambda (python/ inside) is taken as it is.
    (layer / "python").mkdir()
    (layer / "python" / "lib.py").write_text("")
    (found,) = artifacts.find_artifacts(_layer("python3.12"), tmp_path)
    assert found.layer_folder is None
    assert "python/lib.py" in names(artifacts._artifact_bytes(found, tmp_path / "c", print))


@pytest.mark.parametrize(
    ("method", "files", "refused"),
    [
        ("nodejs20.x", ["package.json"], True),
        ("nodejs20.x", ["package.json", "nodejs/node_modules/x/index.js"], False),
        ("nodejs20.x", ["nodejs/node_modules/x/index.js"], False),
        ("makefile", ["Makefile", "src/lib.py"], True),
        ("makefile", ["python/lib.py"], False),
    ],
)
def test_a_layer_sam_builds_for_another_runtime_is_refused_until_built(
    tmp_path: Path, method: str, files: list[str], refused: bool
) -> None:
    for name in files:
        path = tmp_path / "share_layer" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")
    if refused:
        with pytest.raises(BadInput) as caught:
            artifacts.find_artifacts(_layer(method), tmp_path)
        assert f"layer 'Shared' is built by `sam build` (Metadata BuildMethod: {method})" in str(
            caught.value
        )
        assert "run `sam build`" in str(caught.value)
    else:
        (found,) = artifacts.find_artifacts(_layer(method), tmp_path)
        assert found.layer_folder is None
