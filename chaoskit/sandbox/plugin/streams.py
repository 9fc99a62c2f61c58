"""Kinesis and DynamoDB stream event source mappings that deliver like AWS's.

LocalStack 2026.3's stream poller differs from AWS where events are at stake:

- ``BisectBatchOnFunctionError`` is ignored: a poison record's whole batch goes
  to the on-failure destination. Here a batch the function fails is split in two
  and each half retried separately, recursively, so only the failing records
  are discarded (AWS API reference: "If the function returns an error, split
  the batch in two and retry"). A split is not counted as a retry: each half
  starts with the attempts its parent had made.
- Throttles count as retries, so a function at reserved concurrency 0 has its
  records discarded within seconds. Here a throttled invoke
  (``TooManyRequestsException``) is retried with backoff and does not count
  toward ``MaximumRetryAttempts``; the records wait until
  ``MaximumRecordAgeInSeconds`` (then ``RecordAgeExceeded``), or for ever when
  it is -1.
- No checkpoint: the poller is rebuilt on every ``UpdateEventSourceMapping``
  and starts again from ``StartingPosition``, so re-enabling a mapping replayed
  a ``TRIM_HORIZON`` stream. Here the sequence number of the last record
  handled (processed or discarded) is kept per mapping and shard, and a rebuilt
  poller resumes after it.
- Shards are polled one at a time, round robin, and a shard retrying a batch
  holds up the others; here every shard has its own batch in flight and a
  retrying shard blocks only itself. ``ParallelizationFactor`` N splits each
  batch read from a shard into up to N lanes by partition key, delivered at
  once (AWS keeps a key's records in order; so do the lanes).
- An idle shard was read every poll interval (0.05 s here, so that a busy
  shard is read again at once): 20 ``GetRecords`` a second per idle Kinesis
  mapping, forwarded over HTTP to kinesis-mock, about a tenth of LocalStack's
  CPU under load. AWS polls a shard "at a base rate of once per second" for
  Kinesis and "4 times per second" for DynamoDB streams (Lambda developer
  guide); here a shard whose last read returned no record is read again after
  that base interval, and at once while records come.
- The on-failure record for ``RecordAgeExceeded`` lacked ``requestContext``;
  it now has it, without ``responseContext``, as AWS writes it (AWS-recorded in
  LocalStack's ``test_kinesis_maximum_record_age_exceeded``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from localstack.utils.patch import Patch

from .patching import replace, wrap

LOG = logging.getLogger(__name__)

#: Longest pause between retries of a failed or throttled batch, in seconds.
MAX_BACKOFF = 5.0
#: ESM UUID -> shard id -> sequence number of the last record handled.
CHECKPOINTS: dict[str, dict[str, str]] = {}
_CHECKPOINT_LOCK = threading.Lock()


def checkpoint(esm_uuid: str | None, shard_id: str, sequence_number: str) -> None:
    """Remember that every record of ``shard_id`` up to ``sequence_number`` was handled."""
    if not esm_uuid:
        return
    with _CHECKPOINT_LOCK:
        CHECKPOINTS.setdefault(esm_uuid, {})[shard_id] = sequence_number


def is_throttle(error: BaseException) -> bool:
    """Tell whether an invoke failed because the function was throttled."""
    response = getattr(error, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    return code == "TooManyRequestsException" or type(error).__name__ == "TooManyRequestsException"


def _raw_sequence(poller: Any, record: dict[str, Any]) -> str:
    if "SequenceNumber" in record:
        return str(record["SequenceNumber"])
    return str(record["dynamodb"]["SequenceNumber"])


def _arrival(poller: Any, event: dict[str, Any]) -> float:
    if "kinesis" in event:
        return float(event["kinesis"]["approximateArrivalTimestamp"])
    if "dynamodb" in event:
        created = event["dynamodb"].get("ApproximateCreationDateTime")
        return float(created) if isinstance(created, int | float) else time.time()
    return float(poller.get_approximate_arrival_time(event))


def _settings(poller: Any) -> tuple[int, int, bool]:
    params = poller.stream_parameters
    esm = getattr(poller, "chaoskit_esm", None) or {}
    max_retries = int(params.get("MaximumRetryAttempts", -1))
    max_age = int(params.get("MaximumRecordAgeInSeconds", -1))
    return max_retries, max_age, bool(esm.get("BisectBatchOnFunctionError"))


def _context(
    poller: Any, condition: str, attempts: int, error: dict[str, Any] | None
) -> dict[str, Any]:
    request = {
        "requestId": (error or {}).get("requestId") or str(uuid.uuid4()),
        "functionArn": poller.processor.sender.target_arn,
        "condition": condition,
        "approximateInvokeCount": max(attempts, 1),
    }
    context: dict[str, Any] = {"requestContext": request}
    if error:  # the function answered (an error, or a partial batch failure)
        context["responseContext"] = {
            "statusCode": error.get("httpStatusCode"),
            "executedVersion": error.get("executedVersion"),
            "functionError": error.get("functionError"),
        }
    return context


class _Delivery:
    """Deliver one shard batch: retries, throttles, bisect, record age, destination."""

    def __init__(self, poller: Any, shard_id: str) -> None:
        self.poller = poller
        self.shard_id = shard_id
        self.max_retries, self.max_age, self.bisect = _settings(poller)

    def _stopped(self) -> bool:
        return bool(self.poller._is_shutdown.is_set())

    def _discard(
        self, events: list[dict[str, Any]], condition: str, attempts: int, error: Any
    ) -> None:
        if events:
            context = _context(self.poller, condition, attempts, error)
            self.poller.send_events_to_dlq(self.shard_id, events, context=context)

    def _expired(self, events: list[dict[str, Any]]) -> tuple[list[Any], list[Any]]:
        if self.max_age < 0:
            return events, []
        cutoff = time.time() - self.max_age
        old = [e for e in events if _arrival(self.poller, e) < cutoff]
        return [e for e in events if _arrival(self.poller, e) >= cutoff], old

    def run(self, events: list[dict[str, Any]]) -> bool:
        """Deliver ``events``; return ``False`` if the poller stopped before they were handled."""
        pending: list[tuple[list[dict[str, Any]], int]] = [(events, 0)]
        while pending:
            batch, attempts = pending.pop(0)
            done = self._one(batch, attempts, pending)
            if not done:
                return False
        return True

    def _one(
        self,
        batch: list[dict[str, Any]],
        attempts: int,
        pending: list[tuple[list[dict[str, Any]], int]],
    ) -> bool:
        from localstack.services.lambda_.event_source_mapping.event_processor import (
            BatchFailureError,
            PartialBatchFailureError,
        )
        from localstack.services.lambda_.event_source_mapping.pollers.poller import (
            get_batch_item_failures,
        )

        invokes, pause, error = 0, 0.0, None
        while batch:
            if self._stopped():
                return False
            batch, old = self._expired(batch)
            self._discard(old, "RecordAgeExceeded", invokes or attempts, None)
            if not batch:
                return True
            if self.max_retries >= 0 and attempts > self.max_retries:
                self._discard(batch, "RetryAttemptsExhausted", invokes, error)
                return True
            if pause:
                self.poller._is_shutdown.wait(pause)
                if self._stopped():
                    return False
            invokes += 1
            try:
                self.poller.processor.process_events_batch(batch)
                return True
            except PartialBatchFailureError as failure:
                error = failure.error
                sequences = {self.poller.get_sequence_number(e) for e in batch}
                payload: Any = failure.partial_failure_payload
                failed = get_batch_item_failures(payload, sequences)
                if failed:
                    lowest = min(failed, key=int)
                    _, batch = self.poller.bisect_events(lowest, batch)
            except BatchFailureError as failure:
                error = failure.error
                if self.bisect and len(batch) > 1:
                    half = len(batch) // 2
                    pending[:0] = [(batch[:half], attempts), (batch[half:], attempts)]
                    return True
            except Exception as failure:  # what the invoke raised: throttle or system error
                if is_throttle(failure):
                    pause = min(MAX_BACKOFF, max(0.5, pause * 2))
                    continue  # throttles do not count as retry attempts
                LOG.warning("stream batch delivery failed: %s", failure)
            attempts += 1
            pause = min(MAX_BACKOFF, max(0.5, pause * 2))
        return True


def _lane_key(event: dict[str, Any]) -> str:
    if "kinesis" in event:
        return str(event["kinesis"].get("partitionKey", ""))
    return json.dumps((event.get("dynamodb") or {}).get("Keys"), sort_keys=True)


def _lanes(poller: Any, events: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Split a batch into ``ParallelizationFactor`` lanes, each key's records in order."""
    factor = int((getattr(poller, "chaoskit_esm", None) or {}).get("ParallelizationFactor") or 1)
    if factor <= 1 or len(events) <= 1:
        return [events]
    lanes: list[list[dict[str, Any]]] = [[] for _ in range(factor)]
    for event in events:
        digest = hashlib.md5(_lane_key(event).encode(), usedforsecurity=False).digest()
        lanes[int.from_bytes(digest[:4], "big") % factor].append(event)
    return [lane for lane in lanes if lane]


