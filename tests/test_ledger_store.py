"""The ledger table on a real (moto) DynamoDB endpoint."""

from typing import Any

import pytest

from chaoskit.ledger import records, store


def test_write_and_read_a_run(aws_env: dict[str, str]) -> None:
    store.ensure_table(aws_env)
    store.ensure_table(aws_env)  # idempotent
    recs = [records.Record("run-a", f"e{i}", records.SENT, 100.0 + i) for i in range(60)]
    recs.append(records.Record("run-a", "e0", records.PROCESSED, 200.0, "sqs"))
    recs.append(records.Record("run-b", "x", records.SENT, 1.0))
    assert store.write(recs, aws_env) == 62
    got = store.read_run("run-a", aws_env)
    assert len(got) == 61
    assert {r.kind for r in got if r.event_id == "e0"} == {records.SENT, records.PROCESSED}
    assert store.read_run("run-b", aws_env)[0].event_id == "x"


def test_a_run_is_spread_over_shard_partition_keys_and_read_back_grouped(
    aws_env: dict[str, str],
) -> None:
    from chaoskit import aws

    store.ensure_table(aws_env)
    recs = [records.Record("run-s", f"e{i:03d}", k, 1.0 + i) for i in range(200)
            for k in (records.SENT, records.PROCESSED)]  # fmt: skip
    for start in range(0, len(recs), 4):  # 100 writes, as 100 invocations: 100 packed items
        store.write(recs[start : start + 4], aws_env)
    ddb = aws.client("dynamodb", aws_env)
    items = ddb.scan(TableName=records.table_name())["Items"]
    keys = {item["run_id"]["S"] for item in items if item["run"]["S"] == "run-s"}
    assert len(keys) > records.SHARDS // 2  # spread, not one hot key
    assert all(k.startswith("run-s#s") for k in keys)
    got = store.read_run("run-s", aws_env)
    assert [r.event_id for r in got] == sorted(r.event_id for r in recs)
    assert sorted(got) == sorted(recs)


def test_records_written_before_sharding_are_still_read(aws_env: dict[str, str]) -> None:
    from chaoskit import aws

    store.ensure_table(aws_env)
    item = records.make_item(records.Record("run-old", "e1", records.SENT, 1.0))
    item["run_id"] = {"S": "run-old"}
    del item["run"]
    aws.client("dynamodb", aws_env).put_item(TableName=records.table_name(), Item=item)
    assert [r.event_id for r in store.read_run("run-old", aws_env)] == ["e1"]


def _invocation(run: str, first: int, count: int, at: float) -> list[records.Record]:
    """One invocation's records, as the layer writes them: an attempt and an outcome per event."""
    detail = {"function": "writer", "request_id": f"req-{first}", "queue": "arn:aws:sqs:r:1:q"}
    out = []
    for i in range(first, first + count):
        out.append(records.Record(run, f"e{i:04d}", records.ATTEMPT, at, "sqs", detail))
        out.append(records.Record(run, f"e{i:04d}", records.PROCESSED, at + 0.5, "sqs", detail))
    return out


def test_records_are_packed_one_item_per_write_and_read_back_exactly() -> None:
    recs = _invocation("run-p", 0, 10, 1.25)
    recs += [records.Record("run-p", "e\u00e9", records.FAILED, 2.0, "", {"error": "\u2603"}),
             records.Record("run-q", "x", records.SENT, 3.0)]  # fmt: skip
    packs = records.pack_items(recs)
    assert [len(group) for _, group in packs] == [21, 1]  # one item per run
    first = packs[0][0]
    assert first["run"] == {"S": "run-p"}
    assert first["run_id"]["S"] == records.partition("run-p", "e0000")
    assert first["sk"]["S"].startswith(records.PACK_PREFIX)
    assert first["records"]["S"].count('"request_id"') == 1  # a shared detail is written once
    back = [r for item, _ in packs for r in records.parse_items(item)]
    assert back == recs
    assert all(type(r) is records.Record for r in back)


