"""What the reconciliation needs to know about the app, learnt from AWS read-only.

- :func:`dead_letter_queues`: the dead-letter queues and on-failure
  destinations behind the stages a run saw (SQS redrive policies of the queues
  that delivered traced events; the functions' DLQs, async on-failure
  destinations and event source mapping on-failure destinations), with a
  warning for every such queue that has a consumer of its own: chaoskit never
  reads that queue (it would race the consumer) and learns the dead-lettering
  from the consumer's traces instead.
- :func:`log_records`: ledger records a function could not write to the table
  and wrote to its CloudWatch Logs instead (see ``chaoskit.layer.tracing``).

Every lookup is best effort: a resource that cannot be read (access denied, a
target without the API) is skipped with a note, never a failed run.
"""

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chaoskit import aws, envvars
from chaoskit.ledger.records import ATTEMPT, LOG_MARK, SENT, Record, from_log_line
from chaoskit.ledger.stages import queue_name
from chaoskit.shapes import AppReconciliation

__all__ = [
    "Discovery",
    "dead_letter_queues",
    "log_records",
    "merge_log_records",
    "reconcile_with_app",
    "seen",
    "sent_to_queues",
]

logger = logging.getLogger("chaostoolkit.chaoskit")

_INACTIVE = ("Disabled", "Disabling", "Deleting")


class Discovery:
    """The dead-letter queues of a run's stages, and what was noticed finding them."""

    def __init__(self) -> None:
        self.queues: set[str] = set()  # ARNs (or names, when configured by name)
        self.consumers: dict[str, list[str]] = {}  # DLQ name -> consuming functions
        #: DLQ name -> its consumers that read it through a filter (FilterCriteria).
        self.filtering: dict[str, list[str]] = {}
        self.arns: dict[str, str] = {}  # DLQ name -> its ARN
        self.warnings: list[str] = []


def seen(records: Iterable[Record]) -> tuple[set[str], set[str]]:
    """Return the functions and the delivering queue ARNs a run's records name."""
    functions: set[str] = set()
    queues: set[str] = set()
    for r in records:
        if r.kind != ATTEMPT or not r.detail:
            continue
        function, queue = r.detail.get("function"), r.detail.get("queue")
        if function:
            functions.add(str(function))
        if queue:
            queues.add(str(queue))
    return functions, queues


def sent_to_queues(records: Iterable[Record]) -> set[str]:
    """Return the names of the SQS queues a run's load sent its events to."""
    return {
        queue_name(str(r.detail["target"]))
        for r in records
        if r.kind == SENT and r.source == "sqs" and r.detail and r.detail.get("target")
    }


def _redrive_target(sqs: Any, arn: str, found: Discovery) -> str | None:
    parts = arn.split(":")
    if len(parts) < 6 or parts[2] != "sqs":
        return None
    try:
        url = sqs.get_queue_url(QueueName=parts[5])["QueueUrl"]
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])
    except (ClientError, BotoCoreError) as err:
        found.warnings.append(f"could not read the redrive policy of queue '{parts[5]}': {err}")
        return None
    policy = attrs.get("Attributes", {}).get("RedrivePolicy")
    if not policy:
        return None
    import json

    try:
        target = json.loads(policy).get("deadLetterTargetArn")
    except (ValueError, AttributeError):
        return None
    return str(target) if target else None


def _function_targets(lam: Any, function: str, found: Discovery, sources: set[str]) -> list[str]:
    """Return the function's own failure targets; add the SQS queues it reads to ``sources``."""
    targets: list[str] = []
    try:
        config = lam.get_function_configuration(FunctionName=function)
        dlq = (config.get("DeadLetterConfig") or {}).get("TargetArn")
        if dlq:
            targets.append(str(dlq))
    except (ClientError, BotoCoreError) as err:
        found.warnings.append(f"could not read function '{function}': {err}")
        return targets
    try:
        invoke = lam.get_function_event_invoke_config(FunctionName=function)
        on_failure = ((invoke.get("DestinationConfig") or {}).get("OnFailure") or {}).get(
            "Destination"
        )
        if on_failure:
            targets.append(str(on_failure))
    except (ClientError, BotoCoreError):
        pass  # no async invoke config: nothing to add
    try:
        for mapping in lam.list_event_source_mappings(FunctionName=function).get(
            "EventSourceMappings", []
        ):
            on_failure = ((mapping.get("DestinationConfig") or {}).get("OnFailure") or {}).get(
                "Destination"
            )
            if on_failure:
                targets.append(str(on_failure))
            # The queue it reads, whether or not a traced attempt names it: a stopped
            # function's messages still reach that queue's dead-letter queue.
            source = str(mapping.get("EventSourceArn") or "")
            if ":sqs:" in source:
                sources.add(source)
    except (ClientError, BotoCoreError) as err:
        found.warnings.append(f"could not list the event sources of '{function}': {err}")
    return targets


