"""Package a template's local artifacts the way ``sam package`` does, and upload them.

A property that names a local path (relative to the template's folder) is
replaced by the S3 location of its upload:

- functions' code (``AWS::Serverless::Function`` ``CodeUri``, also from
  ``Globals``; ``AWS::Lambda::Function`` ``Code``) and layers' content
  (``ContentUri``, ``Content``): a folder is zipped; a function folder with a
  ``requirements.txt`` gets its requirements installed into the zip for the
  function's Python runtime and architecture; a SAM layer that ``sam build``
  builds for Python (``Metadata`` ``BuildMethod: python3.X``) is zipped under
  ``python/``, its ``requirements.txt`` installed there, as SAM CLI lays it out;
- definitions (``DefinitionUri`` of state machines and APIs,
  ``DefinitionS3Location``, ``BodyS3Location``): the file as it is;
- the ``Location`` of every ``Fn::Transform`` of ``AWS::Include``, anywhere in
  the template (an OpenAPI body kept in its own file): the file as it is.

Zips are reproducible (sorted entries, fixed timestamps), and every upload is
keyed by the SHA-256 of its bytes, so unchanged sources map to unchanged keys
and an unchanged template: the stack then has nothing to update. Installed
requirements are cached by requirements file, runtime and architecture.
"""

import copy
import hashlib
import io
import logging
import platform
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from chaoskit import aws
from chaoskit.deploy.exceptions import DeployFailed
from chaoskit.errors import BadInput, aws_failure

__all__ = [
    "Artifact",
    "ensure_bucket",
    "find_artifacts",
    "function_setting",
    "install_requirements",
    "package_template",
    "put_once",
    "upload",
    "zip_folder",
    "zip_folder_under",
]

logger = logging.getLogger("chaostoolkit.chaoskit")

#: resource type -> (property, kind, how the S3 location is written)
PROPERTIES: dict[str, tuple[tuple[str, str, str], ...]] = {
    "AWS::Serverless::Function": (("CodeUri", "code", "uri"),),
    "AWS::Serverless::LayerVersion": (("ContentUri", "zip", "uri"),),
    "AWS::Serverless::StateMachine": (("DefinitionUri", "file", "bucket_key"),),
    "AWS::Serverless::Api": (("DefinitionUri", "file", "uri"),),
    "AWS::Serverless::HttpApi": (("DefinitionUri", "file", "uri"),),
    "AWS::Lambda::Function": (("Code", "code", "s3_code"),),
    "AWS::Lambda::LayerVersion": (("Content", "zip", "s3_code"),),
    "AWS::StepFunctions::StateMachine": (("DefinitionS3Location", "file", "bucket_key"),),
    "AWS::ApiGateway::RestApi": (("BodyS3Location", "file", "bucket_key"),),
}
_SKIPPED_PARTS = ("__pycache__", ".git", ".aws-sam")
_EPOCH = (1980, 1, 1, 0, 0, 0)
KEY_PREFIX = "chaoskit-deploy"


@dataclass(frozen=True)
class Artifact:
    """One local path a template property names."""

    logical_id: str
    resource_type: str
    prop: str
    kind: str  # "code", "zip" or "file"
    style: str  # "uri", "bucket_key" or "s3_code"
    path: Path
    runtime: str | None
    architecture: str
    in_globals: bool = False
    #: A layer built for a runtime: the folder its content goes under in the zip.
    layer_folder: str | None = None


def _is_local(value: Any) -> bool:
    return isinstance(value, str) and not value.startswith(("s3://", "https://", "http://"))


def function_setting(
    props: Mapping[str, Any],
    globals_: Mapping[str, Any],
    key: str,
    parameters: Mapping[str, Any],
) -> Any:
    """Return a function's ``key`` (its own, else SAM's ``Globals``), a ``Ref`` read from
    ``parameters`` (``None`` when it has no value there)."""
    value = props.get(key, globals_.get(key))
    if isinstance(value, Mapping) and set(value) == {"Ref"}:
        return parameters.get(str(value["Ref"]))  # a parameter's value, else None
    return value


def _parameter_values(
    template: Mapping[str, Any], given: Mapping[str, Any] | None
) -> dict[str, Any]:
    values = {
        name: spec["Default"]
        for name, spec in (template.get("Parameters") or {}).items()
        if isinstance(spec, Mapping) and "Default" in spec
    }
    values.update(given or {})
    return values


