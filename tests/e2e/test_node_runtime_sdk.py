"""Node.js functions import the AWS SDK for JavaScript v3 from the runtime, as on Lambda.

A public app built with esbuild (aws-samples/serverless-patterns
dynamodb-streams-lambda-eventbridge-sam-node) leaves ``@aws-sdk/*`` out of its bundle,
as SAM's templates do, and failed every invocation in the sandbox with ``Cannot find
module '@aws-sdk/util-dynamodb'``. Here a sandbox of its own is given the SDK's folder
(``CHAOSKIT_SANDBOX_NODE_SDK``, holding the pinned ``@aws-sdk/client-dynamodb`` the
layer tests install) and a registry on 127.0.0.1 that knows nothing, so no install
reaches out: functions in both module styles write to the sandbox's DynamoDB with the
SDK they did not bundle, and one naming a package the folder lacks fails to load it.
"""

import json
import shutil
from pathlib import Path
from typing import Any

import boto3
import pytest

from chaoskit import sandbox as chaoskit_sandbox
from tests.support.net import free_port
from tests.support.node_sdk import sdk_for_tests
from tests.support.npm_registry import npm_registry
from tests.support.sandbox import ROLE, zip_files

pytestmark = [
    pytest.mark.sandbox,
    pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed"),
]

PUT = """
  const client = new DynamoDBClient({});
  const id = String(event.id);
  await client.send(new PutItemCommand({ TableName: process.env.TABLE, Item: { id: { S: id } } }));
  return { stored: id };
"""
FILES = {
    "esm.mjs": 'import { DynamoDBClient, PutItemCommand } from "@aws-sdk/client-dynamodb";\n'
    f"export const handler = async (event) => {{{PUT}}};\n",
    "cjs.js": 'const { DynamoDBClient, PutItemCommand } = require("@aws-sdk/client-dynamodb");\n'
    f"exports.handler = async (event) => {{{PUT}}};\n",
    "absent.mjs": 'import { X } from "@aws-sdk/client-absent";\n'
    "export const handler = async () => X;\n",
}


@pytest.fixture
def endpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    sdk = tmp_path / "node-sdk"
    sdk.mkdir()
    (sdk / "node_modules").symlink_to(sdk_for_tests(), target_is_directory=True)
    port = free_port()
    with npm_registry() as registry:
        monkeypatch.setenv("CHAOSKIT_SANDBOX_NODE_SDK", str(sdk))
        monkeypatch.setenv("npm_config_registry", registry.url + "/")
        monkeypatch.setenv("npm_config_fetch_retries", "0")
        url = chaoskit_sandbox.ensure_up(port, options=chaoskit_sandbox.FAST, timeout=180)
        try:
            yield url, registry
        finally:
            chaoskit_sandbox.down(port, purge=True)


def test_node_functions_use_the_runtimes_sdk_they_did_not_bundle(endpoint: Any) -> None:
    url, registry = endpoint
    kwargs = {"endpoint_url": url, "region_name": "us-east-1"}
    kwargs.update({"aws_access_key_id": "test", "aws_secret_access_key": "test"})
    ddb = boto3.client("dynamodb", **kwargs)
    lam = boto3.client("lambda", **kwargs)
    ddb.create_table(
        TableName="sdk-items",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    code = zip_files(FILES)
    answers = {}
    for module in ("esm", "cjs", "absent"):
        lam.create_function(
            FunctionName=f"sdk-{module}",
            Runtime="nodejs20.x",
            Role=ROLE,
            Handler=f"{module}.handler",
            Code={"ZipFile": code},
            Timeout=30,
            Environment={"Variables": {"TABLE": "sdk-items"}},
        )
        lam.get_waiter("function_active_v2").wait(
            FunctionName=f"sdk-{module}", WaiterConfig={"Delay": 0.5, "MaxAttempts": 120}
        )
        response = lam.invoke(FunctionName=f"sdk-{module}", Payload=json.dumps({"id": module}))
        answers[module] = (response.get("FunctionError"), json.loads(response["Payload"].read()))
    assert answers["esm"] == (None, {"stored": "esm"}), answers
    assert answers["cjs"] == (None, {"stored": "cjs"})
    items = ddb.scan(TableName="sdk-items")["Items"]
    assert sorted(item["id"]["S"] for item in items) == ["cjs", "esm"]
    error, body = answers["absent"]
    assert error == "Unhandled"
    assert body["errorType"] == "Runtime.ImportModuleError"
    assert "@aws-sdk/client-absent" in body["errorMessage"]
    # The folder had client-dynamodb: only the absent package was asked of the registry.
    assert registry.requests and all("client-absent" in r for r in registry.requests)