def _consumers(lam: Any, arn: str) -> list[tuple[str, bool]]:
    """Return the functions reading ``arn``, each with whether it reads through a filter."""
    try:
        mappings = lam.list_event_source_mappings(EventSourceArn=arn).get("EventSourceMappings", [])
    except (ClientError, BotoCoreError):
        return []
    return sorted(
        (
            str(m.get("FunctionArn", "")).rsplit(":", 1)[-1],
            bool((m.get("FilterCriteria") or {}).get("Filters")),
        )
        for m in mappings
        if m.get("State") not in _INACTIVE
    )


def dead_letter_queues(
    functions: Iterable[str],
    queues: Iterable[str],
    configured: Iterable[str] = (),
    configuration: Mapping[str, Any] | None = None,
    entries: Iterable[str] = (),
) -> Discovery:
    """Return the dead-letter queues behind a run's stages, and the consumers they have.

    Args:
        functions: the functions that handled traced events.
        queues: the ARNs of the queues that delivered them.
        configured: dead-letter queues named by the run (names, URLs or ARNs).
        entries: the queues the run's load sent its events to (names): an event sent
            straight to a dead-letter queue was not dead-lettered when it is delivered
            from there, so such a queue is not one of this run's dead-letter queues.
    """
    found = Discovery()
    found.queues.update(str(q) for q in configured)
    sqs = aws.client("sqs", configuration)
    lam = aws.client("lambda", configuration)
    sources = set(queues)
    for function in sorted(functions):
        found.queues.update(_function_targets(lam, function, found, sources))
    for arn in sorted(sources):  # each queue's redrive policy read once
        target = _redrive_target(sqs, arn, found)
        if target:
            found.queues.add(target)
    sent_to = set(entries)
    found.queues = {q for q in found.queues if queue_name(q) not in sent_to}
    for dlq in sorted(found.queues):
        if ":sqs:" not in dlq:
            continue
        readers = _consumers(lam, dlq)
        if readers:
            name = queue_name(dlq)
            consumers = [c for c, _ in readers]
            filtering = [c for c, filtered in readers if filtered]
            found.consumers[name] = consumers
            found.arns[name] = dlq
            if filtering:
                found.filtering[name] = filtering
            discards = (
                f"{' and '.join(filtering)} {'reads' if len(filtering) == 1 else 'read'} it "
                "through a filter (FilterCriteria), and Lambda deletes what the filter drops, "
                "unseen: such an event counts as lost"
                if filtering
                else "an event the consumer discards unseen counts as lost"
            )
            found.warnings.append(
                f"queue '{name}' is a dead-letter queue with a consumer "
                f"({', '.join(consumers)}): chaoskit does not read it (that would race the "
                "consumer) and counts as dead-lettered what that consumer's traces show; "
                + discards
            )
    return found


#: The lost reasons an event dead-lettered to a queue chaoskit does not read ends with.
_UNSEEN = ("never delivered", "failed at ")


def _unseen_there(found: Discovery, queues: set[str]) -> str:
    """Say where a lost event may have been dead-lettered without chaoskit seeing it.

    ``queues``: the ARNs of the queues that delivered traced events. A dead-letter queue
    whose consumer delivered none of them left no trace of what reached it, and one read
    through a filter deletes what that drops: an event there reads as never delivered
    or failed, so its lost reason says where to look.
    """
    notes = []
    for name, consumers in sorted(found.consumers.items()):
        filtering = found.filtering.get(name)
        if filtering:
            notes.append(f"{name}, whose reader {' and '.join(filtering)} deletes what its "
                         "filter drops")  # fmt: skip
        elif found.arns.get(name) not in queues:
            notes.append(f"{name}, whose reader {' and '.join(consumers)} left no trace "
                         "(is the chaoskit layer enabled on it?)")  # fmt: skip
    return f" (if dead-lettered to {'; or to '.join(notes)}: unseen there)" if notes else ""