def find_artifacts(
    template: Mapping[str, Any], base: Path, parameters: Mapping[str, Any] | None = None
) -> list[Artifact]:
    """Return every property of ``template`` that names a local path under ``base``.

    ``parameters`` (else the template's defaults) resolve a ``Runtime`` or
    ``Architectures`` given as ``!Ref Parameter``.

    Raises:
        BadInput: a named path does not exist.
    """
    values = _parameter_values(template, parameters)
    globals_fn = ((template.get("Globals") or {}).get("Function")) or {}
    found: list[Artifact] = []
    for logical_id, resource in (template.get("Resources") or {}).items():
        if not isinstance(resource, Mapping):
            continue
        rtype = str(resource.get("Type", ""))
        props = resource.get("Properties") or {}
        for prop, kind, style in PROPERTIES.get(rtype, ()):
            value, in_globals = props.get(prop), False
            if rtype == "AWS::Serverless::Function":
                if props.get("InlineCode") or _is_image(props, globals_fn, values):
                    continue
                if value is None:
                    value, in_globals = globals_fn.get(prop), True
                if value is None:  # SAM CLI packages the template's folder
                    value, in_globals = ".", False
            if not _is_local(value):
                continue
            path = (base / str(value)).resolve()
            if not path.exists():
                raise BadInput(
                    f"{prop} of resource '{logical_id}' names '{value}', which does not exist "
                    f"(paths are relative to the template's folder {base})"
                )
            runtime = function_setting(props, globals_fn, "Runtime", values)
            arch = function_setting(props, globals_fn, "Architectures", values) or ["x86_64"]
            layer_folder = None
            if kind == "code":
                _check_built(logical_id, resource, path, base, globals_fn, values)
            elif rtype == "AWS::Serverless::LayerVersion":
                runtime, layer_folder = _layer_build(logical_id, resource, path, base)
                arch = props.get("CompatibleArchitectures") or ["x86_64"]
            found.append(
                Artifact(
                    logical_id,
                    rtype,
                    prop,
                    kind,
                    style,
                    path,
                    str(runtime) if isinstance(runtime, str) else None,
                    str(arch[0]) if isinstance(arch, list) and arch else "x86_64",
                    in_globals,
                    layer_folder,
                )
            )
    return found


def _layer_build(
    logical_id: str, resource: Mapping[str, Any], path: Path, base: Path
) -> tuple[str | None, str | None]:
    """Return the runtime a SAM layer is built for and the folder its content goes under.

    ``sam build`` builds a layer with ``Metadata`` ``BuildMethod``: for ``python3.X`` it
    puts the folder's files and its installed ``requirements.txt`` under ``python/``,
    which chaoskit does too. A layer folder that already holds ``python/`` is taken as
    it is. A Node.js one (``nodejs*``) with a ``package.json`` and no ``nodejs/``, or a
    ``makefile`` one with its ``Makefile``, is refused: chaoskit builds neither, and
    deployed as it is no function would find the layer's packages.

    Raises:
        BadInput: naming the layer, what it lacks and what to run.
    """
    metadata = resource.get("Metadata")
    method = metadata.get("BuildMethod") if isinstance(metadata, Mapping) else None
    if not isinstance(method, str) or not path.is_dir():
        return None, None
    if method.startswith("python3."):
        return method, (None if (path / "python").is_dir() else "python")
    if method.startswith("nodejs"):
        unbuilt = (path / "package.json").is_file() and not (path / "nodejs").is_dir()
    else:
        unbuilt = method == "makefile" and (path / "Makefile").is_file()
    if not unbuilt:
        return None, None
    raise BadInput(
        f"layer '{logical_id}' is built by `sam build` (Metadata BuildMethod: {method}) and "
        f"its folder {path} is not: deployed as it is, its functions would not find its "
        f"packages. chaoskit deploy builds Python layers only: {_then_deploy_built(base)}"
    )


def _then_deploy_built(base: Path) -> str:
    """Say what to run for code that ``sam build`` builds, the app's folder being ``base``."""
    built = base / ".aws-sam" / "build" / "template.yaml"
    if built.is_file():
        return f"deploy the template it built, {built}"
    return f"run `sam build` in {base}, then deploy .aws-sam/build/template.yaml"


