"""Benchmark: the ledger write path at 10,000 events/s against a per-partition write limit.

    .venv/bin/python benchmarks/ledger_partition.py [EVENTS] [--million N] [--baseline M]

Part 1 pushes EVENTS traced events (default 100,000) at 10,000 events/s
through the layer's write path (``chaoskit.layer.tracing.write_records``, the
code that runs in the function: each invocation's records packed into one
item, ``BatchWriteItem``, records DynamoDB does not take go to the function
log) into a local DynamoDB model that enforces 1,000 WCU/s per partition key,
then reads the run back (``chaoskit.ledger.store.read_run``: parallel Query
per shard, one ``json.loads`` per packed item) and reconciles it, with the log
lines merged in as the reconciler does. It runs twice in the same process:
with the ledger's shard keys, and with every item under the bare run id (the
layout before sharding) as the baseline.

Part 2 baseline fills the model with M events (default 100,000; ``0`` skips
it) twice, one item per record (the layout before packing) and packed, and
times reading back and reconciling each: the ratio is the gain of packing.

Part 2 fills the model with N events (default 1,000,000; three records each,
packed as the layer and the load action write them: ``sent`` records of ten
events in one item, the attempts and outcomes of an invocation of ten events
in another) and times reading the run back and reconciling it (target: under
10 s). Each figure comes with the machine's load average: on a shared
machine, compare the CPU seconds.

The model (:class:`PartitionModel`):
- time is simulated: event ``i`` happens at ``i / 10,000`` s, and every write
  of its invocation at that moment, so the rate is exact whatever the machine;
- each partition key has a token bucket of 1,000 WCU/s, starting full at 1,000
  (no burst credit beyond one second: stricter than DynamoDB's burst capacity);
  an item costs ceil(size / 1 KB) WCU, size counted as DynamoDB does (names and
  values); an item without tokens comes back in ``UnprocessedItems`` (and a call
  whose every item is refused raises ``ProvisionedThroughputExceededException``,
  as DynamoDB does);
- ``Query`` returns pages of at most 1 MB (item sizes as above), in sort-key
  order, as low-level typed items built per page (the cost botocore's parsing
  has on AWS is there, the network is not).

What it does not model: network round trips (AWS adds milliseconds per call:
the layer writes after the response, the reader runs 16 queries at a time),
table-level limits (an on-demand table starts at 4,000 WCU/s and doubles with
traffic; pre-warm it or use provisioned capacity for 30,000 records/s),
adaptive capacity splitting partitions.
"""

import gc
import math
import os
import sys
import threading
import time
from collections import defaultdict
from typing import Any

from botocore.exceptions import ClientError

from chaoskit.layer import _aws, log, tracing
from chaoskit.ledger import records as ledger_records
from chaoskit.ledger import store
from chaoskit.ledger.discover import merge_log_records
from chaoskit.ledger.reconcile import reconcile
from chaoskit.ledger.records import Record, from_log_line, make_item, pack_items

RATE = 10_000  # events per second
WCU_PER_KEY = 1_000
BATCH = 10  # events per invocation (an SQS batch)
PAGE_BYTES = 1024 * 1024
TARGET_READ_S = 10.0


def _size(item: dict[str, dict[str, str]]) -> int:
    return sum(len(k) + len(next(iter(v.values()))) for k, v in item.items())


class PartitionModel:
    """A DynamoDB table (BatchWriteItem, Query) with 1,000 WCU/s per partition key."""

    def __init__(self) -> None:
        self.now = 0.0  # simulated seconds
        self.tokens: dict[str, float] = {}
        self.seen_at: dict[str, float] = {}
        self.rows: dict[str, list[tuple[str, ...]]] = defaultdict(list)
        self.throttled = 0
        self.calls = 0
        self.wcu: dict[str, int] = defaultdict(int)  # write units taken, per key
        self.lock = threading.Lock()

    def _take(self, key: str, cost: int) -> bool:
        last = self.seen_at.get(key, self.now)
        tokens = self.tokens.get(key, float(WCU_PER_KEY))
        tokens = min(float(WCU_PER_KEY), tokens + (self.now - last) * WCU_PER_KEY)
        self.seen_at[key] = self.now
        if tokens >= cost:
            self.tokens[key] = tokens - cost
            return True
        self.tokens[key] = tokens
        return False

    def batch_write_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        ((table, requests),) = RequestItems.items()
        unprocessed = []
        with self.lock:
            self.calls += 1
            for request in requests:
                item = request["PutRequest"]["Item"]
                key, cost = item["run_id"]["S"], math.ceil(_size(item) / 1024)
                if self._take(key, cost):
                    self.rows[key].append(_row(item))
                    self.wcu[key] += cost
                else:
                    self.throttled += 1
                    unprocessed.append(request)
        if unprocessed and len(unprocessed) == len(requests):
            raise ClientError(
                {"Error": {"Code": "ProvisionedThroughputExceededException",
                           "Message": "Throughput exceeds the partition's limit"}},
                "BatchWriteItem",
            )  # fmt: skip
        return {"UnprocessedItems": {table: unprocessed} if unprocessed else {}}

    def query(self, **kwargs: Any) -> dict[str, Any]:
        key = kwargs["ExpressionAttributeValues"][":r"]["S"]
        rows = self.rows.get(key, [])
        if not kwargs.get("ExclusiveStartKey"):
            rows.sort(key=lambda row: row[2])  # sk order (already sorted: linear)
        start = int(kwargs.get("ExclusiveStartKey", {}).get("i", {}).get("N", 0))
        items, size, i = [], 0, start
        while i < len(rows) and size < PAGE_BYTES:
            row = rows[i]
            items.append(_item(row))
            size += sum(len(k) + len(v) for k, v in zip(_KEYS, row, strict=True) if v)
            i += 1
        page: dict[str, Any] = {"Items": items}
        if i < len(rows):
            page["LastEvaluatedKey"] = {"i": {"N": str(i)}}
        return page


