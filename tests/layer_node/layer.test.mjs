import test from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { EVENTS, LAYER, config, context, harness, readJson, withPayloads } from "./helpers.mjs";

const sqs = readJson(path.join(EVENTS, "sqs.json"));
const counted = () => {
  const calls = [];
  const handler = async (event) => { calls.push(event); return { ok: true }; };
  return { calls, handler };
};

test("malformed config means no fault, one warning line, the handler called exactly once", async () => {
  const h = await harness({ CHAOSKIT_CONFIG: "{broken" });
  const { calls, handler } = counted();
  assert.deepEqual(await h.layer.invoke(handler, { a: 1 }, context()), { ok: true });
  assert.equal(calls.length, 1);
  assert.equal(h.lines.filter((l) => l.chaoskit === "warning").length, 1);
  h.restore();
});

test("an unreachable config store means no fault, one warning, the handler called once", async () => {
  const h = await harness({ CHAOSKIT_CONFIG_PARAMETER: "/chaoskit/orders", AWS_ACCESS_KEY_ID: "x", AWS_SECRET_ACCESS_KEY: "y" });
  const { calls, handler } = counted();
  await h.layer.invoke(handler, {}, context());
  await h.layer.invoke(handler, {}, context()); // within the TTL: no second fetch, no second warning
  assert.equal(calls.length, 2);
  assert.equal(h.lines.filter((l) => l.chaoskit === "warning").length, 1);
  assert.equal(h.layer.loader.fetches, 1);
  h.restore();
});

test("an expired config (the dead-man switch) injects nothing", async () => {
  const h = await harness({ CHAOSKIT_CONFIG: JSON.stringify({ version: "v", expires_at: Date.now() / 1000 - 1, faults: [{ kind: "exception", rate: 1 }] }) });
  const { calls, handler } = counted();
  assert.deepEqual(await h.layer.invoke(handler, {}, context()), { ok: true });
  assert.equal(calls.length, 1);
  h.restore();
});

test("the kill switch CHAOSKIT_DISABLED runs the handler as without the layer", async () => {
  const h = await harness({ CHAOSKIT_DISABLED: "on", CHAOSKIT_CONFIG: config([{ kind: "exception", rate: 1 }]) });
  const { calls, handler } = counted();
  await h.layer.invoke(handler, sqs, context());
  assert.equal(calls.length, 1);
  assert.equal(h.records.length, 0);
  h.restore();
});

