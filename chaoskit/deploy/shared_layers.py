"""Layers published by other AWS accounts, on a target that cannot fetch them.

LocalStack Community, and so the sandbox, refuses a function whose ``Layers`` name a
layer of another account ("Fetching shared layers from AWS is a pro feature"), and the
whole stack rolls back. Templates do that all the time: Powertools for AWS Lambda,
extensions, a company's shared layers. On such a target (not AWS) each such ARN is
rewritten before the stack is created:

- **Powertools for AWS Lambda (Python)** (account 017000801446): the layer is built from
  PyPI (``aws-lambda-powertools[all]`` of the layer's major version, as the public layer
  carries its extras), for each function's runtime and architecture, under ``python/``,
  and published once on the target (a version is reused while its content is the same);
  the function gets that layer's ARN.
- **any other**: it is left out of the function, with a warning naming it: code that
  imports from it fails, and chaoskit then reports the run inconclusive, naming the
  error, rather than a stack that cannot be created.

SAM's ``Globals.Function.Layers`` come first in each function's layers; when one of
those is rewritten, each function gets its own list (a layer built for one runtime may
not suit another), and the global one is removed.
"""

import hashlib
import re
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from chaoskit import aws
from chaoskit.deploy import artifacts
from chaoskit.errors import aws_failure

__all__ = ["SharedLayer", "parse_layer_arn", "replace_shared_layers"]

_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):lambda:(?P<region>[^:]+):(?P<account>\d{12}):"
    r"layer:(?P<name>[A-Za-z0-9_-]+):(?P<version>\d+)$"
)
#: The account that publishes Powertools for AWS Lambda (Python)'s public layers.
POWERTOOLS_PYTHON_ACCOUNT = "017000801446"
_POWERTOOLS_MAJOR = re.compile(r"^AWSLambdaPowertoolsPython(?:V(?P<major>\d+))?(?:-|$)")
_FUNCTIONS = ("AWS::Serverless::Function", "AWS::Lambda::Function")


@dataclass(frozen=True)
class SharedLayer:
    """A layer ARN of another account, as a template names it."""

    arn: str
    account: str
    name: str
    version: int

    @property
    def requirement(self) -> str | None:
        """The PyPI requirement that builds this layer's content, if chaoskit knows one."""
        if self.account != POWERTOOLS_PYTHON_ACCOUNT:
            return None
        match = _POWERTOOLS_MAJOR.match(self.name)
        if match is None:
            return None
        major = int(match.group("major") or 1)
        return f"aws-lambda-powertools[all]>={major},<{major + 1}"


def parse_layer_arn(value: Any) -> SharedLayer | None:
    """Return the layer a ``Layers`` entry names, if it is a literal ARN or one ``Fn::Sub``.

    ``${AWS::Region}``, ``${AWS::Partition}`` and ``${AWS::AccountId}`` in a ``Fn::Sub``
    are read as any region, ``aws`` and this account (never another's).
    """
    text: Any = value
    if isinstance(value, Mapping) and set(value) == {"Fn::Sub"}:
        text = value["Fn::Sub"]
        text = text[0] if isinstance(text, list) and text else text
        if not isinstance(text, str):
            return None
        text = text.replace("${AWS::Region}", "us-east-1").replace("${AWS::Partition}", "aws")
        if "${" in text:
            return None  # another variable: not a literal account
    if not isinstance(text, str):
        return None
    match = _ARN.match(text.strip())
    if match is None:
        return None
    return SharedLayer(
        arn=text.strip(),
        account=match.group("account"),
        name=match.group("name"),
        version=int(match.group("version")),
    )


