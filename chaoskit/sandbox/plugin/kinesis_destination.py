"""Kinesis Data Streams for DynamoDB: each item change of a table put on a Kinesis stream.

moto, the sandbox's DynamoDB, has no ``EnableKinesisStreamingDestination``, which
LocalStack's CloudFormation calls for a table's ``KinesisStreamSpecification``: a
template with one rolled back (serverless-patterns' apigw-lambda-dynamodb-kinesis-lambda,
API -> function -> table -> Kinesis -> function). Here, as on AWS:

- ``EnableKinesisStreamingDestination`` (the stream must exist: else
  ``ValidationException``), ``DisableKinesisStreamingDestination``,
  ``DescribeKinesisStreamingDestination`` and ``UpdateKinesisStreamingDestination``
  (``ApproximateCreationDateTimePrecision``), with LocalStack's own validation and
  messages. A destination is kept on moto's table, so a table deleted and created again
  under the same name has none, and a failed transaction's restore keeps it.
- Every item a write inserts, modifies or removes, on a table with an ``ACTIVE``
  destination, is put on that stream as AWS writes it (AWS-recorded in LocalStack's
  ``test_enable_kinesis_streaming_destination``): ``awsRegion``, ``eventID``,
  ``eventName``, ``userIdentity`` (null), ``recordFormat`` (``application/json``),
  ``tableName``, ``dynamodb`` with ``ApproximateCreationDateTime`` (epoch milliseconds;
  microseconds, and ``ApproximateCreationDateTimePrecision``, at ``MICROSECOND``),
  ``Keys``, ``NewImage`` and ``OldImage`` (whichever the change has, whatever the table's
  own stream shows) and ``SizeBytes`` (the keys' and images' item sizes), and
  ``eventSource`` (``aws:dynamodb``); its partition key 32 hex digits, the same for
  every change of one item. A transaction's changes are put once it succeeds, none if
  it fails. A put that fails (the stream deleted) is a warning: the write stands.

moto emits item changes only to a table's own stream (``Table.stream_shard``), and only
when it has one: the table's ``stream_shard`` is made a property that, while a
destination is active, answers a tee that also puts the change on Kinesis.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import uuid
from typing import Any

from localstack.utils.patch import Patch

from .patching import UnsupportedLocalStackError, wrap

LOG = logging.getLogger(__name__)

#: Attribute of moto's ``Table`` holding its destinations (dicts, the API's shape).
_DESTINATIONS = "_chaoskit_kinesis_destinations"
#: Attribute of moto's ``Table`` holding its own stream shard (or ``None``).
_SHARD = "_chaoskit_stream_shard"
_PRECISIONS = ("MILLISECOND", "MICROSECOND")
#: While a transaction runs on this thread: the records it made, put once it succeeds.
_TX = threading.local()


def _errors() -> Any:
    from localstack.aws.api import dynamodb

    return dynamodb


def _table(context: Any, table_name: str) -> Any:
    from moto.dynamodb.models import dynamodb_backends

    name = table_name.split(":table/", 1)[-1] if table_name.startswith("arn:") else table_name
    backend = dynamodb_backends[context.account_id][context.region]
    table = backend.tables.get(name)
    if table is None:
        raise _errors().ResourceNotFoundException(
            f"Requested resource not found: Table: {name} not found"
        )
    return table


def _stream_exists(context: Any, stream_arn: str) -> bool:
    from localstack.aws.connect import connect_to

    kinesis = connect_to(aws_access_key_id=context.account_id, region_name=context.region).kinesis
    try:
        kinesis.describe_stream_summary(StreamARN=stream_arn)
    except Exception:
        return False
    return True


def _destinations(table: Any) -> list[dict[str, Any]]:
    found = table.__dict__.get(_DESTINATIONS)
    if found is None:
        found = table.__dict__[_DESTINATIONS] = []
    return found


def enable(
    context: Any, table_name: str, stream_arn: str, configuration: dict[str, Any] | None
) -> dict[str, Any]:
    """``EnableKinesisStreamingDestination``."""
    table = _table(context, table_name)
    configuration = dict(configuration or {})
    precision = configuration.get("ApproximateCreationDateTimePrecision") or "MILLISECOND"
    if precision not in _PRECISIONS:
        raise _errors().ValidationException(
            f"1 validation error detected: Value '{precision}' at "
            "'enableKinesisStreamingConfiguration.approximateCreationDateTimePrecision' "
            "failed to satisfy constraint: Member must satisfy enum value set: "
            "[MILLISECOND, MICROSECOND]"
        )
    if not _stream_exists(context, stream_arn):
        raise _errors().ValidationException("User does not have a permission to use kinesis stream")
    destinations = _destinations(table)
    same = [d for d in destinations if d["StreamArn"] == stream_arn]
    if same and same[0]["DestinationStatus"] not in ("DISABLED", "ENABLE_FAILED"):
        raise _errors().ValidationException(
            "Table is not in a valid state to enable Kinesis Streaming "
            "Destination:EnableKinesisStreamingDestination must be DISABLED or ENABLE_FAILED "
            "to perform ENABLE operation."
        )
    destinations[:] = [d for d in destinations if d["StreamArn"] != stream_arn]
    destinations.append({
        "StreamArn": stream_arn,
        "DestinationStatus": "ACTIVE",
        "ApproximateCreationDateTimePrecision": precision,
    })  # fmt: skip
    out: dict[str, Any] = {
        "TableName": table.name,
        "StreamArn": stream_arn,
        "DestinationStatus": "ENABLING",
    }
    if configuration:
        out["EnableKinesisStreamingConfiguration"] = configuration
    return out


def disable(context: Any, table_name: str, stream_arn: str) -> dict[str, Any]:
    """``DisableKinesisStreamingDestination``."""
    table = _table(context, table_name)
    if not _stream_exists(context, stream_arn):
        raise _errors().ValidationException("User does not have a permission to use kinesis stream")
    for destination in _destinations(table):
        if destination["StreamArn"] == stream_arn and destination["DestinationStatus"] == "ACTIVE":
            destination["DestinationStatus"] = "DISABLED"
            return {"TableName": table.name, "StreamArn": stream_arn,
                    "DestinationStatus": "DISABLING"}  # fmt: skip
    raise _errors().ValidationException(
        "Table is not in a valid state to disable Kinesis Streaming Destination:"
        "DisableKinesisStreamingDestination must be ACTIVE to perform DISABLE operation."
    )


def describe(context: Any, table_name: str) -> dict[str, Any]:
    """``DescribeKinesisStreamingDestination``."""
    table = _table(context, table_name)
    return {
        "TableName": table.name,
        "KinesisDataStreamDestinations": [
            {"StreamArn": d["StreamArn"], "DestinationStatus": d["DestinationStatus"],
             "ApproximateCreationDateTimePrecision": d["ApproximateCreationDateTimePrecision"]}
            for d in _destinations(table)
        ],
    }  # fmt: skip


def update(
    context: Any, table_name: str, stream_arn: str, configuration: dict[str, Any] | None
) -> dict[str, Any]:
    """``UpdateKinesisStreamingDestination``: the precision of ``ApproximateCreationDateTime``."""
    table = _table(context, table_name)
    precision = (configuration or {}).get("ApproximateCreationDateTimePrecision")
    if not configuration:
        raise _errors().ValidationException(
            "Streaming destination cannot be updated with given parameters: "
            "UpdateKinesisStreamingConfiguration cannot be null or contain only null values"
        )
    if precision not in _PRECISIONS:
        raise _errors().ValidationException(
            f"1 validation error detected: Value '{precision}' at "
            "'updateKinesisStreamingConfiguration.approximateCreationDateTimePrecision' "
            "failed to satisfy constraint: Member must satisfy enum value set: "
            "[MILLISECOND, MICROSECOND]"
        )
    found = [d for d in _destinations(table) if d["StreamArn"] == stream_arn]
    if not found:
        raise _errors().ValidationException(
            "Table is not in a valid state to enable Kinesis Streaming Destination: No "
            f"streaming destination with streamArn: {stream_arn} found for table with "
            f"tableName: {table.name}"
        )
    if found[0]["ApproximateCreationDateTimePrecision"] == precision:
        raise _errors().ValidationException(
            f"Invalid Request: Precision is already set to the desired value of {precision} "
            f"for tableId: {table.table_arn}, kdsArn: {stream_arn}"
        )
    found[0]["ApproximateCreationDateTimePrecision"] = precision
    return {
        "TableName": table.name,
        "StreamArn": stream_arn,
        "DestinationStatus": "UPDATING",
        "UpdateKinesisStreamingConfiguration": {"ApproximateCreationDateTimePrecision": precision},
    }


def _active(table: Any) -> dict[str, Any] | None:
    """The destination changes go to: the last one enabled, while it is ``ACTIVE``."""
    destinations = table.__dict__.get(_DESTINATIONS) or ()
    active = [d for d in destinations if d["DestinationStatus"] == "ACTIVE"]
    return active[-1] if active else None


def record(table: Any, old: Any, new: Any, precision: str) -> dict[str, Any]:
    """The change record AWS puts on the stream for ``old`` -> ``new`` (moto ``Item``s)."""
    rec = old if old is not None else new
    keys = {table.hash_key_attr: rec.hash_key.to_json()}
    key_size = len(table.hash_key_attr.encode()) + rec.hash_key.size()
    if table.range_key_attr is not None and rec.range_key is not None:
        keys[table.range_key_attr] = rec.range_key.to_json()
        key_size += len(table.range_key_attr.encode()) + rec.range_key.size()
    now = time.time()
    change: dict[str, Any] = {
        "ApproximateCreationDateTime": int(now * 1_000_000)
        if precision == "MICROSECOND"
        else int(now * 1000),
        "Keys": keys,
    }
    if new is not None:
        change["NewImage"] = new.to_json()["Attributes"]
    if old is not None:
        change["OldImage"] = old.to_json()["Attributes"]
    change["SizeBytes"] = key_size + sum(i.size() for i in (old, new) if i is not None)
    if precision == "MICROSECOND":
        change["ApproximateCreationDateTimePrecision"] = precision
    return {
        "awsRegion": table.region_name,
        "eventID": str(uuid.uuid4()),
        "eventName": "INSERT" if old is None else "REMOVE" if new is None else "MODIFY",
        "userIdentity": None,
        "recordFormat": "application/json",
        "tableName": table.name,
        "dynamodb": change,
        "eventSource": "aws:dynamodb",
    }


def _partition_key(table: Any, change: dict[str, Any]) -> str:
    text = table.name + json.dumps(change["dynamodb"]["Keys"], sort_keys=True)
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest().upper()


def _put(table: Any, stream_arn: str, records: list[dict[str, Any]]) -> None:
    from localstack.aws.connect import connect_to

    kinesis = connect_to(
        aws_access_key_id=table.account_id, region_name=table.region_name
    ).kinesis.request_metadata(service_principal="dynamodb", source_arn=table.table_arn)
    entries = [
        {"Data": json.dumps(r).encode(), "PartitionKey": _partition_key(table, r)} for r in records
    ]
    try:
        for start in range(0, len(entries), 500):  # PutRecords takes 500 at most
            kinesis.put_records(StreamARN=stream_arn, Records=entries[start : start + 500])
    except Exception as err:
        LOG.warning("chaoskit: table %s: changes not put on %s: %s", table.name, stream_arn, err)


class _Tee:
    """A table's own stream shard (or none), which also puts each change on Kinesis."""

    def __init__(self, table: Any, inner: Any, destination: dict[str, Any]) -> None:
        self._table, self._inner, self._destination = table, inner, destination

    def add(self, old: Any, new: Any) -> None:
        if self._inner is not None:
            self._inner.add(old, new)
        precision = self._destination["ApproximateCreationDateTimePrecision"]
        made = record(self._table, old, new, precision)
        pending = getattr(_TX, "pending", None)
        if pending is not None:
            pending.append((self._table, self._destination["StreamArn"], made))
        else:
            _put(self._table, self._destination["StreamArn"], [made])

    def __bool__(self) -> bool:
        return self._inner is not None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._inner, name)


