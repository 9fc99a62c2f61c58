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