def forward_events_to_target(self: Any, shard_id: str, records: list[dict[str, Any]]) -> None:
    """Deliver one batch of a shard's records; checkpoint once they are handled.

    With ``ParallelizationFactor`` N the batch is split by partition key (item key
    for DynamoDB) into up to N lanes delivered at once; a key's records stay in
    order within its lane.
    """
    if not records:
        return
    last = _raw_sequence(self, records[-1])
    events = self.post_filter(
        self.filter_events(self.pre_filter(self.transform_into_events(records, shard_id)))
    )
    if events:
        events = self.add_source_metadata(events)
        lanes = _lanes(self, events)
        if len(lanes) == 1:
            handled = _Delivery(self, shard_id).run(lanes[0])
        else:
            with ThreadPoolExecutor(len(lanes), thread_name_prefix="chaoskit-lane") as pool:
                results = list(pool.map(lambda lane: _Delivery(self, shard_id).run(lane), lanes))
            handled = all(results)
        if not handled:
            return  # stopped: the next poller starts again from the last checkpoint
    checkpoint(self.esm_uuid, shard_id, last)


def _resume(poller: Any, shards: dict[str, str], stream_key: str, seq_key: str) -> dict[str, str]:
    with _CHECKPOINT_LOCK:
        saved = dict(CHECKPOINTS.get(poller.esm_uuid or "", {}))
    for shard_id, sequence in saved.items():
        if shard_id not in shards:
            continue
        try:
            answer = poller.source_client.get_shard_iterator(
                **{stream_key: poller.source_arn, seq_key: sequence},
                ShardId=shard_id,
                ShardIteratorType="AFTER_SEQUENCE_NUMBER",
            )
            shards[shard_id] = answer["ShardIterator"]
        except Exception as err:  # trimmed past the checkpoint: keep the starting position
            LOG.warning("cannot resume shard %s after %s: %s", shard_id, sequence, err)
    return shards