def replace_shared_layers(
    template: dict[str, Any],
    account: str,
    bucket: str,
    cache: Path,
    configuration: Mapping[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
    parameters: Mapping[str, Any] | None = None,
) -> list[str]:
    """Rewrite, in place, every layer of another account the template's functions name.

    Returns the warnings, one per layer left out (each also passed to ``progress``).
    """
    say = progress or (lambda _line: None)
    resources = template.get("Resources") or {}
    globals_fn = (template.get("Globals") or {}).get("Function") or {}
    shared_globals = _foreign(globals_fn.get("Layers"), account)
    warnings: list[str] = []
    built: dict[tuple[str, str, str], str] = {}
    for logical_id, resource in sorted(resources.items()):
        if not isinstance(resource, dict) or resource.get("Type") not in _FUNCTIONS:
            continue
        props = resource.setdefault("Properties", {})
        own = props.get("Layers")
        serverless = resource.get("Type") == "AWS::Serverless::Function"
        inherited = shared_globals and serverless
        if not _foreign(own, account) and not inherited:
            continue
        layers = [*(globals_fn.get("Layers") or [] if inherited else []), *(own or [])]
        runtime = artifacts.function_setting(
            props, globals_fn if serverless else {}, "Runtime", parameters or {}
        )
        arch = artifacts.function_setting(
            props, globals_fn if serverless else {}, "Architectures", parameters or {}
        )
        architecture = str((arch or ["x86_64"])[0])
        kept: list[Any] = []
        for entry in layers:
            layer = parse_layer_arn(entry)
            if layer is None or layer.account == account:
                kept.append(entry)
                continue
            requirement = layer.requirement
            if requirement and isinstance(runtime, str) and runtime.startswith("python3."):
                key = (requirement, runtime, architecture)
                if key not in built:
                    built[key] = _publish(
                        layer, requirement, runtime, architecture, bucket, cache,
                        configuration, say,
                    )  # fmt: skip
                say(f"layer {layer.arn} of function '{logical_id}' -> {built[key]}")
                kept.append(built[key])
                continue
            why = (
                f"layer {layer.arn} of function '{logical_id}' belongs to account "
                f"{layer.account}, which this target cannot fetch layers from: left out. "
                "Code that imports from it will fail (chaoskit then reports its runs "
                "inconclusive, naming the error); publish its content on the target and "
                "name that ARN instead to keep it"
            )
            warnings.append(why)
            say(f"warning: {why}")
        if kept:
            props["Layers"] = kept
        else:
            props.pop("Layers", None)
    if shared_globals:
        globals_fn.pop("Layers", None)
    return warnings


def _foreign(layers: Any, account: str) -> bool:
    if not isinstance(layers, list):
        return False
    return any((p := parse_layer_arn(e)) is not None and p.account != account for e in layers)


def _publish(
    layer: SharedLayer,
    requirement: str,
    runtime: str,
    architecture: str,
    bucket: str,
    cache: Path,
    configuration: Mapping[str, Any] | None,
    say: Callable[[str], None],
) -> str:
    """Build ``requirement`` as a layer for the runtime; publish it once; return its ARN."""
    cache.mkdir(parents=True, exist_ok=True)
    say(f"building {requirement} for {runtime} ({architecture}) in place of {layer.arn}")
    with tempfile.TemporaryDirectory(prefix="chaoskit-layer-", dir=cache) as tmp:
        requirements = Path(tmp) / "requirements.txt"
        requirements.write_text(requirement + "\n")
        installed = artifacts.install_requirements(requirements, runtime, architecture, cache)
    data = artifacts.zip_folder_under(installed, "python")
    digest = hashlib.sha256(data).hexdigest()
    name = f"chaoskit-{layer.name}"[:140]
    description = (
        f"chaoskit: in place of {layer.arn} for {runtime} ({architecture}); sha256 {digest}"
    )[:256]
    lam = aws.client("lambda", configuration)
    try:
        for page in lam.get_paginator("list_layer_versions").paginate(LayerName=name):
            for version in page.get("LayerVersions", []):
                if version.get("Description") == description:
                    return str(version["LayerVersionArn"])
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise aws_failure("lambda:ListLayerVersions", name, err) from err
    artifacts.ensure_bucket(bucket, configuration)
    key = artifacts.upload(data, bucket, ".zip", configuration)
    try:
        published = lam.publish_layer_version(
            LayerName=name,
            Description=description,
            Content={"S3Bucket": bucket, "S3Key": key},
            CompatibleRuntimes=[runtime],
            CompatibleArchitectures=[architecture],
        )
    except ClientError as err:
        raise aws_failure("lambda:PublishLayerVersion", name, err) from err
    return str(published["LayerVersionArn"])
