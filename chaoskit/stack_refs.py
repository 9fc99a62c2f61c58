"""Aim an experiment at a stack's logical IDs and outputs instead of physical names.

An experiment names its stack once, in its configuration (``chaoskit_stack``,
a plain value or any Chaos Toolkit configuration provider such as
``{type: env, key: APP_STACK}``), and writes references where it would write a
function, queue, table, stream, rule, alias or health check name::

    stack:LogicalId      the physical name of that resource of the stack
    output:OutputKey     the value of that output of the stack

References are whole strings: in any activity's arguments (inside lists and
mappings too) and in configuration values (so ``${worker}`` with
``worker: stack:Worker`` works as well). They are resolved once per run,
before anything runs, from one ``DescribeStacks`` and ``ListStackResources``:
by ``chaoskit run`` (and game days), and, under plain ``chaos run``, by the
``chaoskit.undo.control`` control before the first activity. A reference the
stack cannot answer stops the run before any harm, naming the reference, the
activity and what the stack does have.

A bare logical ID is never guessed: a value without a prefix is a physical
name, exactly as before, so nothing changes for experiments without references.

What a reference resolves to is the resource's physical ID, which is what the
activities take (function and table names, queue URLs, topic and state
machine ARNs, health check IDs), with exceptions made by parameter name:
an ``alias`` argument gets the alias name of an ``AWS::Lambda::Alias`` (its
physical ID is an ARN), a ``version`` argument the version number of an
``AWS::Lambda::Version``, and an ``event_source_arn`` argument gets the ARN of
an SQS queue or a Kinesis stream.
"""

import logging
import re
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chaoskit.aws import client
from chaoskit.errors import BadInput, aws_failure

__all__ = [
    "REFERENCE",
    "Resolution",
    "StackIndex",
    "find_references",
    "format_resolutions",
    "load_stack",
    "resolve_experiment",
    "stack_name_of",
]

# chaoslib shows its "chaostoolkit" logger on the console: log resolutions under it.
logger = logging.getLogger("chaostoolkit.chaoskit")

#: A whole-string reference: ``stack:LogicalId`` or ``output:OutputKey``.
REFERENCE = re.compile(r"(stack|output):([A-Za-z0-9][A-Za-z0-9_.-]*)")
_ACTIVITY_LISTS = ("method", "rollbacks")


@dataclass(frozen=True)
class StackIndex:
    """What a stack answers references with."""

    name: str
    arn: str
    #: logical ID -> (resource type, physical ID)
    resources: dict[str, tuple[str, str]]
    outputs: dict[str, str]

    @property
    def region(self) -> str:
        """The stack's region (from its ARN)."""
        parts = self.arn.split(":")
        return parts[3] if len(parts) > 4 else ""

    @property
    def account(self) -> str:
        """The stack's account (from its ARN)."""
        parts = self.arn.split(":")
        return parts[4] if len(parts) > 4 else ""


@dataclass
class Resolution:
    """One reference, what it resolved to, and where the experiment uses it."""

    reference: str
    value: str
    resource_type: str
    places: list[str] = field(default_factory=list)


@dataclass
class _Use:
    reference: str
    kind: str
    ident: str
    parameter: str
    place: str
    container: MutableMapping[str, Any] | list[Any]
    key: Any


def stack_name_of(configuration: Mapping[str, Any] | None) -> str | None:
    """Return the stack the configuration names (``chaoskit_stack``), if any."""
    value = (configuration or {}).get("chaoskit_stack")
    return str(value).strip() or None if value else None