def kinesis_initialize_shards(original: Any, self: Any) -> dict[str, str]:
    """Start each shard after its checkpoint when the mapping has one."""
    return _resume(self, original(self), "StreamARN", "StartingSequenceNumber")


def dynamodb_initialize_shards(original: Any, self: Any) -> dict[str, str]:
    """Start each shard after its checkpoint when the mapping has one."""
    return _resume(self, original(self), "StreamArn", "SequenceNumber")


_POOLS: dict[int, ThreadPoolExecutor] = {}
#: Seconds between reads of an idle shard (AWS's base polling rate).
BASE_INTERVAL = {"KinesisPoller": 1.0, "DynamoDBPoller": 0.25}
_SHARD = threading.local()  # the shard a thread is reading


def _idle(poller: Any, shard_id: str) -> bool:
    """Whether the shard's last read found nothing less than its base interval ago."""
    until: dict[str, float] = getattr(poller, "chaoskit_idle_until", None) or {}
    return time.monotonic() < until.get(shard_id, 0.0)


def get_records(original: Any, self: Any, shard_iterator: str) -> dict[str, Any]:
    """Read a shard; note when it was idle, so it is read again after the base interval."""
    response: dict[str, Any] = original(self, shard_iterator)
    shard_id = getattr(_SHARD, "id", None)
    if shard_id is not None:
        if not hasattr(self, "chaoskit_idle_until"):
            self.chaoskit_idle_until = {}
        interval = BASE_INTERVAL.get(type(self).__name__, 0.0)
        idle = not response.get("Records") and interval > 0
        self.chaoskit_idle_until[shard_id] = time.monotonic() + interval if idle else 0.0
    return response