def log_records(
    functions: Iterable[str],
    run_id: str,
    since: float | None = None,
    configuration: Mapping[str, Any] | None = None,
) -> tuple[list[Record], list[str]]:
    """Return the run's ledger records found in the functions' CloudWatch Logs.

    Args:
        functions: function names (log groups ``/aws/lambda/<name>``).
        run_id: the run.
        since: epoch seconds to search from (default: the whole retention).

    Returns:
        The records, and notes on log groups that could not be read.
    """
    logs = aws.client("logs", configuration)
    out: list[Record] = []
    notes: list[str] = []
    for function in sorted(set(functions)):
        group = f"/aws/lambda/{function}"
        kwargs: dict[str, Any] = {
            "logGroupName": group,
            # One quoted term: emulators (moto) do not combine terms; the run is checked below.
            "filterPattern": f'"{LOG_MARK}"',
        }
        if since is not None and since > 0:
            kwargs["startTime"] = int(since * 1000)
        try:
            for page in logs.get_paginator("filter_log_events").paginate(**kwargs):
                for event in page.get("events", []):
                    out.extend(
                        r
                        for r in from_log_line(str(event.get("message", "")))
                        if r.run_id == run_id
                    )
        except (ClientError, BotoCoreError) as err:
            code = getattr(err, "response", {}).get("Error", {}).get("Code")
            if code != "ResourceNotFoundException":
                notes.append(f"could not read log group '{group}': {err}")
    return out, notes


def merge_log_records(records: list[Record], logged: list[Record]) -> int:
    """Add to ``records`` the logged records the table does not hold; return how many.

    A record can be in both (the writer may still have written it after it was
    logged): the copy in the log is then dropped.
    """
    if not logged:
        return 0
    ids = {r.event_id for r in logged}
    have = {(r.event_id, r.kind, r.at, r.source) for r in records if r.event_id in ids}
    added = 0
    for r in logged:
        key = (r.event_id, r.kind, r.at, r.source)
        if key not in have:
            have.add(key)
            records.append(r)
            added += 1
    return added


def _names(value: Any) -> list[str]:
    """Return a configuration value as a list of names (a list, or a comma-separated string)."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list | tuple | set):
        return [str(v) for v in value]
    return [str(value)]


_found: dict[
    tuple[str, frozenset[str], frozenset[str], frozenset[str], frozenset[str]], Discovery
] = {}
_warned: set[tuple[str, str]] = set()


def reconcile_with_app(
    run_id: str,
    records: list[Record],
    configuration: Mapping[str, Any] | None = None,
    processed_from: str = "layer",
    terminal_stages: Iterable[str] | None = None,
    dlqs: Iterable[str] | None = None,
) -> AppReconciliation:
    """Reconcile a run's records with what the app's configuration says.

    Adds to ``records`` the run's records found only in the functions' logs,
    finds the dead-letter queues behind the stages (and warns about those with
    consumers), then reconciles. Configuration keys: ``chaoskit_terminal_stages``,
    ``chaoskit_dead_letter_queues``, ``chaoskit_functions`` (more log groups to
    search) and ``chaoskit_read_logs`` (default true).

    Returns:
        The reconciliation plus ``records_from_logs`` (how many records came
        from the logs), ``dead_letter_queues`` (names) and ``warnings``.
    """
    from chaoskit.ledger.reconcile import reconcile  # local: keeps discover importable alone

    cfg = configuration or {}
    terminal = list(terminal_stages or _names(cfg.get("chaoskit_terminal_stages")))
    configured = list(dlqs or _names(cfg.get("chaoskit_dead_letter_queues")))
    functions, queues = seen(records)
    functions.update(_names(cfg.get("chaoskit_functions")))
    functions.update(terminal)
    warnings: list[str] = []
    from_logs = 0
    read_logs = cfg.get("chaoskit_read_logs", True)
    if functions and not envvars.is_falsy(read_logs):
        sent = [r.at for r in records if r.kind == "sent" and r.at > 0]
        since = min(sent) - 300 if sent else None
        logged, notes = log_records(functions, run_id, since, cfg)
        warnings.extend(notes)
        from_logs = merge_log_records(records, logged)
        if from_logs:
            functions, queues = seen(records)  # the logs may name more stages
    entries = frozenset(sent_to_queues(records))
    key = (run_id, frozenset(functions), frozenset(queues), frozenset(configured), entries)
    found = _found.get(key)
    if found is None:
        found = _found[key] = dead_letter_queues(functions, queues, configured, cfg, entries)
        for warning in found.warnings:
            if (run_id, warning) not in _warned:  # once per run, as the stages seen grow
                _warned.add((run_id, warning))
                logger.warning("%s", warning)
    result = reconcile(
        records,
        processed_from=processed_from,
        terminal_stages=terminal or None,
        dead_letter_queues=found.queues,
    )
    unseen = _unseen_there(found, queues)
    if unseen:
        result["lost_reasons"] = {
            (why + unseen if why.startswith(_UNSEEN) else why): n
            for why, n in result["lost_reasons"].items()
        }
    return {
        **result,
        "records_from_logs": from_logs,
        "dead_letter_queues": sorted({queue_name(q) for q in found.queues}),
        "warnings": [*found.warnings, *warnings],
    }
