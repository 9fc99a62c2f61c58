"""The ledger against the app's own state, on an app whose DLQ has a filtering consumer.

The app (deployed here with boto3 on the sandbox): ``input`` queue (maxReceiveCount
1, redrive to ``input-dlq``) -> ``processor`` -> ``output`` queue -> ``writer`` ->
``orders`` table; ``writer`` also consumes ``input-dlq`` through an event filter
that keeps only ``priority: high`` orders. Each item the writer puts says how it
came (``via``: ``output`` or ``dlq``). The layer is on both functions; errors are
injected into ``processor`` at rate 0.5 with a fixed seed.

Ground truth comes only from the app's state: the ``orders`` items of the run.
An order written via ``output`` was processed, via ``dlq`` dead-lettered (and
handled by the DLQ's consumer), and an order not in the table was lost (dead-
lettered, then dropped by the filter). chaoskit's counts, per-stage counts and
lost ids must equal it in every run, and two runs with the same seed must fire
the same faults on the same orders and reach the same verdict.
"""

import json
import time
from pathlib import Path
from typing import Any

import pytest

from chaoskit.faults.load import send_events
from chaoskit.layer.build import build_layer_zip
from chaoskit.ledger import store
from probes.ledger import wait_until_settled
from tests.support.sandbox import create_function, queue, unique, zip_files

pytestmark = pytest.mark.sandbox

EVENTS = 20
SEED = "ground-truth-1"

APP = """
import json, os
import boto3

def processor(event, context):
    sqs = boto3.client("sqs")
    for record in event["Records"]:
        sqs.send_message(QueueUrl=os.environ["OUTPUT_URL"], MessageBody=record["body"])

def writer(event, context):
    ddb = boto3.client("dynamodb")
    for record in event["Records"]:
        body = json.loads(record["body"])
        via = "dlq" if record["eventSourceARN"].endswith("-dlq") else "output"
        ddb.put_item(TableName=os.environ["TABLE"],
                     Item={"orderId": {"S": body["orderId"]}, "via": {"S": via}})
"""


@pytest.fixture(scope="module")
def app(aws: Any, sandbox: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Any:
    config = {**sandbox, "chaoskit_ledger_table": unique("ledger")}
    store.ensure_table(config)
    layer_zip = build_layer_zip(Path(tmp_path_factory.mktemp("layer")) / "chaoskit.zip")
    layer = aws("lambda").publish_layer_version(
        LayerName=unique("chaoskit"), Content={"ZipFile": layer_zip.read_bytes()}
    )["LayerVersionArn"]
    dlq_url, dlq_arn = queue(aws, unique("input") + "-dlq")
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "1"})
    # Visibility 6x the function timeout (AWS's advice): a slow invocation must not
    # see its message redelivered, and dead-lettered, while it still runs.
    input_url, input_arn = queue(aws, unique("input"), VisibilityTimeout="30",
                                 RedrivePolicy=redrive)  # fmt: skip
    output_url, output_arn = queue(aws, unique("output"))
    table = unique("orders")
    ddb = aws("dynamodb")
    ddb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "orderId", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "orderId", "KeyType": "HASH"}])  # fmt: skip
    ddb.get_waiter("table_exists").wait(TableName=table)
    faults = {"version": "v1", "expires_at": time.time() + 1800, "seed": SEED,
              "faults": [{"kind": "exception", "rate": 0.5}]}  # fmt: skip
    common = {"AWS_LAMBDA_EXEC_WRAPPER": "/opt/chaoskit-wrapper",
              "CHAOSKIT_LEDGER_TABLE": config["chaoskit_ledger_table"]}  # fmt: skip
    code = zip_files({"app.py": APP})
    processor, writer = unique("processor"), unique("writer")
    create_function(aws, processor, "app.processor", layers=[layer], code=code, timeout=5,
                    env={**common, "OUTPUT_URL": output_url,
                         "CHAOSKIT_CONFIG": json.dumps(faults)})  # fmt: skip
    create_function(aws, writer, "app.writer", layers=[layer], code=code, timeout=5,
                    env={**common, "TABLE": table})  # fmt: skip
    lam = aws("lambda")
    lam.create_event_source_mapping(EventSourceArn=input_arn, FunctionName=processor,
                                    BatchSize=1)  # fmt: skip
    lam.create_event_source_mapping(EventSourceArn=output_arn, FunctionName=writer, BatchSize=10)
    lam.create_event_source_mapping(
        EventSourceArn=dlq_arn, FunctionName=writer, BatchSize=10,
        FilterCriteria={"Filters": [{"Pattern": json.dumps({"body": {"priority": ["high"]}})}]},
    )  # fmt: skip
    return {"config": config, "input": input_url, "queues": [input_url, output_url, dlq_url],
            "table": table, "processor": processor, "writer": writer}  # fmt: skip