def _get_shard(table: Any) -> Any:
    inner = table.__dict__.get(_SHARD, table.__dict__.get("stream_shard"))
    destination = _active(table)
    return inner if destination is None else _Tee(table, inner, destination)


def _set_shard(table: Any, shard: Any) -> None:
    table.__dict__[_SHARD] = shard


def transact_write_items(original: Any, self: Any, *args: Any, **kwargs: Any) -> Any:
    """moto's transaction; the Kinesis records of its changes put only once it succeeded."""
    outer = getattr(_TX, "pending", None)
    _TX.pending = [] if outer is None else outer
    try:
        result = original(self, *args, **kwargs)
    except BaseException:
        if outer is None:
            _TX.pending = None
        raise
    if outer is None:
        pending, _TX.pending = _TX.pending, None
        for table, stream_arn, made in pending:
            _put(table, stream_arn, [made])
    return result


def cfn_specification(original: Any, self: Any, properties: dict[str, Any]) -> Any:
    """CloudFormation's ``KinesisStreamSpecification`` as ``EnableKinesisStreamingDestination``
    takes it: its ``ApproximateCreationDateTimePrecision`` goes in the configuration."""
    args = original(self, properties)
    if isinstance(args, dict) and "ApproximateCreationDateTimePrecision" in args:
        args = dict(args)
        precision = args.pop("ApproximateCreationDateTimePrecision")
        args["EnableKinesisStreamingConfiguration"] = {
            "ApproximateCreationDateTimePrecision": precision
        }
    return args


class _NewAttribute(Patch):
    """A patch adding an attribute a class does not have (LocalStack's replaces only)."""

    def apply(self) -> None:
        if self.is_applied:
            return
        if self.name in vars(self.obj):
            raise UnsupportedLocalStackError(
                f"{self.obj.__name__}.{self.name} exists: the sandbox cannot tee its stream"
            )
        setattr(self.obj, self.name, self.new)
        Patch.applied_patches.append(self)
        self.is_applied = True

    def undo(self) -> None:
        if not self.is_applied:
            return
        delattr(self.obj, self.name)
        Patch.applied_patches.remove(self)
        self.is_applied = False


def patches() -> list[Patch]:
    """The table's stream tee, transactions put once they succeed, CloudFormation's spec."""
    from localstack.services.dynamodb.resource_providers.aws_dynamodb_table import (
        DynamoDBTableProvider,
    )
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    return [
        _NewAttribute(Table, "stream_shard", property(_get_shard, _set_shard)),
        wrap(DynamoDBBackend, "transact_write_items", transact_write_items),
        wrap(DynamoDBTableProvider, "get_ddb_kinesis_stream_specification", cfn_specification),
    ]
