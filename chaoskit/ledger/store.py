"""Runner-side access to the ledger table: create it, write records, read a run.

The layer writes with its own lazy, stdlib-first code path (it must not import
this module's dependencies at cold start); everything else goes through here.
"""

import time
from collections.abc import Iterable, Mapping
from typing import Any

from botocore.exceptions import ClientError

from chaoskit import aws
from chaoskit.errors import aws_failure
from chaoskit.ledger.records import ACK_PREFIX, Record, make_item, parse_item, table_name

__all__ = ["ensure_table", "read_acks", "read_run", "write"]

_BATCH = 25


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
    """Append records to the ledger in batches of 25; return how many were written.

    Unprocessed items (throttling) are retried with a short backoff until written.
    """
    name = _table(configuration)
    ddb = aws.client("dynamodb", configuration)
    items = [{"PutRequest": {"Item": make_item(r)}} for r in records]
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
    return len(items)


def _query(partition: str, configuration: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    name = _table(configuration)
    ddb = aws.client("dynamodb", configuration)
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


def read_run(run_id: str, configuration: Mapping[str, Any] | None = None) -> list[Record]:
    """Return every record of one run, in sort-key order."""
    return [parse_item(item) for item in _query(run_id, configuration)]


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
