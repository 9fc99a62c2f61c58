"""Benchmark: reconcile 1,000,000 events (pure computation, records already loaded).

Each event has a ``sent``, an ``attempt`` and an outcome; a slice of them is
retried, dead-lettered, duplicated, in flight or lost, so every branch runs.
Prints the wall time of :func:`chaoskit.ledger.reconcile.reconcile` alone
(and its CPU time, which other load on the machine disturbs less); the
target is under 5 s of wall time.

    .venv/bin/python benchmarks/reconcile_million.py [EVENTS] [--shuffled]

Records come in the order the ledger store reads them (grouped by event id);
``--shuffled`` measures the cache-hostile worst case too.
"""

import random
import sys
import time

from chaoskit.ledger.reconcile import reconcile
from chaoskit.ledger.records import Record

TARGET_SECONDS = 5.0


def build(events: int, shuffled: bool = False, seed: int = 7) -> list[Record]:
    """Return a ledger of about 3.1 records per event.

    By default in the order ``chaoskit.ledger.store.read_run`` returns records
    (sort key ``event_id#kind#time``: an event's records together); with
    ``shuffled`` in random order, which defeats the CPU caches.
    """
    rng = random.Random(seed)
    records: list[Record] = []
    add = records.append
    for i in range(events):
        e = f"{i:032x}"
        t = 1_700_000_000.0 + i / 1000
        add(Record("bench", e, "sent", t))
        add(Record("bench", e, "attempt", t + 0.01, "sqs", {"request_id": f"r{i}"}))
        roll = i % 100
        if roll < 90:
            add(Record("bench", e, "processed", t + 0.02, "sqs", {"request_id": f"r{i}"}))
        elif roll < 94:
            add(Record("bench", e, "failed", t + 0.02, "sqs", {"error": "Boom"}))
            add(Record("bench", e, "attempt", t + 1.0, "sqs", {"request_id": f"s{i}"}))
            add(Record("bench", e, "processed", t + 1.1, "sqs", {"request_id": f"s{i}"}))
        elif roll < 97:
            add(Record("bench", e, "failed", t + 0.02, "sqs", {"error": "Boom"}))
            add(Record("bench", e, "dead_lettered", t + 9, "sqs:dlq", {"reason": "max_receive"}))
        elif roll < 98:
            add(Record("bench", e, "processed", t + 0.02, "sqs", {"request_id": f"r{i}"}))
            add(Record("bench", e, "processed", t + 5.0, "sqs", {"request_id": f"d{i}"}))
        elif roll < 99:
            pass  # in flight
        else:
            add(Record("bench", e, "failed", t + 0.02, "sqs", {"error": "Boom"}))  # lost
    if shuffled:
        rng.shuffle(records)
    else:
        records.sort(key=lambda r: (r.event_id, r.kind, r.at))
    return records


def main() -> int:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    shuffled = "--shuffled" in sys.argv[1:]
    events = int(args[0]) if args else 1_000_000
    records = build(events, shuffled=shuffled)
    start, cpu_start = time.perf_counter(), time.process_time()
    out = reconcile(records)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    print(
        f"reconcile: {events:,} events, {len(records):,} records"
        f" ({'shuffled' if shuffled else 'ledger order'}) in {elapsed:.2f} s (cpu {cpu:.2f} s) "
        f"(target < {TARGET_SECONDS:.0f} s) -> sent={out['sent']:,} processed={out['processed']:,}"
        f" dead_lettered={out['dead_lettered']:,} in_flight={out['in_flight']:,}"
        f" lost={out['lost']:,} duplicates={out['duplicates']:,}"
    )
    return 0 if elapsed < TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
