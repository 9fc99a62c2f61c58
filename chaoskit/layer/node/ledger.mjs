// Ledger records from inside a Node.js function: the same items chaoskit/ledger/records.py
// writes (attempt, processed, failed, fired faults, acknowledgements; partition keys
// sharded by a CRC-32 of the event id), so the reconciler reads Python and Node.js stages
// alike. A write that fails never fails the invocation and never drops a record: what
// DynamoDB did not take goes to the function's log as one structured line the reconciler
// collects (records.py's to_log_line format).
import crypto from "node:crypto";
import { call } from "./aws.mjs";
import { warning } from "./log.mjs";

export const DEFAULT_TABLE = "chaoskit-ledger";
export const TTL_SECONDS = 7 * 24 * 3600;
export const ACK_PREFIX = "ack#";
export const MAX_ITEMS = 25;
export const SHARDS = 64;
export const LOG_MARK = "chaoskit_ledger";
export const FAULT_PREFIX = "~fault#";

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

// zlib's CRC-32, as Python's zlib.crc32 computes it (Node 18 has no zlib.crc32).
export function crc32(text) {
  let c = 0xffffffff;
  for (const byte of Buffer.from(text, "utf8")) c = CRC_TABLE[(c ^ byte) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

export const partition = (runId, eventId) => `${runId}#s${String(crc32(eventId) % SHARDS).padStart(2, "0")}`;

// One log line carrying records the table did not take.
export function toLogLine(records) {
  const rows = records.map((r) => [r.runId, r.eventId, r.kind, r.at, r.source || "", r.detail || null]);
  return JSON.stringify({ chaoskit: "ledger", level: "INFO", [LOG_MARK]: rows });
}

let logLine = (line) => process.stdout.write(`${line}\n`);
export function setLogLine(next) {
  const previous = logLine;
  logLine = next || ((line) => process.stdout.write(`${line}\n`));
  return previous;
}

export const tableName = (env = process.env) => env.CHAOSKIT_LEDGER_TABLE || DEFAULT_TABLE;

// Python's repr() of a float, for the `at` attribute: always with a decimal point.
function pyFloat(x) {
  const text = String(x);
  return /[.eE]/.test(text) ? text : `${text}.0`;
}

function sortedJson(value) {
  if (Array.isArray(value)) return `[${value.map(sortedJson).join(", ")}]`;
  if (value && typeof value === "object") {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}: ${sortedJson(value[k])}`).join(", ")}}`;
  }
  return JSON.stringify(value ?? null);
}

export function makeItem(record, now = Date.now() / 1000) {
  const atNs = BigInt(Math.round(record.at * 1e6)) * 1000n;
  const item = {
    run_id: { S: partition(record.runId, record.eventId) },
    run: { S: record.runId },
    sk: { S: `${record.eventId}#${record.kind}#${atNs.toString().padStart(20, "0")}#${crypto.randomBytes(4).toString("hex")}` },
    event_id: { S: record.eventId },
    kind: { S: record.kind },
    at: { N: pyFloat(record.at) },
    expires_at: { N: String(Math.floor(now) + TTL_SECONDS) },
  };
  if (record.source) item.source = { S: record.source };
  if (record.detail && Object.keys(record.detail).length) item.detail = { S: sortedJson(record.detail) };
  return item;
}

export async function writeRecords(records, env = process.env) {
  const table = tableName(env);
  for (let i = 0; i < records.length; i += MAX_ITEMS) {
    const chunk = records.slice(i, i + MAX_ITEMS);
    const items = chunk.map((r) => makeItem(r));
    try {
      const out = await call("dynamodb", "BatchWriteItem", { RequestItems: { [table]: items.map((Item) => ({ PutRequest: { Item } })) } }, { env });
      const left = new Set(((out.UnprocessedItems || {})[table] || []).map((u) => u.PutRequest.Item.sk.S));
      if (left.size) {
        warning(`ledger table '${table}' left ${left.size} record(s) unwritten: they go to the log`);
        logLine(toLogLine(chunk.filter((_, n) => left.has(items[n].sk.S))));
      }
    } catch (err) {
      warning(`could not write to ledger table '${table}': ${err.name}: ${err.message}; ${chunk.length} record(s) go to the log`);
      logLine(toLogLine(chunk));
    }
  }
}

export async function writeAck(fn, environment, version, qualifier, env = process.env) {
  const table = tableName(env);
  try {
    await call("dynamodb", "PutItem", {
      TableName: table,
      Item: {
        run_id: { S: ACK_PREFIX + fn },
        sk: { S: environment },
        version: { S: version },
        at: { N: pyFloat(Date.now() / 1000) },
        qualifier: { S: qualifier },
      },
    }, { env });
    return true;
  } catch (err) {
    warning(`could not acknowledge config '${version}' in '${table}': ${err.message}`);
    return false;
  }
}

function failedItems(result, event, source, items) {
  if (!result || typeof result !== "object" || !("batchItemFailures" in result)) return null;
  const named = new Set();
  for (const failure of result.batchItemFailures || []) {
    const ident = failure && typeof failure === "object" ? failure.itemIdentifier : null;
    if (ident === null || ident === undefined || ident === "") return "*";
    named.add(String(ident));
  }
  if (named.size && (source === "kinesis" || source === "dynamodb")) {
    const order = items.map(([, ident]) => ident);
    const first = order.findIndex((ident) => named.has(ident));
    if (first >= 0) order.slice(first).forEach((ident) => ident !== null && named.add(ident));
  }
  return named;
}

const withQueue = (t, detail, extra = {}) => ({ ...detail, ...(t.queue ? { queue: t.queue } : {}), ...extra });

export function attempts(traced, source, detail) {
  const now = Date.now() / 1000;
  return traced.map((t) => ({ runId: t.trace.runId, eventId: t.trace.eventId, kind: "attempt", at: now, source, detail: withQueue(t, detail) }));
}

// One `fault` record per fault that fired in an invocation.
export function faultRecords({ runId, requestId, source, fired, detail }) {
  const now = Date.now() / 1000;
  return fired.map((f, index) => ({
    runId, eventId: `${FAULT_PREFIX}${requestId}#${f.kind}#${f.position}#${index}`, kind: "fault", at: now, source,
    detail: { ...detail, fault: f.position, kind: f.kind },
  }));
}

export function outcomes(traced, source, detail, { result, error, items } = {}) {
  const now = Date.now() / 1000;
  const failed = error ? null : failedItems(result, null, source, items || []);
  return traced.map((t) => {
    let kind = "processed";
    let extra = {};
    if (error) {
      kind = "failed";
      extra = { error: error.name || "Error" };
    } else if (failed !== null && (failed === "*" || t.itemId === null || failed.has(t.itemId))) {
      kind = "failed";
      extra = { error: "batchItemFailure" };
    }
    return { runId: t.trace.runId, eventId: t.trace.eventId, kind, at: now, source, detail: withQueue(t, detail, extra) };
  });
}
