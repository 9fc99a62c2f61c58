"""The Node.js layer: its own test suite under Node's test runner, and parity with Python's.

``node --test tests/layer_node`` holds the Node.js layer's unit tests; this module
runs it so the README's test command (and CI) runs it too. The parity tests feed
both layers the same inputs: the config cases in ``config_cases.json``, and the
ledger records a Node.js function writes, read back by chaoskit's Python reader
from a real DynamoDB API (moto) with the Node.js layer's SigV4 signing and SSM
config fetch.
"""

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import boto3
import pytest

from chaoskit.layer import rolls
from chaoskit.layer.config import ConfigError, parse_config
from chaoskit.ledger import records as records_module
from chaoskit.ledger.records import parse_items
from chaoskit.ledger.store import read_run
from tests.support.node_sdk import sdk_for_tests

ROOT = Path(__file__).resolve().parents[2]
NODE = shutil.which("node")
LAYER = ROOT / "chaoskit" / "layer" / "node"
CASES = json.loads((Path(__file__).with_name("config_cases.json")).read_text())

pytestmark = pytest.mark.skipif(NODE is None, reason="Node.js is not installed")


def test_the_node_layer_suite_passes_under_nodes_test_runner() -> None:
    sdk_for_tests()
    out = subprocess.run(
        [str(NODE), "--test", str(ROOT / "tests" / "layer_node")],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    passed = re.search(r"^# pass (\d+)$", out.stdout, re.MULTILINE)
    assert passed and int(passed.group(1)) >= 30, out.stdout[-2000:]


@pytest.mark.parametrize("case", CASES["refused"], ids=lambda c: c["named"])
def test_python_refuses_the_shared_cases_too(case: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match=re.escape(case["named"])):
        parse_config(case["document"])


@pytest.mark.parametrize("case", CASES["accepted"], ids=lambda c: str(c["faults"]))
def test_python_accepts_the_shared_cases_too(case: dict[str, Any]) -> None:
    assert len(parse_config(case["document"]).faults) == case["faults"]


NODE_SCRIPT = ROOT / "tests" / "layer_node" / "fixtures" / "ledger_parity.mjs"


def test_events_reaching_a_node_handler_that_cannot_be_loaded_are_recorded_failed(
    layer_aws: dict[str, str], tmp_path: Path
) -> None:
    # aws-samples/serverless-patterns dynamodb-streams-lambda-eventbridge-sam-node, built
    # with esbuild, leaves the AWS SDK to the runtime. Where it was missing, the layer's
    # entry point failed at import: nothing was recorded, and a kill switch called its 10
    # events "never delivered" while every invocation failed to load the handler.
    (tmp_path / "app.mjs").write_text(
        'import { x } from "@aws-sdk/not-in-the-bundle";\nexport const handler = async () => x;\n'
    )
    env = {**os.environ, "CHAOSKIT_ORIGINAL_HANDLER": "app.handler", "AWS_REGION": "us-east-1"}
    env.update({"LAMBDA_TASK_ROOT": str(tmp_path)})
    env.pop("CHAOSKIT_CONFIG", None)
    out = subprocess.run(
        [str(NODE), str(NODE_SCRIPT.with_name("unloadable.mjs")), str(LAYER)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "[ERROR] Runtime.ImportModuleError" in out.stderr  # init logs it, as Lambda does
    errors = json.loads(out.stdout.strip().splitlines()[-1])["errors"]
    assert [e["name"] for e in errors] == ["Runtime.ImportModuleError"] * 2
    assert "@aws-sdk/not-in-the-bundle" in errors[0]["message"]
    records = read_run("run-unloadable", layer_aws)
    kinds = sorted((r.event_id, r.kind) for r in records)
    assert kinds == sorted([(e, k) for e in ("e1", "e2") for k in ("attempt", "failed")] * 2)
    assert {(r.detail or {}).get("error") for r in records if r.kind == "failed"} == {
        "Runtime.ImportModuleError"
    }


def test_node_ledger_records_and_acks_read_back_through_the_python_reader(
    layer_aws: dict[str, str],
) -> None:
    endpoint = os.environ["AWS_ENDPOINT_URL"]
    ssm = boto3.client("ssm", endpoint_url=endpoint)
    boom = {"kind": "exception", "rate": 1, "type": "Boom", "match": {"fields": {"boom": True}}}
    document = {"version": "v-node", "expires_at": time.time() + 600, "faults": [boom]}
    ssm.put_parameter(Name="/chaoskit/node-worker", Value=json.dumps(document), Type="String")
    env = {
        **os.environ,
        "CHAOSKIT_CONFIG_PARAMETER": "/chaoskit/node-worker",
        "CHAOSKIT_ACK": "1",
        "AWS_REGION": "us-east-1",
    }
    env.pop("CHAOSKIT_CONFIG", None)
    out = subprocess.run(
        [str(NODE), str(NODE_SCRIPT), str(LAYER)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    parity = result.pop("parity")
    assert result == {"out": {"batchItemFailures": [{"itemIdentifier": "m2"}]}, "failed": "Boom",
                      "fetches": 1}  # fmt: skip
    records = read_run("run-node", layer_aws)
    kinds = sorted((r.event_id, r.kind) for r in records if r.kind != "fault")
    assert kinds == [
        ("e1", "attempt"), ("e1", "processed"), ("e2", "attempt"), ("e2", "processed"),
        ("e3", "attempt"), ("e3", "failed"), ("e4", "attempt"), ("e4", "failed"),
    ]  # fmt: skip
    failed = {r.event_id: r.detail for r in records if r.kind == "failed"}
    assert failed["e3"]["error"] == "batchItemFailure" and failed["e4"]["error"] == "Boom"
    assert failed["e4"]["function"] == "node-worker" and failed["e4"]["qualifier"] == "live"
    assert failed["e3"]["queue"] == "arn:aws:sqs:us-east-1:000000000000:orders"
    # A redelivered message's records carry its delivery count, as Python's do; others none.
    delivery = {(r.event_id, r.kind): (r.detail or {}).get("delivery") for r in records}
    assert delivery[("e2", "attempt")] == delivery[("e2", "processed")] == 2
    assert delivery[("e1", "attempt")] is None and delivery[("e3", "failed")] is None
    # Attempts carry the invocation's deadline (3 s remained), as Python's do.
    for r in records:
        if r.kind == "attempt":
            assert r.at + 2.9 <= (r.detail or {})["deadline"] <= r.at + 3.1, r
    (fault,) = [r for r in records if r.kind == "fault"]
    assert fault.detail and fault.detail["kind"] == "exception" and fault.detail["fault"] == 0
    assert fault.detail["event_ids"] == ["e4"]
    # The same numbers as the Python layer's: rolls, roll keys, partition keys, log lines.
    keys = ["e-1", "e-2", "b1f0c3", "\u00e9v\u00e9nement", "x" * 200]
    assert parity["rolls"] == [rolls.roll("seed-42", i, "exception", k) for i, k in enumerate(keys)]
    event = {"Records": [{"attributes": {"ApproximateReceiveCount": "3"}}]}
    assert parity["keys"] == [rolls.invocation_key(event, [k, "zz"], "r") for k in keys]
    assert parity["partitions"] == [records_module.partition("run-node", k) for k in keys]
    assert parity["eventKeys"] == [rolls.event_key(k, i) for i, k in enumerate(keys)]
    assert parity["batchRolls"] == pytest.approx(
        [rolls.batch_roll("seed-42", 1, "latency", keys[:n]) for n in (1, 2, 5)], rel=1e-12
    )
    (logged,) = records_module.from_log_line(parity["logLine"])
    assert (logged.run_id, logged.event_id, logged.kind, logged.at) == ("r", "e", "processed", 2.25)
    ddb = boto3.client("dynamodb", endpoint_url=endpoint)
    acks = ddb.query(
        TableName="chaoskit-ledger",
        KeyConditionExpression="run_id = :r",
        ExpressionAttributeValues={":r": {"S": "ack#node-worker"}},
    )["Items"]
    assert [a["version"]["S"] for a in acks] == ["v-node"]
    raw = [i for i in ddb.scan(TableName="chaoskit-ledger")["Items"] if "run" in i]
    assert raw and all("records" in item for item in raw)  # Node.js writes packed items
    unpacked = [r for item in raw for r in parse_items(item)]
    assert sorted(unpacked) == sorted(records)  # Python reads every item
    # Packs Node.js builds parse in Python to the records Python would pack.
    expected = []
    Record = records_module.Record
    for i, k in enumerate(keys):
        detail = {"function": "f", "queue": "arn:aws:sqs:us-east-1:000000000000:orders", "n": i % 2}
        expected += [Record("run-pack", k, "attempt", 1700000000.125 + i, "sqs", detail),
                     Record("run-pack", k, "processed", 1700000001.0 + i, "", None)]  # fmt: skip
    expected += [Record("run-many", f"m{i}", "sent", i + 0.5) for i in range(150)]
    node_packs = parity["packs"]
    assert [n for _, n in node_packs] == [len(g) for _, g in records_module.pack_items(expected)]
    assert [r for item, _ in node_packs for r in parse_items(item)] == expected
    assert [item["run_id"] for item, _ in node_packs] == [
        item["run_id"] for item, _ in records_module.pack_items(expected)
    ]
