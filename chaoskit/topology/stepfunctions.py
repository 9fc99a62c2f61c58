"""Read Step Functions definitions: task states, Retry/Catch, functions called."""

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from chaoskit.topology.intrinsics import Resolver, json_or_none
from chaoskit.topology.model import Location, Ref, TaskState

__all__ = ["definition_of", "substitutions_of", "task_states"]

_TOKEN = re.compile(r"\$\{([^}]+)\}")


def _states(
    states: Mapping[str, Any], nodes: Any, prefix: str = "", caught: bool = False
) -> Iterator[tuple[str, dict[str, Any], Any, bool]]:
    for name, state in states.items():
        if not isinstance(state, dict):
            continue
        node = nodes.get(name) if isinstance(nodes, Mapping) else None
        path = f"{prefix}{name}"
        yield path, state, node, caught
        inner_caught = caught or bool(state.get("Catch"))
        for i, branch in enumerate(state.get("Branches") or []):
            if isinstance(branch, dict):
                sub = node.get("Branches")[i] if node is not None else None
                yield from _states(
                    branch.get("States") or {},
                    sub.get("States") if isinstance(sub, Mapping) else None,
                    f"{path}/{i}/",
                    inner_caught,
                )
        for key in ("Iterator", "ItemProcessor"):
            inner = state.get(key)
            if isinstance(inner, dict):
                sub = node.get(key) if isinstance(node, Mapping) else None
                yield from _states(
                    inner.get("States") or {},
                    sub.get("States") if isinstance(sub, Mapping) else None,
                    f"{path}/",
                    inner_caught,
                )


def _function_ref(
    state: dict[str, Any], substitutions: Mapping[str, Any], resolver: Resolver
) -> Ref | None:
    resource = state.get("Resource")
    params = state.get("Parameters") or state.get("Arguments") or {}
    candidate: Any = None
    if isinstance(resource, str) and resource.startswith("arn:aws:states:::lambda:invoke"):
        candidate = params.get("FunctionName") if isinstance(params, dict) else None
    elif isinstance(resource, dict) or (
        isinstance(resource, str) and (":lambda:" in resource or resource.startswith("${"))
    ):
        candidate = resource
    if candidate is None:
        return None
    return _resolved(candidate, substitutions, resolver)


def _resolved(value: Any, substitutions: Mapping[str, Any], resolver: Resolver) -> Ref | None:
    if isinstance(value, str):
        match = _TOKEN.fullmatch(value.strip())
        if match:
            name = match.group(1)
            if name in substitutions:
                return resolver.ref(substitutions[name])
            return resolver.ref("${" + name + "}")
    return resolver.ref(value)


#: Service integrations that send the state's input on: resource prefix -> parameter.
_SENDS = {
    "arn:aws:states:::sqs:sendMessage": "QueueUrl",
    "arn:aws:states:::sns:publish": "TopicArn",
}


def _sends_to(
    state: dict[str, Any], substitutions: Mapping[str, Any], resolver: Resolver
) -> Ref | None:
    resource = state.get("Resource")
    params = state.get("Parameters") or state.get("Arguments") or {}
    for prefix, key in _SENDS.items():
        if isinstance(resource, str) and resource.startswith(prefix) and isinstance(params, dict):
            return _resolved(params.get(key), substitutions, resolver)
    return None


def _is_lambda(state: dict[str, Any], function: Ref | None) -> bool:
    resource = state.get("Resource")
    if isinstance(resource, str) and (
        resource.startswith("arn:aws:states:::lambda:invoke") or ":lambda:" in resource
    ):
        return True
    return function is not None and function.logical_id is not None


def task_states(
    definition: Mapping[str, Any],
    substitutions: Mapping[str, Any] | None,
    resolver: Resolver,
    file: str = "",
    nodes: Any = None,
) -> list[TaskState]:
    """Return every Task state of a definition, nested ones included.

    Args:
        definition: the parsed Amazon States Language document.
        substitutions: ``DefinitionSubstitutions`` (``${Name}`` -> value).
        resolver: resolves the functions tasks call to logical IDs.
        file: the file the definition was read from (for locations).
        nodes: the same document with cfn-lint line marks, when read from a file.
    """
    subs = dict(substitutions or {})
    out = []
    states = definition.get("States") or {}
    node_states = nodes.get("States") if isinstance(nodes, Mapping) else None
    for path, state, node, caught in _states(states, node_states):
        if state.get("Type") != "Task":
            continue
        function = _function_ref(state, subs, resolver)
        resource = state.get("Resource")
        mark = getattr(node, "start_mark", None)
        location = Location(file, int(mark.line) + 1) if (file and mark is not None) else None
        task = TaskState(
            path=path,
            resource=resource if isinstance(resource, str) else json.dumps(resource),
            function=function if _is_lambda(state, function) else None,
            retry=[r for r in state.get("Retry") or [] if isinstance(r, dict)],
            catch=[c for c in state.get("Catch") or [] if isinstance(c, dict)],
            location=location,
            enclosing_catch=caught,
            sends_to=_sends_to(state, subs, resolver),
        )
        out.append(task)
    return out


def definition_of(properties: Mapping[str, Any], resolver: Resolver) -> dict[str, Any] | None:
    """Return the parsed definition of an ``AWS::StepFunctions::StateMachine``.

    ``Definition`` objects are returned as they are; ``DefinitionString``
    (a string, ``Fn::Sub`` or ``Fn::Join``, as CDK writes it) is parsed with
    each intrinsic part kept as a ``${LogicalId}`` token. ``None`` when the
    definition is elsewhere (``DefinitionS3Location``) or cannot be parsed.
    """
    definition = properties.get("Definition")
    if isinstance(definition, dict):
        return definition
    raw = properties.get("DefinitionString")
    if raw is None:
        return None
    parsed = json_or_none(_flatten(raw, resolver))
    return parsed if isinstance(parsed, dict) else None


def substitutions_of(properties: Mapping[str, Any]) -> dict[str, Any]:
    """Return what each ``${Name}`` of a state machine's definition stands for.

    ``DefinitionSubstitutions``, and the variable map of a ``DefinitionString``
    written as ``Fn::Sub: [text, {Name: value}]`` (its tokens name those
    variables, not resources).
    """
    subs: dict[str, Any] = {}
    raw = properties.get("DefinitionString")
    if isinstance(raw, dict) and len(raw) == 1 and isinstance(raw.get("Fn::Sub"), list):
        parts = raw["Fn::Sub"]
        if len(parts) == 2 and isinstance(parts[1], dict):
            subs.update(parts[1])
    given = properties.get("DefinitionSubstitutions")
    if isinstance(given, dict):
        subs.update(given)
    return subs


def _flatten(raw: Any, resolver: Resolver) -> str | None:
    if isinstance(raw, str):
        return raw
    if isinstance(raw, dict) and len(raw) == 1:
        ((fn, arg),) = raw.items()
        if fn == "Fn::Sub":
            template = arg[0] if isinstance(arg, list) else arg
            return template if isinstance(template, str) else None
        if fn == "Fn::Join" and isinstance(arg, list) and len(arg) == 2:
            parts = []
            for part in arg[1] if isinstance(arg[1], list) else []:
                if isinstance(part, str):
                    parts.append(part)
                    continue
                parts.append(resolver.text(part) or "${unknown}")
            return str(arg[0]).join(parts)
    return None
