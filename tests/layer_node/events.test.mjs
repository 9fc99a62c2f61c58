import test from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { EVENTS, LAYER, readJson, withPayloads } from "./helpers.mjs";

const events = await import(path.join(LAYER, "events.mjs"));

test("the event source of each sample event is the one the Python layer detects", () => {
  const expected = { apigateway: "apigateway", direct: "direct", dynamodb: "dynamodb", eventbridge: "eventbridge",
                     kinesis: "kinesis", ping: "direct", sns: "sns", sqs: "sqs" };
  for (const [name, source] of Object.entries(expected)) {
    assert.equal(events.detectSource(readJson(path.join(EVENTS, `${name}.json`))), source, name);
  }
});

test("traces are found in every shape AWS wraps them in", () => {
  for (const name of ["sqs", "sns", "eventbridge", "kinesis", "dynamodb", "apigateway", "direct"]) {
    const event = readJson(path.join(EVENTS, `${name}.json`));
    const found = events.collect(event, events.detectSource(event));
    assert.ok(found.length >= 1, `${name}: no trace found`);
    for (const { trace } of found) assert.ok(trace.runId && trace.eventId, name);
  }
});

test("SQS message attributes carry a trace when the body cannot", () => {
  const event = { Records: [{ eventSource: "aws:sqs", messageId: "m1", body: "plain text",
    messageAttributes: { "chaoskit-run-id": { stringValue: "r" }, "chaoskit-event-id": { stringValue: "e" } } }] };
  assert.deepEqual(events.collect(event, "sqs").map((t) => [t.trace.runId, t.trace.eventId, t.itemId]), [["r", "e", "m1"]]);
});

test("the qualifier comes from the invoked ARN", () => {
  assert.equal(events.qualifierOf({ invokedFunctionArn: "arn:aws:lambda:us-east-1:1:function:f:live" }), "live");
  assert.equal(events.qualifierOf({ invokedFunctionArn: "arn:aws:lambda:us-east-1:1:function:f" }), "$LATEST");
});

test("a match needs every field, the source and the qualifier", () => {
  const match = { qualifiers: ["live"], source: "direct", fields: [["order.kind", "poison"]] };
  assert.equal(events.matches(match, { order: { kind: "poison" } }, "direct", "live"), true);
  assert.equal(events.matches(match, { order: { kind: "ok" } }, "direct", "live"), false);
  assert.equal(events.matches(match, { order: { kind: "poison" } }, "sqs", "live"), false);
  assert.equal(events.matches(match, { order: { kind: "poison" } }, "direct", "$LATEST"), false);
});

const fields = (entries) => ({ qualifiers: [], source: null, fields: Object.entries(entries) });
const PILL = fields({ chaoskit_poison_pill: true });

test("a field of one record's payload matches every batch that holds the record", () => {
  for (const source of ["sqs", "kinesis", "sns", "dynamodb"]) {
    const withPill = withPayloads(source, [{ id: 1 }, { id: 2, chaoskit_poison_pill: true }]);
    assert.equal(events.matches(PILL, withPill, source, "$LATEST"), true, source);
    const without = withPayloads(source, [{ id: 1 }, { id: 3, chaoskit_poison_pill: false }]);
    assert.equal(events.matches(PILL, without, source, "$LATEST"), false, source);
    assert.equal(events.matches(fields({ id: 1, chaoskit_poison_pill: true }), withPill, source, "$LATEST"), false, source);
  }
});

test("record payloads are JSON objects only, as Python decodes them", () => {
  const sqs = (...bodies) => ({ Records: bodies.map((body) => ({ eventSource: "aws:sqs", body })) });
  const payloads = (event, source) => [...events.recordPayloads(event, source)];
  assert.deepEqual(payloads(sqs(' \n{"a": 1}', "[1]", "plain", "{broken", 7), "sqs"), [{ a: 1 }]);
  const kinesis = (...data) => ({ Records: data.map((d) => ({ eventSource: "aws:kinesis", kinesis: { data: d } })) });
  const b64 = (text) => Buffer.from(text).toString("base64");
  assert.deepEqual(payloads(kinesis(b64('{"a": 1}'), '{"a": 2}', b64('{"a": 3}').slice(0, -1), "@@@@", b64("not json"),
    Buffer.from([0x7b, 0xff, 0x7d]).toString("base64")), "kinesis"), [{ a: 1 }]);
  const sns = { Records: [{ EventSource: "aws:sns", Sns: { Message: '{"a": 1}' } }, { EventSource: "aws:sns", Sns: "x" }] };
  assert.deepEqual(payloads(sns, "sns"), [{ a: 1 }]);
  assert.deepEqual(payloads({ body: '{"a": 1}' }, "direct"), []);
  // SNS -> SQS without raw delivery: the body is SNS's envelope, the payload its Message.
  const envelope = (extra) => JSON.stringify({ Type: "Notification", Message: '{"a": 4}', ...extra });
  assert.deepEqual(payloads(sqs(envelope({ TopicArn: "arn:aws:sns:us-east-1:1:t" })), "sqs"), [{ a: 4 }]);
  assert.deepEqual(payloads(sqs(envelope({})), "sqs"), [{ Type: "Notification", Message: '{"a": 4}' }]);
  // A table's Kinesis streaming destination: the data is its change record, the item its NewImage.
  const change = (name, images) => b64(JSON.stringify({ eventName: name, userIdentity: null, recordFormat: "application/json",
    tableName: "t", eventSource: "aws:dynamodb", dynamodb: { Keys: { id: { S: "1" } }, ...images, SizeBytes: 1 } }));
  const item = { id: { S: "1" }, chaoskit_poison_pill: { BOOL: true } };
  assert.deepEqual(payloads(kinesis(change("INSERT", { NewImage: item }), change("REMOVE", { OldImage: item })), "kinesis"),
    [{ id: "1", chaoskit_poison_pill: true }]);
  const lookalike = { eventSource: "aws:dynamodb", dynamodb: { NewImage: item } };
  assert.deepEqual(payloads(kinesis(b64(JSON.stringify(lookalike))), "kinesis"), [lookalike]);
});

