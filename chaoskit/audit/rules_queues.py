"""Rules on SQS queues, their dead-letter queues and their Lambda consumers."""

from collections.abc import Iterator

from chaoskit.audit.findings import Finding, finding, rule
from chaoskit.topology.model import EventSourceMapping, Function, Queue, Topology

__all__: list[str] = []

MIN_RECEIVE_COUNT = 5


def _consumers(topo: Topology, q: Queue) -> list[tuple[EventSourceMapping, Function | None]]:
    return [(m, topo.function_of(m.function)) for m in topo.consumers_of(q.logical_id) if m.enabled]


def _redrive_fix(q: Queue, count: int = MIN_RECEIVE_COUNT) -> str:
    return (
        f"  {q.source_id}:\n    Type: AWS::SQS::Queue\n    Properties:\n      RedrivePolicy:\n"
        f"        deadLetterTargetArn: !GetAtt {q.source_id}DLQ.Arn\n"
        f"        maxReceiveCount: {count}\n  {q.source_id}DLQ:\n    Type: AWS::SQS::Queue\n"
        "    Properties:\n      MessageRetentionPeriod: 1209600"
    )


@rule("sqs-no-redrive-policy", "Queue without redrive policy", "high")
def no_redrive(topo: Topology) -> Iterator[Finding]:
    """A queue (not itself a DLQ) has no redrive policy."""
    for q in topo.queues.values():
        if q.dead_letter is not None or q.is_dead_letter_queue:
            continue
        consumers = _consumers(topo, q)
        yield finding(
            "sqs-no-redrive-policy",
            q,
            {
                "RedrivePolicy": None,
                "MessageRetentionPeriod": q.retention_seconds,
                "consumers": [m.logical_id for m, _ in consumers],
            },
            "a message its consumer cannot process is received again and again until the "
            "retention period deletes it: lost, and it wastes every poll meanwhile",
            _redrive_fix(q),
            severity="high" if consumers else "medium",
        )


@rule("sqs-max-receive-count-low", "maxReceiveCount under 5 with a Lambda consumer", "high")
def max_receive_low(topo: Topology) -> Iterator[Finding]:
    """A queue read by Lambda dead-letters after fewer than 5 receives."""
    for q in topo.queues.values():
        if q.max_receive_count is None or q.max_receive_count >= MIN_RECEIVE_COUNT:
            continue
        consumers = _consumers(topo, q)
        if not consumers:
            continue
        yield finding(
            "sqs-max-receive-count-low",
            q,
            {
                "maxReceiveCount": q.max_receive_count,
                "consumers": [m.logical_id for m, _ in consumers],
            },
            "Lambda's poller receives messages it cannot run when the function is throttled; "
            "those receives count, so one burst of throttling dead-letters healthy messages "
            "(AWS recommends at least 5)",
            _redrive_fix(q),
            prop="RedrivePolicy",
        )


@rule("sqs-visibility-timeout-short", "Visibility timeout under 6x the consumer timeout", "high")
def visibility_short(topo: Topology) -> Iterator[Finding]:
    """A queue's visibility timeout is under 6x its consumer's timeout plus batching window."""
    for q in topo.queues.values():
        for m, fn in _consumers(topo, q):
            if fn is None:
                continue
            needed = 6 * fn.timeout + m.batching_window_seconds
            if q.visibility_timeout >= needed:
                continue
            yield finding(
                "sqs-visibility-timeout-short",
                q,
                {
                    "VisibilityTimeout": q.visibility_timeout,
                    "consumer": fn.logical_id,
                    "Timeout": fn.timeout,
                    "MaximumBatchingWindowInSeconds": m.batching_window_seconds,
                    "required": needed,
                },
                "a message still being processed (or retried after a throttle) becomes visible "
                "again: it is processed twice, and its receive count climbs toward the DLQ",
                f"  {q.source_id}:\n    Properties:\n      VisibilityTimeout: {needed}"
                f"   # >= 6 x {fn.timeout}s + {m.batching_window_seconds}s window",
                prop="VisibilityTimeout",
            )
            break


@rule("sqs-no-partial-batch-response", "Batch > 1 without ReportBatchItemFailures", "high")
def no_partial_batch(topo: Topology) -> Iterator[Finding]:
    """An SQS mapping with batches over 1 message does not report failed items."""
    for m in topo.mappings.values():
        if m.source_kind != "sqs" or not m.enabled or m.reports_batch_item_failures:
            continue
        if m.effective_batch_size <= 1:
            continue
        yield finding(
            "sqs-no-partial-batch-response",
            m,
            {
                "BatchSize": m.effective_batch_size,
                "FunctionResponseTypes": m.function_response_types,
            },
            "one failing message fails its whole batch: the others are received again, "
            "processed twice, and dead-lettered (or expire) with the bad one",
            f"  # event source mapping {m.logical_id} (SAM: the SQS event)\n"
            "  FunctionResponseTypes:\n    - ReportBatchItemFailures   "
            "# and return {'batchItemFailures': [...]} from the handler",
        )


@rule("sqs-dlq-retention-not-longer", "DLQ retention not longer than its source's", "medium")
def dlq_retention(topo: Topology) -> Iterator[Finding]:
    """A dead-letter queue keeps messages no longer than the queue that feeds it."""
    for q in topo.queues.values():
        dlq = topo.queues.get(q.dead_letter.logical_id or "") if q.dead_letter else None
        if dlq is None or q.fifo:
            continue
        if dlq.retention_seconds > q.retention_seconds:
            continue
        yield finding(
            "sqs-dlq-retention-not-longer",
            dlq,
            {
                "MessageRetentionPeriod": dlq.retention_seconds,
                "source": q.logical_id,
                "source MessageRetentionPeriod": q.retention_seconds,
            },
            "a standard queue's message keeps its original enqueue time in the DLQ, so it "
            "expires there as soon as its age passes the DLQ's retention: messages that spent "
            "time retrying are deleted before anyone looks",
            f"  {dlq.source_id}:\n    Properties:\n      MessageRetentionPeriod: 1209600"
            "   # 14 days, the maximum",
            prop="MessageRetentionPeriod",
        )


@rule("sqs-dlq-filtered-consumer", "DLQ drained by a filtered consumer", "critical")
def dlq_filtered_consumer(topo: Topology) -> Iterator[Finding]:
    """A dead-letter queue is read by a mapping with filter criteria."""
    for q in topo.queues.values():
        if not q.is_dead_letter_queue:
            continue
        for m, _ in _consumers(topo, q):
            if not m.filter_patterns:
                continue
            yield finding(
                "sqs-dlq-filtered-consumer",
                m,
                {"queue": q.logical_id, "FilterCriteria": m.filter_patterns},
                "Lambda deletes every SQS message that does not match an event filter: the "
                "failures this DLQ exists to keep are deleted unless they match",
                f"  # event source mapping {m.logical_id}: remove FilterCriteria and filter in "
                "the handler,\n  # returning unmatched messages as batchItemFailures",
            )
