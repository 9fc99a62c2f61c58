// Shared helpers of the Node.js layer tests (run by `node --test tests/layer_node`).
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const LAYER = path.join(ROOT, "chaoskit/layer/node");
export const EVENTS = path.join(ROOT, "tests/layer/events");

export const readJson = (file) => JSON.parse(fs.readFileSync(file, "utf8"));

export function context({ remaining = 3000, arn = "arn:aws:lambda:us-east-1:000000000000:function:orders" } = {}) {
  const deadline = Date.now() + remaining;
  return { functionName: "orders", awsRequestId: "req-1", invokedFunctionArn: arn, getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()) };
}

export function config(faults, extra = {}) {
  return JSON.stringify({ version: "v1", expires_at: Date.now() / 1000 + 600, faults, ...extra });
}

// A layer environment that never reaches AWS, with captured log lines and ledger records.
export async function harness(env = {}, options = {}) {
  const { Layer } = await import(path.join(LAYER, "layer.mjs"));
  const log = await import(path.join(LAYER, "log.mjs"));
  const lines = [];
  log.setSink((line) => lines.push(JSON.parse(line)));
  const records = [];
  const sleeps = [];
  const layer = new Layer({
    env: { AWS_ENDPOINT_URL: "http://127.0.0.1:9", ...env },
    ledger: { write: async (batch) => { records.push(...batch); } },
    sleepMs: async (ms) => { sleeps.push(ms); },
    ...options,
  });
  return { layer, lines, records, sleeps, restore: () => log.setSink(null) };
}

export function tempApp(files) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "chaoskit-node-"));
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), text);
  }
  return dir;
}

// A real HTTP server on 127.0.0.1 that records what reaches it.
export async function server(handler = (req, res) => res.end("ok")) {
  const hits = [];
  const srv = http.createServer((req, res) => {
    hits.push({ method: req.method, url: req.url, headers: req.headers });
    handler(req, res);
  });
  await new Promise((resolve) => srv.listen(0, "127.0.0.1", resolve));
  return { port: srv.address().port, hits, close: () => new Promise((r) => srv.close(r)) };
}

// DynamoDB's typed JSON for the few plain values the tests put in a stream image.
const typed = (v) => (typeof v === "boolean" ? { BOOL: v } : typeof v === "number" ? { N: String(v) } : { S: v });

// A sample batch of `source` with one record per payload, each carrying it where AWS does.
export function withPayloads(source, payloads) {
  const event = readJson(path.join(EVENTS, `${source}.json`));
  const template = event.Records[0];
  event.Records = payloads.map((payload, i) => {
    const record = structuredClone(template);
    const text = JSON.stringify(payload);
    if (source === "sqs") Object.assign(record, { body: text, messageId: `m-${i}` });
    else if (source === "kinesis") record.kinesis.data = Buffer.from(text).toString("base64");
    else if (source === "sns") record.Sns.Message = text;
    else {
      record.dynamodb.NewImage = Object.fromEntries(Object.entries(payload).map(([k, v]) => [k, typed(v)]));
      record.dynamodb.SequenceNumber = String(100 + i);
    }
    return record;
  });
  return event;
}
