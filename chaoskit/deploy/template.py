"""Read a CloudFormation or SAM template, and check the parameters given for it.

YAML templates use CloudFormation's short forms (``!Ref``, ``!GetAtt a.b``,
``!Sub``...): :func:`load_template` turns them into their long forms
(``{"Ref": ...}``, ``{"Fn::GetAtt": [...]}``), which is what CloudFormation
accepts as JSON, so a packaged template is sent as JSON.
"""

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from chaoskit.errors import BadInput
from chaoskit.inputs import check_shape, read_text, split_pairs

__all__ = ["check_parameters", "dump_template", "load_template", "parse_parameters"]

#: Short-form tags whose long form is ``Fn::<name>``; ``!Ref`` and ``!Condition`` are apart.
_FUNCTIONS = (
    "And",
    "Base64",
    "Cidr",
    "Equals",
    "FindInMap",
    "GetAZs",
    "GetAtt",
    "If",
    "ImportValue",
    "Join",
    "Not",
    "Or",
    "Select",
    "Split",
    "Sub",
    "Transform",
    "ToJsonString",
    "Length",
)


class _Loader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that also understands CloudFormation's short-form tags."""


def _construct(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "Condition":
        return {"Condition": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        resource, _, attribute = value.partition(".")
        value = [resource, attribute]
    if tag_suffix not in _FUNCTIONS:
        raise yaml.constructor.ConstructorError(
            None, None, f"unknown CloudFormation tag '!{tag_suffix}'", node.start_mark
        )
    return {f"Fn::{tag_suffix}": value}


_Loader.add_multi_constructor("!", _construct)
# CloudFormation reads timestamps and other YAML 1.1 scalars as strings: "2010-09-09".
_Loader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_template(path: str | Path) -> dict[str, Any]:
    """Read a template (YAML or JSON) into its long form.

    Raises:
        BadInput: the file is missing, is not YAML/JSON, or has no ``Resources`` map.
    """
    file = Path(path)
    if not file.is_file():
        raise BadInput(f"template '{path}' does not exist")
    text = read_text(file, "template")  # size cap, UTF-8
    try:
        loaded = yaml.load(text, Loader=_Loader)  # a SafeLoader subclass
    except yaml.YAMLError as err:
        raise BadInput(f"template '{path}' is not valid YAML or JSON: {err}") from err
    except RecursionError as err:
        raise BadInput(f"template '{path}' is nested too deeply to parse") from err
    check_shape(loaded, f"template '{path}'")  # nesting and YAML alias expansion
    if not isinstance(loaded, dict) or not isinstance(loaded.get("Resources"), dict):
        raise BadInput(f"template '{path}' has no 'Resources' map: not a CloudFormation template")
    return loaded


def dump_template(template: Mapping[str, Any]) -> str:
    """Return the template as the JSON CloudFormation accepts."""
    return json.dumps(template, indent=1, sort_keys=False, default=str)


def parse_parameters(pairs: Sequence[str]) -> dict[str, str]:
    """Turn ``KEY=VALUE`` strings (``--parameter``) into a dict.

    Raises:
        BadInput: a pair has no ``=`` or an empty key.
    """
    return dict(split_pairs(pairs, "--parameter", "KEY=VALUE"))


def check_parameters(
    template: Mapping[str, Any],
    given: Mapping[str, str],
    previous: Sequence[str] = (),
    source: str = "the template",
) -> None:
    """Check ``given`` names only the template's parameters and leaves none without a value.

    Args:
        template: the template (long form).
        given: the parameters passed.
        previous: parameters the existing stack already has (kept when not given).
        source: how to name the template in messages.

    Raises:
        BadInput: an unknown parameter, or one with no default and no value.
    """
    declared = template.get("Parameters") or {}
    unknown = sorted(set(given) - set(declared))
    if unknown:
        known = ", ".join(sorted(declared)) or "none"
        raise BadInput(f"unknown parameter '{unknown[0]}' for {source}: its parameters are {known}")
    for name, spec in declared.items():
        has_default = isinstance(spec, Mapping) and "Default" in spec
        if name not in given and not has_default and name not in previous:
            raise BadInput(
                f"parameter '{name}' of {source} has no default: pass --parameter {name}=VALUE"
            )
