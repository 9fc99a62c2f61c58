"""The run summary counts processed events from the app's sink, as the probes do."""

import time
from typing import Any

from chaoskit import aws
from chaoskit.ledger import store
from chaoskit.ledger.records import SENT, Record
from chaoskit.report.enrich import enrich_journal


def _sink_table(config: dict[str, Any], name: str) -> None:
    ddb = aws.client("dynamodb", config)
    ddb.create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": "order_id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "order_id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )


def test_summary_reads_the_sink_table_named_in_the_configuration(
    aws_env: dict[str, Any],
) -> None:
    config = {**aws_env, "chaoskit_processed_from": "sink", "chaoskit_sink_table": "orders"}
    store.ensure_table(config)
    _sink_table(config, "orders")
    now = time.time()
    store.write([Record("run-1", f"e{i}", SENT, now) for i in range(4)], config)
    ddb = aws.client("dynamodb", config)
    for i in range(3):  # e3 never reached the sink: it is lost
        ddb.put_item(
            TableName="orders",
            Item={
                "order_id": {"S": f"o{i}"},
                "run_id": {"S": "run-1"},
                "event_id": {"S": f"e{i}"},
                "processed_at": {"N": str(now + 1)},
            },
        )
    ddb.put_item(  # another run's item must not count
        TableName="orders",
        Item={"order_id": {"S": "x"}, "run_id": {"S": "run-2"}, "event_id": {"S": "e3"}},
    )

    ext = enrich_journal({"end": None}, "run-1", config, "localstack")

    assert ext["ledger"]["sent"] == 4
    assert ext["ledger"]["processed"] == 3
    assert ext["ledger"]["lost"] == 1
    assert ext["ledger"]["lost_ids"] == ["e3"]
