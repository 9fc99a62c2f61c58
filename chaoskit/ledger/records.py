"""The shape of a ledger item, shared by every writer and reader.

The ledger is one DynamoDB table, append-only. Partition key ``run_id`` =
``{run id}#s{shard}``, where the shard (one of :data:`SHARDS`) is a stable hash
of the event id: one run's writes spread over many partition keys, so a run
at 10,000 events/s stays under DynamoDB's 1,000 WCU/s per partition key, and
every record of one event lands in the same shard. The real run id is also in
the ``run`` attribute. Sort key ``sk`` = ``{event_id}#{kind}#{nanoseconds}#{nonce}``,
so concurrent writers never overwrite each other and a duplicate delivery stays
visible. Items expire through the TTL attribute ``expires_at``.

Writers pack records: one item carries the records of one write (one
invocation's attempts and outcomes, one batch of ``sent`` records), at most
:data:`PACK_RECORDS` of them and about :data:`PACK_BYTES` of text, in the
``records`` attribute (see :func:`pack_items`). Its partition key is the shard
of its first record's event id, its sort key ``~pack#{nanoseconds}#{nonce}``.
Packing cuts items and write units about tenfold and lets a reader decode a
whole pack with one ``json.loads``. Items of one record each (written before
packing, or by hand) are still read: :func:`parse_items` takes both.

Standard library only: the layer imports this module.
"""

import json
import os
import time
import zlib
from functools import partial
from itertools import repeat
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
    "PACK_BYTES",
    "PACK_PREFIX",
    "PACK_RECORDS",
    "PACK_VERSION",
    "PROCESSED",
    "SENT",
    "SHARDS",
    "TTL_SECONDS",
    "Record",
    "from_log_line",
    "make_item",
    "pack_items",
    "parse_item",
    "parse_items",
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
#: Most records in one packed item.
PACK_RECORDS = 100
#: About the most text in one packed item's ``records`` attribute (an estimate
#: that errs high): far under DynamoDB's 400 KB item limit, and at most 64 write
#: units on one partition key at once. A single larger record gets a pack of
#: its own.
PACK_BYTES = 64_000
#: Format version of the packed ``records`` attribute.
PACK_VERSION = 1
#: Sort-key prefix of packed items.
PACK_PREFIX = "~pack#"
_FIELD_SLACK = 40  # per record: quotes, commas, the float and the detail index
_dumps = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str).encode
_dump_rows = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_scan = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


class Record(NamedTuple):
    """One ledger entry."""

    run_id: str
    event_id: str
    kind: str
    at: float
    source: str = ""
    detail: dict[str, Any] | None = None


#: Builds a Record from one tuple of its fields, in C (namedtuple's __new__ is Python).
_new_record = partial(tuple.__new__, Record)


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


def pack_items(records: list[Record]) -> list[tuple[dict[str, dict[str, str]], list[Record]]]:
    """Return the low-level DynamoDB items that carry ``records``, packed, each with its records.

    Records are packed in order, per run, at most :data:`PACK_RECORDS` and
    about :data:`PACK_BYTES` of text per item. The ``records`` attribute is
    compact JSON, one list per field: ``{"v": 1, "e": [event ids], "k":
    [kinds], "t": [times], "s": [sources], "i": [detail indexes], "d": [null,
    detail, ...]}``; each distinct detail is written once, index 0 is none.
    """
    by_run: dict[str, list[Record]] = {}
    for record in records:
        group = by_run.get(record.run_id)
        if group is None:
            group = by_run[record.run_id] = []
        group.append(record)
    items = []
    expires = str(int(time.time()) + TTL_SECONDS)
    for run_id, group in by_run.items():
        texts: dict[str, int] = {}
        indexes: list[int] = []
        size = first = 0
        for n, record in enumerate(group):
            detail = record.detail
            text = _dumps(detail) if detail else ""
            grow = len(record.event_id) + len(record.kind) + len(record.source) + _FIELD_SLACK
            if indexes and (
                len(indexes) >= PACK_RECORDS
                or size + grow + (len(text) if text not in texts else 0) > PACK_BYTES
            ):
                items.append(
                    (_pack(run_id, group[first:n], indexes, texts, expires), group[first:n])
                )
                texts, indexes, size, first = {}, [], 0, n
            if text:
                index = texts.get(text)
                if index is None:
                    index = texts[text] = len(texts) + 1
                    size += len(text)
            else:
                index = 0
            indexes.append(index)
            size += grow
        if indexes:
            items.append((_pack(run_id, group[first:], indexes, texts, expires), group[first:]))
    return items


def _pack(
    run_id: str, group: list[Record], indexes: list[int], texts: dict[str, int], expires: str
) -> dict[str, dict[str, str]]:
    at_ns = int(group[0].at * 1_000_000_000)
    body = (
        f'{{"v":{PACK_VERSION},'
        f'"e":{_dump_rows([r.event_id for r in group])},'
        f'"k":{_dump_rows([r.kind for r in group])},'
        f'"t":{_dump_rows([float(r.at) for r in group])},'
        f'"s":{_dump_rows([r.source for r in group])},'
        f'"i":{_dump_rows(indexes)},'
        f'"d":[null{"".join("," + t for t in texts)}]}}'
    )
    return {
        "run_id": {"S": partition(run_id, group[0].event_id)},
        "run": {"S": run_id},
        "sk": {"S": f"{PACK_PREFIX}{at_ns:020d}#{os.urandom(4).hex()}"},
        "records": {"S": body},
        "expires_at": {"N": expires},
    }


def parse_items(item: dict[str, Any], details: dict[str, Any] | None = None) -> list[Record]:
    """Return the records of a low-level DynamoDB item, packed or of one record.

    Args:
        item: the item.
        details: the decode cache of :func:`parse_item` (items of one record).

    Raises:
        ValueError: a packed item whose ``records`` attribute is not the
            format :func:`pack_items` writes (naming the item's keys).
    """
    packed = item.get("records")
    if packed is None:
        return [parse_item(item, details)]
    try:
        run_id = (item.get("run") or item["run_id"])["S"]
        doc = _scan(packed["S"], 0)[0]  # the C scanner, without json.loads's wrapping
        if doc["v"] != PACK_VERSION:
            raise ValueError(f"format version {doc['v']!r}, this reader knows {PACK_VERSION}")
        e, k, t, s, i = doc["e"], doc["k"], doc["t"], doc["s"], doc["i"]
        n = len(e)
        shared = map(doc["d"].__getitem__, i)
        # Everything below runs in C: a million records are built in well under a second.
        return list(map(_new_record, zip(repeat(run_id, n), e, k, t, s, shared, strict=True)))
    except (KeyError, TypeError, ValueError, IndexError, StopIteration) as err:
        where = f"{_text(item.get('run_id'))!r}/{_text(item.get('sk'))!r}"
        raise ValueError(
            f"ledger item {where} has a malformed 'records' attribute: {err!r}; expected "
            'JSON {"v": 1, "e": [...], "k": [...], "t": [...], "s": [...], "i": [...], '
            '"d": [null, ...]} (see chaoskit.ledger.records.pack_items)'
        ) from err


def _text(value: Any) -> str:
    return str(value.get("S", "")) if isinstance(value, dict) else ""


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