test("an exception fault fails the invocation with the configured error type, and the ledger says failed", async () => {
  const h = await harness({ CHAOSKIT_CONFIG: config([{ kind: "exception", rate: 1, type: "DownstreamUnavailable", message: "nope" }]) });
  const { calls, handler } = counted();
  await assert.rejects(h.layer.invoke(handler, sqs, context()), (err) => err.name === "DownstreamUnavailable" && err.message === "nope");
  assert.equal(calls.length, 0);
  const n = sqs.Records.length;
  assert.deepEqual(h.records.map((r) => r.kind).sort(), [...Array(n).fill("attempt"), ...Array(n).fill("failed"), "fault"]);
  assert.equal(h.records.find((r) => r.kind === "failed").detail.error, "DownstreamUnavailable");
  const fired = h.records.find((r) => r.kind === "fault");
  assert.equal(fired.detail.kind, "exception");
  assert.equal(fired.detail.fault, 0);
  assert.deepEqual(fired.detail.event_ids, sqs.Records.map((r) => JSON.parse(r.body).chaoskit.event_id));
  assert.equal(fired.runId, JSON.parse(sqs.Records[0].body).chaoskit.run_id);
  assert.match(fired.eventId, /^~fault#req-1#[0-9a-f]{8}#exception#0#0$/);
  assert.equal(h.lines.filter((l) => l.chaoskit === "fault" && l.kind === "exception").length, 1);
  h.restore();
});

test("a latency fault waits, then runs the handler", async () => {
  const h = await harness({ CHAOSKIT_CONFIG: config([{ kind: "latency", rate: 1, ms: 250 }]) });
  const { calls, handler } = counted();
  await h.layer.invoke(handler, {}, context());
  assert.deepEqual(h.sleeps, [250]);
  assert.equal(calls.length, 1);
  h.restore();
});

test("a timeout fault sleeps past the remaining time and fails", async () => {
  const h = await harness({ CHAOSKIT_CONFIG: config([{ kind: "timeout", rate: 1, margin_ms: 100 }]) });
  const { handler } = counted();
  await assert.rejects(h.layer.invoke(handler, {}, context({ remaining: 1000 })), /Task timed out/);
  assert.ok(h.sleeps[0] > 1000 && h.sleeps[0] <= 1100, String(h.sleeps));
  h.restore();
});

test("a status fault answers in API Gateway's proxy shape without running the handler", async () => {
  const h = await harness({ CHAOSKIT_CONFIG: config([{ kind: "status", rate: 1, status_code: 503, headers: { "Retry-After": 2 } }]) });
  const { calls, handler } = counted();
  const out = await h.layer.invoke(handler, readJson(path.join(EVENTS, "apigateway.json")), context());
  assert.equal(out.statusCode, 503);
  assert.equal(out.headers["Retry-After"], "2");
  assert.equal(calls.length, 0);
  assert.deepEqual(h.records.map((r) => r.kind).sort(), ["attempt", "failed", "fault"]);
  h.restore();
});

test("rates are rolls: rate 0 never fires, a roll under the rate fires", async () => {
  let rolls = [0.7, 0.2];
  const h = await harness({ CHAOSKIT_CONFIG: config([{ kind: "exception", rate: 0.5 }]) }, { rng: () => rolls.shift() });
  const { calls, handler } = counted();
  await h.layer.invoke(handler, {}, context());
  await assert.rejects(h.layer.invoke(handler, {}, context()));
  assert.equal(calls.length, 1);
  h.restore();
});

test("partial batch responses mark only the named items failed", async () => {
  const h = await harness();
  const event = { Records: ["m1", "m2"].map((id, i) => ({ eventSource: "aws:sqs", messageId: id,
    body: JSON.stringify({ chaoskit: { run_id: "r", event_id: `e${i}` } }) })) };
  await h.layer.invoke(async () => ({ batchItemFailures: [{ itemIdentifier: "m2" }] }), event, context());
  const outcome = Object.fromEntries(h.records.filter((r) => r.kind !== "attempt").map((r) => [r.eventId, r.kind]));
  assert.deepEqual(outcome, { e0: "processed", e1: "failed" });
  h.restore();
});

test("a ping answers pong with the config version, without running the handler", async () => {
  const h = await harness({ CHAOSKIT_CONFIG: config([]) });
  const { calls, handler } = counted();
  const out = await h.layer.invoke(handler, { chaoskit_ping: true }, context());
  assert.equal(out.chaoskit, "pong");
  assert.equal(out.version, "v1");
  assert.equal(calls.length, 0);
  h.restore();
});

test("callback-style handlers are called as Lambda calls them", async () => {
  const h = await harness();
  const out = await h.layer.invoke(function (event, ctx, callback) { setTimeout(() => callback(null, { cb: event.n }), 5); }, { n: 3 }, context());
  assert.deepEqual(out, { cb: 3 });
  await assert.rejects(h.layer.invoke(function (event, ctx, callback) { callback(new Error("cb failed")); }, {}, context()), /cb failed/);
  h.restore();
});

test("a fault matched to another source leaves this invocation alone", async () => {
  const h = await harness({ CHAOSKIT_CONFIG: config([{ kind: "exception", rate: 1, match: { source: "kinesis" } }]) });
  const { calls, handler } = counted();
  await h.layer.invoke(handler, sqs, context());
  assert.equal(calls.length, 1);
  h.restore();
});

test("a poison pill in one record fails every batch that holds it", async () => {
  const pill = { kind: "exception", rate: 1, type: "Poison", match: { fields: { chaoskit_poison_pill: true } } };
  for (const source of ["sqs", "kinesis", "sns", "dynamodb"]) {
    const h = await harness({ CHAOSKIT_CONFIG: config([pill]) });
    const { calls, handler } = counted();
    const withPill = withPayloads(source, [{ id: 1 }, { id: 2, chaoskit_poison_pill: true }]);
    await assert.rejects(h.layer.invoke(handler, withPill, context()), (err) => err.name === "Poison", source);
    await h.layer.invoke(handler, withPayloads(source, [{ id: 1 }, { id: 3 }]), context());
    assert.equal(calls.length, 1, source);
    h.restore();
  }
});

test("with a seed, the same events fire the same faults every time", async () => {
  const document = config([{ kind: "exception", rate: 0.5 }], { seed: "seed-7", run_id: "r" });
  const outcomes = async () => {
    const h = await harness({ CHAOSKIT_CONFIG: document });
    const out = [];
    for (let i = 0; i < 40; i++) {
      try {
        await h.layer.invoke(async () => 1, { chaoskit: { run_id: "r", event_id: `e${i}` } }, context());
        out.push(0);
      } catch {
        out.push(1);
      }
    }
    h.restore();
    return out;
  };
  const first = await outcomes();
  assert.deepEqual(await outcomes(), first);
  const fired = first.reduce((a, b) => a + b, 0);
  assert.ok(fired > 5 && fired < 35, `${fired} of 40 fired at rate 0.5`);
});

test("a config living longer than the ceiling is refused, one warning, no fault", async () => {
  const h = await harness({ CHAOSKIT_MAX_FAULT_SECONDS: "60", CHAOSKIT_CONFIG: config([{ kind: "exception", rate: 1 }]) });
  const { calls, handler } = counted();
  await h.layer.invoke(handler, {}, context());
  assert.equal(calls.length, 1);
  assert.match(h.lines.find((l) => l.chaoskit === "warning").message, /ceiling/);
  h.restore();
});

test("records the table did not take go to the log in the reconciler's format", async () => {
  const ledger = await import(path.join(LAYER, "ledger.mjs"));
  const lines = [];
  const previous = ledger.setLogLine((line) => lines.push(line));
  const log = await import(path.join(LAYER, "log.mjs"));
  log.setSink(() => {});
  try {
    await ledger.writeRecords([{ runId: "r", eventId: "e1", kind: "processed", at: 1.5, source: "sqs", detail: { function: "f" } }],
      { AWS_ENDPOINT_URL: "http://127.0.0.1:9", AWS_ACCESS_KEY_ID: "a", AWS_SECRET_ACCESS_KEY: "b" });
  } finally {
    ledger.setLogLine(previous);
    log.setSink(null);
  }
  assert.equal(lines.length, 1);
  assert.deepEqual(JSON.parse(lines[0]).chaoskit_ledger, [["r", "e1", "processed", 1.5, "sqs", { function: "f" }]]);
});

test("with a seed, batches replay alike and rate stays the share of invocations hit", async () => {
  const document = config([{ kind: "exception", rate: 0.3 }], { seed: "seed-9", run_id: "r" });
  const batch = (ids) => ({ Records: ids.map((id) => ({ eventSource: "aws:sqs", messageId: id, body: JSON.stringify({ chaoskit: { run_id: "r", event_id: id } }) })) });
  const outcomes = async () => {
    const h = await harness({ CHAOSKIT_CONFIG: document });
    const out = [];
    for (let i = 0; i < 60; i++) {
      const ids = [`a${i}`, `b${i}`, `c${i}`];
      out.push(await h.layer.invoke(async () => ({}), batch(ids), context()).then(() => 0, () => 1));
    }
    h.restore();
    return out;
  };
  const first = await outcomes();
  assert.deepEqual(await outcomes(), first);
  const hit = first.reduce((a, b) => a + b, 0);
  assert.ok(hit >= 6 && hit <= 33, `${hit} of 60 batches of 3 hit at rate 0.3`);
});
