"""Stream consumer: orders from Kinesis.

A malformed record (not a JSON object, or flagged ``poison``) raises. The
event source mapping bisects the batch on error, retries a limited number of
times, and sends the one poison record to its on-failure destination
(``orders-stream-failures``); every other record is processed.
"""

import base64
import binascii
import json
from typing import Any

from orders import store


class PoisonRecord(Exception):
    """A record that can never be processed."""


def decode(record: dict[str, Any]) -> dict[str, Any]:
    """Return the order inside a Kinesis record, or raise :class:`PoisonRecord`."""
    sequence = record.get("kinesis", {}).get("sequenceNumber", "?")
    try:
        order = json.loads(base64.b64decode(record["kinesis"]["data"]))
    except (KeyError, ValueError, binascii.Error) as err:
        raise PoisonRecord(f"record {sequence} is not JSON") from err
    if not isinstance(order, dict) or order.get("poison"):
        raise PoisonRecord(f"record {sequence} is malformed")
    return order


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Store every order of the batch; a poison record fails the batch (and is bisected)."""
    for record in event.get("Records", []):
        order = decode(record)
        store.put_order(order, status="streamed", fallback_id=record["kinesis"]["sequenceNumber"])
    return {"processed": len(event.get("Records", []))}