def _is_image(
    props: Mapping[str, Any], globals_: Mapping[str, Any], values: Mapping[str, Any]
) -> bool:
    return bool(
        function_setting(props, globals_, "PackageType", values) == "Image" or props.get("ImageUri")
    )


def _handler_files(handler: str, runtime: str) -> list[str]:
    """Return the files, relative to the code's root, one of which Lambda loads for
    ``handler`` (empty where the runtime does not say: Java, .NET, custom runtimes)."""
    module = handler.rsplit(".", 1)[0]
    if "." not in handler or not module:
        return []
    if runtime.startswith("nodejs"):
        return [f"{module}{ext}" for ext in (".js", ".mjs", ".cjs")]
    if runtime.startswith("python"):
        head, _, name = module.rpartition("/")
        dotted = "/".join(p for p in (head, name.replace(".", "/")) if p)
        return [f"{dotted}.py", f"{dotted}/__init__.py"]
    return []


def _check_built(
    logical_id: str,
    resource: Mapping[str, Any],
    path: Path,
    base: Path,
    globals_: Mapping[str, Any],
    values: Mapping[str, Any],
) -> None:
    """Refuse a function that ``sam build`` builds (``Metadata`` ``BuildMethod``:
    esbuild, makefile, ...) when its code folder lacks what its handler loads: deployed
    as it is, every invocation would fail to import the handler.

    Raises:
        BadInput: naming the build method, the missing file and what to run.
    """
    metadata = resource.get("Metadata")
    method = metadata.get("BuildMethod") if isinstance(metadata, Mapping) else None
    if not isinstance(method, str) or not path.is_dir():
        return
    props = resource.get("Properties") or {}
    handler = function_setting(props, globals_, "Handler", values)
    runtime = function_setting(props, globals_, "Runtime", values)
    if not isinstance(handler, str) or not isinstance(runtime, str):
        return
    provided = runtime.startswith("provided")
    wanted = ["bootstrap"] if provided else _handler_files(handler, runtime)
    if not wanted or any((path / name).is_file() for name in wanted):
        return
    raise BadInput(
        f"function '{logical_id}' is built by `sam build` (Metadata BuildMethod: {method}), "
        f"and its code folder {path} has no {' or '.join(wanted)} for Handler '{handler}' "
        f"({runtime}): deployed as it is, every invocation would fail to load it. "
        f"chaoskit deploy does not build code: {_then_deploy_built(base)}"
    )


def _includes(node: Any) -> Iterator[dict[str, Any]]:
    """Yield the ``Parameters`` of every ``AWS::Include`` transform under ``node``."""
    if isinstance(node, dict):
        transform = node.get("Fn::Transform")
        if isinstance(transform, dict) and transform.get("Name") == "AWS::Include":
            parameters = transform.get("Parameters")
            if isinstance(parameters, dict):
                yield parameters
        for value in node.values():
            yield from _includes(value)
    elif isinstance(node, list):
        for value in node:
            yield from _includes(value)


def _package_includes(
    packaged: dict[str, Any],
    base: Path,
    bucket: str,
    configuration: Mapping[str, Any] | None,
    say: Callable[[str], None],
) -> None:
    for parameters in _includes(packaged):
        location = parameters.get("Location")
        if not _is_local(location):
            continue
        path = (base / str(location)).resolve()
        if not path.is_file():
            raise BadInput(
                f"the Location '{location}' of an AWS::Include transform is not a file "
                f"(paths are relative to the template's folder {base})"
            )
        ensure_bucket(bucket, configuration)
        key = upload(path.read_bytes(), bucket, path.suffix, configuration)
        say(f"packaged {path} -> s3://{bucket}/{key}")
        parameters["Location"] = f"s3://{bucket}/{key}"


def _files(folder: Path) -> Iterator[tuple[str, Path]]:
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if any(part in _SKIPPED_PARTS for part in rel.parts) or path.suffix == ".pyc":
            continue
        if path.is_file():
            yield rel.as_posix(), path


def zip_folder(folders: list[Path]) -> bytes:
    """Return a reproducible zip of ``folders`` merged (a later folder's file wins)."""
    entries: dict[str, Path] = {}
    for folder in folders:
        entries.update(dict(_files(folder)))
    return _zip(entries)


