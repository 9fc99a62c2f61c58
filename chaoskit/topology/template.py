"""Load SAM/CloudFormation templates and CDK ``cdk.out`` folders, offline.

Templates are decoded by cfn-lint's decoder (YAML short-form tags, JSON, line
marks); SAM templates are expanded by aws-sam-translator (Globals, implicit
resources, events) with local code and definition paths kept aside, so no
AWS call is ever made.
"""

import copy
import json
import logging
from pathlib import Path
from typing import Any

from chaoskit.inputs import read_text
from chaoskit.topology.build import build
from chaoskit.topology.cdk import asset_code_folders, cdk_stack
from chaoskit.topology.exceptions import TemplateError
from chaoskit.topology.model import Topology

__all__ = ["load_template", "load_templates", "read_document"]

SAM_TRANSFORM = "AWS::Serverless-2016-10-31"
_PLACEHOLDER_CODE = "s3://chaoskit-offline/code.zip"


def read_document(path: Path, what: str = "template") -> Any:
    """Decode a YAML or JSON file with line marks (cfn-lint's decoder).

    Args:
        path: the file.
        what: what the file is, for error messages (template, state machine definition...).
    """
    from cfnlint.decode import decode

    if not path.is_file():
        raise TemplateError(f"{what} '{path}' does not exist or is not a file")
    read_text(path, what)  # size cap and UTF-8 first: the decoder prints its own errors
    try:
        document, matches = decode(str(path))
    except RecursionError as err:
        raise TemplateError(f"could not read '{path}': nested too deeply") from err
    if matches:
        first = matches[0]
        raise TemplateError(f"could not read '{path}': {first.message} (line {first.linenumber})")
    if not isinstance(document, dict):
        raise TemplateError(f"could not read '{path}': expected a mapping at the top level")
    return document


def _plain(node: Any) -> Any:
    return json.loads(json.dumps(node, default=str))


def _line(node: Any) -> int:
    mark = getattr(node, "start_mark", None)
    return int(getattr(mark, "line", -1)) + 1 if mark is not None else 0


def _lines(document: dict[str, Any]) -> dict[str, tuple[int, dict[str, int]]]:
    out: dict[str, tuple[int, dict[str, int]]] = {}
    resources = document.get("Resources") or {}
    if not isinstance(resources, dict):
        raise TemplateError("'Resources' must be a mapping of logical IDs to resources")
    for lid, resource in resources.items():
        props: dict[str, int] = {}
        if isinstance(resource, dict) and isinstance(resource.get("Properties"), dict):
            for key in resource["Properties"]:
                props[str(key)] = _line(key)
            events = resource["Properties"].get("Events")
            if isinstance(events, dict):  # SAM: each event generates elements of its own
                for name in events:
                    props[f"Events/{name}"] = _line(name)
        out[str(lid)] = (_line(lid) or _line(resource), props)
    return out


def _is_local(uri: Any) -> bool:
    return isinstance(uri, str) and not uri.startswith(("s3://", "https://", "http://"))


def _definition(path: Path) -> tuple[dict[str, Any], Any]:
    node = read_document(path, "state machine definition")
    return _plain(node), node


