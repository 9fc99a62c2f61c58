"""Function logs written to CloudWatch Logs in batches, as Lambda's log agent does.

LocalStack's log loop takes one invocation's output off its queue and makes one
``PutLogEvents`` call for it: under load, one internal call per invocation, each
through LocalStack's whole request chain (about a tenth of LocalStack's CPU in a
profile of the reference app at 25 orders/s). Lambda ships logs in batches.
Here the loop takes what is queued (in order), groups it by log stream and
writes each stream's lines with as few calls as ``PutLogEvents``' limits allow
(10,000 events, 1 MiB). Every line lands in the same group and stream, in the
same order, as before; only the number of calls changes.

Taking only what was queued at that instant still made about one call per
invocation under load. A :class:`~.pacing.Pacer` spaces the calls of a busy
loop :data:`INTERVAL` apart (the first after a quiet spell goes at once), so
what arrives meanwhile goes in the same call. A line's timestamp is when its
call is made, as LocalStack's: up to :data:`INTERVAL` later than the invocation
(CloudWatch Logs itself shows lines seconds after Lambda wrote them).

Each environment writes its own stream, so a round still made one call per busy
environment, each through botocore and LocalStack's request chain. A chunk now
goes straight into moto's Logs backend (what ``PutLogEvents`` ends in, with
LocalStack's subscription-filter delivery, which patches moto's stream) when
nothing else applies: the group and stream exist and the account has no metric
filters (LocalStack's provider applies those before moto). Otherwise, as when
the stream is new, the chunk goes through the API as before.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

from localstack.utils.patch import Patch

from .pacing import Pacer
from .patching import replace

LOG = logging.getLogger(__name__)

#: PutLogEvents limits: events per call, bytes per call (each event counts 26 bytes more).
MAX_EVENTS = 10_000
MAX_BYTES = 1_048_576
EVENT_OVERHEAD = 26
#: Queued invocations taken per round.
MAX_ITEMS = 500
#: Least seconds between two rounds of one loop while invocations keep coming.
INTERVAL = 0.2


def _chunks(events: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    chunks: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    size = 0
    for event in events:
        cost = len(event["message"].encode()) + EVENT_OVERHEAD
        if current and (len(current) >= MAX_EVENTS or size + cost > MAX_BYTES):
            chunks.append(current)
            current, size = [], 0
        current.append(event)
        size += cost
    if current:
        chunks.append(current)
    return chunks


class DirectWriter:
    """Writes log events into moto's Logs backend of one account and region, when it may."""

    def __init__(self, account: str | None, region: str) -> None:
        self.account = account
        self.region = region

    def __call__(self, group: str, stream: str, events: list[dict[str, Any]]) -> bool:
        """Write ``events`` to the stream; ``False`` if the API must do it (nothing written)."""
        from localstack.services.logs.models import get_moto_logs_backend
        from localstack.utils.bootstrap import is_api_enabled
        from moto.logs.exceptions import ResourceNotFoundException

        if not self.account:
            return False
        backend = get_moto_logs_backend(self.account, self.region)
        if is_api_enabled("cloudwatch") and backend.filters.metric_filters:
            return False  # LocalStack's PutLogEvents turns matching lines into metrics
        try:
            backend.put_log_events(group, stream, events)
        except ResourceNotFoundException:  # raised before anything is written
            return False
        return True


def _put(
    client: Any,
    group: str,
    stream: str,
    events: list[dict[str, Any]],
    direct: DirectWriter | None = None,
) -> None:
    for chunk in _chunks(events):
        if direct is not None and direct(group, stream, chunk):
            continue
        try:
            client.put_log_events(logGroupName=group, logStreamName=stream, logEvents=chunk)
        except client.exceptions.ResourceNotFoundException:
            exists = client.exceptions.ResourceAlreadyExistsException
            with contextlib.suppress(exists):
                client.create_log_group(logGroupName=group)
            with contextlib.suppress(exists):
                client.create_log_stream(logGroupName=group, logStreamName=stream)
            client.put_log_events(logGroupName=group, logStreamName=stream, logEvents=chunk)


def run_log_loop(self: Any, *args: Any, **kwargs: Any) -> None:
    """LocalStack's ``LogHandler.run_log_loop``, writing what is queued in batches."""
    import queue

    from localstack.aws.connect import connect_to
    from localstack.services.lambda_.invocation.logs import QUEUE_SHUTDOWN
    from localstack.utils.aws.arns import extract_account_id_from_arn
    from localstack.utils.aws.client_types import ServicePrincipal

    client = connect_to.with_assumed_role(
        region_name=self.region,
        role_arn=self.role_arn,
        service_principal=ServicePrincipal(ServicePrincipal.lambda_),
    ).logs
    pacer = Pacer(INTERVAL)
    # The assumed role's account, as the client's calls had.
    direct = DirectWriter(extract_account_id_from_arn(self.role_arn), self.region)
    while not self._shutdown_event.is_set():
        items = [self.log_queue.get()]
        if items[0] is not QUEUE_SHUTDOWN:
            pacer.wait()
        while len(items) < MAX_ITEMS:
            try:
                items.append(self.log_queue.get_nowait())
            except queue.Empty:
                break
        stop = any(item is QUEUE_SHUTDOWN for item in items)
        streams: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for item in items:
            if item is QUEUE_SHUTDOWN:
                continue
            # As LocalStack: one line per event, newline kept, empty lines dropped; the
            # lines of one invocation share its timestamp.
            now = int(time.time() * 1000)
            events = streams.setdefault((item.log_group, item.log_stream), [])
            events.extend(
                {"timestamp": now, "message": line + "\n"} for line in item.logs.split("\n") if line
            )
        for (group, stream), events in streams.items():
            if not events:
                continue
            try:
                _put(client, group, stream, events, direct)
            except Exception as err:
                LOG.warning(
                    "Error saving logs to group %s in region %s: %s", group, self.region, err
                )
        if stop:
            return


def patches() -> list[Patch]:
    """The function log patch."""
    from localstack.services.lambda_.invocation.logs import LogHandler

    return [replace(LogHandler, "run_log_loop", run_log_loop)]