const stream = (...streamed) => ({ Records: streamed.map((d) => ({ eventSource: "aws:dynamodb", dynamodb: d })) });

test("a DynamoDB new image is matched as plain values", () => {
  const image = {
    pk: { S: "o-1" },
    order: { M: { amount: { N: "12" }, lines: { L: [{ S: "a" }, { N: "1.5" }] } } },
    paid: { BOOL: false },
    note: { NULL: true },
    tags: { SS: ["x", "y"] },
    sizes: { NS: ["1", "2.5"] },
    blob: { B: "AQI=" },
    blobs: { BS: ["AQI="] },
  };
  const event = stream({ Keys: { pk: { S: "o-1" } }, NewImage: image, SequenceNumber: "1" });
  assert.deepEqual([...events.recordPayloads(event, "dynamodb")], [{
    pk: "o-1", order: { amount: 12, lines: ["a", 1.5] }, paid: false, note: null,
    tags: ["x", "y"], sizes: [1, 2.5], blob: "AQI=", blobs: ["AQI="],
  }]);
  for (const [entries, hit] of [
    [{ "order.amount": 12 }, true],
    [{ "order.amount": "12" }, false],
    [{ "order.lines.1": 1.5, paid: false }, true],
    [{ note: null, pk: "o-2" }, false],
  ]) {
    assert.equal(events.matches(fields(entries), event, "dynamodb", "$LATEST"), hit, JSON.stringify(entries));
  }
});

test("a stream record without a new image has no payload", () => {
  const keysOnly = { Keys: { pk: { S: "o-1" } }, SequenceNumber: "1" };
  const event = stream(keysOnly, { ...keysOnly, OldImage: { pk: { S: "o-1" } } });
  assert.deepEqual([...events.recordPayloads(event, "dynamodb")], []);
  assert.equal(events.matches(fields({ pk: "o-1" }), event, "dynamodb", "$LATEST"), false);
});

test("malformed stream records do not throw", () => {
  let deep = { S: "bottom" };
  for (let i = 0; i < 20000; i++) deep = { M: { a: deep } };
  const odd = {
    plain: "x",
    number: { N: "twelve" },
    unknown: { Q: 1 },
    bad_map: { M: [1] },
    two_tags: { S: "x", N: "1" },
    numbers: { NS: ["1", "x", null] },
    deep,
  };
  const event = stream("x", { NewImage: "x" }, { NewImage: null }, { NewImage: odd });
  event.Records.splice(1, 0, { eventSource: "aws:dynamodb" });
  const [payload, ...rest] = events.recordPayloads(event, "dynamodb");
  assert.deepEqual(rest, []);
  assert.equal(payload.plain, "x");
  assert.equal(payload.number, "twelve");
  assert.deepEqual(payload.unknown, { Q: 1 });
  assert.deepEqual(payload.bad_map, { M: [1] });
  assert.deepEqual(payload.two_tags, { S: "x", N: "1" });
  assert.deepEqual(payload.numbers, [1, "x", null]);
  assert.equal(events.matches(fields({ x: 1 }), event, "dynamodb", "$LATEST"), false);
  assert.deepEqual(events.batchItems(event, "dynamodb").map(([, ident]) => ident), [null, null, null, null, null]);
});

test("the send time is read from whole milliseconds, and from float seconds in older marks", () => {
  const sentAt = (mark) => events.findTraces({ chaoskit: { run_id: "r", event_id: "e", ...mark } })[0].sentAt;
  assert.equal(sentAt({ sent_ms: 10250 }), 10.25);
  assert.equal(sentAt({ sent_at: 10.5 }), 10.5);
  assert.equal(sentAt({}), null);
});