def _prepare_sam(
    template: dict[str, Any], base: Path
) -> tuple[dict[str, str], dict[str, tuple[dict[str, Any], str, Any]]]:
    """Keep local paths aside and replace them with placeholders SAM accepts."""
    code_dirs: dict[str, str] = {}
    definitions: dict[str, tuple[dict[str, Any], str, Any]] = {}
    globals_fn = (
        ((template.get("Globals") or {}).get("Function") or {})
        if isinstance(template.get("Globals"), dict)
        else {}
    )
    global_code = globals_fn.get("CodeUri")
    if _is_local(global_code):
        globals_fn["CodeUri"] = _PLACEHOLDER_CODE
    for lid, res in list((template.get("Resources") or {}).items()):
        if not isinstance(res, dict):
            continue
        kind = res.get("Type")
        props = res.setdefault("Properties", {}) or {}
        res["Properties"] = props
        if kind == "AWS::Serverless::Function":
            uri = props.get("CodeUri", global_code)
            if _is_local(uri):
                code_dirs[lid] = str((base / str(uri)).resolve())
                props["CodeUri"] = _PLACEHOLDER_CODE
            if props.get("PackageType") == "Image" and "ImageUri" not in props:
                props["ImageUri"] = "123456789012.dkr.ecr.us-east-1.amazonaws.com/offline:latest"
            elif "CodeUri" not in props and "InlineCode" not in props and not global_code:
                # No CodeUri: SAM builds from the template's own folder (an esbuild
                # function names its entry points in Metadata, relative to it).
                code_dirs[lid] = str(base.resolve())
                props["CodeUri"] = _PLACEHOLDER_CODE
        elif kind == "AWS::Serverless::LayerVersion" and _is_local(props.get("ContentUri")):
            props["ContentUri"] = _PLACEHOLDER_CODE
        elif kind == "AWS::Serverless::StateMachine":
            uri = props.get("DefinitionUri")
            if _is_local(uri):
                file = (base / str(uri)).resolve()
                plain, node = _definition(file)
                definitions[lid] = (plain, str(file), node)
                props.pop("DefinitionUri")
                props["Definition"] = plain
            elif isinstance(props.get("Definition"), dict):
                definitions[lid] = (props["Definition"], "", None)
        elif kind == "AWS::StepFunctions::StateMachine" and isinstance(
            props.get("DefinitionS3Location"), str
        ):
            # A local file that `aws cloudformation package` (and chaoskit deploy) uploads.
            uri = props["DefinitionS3Location"]
            if _is_local(uri):
                file = (base / uri).resolve()
                plain, node = _definition(file)
                definitions[lid] = (plain, str(file), node)
        elif kind in ("AWS::Serverless::Api", "AWS::Serverless::HttpApi"):
            _inline_api_definition(props, base, kind)
        elif kind == "AWS::Serverless::Application":
            # nested applications are other templates: not expanded offline
            del template["Resources"][lid]
    return code_dirs, definitions


def _api_stub(kind: str) -> dict[str, Any]:
    if kind == "AWS::Serverless::HttpApi":
        return {"openapi": "3.0.1", "info": {"title": "api", "version": "1"}, "paths": {}}
    return {"swagger": "2.0", "info": {"title": "api", "version": "1"}, "paths": {}}


def _inline_api_definition(props: dict[str, Any], base: Path, kind: str) -> None:
    """Replace a local OpenAPI file (``DefinitionUri``, ``AWS::Include``) by its content.

    SAM adds routes and authorizers to the definition it is given; a file it
    cannot read offline becomes an empty document, which is all the audit needs.
    """
    uri = props.get("DefinitionUri")
    body = props.get("DefinitionBody")
    include = body.get("Fn::Transform") if isinstance(body, dict) else None
    if isinstance(include, dict) and include.get("Name") == "AWS::Include":
        uri = (include.get("Parameters") or {}).get("Location")
        props.pop("DefinitionBody")
    elif not _is_local(uri):
        return
    props.pop("DefinitionUri", None)
    document: Any = None
    if _is_local(uri) and (base / str(uri)).is_file():
        try:
            document = _plain(read_document(base / str(uri), "API definition"))
        except TemplateError:
            document = None
    props["DefinitionBody"] = document if isinstance(document, dict) else _api_stub(kind)


def _parameters(template: dict[str, Any], given: dict[str, Any] | None) -> dict[str, Any]:
    params = {
        str(k): v.get("Default")
        for k, v in (template.get("Parameters") or {}).items()
        if isinstance(v, dict)
    }
    params.update(given or {})
    return params


def _expand_sam(template: dict[str, Any], params: dict[str, Any], path: Path) -> dict[str, Any]:
    import boto3
    from samtranslator.model.exceptions import InvalidDocumentException
    from samtranslator.parser import parser
    from samtranslator.translator.translator import Translator

    # A session with a region and no credentials: the translator only reads
    # the region name from it; the empty policy map stops IAM look-ups.
    session = boto3.session.Session(region_name="us-east-1")
    translator = Translator(managed_policy_map={}, sam_parser=parser.Parser(), boto_session=session)
    values = {k: v for k, v in params.items() if v is not None}
    # the translator logs feature-toggle notices at INFO/WARNING on every run
    logging.getLogger("samtranslator").setLevel(logging.ERROR)
    try:
        expanded: dict[str, Any] = translator.translate(
            sam_template=template, parameter_values=values
        )
    except InvalidDocumentException as err:
        causes = "; ".join(str(getattr(e, "message", e)) for e in err.causes) or str(err)
        raise TemplateError(f"could not expand the SAM template '{path}': {causes}") from err
    except Exception as err:  # samtranslator raises many types on bad input
        raise TemplateError(f"could not expand the SAM template '{path}': {err}") from err
    return expanded


