"""Rules on functions and their event sources: async invokes, streams, concurrency."""

from collections.abc import Iterator

from chaoskit.audit.findings import Finding, finding, rule
from chaoskit.topology.model import EventSourceMapping, Topology

__all__: list[str] = []

_STREAM_KINDS = ("kinesis", "dynamodb")


@rule("lambda-async-failure-destination", "Async function without failure destination", "high")
def async_failure_destination(topo: Topology) -> Iterator[Finding]:
    """A function invoked asynchronously has neither an on-failure destination nor a DLQ."""
    for fn in topo.functions.values():
        cfg = fn.async_config
        # an explicit async invoke config says the function is invoked asynchronously too
        if not fn.async_sources and cfg is None:
            continue
        if fn.dead_letter is not None or (cfg is not None and cfg.on_failure is not None):
            continue
        yield finding(
            "lambda-async-failure-destination",
            fn,
            {
                "invoked_by": sorted(fn.async_sources) or ["EventInvokeConfig"],
                "MaximumRetryAttempts": cfg.maximum_retry_attempts if cfg else None,
                "MaximumEventAgeInSeconds": cfg.maximum_event_age_seconds if cfg else None,
                "DestinationConfig.OnFailure": None,
                "DeadLetterConfig": None,
            },
            "an asynchronous event that fails every retry, or waits out its maximum age while "
            "the function is throttled, is discarded with no copy anywhere",
            f"  {fn.source_id}:\n    Properties:\n      EventInvokeConfig:   # SAM; or "
            "AWS::Lambda::EventInvokeConfig\n        MaximumRetryAttempts: 2\n"
            "        MaximumEventAgeInSeconds: 21600\n        DestinationConfig:\n"
            "          OnFailure:\n            Type: SQS\n"
            "            Destination: !GetAtt FailedEventsQueue.Arn",
        )


@rule("lambda-reserved-concurrency-zero", "Function with reserved concurrency 0", "high")
def reserved_concurrency_zero(topo: Topology) -> Iterator[Finding]:
    """A function whose reserved concurrency is 0 never runs: every event is throttled."""
    for fn in topo.functions.values():
        if fn.reserved_concurrency == 0:
            yield finding(
                "lambda-reserved-concurrency-zero",
                fn,
                {"ReservedConcurrentExecutions": 0},
                "the function is switched off: synchronous callers get 429, queued messages "
                "count receives until they are dead-lettered, async events age out",
                f"  {fn.source_id}:\n    Properties:\n      ReservedConcurrentExecutions: 10  "
                "# or remove the property",
                prop="ReservedConcurrentExecutions",
            )


def _streams(topo: Topology) -> Iterator[EventSourceMapping]:
    for m in topo.mappings.values():
        if m.source_kind in _STREAM_KINDS and m.enabled:
            yield m


def _stream_fix(m: EventSourceMapping, lines: str) -> str:
    return f"  # event source mapping {m.logical_id} (SAM: the Kinesis/DynamoDB event)\n{lines}"


@rule("stream-on-failure-destination", "Stream mapping without on-failure destination", "high")
def stream_on_failure(topo: Topology) -> Iterator[Finding]:
    """A Kinesis/DynamoDB stream mapping without an on-failure destination."""
    for m in _streams(topo):
        if m.on_failure is None:
            evidence = {"source": str(m.source), "DestinationConfig.OnFailure": None}
            unused = _async_only_dlq(topo, m)
            if unused:
                evidence["function DeadLetterConfig"] = unused
            yield finding(
                "stream-on-failure-destination",
                m,
                evidence,
                "records skipped after the retries or the maximum age are gone without a trace, "
                "and without limits a poison record blocks its shard until the stream's "
                "retention deletes it"
                + (
                    f" (the function's dead-letter queue {unused} gets only asynchronous "
                    "invocations' events, never a record of this stream)"
                    if unused
                    else ""
                ),
                _stream_fix(
                    m,
                    "  DestinationConfig:\n    OnFailure:\n"
                    "      Destination: !GetAtt StreamFailuresQueue.Arn",
                ),
            )


def _async_only_dlq(topo: Topology, m: EventSourceMapping) -> str | None:
    """The function's own DLQ (``DeadLetterConfig``), which Lambda uses for asynchronous
    invocations only: a mapping's failed records never reach it."""
    fn = topo.function_of(m.function)
    return str(fn.dead_letter) if fn is not None and fn.dead_letter is not None else None


@rule("stream-unbounded-retries", "Stream mapping with unbounded retries and age", "medium")
def stream_unbounded(topo: Topology) -> Iterator[Finding]:
    """A stream mapping retries a failing batch forever (no retry or age limit)."""
    for m in _streams(topo):
        retries = m.maximum_retry_attempts
        age = m.maximum_record_age_seconds
        if (retries is None or retries < 0) and (age is None or age < 0):
            yield finding(
                "stream-unbounded-retries",
                m,
                {"MaximumRetryAttempts": retries, "MaximumRecordAgeInSeconds": age},
                "a record that always fails is retried until it expires from the stream: the "
                "shard stops, and every record behind it ages out unprocessed",
                _stream_fix(m, "  MaximumRetryAttempts: 5\n  MaximumRecordAgeInSeconds: 3600"),
            )


@rule("stream-no-bisect", "Stream mapping without bisect on error", "medium")
def stream_no_bisect(topo: Topology) -> Iterator[Finding]:
    """A stream mapping neither bisects failing batches nor reports failed items."""
    for m in _streams(topo):
        if m.bisect_on_error or m.reports_batch_item_failures:
            continue
        if m.batch_size == 1:
            continue
        yield finding(
            "stream-no-bisect",
            m,
            {
                "BisectBatchOnFunctionError": False,
                "FunctionResponseTypes": m.function_response_types,
                "BatchSize": m.effective_batch_size,
            },
            "one bad record fails its whole batch: when retries run out the good records of "
            "the batch are skipped with it (the on-failure destination gets only their position)",
            _stream_fix(
                m,
                "  BisectBatchOnFunctionError: true\n  FunctionResponseTypes:\n"
                "    - ReportBatchItemFailures",
            ),
        )


@rule("esm-concurrency-above-reserved", "SQS poller concurrency above reserved", "medium")
def esm_concurrency(topo: Topology) -> Iterator[Finding]:
    """An SQS mapping may poll more messages than the function's reserved concurrency runs."""
    for m in topo.mappings.values():
        if m.source_kind != "sqs" or not m.enabled:
            continue
        fn = topo.function_of(m.function)
        if fn is None or fn.reserved_concurrency is None or fn.reserved_concurrency == 0:
            continue
        limit = m.maximum_concurrency
        if limit is not None and limit <= fn.reserved_concurrency:
            continue
        yield finding(
            "esm-concurrency-above-reserved",
            m,
            {
                "ScalingConfig.MaximumConcurrency": limit,
                "ReservedConcurrentExecutions": fn.reserved_concurrency,
                "function": fn.logical_id,
            },
            "the poller receives more batches than the function may run: throttled messages "
            "go back to the queue and count toward maxReceiveCount, so healthy messages are "
            "dead-lettered (or deleted when the queue has no DLQ)",
            _stream_fix(
                m,
                f"  ScalingConfig:\n    MaximumConcurrency: {max(2, fn.reserved_concurrency)}"
                "   # at most the function's reserved concurrency",
            ),
        )
