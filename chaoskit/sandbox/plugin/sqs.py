"""SQS event source mappings that poll with concurrent batches, as AWS's do.

LocalStack 2026.3 receives one batch, invokes the function, waits for it, and
only then receives the next: one batch in flight per mapping. AWS starts an SQS
mapping with five concurrent batches and scales up while messages are waiting,
up to ``ScalingConfig.MaximumConcurrency`` when set (AWS Lambda developer guide,
"Understanding SQS event source mapping scaling"). Here a mapping starts with
:data:`START_CONCURRENCY` batches in flight, adds one each time a full batch
arrives while every slot is busy (at most one a second) and the machine has a
core's worth of idle CPU (:class:`IdleCpu`), up to ``MaximumConcurrency`` or
:data:`MAX_CONCURRENCY` (the sandbox runs execution environments as local
processes), and gives one back when an invoke is throttled. On AWS each batch
gets its own capacity; here every batch shares the machine, so a batch added
when no core is idle makes no more progress, only more processes: with ten
batches instead of five on two busy cores, the reference app's worker used a
sixth more CPU per order and finished no sooner.

The poller's receives and deletes call LocalStack's SQS provider in-process
(:class:`DirectSqsClient`), not through an internal boto client and the gateway's
request chain: the same provider methods with the same arguments and override
headers, the same answers, a boto client's errors; about a tenth of LocalStack's
CPU in a profile of the reference app.

Throttles are not special-cased otherwise: event source mappings do not account
for reserved concurrency, so at reserved concurrency 0 the mapping keeps
receiving, the throttled batch's messages become visible again after the
queue's visibility timeout and count toward its ``maxReceiveCount`` (AWS
knowledge center, "Why is my Lambda function throttled by an SQS event source
mapping"; LocalStack's AWS-validated ``test_failing_lambda_retries_after_visibility_timeout``).
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import ClientError
from localstack.utils.patch import Patch

from .patching import wrap
from .streams import is_throttle

LOG = logging.getLogger(__name__)

START_CONCURRENCY = 5
MAX_CONCURRENCY = 10
#: Least seconds between two scale-ups (AWS adds up to 300 batches a minute; a
#: 2-core machine cold-starting many environments at once slows every one).
GROW_INTERVAL = 1.0
#: Least idle CPU, in cores, over the last interval for a scale-up (one core's worth
#: of the machine: below it, the batches in flight already keep every core busy).
IDLE_CORES_TO_GROW = 1.0
#: Seconds one receive waits for a first message when the queue is empty.
LONG_POLL = 1
#: Longest time one poll keeps receiving before it hands back to LocalStack's loop.
RECEIVE_ROUND = 2.0


class IdleCpu:
    """How many cores' worth of CPU the machine left idle, over the last second or so.

    Reads ``/proc/stat`` (Linux); a reading spans at least ``window`` seconds, so that
    mappings asking one after the other share it rather than each measure a few
    milliseconds, and at most ``stale`` seconds: the first question after a quiet
    spell (a mapping's first full batch, say) only starts a new reading and is answered
    0.0, so a burst is never judged by the idle minutes before it. Where the file cannot
    be read, the answer is ``None``, and a mapping grows on its backlog alone.

    Args:
        path: the kernel's CPU statistics.
        window: least seconds one reading spans.
        stale: most seconds one reading spans.
    """

    def __init__(
        self, path: str = "/proc/stat", window: float = GROW_INTERVAL, stale: float = 5.0
    ) -> None:
        self._path = path
        self._window = window
        self._stale = max(stale, window)
        self._lock = threading.Lock()
        self._ticks: tuple[float, float] | None = None
        self._at = 0.0
        self._cores: float | None = 0.0

    def _read(self) -> tuple[float, float] | None:
        """``(total, idle)`` CPU ticks of every core so far, or ``None``."""
        try:
            with open(self._path, encoding="ascii") as stat:
                fields = [float(v) for v in stat.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        if len(fields) < 5:
            return None
        return sum(fields[:8]), fields[3] + fields[4]  # idle and waiting for I/O

    def cores(self) -> float | None:
        """Idle cores on average over the last reading (``None`` if unknown)."""
        with self._lock:
            now = time.monotonic()
            if self._ticks is not None and now - self._at < self._window:
                return self._cores
            ticks, last, since = self._read(), self._ticks, now - self._at
            self._ticks, self._at = ticks, now
            if ticks is None:
                self._cores = None
            elif last is None or since > self._stale or ticks[0] <= last[0]:
                self._cores = 0.0  # a reading starts here
            else:
                share = (ticks[1] - last[1]) / (ticks[0] - last[0])
                self._cores = share * (os.cpu_count() or 1)
            return self._cores


_idle = IdleCpu()


class _Slots:
    """Concurrent batches of one poller: how many may run, how many do."""

    def __init__(self, limit: int, idle: IdleCpu = _idle) -> None:
        self.limit = limit
        self.idle = idle
        self.target = min(START_CONCURRENCY, limit)
        self.busy = 0
        self.grown_at = 0.0
        self.cond = threading.Condition()
        self.pool = ThreadPoolExecutor(max_workers=limit, thread_name_prefix="chaoskit-sqs")

    def acquire(self, stopped: threading.Event) -> bool:
        with self.cond:
            while self.busy >= self.target:
                if stopped.is_set():
                    return False
                self.cond.wait(0.1)
            self.busy += 1
            return True

    def release(self, throttled: bool) -> None:
        with self.cond:
            self.busy -= 1
            if throttled:
                self.target = max(1, self.target - 1)
            self.cond.notify()

    def grow(self) -> None:
        with self.cond:
            now = time.monotonic()
            full = self.busy >= self.target and self.target < self.limit
            if not full or now - self.grown_at < GROW_INTERVAL:
                return
            self.grown_at = now
            idle = self.idle.cores()
            if idle is None or idle >= IDLE_CORES_TO_GROW:
                self.target += 1


def _limit(poller: Any) -> int:
    esm = getattr(poller, "chaoskit_esm", None) or {}
    maximum = (esm.get("ScalingConfig") or {}).get("MaximumConcurrency")
    return max(1, min(int(maximum), MAX_CONCURRENCY)) if maximum else MAX_CONCURRENCY


def _slots(poller: Any) -> _Slots:
    slots = getattr(poller, "chaoskit_slots", None)
    if slots is None:
        slots = poller.chaoskit_slots = _Slots(_limit(poller))
        poller.chaoskit_stopped = threading.Event()
        if not isinstance(poller.source_client, DirectSqsClient):
            poller.source_client = DirectSqsClient(poller.source_client)
    return slots


class DirectSqsClient:
    """A poller's SQS client whose receives and deletes call LocalStack's provider in-process.

    Everything else (``get_queue_attributes``, ``meta``, ``exceptions``) is the
    wrapped boto client's. The poller's override arguments become the override
    headers its client's hooks would have sent, on the same terms (only above the
    API's own limits). A provider error is raised as the boto client's
    ``ClientError`` for that code, as the client raised it.

    Args:
        client: the poller's internal boto client.
        provider: LocalStack's ``SqsProvider`` (found when first needed if ``None``).
    """

    def __init__(self, client: Any, provider: Any = None) -> None:
        self._client = client
        self._provider = provider

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def receive_message(
        self,
        QueueUrl: str,
        sqs_override_max_message_count: int | None = None,
        sqs_override_wait_time_seconds: int | None = None,
        **params: Any,
    ) -> dict[str, Any]:
        """``ReceiveMessage``, as the poller's client sends it."""
        return self._call(
            "ReceiveMessage",
            QueueUrl,
            params,
            sqs_override_max_message_count,
            sqs_override_wait_time_seconds,
        )

    def delete_message_batch(
        self, QueueUrl: str, sqs_override_max_message_count: int | None = None, **params: Any
    ) -> dict[str, Any]:
        """``DeleteMessageBatch``, as the poller's client sends it."""
        return self._call(
            "DeleteMessageBatch", QueueUrl, params, sqs_override_max_message_count, None
        )

    def _call(
        self,
        operation: str,
        queue_url: str,
        params: dict[str, Any],
        count: int | None,
        wait: int | None,
    ) -> dict[str, Any]:
        from botocore import xform_name
        from localstack.aws.api import RequestContext, ServiceException
        from localstack.http import Request
        from localstack.services.lambda_.event_source_mapping.pollers.sqs_poller import (
            DEFAULT_MAX_RECEIVE_COUNT,
            DEFAULT_MAX_WAIT_TIME_SECONDS,
        )
        from localstack.services.sqs.constants import (
            HEADER_LOCALSTACK_SQS_OVERRIDE_MESSAGE_COUNT,
            HEADER_LOCALSTACK_SQS_OVERRIDE_WAIT_TIME_SECONDS,
        )
        from localstack.utils.strings import long_uid

        headers = {}
        if count and count > DEFAULT_MAX_RECEIVE_COUNT:
            headers[HEADER_LOCALSTACK_SQS_OVERRIDE_MESSAGE_COUNT] = str(count)
        if wait and wait > DEFAULT_MAX_WAIT_TIME_SECONDS:
            headers[HEADER_LOCALSTACK_SQS_OVERRIDE_WAIT_TIME_SECONDS] = str(wait)
        context = RequestContext(Request("POST", "/", headers=headers))
        context.service = _sqs_service()
        context.operation = context.service.operation_model(operation)
        context.region = self._client.meta.region_name
        context.account_id = _account(queue_url)
        request_id = long_uid()
        provider = self._provider or _sqs_provider()
        method = getattr(provider, xform_name(operation))
        kwargs = {xform_name(k): v for k, v in params.items()}
        try:
            result = method(context, queue_url=queue_url, **kwargs)
        except ServiceException as err:
            response = {
                "Error": {"Code": err.code, "Message": err.message},
                "ResponseMetadata": {"RequestId": request_id, "HTTPStatusCode": err.status_code},
            }
            error: ClientError = self._client.exceptions.from_code(err.code)(response, operation)
            raise error from err
        answer = {k: v for k, v in (result or {}).items() if v is not None}
        answer["ResponseMetadata"] = {"RequestId": request_id, "HTTPStatusCode": 200}
        return answer


@functools.cache
def _sqs_service() -> Any:
    from localstack.aws.spec import load_service

    return load_service("sqs")


def _account(queue_url: str) -> str:
    """The account in a queue URL (``.../<account>/<name>``), else LocalStack's default."""
    from localstack.constants import DEFAULT_AWS_ACCOUNT_ID

    parts = queue_url.rstrip("/").split("/")
    return parts[-2] if len(parts) >= 2 and parts[-2].isdigit() else DEFAULT_AWS_ACCOUNT_ID


def _sqs_provider() -> Any:
    from localstack.services.plugins import SERVICE_PLUGINS

    from .patching import UnsupportedLocalStackError

    provider = getattr(SERVICE_PLUGINS.get_service("sqs"), "_provider", None)
    if provider is None:
        raise UnsupportedLocalStackError("LocalStack's SQS service has no provider")
    return provider


def _handle(poller: Any, slots: _Slots, messages: list[dict[str, Any]]) -> None:
    from localstack.services.lambda_.event_source_mapping.pollers.sqs_poller import (
        split_by_message_group_id,
    )

    throttled = False
    try:
        if poller.is_fifo_queue:
            for group in split_by_message_group_id(messages).values():
                poller.handle_messages(group)
        else:
            poller.handle_messages(messages)
    except Exception as err:  # the messages stay in the queue and return after the timeout
        throttled = is_throttle(err) or is_throttle(err.__cause__ or err)
        LOG.debug("sqs batch failed (throttled=%s): %s", throttled, err)
    finally:
        slots.release(throttled)


def poll_events(original: Any, self: Any) -> None:
    """Receive batches and hand each to a free slot, until the queue is empty.

    LocalStack's worker pauses between two calls (its poll interval); receiving
    again at once while messages keep coming lets the slots fill.
    """
    slots = _slots(self)
    deadline = time.monotonic() + RECEIVE_ROUND
    while time.monotonic() < deadline:
        if not slots.acquire(self.chaoskit_stopped):
            return
        handed = False
        try:
            messages = _receive(self)
            if messages:
                if len(messages) >= min(self.batch_size, 10):
                    slots.grow()
                slots.pool.submit(_handle, self, slots, messages)
                handed = True
        finally:
            if not handed:
                slots.release(False)
        if not handed:
            return  # the receive waited already: poll again at once at the next call


def _receive(poller: Any) -> list[dict[str, Any]]:
    from localstack.aws.api.sqs import MessageSystemAttributeName
    from localstack.services.lambda_.event_source_mapping.pollers.sqs_poller import (
        DEFAULT_MAX_RECEIVE_COUNT,
        DEFAULT_MAX_WAIT_TIME_SECONDS,
    )

    window = int(poller.maximum_batching_window or 0)
    response = poller.source_client.receive_message(
        QueueUrl=poller.queue_url,
        MaxNumberOfMessages=min(poller.batch_size, DEFAULT_MAX_RECEIVE_COUNT),
        WaitTimeSeconds=min(window or LONG_POLL, DEFAULT_MAX_WAIT_TIME_SECONDS),
        MessageAttributeNames=["All"],
        MessageSystemAttributeNames=[MessageSystemAttributeName.All],
        sqs_override_max_message_count=poller.batch_size,
        sqs_override_wait_time_seconds=window,
    )
    return list(response.get("Messages", []))


def close(original: Any, self: Any) -> None:
    """Stop receiving; batches in flight finish (their messages are deleted or return)."""
    original(self)
    stopped = getattr(self, "chaoskit_stopped", None)
    if stopped is not None:
        stopped.set()
        self.chaoskit_slots.pool.shutdown(wait=False)


def patches() -> list[Patch]:
    """The SQS poller patches."""
    from localstack.services.lambda_.event_source_mapping.pollers.sqs_poller import SqsPoller

    return [wrap(SqsPoller, "poll_events", poll_events), wrap(SqsPoller, "close", close)]
