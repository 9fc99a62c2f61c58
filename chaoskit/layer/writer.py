"""The layer's ledger writer: records go to DynamoDB from a background thread.

An invocation hands its records over and goes on; it never waits for DynamoDB
on its own path. When the records are written:

- ``attempt`` records once they have waited :data:`HOLD` seconds (or a quarter
  of the invocation's remaining time, if less), so that an invocation that runs
  long, or is killed at its timeout, still has its attempts on record;
- every record (``processed``/``failed`` ones included) when :meth:`LedgerWriter.flush`
  asks: after the response, by the layer's Lambda internal extension
  (:mod:`chaoskit.layer.extension`), or before returning, without one.

A quick invocation so writes its attempts and outcomes together, packed in one
item of one ``BatchWriteItem``, after its response went out. Standard
library only; the thread starts with the first record.
"""

import sys
import threading
import time
from collections.abc import Callable

from chaoskit.layer import log, tracing
from chaoskit.ledger.records import Record

__all__ = ["HOLD", "YIELD_EVERY", "LedgerWriter", "shared"]

#: Seconds an ``attempt`` record waits for its invocation's outcome before it is
#: written on its own.
HOLD = 0.05
#: The GIL switch interval while the writer writes, in seconds.
YIELD_EVERY = 0.0002
_NEVER = float("inf")


class LedgerWriter:
    """A queue of ledger records and the thread that writes them.

    Args:
        write: writes up to :data:`chaoskit.layer.tracing.MAX_RECORDS` records
            in one call (default: the layer's packed ``BatchWriteItem``); must
            not raise.
    """

    def __init__(self, write: Callable[[list[Record]], object] = tracing.write_records) -> None:
        self._write = write
        self._clock = time.monotonic  # the waits below are in real time too
        self._cond = threading.Condition()
        self._pending: list[tuple[float, Record]] = []  # (due, record), in arrival order
        self._writing = 0  # records taken by the thread and not yet written
        self._batch: list[Record] = []  # those records
        self._flushes = 0  # flush() calls waiting
        self._thread: threading.Thread | None = None

    def submit(self, records: list[Record], hold: float | None = None) -> None:
        """Queue ``records``: written after ``hold`` seconds, or at the next flush if ``None``."""
        if not records:
            return
        due = _NEVER if hold is None else self._clock() + max(0.0, hold)
        with self._cond:
            self._pending.extend((due, record) for record in records)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="chaoskit-ledger-writer", daemon=True
                )
                self._thread.start()
            if hold is not None:
                self._cond.notify_all()

    def flush(self, timeout: float) -> bool:
        """Write everything queued so far; wait up to ``timeout`` seconds.

        Returns:
            True when nothing is left to write; False when the time ran out (the
            records stay queued, one warning line says how many, and the queued
            records are also written to the log, so they survive a freeze).
        """
        deadline = self._clock() + max(0.0, timeout)
        with self._cond:
            if not self._pending and not self._writing:
                return True
            self._flushes += 1
            self._cond.notify_all()
            try:
                while self._pending or self._writing:
                    left = deadline - self._clock()
                    if left <= 0:
                        count = len(self._pending) + self._writing
                        log.warning(
                            f"{count} ledger record(s) not yet written after {timeout:.3f} s: "
                            "the queued ones go to the log"
                        )
                        # The environment may be frozen or ended before the thread gets
                        # to them: the log keeps them (the reconciler drops the copies).
                        tracing.log_records(self._batch + [r for _, r in self._pending])
                        return False
                    self._cond.wait(left)
                return True
            finally:
                self._flushes -= 1

    def pending(self) -> int:
        """Return how many records are queued or being written."""
        with self._cond:
            return len(self._pending) + self._writing

    def _take(self) -> list[Record]:
        # Called with the lock held: wait until something is due, then take a batch.
        while True:
            if self._pending:
                if self._flushes:
                    break
                wait = min(due for due, _ in self._pending) - self._clock()
                if wait <= 0:
                    break
                self._cond.wait(None if wait == _NEVER else wait)
            else:
                self._cond.wait()
        # Whatever is queued goes with what is due: one call instead of two.
        batch = [record for _, record in self._pending[: tracing.MAX_RECORDS]]
        del self._pending[: tracing.MAX_RECORDS]
        self._writing = len(batch)
        self._batch = batch
        return batch

    def _run(self) -> None:
        while True:
            with self._cond:
                batch = self._take()
            # While this thread serializes and signs the request (pure Python, milliseconds
            # of CPU), any thread of the function that wants the GIL gets it within
            # YIELD_EVERY instead of the interpreter's default 5 ms.
            _lower_switch_interval()
            try:
                self._write(batch)
            except Exception as err:  # the writer must outlive any one failure
                log.warning(f"could not write {len(batch)} ledger record(s): {err!r}")
            finally:
                _restore_switch_interval()
            with self._cond:
                self._writing = 0
                self._batch = []
                self._cond.notify_all()


# Writers that lower the switch interval at once (several writers may write together):
# the first saves the interval and lowers it, the last puts the saved one back. Saving
# and restoring per writer would let two overlapping writers leave it lowered for good,
# and the interpreter keeps whole microseconds, so each save-and-set of a lowered
# interval would shave a microsecond off it.
_interval_lock = threading.Lock()
_lowered = 0
_saved_interval = 0.0


def _lower_switch_interval() -> None:
    global _lowered, _saved_interval
    with _interval_lock:
        if _lowered == 0:
            _saved_interval = sys.getswitchinterval()
            if _saved_interval > YIELD_EVERY:
                sys.setswitchinterval(YIELD_EVERY)
        _lowered += 1


def _restore_switch_interval() -> None:
    global _lowered
    with _interval_lock:
        _lowered -= 1
        if _lowered == 0 and _saved_interval > YIELD_EVERY:
            sys.setswitchinterval(_saved_interval)


_shared: LedgerWriter | None = None
_shared_lock = threading.Lock()


def shared() -> LedgerWriter:
    """Return the execution environment's writer (the one the extension flushes)."""
    global _shared
    if _shared is None:
        with _shared_lock:
            if _shared is None:
                _shared = LedgerWriter()
    return _shared
