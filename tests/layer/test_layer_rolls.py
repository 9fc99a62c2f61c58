"""Seeded rolls (the same seed fires the same faults on the same events) and no record lost."""

import json
from typing import Any

import pytest
from layer_helpers import FAR, Calls, make_layer

from chaoskit import envvars
from chaoskit.layer import rolls, tracing
from chaoskit.layer.config import ConfigError, parse_config
from chaoskit.layer.writer import LedgerWriter
from chaoskit.ledger.records import PACK_RECORDS, Record, from_log_line
from tests.support.lambda_context import FakeContext


def _seeded(seed: Any, rate: float = 0.5) -> str:
    fault = {"kind": "exception", "rate": rate}
    return json.dumps({"version": "v", "expires_at": FAR, "seed": seed, "run_id": "run-1",
                       "faults": [fault]})  # fmt: skip


def _event(event_id: str) -> dict[str, Any]:
    return {"chaoskit": {"run_id": "run-1", "event_id": event_id, "sent_at": 1.0}}


def _failed_ids(seed: Any, rng_seed: int) -> list[str]:
    layer = make_layer({envvars.CONFIG: _seeded(seed)}, seed=rng_seed)
    failed = []
    for i in range(40):
        try:
            layer.invoke(Calls(), _event(f"e{i}"), FakeContext())
        except Exception:
            failed.append(f"e{i}")
    return failed


@pytest.fixture
def no_ledger(monkeypatch: pytest.MonkeyPatch) -> None:
    # These tests are about rolls: the records go nowhere.
    monkeypatch.setattr(tracing, "write_records", lambda records: None)


def test_the_same_seed_fires_the_same_faults_on_the_same_events_whatever_the_rng(
    no_ledger: None,
) -> None:
    first = _failed_ids("run-seed-1", rng_seed=1)
    assert first == _failed_ids("run-seed-1", rng_seed=2)  # the layer's own RNG plays no part
    assert 8 <= len(first) <= 32  # rate 0.5 over 40 events
    assert first != _failed_ids("run-seed-2", rng_seed=1)


def test_a_roll_depends_on_the_event_the_fault_and_the_delivery_count() -> None:
    base = rolls.roll("s", 0, "exception", "e1")
    assert base == rolls.roll("s", 0, "exception", "e1")
    assert len({base, rolls.roll("s", 1, "exception", "e1"), rolls.roll("s", 0, "latency", "e1"),
                rolls.roll("s", 0, "exception", "e2")}) == 4  # fmt: skip
    sqs = {"Records": [{"attributes": {"ApproximateReceiveCount": "2"}}]}
    assert rolls.invocation_key(sqs, ["b", "a"], "r") == "a#2"
    assert rolls.invocation_key({}, ["b", "a"], "r") == "a"
    assert rolls.invocation_key({}, [], "r") == "request:r"


def test_a_redelivered_messages_records_name_the_delivery_its_rolls_were_keyed_on() -> None:
    written: list[Record] = []
    layer = make_layer({envvars.CONFIG: _seeded("s", rate=0)})
    layer.ledger = LedgerWriter(write=written.extend)
    event = {"Records": [
        {"eventSource": "aws:sqs", "messageId": f"m{n}", "body": json.dumps(_event(f"e{n}")),
         "attributes": {"ApproximateReceiveCount": str(n)}} for n in (1, 3)
    ]}  # fmt: skip
    layer.invoke(Calls(), event, FakeContext())
    layer.ledger.flush(5)
    delivery = {(r.event_id, r.kind): (r.detail or {}).get("delivery") for r in written}
    assert delivery == {("e1", "attempt"): None, ("e1", "processed"): None,
                        ("e3", "attempt"): 3, ("e3", "processed"): 3}  # fmt: skip


def test_the_seed_must_be_a_string_or_an_integer() -> None:
    assert parse_config(_seeded(42)).seed == "42"
    with pytest.raises(ConfigError, match="'seed' must be a string or an integer, got True"):
        parse_config(_seeded(True))


