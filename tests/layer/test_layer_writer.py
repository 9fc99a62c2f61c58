"""The layer's background ledger writer: what it writes, when, and in how many calls."""

import sys
import threading
import time
from typing import Any

import pytest

from chaoskit.layer.tracing import MAX_RECORDS
from chaoskit.layer.writer import YIELD_EVERY, LedgerWriter
from chaoskit.ledger.records import ATTEMPT, PROCESSED, Record


def _records(kind: str, count: int, prefix: str = "e") -> list[Record]:
    return [Record("run-1", f"{prefix}-{i}", kind, 1.0, "sqs") for i in range(count)]


class Batches:
    """A write function that records each call's batch and can be held back."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.release = threading.Event()
        self.release.set()
        self.written = threading.Condition()

    def __call__(self, records: list[Record]) -> None:
        self.release.wait(10)
        with self.written:
            self.calls.append([f"{r.kind}:{r.event_id}" for r in records])
            self.written.notify_all()

    def wait_for(self, calls: int) -> None:
        with self.written:
            assert self.written.wait_for(lambda: len(self.calls) >= calls, timeout=10), self.calls


def test_flush_writes_everything_queued_in_calls_of_at_most_max_records_in_order() -> None:
    write = Batches()
    ledger = LedgerWriter(write)
    ledger.submit(_records(ATTEMPT, MAX_RECORDS - 10))
    ledger.submit(_records(PROCESSED, 30))
    assert ledger.flush(10) is True
    assert [len(call) for call in write.calls] == [MAX_RECORDS, 20]
    flat = [item for call in write.calls for item in call]
    assert flat == [f"attempt:e-{i}" for i in range(MAX_RECORDS - 10)] + [
        f"processed:e-{i}" for i in range(30)
    ]
    assert ledger.pending() == 0


def test_records_without_a_hold_wait_for_a_due_record_or_a_flush() -> None:
    write = Batches()
    ledger = LedgerWriter(write)
    ledger.submit(_records(PROCESSED, 2, "held"))  # only at a flush...
    ledger.submit(_records(ATTEMPT, 1, "due"), hold=0)  # ...or with something due
    write.wait_for(1)
    assert ledger.flush(10)
    # Had the held records been written on their own, there would be two calls.
    assert write.calls == [["processed:held-0", "processed:held-1", "attempt:due-0"]]


def test_a_held_attempt_is_written_without_a_flush_once_its_hold_is_over() -> None:
    write = Batches()
    ledger = LedgerWriter(write)
    ledger.submit(_records(ATTEMPT, 3), hold=0.01)
    write.wait_for(1)
    assert write.calls == [["attempt:e-0", "attempt:e-1", "attempt:e-2"]]


def test_flush_gives_up_at_its_timeout_with_one_warning_and_keeps_the_records(
    lines: Any,
) -> None:
    write = Batches()
    write.release.clear()  # DynamoDB hangs
    ledger = LedgerWriter(write)
    ledger.submit(_records(PROCESSED, 3))
    assert ledger.flush(0.05) is False
    assert ledger.pending() == 3
    (warning,) = lines.warnings()
    assert "3 ledger record(s) not yet written" in warning["message"]
    write.release.set()
    assert ledger.flush(10) is True
    assert write.calls == [["processed:e-0", "processed:e-1", "processed:e-2"]]


def test_a_failing_write_is_survived_with_a_warning_and_later_records_still_go(
    lines: Any,
) -> None:
    calls: list[int] = []

    def write(records: list[Record]) -> None:
        calls.append(len(records))
        if len(calls) == 1:
            raise RuntimeError("boom")

    ledger = LedgerWriter(write)
    ledger.submit(_records(PROCESSED, 2))
    assert ledger.flush(10)
    ledger.submit(_records(PROCESSED, 4))
    assert ledger.flush(10)
    assert calls == [2, 4]
    (warning,) = lines.warnings()
    assert "could not write 2 ledger record(s)" in warning["message"]


def test_flush_with_nothing_queued_returns_at_once_without_a_thread() -> None:
    ledger = LedgerWriter(Batches())
    assert ledger.flush(0) is True
    assert ledger._thread is None


def test_the_writer_yields_the_gil_sooner_while_it_writes_then_restores_the_interval() -> None:
    seen: list[float] = []
    before = sys.getswitchinterval()
    ledger = LedgerWriter(lambda records: seen.append(sys.getswitchinterval()))
    ledger.submit(_records(PROCESSED, 1))
    assert ledger.flush(10)
    assert seen == [pytest.approx(YIELD_EVERY)]  # the interpreter keeps microseconds
    assert before > YIELD_EVERY
    assert sys.getswitchinterval() == before


def test_overlapping_writers_put_the_interval_back_exactly() -> None:
    before = sys.getswitchinterval()
    first_writing, release_first = threading.Event(), threading.Event()

    def first(records: list[Record]) -> None:
        first_writing.set()
        release_first.wait(5)

    def second(records: list[Record]) -> None:
        release_first.set()  # the first writer finishes while this one still writes
        time.sleep(0.05)

    a, b = LedgerWriter(first), LedgerWriter(second)
    a.submit(_records(PROCESSED, 1))
    flushed: list[bool] = []
    flushing = threading.Thread(target=lambda: flushed.append(a.flush(10)))
    flushing.start()
    assert first_writing.wait(5)  # the first writer lowered the interval and is writing
    b.submit(_records(PROCESSED, 1))
    assert b.flush(10)
    flushing.join(10)
    assert flushed == [True]
    assert sys.getswitchinterval() == before