def zip_folder_under(folder: Path, prefix: str) -> bytes:
    """Return a reproducible zip of ``folder`` with every entry under ``prefix/``.

    A layer's Python packages go under ``python/``, where Lambda puts them on the path.
    The requirements cache's own marker (``.complete``) is left out.
    """
    return _zip({f"{prefix}/{name}": path for name, path in _files(folder) if name != ".complete"})


def _zip(entries: Mapping[str, Path]) -> bytes:
    """Zip ``entries`` (name in the zip -> file) in name order, with fixed times, modes kept."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(entries):
            source = entries[name]
            mode = 0o755 if source.stat().st_mode & 0o111 else 0o644
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, source.read_bytes())
    return buffer.getvalue()


def _python_version(runtime: str | None) -> str | None:
    if runtime and runtime.startswith("python3."):
        return runtime.removeprefix("python")
    return None


def _pip_attempts(version: str, architecture: str, target: Path) -> list[list[str]]:
    """Return the pip commands to try, best first.

    A local interpreter of the runtime's version on a matching machine installs
    exactly what the function will import (source distributions too); failing
    that, pip of this interpreter fetches wheels for the runtime's version and
    Lambda's platform.
    """
    from chaoskit.sandbox.python import find_runtime_interpreters

    machine = {"amd64": "x86_64", "arm64": "aarch64"}.get(platform.machine().lower())
    machine = machine or platform.machine().lower()
    wanted = "aarch64" if architecture == "arm64" else "x86_64"
    common = ["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile"]
    common += ["--target", str(target)]
    attempts: list[list[str]] = []
    local = find_runtime_interpreters().get(version)
    if local and sys.platform.startswith("linux") and machine == wanted:
        attempts.append([local, *common])
    platform_flags = ["--platform", f"manylinux2014_{wanted}", "--implementation", "cp"]
    platform_flags += ["--python-version", version, "--only-binary=:all:"]
    attempts.append([sys.executable, *common, *platform_flags])
    return attempts


def install_requirements(requirements: Path, runtime: str, architecture: str, cache: Path) -> Path:
    """Install ``requirements`` for a runtime into a cached folder; return the folder.

    Raises:
        BadInput: the runtime is not a Python runtime.
        DeployFailed: pip could not install them.
    """
    version = _python_version(runtime)
    if version is None:
        raise BadInput(
            f"'{requirements}' needs a Python runtime to be installed for, got '{runtime}'"
        )
    digest = hashlib.sha256(requirements.read_bytes() + f"|{version}|{architecture}".encode())
    folder = cache / "requirements" / digest.hexdigest()[:24]
    if (folder / ".complete").is_file():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.parent.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    for command in _pip_attempts(version, architecture, folder):
        staging = Path(tempfile.mkdtemp(prefix="chaoskit-req-", dir=cache))
        cmd = [c if c != str(folder) else str(staging) for c in command]
        done = subprocess.run(
            [*cmd, "-r", str(requirements)], capture_output=True, text=True, check=False
        )
        if done.returncode == 0:
            staging.rename(folder)
            (folder / ".complete").write_text(runtime + "\n")
            return folder
        shutil.rmtree(staging, ignore_errors=True)
        lines = (done.stderr or done.stdout or "").strip().splitlines()
        errors.append(lines[-1] if lines else f"exit {done.returncode}")
    raise DeployFailed(
        f"could not install '{requirements}' for {runtime} ({architecture}): " + " | ".join(errors)
    )


def _artifact_bytes(artifact: Artifact, cache: Path, say: Callable[[str], None]) -> bytes:
    path = artifact.path
    if path.is_file():
        if artifact.kind == "file" or path.suffix in (".zip", ".jar"):
            return path.read_bytes()
        info = zipfile.ZipInfo(path.name, date_time=_EPOCH)
        info.external_attr = 0o100644 << 16
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(info, path.read_bytes())
        return buffer.getvalue()
    if artifact.kind == "file":
        raise BadInput(
            f"{artifact.prop} of resource '{artifact.logical_id}' names the folder '{path}': "
            "expected a file"
        )
    folders = [path]
    requirements = path / "requirements.txt"
    if artifact.layer_folder:
        if requirements.is_file():
            say(f"requirements {requirements} for layer {artifact.logical_id} ({artifact.runtime})")
            folders.append(
                install_requirements(
                    requirements, str(artifact.runtime), artifact.architecture, cache
                )
            )
        prefix = artifact.layer_folder
        return _zip(
            {f"{prefix}/{name}": file for folder in folders for name, file in _files(folder)
             if name != ".complete"}
        )  # fmt: skip
    if artifact.kind == "code" and requirements.is_file():
        if not _python_version(artifact.runtime):
            raise BadInput(
                f"resource '{artifact.logical_id}' has a requirements.txt but its Runtime is "
                f"'{artifact.runtime}': expected a Python runtime (python3.X) to install it for"
            )
        say(f"requirements {requirements} for {artifact.runtime} ({artifact.architecture})")
        folders.insert(
            0,
            install_requirements(requirements, str(artifact.runtime), artifact.architecture, cache),
        )
    return zip_folder(folders)


def ensure_bucket(bucket: str, configuration: Mapping[str, Any] | None = None) -> str:
    """Create the artifacts bucket unless it exists; return its name."""
    s3 = aws.client("s3", configuration)
    try:
        s3.head_bucket(Bucket=bucket)
        return bucket
    except ClientError as err:
        code = str(err.response.get("Error", {}).get("Code", ""))
        if code not in ("404", "NoSuchBucket", "NotFound"):
            raise aws_failure("s3:HeadBucket", bucket, err) from err
    region = aws.resolve_target(configuration).region
    kwargs: dict[str, Any] = {"Bucket": bucket}
    if region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        s3.create_bucket(**kwargs)
    except ClientError as err:
        raise aws_failure("s3:CreateBucket", bucket, err) from err
    return bucket


def upload(
    data: bytes, bucket: str, suffix: str, configuration: Mapping[str, Any] | None = None
) -> str:
    """Upload ``data`` under its content hash unless already there; return the key."""
    key = f"{KEY_PREFIX}/{hashlib.sha256(data).hexdigest()}{suffix}"
    put_once(bucket, key, lambda: data, configuration)
    return key


def put_once(
    bucket: str,
    key: str,
    data: Callable[[], bytes],
    configuration: Mapping[str, Any] | None = None,
) -> bool:
    """Upload ``data()`` to ``bucket``/``key`` unless the key is there; tell whether it uploaded.

    For keys that name their content (a hash): what is there already is the same.
    ``data`` is called only when the upload is needed (a zip need not be built).
    """
    s3 = aws.client("s3", configuration)
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return False
    except ClientError as err:
        code = str(err.response.get("Error", {}).get("Code", ""))
        if code not in ("404", "NoSuchKey", "NotFound"):
            raise aws_failure("s3:HeadObject", f"{bucket}/{key}", err) from err
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=data())
    except ClientError as err:
        raise aws_failure("s3:PutObject", f"{bucket}/{key}", err) from err
    return True


def _location(style: str, bucket: str, key: str) -> Any:
    if style == "uri":
        return f"s3://{bucket}/{key}"
    if style == "bucket_key":
        return {"Bucket": bucket, "Key": key}
    return {"S3Bucket": bucket, "S3Key": key}


def package_template(
    template: Mapping[str, Any],
    base: Path,
    bucket: str,
    cache: Path,
    configuration: Mapping[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
    parameters: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Return a copy of ``template`` with every local artifact uploaded to ``bucket``."""
    say = progress or (lambda _line: None)
    packaged = copy.deepcopy(dict(template))
    artifacts = find_artifacts(template, base, parameters)
    if artifacts:
        cache.mkdir(parents=True, exist_ok=True)
        ensure_bucket(bucket, configuration)
    done: dict[tuple[Path, str | None, str, str], str] = {}
    for artifact in artifacts:
        ident = (artifact.path, artifact.runtime, artifact.architecture, artifact.kind)
        if ident not in done:
            data = _artifact_bytes(artifact, cache, say)
            suffix = artifact.path.suffix if artifact.kind == "file" else ".zip"
            done[ident] = upload(data, bucket, suffix, configuration)
            say(f"packaged {artifact.path} -> s3://{bucket}/{done[ident]}")
        location = _location(artifact.style, bucket, done[ident])
        props = packaged["Resources"][artifact.logical_id].setdefault("Properties", {})
        # A function using Globals' CodeUri gets its own: each may need other requirements.
        props[artifact.prop] = location
    globals_fn = (packaged.get("Globals") or {}).get("Function") or {}
    if _is_local(globals_fn.get("CodeUri")):
        del globals_fn["CodeUri"]
    _package_includes(packaged, base, bucket, configuration, say)
    return packaged
