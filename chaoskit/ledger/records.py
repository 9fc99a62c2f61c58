"""The shape of a ledger item, shared by every writer and reader.

The ledger is one DynamoDB table, append-only. Partition key ``run_id``, sort
key ``sk`` = ``{event_id}#{kind}#{nanoseconds}#{nonce}``, so concurrent writers
never overwrite each other and a duplicate delivery stays visible. Items
expire through the TTL attribute ``expires_at``.

Standard library only: the layer imports this module.
"""

import json
import os
import time
from typing import Any, NamedTuple

__all__ = [
    "ACK_PREFIX",
    "ATTEMPT",
    "BREAKER",
    "DEAD_LETTERED",
    "DEFAULT_TABLE",
    "FAILED",
    "FALLBACK",
    "KINDS",
    "PROCESSED",
    "SENT",
    "TTL_SECONDS",
    "Record",
    "make_item",
    "parse_item",
    "table_name",
]

DEFAULT_TABLE = "chaoskit-ledger"
TTL_SECONDS = 7 * 24 * 3600
#: Partition-key prefix of layer acknowledgements: ``ack#<function name>``.
ACK_PREFIX = "ack#"

SENT = "sent"
ATTEMPT = "attempt"
PROCESSED = "processed"
FAILED = "failed"
DEAD_LETTERED = "dead_lettered"
BREAKER = "breaker"
FALLBACK = "fallback"
KINDS = (SENT, ATTEMPT, PROCESSED, FAILED, DEAD_LETTERED, BREAKER, FALLBACK)


class Record(NamedTuple):
    """One ledger entry."""

    run_id: str
    event_id: str
    kind: str
    at: float
    source: str = ""
    detail: dict[str, Any] | None = None


def table_name() -> str:
    """Return the ledger table name from ``CHAOSKIT_LEDGER_TABLE`` or the default."""
    from chaoskit import envvars  # local: keeps this module's import graph flat

    return os.environ.get(envvars.LEDGER_TABLE) or DEFAULT_TABLE


def make_item(record: Record) -> dict[str, dict[str, str]]:
    """Return the low-level DynamoDB item (typed values) for ``record``."""
    at_ns = int(record.at * 1_000_000_000)
    item = {
        "run_id": {"S": record.run_id},
        "sk": {"S": f"{record.event_id}#{record.kind}#{at_ns:020d}#{os.urandom(4).hex()}"},
        "event_id": {"S": record.event_id},
        "kind": {"S": record.kind},
        "at": {"N": repr(float(record.at))},
        "expires_at": {"N": str(int(time.time()) + TTL_SECONDS)},
    }
    if record.source:
        item["source"] = {"S": record.source}
    if record.detail:
        item["detail"] = {"S": json.dumps(record.detail, sort_keys=True, default=str)}
    return item


def parse_item(item: dict[str, Any]) -> Record:
    """Return the :class:`Record` of a low-level DynamoDB item."""
    detail = item.get("detail", {}).get("S")
    return Record(
        run_id=item["run_id"]["S"],
        event_id=item["event_id"]["S"],
        kind=item["kind"]["S"],
        at=float(item["at"]["N"]),
        source=item.get("source", {}).get("S", ""),
        detail=json.loads(detail) if detail else None,
    )