def _transforms(template: dict[str, Any]) -> list[str]:
    declared = template.get("Transform") or []
    return [
        t for t in (declared if isinstance(declared, list) else [declared]) if isinstance(t, str)
    ]


def _load_file(path: Path, parameters: dict[str, Any] | None) -> Topology:
    node = read_document(path)
    source = _plain(node)
    lines = _lines(node)
    params = _parameters(source, parameters)
    code_dirs: dict[str, str] = {}
    definitions: dict[str, tuple[dict[str, Any], str, Any]] = {}
    expanded = copy.deepcopy(source)
    # a template without resources (a CDK placeholder) has nothing to expand
    if SAM_TRANSFORM in _transforms(source) and source.get("Resources"):
        code_dirs, definitions = _prepare_sam(expanded, path.parent)
        if expanded.get("Resources"):  # nested applications alone leave nothing
            expanded = _expand_sam(expanded, params, path)
    for lid, res in (expanded.get("Resources") or {}).items():
        if not isinstance(res, dict) or res.get("Type") != "AWS::Lambda::Function":
            continue
        meta = res.get("Metadata") or {}
        code = (res.get("Properties") or {}).get("Code")
        if meta.get("aws:asset:property") == "Code" and meta.get("aws:asset:path"):
            # relative to the (nested) cloud assembly the template is in
            code_dirs.setdefault(lid, str((path.parent / str(meta["aws:asset:path"])).resolve()))
        elif _is_local(code):
            code_dirs.setdefault(lid, str((path.parent / str(code)).resolve()))
    assembly = cdk_stack(path)  # the CDK CLI alone writes the metadata; the asset manifest says it
    if assembly is not None:
        for lid, folder in asset_code_folders(assembly, expanded.get("Resources") or {}).items():
            code_dirs.setdefault(lid, folder)
    return build(
        expanded,
        source=source,
        file=str(path),
        lines=lines,
        parameters=params,
        code_dirs=code_dirs,
        definitions=definitions,
    )


def _cdk_templates(folder: Path) -> list[Path]:
    found = sorted(folder.glob("*.template.json")) + sorted(folder.glob("*/*.template.json"))
    return [p for p in found if p.is_file()]


def load_templates(path: str | Path, parameters: dict[str, Any] | None = None) -> list[Topology]:
    """Load a template file, or every stack template of a CDK ``cdk.out`` folder.

    Args:
        path: a SAM/CloudFormation template (YAML or JSON) or a ``cdk.out`` folder.
        parameters: template parameter values (default: each parameter's Default).

    Returns:
        One :class:`Topology` per template.

    Raises:
        TemplateError: the file is missing, unreadable or not a template.
    """
    target = Path(path)
    if target.is_dir():
        templates = _cdk_templates(target)
        if not templates:
            raise TemplateError(
                f"folder '{target}' holds no '*.template.json': expected a CDK cdk.out folder"
            )
        return [_load_file(t, parameters) for t in templates]
    return [_load_file(target, parameters)]


def load_template(path: str | Path, parameters: dict[str, Any] | None = None) -> Topology:
    """Load one SAM/CloudFormation template (or a ``cdk.out`` with one stack) offline.

    Args:
        path: the template file, or a ``cdk.out`` folder holding one stack.
        parameters: template parameter values (default: each parameter's Default).

    Raises:
        TemplateError: unreadable, or a ``cdk.out`` with several stacks (use
            :func:`load_templates`).
    """
    loaded = load_templates(path, parameters)
    if len(loaded) != 1:
        names = ", ".join(Path(t.source).name for t in loaded)
        raise TemplateError(
            f"'{path}' holds {len(loaded)} stack templates ({names}): "
            "pass one of them, or use load_templates"
        )
    return loaded[0]
