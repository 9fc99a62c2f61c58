// The Node.js layer's sdk_throttle fault against the real AWS SDK for JavaScript v3:
// the SDK parses a genuine throttling error and its own retry strategy engages.
// Needs `npm ci --prefix tests/layer_node/sdk` (tests/layer/test_layer_node.py runs it).
import test from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import path from "node:path";
import { LAYER, ROOT, server } from "./helpers.mjs";

const require = createRequire(path.join(ROOT, "tests/layer_node/sdk/package.json"));
const { DynamoDBClient, ListTablesCommand } = require("@aws-sdk/client-dynamodb");
const outbound = await import(path.join(LAYER, "outbound.mjs"));
const log = await import(path.join(LAYER, "log.mjs"));

const fault = { kind: "sdk_throttle", rate: 0.5, params: { service: "dynamodb" }, match: null };

async function dynamodb() {
  const srv = await server((req, res) => {
    res.setHeader("content-type", "application/x-amz-json-1.0");
    res.end('{"TableNames": ["orders"]}');
  });
  const client = new DynamoDBClient({
    endpoint: `http://127.0.0.1:${srv.port}`, region: "us-east-1", maxAttempts: 3,
    credentials: { accessKeyId: "AKID", secretAccessKey: "secret" },
  });
  return { srv, client };
}

test("every attempt throttled: the SDK retries up to its maxAttempts, then fails with the throttling error", async () => {
  const { srv, client } = await dynamodb();
  const lines = [];
  log.setSink((line) => lines.push(JSON.parse(line)));
  const disarm = outbound.arm([fault], "v1", () => 0.1);
  try {
    await assert.rejects(client.send(new ListTablesCommand({})), (err) =>
      err.name === "ProvisionedThroughputExceededException" && err.$metadata.attempts === 3);
  } finally {
    disarm();
    log.setSink(null);
  }
  assert.equal(lines.filter((l) => l.kind === "sdk_throttle").length, 3);
  assert.equal(srv.hits.length, 0);
  await srv.close();
});

test("one attempt throttled: the SDK's retry reaches the service and the call succeeds", async () => {
  const { srv, client } = await dynamodb();
  const rolls = [0.1, 0.9];
  const disarm = outbound.arm([fault], "v1", () => rolls.shift() ?? 0.9);
  log.setSink(() => {});
  try {
    const out = await client.send(new ListTablesCommand({}));
    assert.deepEqual(out.TableNames, ["orders"]);
    assert.equal(out.$metadata.attempts, 2);
  } finally {
    disarm();
    log.setSink(null);
  }
  assert.equal(srv.hits.length, 1);
  await srv.close();
});