def load_stack(stack_name: str, configuration: Mapping[str, Any] | None = None) -> StackIndex:
    """Read a deployed stack's resources and outputs (one DescribeStacks, ListStackResources).

    Raises:
        BadInput: no such stack on the target.
        AWSActionFailed: CloudFormation refused for another reason.
    """
    cfn = client("cloudformation", configuration)
    try:
        stacks = cfn.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as err:
        message = str(err.response.get("Error", {}).get("Message") or "")
        if "does not exist" in message:
            raise BadInput(
                f"stack '{stack_name}' (configuration chaoskit_stack) does not exist on the "
                "target: deploy it first ('chaoskit deploy --template ...') or fix the name"
            ) from err
        raise aws_failure("cloudformation:DescribeStacks", stack_name, err) from err
    except BotoCoreError as err:
        raise aws_failure("cloudformation:DescribeStacks", stack_name, err) from err
    stack = stacks[0]
    resources: dict[str, tuple[str, str]] = {}
    try:
        for page in cfn.get_paginator("list_stack_resources").paginate(StackName=stack_name):
            for res in page.get("StackResourceSummaries", []):
                physical = res.get("PhysicalResourceId")
                if physical:
                    resources[str(res["LogicalResourceId"])] = (
                        str(res.get("ResourceType") or ""),
                        str(physical),
                    )
    except (ClientError, BotoCoreError) as err:
        raise aws_failure("cloudformation:ListStackResources", stack_name, err) from err
    outputs = {
        str(o["OutputKey"]): str(o.get("OutputValue") or "") for o in stack.get("Outputs") or []
    }
    return StackIndex(str(stack["StackName"]), str(stack.get("StackId") or ""), resources, outputs)


