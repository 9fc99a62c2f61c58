"""DynamoDB items for the load action: a payload as one typed item, its keys from the event id.

A function reading the table's stream gets the item in the record's
``NewImage`` in DynamoDB's typed form (``{"M": {...}}``), which
:func:`chaoskit.ledger.trace.find_traces` reads. Every key attribute (hash
and range) the payload does not carry at its top level is filled from the
event id and the run, so each event writes its own item, a rerun with the same
seed (the same event ids) included; a payload that carries one keeps its value.
"""

import hashlib
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeSerializer

from chaoskit.errors import BadInput

__all__ = [
    "MAX_ITEM_BYTES", "Key", "check_target", "item_size", "key_of", "key_types", "key_value",
    "to_item",
]  # fmt: skip

#: The largest item DynamoDB stores (attribute names and values).
MAX_ITEM_BYTES = 400 * 1024
_TABLE_ARN = re.compile(r"arn:aws[a-z-]*:dynamodb:[a-z0-9-]+:\d{12}:table/[A-Za-z0-9_.-]+")
_serializer = TypeSerializer()

#: The identity of an item in its table: its key attributes' typed values.
Key = tuple[str, ...]


def check_target(target: str) -> None:
    """Refuse a target that is neither a table name nor a table ARN (a stream ARN, say)."""
    if not target or (target.startswith("arn:") and not _TABLE_ARN.fullmatch(target)):
        raise BadInput(
            f"invalid DynamoDB table '{target}': expected a table name or a table ARN "
            "(arn:aws:dynamodb:REGION:ACCOUNT:table/NAME)"
        )


def key_types(table: Mapping[str, Any]) -> dict[str, str]:
    """Return ``{attribute: S|N|B}`` of a ``DescribeTable`` ``Table``'s keys, hash key first."""
    types = {d["AttributeName"]: d["AttributeType"] for d in table.get("AttributeDefinitions", [])}
    schema = sorted(table.get("KeySchema", []), key=lambda k: k["KeyType"] != "HASH")
    return {k["AttributeName"]: types[k["AttributeName"]] for k in schema}


def key_value(kind: str, event_id: str, run_id: str = "") -> Any:
    """Return the value of a key attribute of type ``kind`` for ``event_id`` in ``run_id``.

    ``S`` is ``{event id}#{run id}``, ``B`` its bytes, ``N`` the number of the first 15 hex
    digits (60 bits: unique enough, far within 38 digits) of its BLAKE2b digest. Without a
    run: the event id, its bytes, or its own first 15 hex digits.
    """
    text = f"{event_id}#{run_id}" if run_id else event_id
    if kind == "N":
        digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8).hexdigest()
        return int((digest if run_id else text)[:15], 16)
    if kind == "B":
        return text.encode("utf-8")
    return text


def _decimals(value: Any) -> Any:
    # DynamoDB numbers are decimals: a float goes through its shortest repr, 0.1 stays 0.1.
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, Mapping):
        return {k: _decimals(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decimals(v) for v in value]
    return value


def to_item(
    body: Mapping[str, Any], event_id: str, keys: Mapping[str, str], run_id: str = ""
) -> dict[str, Any]:
    """Return ``body`` as a typed item, with the key attributes it lacks filled from
    ``event_id`` and ``run_id`` (:func:`key_value`).

    Raises:
        TypeError: a value DynamoDB cannot hold (NaN, infinity).
        ArithmeticError: a number beyond DynamoDB's 38 digits.
    """
    filled = {
        **{n: key_value(t, event_id, run_id) for n, t in keys.items() if n not in body},
        **body,
    }
    return {name: _serializer.serialize(_decimals(value)) for name, value in filled.items()}


def _value_size(value: Mapping[str, Any]) -> int:
    # AWS's item size rules: strings and binaries by length, a number one byte per two
    # significant digits plus one, a map or list 3 bytes plus one per element.
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(inner.encode("utf-8"))
    if kind == "B":
        return len(inner)
    if kind == "N":
        return (len(inner.lstrip("-").replace(".", "").strip("0")) + 1) // 2 + 1
    if kind == "M":
        return 3 + sum(len(k.encode("utf-8")) + _value_size(v) + 1 for k, v in inner.items())
    if kind == "L":
        return 3 + sum(_value_size(v) + 1 for v in inner)
    return 1  # BOOL, NULL


def item_size(item: Mapping[str, Any]) -> int:
    """Return a typed item's size as DynamoDB counts it against its 400 KB limit."""
    return sum(len(name.encode("utf-8")) + _value_size(v) for name, v in item.items())


def key_of(item: Mapping[str, Any], keys: Mapping[str, str]) -> Key:
    """Return the identity of a typed item (as sent, or as AWS returns it unprocessed)."""
    return tuple(repr(item.get(name)) for name in keys)
