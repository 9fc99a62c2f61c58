"""A CDK cloud assembly (``cdk.out``), read from its files: which stack a template is, its assets.

``cdk synth`` writes, beside each stack's ``<Stack>.template.json``, a
``manifest.json`` naming the stacks (their CloudFormation names, the bootstrap
version they require) and an asset manifest ``<Stack>.assets.json``: each file
asset's source in the assembly (a folder to zip, or a file as it is) and the
bucket and key the template reads it from, such as
``cdk-hnb659fds-assets-${AWS::AccountId}-${AWS::Region}`` and ``<hash>.zip``. A
function's ``Code`` then names that bucket and key, with no local path left, and
carries ``aws:asset:path`` metadata only when the CDK CLI synthesized it.

:func:`cdk_stack` reads those facts for one template, with no AWS call:
``chaoskit deploy`` publishes the assets where the template expects them,
and the topology finds each function's code folder from its ``S3Key``.

Example::

    stack = cdk_stack("cdk.out/OrdersStack.template.json")
    stack.stack_name, [a.source for a in stack.files]
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaoskit.inputs import read_text
from chaoskit.topology.exceptions import TemplateError

__all__ = ["CdkStack", "FileAsset", "asset_code_folders", "cdk_stack", "stack_template"]

MANIFEST = "manifest.json"
STACK = "aws:cloudformation:stack"
ASSET_MANIFEST = "cdk:asset-manifest"


@dataclass(frozen=True)
class FileAsset:
    """One file asset: what to publish (``source``, zipped if ``packaging`` is zip) and where."""

    id: str
    source: Path
    packaging: str
    bucket: str  # may hold ${AWS::AccountId}, ${AWS::Region}, ${AWS::Partition}
    key: str


@dataclass(frozen=True)
class CdkStack:
    """A stack of a cloud assembly: its name, template, assets and bootstrap check."""

    artifact_id: str
    stack_name: str
    template: Path
    files: tuple[FileAsset, ...]
    images: tuple[str, ...]  # container image assets: "<id> (<directory>)"
    bootstrap_parameter: str | None  # the SSM parameter holding the bootstrap version


def _json(path: Path, what: str) -> dict[str, Any]:
    try:
        loaded = json.loads(read_text(path, what))
    except ValueError as err:
        raise TemplateError(f"{what} '{path}' is not valid JSON: {err}") from err
    if not isinstance(loaded, dict):
        raise TemplateError(f"{what} '{path}' is not a JSON object")
    return loaded


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _stacks(manifest: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    artifacts = _mapping(manifest.get("artifacts"))
    return {
        str(aid): _mapping(art)
        for aid, art in artifacts.items()
        if _mapping(art).get("type") == STACK
    }


def _assets(folder: Path, file: Path) -> tuple[tuple[FileAsset, ...], tuple[str, ...]]:
    where = f"CDK asset manifest '{file}'"
    loaded = _json(file, "CDK asset manifest")
    files: list[FileAsset] = []
    for aid, entry in _mapping(loaded.get("files")).items():
        source = _mapping(_mapping(entry).get("source"))
        if "path" not in source:
            raise TemplateError(
                f"{where}: file asset {aid} has no source path (one built by a command, "
                f"{source.get('executable')}, is not supported): expected source.path"
            )
        packaging = str(source.get("packaging") or "file")
        if packaging not in ("zip", "file"):
            raise TemplateError(
                f"{where}: file asset {aid} has packaging '{packaging}': expected 'zip' or 'file'"
            )
        for dest in _mapping(_mapping(entry).get("destinations")).values():
            dest = _mapping(dest)
            if not dest.get("bucketName") or not dest.get("objectKey"):
                raise TemplateError(
                    f"{where}: a destination of file asset {aid} has no bucketName or objectKey"
                )
            files.append(
                FileAsset(
                    id=str(aid),
                    source=(folder / str(source["path"])).resolve(),
                    packaging=packaging,
                    bucket=str(dest["bucketName"]),
                    key=str(dest["objectKey"]),
                )
            )
    images = tuple(
        f"{aid} ({_mapping(_mapping(entry).get('source')).get('directory', '?')})"
        for aid, entry in _mapping(loaded.get("dockerImages")).items()
    )
    return tuple(files), images


def cdk_stack(template: str | Path) -> CdkStack | None:
    """Return the stack ``template`` is in its cloud assembly, or None if it is not in one.

    A template is in a cloud assembly when a ``manifest.json`` beside it names
    it as a stack's ``templateFile``.

    Raises:
        TemplateError: the manifest or an asset manifest is unreadable or malformed.
    """
    path = Path(template)
    folder = path.resolve().parent
    manifest_file = folder / MANIFEST
    if not manifest_file.is_file():
        return None
    manifest = _json(manifest_file, "CDK cloud assembly manifest")
    artifacts = _mapping(manifest.get("artifacts"))
    for aid, art in _stacks(manifest).items():
        props = _mapping(art.get("properties"))
        if (folder / str(props.get("templateFile", ""))).resolve() != path.resolve():
            continue
        files: tuple[FileAsset, ...] = ()
        images: tuple[str, ...] = ()
        for dep in art.get("dependencies") or []:
            dep_art = _mapping(artifacts.get(dep))
            if dep_art.get("type") != ASSET_MANIFEST:
                continue
            more_files, more_images = _assets(
                folder, folder / str(_mapping(dep_art.get("properties")).get("file"))
            )
            files += more_files
            images += more_images
        parameter = props.get("bootstrapStackVersionSsmParameter")
        return CdkStack(
            artifact_id=aid,
            stack_name=str(props.get("stackName") or aid),
            template=path,
            files=files,
            images=images,
            bootstrap_parameter=str(parameter) if parameter else None,
        )
    return None


def stack_template(folder: str | Path) -> Path:
    """Return the one stack template of a cloud assembly folder (``cdk.out``).

    Raises:
        TemplateError: the folder is no cloud assembly, or holds several stacks
            (the message lists their templates).
    """
    base = Path(folder)
    manifest_file = base / MANIFEST
    if not manifest_file.is_file():
        raise TemplateError(
            f"'{folder}' is a folder without '{MANIFEST}': expected a template file, "
            "or a CDK cloud assembly (cdk.out)"
        )
    stacks = _stacks(_json(manifest_file, "CDK cloud assembly manifest"))
    templates = [
        base / str(_mapping(art.get("properties")).get("templateFile", ""))
        for art in stacks.values()
    ]
    if len(templates) != 1:
        listed = ", ".join(str(t) for t in templates) or "none"
        raise TemplateError(
            f"CDK cloud assembly '{folder}' holds {len(templates)} stacks ({listed}): "
            "pass one stack's template"
        )
    return templates[0]


def _sub_bucket(value: Any) -> str | None:
    """The bucket expression of ``{"Fn::Sub": "..."}`` (how CDK writes an asset's bucket)."""
    if (
        isinstance(value, Mapping)
        and set(value) == {"Fn::Sub"}
        and isinstance(value["Fn::Sub"], str)
    ):
        return value["Fn::Sub"]
    return value if isinstance(value, str) else None


def asset_code_folders(stack: CdkStack, resources: Mapping[str, Any]) -> dict[str, str]:
    """Map each function whose ``Code`` is a zip asset of ``stack`` to that asset's folder."""
    by_location = {(a.bucket, a.key): a for a in stack.files if a.packaging == "zip"}
    found: dict[str, str] = {}
    for lid, res in resources.items():
        if not isinstance(res, Mapping) or res.get("Type") != "AWS::Lambda::Function":
            continue
        code = _mapping(_mapping(res.get("Properties")).get("Code"))
        asset = by_location.get((_sub_bucket(code.get("S3Bucket")) or "", str(code.get("S3Key"))))
        if asset is not None and asset.source.is_dir():
            found[str(lid)] = str(asset.source)
    return found
