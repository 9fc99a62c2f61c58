"""The shape of a ledger item, shared by every writer and reader.

The ledger is one DynamoDB table, append-only. Partition key ``run_id`` =
``{run id}#s{shard}``, where the shard (one of :data:`SHARDS`) is a stable hash
of the event id: one run's writes spread over many partition keys, so a run
at 10,000 events/s stays under DynamoDB's 1,000 WCU/s per partition key, and
every record of one event lands in the same shard. The real run id is also in
the ``run`` attribute. Sort key ``sk`` = ``{event_id}#{kind}#{nanoseconds}#{nonce}``,
so concurrent writers never overwrite each other and a duplicate delivery stays
visible. Items expire through the TTL attribute ``expires_at``.

Standard library only: the layer imports this module.
"""

import json
import os
import time
import zlib
from typing import Any, NamedTuple

__all__ = [
    "ACK_PREFIX",
    "ATTEMPT",
    "BREAKER",
    "DEAD_LETTERED",
    "DEFAULT_TABLE",
    "FAILED",
    "FALLBACK",
    "FAULT",
    "FAULT_PREFIX",
    "KINDS",
    "LOG_MARK",
    "PROCESSED",
    "SENT",
    "SHARDS",
    "TTL_SECONDS",
    "Record",
    "from_log_line",
    "make_item",
    "parse_item",
    "partition",
    "partitions",
    "shard_of",
    "table_name",
    "to_log_line",
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
#: A fault that fired in one invocation: detail ``{"fault", "kind", "function", "event_ids"}``.
FAULT = "fault"
KINDS = (SENT, ATTEMPT, PROCESSED, FAILED, DEAD_LETTERED, BREAKER, FALLBACK, FAULT)
#: Event-id prefix of fault records (they are about an invocation, not one event).
FAULT_PREFIX = "~fault#"
#: Partition keys per run. 64 keys carry 64,000 WCU/s before any one reaches
#: DynamoDB's 1,000 WCU/s per-key limit: 10,000 events/s with three records each
#: is about 470 writes/s per key.
SHARDS = 64
#: The marker of a ledger record written to the function's log instead of the table.
LOG_MARK = "chaoskit_ledger"


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


def shard_of(event_id: str) -> int:
    """Return the shard of ``event_id``: stable across processes and targets."""
    return zlib.crc32(event_id.encode("utf-8")) % SHARDS


def partition(run_id: str, event_id: str) -> str:
    """Return the partition key of a record of ``event_id`` in ``run_id``."""
    return f"{run_id}#s{shard_of(event_id):02d}"


def partitions(run_id: str) -> list[str]:
    """Return every partition key a run's records can have (the bare run id first).

    The bare run id holds records written before the ledger was sharded.
    """
    return [run_id, *(f"{run_id}#s{shard:02d}" for shard in range(SHARDS))]


def make_item(record: Record) -> dict[str, dict[str, str]]:
    """Return the low-level DynamoDB item (typed values) for ``record``."""
    at_ns = int(record.at * 1_000_000_000)
    item = {
        "run_id": {"S": partition(record.run_id, record.event_id)},
        "run": {"S": record.run_id},
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


def parse_item(item: dict[str, Any], details: dict[str, Any] | None = None) -> Record:
    """Return the :class:`Record` of a low-level DynamoDB item.

    Args:
        item: the item.
        details: a cache of decoded ``detail`` texts, shared over one read: the
            records of one invocation carry the same detail, so most decodes
            are skipped. The decoded dicts are shared: treat them as read-only.
    """
    raw = item.get("detail")
    detail = None
    if raw is not None:
        text = raw.get("S")
        if text:
            if details is None:
                detail = json.loads(text)
            else:
                detail = details.get(text)
                if detail is None:
                    if len(details) > 100_000:
                        details.clear()
                    detail = details[text] = json.loads(text)
    source = item.get("source")
    return Record(
        (item.get("run") or item["run_id"])["S"],
        item["event_id"]["S"],
        item["kind"]["S"],
        float(item["at"]["N"]),
        source["S"] if source is not None else "",
        detail,
    )


def to_log_line(records: list[Record]) -> str:
    """Return one structured log line carrying ``records`` (the fallback path).

    The reconciler finds such lines in the function's CloudWatch Logs by
    :data:`LOG_MARK` and reads them with :func:`from_log_line`.
    """
    rows = [[r.run_id, r.event_id, r.kind, r.at, r.source, r.detail] for r in records]
    line = {"chaoskit": "ledger", "level": "INFO", LOG_MARK: rows}
    return json.dumps(line, separators=(",", ":"), default=str)


def from_log_line(line: str) -> list[Record]:
    """Return the records of a log line written by :func:`to_log_line` (``[]`` otherwise).

    Tolerates a prefix before the JSON (a runtime's timestamp and request id).
    """
    start = line.find("{")
    if start < 0 or LOG_MARK not in line:
        return []
    try:
        rows = json.loads(line[start:]).get(LOG_MARK)
    except (ValueError, AttributeError):
        return []
    out = []
    for row in rows if isinstance(rows, list) else []:
        try:
            run_id, event_id, kind, at, source, detail = row
            out.append(
                Record(
                    str(run_id), str(event_id), str(kind), float(at), str(source or ""),
                    detail if isinstance(detail, dict) else None,
                )
            )  # fmt: skip
        except (TypeError, ValueError):
            continue
    return out
