"""Deploy any CloudFormation or SAM template onto any target: ``chaoskit deploy --template``.

:func:`deploy_template` packages the template's local artifacts (code folders,
with each function's ``requirements.txt`` installed; definition files) into a
bucket on the target, creates or updates the stack through a change set,
reports the stack's events while it waits, and returns the stack's outputs and
a logical-ID -> physical-ID map. A second call with nothing changed changes
nothing. The same code runs against the sandbox, any LocalStack and AWS: every
client comes from :mod:`chaoskit.aws`.

Example::

    from chaoskit.deploy import deploy_template
    result = deploy_template("app/template.yaml", stack_name="my-app",
                             parameters={"Stage": "test"},
                             configuration={"chaoskit_target": "sandbox"})
    result["outputs"]["ApiUrl"], result["resources"]["OrdersQueue"]
"""

import re
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml
from botocore.exceptions import ClientError, EndpointConnectionError

from chaoskit import aws
from chaoskit.deploy import artifacts, cdk_assets, shared_layers, stack, template
from chaoskit.deploy.exceptions import DeployFailed
from chaoskit.errors import BadInput, aws_failure
from chaoskit.topology import cdk

__all__ = [
    "DeployFailed",
    "app_folder",
    "artifacts_bucket",
    "default_stack_name",
    "deploy_template",
    "read_stack",
    "template_file",
]

read_stack = stack.read_stack

#: CloudFormation accepts a template body up to this size; larger ones go through S3.
MAX_BODY = 51_200


def template_file(template_path: str | Path) -> Path:
    """Return the template to deploy: the path itself, or a CDK ``cdk.out``'s one stack template.

    Raises:
        BadInput: a folder that is no cloud assembly, or holds several stacks.
    """
    path = Path(template_path)
    return cdk.stack_template(path) if path.is_dir() else path


def default_stack_name(template_path: str | Path) -> str:
    """Return the stack name for a template, made valid for CloudFormation.

    A CDK stack's template (in its ``cdk.out``) gets the stack's name; a SAM app's the
    ``stack_name`` of its ``samconfig`` (``default`` environment), as ``sam deploy``
    names it; any other template its folder's name, where ``sam build``'s output
    (``.aws-sam/build/template.yaml``) counts as the app's folder.
    """
    path = template_file(template_path)
    return _stack_name_for(path, cdk.cdk_stack(path))


def app_folder(path: Path) -> Path:
    """Return the folder of the app a template belongs to (above ``.aws-sam/build``)."""
    folder = path.resolve().parent
    if folder.name == "build" and folder.parent.name == ".aws-sam":
        return folder.parent.parent
    return folder


def _samconfig_stack_name(folder: Path) -> str | None:
    """Return ``stack_name`` of the ``default`` environment of a SAM app's samconfig."""
    for name in ("samconfig.toml", "samconfig.yaml", "samconfig.yml"):
        file = folder / name
        if not file.is_file():
            continue
        try:
            text = file.read_text()
            config = tomllib.loads(text) if name.endswith(".toml") else yaml.safe_load(text)
        except (OSError, ValueError, yaml.YAMLError):
            continue
        default = config.get("default") if isinstance(config, dict) else None
        for command in ("deploy", "global"):
            section = default.get(command) if isinstance(default, dict) else None
            params = section.get("parameters") if isinstance(section, dict) else None
            value = params.get("stack_name") if isinstance(params, dict) else None
            if isinstance(value, str) and value:
                return value
    return None


def _stack_name_for(path: Path, assembly: cdk.CdkStack | None) -> str:
    if assembly:
        folder = assembly.stack_name
    else:
        app = app_folder(path)
        folder = _samconfig_stack_name(app) or app.name
    name = re.sub(r"[^A-Za-z0-9-]", "-", folder).strip("-")
    if not name or not name[0].isalpha():
        name = f"app-{name}".strip("-")
    return name[:128]


def _account(configuration: Mapping[str, Any] | None) -> str:
    try:
        return str(aws.client("sts", configuration).get_caller_identity()["Account"])
    except ClientError as err:
        raise aws_failure("sts:GetCallerIdentity", "caller", err) from err


def artifacts_bucket(configuration: Mapping[str, Any] | None = None) -> str:
    """Return the name of the bucket chaoskit uploads artifacts to: one per account and region."""
    target = aws.resolve_target(configuration)
    return f"chaoskit-artifacts-{_account(configuration)}-{target.region}"


def _template_source(
    body: str, bucket: str, configuration: Mapping[str, Any] | None
) -> dict[str, str]:
    if len(body.encode()) <= MAX_BODY:
        return {"TemplateBody": body}
    artifacts.ensure_bucket(bucket, configuration)
    key = artifacts.upload(body.encode(), bucket, ".template.json", configuration)
    target = aws.resolve_target(configuration)
    if target.endpoint_url:
        return {"TemplateURL": f"{target.endpoint_url.rstrip('/')}/{bucket}/{key}"}
    return {"TemplateURL": f"https://{bucket}.s3.{target.region}.amazonaws.com/{key}"}


