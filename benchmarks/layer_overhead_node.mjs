// The Node.js layer's cost: added time per invocation with no fault matching, and cold
// start (importing the layer's handler module in a fresh process), each against a
// baseline measured in the same run.
//   node benchmarks/layer_overhead_node.mjs [--invocations 20000] [--cold 20]
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const LAYER = path.join(ROOT, "chaoskit/layer/node");
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const N = option("--invocations", 20000);
const COLD = option("--cold", 20);

const percentile = (values, p) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
};

const { Layer } = await import(path.join(LAYER, "layer.mjs"));
const env = {
  CHAOSKIT_CONFIG: JSON.stringify({
    version: "v1", expires_at: Date.now() / 1000 + 3600,
    faults: [{ kind: "exception", rate: 1, match: { source: "kinesis" } }, { kind: "latency", rate: 1, ms: 50, match: { fields: { poison: true } } }],
  }),
};
const layer = new Layer({ env, ledger: { write: async () => {} } });
const handler = async (event) => ({ ok: event.order });
const event = { order: 1, detail: { items: [1, 2, 3] } };
const context = { functionName: "bench", awsRequestId: "r", invokedFunctionArn: "arn:aws:lambda:us-east-1:1:function:bench", getRemainingTimeInMillis: () => 3000 };

async function measure(call) {
  for (let i = 0; i < 2000; i++) await call(); // warm-up
  const out = [];
  for (let i = 0; i < N; i++) {
    const t = process.hrtime.bigint();
    await call();
    out.push(Number(process.hrtime.bigint() - t) / 1000);
  }
  return out;
}

// Interleave baseline and layer runs so drift on a noisy machine hits both alike.
const bare = [];
const wrapped = [];
for (let round = 0; round < 4; round++) {
  bare.push(...(await measure(() => handler(event, context))));
  wrapped.push(...(await measure(() => layer.invoke(handler, event, context))));
}
const added = (p) => percentile(wrapped, p) - percentile(bare, p);
console.log(`per invocation, no fault matching (${N * 4} calls each, µs):`);
console.log(`  bare handler      p50 ${percentile(bare, 50).toFixed(2)}  p99 ${percentile(bare, 99).toFixed(2)}`);
console.log(`  through the layer p50 ${percentile(wrapped, 50).toFixed(2)}  p99 ${percentile(wrapped, 99).toFixed(2)}`);
console.log(`  added             p50 ${added(50).toFixed(2)}  p99 ${added(99).toFixed(2)}  (target p50 <= 20)`);

// Cold start: a fresh node importing the user's module alone, then through the layer.
const app = fs.mkdtempSync(path.join(os.tmpdir(), "chaoskit-bench-"));
fs.writeFileSync(path.join(app, "index.mjs"), "export const handler = async () => 1;\n");
const script = (entry) => `const t = process.hrtime.bigint(); await import(${JSON.stringify(entry)}); console.log(Number(process.hrtime.bigint() - t) / 1e6);`;
const run = (entry, extraEnv) => Number(execFileSync(process.execPath, ["--input-type=module", "-e", script(entry)],
  { env: { ...process.env, ...extraEnv }, encoding: "utf8" }).trim());
const plain = [];
const layered = [];
for (let i = 0; i < COLD; i++) {
  plain.push(run(path.join(app, "index.mjs"), {}));
  layered.push(run(path.join(LAYER, "handler.mjs"), { CHAOSKIT_ORIGINAL_HANDLER: "index.handler", LAMBDA_TASK_ROOT: app }));
}
console.log(`cold import (${COLD} fresh processes each, ms):`);
console.log(`  user module alone  p50 ${percentile(plain, 50).toFixed(2)}`);
console.log(`  through the layer  p50 ${percentile(layered, 50).toFixed(2)}  added ${(percentile(layered, 50) - percentile(plain, 50)).toFixed(2)}`);
fs.rmSync(app, { recursive: true, force: true });