_KEYS = ("run_id", "run", "sk", "event_id", "kind", "at", "expires_at", "source", "detail",
         "records")  # fmt: skip
_NUMBERS = frozenset(("at", "expires_at"))


def _row(item: dict[str, dict[str, str]]) -> tuple[str, ...]:
    return tuple(next(iter(item[k].values())) if k in item else "" for k in _KEYS)


def _item(row: tuple[str, ...]) -> dict[str, dict[str, str]]:
    # As botocore hands a Query's items over: one typed value per attribute.
    return {
        key: {"N" if key in _NUMBERS else "S": value}
        for key, value in zip(_KEYS, row, strict=True)
        if value
    }


def _sent(run: str, first: int, at: float) -> list[Record]:
    """The load action's ``sent`` records of one invocation's events."""
    return [Record(run, f"{i:032x}", "sent", at - 0.01) for i in range(first, first + BATCH)]


def _records(run: str, first: int, at: float) -> list[Record]:
    """The layer's records of one invocation: an attempt and an outcome per event."""
    out = []
    request = f"req-{first}"
    for i in range(first, first + BATCH):
        e = f"{i:032x}"
        detail = {"function": "writer", "request_id": request,
                  "queue": "arn:aws:sqs:us-east-1:0:orders"}  # fmt: skip
        out.append(Record(run, e, "attempt", at, "sqs", detail))
        out.append(Record(run, e, "processed", at + 0.002, "sqs", detail))
    return out


def write_run(events: int, sharded: bool) -> dict[str, Any]:
    """Push ``events`` through the layer's write path into a fresh model; return figures."""
    run = "bench-" + ("sharded" if sharded else "single")
    model = PartitionModel()
    lines: list[str] = []
    previous_sink = log.set_sink(lines.append)
    original_call = _aws.call
    _aws.call = lambda service, operation, **kw: getattr(model, operation)(**kw)  # type: ignore[assignment]
    original_partition = ledger_records.partition
    if not sharded:
        ledger_records.partition = lambda run_id, event_id: run_id  # type: ignore[assignment]
    expected = 0
    try:
        start = time.perf_counter()
        for first in range(0, events, BATCH):
            model.now = first / RATE
            sent = [
                Record(run, f"{i:032x}", "sent", model.now - 0.01)
                for i in range(first, first + BATCH)
            ]
            tracing.write_records(sent)  # the load action's records of these events
            tracing.write_records(_records(run, first, model.now))
            expected += 3 * BATCH
        write_s = time.perf_counter() - start
    finally:
        _aws.call = original_call  # type: ignore[assignment]
        ledger_records.partition = original_partition  # type: ignore[assignment]
        log.set_sink(previous_sink)
    start = time.perf_counter()
    got = store.read_run(run, client=model) if sharded else sorted(
        (r for row in model.rows[run] for r in ledger_records.parse_items(_item(row))),
        key=lambda r: r.event_id,
    )  # fmt: skip
    in_table = len(got)
    logged = [r for line in lines for r in from_log_line(line)]
    from_logs = merge_log_records(got, logged)
    out = reconcile(got)
    read_s = time.perf_counter() - start
    return {
        "layout": "sharded" if sharded else "single key",
        "records": expected,
        "in_table": in_table,
        "from_logs": from_logs,
        "lost_records": expected - in_table - from_logs,
        "throttled_writes": model.throttled,
        "write_calls": model.calls,
        "hot_key_wcu_s": max(model.wcu.values()) / (events / RATE),
        "items": sum(map(len, model.rows.values())),
        "wcu": sum(model.wcu.values()),
        "write_s": write_s,
        "read_reconcile_s": read_s,
        "sent": out["sent"],
        "processed": out["processed"],
        "lost_events": out["lost"],
    }


