// The Node.js layer's sdk_throttle fault against the real AWS SDK for JavaScript v3:
// the SDK parses a genuine throttling error and its own retry strategy engages.
// Needs `npm ci --prefix tests/layer_node/sdk` (tests/layer/test_layer_node.py runs it).
import test from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import path from "node:path";
import { LAYER, ROOT, config, context, harness, server } from "./helpers.mjs";

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
  assert.equal(lines.filter((l) => l.chaoskit === "fault" && l.kind === "sdk_throttle").length, 3);
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

// A call that failed for good (the SDK retried no more) inside an invocation that then
// reported success: the function swallowed it, and the fault record says so.
const throttled = config([{ kind: "sdk_throttle", rate: 1, service: "dynamodb" }]);
const direct = { order: 1, chaoskit: { run_id: "r", event_id: "e1" } };
const gaveUpCounts = (h) => h.records.filter((r) => r.kind === "fault" && "gave_up" in r.detail)
  .map((r) => [r.detail.gave_up, r.detail.swallowed]);

test("a call that gave up and was swallowed is on record: gave_up 1, swallowed 1", async () => {
  const { srv, client } = await dynamodb();
  const h = await harness({ CHAOSKIT_CONFIG: throttled });
  const handler = async () => {
    try { await client.send(new ListTablesCommand({})); } catch { /* the bug: dropped */ }
    return { ok: true };
  };
  assert.deepEqual(await h.layer.invoke(handler, direct, context()), { ok: true });
  h.restore();
  const gave = h.lines.filter((l) => l.chaoskit === "gave_up");
  assert.equal(gave.length, 1);
  assert.equal(gave[0].attempts, 3);
  assert.equal(gave[0].error_code, "ProvisionedThroughputExceededException");
  const faults = h.records.filter((r) => r.kind === "fault");
  // One firing per attempt; the first on record twice (before it acted, and at the end).
  assert.equal(faults.length, 4);
  assert.equal(new Set(faults.map((r) => r.eventId)).size, 3);
  assert.deepEqual(gaveUpCounts(h), [[1, 1]]);
  assert.equal(h.records.find((r) => r.kind === "processed").eventId, "e1");
  await srv.close();
});

test("a call that gave up and was raised or answered 503 was not swallowed", async () => {
  const { srv, client } = await dynamodb();
  const h = await harness({ CHAOSKIT_CONFIG: throttled });
  await assert.rejects(h.layer.invoke(async () => client.send(new ListTablesCommand({})), direct, context()));
  const answered = async () => {
    try { await client.send(new ListTablesCommand({})); } catch { return { statusCode: 503, body: "later" }; }
    return { statusCode: 200, body: "ok" };
  };
  await h.layer.invoke(answered, direct, context());
  h.restore();
  assert.deepEqual(gaveUpCounts(h), [[1, 0], [1, 0]]);
  await srv.close();
});

test("a call that succeeded after its retries did not give up", async () => {
  const { srv, client } = await dynamodb();
  const rolls = [0.1, 0.1, 0.9];
  const h = await harness({ CHAOSKIT_CONFIG: config([{ kind: "sdk_throttle", rate: 0.5, service: "dynamodb" }]) },
    { rng: () => rolls.shift() ?? 0.9 });
  await h.layer.invoke(async () => client.send(new ListTablesCommand({})), direct, context());
  h.restore();
  assert.equal(h.lines.filter((l) => l.chaoskit === "fault").length, 2);
  assert.equal(h.lines.filter((l) => l.chaoskit === "gave_up").length, 0);
  assert.deepEqual(gaveUpCounts(h), []);
  assert.equal(srv.hits.length, 1);
  await srv.close();
});

test("the last attempt is read from the SDK's amz-sdk-request header, or an error it does not retry", () => {
  const at = (value) => ({ "amz-sdk-request": value });
  assert.equal(outbound.lastAttempt(at("attempt=3; max=3"), "ThrottlingException", 400), 3);
  assert.equal(outbound.lastAttempt(at("attempt=2; max=3"), "ThrottlingException", 400), null);
  assert.equal(outbound.lastAttempt(at("attempt=1; max=3"), "ValidationException", 400), 1);
  assert.equal(outbound.lastAttempt(at("attempt=1; max=3"), "Custom", 503), null);
  assert.equal(outbound.lastAttempt({}, "ValidationException", 400), null); // not the v3 SDK
});

test("a batch response that fails the items whose calls gave up swallowed none; one short, one", async () => {
  const { srv, client } = await dynamodb();
  const h = await harness({ CHAOSKIT_CONFIG: throttled });
  const event = { Records: ["m1", "m2"].map((id, i) => ({ eventSource: "aws:sqs", messageId: id,
    body: JSON.stringify({ chaoskit: { run_id: "r", event_id: `e${i}` } }) })) };
  const batch = (report) => async (e) => {
    const failures = [];
    for (const record of e.Records) {
      try { await client.send(new ListTablesCommand({})); } catch { failures.push({ itemIdentifier: record.messageId }); }
    }
    return { batchItemFailures: failures.slice(0, report) };
  };
  await h.layer.invoke(batch(2), event, context());
  await h.layer.invoke(batch(1), event, context());
  h.restore();
  assert.deepEqual(gaveUpCounts(h), [[2, 0], [2, 1]]);
  await srv.close();
});

test("a throttled call's firing is on record while its invocation still runs", async () => {
  // Lambda may kill the invocation while the SDK retries (a short Timeout): what is not
  // on record by then never will be. Here the handler waits after its call, as if frozen.
  const { srv, client } = await dynamodb();
  const h = await harness({ CHAOSKIT_CONFIG: throttled });
  let release;
  const frozen = new Promise((resolve) => { release = resolve; });
  let early = null;
  const handler = async () => {
    try { await client.send(new ListTablesCommand({})); } catch { /* swallowed */ }
    await new Promise((resolve) => setTimeout(resolve, 50)); // the write goes on meanwhile
    early = h.records.filter((r) => r.kind === "fault").map((r) => ({ ...r.detail }));
    await frozen;
    return { ok: true };
  };
  const invocation = h.layer.invoke(handler, direct, context());
  setTimeout(release, 100);
  await invocation;
  h.restore();
  assert.deepEqual(early.map((d) => [d.kind, d.event_ids, "gave_up" in d]), [["sdk_throttle", ["e1"], false]]);
  await srv.close();
});
