"""The load action's DynamoDB target against the moto server.

Each event is one item; a function reading the table's stream gets it in the
record's ``NewImage``, where ``find_traces`` finds the mark. Items are read
back with Scan and from the stream itself, and compared with the ledger.
"""

import hashlib
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest
from boto3.dynamodb.types import TypeDeserializer
from botocore.stub import Stubber

from chaoskit import aws, envvars
from chaoskit.errors import BadInput
from chaoskit.faults import load
from chaoskit.ledger import store
from chaoskit.ledger.trace import find_traces

RUN = "run-load-ddb"
NEW_IMAGES = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}


@pytest.fixture
def cfg(aws_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv(envvars.HOME, str(tmp_path / "home"))
    return {**aws_env, "chaoskit_run_id": RUN}


@pytest.fixture
def slept(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    waits: list[float] = []
    monkeypatch.setattr(load, "_sleep", waits.append)
    return waits


def _table(
    cfg: dict[str, Any],
    name: str = "orders",
    keys: tuple[tuple[str, str], ...] = (("pk", "S"),),
    stream: dict[str, Any] | None = None,
) -> str:
    schema = [
        {"AttributeName": n, "KeyType": "HASH" if i == 0 else "RANGE"}
        for i, (n, _) in enumerate(keys)
    ]
    out = aws.client("dynamodb", cfg).create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=schema,
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": t} for n, t in keys],
        StreamSpecification=stream or NEW_IMAGES,
    )
    return str(out["TableDescription"]["TableArn"])


def _scan(cfg: dict[str, Any], name: str = "orders") -> list[dict[str, Any]]:
    ddb = aws.client("dynamodb", cfg)
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": name}
    while True:
        page = ddb.scan(**kwargs)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _stream_records(cfg: dict[str, Any], name: str = "orders") -> list[dict[str, Any]]:
    arn = aws.client("dynamodb", cfg).describe_table(TableName=name)["Table"]["LatestStreamArn"]
    streams = aws.client("dynamodbstreams", cfg)
    records: list[dict[str, Any]] = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        records.extend(streams.get_records(ShardIterator=iterator, Limit=1000)["Records"])
    return records


def _sent_ids(cfg: dict[str, Any]) -> list[str]:
    records = [r for r in store.read_run(RUN, cfg) if r.kind == "sent"]
    assert all(r.source == "dynamodb" and r.detail for r in records)
    return sorted(r.event_id for r in records)


def _traced_ids(items: list[Any]) -> list[str]:
    found = [t for item in items for t in find_traces(item)]
    assert all(t.run_id == RUN and t.sent_at for t in found)
    return sorted(t.event_id for t in found)


def _writes_to(cfg: dict[str, Any], table: str) -> list[int]:
    """Record the size of every BatchWriteItem call to ``table`` (not the ledger's)."""
    sizes: list[int] = []

    def record(params: dict[str, Any], **kwargs: Any) -> None:
        for name, requests in params["RequestItems"].items():
            if name == table:
                sizes.append(len(requests))

    aws.client("dynamodb", cfg).meta.events.register(
        "provide-client-params.dynamodb.BatchWriteItem", record
    )
    return sizes


def test_each_event_is_an_item_whose_new_image_carries_the_trace(cfg: dict[str, Any]) -> None:
    _table(cfg)
    out = load.send_events(
        "dynamodb", "orders", count=7, payload={"orderId": "o-{{index}}"}, configuration=cfg
    )
    assert (out["sent"], out["failed"], out["target_type"]) == (7, 0, "dynamodb")
    items = _scan(cfg)
    assert _traced_ids(items) == _sent_ids(cfg) and len(items) == 7
    # The key was filled from the event id and the run; the payload's own members are attributes.
    assert sorted(i["pk"]["S"] for i in items) == [f"{e}#{RUN}" for e in _sent_ids(cfg)]
    assert sorted(i["orderId"]["S"] for i in items) == [f"o-{n}" for n in range(7)]
    # What a function reading the stream gets: one INSERT per event, the mark in NewImage.
    records = _stream_records(cfg)
    assert [r["eventName"] for r in records] == ["INSERT"] * 7
    event = {"Records": [{"eventSource": "aws:dynamodb", **r} for r in records]}
    assert _traced_ids([event]) == _sent_ids(cfg)


def test_a_numeric_hash_and_string_range_key_table_takes_several_calls(
    cfg: dict[str, Any],
) -> None:
    arn = _table(cfg, "readings", (("device", "N"), ("at", "S")))
    sizes = _writes_to(cfg, arn)
    out = load.send_events("dynamodb", arn, count=60, configuration=cfg)
    assert (out["sent"], out["failed"]) == (60, 0)
    assert sorted(sizes) == [10, 25, 25]  # BatchWriteItem takes 25 items at most
    items = _scan(cfg, "readings")
    assert _traced_ids(items) == _sent_ids(cfg) and len(items) == 60
    for item in items:
        event_id = find_traces(item)[0].event_id
        digest = hashlib.blake2b(f"{event_id}#{RUN}".encode(), digest_size=8).hexdigest()
        assert item["device"] == {"N": str(int(digest[:15], 16))}
        assert item["at"] == {"S": f"{event_id}#{RUN}"}


def test_a_binary_key_is_the_bytes_of_the_event_id_and_run(cfg: dict[str, Any]) -> None:
    _table(cfg, keys=(("pk", "B"),))
    out = load.send_events("dynamodb", "orders", count=3, configuration=cfg)
    assert out["sent"] == 3
    assert sorted(i["pk"]["B"].decode() for i in _scan(cfg)) == [
        f"{e}#{RUN}" for e in _sent_ids(cfg)
    ]


@pytest.mark.parametrize("key_type", ["S", "N", "B"])
def test_a_rerun_with_the_same_seed_writes_new_items_so_the_stream_shows_inserts(
    cfg: dict[str, Any], key_type: str
) -> None:
    # A rerun with the same seed sends the same event ids. Written under the same keys,
    # its items replaced the first run's: the stream showed MODIFY records, which a
    # function filtered on INSERT never got, and all of the rerun's events were "lost,
    # never delivered".
    _table(cfg, keys=(("pk", key_type),))
    first, again = (
        load.send_events("dynamodb", "orders", count=4, seed="s-1",
                         configuration={**cfg, "chaoskit_run_id": f"r-{key_type}-{n}"})
        for n in (1, 2)
    )  # fmt: skip
    assert again["event_ids"] == first["event_ids"]  # the same events, as seeds promise
    assert len(_scan(cfg)) == 8
    assert [r["eventName"] for r in _stream_records(cfg)] == ["INSERT"] * 8


def test_a_payload_that_carries_a_key_keeps_it(cfg: dict[str, Any]) -> None:
    _table(cfg)
    out = load.send_events(
        "dynamodb", "orders", count=5, payload={"pk": "order-{{index}}"}, configuration=cfg
    )
    assert out["sent"] == 5
    items = _scan(cfg)
    assert sorted(i["pk"]["S"] for i in items) == [f"order-{n}" for n in range(5)]
    assert _traced_ids(items) == _sent_ids(cfg)


def test_events_that_pin_one_key_write_one_item_in_turn(cfg: dict[str, Any]) -> None:
    # BatchWriteItem refuses a call that writes one key twice: each write goes in its own call.
    _table(cfg)
    sizes = _writes_to(cfg, "orders")
    out = load.send_events(
        "dynamodb", "orders", count=3, payload={"pk": "order-1"}, configuration=cfg
    )
    assert (out["sent"], out["failed"]) == (3, 0)
    assert sizes == [1, 1, 1]
    (item,) = _scan(cfg)
    assert find_traces(item)[0].event_id == out["event_ids"][-1]  # the last one sent
    assert [r["eventName"] for r in _stream_records(cfg)] == ["INSERT", "MODIFY", "MODIFY"]


def test_floats_bools_and_nulls_round_trip(cfg: dict[str, Any]) -> None:
    _table(cfg)
    payload = {"price": 12.5, "ratio": 0.1, "qty": 3, "gift": True, "note": None,
               "lines": [{"weight": 0.25, "tags": ["a"]}]}  # fmt: skip
    out = load.send_events("dynamodb", "orders", count=2, payload=payload, configuration=cfg)
    assert (out["sent"], out["failed"]) == (2, 0)
    (raw, _) = _scan(cfg)
    assert raw["price"] == {"N": "12.5"} and raw["ratio"] == {"N": "0.1"}
    item = {k: TypeDeserializer().deserialize(v) for k, v in raw.items()}
    assert item["price"] == Decimal("12.5") and item["qty"] == 3
    assert item["gift"] is True and item["note"] is None
    assert item["lines"] == [{"weight": Decimal("0.25"), "tags": ["a"]}]
    assert isinstance(item["chaoskit"]["sent_ms"], Decimal)


@pytest.mark.parametrize(
    ("target", "match"),
    [
        ("ghost", r"no DynamoDB table 'ghost': expected the name or ARN of an existing table"),
        (
            "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2024-01-01T00:00:00.000",
            r"invalid DynamoDB table .*expected a table name or a table ARN",
        ),
    ],
)
def test_a_missing_table_or_a_stream_arn_is_bad_input(
    cfg: dict[str, Any], target: str, match: str
) -> None:
    _table(cfg)
    with pytest.raises(BadInput, match=match):
        load.send_events("dynamodb", target, count=1, configuration=cfg)


def test_a_table_whose_stream_shows_no_new_images_is_warned_about(
    cfg: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    _table(cfg, "keys-only", stream={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"})
    _table(cfg)

    def warnings() -> list[str]:
        return [
            r.getMessage()
            for r in caplog.records
            if r.name == "chaostoolkit.chaoskit" and r.levelname == "WARNING"
        ]

    with caplog.at_level("WARNING", logger="chaostoolkit.chaoskit"):
        load.send_events("dynamodb", "orders", count=1, configuration=cfg)
        assert warnings() == []
        load.send_events("dynamodb", "keys-only", count=1, configuration=cfg)
    (warning,) = warnings()
    assert "'keys-only' has no stream showing new images" in warning


def _holding_back(
    cfg: dict[str, Any], monkeypatch: pytest.MonkeyPatch, table: str, hold: Any
) -> list[int]:
    """Make BatchWriteItem to ``table`` leave ``hold(call, items)`` of each call unprocessed.

    The rest are written by moto; the ledger's own writes go through untouched.
    """
    ddb = aws.client("dynamodb", cfg)
    real = ddb.batch_write_item
    calls: list[int] = []

    def batch_write_item(**kwargs: Any) -> dict[str, Any]:
        requests = kwargs["RequestItems"].get(table)
        if requests is None:
            return dict(real(**kwargs))
        calls.append(len(requests))
        held = hold(len(calls), requests)
        written = [r for r in requests if r not in held]
        out = dict(real(RequestItems={table: written})) if written else {}
        out["UnprocessedItems"] = {table: held} if held else {}
        return out

    monkeypatch.setattr(ddb, "batch_write_item", batch_write_item)
    return calls


def test_unprocessed_items_are_retried_until_written(
    cfg: dict[str, Any], monkeypatch: pytest.MonkeyPatch, slept: list[float]
) -> None:
    _table(cfg)
    # The first call leaves 10 of its 25 items unprocessed, the retry 4 of those.
    calls = _holding_back(
        cfg, monkeypatch, "orders", lambda n, r: r[:10] if n == 1 else r[:4] if n == 2 else []
    )
    out = load.send_events("dynamodb", "orders", count=25, configuration=cfg)
    assert (out["sent"], out["failed"]) == (25, 0)
    assert calls == [25, 10, 4] and slept == [0.05, 0.1]
    assert _traced_ids(_scan(cfg)) == _sent_ids(cfg) and len(_sent_ids(cfg)) == 25


def test_items_still_unprocessed_after_the_retries_are_failed_each_for_itself(
    cfg: dict[str, Any], monkeypatch: pytest.MonkeyPatch, slept: list[float]
) -> None:
    _table(cfg)
    # Two items of the batch are never processed: only they fail.
    calls = _holding_back(cfg, monkeypatch, "orders", lambda n, r: r[:2] if n == 1 else r)
    out = load.send_events("dynamodb", "orders", count=6, configuration=cfg)
    assert (out["sent"], out["failed"]) == (4, 2)
    assert out["errors"] == ["UnprocessedItems: still unprocessed after 5 retries"]
    assert calls == [6, 2, 2, 2, 2, 2] and slept == [0.05, 0.1, 0.2, 0.4, 0.8]
    items = _scan(cfg)
    assert _traced_ids(items) == _sent_ids(cfg) and len(items) == 4


def test_a_failed_call_fails_its_whole_batch(cfg: dict[str, Any]) -> None:
    # A payload whose key has the wrong type: DynamoDB refuses the whole call.
    _table(cfg, keys=(("pk", "N"),))
    out = load.send_events("dynamodb", "orders", count=3, payload={"pk": "x"}, configuration=cfg)
    assert (out["sent"], out["failed"]) == (0, 3)
    assert out["errors"] and out["errors"][0].startswith("ValidationException")
    assert _sent_ids(cfg) == [] and _scan(cfg) == []


def test_an_item_over_400_kb_fails_alone_not_its_batch(cfg: dict[str, Any]) -> None:
    _table(cfg)
    store.ensure_table(cfg)
    sender = load._dynamodb("orders", cfg, {})
    small = {"chaoskit": {"run_id": RUN, "event_id": "e1", "sent_at": 1.5}}
    big = {**small, "blob": "x" * (400 * 1024)}
    first, second, third = sender([("e1", small), ("e2", big), ("e3", small | {"n": 1})])
    assert first is None and third is None
    assert second is not None and second.startswith("ItemTooLarge: 4")
    assert second.endswith("bytes, over DynamoDB's 400 KB")
    assert sorted(i["pk"]["S"] for i in _scan(cfg)) == ["e1", "e3"]  # no run given: the id


def test_a_table_streaming_its_changes_to_kinesis_is_not_warned_about() -> None:
    # Kinesis Data Streams for DynamoDB: each record carries the new image, trace mark
    # included, whatever the table's own stream shows (it may have none).
    ddb = boto3.client("dynamodb", region_name="us-east-1", aws_access_key_id="x",
                       aws_secret_access_key="x")  # fmt: skip
    arn = "arn:aws:kinesis:us-east-1:123456789012:stream/s"
    with Stubber(ddb) as stub:
        for status in ("ACTIVE", "ENABLING", "DISABLED"):
            stub.add_response(
                "describe_kinesis_streaming_destination",
                {"TableName": "orders", "KinesisDataStreamDestinations": [
                    {"StreamArn": arn, "DestinationStatus": status}]},
                {"TableName": "orders"},
            )  # fmt: skip
        stub.add_client_error("describe_kinesis_streaming_destination", "UnknownOperationException")
        assert [load._kinesis_destination(ddb, "orders") for _ in range(4)] == [
            True,
            True,
            False,
            False,
        ]