def _cache_dir() -> Path:
    from chaoskit.sandbox.paths import cache_dir

    return cache_dir() / "deploy"


def deploy_template(
    template_path: str | Path,
    stack_name: str | None = None,
    parameters: Mapping[str, str] | None = None,
    configuration: Mapping[str, Any] | None = None,
    bucket: str | None = None,
    progress: Callable[[str], None] | None = None,
    timeout: float = 3600.0,
) -> dict[str, Any]:
    """Package and deploy a template; return the stack's outputs and resources.

    Args:
        template_path: a CloudFormation or SAM template (YAML or JSON), or a
            CDK stack's template in its ``cdk.out`` (its assets are published
            first, as ``cdk deploy`` does), or a ``cdk.out`` holding one stack.
            Local paths in it are relative to its folder.
        stack_name: the stack (default: the CDK stack's name, else the
            template folder's name).
        parameters: template parameter values. Parameters not given take the
            template's default; one without a default keeps the stack's value.
        configuration: the target (``chaoskit_target``, ``chaoskit_endpoint_url``,
            ``aws_region``, ``aws_profile_name``...), as for every chaoskit action.
        bucket: where artifacts go (default ``chaoskit-artifacts-<account>-<region>``,
            created if missing).
        progress: called with each progress line (packaging, changes, stack events).
        timeout: how long to wait for the stack, in seconds.

    Returns:
        :func:`read_stack`'s document plus ``"changed"`` (whether the stack
        changed), ``"target"`` and ``"template"``.

    Raises:
        BadInput: the template is missing or invalid, a parameter is unknown or
            missing, a local path it names does not exist.
        DeployFailed: packaging or the stack failed; the message names the
            failing resource and its reason.
    """
    path = template_file(template_path)
    loaded = template.load_template(path)
    assembly = cdk.cdk_stack(path)
    name = stack_name or _stack_name_for(path, assembly)
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9-]{0,127}", name):
        raise BadInput(
            f"invalid stack name '{name}': letters, digits and hyphens, starting with a letter"
        )
    given: dict[str, str | None] = dict(parameters or {})
    target = aws.resolve_target(configuration)
    try:
        existing = stack.stack_status(name, configuration)
    except EndpointConnectionError as err:
        hint = "start it with 'chaoskit sandbox up'" if target.name == "sandbox" else ""
        raise BadInput(
            f"nothing answers at {target.endpoint_url or 'the AWS endpoint'} "
            f"(target '{target.name}'){': ' + hint if hint else ''}"
        ) from err
    previous = [str(p["ParameterKey"]) for p in (existing or {}).get("Parameters", [])]
    template.check_parameters(
        loaded, {k: str(v) for k, v in given.items()}, previous, source=f"template '{path}'"
    )
    declared = loaded.get("Parameters") or {}
    keep: dict[str, str | None] = {
        k: None
        for k in previous
        if k in declared and k not in given and "Default" not in (declared[k] or {})
    }
    say = progress or (lambda _line: None)
    say(f"deploying {path} as stack '{name}' on {target.name} ({target.region})")
    bucket_name = bucket or artifacts_bucket(configuration)
    previous_values = {
        str(p["ParameterKey"]): p.get("ParameterValue")
        for p in (existing or {}).get("Parameters", [])
        if p["ParameterKey"] in keep
    }
    if assembly is not None:
        loaded = cdk_assets.prepare(loaded, assembly, configuration, say)
    packaged = artifacts.package_template(
        loaded,
        path.resolve().parent,
        bucket_name,
        _cache_dir(),
        configuration,
        say,
        parameters={**previous_values, **given},
    )
    if target.name != "aws":
        # LocalStack Community cannot fetch another account's layers: the stack would
        # roll back. Build the known ones here; leave out, with a warning, the others.
        shared_layers.replace_shared_layers(
            packaged,
            _account(configuration),
            bucket_name,
            _cache_dir(),
            configuration,
            say,
            parameters={**previous_values, **given},
        )
    source = _template_source(template.dump_template(packaged), bucket_name, configuration)
    changed = stack.apply_change_set(
        name, source, {**given, **keep}, configuration, say, timeout=timeout
    )
    result = stack.read_stack(name, configuration)
    for logical in result["not_emulated"]:
        say(
            f"warning: {result['resource_types'][logical]} '{logical}' is not emulated by "
            f"{target.name}: it was skipped"
        )
    return {**result, "changed": changed, "target": target.name, "template": str(path)}