def read_million(events: int, packed: bool = True) -> dict[str, Any]:
    """Fill a model with ``events`` events (three records each); time read-back + reconcile.

    ``packed``: the items the layer and the load action write (one per
    invocation's records); otherwise one item per record (the layout before
    packing, the baseline).
    """
    run = "bench-million"
    model = PartitionModel()
    for first in range(0, events, BATCH):
        at = first / RATE
        if packed:
            items = [item for group in (_sent(run, first, at), _records(run, first, at))
                     for item, _ in pack_items(group)]  # fmt: skip
        else:
            items = [make_item(r) for r in _sent(run, first, at) + _records(run, first, at)]
        for item in items:
            model.rows[item["run_id"]["S"]].append(_row(item))
    for rows in model.rows.values():
        rows.sort(key=lambda row: row[2])
    gc.collect()
    start, cpu = time.perf_counter(), time.process_time()
    got = store.read_run(run, client=model)
    read_s, read_cpu = time.perf_counter() - start, time.process_time() - cpu
    out = reconcile(got)
    total_s, total_cpu = time.perf_counter() - start, time.process_time() - cpu
    items, records = sum(map(len, model.rows.values())), len(got)
    del got, model
    gc.collect()
    return {"events": events, "records": records, "items": items, "read_s": read_s,
            "total_s": total_s, "read_cpu": read_cpu, "total_cpu": total_cpu,
            "processed": out["processed"], "lost": out["lost"]}  # fmt: skip


def main(argv: list[str]) -> int:
    events = int(argv[0]) if argv and argv[0].isdigit() else 100_000
    million = 1_000_000
    if "--million" in argv:
        million = int(argv[argv.index("--million") + 1])
    baseline = 100_000
    if "--baseline" in argv:
        baseline = int(argv[argv.index("--baseline") + 1])
    print(f"part 1: {events:,} events at {RATE:,} events/s ({3 * events:,} records), "
          f"{WCU_PER_KEY:,} WCU/s per partition key, {ledger_records.SHARDS} shards")  # fmt: skip
    results = [write_run(events, sharded=True), write_run(events, sharded=False)]
    for r in results:
        print(
            f"  {r['layout']:>10}: records lost {r['lost_records']}, throttled writes "
            f"{r['throttled_writes']:,}, records via the function log {r['from_logs']:,}, "
            f"{r['items']:,} items ({r['wcu']:,} WCU) in the table, "
            f"hottest key {r['hot_key_wcu_s']:,.0f} WCU/s; write {r['write_s']:.2f} s "
            f"({r['write_calls']:,} calls), read back + reconcile {r['read_reconcile_s']:.2f} s; "
            f"sent {r['sent']:,} processed {r['processed']:,} lost {r['lost_events']}"
        )
    sharded, single = results
    if single["throttled_writes"]:
        print(f"  ratio: the single key throttled {single['throttled_writes']:,} writes, "
              f"the shards {sharded['throttled_writes']:,}")  # fmt: skip
    if baseline:
        load = os.getloadavg()[0]
        old, new = read_million(baseline, packed=False), read_million(baseline, packed=True)
        print(f"part 2 baseline: {baseline:,} events, one item per record (before packing) "
              f"vs packed (load average {load:.1f}):")  # fmt: skip
        for name, m in (("per record", old), ("packed", new)):
            print(f"  {name:>10}: {m['items']:,} items, read back {m['read_s']:.2f} s (cpu "
                  f"{m['read_cpu']:.2f} s), + reconcile {m['total_s']:.2f} s (cpu "
                  f"{m['total_cpu']:.2f} s); processed {m['processed']:,} "
                  f"lost {m['lost']}")  # fmt: skip
        print(f"  ratio: packed reads back + reconciles {old['total_cpu'] / new['total_cpu']:.1f}x "
              f"faster in cpu ({old['total_s'] / new['total_s']:.1f}x in wall time), "
              f"{old['items'] / new['items']:.1f}x fewer items")  # fmt: skip
    if million:
        load = os.getloadavg()[0]
        m = read_million(million)
        verdict = "OK" if m["total_s"] < TARGET_READ_S else "OVER TARGET"
        print(f"part 2: read back {m['records']:,} records of {m['events']:,} events "
              f"({m['items']:,} packed items) in {m['read_s']:.2f} s (cpu {m['read_cpu']:.2f} s), "
              f"+ reconcile = {m['total_s']:.2f} s (cpu {m['total_cpu']:.2f} s) (target < "
              f"{TARGET_READ_S:.0f} s: {verdict}); processed {m['processed']:,}, lost {m['lost']}; "
              f"load average {load:.1f} before, {os.getloadavg()[0]:.1f} after")  # fmt: skip
    ok = sharded["lost_records"] == 0 and sharded["throttled_writes"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
