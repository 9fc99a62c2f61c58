"""The ledger table on a real (moto) DynamoDB endpoint."""

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
    store.write(recs, aws_env)
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