def _read_shard(poller: Any, shard_id: str, iterator: str) -> None:
    from localstack.services.lambda_.event_source_mapping.event_processor import (
        PipeInternalError,
    )

    _SHARD.id = shard_id
    try:
        with contextlib.suppress(PipeInternalError):  # retried at the next poll
            poller.poll_events_from_shard(shard_id, iterator)
    finally:
        _SHARD.id = None


def poll_events(original: Any, self: Any) -> None:
    """Poll every shard on its own thread, one batch in flight per shard.

    A shard whose batch is still being delivered (retrying, throttled) is
    skipped, so it never holds up the other shards; an idle one is read again
    after its base interval (:func:`get_records`).
    """
    if not self.shards:
        self.shards = self.initialize_shards()
    if not self.shards:
        original(self)  # LocalStack's error for a stream without shards
        return
    if len(self.shards) == 1:
        shard_id, iterator = next(iter(self.shards.items()))
        if not _idle(self, shard_id):
            _read_shard(self, shard_id, iterator)
        return
    pool = _POOLS.get(id(self))
    if pool is None:
        pool = _POOLS[id(self)] = ThreadPoolExecutor(
            max_workers=min(len(self.shards), 16), thread_name_prefix="chaoskit-shard"
        )
        self.chaoskit_busy = set()
    busy: set[str] = self.chaoskit_busy

    def one(shard_id: str, iterator: str) -> None:
        try:
            _read_shard(self, shard_id, iterator)
        finally:
            busy.discard(shard_id)

    for shard_id, iterator in list(self.shards.items()):
        if shard_id in busy or _idle(self, shard_id):
            continue
        busy.add(shard_id)
        try:
            pool.submit(one, shard_id, iterator)
        except RuntimeError:  # the pool was shut down: the poller is closing
            busy.discard(shard_id)
            return


def close(original: Any, self: Any) -> None:
    """Stop the poller and its shard threads."""
    original(self)
    pool = _POOLS.pop(id(self), None)
    if pool is not None:
        pool.shutdown(wait=False)


def patches() -> list[Patch]:
    """The stream poller patches."""
    from localstack.services.lambda_.event_source_mapping.pollers.dynamodb_poller import (
        DynamoDBPoller,
    )
    from localstack.services.lambda_.event_source_mapping.pollers.kinesis_poller import (
        KinesisPoller,
    )
    from localstack.services.lambda_.event_source_mapping.pollers.stream_poller import (
        StreamPoller,
    )

    return [
        replace(StreamPoller, "forward_events_to_target", forward_events_to_target),
        wrap(StreamPoller, "poll_events", poll_events),
        wrap(StreamPoller, "get_records", get_records),
        wrap(StreamPoller, "close", close),
        wrap(KinesisPoller, "initialize_shards", kinesis_initialize_shards),
        wrap(DynamoDBPoller, "initialize_shards", dynamodb_initialize_shards),
    ]