def test_a_pack_is_split_by_record_count_and_by_size() -> None:
    many = [records.Record("r", f"e{i}", records.SENT, float(i)) for i in range(250)]
    assert [len(g) for _, g in records.pack_items(many)] == [100, 100, 50]
    big = {"function": "f", "blob": "x" * (records.PACK_BYTES // 3)}
    heavy = [records.Record("r", f"e{i}", records.ATTEMPT, 1.0, "sqs", dict(big, n=i))
             for i in range(7)]  # fmt: skip
    packs = records.pack_items(heavy)
    assert [len(g) for _, g in packs] == [2, 2, 2, 1]
    assert all(len(item["records"]["S"]) < records.PACK_BYTES for item, _ in packs)
    assert [r for item, _ in packs for r in records.parse_items(item)] == heavy
    # One record larger than a pack still gets an item of its own.
    huge = records.Record("r", "h", records.ATTEMPT, 1.0, "", {"blob": "y" * records.PACK_BYTES})
    assert [len(g) for _, g in records.pack_items([heavy[0], huge, heavy[1]])] == [1, 1, 1]


def test_an_item_of_one_record_still_parses() -> None:
    rec = records.Record("run-o", "e1", records.PROCESSED, 1.5, "sqs", {"function": "f"})
    assert records.parse_items(records.make_item(rec)) == [rec]


def test_a_malformed_pack_is_refused_naming_the_item() -> None:
    item, _ = records.pack_items([records.Record("r", "e1", records.SENT, 1.0)])[0]
    for body in ('{"v":1,"e":["a","b"],"k":["sent"],"t":[1.0],"s":[""],"i":[0],"d":[null]}',
                 '{"v":2,"e":[],"k":[],"t":[],"s":[],"i":[],"d":[null]}',
                 '{"v":1,"e":["a"],"k":["sent"],"t":[1.0],"s":[""],"i":[3],"d":[null]}',
                 "not json"):  # fmt: skip
        bad = dict(item, records={"S": body})
        with pytest.raises(ValueError, match=r"ledger item 'r#s\d\d'/'~pack#.*malformed 'records'"):
            records.parse_items(bad)


def test_packed_and_per_record_items_of_one_run_read_back_and_reconcile_alike(
    aws_env: dict[str, str],
) -> None:
    """A ledger written before packing reconciles the same as one written packed, or mixed."""
    from chaoskit import aws
    from chaoskit.ledger.reconcile import reconcile

    store.ensure_table(aws_env)
    ddb = aws.client("dynamodb", aws_env)

    def records_of(run: str) -> list[records.Record]:
        out = [records.Record(run, f"e{i:04d}", records.SENT, 0.5) for i in range(40)]
        for first in range(0, 40, 10):
            out += _invocation(run, first, 10 if first != 30 else 7, 1.0 + first)  # 3 lost
        return out

    def put_per_record(recs: list[records.Record]) -> None:
        for start in range(0, len(recs), 25):
            ddb.batch_write_item(RequestItems={records.table_name(): [
                {"PutRequest": {"Item": records.make_item(r)}} for r in recs[start : start + 25]
            ]})  # fmt: skip

    put_per_record(records_of("run-old"))
    store.write(records_of("run-new"), aws_env)
    mixed = records_of("run-mix")
    put_per_record(mixed[:70])
    store.write(mixed[70:], aws_env)
    packed_items = [i for i in ddb.scan(TableName=records.table_name())["Items"] if "records" in i]
    assert {i["run"]["S"] for i in packed_items} == {"run-new", "run-mix"}

    def view(run: str) -> tuple[list[tuple[Any, ...]], dict[str, Any]]:
        got = store.read_run(run, aws_env)
        rows = sorted((r.event_id, r.kind, r.at, r.source, str(r.detail)) for r in got)
        assert [r.event_id for r in got] == sorted(r.event_id for r in got)
        return rows, reconcile(got)

    old_rows, old = view("run-old")
    for run in ("run-new", "run-mix"):
        rows, out = view(run)
        assert rows == old_rows
        assert out == old
    assert old["sent"] == 40 and old["processed"] == 37 and len(old["lost_ids"]) == 3


def test_a_malformed_pack_fails_the_read_naming_the_table_and_run(aws_env: dict[str, str]) -> None:
    from chaoskit import aws
    from chaoskit.errors import ChaosKitError

    store.ensure_table(aws_env)
    item, _ = records.pack_items([records.Record("run-bad", "e1", records.SENT, 1.0)])[0]
    item["records"] = {"S": '{"v":1,"e":["e1"]}'}
    aws.client("dynamodb", aws_env).put_item(TableName=records.table_name(), Item=item)
    with pytest.raises(
        ChaosKitError, match="ledger table 'chaoskit-ledger', run 'run-bad': ledger item"
    ):
        store.read_run("run-bad", aws_env)
