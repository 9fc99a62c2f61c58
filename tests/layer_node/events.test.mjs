import test from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { EVENTS, LAYER, readJson } from "./helpers.mjs";

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
