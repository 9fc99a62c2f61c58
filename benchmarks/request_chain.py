"""What one AWS request costs in LocalStack's request chain, with and without ``request_chain.py``.

Runs LocalStack's gateway in-process in the sandbox venv (no HTTP, no threads: the
chain alone, with every other sandbox patch applied) and times requests as an SDK
sends them: DynamoDB ``PutItem`` (a seven-attribute item), SQS ``SendMessageBatch``
(ten messages with two attributes each, as ``send_events`` sends) and SQS
``GetQueueUrl`` (the chain with almost no provider work). Rounds alternate between
the chain as LocalStack has it (the baseline) and with the plugin's
``request_chain`` patches, in one process; the figure is the thread's CPU time per
request, the best round of each. Prints figures and ratios, asserts nothing:

    .venv/bin/python benchmarks/request_chain.py [--requests 2000] [--rounds 3]
"""

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap

from common import free_port

from chaoskit import sandbox
from chaoskit.sandbox import install
from chaoskit.sandbox.paths import SandboxPaths

CODE = """
import json, os, sys, time, uuid
requests, rounds = int(sys.argv[1]), int(sys.argv[2])
from chaoskit_sandbox_plugin import patches, request_chain
made = request_chain.patches
request_chain.patches = lambda: []  # every other patch now, these in the rounds
patches.chaoskit_patches()
from localstack.aws.app import LocalstackAwsGateway
from localstack.http import Request, Response

gateway = LocalstackAwsGateway()

def call(target, body, service):
    request = Request("POST", "/", body=body, headers={
        "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": target,
        "Authorization": "AWS4-HMAC-SHA256 Credential=test/20261203/us-east-1/" + service
        + "/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=0",
        "X-Amz-Date": "20261203T070000Z", "Host": "127.0.0.1:4566",
        "User-Agent": "Boto3/1.40 md/Botocore#1.40 ua/2.1 os/linux lang/python#3.12",
        "amz-sdk-invocation-id": str(uuid.uuid4()), "amz-sdk-request": "attempt=1",
        "Content-Length": str(len(body))})
    request.environ["RAW_URI"] = "/"
    response = Response()
    gateway.process(request, response)
    if response.status_code != 200:
        raise SystemExit(f"{target} answered {response.status_code}: {response.data[:300]}")
    return response

call("DynamoDB_20120810.CreateTable", json.dumps({
    "TableName": "orders", "BillingMode": "PAY_PER_REQUEST",
    "KeySchema": [{"AttributeName": "order_id", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "order_id", "AttributeType": "S"}]}).encode(),
    "dynamodb")
url = json.loads(call("AmazonSQS.CreateQueue", b'{"QueueName": "orders"}', "sqs").data)["QueueUrl"]

def put_item(i):
    return json.dumps({"TableName": "orders", "Item": {
        "order_id": {"S": f"o{i}"}, "status": {"S": "accepted"}, "at": {"S": str(time.time())},
        "run_id": {"S": "r"}, "event_id": {"S": f"e{i}"}, "payment": {"S": "charged"},
        "version": {"S": "$LATEST"}}}).encode()

def send_batch(i):
    return json.dumps({"QueueUrl": url, "Entries": [{
        "Id": str(k), "MessageBody": json.dumps({"chaoskit": {"event_id": f"{i}-{k}"}}),
        "MessageAttributes": {
            "chaoskit-run-id": {"DataType": "String", "StringValue": "run"},
            "chaoskit-event-id": {"DataType": "String", "StringValue": f"{i}-{k}"}}}
        for k in range(10)]}).encode()

kinds = {
    "PutItem": ("DynamoDB_20120810.PutItem", put_item, "dynamodb", requests),
    "SendMessageBatch": ("AmazonSQS.SendMessageBatch", send_batch, "sqs", requests // 10),
    "GetQueueUrl": ("AmazonSQS.GetQueueUrl", lambda i: b'{"QueueName": "orders"}', "sqs",
                    requests),
}
best = {(kind, side): float("inf") for kind in kinds for side in ("baseline", "patched")}
for round_ in range(rounds):
    for side in ("baseline", "patched"):
        applied = made() if side == "patched" else []
        for patch in applied:
            patch.apply()
        for kind, (target, body, service, count) in kinds.items():
            bodies = [body(i) for i in range(count)]
            call(target, bodies[0], service)  # warm
            started = time.thread_time()
            for item in bodies:
                call(target, item, service)
            spent = (time.thread_time() - started) / count * 1e6
            best[kind, side] = min(best[kind, side], spent)
        for patch in applied:
            patch.undo()
print(json.dumps({f"{kind}|{side}": us for (kind, side), us in best.items()}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per kind and round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds")
    args = parser.parse_args()
    port = free_port()
    sandbox.ensure_up(port, progress=lambda line: print(f"  {line}"))  # install and sync once
    sandbox.down(port, purge=True)
    python = install.venv_python(SandboxPaths.for_port(port).venv)
    with tempfile.TemporaryDirectory(prefix="chaoskit-chain-") as state:
        env = {
            "SERVICES": "sqs,dynamodb",
            "PROVIDER_OVERRIDE_DYNAMODB": "chaoskit",
            "DISABLE_EVENTS": "1",
            "SKIP_SSL_CERT_DOWNLOAD": "1",
            "LOCALSTACK_VOLUME_DIR": f"{state}/volume",
            "FILESYSTEM_ROOT": f"{state}/fs",
            "TMPDIR": state,
            "HOME": state,
            "PATH": "/usr/bin:/bin",
        }
        done = subprocess.run(
            [str(python), "-c", textwrap.dedent(CODE), str(args.requests), str(args.rounds)],
            capture_output=True,
            text=True,
            env=env,
            cwd=state,
            timeout=1800,
        )
    if done.returncode != 0:
        sys.exit(f"the in-process gateway failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    found = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"one request through LocalStack's chain, thread CPU, best of {args.rounds} rounds:")
    for kind in ("PutItem", "SendMessageBatch", "GetQueueUrl"):
        base, patched = found[f"{kind}|baseline"], found[f"{kind}|patched"]
        print(f"  {kind:17s} baseline {base:7.0f} us, with request_chain {patched:7.0f} us: "
              f"{patched / base:.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
