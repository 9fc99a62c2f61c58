"""The TypedDicts of chaoskit.shapes match what the code really produces.

A real reconciliation of a small ledger (stages, queues, a retry, a duplicate,
a dead-letter, a fault, a loss), the probes' and the report's additions to it
and the journal's ``chaoskit`` member are each checked key by key and value by
value against their TypedDict: a key added, renamed or dropped on either side
fails here.
"""

import json
import types
import typing
from collections.abc import Callable
from typing import Any, Literal, NotRequired, Required, get_args, get_origin

import pytest

from chaoskit.ledger import store
from chaoskit.ledger.discover import reconcile_with_app
from chaoskit.ledger.reconcile import reconcile
from chaoskit.ledger.records import Record
from chaoskit.report.enrich import enrich_journal
from chaoskit.shapes import (
    AppReconciliation,
    JournalExtension,
    Reconciliation,
    SettledReconciliation,
    StageCounts,
)
from probes import ledger

RUN = "run-shapes"
QUEUE = "arn:aws:sqs:us-east-1:000000000000:orders-queue"
DLQ = "arn:aws:sqs:us-east-1:000000000000:orders-dlq"


def _r(event: str, kind: str, at: float, detail: dict[str, Any] | None = None) -> Record:
    return Record(RUN, event, kind, at, "layer", detail)


def _at(function: str, queue: str = QUEUE, **more: Any) -> dict[str, Any]:
    return {"function": function, "queue": queue, **more}


RECORDS = [
    *[_r(e, "sent", 1.0) for e in ("a", "b", "c", "d", "e")],
    # a: processed at the intake, then at the worker (terminal), twice (a duplicate).
    _r("a", "attempt", 1.1, _at("intake")),
    _r("a", "processed", 1.2, _at("intake", request_id="r1")),
    _r("a", "attempt", 1.3, _at("worker", "arn:aws:sqs:us-east-1:000000000000:work")),
    _r("a", "processed", 1.4, _at("worker", "work", request_id="r2")),
    _r("a", "processed", 1.5, _at("worker", "work", request_id="r3")),
    # b: retried, then dead-lettered.
    _r("b", "attempt", 1.1, _at("intake")),
    _r("b", "failed", 1.2, _at("intake")),
    _r("b", "attempt", 2.1, _at("intake")),
    _r("b", "failed", 2.2, _at("intake")),
    _r("b", "dead_lettered", 3.0, {"queue": DLQ, "reason": "maxReceiveCount"}),
    # c: failed at the intake and never seen again (lost); a fault fired on it.
    _r("c", "attempt", 1.1, _at("intake")),
    _r(
        "c",
        "fault",
        1.1,
        {"fault": 0, "kind": "exception", "function": "intake", "event_ids": ["c"]},
    ),
    _r("c", "failed", 1.2, _at("intake")),
    # d: running right now.
    _r("d", "attempt", 1.1, _at("intake")),
    # e: never delivered.
]


def _fields(shape: type) -> tuple[dict[str, Any], frozenset[str], frozenset[str]]:
    hints = typing.get_type_hints(shape)
    required: frozenset[str] = shape.__required_keys__  # type: ignore[attr-defined]
    optional: frozenset[str] = shape.__optional_keys__  # type: ignore[attr-defined]
    return hints, required, optional


def _is_typeddict(tp: Any) -> bool:
    return isinstance(tp, type) and typing.is_typeddict(tp)


def _problems(value: Any, tp: Any, where: str) -> list[str]:
    """Return how ``value`` differs from the type ``tp`` (empty when it matches)."""
    origin = get_origin(tp)
    if tp is Any:
        return []
    if origin in (Required, NotRequired):
        return _problems(value, get_args(tp)[0], where)
    if tp is None or tp is type(None):
        return [] if value is None else [f"{where}: {value!r} is not None"]
    if origin in (typing.Union, types.UnionType):
        options = [_problems(value, arg, where) for arg in get_args(tp)]
        return [] if any(not o for o in options) else [f"{where}: {value!r} is not {tp}"]
    if origin is Literal:
        return [] if value in get_args(tp) else [f"{where}: {value!r} not in {get_args(tp)}"]
    if _is_typeddict(tp):
        if not isinstance(value, dict):
            return [f"{where}: {type(value).__name__} is not a dict"]
        hints, required, _optional = _fields(tp)
        out = [f"{where}: key '{k}' is not in {tp.__name__}" for k in value if k not in hints]
        out += [f"{where}: required key '{k}' is missing" for k in required if k not in value]
        for key in value.keys() & hints.keys():
            out += _problems(value[key], hints[key], f"{where}.{key}")
        return out
    if origin is list:
        if not isinstance(value, list):
            return [f"{where}: {type(value).__name__} is not a list"]
        (item,) = get_args(tp)
        return [p for i, v in enumerate(value) for p in _problems(v, item, f"{where}[{i}]")]
    if origin is dict:
        if not isinstance(value, dict):
            return [f"{where}: {type(value).__name__} is not a dict"]
        key_tp, value_tp = get_args(tp)
        return [
            p
            for k, v in value.items()
            for p in [
                *_problems(k, key_tp, f"{where} key"),
                *_problems(v, value_tp, f"{where}.{k}"),
            ]
        ]
    if tp is float:  # an int is a valid float, as for mypy
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, tp)
    return [] if ok else [f"{where}: {value!r} is not {tp.__name__}"]


