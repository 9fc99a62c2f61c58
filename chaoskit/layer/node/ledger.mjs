// Ledger records from inside a Node.js function: the same items chaoskit/ledger/records.py
// writes (attempt, processed, failed, fired faults, acknowledgements; records packed one
// item per write, keyed by the shard, a CRC-32, of the first record's event id), so the
// reconciler reads Python and Node.js stages alike. A write that fails never fails the invocation and never drops a record: what
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
export const PACK_RECORDS = 100;
export const PACK_BYTES = 64000;
export const PACK_VERSION = 1;
export const PACK_PREFIX = "~pack#";
const FIELD_SLACK = 40;

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

// Compact JSON with sorted keys: the text of a detail, written once per pack.
function compactJson(value) {
  if (Array.isArray(value)) return `[${value.map(compactJson).join(",")}]`;
  if (value && typeof value === "object") {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${compactJson(value[k])}`).join(",")}}`;
  }
  return JSON.stringify(value ?? null);
}

function pack(runId, group, indexes, texts, now) {
  const atNs = BigInt(Math.round(group[0].at * 1e6)) * 1000n;
  const list = (values) => JSON.stringify(values);
  const body = `{"v":${PACK_VERSION},"e":${list(group.map((r) => r.eventId))},"k":${list(group.map((r) => r.kind))},`
    + `"t":[${group.map((r) => pyFloat(r.at)).join(",")}],"s":${list(group.map((r) => r.source || ""))},`
    + `"i":${list(indexes)},"d":[null${[...texts.keys()].map((t) => `,${t}`).join("")}]}`;
  return {
    run_id: { S: partition(runId, group[0].eventId) },
    run: { S: runId },
    sk: { S: `${PACK_PREFIX}${atNs.toString().padStart(20, "0")}#${crypto.randomBytes(4).toString("hex")}` },
    records: { S: body },
    expires_at: { N: String(Math.floor(now) + TTL_SECONDS) },
  };
}

// records.py's pack_items: [item, its records] pairs, per run, at most PACK_RECORDS
// records and about PACK_BYTES of text per item, each distinct detail written once.
export function packItems(records, now = Date.now() / 1000) {
  const byRun = new Map();
  for (const r of records) {
    if (!byRun.has(r.runId)) byRun.set(r.runId, []);
    byRun.get(r.runId).push(r);
  }
  const out = [];
  for (const [runId, group] of byRun) {
    let texts = new Map();
    let indexes = [];
    let size = 0;
    let first = 0;
    group.forEach((r, n) => {
      const text = r.detail && Object.keys(r.detail).length ? compactJson(r.detail) : "";
      const grow = r.eventId.length + r.kind.length + (r.source || "").length + FIELD_SLACK;
      const adds = text && !texts.has(text) ? text.length : 0;
      if (indexes.length && (indexes.length >= PACK_RECORDS || size + grow + adds > PACK_BYTES)) {
        out.push([pack(runId, group.slice(first, n), indexes, texts, now), group.slice(first, n)]);
        texts = new Map();
        indexes = [];
        size = 0;
        first = n;
      }
      let index = 0;
      if (text) {
        index = texts.get(text);
        if (index === undefined) {
          index = texts.size + 1;
          texts.set(text, index);
          size += text.length;
        }
      }
      indexes.push(index);
      size += grow;
    });
    if (indexes.length) out.push([pack(runId, group.slice(first), indexes, texts, now), group.slice(first)]);
  }
  return out;
}

export async function writeRecords(records, env = process.env) {
  const table = tableName(env);
  let packs;
  try {
    packs = packItems(records);
  } catch (err) {
    warning(`could not pack ${records.length} ledger record(s): ${err.message}; they go to the log`);
    logLine(toLogLine(records));
    return;
  }
  for (let i = 0; i < packs.length; i += MAX_ITEMS) {
    const chunk = packs.slice(i, i + MAX_ITEMS);
    try {
      const out = await call("dynamodb", "BatchWriteItem", { RequestItems: { [table]: chunk.map(([Item]) => ({ PutRequest: { Item } })) } }, { env });
      const left = new Set(((out.UnprocessedItems || {})[table] || []).map((u) => u.PutRequest.Item.sk.S));
      if (left.size) {
        const missed = chunk.filter(([item]) => left.has(item.sk.S)).flatMap(([, recs]) => recs);
        warning(`ledger table '${table}' left ${missed.length} record(s) unwritten: they go to the log`);
        logLine(toLogLine(missed));
      }
    } catch (err) {
      const recs = chunk.flatMap(([, group]) => group);
      warning(`could not write to ledger table '${table}': ${err.name}: ${err.message}; ${recs.length} record(s) go to the log`);
      logLine(toLogLine(recs));
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

// How many batch items a handler's result fails: null for all of them.
export function failedCount(result, source, items) {
  const failed = failedItems(result, null, source, items);
  if (failed === null) return 0;
  return failed === "*" ? null : failed.size;
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

// A traced item's record detail: its queue, and SQS's delivery count from the second (what its rolls were keyed on).
const withQueue = (t, detail, extra = {}) => ({
  ...detail,
  ...(t.queue ? { queue: t.queue } : {}),
  ...(t.delivery > 1 ? { delivery: t.delivery } : {}),
  ...extra,
});

// `deadline` (epoch seconds) is when Lambda ends the invocation at the latest: an attempt
// with no outcome after it is not in flight.
export function attempts(traced, source, detail, deadline = null) {
  const now = Date.now() / 1000;
  const extra = deadline === null ? {} : { deadline: Math.round(deadline * 1000) / 1000 };
  return traced.map((t) => ({ runId: t.trace.runId, eventId: t.trace.eventId, kind: "attempt", at: now, source, detail: withQueue(t, detail, extra) }));
}

// One `fault` record per fault that fired in an invocation. Its id names the invocation
// (request id and `nonce`: an asynchronous retry keeps the request id), the fault, and
// how many firings of that fault came before it: a firing put on record twice is one.
export function faultRecords({ runId, requestId, nonce, source, fired, detail }) {
  const now = Date.now() / 1000;
  const before = new Map();
  return fired.map((f) => {
    const key = `${f.kind}#${f.position}`;
    const index = before.get(key) || 0;
    before.set(key, index + 1);
    return {
      runId, eventId: `${FAULT_PREFIX}${requestId}#${nonce}#${key}#${index}`, kind: "fault", at: now, source,
      detail: { ...detail, fault: f.position, kind: f.kind, ...(f.extra || {}) },
    };
  });
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