def _run(aws: Any, app: dict[str, Any]) -> dict[str, Any]:
    run = unique("run")
    config = {**app["config"], "chaoskit_run_id": run, "chaoskit_seed": SEED}
    sent = send_events("sqs", app["input"], count=EVENTS, key_path="orderId",
                       payload={"orderId": "{{run_id}}-{{index}}",
                                "priority": "{{choice:high|low}}"},
                       configuration=config)  # fmt: skip
    assert sent["sent"] == EVENTS
    out = wait_until_settled(timeout=240, queues=app["queues"], quiet_seconds=8,
                             configuration=config)  # fmt: skip
    assert out["settled"], out
    # The truth, from the app's own table only.
    items = aws("dynamodb").scan(TableName=app["table"])["Items"]
    via = {i["orderId"]["S"]: i["via"]["S"] for i in items if i["orderId"]["S"].startswith(run)}
    orders = {f"{run}-{i}" for i in range(EVENTS)}
    truth = {
        "processed": {o for o, v in via.items() if v == "output"},
        "dead_lettered": {o for o, v in via.items() if v == "dlq"},
        "lost": orders - set(via),
    }
    records = store.read_run(run, config)
    key_of = {r.event_id: r.detail["key"] for r in records if r.kind == "sent" and r.detail}
    fired = sorted(
        key_of[e].rsplit("-", 1)[1]
        for r in records if r.kind == "fault" for e in (r.detail or {}).get("event_ids", [])
    )  # fmt: skip
    return {"run": run, "out": out, "truth": truth, "key_of": key_of, "fired": fired}


def _index(order: str) -> str:
    return order.rsplit("-", 1)[1]


def test_counts_and_lost_ids_equal_the_apps_own_state_and_the_seed_replays(
    aws: Any, app: dict[str, Any]
) -> None:
    runs = [_run(aws, app), _run(aws, app)]
    for r in runs:
        out, truth, key_of = r["out"], r["truth"], r["key_of"]
        seen = {k: out[k] for k in ("stages", "queues", "faults", "warnings", "lost_reasons",
                                    "dead_letter_queues", "terminal_stages")}  # fmt: skip
        print(json.dumps({"truth": {k: sorted(v) for k, v in truth.items()}, **seen}, indent=1))
        assert out["sent"] == EVENTS
        assert out["processed"] == len(truth["processed"]), out
        assert out["dead_lettered"] == len(truth["dead_lettered"]), out
        assert {key_of[e] for e in out["lost_ids"]} == truth["lost"], out
        assert out["stages"][app["writer"]]["processed"] == len(
            truth["processed"] | truth["dead_lettered"]
        )
        assert out["stages"][app["processor"]]["failed"] == len(
            truth["dead_lettered"] | truth["lost"]
        )
        assert out["terminal_stages"] == [app["writer"]]
        assert any("dead-letter queue with a consumer" in w for w in out["warnings"])
        assert r["fired"], "the fault never fired: the experiment would prove nothing"
        assert truth["lost"], "no order was dropped by the filter: nothing tested"
    first, second = runs
    # Same seed: the same orders hit by the fault, the same fate for every order.
    assert first["fired"] == second["fired"]
    for kind in ("processed", "dead_lettered", "lost"):
        assert sorted(map(_index, first["truth"][kind])) == sorted(
            map(_index, second["truth"][kind])
        )