def test_records_dynamodb_did_not_take_go_to_the_log(lines: Any, monkeypatch: Any) -> None:
    def throttled(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("ProvisionedThroughputExceededException")

    monkeypatch.setattr(tracing._aws, "call", throttled)
    count = PACK_RECORDS * tracing.MAX_ITEMS + 30  # more packs than one call takes
    records = [Record("run-1", f"e{i}", "attempt", 1.5 + i, "sqs", {"function": "f"})
               for i in range(count)]  # fmt: skip
    tracing.write_records(records)
    logged = [r for r in lines.refresh() if r["chaoskit"] == "ledger"]
    assert len(logged) == 2  # two BatchWriteItem calls of at most 25 packed items
    back = [rec for line in logged for rec in from_log_line(json.dumps(line))]
    assert back == records


def test_unprocessed_items_go_to_the_log(lines: Any, monkeypatch: Any) -> None:
    def half(service: str, operation: str, RequestItems: Any) -> Any:
        ((table, items),) = RequestItems.items()
        return {"UnprocessedItems": {table: items[1:]}}

    monkeypatch.setattr(tracing._aws, "call", half)
    # Three runs: three packed items, of which DynamoDB takes the first.
    records = [Record(f"run-{i}", f"e{i}", "processed", 2.0, "sqs") for i in range(3)]
    tracing.write_records(records)
    logged = [r for r in lines.refresh() if r["chaoskit"] == "ledger"]
    assert [rec for line in logged for rec in from_log_line(json.dumps(line))] == records[1:]


def test_records_still_queued_when_a_flush_times_out_go_to_the_log(lines: Any) -> None:
    import threading

    gate = threading.Event()
    writer = LedgerWriter(write=lambda batch: gate.wait(5))
    records = [Record("run-1", "e1", "processed", 3.0, "sqs")]
    writer.submit([Record("run-1", "e0", "attempt", 2.0, "sqs")], hold=0)
    writer.submit(records)
    try:
        assert writer.flush(0.05) is False
    finally:
        gate.set()
    logged = [r for r in lines.refresh() if r["chaoskit"] == "ledger"]
    back = [rec for line in logged for rec in from_log_line(json.dumps(line))]
    assert records[0] in back


def test_a_batch_rolls_on_its_events_and_keeps_the_rate_per_invocation(no_ledger: None) -> None:
    from chaoskit.layer.rolls import batch_roll, roll

    layer = make_layer({envvars.CONFIG: _seeded("s")})

    def batch(ids: list[str]) -> dict[str, Any]:
        return {"Records": [{"eventSource": "aws:sqs", "messageId": i,
                             "attributes": {"ApproximateReceiveCount": "1"},
                             "body": json.dumps(_event(i))} for i in ids]}  # fmt: skip

    def fails(ids: list[str]) -> bool:
        try:
            layer.invoke(Calls(), batch(ids), FakeContext())
        except Exception:
            return True
        return False

    # One event: its own roll decides, in a batch of one as directly.
    for i in range(10):
        assert fails([f"e{i}"]) == (roll("s", 0, "exception", f"e{i}") < 0.5)
    # A batch: 1 - (1 - smallest roll) ** n, whatever order the events come in.
    groups = [[f"b{i}", f"c{i}", f"d{i}"] for i in range(60)]
    decided = [batch_roll("s", 0, "exception", g) < 0.5 for g in groups]
    assert [fails(list(reversed(g))) for g in groups[:10]] == decided[:10]
    assert 15 <= sum(decided) <= 45  # still about half the invocations, not 7 in 8


def test_a_timeout_fault_is_on_record_before_it_sleeps_past_the_deadline() -> None:
    import threading

    written: list[Record] = []
    writer = LedgerWriter(write=written.extend)
    seen: list[list[str]] = []

    def sleep(seconds: float) -> None:  # the runtime would kill the process during this
        for _ in range(200):
            if any(r.kind == "fault" for r in written):
                break
            threading.Event().wait(0.01)
        seen.append(sorted(r.kind for r in written))

    doc = json.dumps({"version": "v", "expires_at": FAR, "seed": "s", "run_id": "run-1",
                      "faults": [{"kind": "timeout", "rate": 1}]})  # fmt: skip

    from chaoskit.layer.loader import ConfigLoader
    from chaoskit.layer.runtime import Layer

    env = {envvars.CONFIG: doc}
    layer = Layer(env, loader=ConfigLoader(env), sleep=sleep, ledger=writer)
    with pytest.raises(Exception, match="Task timed out"):
        layer.invoke(Calls(), _event("e1"), FakeContext())
    assert seen and "fault" in seen[0]
