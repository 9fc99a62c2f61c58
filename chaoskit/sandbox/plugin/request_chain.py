"""What every AWS request pays in LocalStack's request chain, made cheaper, results unchanged.

Each AWS call (a function's ``PutItem`` or ``Invoke``, a poller's, the user's)
passes through LocalStack's handler chain: parse, dispatch, serialize. Profiled
in-process on ``PutItem`` (``cProfile``, 3,000 requests through the gateway),
four pure computations stood out, each redone for every request although its
answer depends only on its inputs:

1. The serializer's response mime type: the ``Accept`` header parsed and matched
   by werkzeug (6% of the chain). It depends only on the serializer's class and
   the request's ``Accept`` and ``Content-Type``: remembered per those three.
2. The JSON parser's structures: every member of a structure's shape was parsed,
   present or not (a DynamoDB ``AttributeValue`` has ten members, one of them
   set; 96 shape parses for a seven-attribute item, 11% of the chain). A member
   the body lacks and no header, query string or URI supplies parses to ``None``,
   which is kept only for a required member: it is now skipped (or set to
   ``None`` if required) without parsing.
3. werkzeug's ``Headers.get`` and ``in`` on a header that is absent: the lookup
   raised and caught an HTTP exception (``BadRequestKeyError``), 19 times per
   request (5%). The same scan now answers the default without raising (and, for
   an ASCII name, lowers only the names of its length). Only werkzeug's own
   ``Headers`` is served so; a subclass with its own lookup (``EnvironHeaders``)
   and a name that is not ASCII keep werkzeug's.
4. moto's random strings (the 52-character request id of every DynamoDB
   answer): one ``random.choice`` per character (5% of ``PutItem``). Now one
   ``choices`` call on the same generator: the same alphabet, uniformly drawn.
"""

from __future__ import annotations

import string
from typing import Any

from localstack.utils.patch import Patch

from .patching import replace, wrap

__all__ = ["patches"]

#: Distinct (serializer, Accept, Content-Type) answers remembered before starting again.
MIME_TYPES_KEPT = 1024
_mime_types: dict[tuple[Any, ...], str] = {}


def mime_type(original: Any, self: Any, headers: Any) -> str:
    """The serializer's ``_get_mime_type``, remembered per its inputs."""
    if headers is None:
        return str(original(self, headers))
    key = (type(self), "Accept" in headers, headers.get("Accept"), headers.get("Content-Type"))
    found = _mime_types.get(key)
    if found is None:
        found = original(self, headers)
        if len(_mime_types) >= MIME_TYPES_KEPT:
            _mime_types.clear()
        _mime_types[key] = found
    return found


def _members(shape: Any) -> tuple[tuple[str, str, Any, bool, bool], ...]:
    """Per member of a structure: name, JSON name, shape, set from elsewhere, required."""
    plan: tuple[tuple[str, str, Any, bool, bool], ...] | None = shape.__dict__.get(
        "chaoskit_members"
    )
    if plan is None:
        required = set(shape.required_members)
        plan = tuple(
            (
                name,
                member.serialization.get("name", name),
                member,
                member.serialization.get("location") is not None,
                name in required,
            )
            for name, member in shape.members.items()
        )
        shape.chaoskit_members = plan
    return plan


def parse_structure(
    original: Any, self: Any, request: Any, shape: Any, value: Any, uri_params: Any = None
) -> Any:
    """The JSON parser's ``_parse_structure``, without parsing the members a body lacks."""
    if shape.is_document_type or type(value) is not dict:
        return original(self, request, shape, value, uri_params)
    parsed_members: dict[str, Any] = {}
    for name, json_name, member, located, required in _members(shape):
        if not located and json_name not in value:
            if required:
                parsed_members[name] = None
            continue
        parsed = self._parse_shape(request, member, value.get(json_name), uri_params)
        if parsed is not None or required:
            parsed_members[name] = parsed
    return parsed_members


def _ascii(key: Any) -> bool:
    # An ASCII name lowers to the same length: only then may the scan skip the names
    # of another length ("İ" lowers to two characters).
    return isinstance(key, str) and key.isascii()


def headers_patches() -> list[Patch]:
    """``Headers.get`` and ``in`` without an exception for an absent header."""
    from werkzeug.datastructures import Headers

    own_lookup = Headers._get_key
    original_get = Headers.get
    original_contains = Headers.__contains__

    def get(self: Any, key: Any, default: Any = None, type: Any = None) -> Any:
        if self.__class__._get_key is not own_lookup or not _ascii(key):
            return original_get(self, key, default, type)
        wanted = key.lower()
        size = len(wanted)
        for name, value in self._list:
            if len(name) == size and name.lower() == wanted:
                if type is None:
                    return value
                try:
                    return type(value)
                except ValueError:
                    return default
        return default

    def contains(self: Any, key: Any) -> bool:
        if self.__class__._get_key is not own_lookup or not _ascii(key):
            return bool(original_contains(self, key))
        wanted = key.lower()
        size = len(wanted)
        return any(len(name) == size and name.lower() == wanted for name, _ in self._list)

    return [replace(Headers, "get", get), replace(Headers, "__contains__", contains)]


def random_string(
    self: Any, length: int = 20, include_digits: bool = True, lower_case: bool = False
) -> str:
    """moto's ``get_random_string``: the same alphabet, one draw for the whole string."""
    pool = string.ascii_letters + (string.digits if include_digits else "")
    drawn = "".join(self.choices(pool, k=length))
    return drawn.lower() if lower_case else drawn


def patches() -> list[Patch]:
    """The four patches above."""
    from localstack.aws.protocol.parser import BaseJSONRequestParser
    from localstack.aws.protocol.serializer import ResponseSerializer
    from moto.moto_api._internal.moto_random import MotoRandom

    return [
        wrap(ResponseSerializer, "_get_mime_type", mime_type),
        wrap(BaseJSONRequestParser, "_parse_structure", parse_structure),
        *headers_patches(),
        replace(MotoRandom, "get_random_string", random_string),
    ]
