"""Reproducible rate rolls: a roll is a function of (seed, fault, events), not of chance.

With a ``seed`` in the fault config document, each traced event has a roll for
fault ``N``: a hash of the seed, the fault's position and kind, and the
event's key (its id, plus SQS's delivery count from the second delivery on, so
a redelivery rolls again). An invocation carrying ``n`` traced events rolls
``1 - (1 - m) ** n``, ``m`` the smallest of their rolls: uniform like a single
roll, so ``rate`` stays the share of *invocations* hit, whatever the batch
size, and an invocation of one event rolls exactly that event's roll. An
invocation carrying no traced event rolls on its request id. The same seed
therefore fires the same faults on the same events on any target that
delivers them alike. Without a seed, rolls come from ``random``.

Limits: which events share a batch is the poller's choice, and a batch's roll
depends on its events, so batched sources replay exactly only when they batch
alike; an invocation with no delivery count (async retries, stream retries)
rolls as its first attempt did. Latency draws and downstream (SDK, HTTP) rolls
come from a ``random.Random`` seeded from the seed and the invocation's
smallest event id.

Standard library only; ``hashlib`` is imported on the first seeded roll.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import random

__all__ = ["batch_roll", "event_key", "invocation_key", "roll", "seeded_random"]

_SCALE = float(1 << 64)


def _digest(*parts: object) -> int:
    import hashlib  # lazy: only seeded runs pay for it

    text = "\x1f".join(str(p) for p in parts).encode("utf-8")
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


def invocation_key(event: Any, event_ids: list[str], request_id: str | None) -> str:
    """Return the key an invocation's rolls are made on.

    Args:
        event: the Lambda event (read for SQS's ``ApproximateReceiveCount``).
        event_ids: the traced event ids the invocation carries.
        request_id: the invocation's request id (used when nothing is traced).
    """
    if not event_ids:
        return f"request:{request_id or ''}"
    key = min(event_ids)
    records = event.get("Records") if isinstance(event, dict) else None
    if isinstance(records, list) and records and isinstance(records[0], dict):
        count = (records[0].get("attributes") or {}).get("ApproximateReceiveCount")
        if isinstance(count, str | int) and str(count) not in ("", "1"):
            key = f"{key}#{count}"
    return key


def event_key(event_id: str, delivery: int) -> str:
    """Return the key one traced event rolls on (its id, and its delivery from the second)."""
    return event_id if delivery <= 1 else f"{event_id}#{delivery}"


def roll(seed: str, position: int, kind: str, key: str) -> float:
    """Return the roll in [0, 1) of fault ``position`` (``kind``) on ``key`` under ``seed``."""
    return _digest(seed, position, kind, key) / _SCALE


def batch_roll(seed: str, position: int, kind: str, keys: list[str]) -> float:
    """Return the roll of an invocation carrying events ``keys`` (see the module docstring)."""
    smallest = min(roll(seed, position, kind, key) for key in keys)
    return 1.0 - (1.0 - smallest) ** len(keys)


def seeded_random(seed: str, key: str) -> "random.Random":
    """Return a ``random.Random`` for one invocation's other draws (latency, downstream rolls)."""
    import random

    return random.Random(_digest(seed, "invocation", key))
