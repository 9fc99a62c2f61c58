"""Plumbing shared by the fault actions (not an activity module).

Find the Lambda functions an action targets (by name, by ARN, or by tags),
and call AWS turning failures into chaoskit's errors (:func:`aws_call`).
"""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chaoskit.aws import client
from chaoskit.errors import BadInput, aws_failure
from chaoskit.functions.config import function_name_of

__all__ = ["NOT_FOUND", "FunctionRef", "aws_call", "function_ref", "names_list", "select_functions"]

#: Error codes AWS services use for "no such resource".
NOT_FOUND = frozenset(
    {
        "ResourceNotFoundException",
        "NoSuchHealthCheck",
        "NotFoundException",
        "ParameterNotFound",
    }
)


def aws_call(
    op: str,
    resource: str,
    func: Callable[..., Any],
    missing: str | None = None,
    **kwargs: Any,
) -> Any:
    """Call ``func(**kwargs)``; raise chaoskit's errors on failure.

    Args:
        op: ``service:Operation``, for the error message.
        resource: the resource's name, for the error message.
        func: a boto3 client method.
        missing: when given, a "no such resource" error raises
            :class:`BadInput` with this message instead.

    Raises:
        BadInput: the resource does not exist (only with ``missing``).
        AWSActionFailed: any other AWS failure, naming the operation and resource.
    """
    try:
        return func(**kwargs)
    except ClientError as err:
        if missing and err.response.get("Error", {}).get("Code") in NOT_FOUND:
            raise BadInput(missing) from err
        raise aws_failure(op, resource, err) from err
    except BotoCoreError as err:
        raise aws_failure(op, resource, err) from err


@dataclass(frozen=True)
class FunctionRef:
    """A Lambda function an action will change."""

    name: str
    arn: str
    tags: dict[str, str] = field(default_factory=dict)


def names_list(value: str | Iterable[str] | None) -> list[str]:
    """Accept one name, a comma-separated string or a list; return a list."""
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v).strip() for v in value if str(v).strip()]


def function_ref(name_or_arn: str, configuration: Mapping[str, Any] | None = None) -> FunctionRef:
    """Look up one function by name or ARN, with its tags.

    Raises:
        BadInput: the value is not a function name or ARN, or no such function exists.
        AWSActionFailed: Lambda refused the lookup for another reason.
    """
    name = function_name_of(name_or_arn)
    lam = client("lambda", configuration)
    missing = f"function '{name_or_arn}' not found on the target"
    found = aws_call("lambda:GetFunction", name, lam.get_function, missing, FunctionName=name)
    config = found["Configuration"]
    return FunctionRef(
        name=str(config["FunctionName"]),
        arn=str(config["FunctionArn"]),
        tags={str(k): str(v) for k, v in (found.get("Tags") or {}).items()},
    )


def _tagged(tags: Mapping[str, str], configuration: Mapping[str, Any] | None) -> list[FunctionRef]:
    lam = client("lambda", configuration)
    wanted = {str(k): str(v) for k, v in tags.items()}
    out = []
    try:
        for page in lam.get_paginator("list_functions").paginate():
            for fn in page.get("Functions", []):
                arn = str(fn["FunctionArn"])
                have = lam.list_tags(Resource=arn).get("Tags") or {}
                if all(have.get(k) == v for k, v in wanted.items()):
                    out.append(FunctionRef(str(fn["FunctionName"]), arn, dict(have)))
    except (ClientError, BotoCoreError) as err:
        raise aws_failure("lambda:ListFunctions", f"tags {wanted}", err) from err
    return out


def select_functions(
    function_names: str | Iterable[str] | None = None,
    tags: Mapping[str, str] | None = None,
    configuration: Mapping[str, Any] | None = None,
) -> list[FunctionRef]:
    """Return the functions named (names or ARNs) plus those carrying every tag given.

    Raises:
        BadInput: neither names nor tags were given, a named function does not
            exist, or no function carries the tags.
    """
    names = names_list(function_names)
    if not names and not tags:
        raise BadInput("no function selected: give function_names (names or ARNs) or tags")
    refs = [function_ref(name, configuration) for name in names]
    if tags:
        tagged = _tagged(tags, configuration)
        if not tagged:
            raise BadInput(f"no function carries the tags {dict(tags)}")
        refs.extend(tagged)
    unique: dict[str, FunctionRef] = {}
    for ref in refs:
        unique.setdefault(ref.name, ref)
    return list(unique.values())
