"""Runner-side access to the ledger table: create it, write records, read a run.

The layer writes with its own lazy, stdlib-first code path (it must not import
this module's dependencies at cold start); everything else goes through here.
"""

import gc
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from itertools import chain
from operator import attrgetter
from typing import Any

from botocore.exceptions import ClientError

from chaoskit import aws
from chaoskit.errors import AWSActionFailed, ChaosKitError, aws_failure
from chaoskit.ledger.records import (
    ACK_PREFIX,
    PROCESSED,
    Record,
    pack_items,
    parse_item,
    parse_items,
    partitions,
    table_name,
)

__all__ = ["ensure_table", "read_acks", "read_run", "read_sink", "write"]

_BATCH = 25
#: Parallel queries when reading a run back (one per shard partition key).
READ_WORKERS = 16
#: The same against a local endpoint (the sandbox, LocalStack, moto).
LOCAL_READ_WORKERS = 4
_event_id = attrgetter("event_id")


def _table(configuration: Mapping[str, Any] | None) -> str:
    return str((configuration or {}).get("chaoskit_ledger_table") or table_name())


def ensure_table(configuration: Mapping[str, Any] | None = None) -> str:
    """Create the ledger table if it does not exist, with TTL on ``expires_at``.

    Returns:
        The table name.
    """
    name = _table(configuration)
    ddb = aws.client("dynamodb", configuration)
    try:
        ddb.create_table(
            TableName=name,
            AttributeDefinitions=[
                {"AttributeName": "run_id", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            KeySchema=[
                {"AttributeName": "run_id", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        ddb.get_waiter("table_exists").wait(
            TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
        )
        ddb.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"},
        )
    except ClientError as err:
        if err.response["Error"]["Code"] != "ResourceInUseException":
            raise aws_failure("dynamodb:CreateTable", name, err) from err
    return name


def write(records: Iterable[Record], configuration: Mapping[str, Any] | None = None) -> int:
    """Append records to the ledger, packed, 25 items per call; return how many were written.

    Unprocessed items (throttling) are retried with a short backoff until written.
    """
    name = _table(configuration)
    ddb = aws.client("dynamodb", configuration)
    recs = list(records)
    items = [{"PutRequest": {"Item": item}} for item, _ in pack_items(recs)]
    for start in range(0, len(items), _BATCH):
        pending: list[dict[str, Any]] = items[start : start + _BATCH]
        delay = 0.05
        while pending:
            try:
                out = ddb.batch_write_item(RequestItems={name: pending})
            except ClientError as err:
                raise aws_failure("dynamodb:BatchWriteItem", name, err) from err
            pending = out.get("UnprocessedItems", {}).get(name, [])
            if pending:
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
    return len(recs)


def _query(
    partition: str, configuration: Mapping[str, Any] | None, client: Any = None
) -> list[dict[str, Any]]:
    name = _table(configuration)
    ddb = client or aws.client("dynamodb", configuration)
    kwargs: dict[str, Any] = {
        "TableName": name,
        "KeyConditionExpression": "run_id = :r",
        "ExpressionAttributeValues": {":r": {"S": partition}},
        "ConsistentRead": True,
    }
    items: list[dict[str, Any]] = []
    while True:
        try:
            page = ddb.query(**kwargs)
        except ClientError as err:
            raise aws_failure("dynamodb:Query", name, err) from err
        items.extend(page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def read_run(
    run_id: str,
    configuration: Mapping[str, Any] | None = None,
    client: Any = None,
    workers: int | None = None,
    missing_ok: bool = False,
) -> list[Record]:
    """Return every record of one run, ordered by event id.

    Queries every shard partition of the run in parallel (``workers`` at a
    time), decodes each packed item with one ``json.loads`` (items of one
    record, written before packing, are read too), then sorts the records by
    event id (stable: a pack's records keep their order), as the
    reconciliation reads fastest.

    Args:
        run_id: the run.
        client: a DynamoDB client to use instead of the target's (benchmarks).
        workers: parallel queries (default :data:`READ_WORKERS` on AWS,
            :data:`LOCAL_READ_WORKERS` on a local endpoint, which shares the
            machine's CPUs and answers 503 when flooded).
        missing_ok: read a ledger table that does not exist as no records (the
            first write creates it: a probe before any write finds none).

    Raises:
        ChaosKitError: an item of the run that is not a ledger item.
        AWSActionFailed: the table cannot be read (does not exist, unless ``missing_ok``).
    """
    keys = partitions(run_id)
    if workers is None:
        workers = LOCAL_READ_WORKERS if aws.resolve_target(configuration).is_local else READ_WORKERS

    def one(key: str) -> list[Record]:
        details: dict[str, Any] = {}
        out: list[Record] = []
        for item in _query(key, configuration, client):
            if "records" in item:
                out += parse_items(item)
            else:
                out.append(parse_item(item, details))
        return out

    # Millions of new records would run the cyclic collector over and over (it
    # nearly doubled the time); records hold no cycles, so pause it meanwhile.
    collecting = gc.isenabled()
    gc.disable()
    try:
        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(keys)))) as pool:
            try:
                shards = list(pool.map(one, keys))
            except AWSActionFailed as err:
                if missing_ok and err.code == "ResourceNotFoundException":
                    return []
                raise
            except ValueError as err:
                raise ChaosKitError(
                    f"ledger table {_table(configuration)!r}, run {run_id!r}: {err}"
                ) from err
        records = list(chain.from_iterable(shards))
        records.sort(key=_event_id)
        return records
    finally:
        if collecting:
            gc.enable()


def read_acks(
    function_name: str, configuration: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Return the layer's acknowledgements for a function, one per execution environment.

    Each is ``{"environment": str, "version": str, "at": float}`` (plus any
    other string attributes the layer wrote).
    """
    acks = []
    for item in _query(ACK_PREFIX + function_name, configuration):
        ack: dict[str, Any] = {"environment": item["sk"]["S"]}
        for key, value in item.items():
            if key in ("run_id", "sk"):
                continue
            if "N" in value:
                ack[key] = float(value["N"])
            elif "S" in value:
                ack[key] = value["S"]
        acks.append(ack)
    return acks


def _number(value: Mapping[str, Any] | None) -> float:
    if not value:
        return 0.0
    raw = value.get("N", value.get("S"))
    try:
        return float(raw) if raw is not None else 0.0
    except (TypeError, ValueError):
        return 0.0


def _plain(value: Mapping[str, Any] | None) -> str | None:
    if not value:
        return None
    for kind in ("S", "N"):
        if kind in value:
            return str(value[kind])
    return None


def read_sink(
    table: str,
    run_id: str,
    configuration: Mapping[str, Any] | None = None,
    records: Iterable[Record] | None = None,
    key_attribute: str | None = None,
) -> list[Record]:
    """Return an application's sink items of one run as ``processed`` records.

    Two ways to tie an item to an event:

    - the item carries ``run_id`` and ``event_id`` (and optionally
      ``processed_at`` or ``at`` in epoch seconds);
    - the app's own key: ``key_attribute`` (default: configuration
      ``chaoskit_sink_key``) names the item attribute that holds the value the
      load action put in each event's payload (``send_events(key_path=...)``,
      recorded as ``detail["key"]`` of the ``sent`` record). Items are matched
      to the run's events by that value; the app needs no chaoskit columns.

    Each matched item becomes a record with source ``sink:<table>``.
    """
    cfg = configuration or {}
    key_attribute = key_attribute or cfg.get("chaoskit_sink_key") or None
    ddb = aws.client("dynamodb", configuration)
    keyed: dict[str, str] = {}
    if key_attribute:
        for r in records if records is not None else read_run(run_id, configuration):
            if r.kind == "sent" and r.detail and r.detail.get("key") is not None:
                keyed[str(r.detail["key"])] = r.event_id
    try:
        schema = ddb.describe_table(TableName=table)["Table"]["KeySchema"]
    except ClientError as err:
        raise aws_failure("dynamodb:DescribeTable", table, err) from err
    hash_key = next((k["AttributeName"] for k in schema if k["KeyType"] == "HASH"), None)
    kwargs: dict[str, Any] = {"TableName": table}
    if key_attribute:
        operation, call = "dynamodb:Scan", ddb.scan  # the app's items carry no run id
    elif hash_key == "run_id":
        operation, call = "dynamodb:Query", ddb.query
        kwargs["KeyConditionExpression"] = "run_id = :r"
        kwargs["ExpressionAttributeValues"] = {":r": {"S": run_id}}
    else:
        operation, call = "dynamodb:Scan", ddb.scan
        kwargs["FilterExpression"] = "run_id = :r"
        kwargs["ExpressionAttributeValues"] = {":r": {"S": run_id}}
    out = []
    while True:
        try:
            page = call(**kwargs)
        except ClientError as err:
            raise aws_failure(operation, table, err) from err
        for item in page.get("Items", []):
            if key_attribute:
                value = _plain(item.get(str(key_attribute)))
                event_id = keyed.get(value) if value is not None else None
            else:
                event_id = item.get("event_id", {}).get("S")
            if event_id:
                at = _number(item.get("processed_at") or item.get("at"))
                out.append(Record(run_id, event_id, PROCESSED, at, f"sink:{table}"))
        if "LastEvaluatedKey" not in page:
            return out
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
