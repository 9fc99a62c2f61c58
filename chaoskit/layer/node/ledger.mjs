// Ledger records from inside a Node.js function: the same items chaoskit/ledger/records.py
// writes (attempt, processed, failed, fault acknowledgements), so the reconciler reads
// Python and Node.js stages alike. A failed write is one warning line, never a failure.
import crypto from "node:crypto";
import { call } from "./aws.mjs";
import { warning } from "./log.mjs";

export const DEFAULT_TABLE = "chaoskit-ledger";
export const TTL_SECONDS = 7 * 24 * 3600;
export const ACK_PREFIX = "ack#";
export const MAX_ITEMS = 25;

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
    run_id: { S: record.runId },
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
    try {
      let request = { [table]: chunk.map((r) => ({ PutRequest: { Item: makeItem(r) } })) };
      for (let attempt = 0; attempt < 3 && request[table] && request[table].length; attempt++) {
        const out = await call("dynamodb", "BatchWriteItem", { RequestItems: request }, { env });
        request = out.UnprocessedItems || {};
      }
      if (request[table] && request[table].length) {
        warning(`ledger table '${table}' left ${request[table].length} record(s) unwritten`);
      }
    } catch (err) {
      warning(`could not write to ledger table '${table}': ${err.name}: ${err.message}`);
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

export function attempts(traced, source, detail) {
  const now = Date.now() / 1000;
  return traced.map((t) => ({ runId: t.trace.runId, eventId: t.trace.eventId, kind: "attempt", at: now, source, detail }));
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
    return { runId: t.trace.runId, eventId: t.trace.eventId, kind, at: now, source, detail: { ...detail, ...extra } };
  });
}
