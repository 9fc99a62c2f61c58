"""Replay a run's rate rolls from its seed, and compare them with the faults the ledger holds.

A seeded run's rate faults fire as a function of the seed, the fault and the events an
invocation carries (:mod:`chaoskit.layer.rolls`). From a run's ledger records this rebuilds
every traced invocation (its request id, the events it carried and, for a redelivered SQS
message, the delivery its roll was keyed on), computes which faults should have fired, and
returns the invocations where the ledger says otherwise. Each fault's kind, rate and position
come from the run's journal: the fault config document its ``inject_*`` steps wrote, and
its ``clear_faults`` step ends it.
"""

import math
from collections import defaultdict
from datetime import datetime
from typing import Any, NamedTuple

from chaoskit.layer import rolls
from chaoskit.ledger.records import ATTEMPT, FAULT, Record

__all__ = ["Injected", "fired_events", "injected_faults", "mismatched_rolls", "replayable"]


class Injected(NamedTuple):
    """One function's faults as its last ``inject_*`` left them, and until when they held."""

    faults: list[dict[str, Any]]  # a fault's position here is the ``fault`` its records name
    until: float  # when a ``clear_faults`` step began (epoch seconds); inf if none did


def injected_faults(journal: dict[str, Any]) -> dict[str, Injected]:
    """Per function name: its injected faults, from the run's journal."""
    found: dict[str, Injected] = {}
    for step in journal.get("run") or []:
        func = step["activity"]["provider"].get("func", "")
        output = step.get("output")
        if func.startswith("inject_") and isinstance(output, dict):
            found[str(output["function_name"])] = Injected(list(output["faults"]), math.inf)
        elif func == "clear_faults":
            # A config cached in an environment may outlive the clearing for a while:
            # rolls are replayed only for invocations that began before it.
            name = (step["activity"]["provider"].get("arguments") or {}).get("function_name")
            began = datetime.fromisoformat(step["start"]).timestamp()
            for function, injected in found.items():
                if name in (None, function) and injected.until == math.inf:
                    found[function] = injected._replace(until=began)
    return found


def replayable(injected: dict[str, Injected]) -> bool:
    """Tell whether any injected fault rolls on the events alone (so its rolls can be replayed)."""
    return any(
        f["kind"] in _IN_FUNCTION and not f.get("match")
        for each in injected.values()
        for f in each.faults
    )


def fired_events(records: list[Record]) -> set[str]:
    """Event ids that a fired fault hit, over the whole run."""
    return {e for r in records if r.kind == FAULT for e in (r.detail or {}).get("event_ids", [])}


def mismatched_rolls(
    records: list[Record], seed: str, injected: dict[str, Injected]
) -> tuple[int, list[str]]:
    """Compare every traced invocation's fired faults with what its seeded rolls say.

    Only in-function faults that match every event are replayed (downstream faults, SDK
    and HTTP, roll per call, and a ``match`` needs the event itself), in invocations that
    began before the faults were cleared.

    Returns:
        (rolls checked, one line per invocation whose ledger disagrees with its roll).
    """
    # One invocation: a request id and the time its attempts were recorded (an async retry
    # keeps its request id, so the time tells its attempts apart).
    carried: dict[tuple[str, float], list[str]] = defaultdict(list)
    function_of: dict[tuple[str, float], str] = {}
    for record in records:
        detail = record.detail or {}
        request = detail.get("request_id")
        if record.kind != ATTEMPT or not request:
            continue
        delivery = int(detail.get("delivery") or 1)
        carried[(str(request), record.at)].append(rolls.event_key(record.event_id, delivery))
        function_of[(str(request), record.at)] = str(detail.get("function") or "")
    starts: dict[str, list[float]] = defaultdict(list)
    for request, at in sorted(carried):
        starts[request].append(at)
    # A fault record belongs to the latest invocation of its request id that began before it.
    fired: dict[tuple[str, float], set[int]] = defaultdict(set)
    for record in records:
        if record.kind == FAULT and record.detail:
            request = str(record.detail["request_id"])
            began = [at for at in starts.get(request, []) if at <= record.at]
            if began:
                fired[(request, began[-1])].add(int(record.detail["fault"]))
    wrong: list[str] = []
    checked = 0
    for invocation, keys in carried.items():
        live = injected.get(function_of[invocation])
        if live is None or invocation[1] >= live.until:
            continue
        for position, fault in enumerate(live.faults):
            if fault["kind"] not in _IN_FUNCTION or fault.get("match"):
                continue
            checked += 1
            hit = position in fired[invocation]
            should = rolls.batch_roll(seed, position, fault["kind"], keys) < float(fault["rate"])
            if hit != should:
                wrong.append(
                    f"{function_of[invocation]} request {invocation[0]} at {invocation[1]} "
                    f"carrying {sorted(keys)}: fault "
                    f"{position} ({fault['kind']}) {'fired' if hit else 'did not fire'}, its "
                    f"roll says {'fire' if should else 'miss'}"
                )
    return checked, wrong


_IN_FUNCTION = ("exception", "latency", "timeout", "status")
