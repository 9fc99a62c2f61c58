"""What the sandbox's throughput patches must not change: logs, metrics, DynamoDB reads.

Function logs and CloudWatch metrics are sent in batches (``plugin/logs.py``,
``plugin/metrics.py``) and moto's DynamoDB queries read only the asked partition
(``plugin/dynamodb.py``): every line, data point and item must still arrive, in
order, with the answers moto gave before.
"""

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import boto3
from botocore.config import Config

from tests.support.sandbox import create_function, unique, wait_for


def test_every_invocations_log_lines_reach_its_stream_in_order(aws):
    lam, logs = aws("lambda"), aws("logs")
    name = unique("logbatch")
    create_function(aws, name)

    def invoke(i: int) -> None:
        lam.invoke(FunctionName=name, Payload=json.dumps({"print": f"line-{i:03d}\nnext-{i:03d}"}))

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(invoke, range(40)))

    def messages():
        try:
            events = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}")["events"]
        except logs.exceptions.ResourceNotFoundException:
            return None
        found = [e["message"] for e in events]
        return found if sum(m.startswith("next-") for m in found) >= 40 else None

    found = wait_for(messages, timeout=20, what="the log lines of 40 invocations")
    lines = [m.strip() for m in found]
    for i in range(40):
        assert lines.count(f"line-{i:03d}") == 1
        assert lines.index(f"line-{i:03d}") + 1 == lines.index(f"next-{i:03d}")
    assert sum(m.startswith("START RequestId:") for m in found) == 40
    assert all(m.endswith("\n") and m.strip() for m in found)


def test_invocation_and_error_metrics_count_every_invocation(aws):
    lam, cloudwatch = aws("lambda"), aws("cloudwatch")
    name = unique("metricbatch")
    create_function(aws, name)
    start = datetime.now(UTC) - timedelta(minutes=1)
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda i: lam.invoke(FunctionName=name, Payload=b"{}"), range(25)))
        list(pool.map(lambda i: lam.invoke(FunctionName=name, Payload=b'{"fail": "x"}'), range(5)))

    def total(metric: str) -> float:
        points = cloudwatch.get_metric_statistics(
            Namespace="AWS/Lambda",
            MetricName=metric,
            Dimensions=[{"Name": "FunctionName", "Value": name}],
            StartTime=start,
            EndTime=datetime.now(UTC) + timedelta(minutes=1),
            Period=60,
            Statistics=["Sum"],
        )["Datapoints"]
        return sum(p["Sum"] for p in points)

    wait_for(lambda: total("Invocations") >= 30 and total("Errors") >= 5, timeout=20,
             what="30 invocations and 5 errors in CloudWatch")  # fmt: skip
    time.sleep(1)  # a late extra data point would show up now
    assert (total("Invocations"), total("Errors")) == (30, 5)


def test_queries_answer_the_partition_in_order_and_reads_survive_concurrent_writes(
    aws, sandbox_endpoint
):
    ddb = aws("dynamodb")
    table = unique("reads")
    ddb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                   {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "S"},
                              {"AttributeName": "g", "AttributeType": "S"}],
        GlobalSecondaryIndexes=[{"IndexName": "by-g", "Projection": {"ProjectionType": "ALL"},
                                 "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"},
                                               {"AttributeName": "sk", "KeyType": "RANGE"}]}],
        BillingMode="PAY_PER_REQUEST",
    )  # fmt: skip
    for start in range(0, 3000, 25):
        ddb.batch_write_item(RequestItems={table: [
            {"PutRequest": {"Item": {"pk": {"S": f"p{i % 30:02d}"}, "sk": {"S": f"{i:05d}"},
                                     "g": {"S": f"g{i % 7}"}, "pad": {"S": "x" * 300}}}}
            for i in range(start, start + 25)]})  # fmt: skip

    # A partition, paged (Limit) forwards and backwards: moto's order and pages.
    for forward in (True, False):
        keys, kwargs = [], {"TableName": table, "Limit": 17, "ScanIndexForward": forward,
                            "KeyConditionExpression": "pk = :p",
                            "ExpressionAttributeValues": {":p": {"S": "p07"}}}  # fmt: skip
        while True:
            page = ddb.query(**kwargs)
            keys += [item["sk"]["S"] for item in page["Items"]]
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        expected = [f"{i:05d}" for i in range(7, 3000, 30)]
        assert keys == (expected if forward else expected[::-1])
    # An index, with a key condition on its range key.
    page = ddb.query(
        TableName=table,
        IndexName="by-g",
        KeyConditionExpression="g = :g AND sk BETWEEN :a AND :b",
        ExpressionAttributeValues={":g": {"S": "g3"}, ":a": {"S": "00100"}, ":b": {"S": "00200"}},
    )
    assert [i["sk"]["S"] for i in page["Items"]] == [f"{i:05d}" for i in range(101, 201, 7)]
    assert ddb.query(TableName=table, KeyConditionExpression="pk = :p",
                     ExpressionAttributeValues={":p": {"S": "nope"}})["Count"] == 0  # fmt: skip

    # Writers add partitions while readers count and scan the table: moto read its
    # live dict and answered 500 ("dictionary changed size during iteration").
    stop = threading.Event()
    errors: list[str] = []

    def write(worker: int) -> None:
        n = 0
        while not stop.is_set():
            ddb.put_item(TableName=table, Item={"pk": {"S": f"new-{worker}-{n}"},
                                                "sk": {"S": "0"}, "g": {"S": "g0"}})  # fmt: skip
            n += 1

    # The readers do not retry: a 500 fails the read.
    reader = boto3.client(
        "dynamodb",
        endpoint_url=sandbox_endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"mode": "standard", "max_attempts": 1}),
    )

    def read() -> None:
        for _ in range(40):
            try:
                reader.describe_table(TableName=table)
                reader.scan(TableName=table, Select="COUNT", Limit=500)
            except Exception as err:
                errors.append(str(err))

    writers = [threading.Thread(target=write, args=(w,)) for w in range(3)]
    for thread in writers:
        thread.start()
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(lambda _: read(), range(2)))
    finally:
        stop.set()
        for thread in writers:
            thread.join()
    assert errors == []
