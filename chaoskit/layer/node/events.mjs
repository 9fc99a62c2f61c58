// What an invocation is: its event source, qualifier and event fields, and the trace
// marks it carries. Mirrors chaoskit/layer/events.py and chaoskit/ledger/trace.py.

const RECORD_SOURCES = { "aws:sqs": "sqs", "aws:kinesis": "kinesis", "aws:dynamodb": "dynamodb" };
const MISSING = Symbol("missing");
export const MARK = "chaoskit";
export const ATTR_RUN_ID = "chaoskit-run-id";
export const ATTR_EVENT_ID = "chaoskit-event-id";
const MAX_DEPTH = 12;

const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

export function detectSource(event) {
  if (!isObject(event)) return "direct";
  const records = event.Records;
  if (Array.isArray(records) && records.length && isObject(records[0])) {
    const first = records[0];
    const source = RECORD_SOURCES[first.eventSource || ""];
    if (source) return source;
    if (first.EventSource === "aws:sns") return "sns";
  }
  if ("detail-type" in event && "source" in event && "detail" in event) return "eventbridge";
  const ctx = event.requestContext;
  if (isObject(ctx) && ("httpMethod" in event || "routeKey" in event || "http" in ctx || "apiId" in ctx)) {
    return "apigateway";
  }
  return "direct";
}

export function qualifierOf(context) {
  const arn = context && context.invokedFunctionArn;
  if (typeof arn === "string") {
    const parts = arn.split(":");
    if (parts.length >= 8 && parts[7]) return parts[7];
  }
  return "$LATEST";
}

export function fieldValue(event, path) {
  let node = event;
  for (const part of path.split(".")) {
    if (isObject(node)) {
      node = Object.hasOwn(node, part) ? node[part] : MISSING;
    } else if (Array.isArray(node) && /^\d+$/.test(part) && Number(part) < node.length) {
      node = node[Number(part)];
    } else {
      return MISSING;
    }
    if (node === MISSING) return MISSING;
  }
  return node;
}

function equal(a, b) {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  return JSON.stringify(a) === JSON.stringify(b);
}

const fieldsMatch = (fields, node) => fields.every(([path, value]) => equal(fieldValue(node, path), value));

export function matches(match, event, source, qualifier) {
  if (!match) return true;
  if (match.qualifiers.length && !match.qualifiers.includes(qualifier)) return false;
  if (match.source !== null && match.source !== source) return false;
  if (fieldsMatch(match.fields, event)) return true;
  // A field may also name a record's own payload (an SQS body, a Kinesis record's data,
  // an SNS message, a DynamoDB stream record's new image): a batch matches when one of
  // its records does, which is how a poison pill fails every batch it is in until
  // bisection isolates it.
  if (!match.fields.length) return false;
  for (const payload of recordPayloads(event, source)) {
    if (fieldsMatch(match.fields, payload)) return true;
  }
  return false;
}

const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const NUMBER = /^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/;
const DYNAMODB_MAX_DEPTH = 32; // DynamoDB's own limit on nesting within an item