def _assert_exactly(value: Any, shape: type) -> None:
    """Fail unless ``value`` has every key of ``shape`` and nothing else, well typed."""
    hints, _required, _optional = _fields(shape)
    assert set(value) == set(hints), (
        f"keys produced but not in {shape.__name__}: {sorted(set(value) - set(hints))}; "
        f"in {shape.__name__} but not produced: {sorted(set(hints) - set(value))}"
    )
    assert _problems(value, shape, shape.__name__) == []
    # What goes to disk comes back with the same shape.
    assert _problems(json.loads(json.dumps(value)), shape, shape.__name__) == []


def test_the_check_catches_a_renamed_a_missing_and_a_mistyped_key() -> None:
    good = {"attempts": 1, "processed": 1, "failed": 0, "duplicates": 0, "dead_lettered": 0}
    assert _problems(good, StageCounts, "s") == []
    renamed = {**{k: v for k, v in good.items() if k != "failed"}, "failures": 0}
    assert _problems(renamed, StageCounts, "s") == [
        "s: key 'failures' is not in StageCounts",
        "s: required key 'failed' is missing",
    ]
    assert _problems({**good, "processed": "1"}, StageCounts, "s") == [
        "s.processed: '1' is not int"
    ]
    with pytest.raises(AssertionError, match="not in StageCounts: \\['extra'\\]"):
        _assert_exactly({**good, "extra": 1}, StageCounts)


def test_a_real_reconciliation_has_exactly_the_keys_of_its_type() -> None:
    out = reconcile(list(RECORDS), dead_letter_queues=[DLQ])
    # The ledger exercised every part of the result: the check is not vacuous.
    assert (out["processed"], out["dead_lettered"], out["lost"], out["in_flight"]) == (1, 1, 2, 1)
    assert out["duplicate_ids"] == ["a"] and out["attempts"]["by_event"] == {"a": 2, "b": 2}
    assert set(out["stages"]) == {"intake", "worker"} and out["queues"]
    assert [f["kind"] for f in out["faults"]] == ["exception"]
    assert out["latency_ms"]["p50"] is not None
    _assert_exactly(out, Reconciliation)
    named = reconcile(list(RECORDS), terminal_stages=["worker"])
    assert named["terminal_from"] == "named"
    _assert_exactly(named, Reconciliation)
    _assert_exactly(reconcile([]), Reconciliation)


def test_the_app_and_settled_reconciliations_have_exactly_their_keys(
    aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = {**aws_env, "chaoskit_run_id": RUN, "chaoskit_dead_letter_queues": [DLQ]}
    with_app = reconcile_with_app(RUN, list(RECORDS), cfg)
    _assert_exactly(with_app, AppReconciliation)
    store.ensure_table(aws_env)
    store.write(list(RECORDS), aws_env)
    _assert_exactly(ledger.reconcile_run(configuration=cfg), AppReconciliation)
    clock = iter(range(0, 1000, 5))
    monkeypatch.setattr(ledger, "_clock", lambda: float(next(clock)))
    monkeypatch.setattr(ledger, "_sleep", lambda _s: None)
    settled = ledger.wait_until_settled(timeout=10, run_id=RUN, configuration=cfg)
    assert settled["settled"] is False  # d is still in flight
    _assert_exactly(settled, SettledReconciliation)


def test_the_journal_member_has_only_keys_of_its_type(aws_env: dict[str, str]) -> None:
    journal: dict[str, Any] = {
        "end": 40.0,
        "run": [
            {
                "status": "succeeded",
                "end": 20.0,
                "activity": {
                    "name": "fail over",
                    "provider": {"module": "chaoskit.faults.failover", "func": "fail_over"},
                },
                "output": {"answer": "secondary"},
            },
            {
                "status": "succeeded",
                "activity": {
                    "name": "exceptions",
                    "provider": {
                        "module": "chaoskit.faults.layer",
                        "func": "inject_exception",
                        "arguments": {"rate": 0.5},
                    },
                },
                "output": {"function_name": "intake"},
            },
        ],
        "chaoskit": {
            "changes": [{"action": "a", "resource": "f", "applied_at": 10.0, "restored_at": 30}]
        },
    }
    read: Callable[[str, Any], list[Record]] = lambda _run, _cfg: list(RECORDS)  # noqa: E731
    ext = enrich_journal(journal, RUN, {**aws_env, "chaoskit_read_logs": False}, "moto", read)
    produced = {"run_id", "target", "changes", "fault_windows", "breaker", "failover"}
    produced |= {"timeline", "ledger", "faults_fired", "inconclusive", "payload_rejected"}
    produced |= {"untraced_downstream", "filtered_out"}
    assert set(ext) == produced
    assert ext["faults_fired"][0]["fired"] == 1 and ext["failover"] and ext["timeline"]
    assert _problems(ext, JournalExtension, "chaoskit") == []
    assert _problems(json.loads(json.dumps(ext)), JournalExtension, "chaoskit") == []
    _assert_exactly(ext["ledger"], AppReconciliation)
