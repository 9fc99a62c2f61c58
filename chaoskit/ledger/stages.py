"""Stages and queues of a run: who handled each event at which hop, and where it ends.

Every traced function is a stage (the layer writes the function's name in each
record's ``detail["function"]``; records without one are staged by their
``source``). A record's ``detail["queue"]`` is the ARN of the queue, topic or
stream that delivered it. "Processed" means processed at a *terminal* stage:
the stages a run names, or, by default, the stages after which nothing traced
consumes the event. The order comes from the topology when it is given
(``edges``), else from the traces: stage A precedes stage B when an event's
first attempt at A came before its first attempt at B; two stages seen in both
orders (a fan-out) precede neither.

Standard library only, pure computation.
"""

from collections.abc import Iterable, Mapping

from chaoskit.shapes import StageCounts

__all__ = ["StageStats", "as_json", "infer_terminal", "merge_counts", "queue_name"]


def queue_name(queue: str) -> str:
    """Return the short name of a queue, topic or stream from its ARN, URL or name.

    A DynamoDB stream goes by its table's name: its ARN ends ``table/NAME/stream/LABEL``,
    and the label is a time with colons in it.
    """
    if queue.startswith("arn:") and ":table/" in queue and "/stream/" in queue:
        return queue.split(":table/", 1)[1].split("/stream/", 1)[0]
    tail = queue.rstrip("/").rsplit("/", 1)[-1]
    return tail.rsplit(":", 1)[-1]


class StageStats:
    """Counts of one stage or queue over a run."""

    __slots__ = ("attempts", "dead_lettered", "duplicates", "failed", "processed")

    def __init__(self) -> None:
        self.attempts = self.processed = self.failed = self.duplicates = self.dead_lettered = 0

    def as_dict(self) -> StageCounts:
        """Return the counts, JSON-safe."""
        return {
            "attempts": self.attempts,
            "processed": self.processed,
            "failed": self.failed,
            "duplicates": self.duplicates,
            "dead_lettered": self.dead_lettered,
        }


def infer_terminal(
    stages: Iterable[str],
    order: Mapping[tuple[str, str], int],
    edges: Iterable[tuple[str, str]] | None = None,
) -> set[str]:
    """Return the stages nothing traced consumes after.

    Args:
        stages: every stage seen in the run.
        order: ``{(a, b): n}``: in ``n`` events the first attempt at ``a``
            came before the first attempt at ``b``.
        edges: known ``(upstream, downstream)`` pairs (from the topology);
            they are used as well as the observed order.
    """
    downstream: dict[str, set[str]] = {}
    for (a, b), _count in order.items():
        if (b, a) in order:
            continue  # seen both ways: parallel stages (a fan-out), neither follows the other
        downstream.setdefault(a, set()).add(b)
    for a, b in edges or ():
        if a != b:
            downstream.setdefault(a, set()).add(b)
    return {s for s in stages if not downstream.get(s)}


def merge_counts(target: dict[str, StageStats], key: str) -> StageStats:
    """Return the stats of ``key`` in ``target``, created on first use."""
    stats = target.get(key)
    if stats is None:
        stats = target[key] = StageStats()
    return stats


def as_json(table: Mapping[str, StageStats]) -> dict[str, StageCounts]:
    """Return a stats table as ``{name: counts}``, sorted by name."""
    return {name: table[name].as_dict() for name in sorted(table)}
