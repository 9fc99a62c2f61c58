"""Rules on chaoskit's own traces in a deployed stack: changes left past their deadline."""

from collections.abc import Iterator

from chaoskit.audit.findings import Finding, finding, rule
from chaoskit.topology.model import Topology
from chaoskit.undo.expiry import EXPIRES_TAG, RUN_TAG
from chaoskit.undo.overdue import overdue_of

__all__: list[str] = []


@rule("chaoskit-change-overdue", "Resource still under a chaoskit change past its deadline", "high")
def change_overdue(topo: Topology) -> Iterator[Finding]:
    """A resource carries ``chaoskit:expires-at`` in the past: a fault was never undone.

    Only a deployed stack (``--stack``) has tags to read; a template has none.
    """
    for lid, tags in sorted(topo.chaoskit_tags.items()):
        el = topo.element(lid)
        if el is None:
            continue
        hit = overdue_of(str(tags["kind"]), str(tags["arn"]), tags)
        if hit is None:
            continue
        yield finding(
            "chaoskit-change-overdue",
            el,
            {"arn": hit.arn, EXPIRES_TAG: hit.expires_at, RUN_TAG: hit.run_id},
            "a chaoskit experiment changed this resource (reserved concurrency, layer, fault, "
            "alias weights, mapping, capacity, throttling or health check) and its deadline "
            "has passed without a rollback: the fault may still be on",
            "chaoskit rollback --expired   # on the machine that ran it, or with --from-target",
        )
