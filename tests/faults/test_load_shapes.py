"""App-shaped load: templates, sample events, the app's own key, parallel batches (moto)."""

import json
from pathlib import Path
from typing import Any

import pytest

from chaoskit import aws, envvars
from chaoskit.errors import BadInput
from chaoskit.faults import _payload, load
from chaoskit.ledger import store
from chaoskit.ledger.trace import find_traces
from probes.ledger import reconcile_run

RUN = "run-shapes"
EVENTS = Path(__file__).parent / "load_events"


@pytest.fixture
def cfg(aws_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv(envvars.HOME, str(tmp_path / "home"))
    return {**aws_env, "chaoskit_run_id": RUN}


def _bodies(cfg: dict[str, Any], url: str) -> list[dict[str, Any]]:
    sqs = aws.client("sqs", cfg)
    out = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            return out
        out.extend(json.loads(m["Body"]) for m in got)
        entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)]
        sqs.delete_message_batch(QueueUrl=url, Entries=entries)


def test_every_event_gets_its_own_values_from_the_template() -> None:
    render = _payload.Renderer(
        {"orderId": "{{uuid}}", "n": "{{index}}", "label": "order {{index}} of {{run_id}}",
         "size": "{{choice:S|M|L}}", "qty": "{{int:1:3}}", "id": "{{event_id}}"},
        None, "seed-1", wall=lambda: 1_700_000_000.0,
    )  # fmt: skip
    events = [render(i, f"e{i}", "r") for i in range(50)]
    assert len({e["orderId"] for e in events}) == 50
    assert [e["n"] for e in events[:3]] == [0, 1, 2]  # a whole placeholder keeps its type
    assert events[2]["label"] == "order 2 of r" and events[2]["id"] == "e2"
    assert {e["size"] for e in events} <= {"S", "M", "L"} and {e["qty"] for e in events} <= {
        1,
        2,
        3,
    }
    again = _payload.Renderer(render.payload, None, "seed-1", wall=lambda: 1_700_000_000.0)
    assert [again(i, f"e{i}", "r") for i in range(50)] == events  # same seed, same payloads


def test_samples_come_from_jsonl_files_and_event_folders_in_turn() -> None:
    lines = _payload.load_samples(EVENTS / "orders.jsonl")
    assert [s["kind"] for s in lines] == ["a", "b"]
    folder = _payload.load_samples(EVENTS / "app_events")
    assert [s["customer"] for s in folder] == ["c-2", "c-1"]  # sorted by file name
    render = _payload.Renderer({"channel": "web"}, lines, "s")
    assert [render(i, "e", "r") for i in range(3)] == [
        {"orderId": "o-0", "kind": "a", "channel": "web"},
        {"orderId": "o-1", "kind": "b", "channel": "web"},
        {"orderId": "o-2", "kind": "a", "channel": "web"},
    ]


@pytest.mark.parametrize(
    ("payload", "samples", "match"),
    [
        ({"x": "{{bogus}}"}, None, r"unknown placeholder '\{\{bogus\}\}' in payload"),
        ({"x": "{{int:1}}"}, None, "expected int:LOW:HIGH"),
        ({}, "missing.jsonl", "cannot read sample events 'missing.jsonl'"),
    ],
)
def test_bad_templates_and_samples_are_refused(payload: Any, samples: Any, match: str) -> None:
    with pytest.raises(BadInput, match=match):
        _payload.Renderer(payload, _payload.load_samples(samples) if samples else None, "s")


def test_a_bad_jsonl_line_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"a": 1}\n{nope\n')
    with pytest.raises(BadInput, match=r"bad\.jsonl' line 2 is not JSON"):
        _payload.load_samples(bad)


def test_parallel_batches_send_each_event_once_and_record_each_once(cfg: dict[str, Any]) -> None:
    url = aws.client("sqs", cfg).create_queue(QueueName="orders")["QueueUrl"]
    out = load.send_events("sqs", url, count=237, concurrency=6,
                           payload={"orderId": "o-{{index}}"}, configuration=cfg)  # fmt: skip
    assert (out["sent"], out["failed"]) == (237, 0)
    bodies = _bodies(cfg, url)
    ids = sorted(t.event_id for b in bodies for t in find_traces(b))
    sent = sorted(r.event_id for r in store.read_run(RUN, cfg) if r.kind == "sent")
    assert ids == sent and len(set(ids)) == 237
    assert sorted(b["orderId"] for b in bodies) == sorted(f"o-{i}" for i in range(237))


def test_a_sink_keyed_by_the_apps_own_key_confirms_processing(cfg: dict[str, Any]) -> None:
    # The app writes {"pk": orderId} and nothing of chaoskit's.
    sqs, ddb = aws.client("sqs", cfg), aws.client("dynamodb", cfg)
    url = sqs.create_queue(QueueName="orders-in")["QueueUrl"]
    ddb.create_table(TableName="orders", BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])  # fmt: skip
    load.send_events("sqs", url, count=12, payload={"orderId": "{{uuid}}"}, key_path="orderId",
                     configuration=cfg)  # fmt: skip
    bodies = _bodies(cfg, url)
    for body in bodies[:9]:  # the app processed 9 of 12
        ddb.put_item(TableName="orders", Item={"pk": {"S": body["orderId"]}})
    ddb.put_item(TableName="orders", Item={"pk": {"S": "someone-else"}})
    sink = {**cfg, "chaoskit_sink_table": "orders", "chaoskit_sink_key": "pk",
            "chaoskit_processed_from": "sink"}  # fmt: skip
    out = reconcile_run(RUN, configuration=sink)
    assert (out["sent"], out["processed"], out["lost"]) == (12, 9, 3)
    lost = {t.event_id for b in bodies[9:] for t in find_traces(b)}
    assert set(out["lost_ids"]) == lost


def test_the_same_seed_sends_the_same_event_ids_and_payloads_in_another_run(
    cfg: dict[str, Any],
) -> None:
    url = aws.client("sqs", cfg).create_queue(QueueName="seeded")["QueueUrl"]

    def load_once(run: str) -> list[tuple[str, str]]:
        config = {**cfg, "chaoskit_run_id": run, "chaoskit_seed": "9"}
        load.send_events(
            "sqs", url, count=15, payload={"orderId": "{{uuid}}"}, configuration=config
        )
        return sorted((t.event_id, b["orderId"]) for b in _bodies(cfg, url) for t in find_traces(b))

    first = load_once("run-a")
    assert first == load_once("run-b")
    assert len({e for e, _ in first}) == 15
    assert load_once("run-a") != first  # a second load in one run: new ids