// A JSON object from a record's text (base64 first if asked), or null: as Python's _decoded.
function decoded(text, maybeBase64) {
  if (typeof text !== "string") return null;
  if (maybeBase64) {
    if (text.length % 4 !== 0 || !BASE64.test(text)) return null;
    try {
      text = UTF8.decode(Buffer.from(text, "base64"));
    } catch {
      return null;
    }
  }
  if (!text.trimStart().startsWith("{")) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

const number = (text) => (typeof text === "string" && NUMBER.test(text) ? Number(text) : text);

// A DynamoDB typed value ({"N": "12"}) as a plain one; odd input as is.
function plain(value, depth = 0) {
  if (!isObject(value) || depth > DYNAMODB_MAX_DEPTH) return value;
  const keys = Object.keys(value);
  if (keys.length !== 1) return value;
  const [kind] = keys;
  const inner = value[kind];
  if (["S", "B", "BS", "BOOL"].includes(kind)) return inner;
  if (kind === "N") return number(inner);
  if (kind === "NULL") return null;
  if (kind === "M" && isObject(inner)) {
    return Object.fromEntries(Object.entries(inner).map(([k, v]) => [k, plain(v, depth + 1)]));
  }
  if (kind === "L" && Array.isArray(inner)) return inner.map((item) => plain(item, depth + 1));
  if (kind === "SS" && Array.isArray(inner)) return [...inner];
  if (kind === "NS" && Array.isArray(inner)) return inner.map(number);
  return value;
}

// The message of an SNS notification an SQS body holds (a topic's subscription without raw
// delivery wraps each message in one), else the body.
function unwrapped(body) {
  if (isObject(body) && body.Type === "Notification" && "TopicArn" in body && typeof body.Message === "string") {
    return decoded(body.Message, false);
  }
  return body;
}

// The new item of a DynamoDB change record Kinesis data holds (a table's Kinesis streaming
// destination puts one per change) as plain values, else the data; null for a REMOVE.
function tableChange(data) {
  if (isObject(data) && data.eventSource === "aws:dynamodb" && "recordFormat" in data && isObject(data.dynamodb)) {
    const image = data.dynamodb.NewImage;
    return isObject(image) ? plain({ M: image }) : null;
  }
  return data;
}

// The decoded payload of each record of a batch, as Python's record_payloads: an SQS body
// (an SNS notification's message, from a subscription without raw delivery), a Kinesis
// record's data (base64; a table's change record gives its NewImage) and an SNS message
// when they are JSON objects, a DynamoDB stream record's NewImage as plain values. A record without one yields nothing.
export function* recordPayloads(event, source) {
  for (const [record] of batchItems(event, source)) {
    if (record === event || !isObject(record)) return;
    let payload = null;
    if (source === "sqs") payload = unwrapped(decoded(record.body, false));
    else if (source === "kinesis") payload = tableChange(decoded((record.kinesis || {}).data, true));
    else if (source === "sns") payload = decoded((record.Sns || {}).Message, false);
    else if (source === "dynamodb") {
      const image = (record.dynamodb || {}).NewImage;
      payload = isObject(image) ? plain({ M: image }) : null;
    }
    if (payload !== null) yield payload;
  }
}

// [record, item identifier] per batch record, as batchItemFailures names them.
export function batchItems(event, source) {
  const records = isObject(event) ? event.Records : undefined;
  if (["sqs", "kinesis", "dynamodb", "sns"].includes(source) && Array.isArray(records)) {
    return records.map((record) => {
      let ident = null;
      if (isObject(record)) {
        if (source === "sqs") ident = record.messageId;
        else if (source === "kinesis") ident = (record.kinesis || {}).sequenceNumber;
        else if (source === "dynamodb") ident = (record.dynamodb || {}).SequenceNumber;
      }
      return [record, typeof ident === "string" ? ident : null];
    });
  }
  return [[event, null]];
}

// --- trace marks ------------------------------------------------------------------
function unwrapDynamodb(value) {
  if (isObject(value)) {
    const keys = Object.keys(value);
    if (keys.length === 1) {
      const [kind] = keys;
      const inner = value[kind];
      if (kind === "M" && isObject(inner)) {
        return Object.fromEntries(Object.entries(inner).map(([k, v]) => [k, unwrapDynamodb(v)]));
      }
      if (kind === "S" || kind === "N") return inner;
    }
  }
  return value;
}

function fromMark(mark) {
  mark = unwrapDynamodb(mark);
  if (!isObject(mark)) return null;
  const { run_id: runId, event_id: eventId } = mark;
  if (typeof runId !== "string" || typeof eventId !== "string") return null;
  // Whole milliseconds (sent_ms); float seconds (sent_at) in marks written before.
  const given = (v) => v !== undefined && v !== null;
  const sent = given(mark.sent_ms)
    ? Number(mark.sent_ms) / 1000
    : given(mark.sent_at)
      ? Number(mark.sent_at)
      : null;
  return { runId, eventId, sentAt: Number.isFinite(sent) ? sent : null };
}

function attrValue(attr) {
  if (isObject(attr)) {
    const value = attr.stringValue ?? attr.StringValue ?? attr.Value;
    return typeof value === "string" ? value : null;
  }
  return typeof attr === "string" ? attr : null;
}

function fromAttributes(attrs) {
  if (!isObject(attrs)) return null;
  const runId = attrValue(attrs[ATTR_RUN_ID]);
  const eventId = attrValue(attrs[ATTR_EVENT_ID]);
  return runId && eventId ? { runId, eventId, sentAt: null } : null;
}

function decodeString(text, maybeBase64) {
  const stripped = text.trim();
  if (stripped.startsWith("{") || stripped.startsWith("[")) {
    try {
      return JSON.parse(stripped);
    } catch {
      return undefined;
    }
  }
  if (maybeBase64 && stripped && /^[A-Za-z0-9+/]+={0,2}$/.test(stripped) && stripped.length % 4 === 0) {
    const raw = Buffer.from(stripped, "base64").toString("utf8");
    if (raw.includes("\ufffd")) return undefined;
    return decodeString(raw, false);
  }
  return undefined;
}

function walk(node, found, depth, b64) {
  if (depth > MAX_DEPTH) return;
  if (typeof node === "string") {
    if (node.includes(MARK) || b64) {
      const decoded = decodeString(node, b64);
      if (decoded !== undefined) walk(decoded, found, depth + 1, false);
    }
    return;
  }
  if (Array.isArray(node)) {
    for (const item of node) walk(item, found, depth + 1, false);
    return;
  }
  if (!isObject(node)) return;
  let trace = Object.hasOwn(node, MARK) ? fromMark(node[MARK]) : null;
  for (const key of ["messageAttributes", "MessageAttributes"]) trace = trace || fromAttributes(node[key]);
  if (trace) {
    const key = `${trace.runId}\u0000${trace.eventId}`;
    if (!found.has(key) || found.get(key).sentAt === null) found.set(key, trace);
  }
  for (const [key, value] of Object.entries(node)) {
    if (key === MARK) continue;
    const decodeB64 = key === "data" || (key === "body" && node.isBase64Encoded === true);
    walk(value, found, depth + 1, decodeB64);
  }
}

export function findTraces(event) {
  const found = new Map();
  walk(event, found, 0, false);
  return [...found.values()];
}

// The ARN of the queue, stream or topic a batch record came from.
function origin(record) {
  if (!isObject(record)) return null;
  const arn = record.eventSourceARN || record.EventSourceArn;
  if (typeof arn === "string" && arn) return arn;
  const subscription = record.EventSubscriptionArn;
  if (typeof subscription === "string" && subscription.split(":").length >= 7) {
    return subscription.slice(0, subscription.lastIndexOf(":"));
  }
  return null;
}

// SQS's ApproximateReceiveCount of a record; 1 where unknown.
function delivery(record) {
  const count = isObject(record) && isObject(record.attributes) ? record.attributes.ApproximateReceiveCount : undefined;
  const n = Number.parseInt(count, 10);
  return Number.isFinite(n) ? Math.max(1, n) : 1;
}

// Every traced event of an invocation, with the batch item that carries it, its queue and
// its delivery count.
export function collect(event, source) {
  if (!(isObject(event) && Array.isArray(event.Records))) {
    return findTraces(event).map((trace) => ({ trace, itemId: null, queue: null, delivery: 1 }));
  }
  const seen = new Set();
  const out = [];
  for (const [record, ident] of batchItems(event, source)) {
    const queue = origin(record);
    const count = delivery(record);
    for (const trace of findTraces(record)) {
      const key = `${trace.runId}\u0000${trace.eventId}`;
      if (!seen.has(key)) {
        seen.add(key);
        out.push({ trace, itemId: ident, queue, delivery: count });
      }
    }
  }
  return out;
}