def _activities(experiment: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    hypothesis = experiment.get("steady-state-hypothesis") or {}
    for probe in hypothesis.get("probes") or [] if isinstance(hypothesis, Mapping) else []:
        if isinstance(probe, Mapping):
            yield f"hypothesis probe '{probe.get('name', '?')}'", probe
    for section in _ACTIVITY_LISTS:
        for activity in experiment.get(section) or []:
            if isinstance(activity, Mapping):
                label = "method" if section == "method" else "rollback"
                kind, name = activity.get("type", "step"), activity.get("name", "?")
                yield f"{label} {kind} '{name}'", activity


def _walk(
    node: Any, parameter: str, place: str, out: list[_Use], container: Any = None, key: Any = None
) -> None:
    if isinstance(node, str):
        match = REFERENCE.fullmatch(node.strip())
        if match and container is not None:
            kind, ident = match.groups()
            out.append(_Use(node.strip(), kind, ident, parameter, place, container, key))
    elif isinstance(node, MutableMapping):
        for k, v in node.items():
            _walk(v, parameter or str(k), place, out, node, k)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            _walk(v, parameter, place, out, node, i)


def _uses(experiment: MutableMapping[str, Any], configuration: MutableMapping[str, Any] | None):
    out: list[_Use] = []
    for key, value in (configuration or {}).items():
        if isinstance(value, Mapping) and "type" in value:
            continue  # a Chaos Toolkit provider (env, probe...): not ours to walk
        _walk(value, str(key), f"configuration '{key}'", out, configuration, key)
    for place, activity in _activities(experiment):
        provider = activity.get("provider")
        if isinstance(provider, MutableMapping):
            arguments = provider.get("arguments")
            if isinstance(arguments, (MutableMapping, list)):
                _walk(arguments, "", place, out)
    return out


def find_references(
    experiment: MutableMapping[str, Any], configuration: MutableMapping[str, Any] | None = None
) -> list[str]:
    """Return every distinct reference in an experiment (and its configuration), in order."""
    seen: dict[str, None] = {}
    for use in _uses(experiment, configuration):
        seen.setdefault(use.reference, None)
    return list(seen)


def _arn_for(use: _Use, rtype: str, physical: str, index: StackIndex) -> str:
    if physical.startswith("arn:"):
        return physical
    prefix = f"arn:aws:{{}}:{index.region}:{index.account}:"
    if rtype == "AWS::SQS::Queue":
        return prefix.format("sqs") + physical.rstrip("/").rsplit("/", 1)[-1]
    if rtype == "AWS::Kinesis::Stream":
        return prefix.format("kinesis") + f"stream/{physical}"
    raise BadInput(
        f"{use.reference} ({rtype}) in {use.place} cannot be an event_source_arn: "
        "reference the queue or stream, or give the ARN (or an output holding it)"
    )


def _value(use: _Use, index: StackIndex) -> tuple[str, str]:
    if use.kind == "output":
        return index.outputs[use.ident], "output"
    rtype, physical = index.resources[use.ident]
    if use.parameter == "alias" and rtype == "AWS::Lambda::Alias":
        return physical.rsplit(":", 1)[-1], rtype
    if use.parameter == "version" and rtype == "AWS::Lambda::Version":
        return physical.rsplit(":", 1)[-1], rtype
    if use.parameter == "event_source_arn":
        return _arn_for(use, rtype, physical, index), rtype
    return physical, rtype


def _missing_message(missing: list[_Use], index: StackIndex) -> str:
    first = missing[0]
    names = ", ".join(f"{u.reference} (in {u.place})" for u in missing)
    ids = ", ".join(sorted(index.resources)) or "none"
    outputs = ", ".join(sorted(index.outputs)) or "none"
    noun = "reference" if len(missing) == 1 else "references"
    what = "logical ID" if first.kind == "stack" else "output"
    return (
        f"stack '{index.name}' cannot resolve the {noun} {names}: no such {what}. "
        f"Its logical IDs: {ids}. Its outputs: {outputs}"
    )


def resolve_experiment(
    experiment: MutableMapping[str, Any],
    configuration: MutableMapping[str, Any] | None = None,
    settings: Mapping[str, Any] | None = None,
    load: Callable[[str, Mapping[str, Any] | None], StackIndex] = load_stack,
) -> list[Resolution]:
    """Replace every reference in ``experiment`` (and ``configuration``) with its value, in place.

    ``configuration`` (whose string values may be references too) defaults to
    the experiment's own ``configuration``; ``settings``, where the stack name
    and the target are read, defaults to ``configuration`` (pass the loaded
    configuration when values come from providers). Nothing is changed unless
    every reference resolves.

    Returns:
        One :class:`Resolution` per distinct reference (empty: none used).

    Raises:
        BadInput: a reference without ``chaoskit_stack``, a missing stack, or
            references the stack cannot answer (all named, with the stack's
            logical IDs and outputs).
    """
    if configuration is None:
        own = experiment.get("configuration")
        configuration = own if isinstance(own, MutableMapping) else None
    uses = _uses(experiment, configuration)
    if not uses:
        return []
    settings = configuration if settings is None else settings
    stack = stack_name_of(settings)
    if not stack:
        raise BadInput(
            f"{uses[0].reference} in {uses[0].place} needs a stack: set configuration "
            "'chaoskit_stack' to the stack's name (or --var chaoskit_stack=NAME)"
        )
    index = load(stack, settings)
    missing = [
        u
        for u in uses
        if (u.kind == "stack" and u.ident not in index.resources)
        or (u.kind == "output" and u.ident not in index.outputs)
    ]
    if missing:
        raise BadInput(_missing_message(missing, index))
    planned = [(use, *_value(use, index)) for use in uses]
    resolved: dict[str, Resolution] = {}
    for use, value, rtype in planned:
        use.container[use.key] = value
        key = f"{use.reference} {value}"
        entry = resolved.setdefault(key, Resolution(use.reference, value, rtype))
        entry.places.append(use.place)
    out = list(resolved.values())
    for line in format_resolutions(index.name, out).splitlines():
        logger.info(line)
    return out


def format_resolutions(stack: str, resolutions: list[Resolution]) -> str:
    """Return the readable lines a run prints for its resolved references."""
    lines = [f"stack '{stack}': {len(resolutions)} reference(s) resolved"]
    for r in resolutions:
        lines.append(f"  {r.reference} -> {r.value} ({r.resource_type})")
    return "\n".join(lines)
