"""Deploy a CDK stack's template as ``cdk deploy`` would: its assets first, where it reads them.

A synthesized template names its code by bucket and key, not by a local path:
``cdk-hnb659fds-assets-${AWS::AccountId}-${AWS::Region}`` and ``<hash>.zip``.
``cdk deploy`` first publishes each file asset of the stack's asset manifest
there (a folder zipped, a file as it is; nested stacks' templates are file
assets too). :func:`prepare` does the same with the target's account, region
and partition, so the template deploys unchanged.

The bootstrap. On AWS those buckets, and the SSM parameter whose version the
template's ``CheckBootstrapVersion`` rule asserts, come from ``cdk bootstrap``:
an account without them is refused with that advice (creating the bucket would
make ``cdk bootstrap`` fail later). An emulator (the sandbox, LocalStack) has
no bootstrap: the bucket is created, and a missing version parameter is
dropped from the template together with the rules that read it, as one
progress line says. Container image assets cannot be published here and are
refused by name.
"""

from __future__ import annotations

import copy
import io
import zipfile
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from botocore.exceptions import ClientError

from chaoskit import aws
from chaoskit.deploy.artifacts import ensure_bucket, put_once, zip_folder
from chaoskit.errors import BadInput, aws_failure
from chaoskit.topology.cdk import CdkStack, FileAsset

__all__ = ["prepare"]


def _error_code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


def _environment(configuration: Mapping[str, Any] | None) -> dict[str, str]:
    try:
        identity = aws.client("sts", configuration).get_caller_identity()
    except ClientError as err:
        raise aws_failure("sts:GetCallerIdentity", "caller", err) from err
    arn = str(identity.get("Arn") or "arn:aws:")
    return {
        "${AWS::AccountId}": str(identity["Account"]),
        "${AWS::Region}": aws.resolve_target(configuration).region,
        "${AWS::Partition}": arn.split(":")[1] or "aws",
    }


def _resolve(text: str, environment: Mapping[str, str]) -> str:
    for placeholder, value in environment.items():
        text = text.replace(placeholder, value)
    return text


def _asset_bytes(asset: FileAsset) -> bytes:
    if not asset.source.exists():
        raise BadInput(
            f"CDK asset {asset.id}: '{asset.source}' does not exist: run 'cdk synth' again"
        )
    if asset.packaging == "file":
        return asset.source.read_bytes()
    if asset.source.is_dir():
        return zip_folder([asset.source])
    out = io.BytesIO()  # a single file packaged as a zip: the file at the archive's root
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo(asset.source.name, date_time=(1980, 1, 1, 0, 0, 0))
        info.external_attr = 0o644 << 16
        archive.writestr(info, asset.source.read_bytes())
    return out.getvalue()


def _bucket_ready(
    bucket: str,
    stack: CdkStack,
    configuration: Mapping[str, Any] | None,
    say: Callable[[str], None],
) -> None:
    target = aws.resolve_target(configuration)
    if target.is_local:
        ensure_bucket(bucket, configuration)
        return
    try:
        aws.client("s3", configuration).head_bucket(Bucket=bucket)
    except ClientError as err:
        if _error_code(err) not in ("404", "NoSuchBucket", "NotFound"):
            raise aws_failure("s3:HeadBucket", bucket, err) from err
        raise BadInput(
            f"CDK stack '{stack.stack_name}' reads its assets from bucket '{bucket}', which "
            f"{target.region} does not have: bootstrap the account first ('cdk bootstrap'), "
            "or deploy with 'cdk deploy'"
        ) from err
    say(f"using CDK's bootstrap bucket {bucket}")


def _reads(node: Any, parameter: str) -> bool:
    """Tell whether ``node`` refers to ``parameter`` (a ``Ref``, or a ``Fn::Sub`` naming it)."""
    if isinstance(node, Mapping):
        if node.get("Ref") == parameter:
            return True
        sub = node.get("Fn::Sub")
        if isinstance(sub, str) and "${" + parameter + "}" in sub:
            return True
        return any(_reads(v, parameter) for v in node.values())
    if isinstance(node, list):
        return any(_reads(v, parameter) for v in node)
    return False


def _without_bootstrap_check(
    template: dict[str, Any],
    stack: CdkStack,
    configuration: Mapping[str, Any] | None,
    say: Callable[[str], None],
) -> dict[str, Any]:
    ssm_name = stack.bootstrap_parameter
    params = template.get("Parameters") or {}
    names = [
        name
        for name, decl in params.items()
        if isinstance(decl, Mapping)
        and str(decl.get("Type", "")).startswith("AWS::SSM::Parameter::Value")
        and decl.get("Default") == ssm_name
    ]
    if not ssm_name or not names:
        return template
    try:
        aws.client("ssm", configuration).get_parameter(Name=ssm_name)
        return template
    except ClientError as err:
        if _error_code(err) != "ParameterNotFound":
            raise aws_failure("ssm:GetParameter", ssm_name, err) from err
    target = aws.resolve_target(configuration)
    if not target.is_local:
        raise BadInput(
            f"CDK stack '{stack.stack_name}' checks the bootstrap version in SSM parameter "
            f"'{ssm_name}', which {target.region} does not have: bootstrap the account first "
            "('cdk bootstrap'), or deploy with 'cdk deploy'"
        )
    changed = copy.deepcopy(template)
    for name in names:
        del changed["Parameters"][name]
        rules = changed.get("Rules") or {}
        for rule in [r for r, body in rules.items() if _reads(body, name)]:
            del rules[rule]
        if "Rules" in changed and not changed["Rules"]:
            del changed["Rules"]
        if _reads(changed, name):
            raise BadInput(
                f"CDK stack '{stack.stack_name}' reads parameter '{name}' (SSM '{ssm_name}') "
                f"outside its rules, and {target.name} has no CDK bootstrap: create that SSM "
                "parameter on the target first"
            )
    say(
        f"{target.name} has no CDK bootstrap (no SSM parameter {ssm_name}): deploying without "
        f"the template's bootstrap version check ({', '.join(names)})"
    )
    return changed


def prepare(
    template: dict[str, Any],
    stack: CdkStack,
    configuration: Mapping[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Publish the stack's file assets; return the template to deploy.

    Raises:
        BadInput: the stack has container image assets, an asset's source is
            missing, or an AWS account is not bootstrapped for CDK.
    """
    say = progress or (lambda _line: None)
    if stack.images:
        raise BadInput(
            f"CDK stack '{stack.stack_name}' has container image assets "
            f"({', '.join(stack.images)}): chaoskit deploy publishes file assets only; "
            "deploy this stack with 'cdk deploy'"
        )
    environment = _environment(configuration)
    ready: set[str] = set()
    published = 0
    own = stack.template.resolve()
    for asset in stack.files:
        if asset.source == own:  # the stack's own template: deployed from its body
            continue
        bucket = _resolve(asset.bucket, environment)
        key = _resolve(asset.key, environment)
        if bucket not in ready:
            _bucket_ready(bucket, stack, configuration, say)
            ready.add(bucket)
        if put_once(bucket, key, partial(_asset_bytes, asset), configuration):
            published += 1
            say(f"published CDK asset {asset.source.name} -> s3://{bucket}/{key}")
    if stack.files and not published:
        say(f"CDK assets of '{stack.stack_name}' already published")
    return _without_bootstrap_check(template, stack, configuration, say)
