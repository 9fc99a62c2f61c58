// The heart of the Node.js layer: decide, for one invocation, which faults fire, and run
// the handler. Same contract as chaoskit/layer/runtime.py: fail-open (any error in
// chaoskit's own machinery means no fault, one warning line, the handler called exactly
// once); only the faults themselves make an invocation fail.
import { maxFaultSeconds, parseConfig } from "./config.mjs";
import { batchRoll, eventKey, invocationKey, roll as seededRoll, seededRandom } from "./rolls.mjs";
import { collect, detectSource, matches, qualifierOf, batchItems } from "./events.mjs";
import { callHandler } from "./loader.mjs";
import * as log from "./log.mjs";

export { callHandler };

// The ledger and AWS modules load node:http, node:https and node:crypto: only when an
// invocation first needs them (a traced event, an SSM config, an acknowledgement),
// which keeps them out of every cold start that has none.
let ledgerModule = null;
const ledger = () => (ledgerModule = ledgerModule || import("./ledger.mjs"));
const awsCall = async (...args) => (await import("./aws.mjs")).call(...args);
const randomHex = (bytes) => Array.from({ length: bytes * 2 }, () => Math.floor(Math.random() * 16).toString(16)).join("");

export const PING_KEY = "chaoskit_ping";
const IN_FUNCTION = ["latency", "timeout", "exception", "status"];
const DOWNSTREAM = ["sdk_throttle", "http"];
const DEFAULT_BODY = '{"message": "injected by chaoskit"}';
const DEFAULT_TTL = 5;
const TRUTHY = new Set(["1", "true", "yes", "on"]);

export const isTruthy = (value) => TRUTHY.has(String(value ?? "").trim().toLowerCase());

export async function fetchSsm(name, env) {
  try {
    const out = await awsCall("ssm", "GetParameter", { Name: name, WithDecryption: true }, { env });
    return String(out.Parameter.Value);
  } catch (err) {
    if (err.code === "ParameterNotFound") return null;
    throw err;
  }
}

// At most one config-store call per TTL per environment, whatever happens.
export class ConfigLoader {
  constructor(env = process.env, fetch = fetchSsm, clock = () => performance.now() / 1000) {
    this.env = env;
    this.fetch = fetch;
    this.clock = clock;
    this.fetches = 0;
    this.inline = null;
    this.cached = null;
    this.fetchedAt = null;
    this.source = null;
  }

  ttl() {
    const raw = this.env.CHAOSKIT_CONFIG_TTL;
    const value = raw ? Number(raw) : DEFAULT_TTL;
    return Number.isFinite(value) ? Math.max(0, value) : DEFAULT_TTL;
  }

  parse(text, where) {
    try {
      return parseConfig(text, Date.now() / 1000, maxFaultSeconds(this.env));
    } catch (err) {
      log.warning(`ignoring malformed fault config in ${where}: ${err.message}`);
      return null;
    }
  }

  async load() {
    const inline = this.env.CHAOSKIT_CONFIG;
    if (inline) {
      if (!this.inline || this.inline[0] !== inline) this.inline = [inline, this.parse(inline, "inline config")];
      return this.inline[1];
    }
    const name = this.env.CHAOSKIT_CONFIG_PARAMETER;
    if (!name) return null;
    const now = this.clock();
    if (this.source === name && this.fetchedAt !== null && now - this.fetchedAt < this.ttl()) return this.cached;
    this.source = name;
    this.fetchedAt = now;
    this.cached = null;
    this.fetches += 1;
    let text;
    try {
      text = await this.fetch(name, this.env);
    } catch (err) {
      log.warning(`could not read fault config parameter '${name}': ${err.name}: ${err.message}`, { parameter: name });
      return null;
    }
    if (text !== null && text !== undefined) this.cached = this.parse(text, `parameter '${name}'`);
    return this.cached;
  }
}

export class InjectedError extends Error {}

function injectedError(type, message) {
  const err = new InjectedError(message);
  err.name = type;
  return err;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// When Lambda ends the invocation at the latest (epoch seconds); null when the context cannot tell.
function deadlineOf(context) {
  try {
    const ms = Math.max(0, Number(context.getRemainingTimeInMillis()));
    return Number.isFinite(ms) ? Date.now() / 1000 + ms / 1000 : null;
  } catch {
    return null;
  }
}

// How many of `gaveUp` failed calls an invocation did not answer with a failure: none
// when it threw, answered an HTTP status of 400 or more, or failed as many batch items;
// all of them when it returned success.
function swallowed(plan, event, gaveUp, records) {
  if (!plan.ended) return 0;
  const { result, error } = plan.ended;
  if (error) return 0;
  if (result && typeof result === "object" && Number.isInteger(result.statusCode) && result.statusCode >= 400) return 0;
  const failed = records.failedCount(result, plan.source, batchItems(event, plan.source));
  return failed === null ? 0 : Math.max(0, gaveUp - failed);
}

export class Layer {
  constructor({ env = process.env, loader, rng = Math.random, wall = () => Date.now() / 1000, sleepMs = sleep, ledger: sink } = {}) {
    this.env = env;
    this.loader = loader || new ConfigLoader(env);
    this.rng = rng;
    this.wall = wall;
    this.sleepMs = sleepMs;
    this.ledger = sink || { write: async (records) => (await ledger()).writeRecords(records, env) };
    this.environmentId = randomHex(16);
    this.ackedVersion = null;
    this.ackRetryAt = 0;
  }

  async plan(event, context) {
    const plan = { config: null, ping: false, source: "direct", fired: [], downstream: [], traced: [], detail: {}, rng: null };
    if (event && typeof event === "object" && event[PING_KEY] === true) plan.ping = true;
    let config = await this.loader.load();
    if (config && this.wall() >= config.expiresAt) config = null;
    plan.config = config;
    const qualifier = qualifierOf(context);
    if (config && this.ackedVersion !== config.version) await this.acknowledge(config.version, context, qualifier);
    if (plan.ping) return plan;
    plan.source = detectSource(event);
    plan.traced = collect(event, plan.source);
    if (plan.traced.length) {
      plan.detail = { function: context?.functionName || this.env.AWS_LAMBDA_FUNCTION_NAME || "unknown", qualifier, request_id: context?.awsRequestId ?? null, source: plan.source, runtime: "nodejs" };
    }
    if (!config) return plan;
    // With a seed, rolls are a function of (seed, fault, event): the same as Python's.
    const key = config.seed === null ? null : invocationKey(event, plan.traced.map((t) => t.trace.eventId), context?.awsRequestId);
    for (const fault of config.faults) {
      if (!matches(fault.match, event, plan.source, qualifier)) continue;
      if (key !== null && !plan.rng) plan.rng = seededRandom(config.seed, key);
      if (DOWNSTREAM.includes(fault.kind)) {
        plan.downstream.push(fault);
        continue;
      }
      let roll;
      if (key === null) roll = this.rng();
      else if (plan.traced.length) {
        // Per event: the fault follows its events into any batch.
        roll = batchRoll(config.seed, fault.position, fault.kind, plan.traced.map((t) => eventKey(t.trace.eventId, t.delivery)));
      } else roll = seededRoll(config.seed, fault.position, fault.kind, key);
      if (roll < fault.rate) plan.fired.push([fault, roll]);
    }
    plan.fired.sort((a, b) => IN_FUNCTION.indexOf(a[0].kind) - IN_FUNCTION.indexOf(b[0].kind));
    return plan;
  }

  async acknowledge(version, context, qualifier) {
    if (!isTruthy(this.env.CHAOSKIT_ACK)) {
      this.ackedVersion = version;
      return;
    }
    const now = performance.now() / 1000;
    if (now < this.ackRetryAt) return;
    const fn = context?.functionName || this.env.AWS_LAMBDA_FUNCTION_NAME || "unknown";
    if (await (await ledger()).writeAck(fn, this.environmentId, version, qualifier, this.env)) this.ackedVersion = version;
    else this.ackRetryAt = now + this.loader.ttl();
  }

  pong(plan) {
    const config = plan.config;
    return { chaoskit: "pong", environment: this.environmentId, version: config ? config.version : null, faults: config ? config.faults.length : 0, runtime: "nodejs" };
  }

  // Run `handler` for one invocation with whatever faults the config asks for.
  async invoke(handler, event, context) {
    if (isTruthy(this.env.CHAOSKIT_DISABLED)) return callHandler(handler, event, context);
    let plan;
    try {
      plan = await this.plan(event, context);
    } catch (err) {
      log.warning(`fault layer failed, running the handler without faults: ${err.name}: ${err.message}`);
      return callHandler(handler, event, context);
    }
    if (plan.ping) return this.pong(plan);
    const watching = plan.downstream.length > 0;
    plan.pending = [];
    if (watching) {
      plan.nonce = randomHex(4);
      // A downstream fault's first firing goes on record before it acts; the rest, and
      // this one again with the calls that gave up (the same record id: counted once),
      // when the invocation ends, which one killed at its timeout never reaches.
      const firstFired = (kind, rate) => {
        if (DOWNSTREAM.includes(kind)) plan.pending.push(this.recordFaults(plan, context, [{ kind, rate }]));
      };
      Object.assign(log.state, { fired: [], gaveUps: {}, firstFired });
    }
    try {
      return await this.traced(plan, handler, event, context);
    } finally {
      if (watching) {
        const fired = (log.state.fired || []).filter((f) => DOWNSTREAM.includes(f.kind));
        const gaveUps = log.state.gaveUps || {};
        Object.assign(log.state, { fired: null, gaveUps: null, firstFired: null });
        plan.pending.push(this.recordFaults(plan, context, fired, { gaveUps, event }));
      }
      await Promise.all(plan.pending);
    }
  }

  // Put one `fault` record per fault that fired in this invocation on the ledger. The
  // first of each kind with calls that gave up on it carries `gave_up`, their count, and
  // `swallowed`: how many the invocation did not answer with a failure (see swallowed()).
  async recordFaults(plan, context, fired, { gaveUps = {}, event = null } = {}) {
    try {
      const config = plan.config;
      const runId = (config && config.runId) || (plan.traced.length ? plan.traced[0].trace.runId : null);
      if (!fired.length || !runId) return;
      const candidates = [...plan.fired.map(([f]) => f), ...plan.downstream];
      const records = await ledger();
      const requestId = context?.awsRequestId || "-";
      plan.nonce ||= randomHex(4);
      const counted = new Set();
      const matched = fired.map((f) => {
        const out = { kind: f.kind, position: (candidates.find((c) => c.kind === f.kind && c.rate === f.rate) || { position: -1 }).position };
        if (gaveUps[f.kind] && !counted.has(f.kind)) {
          counted.add(f.kind);
          out.extra = { gave_up: gaveUps[f.kind], swallowed: swallowed(plan, event, gaveUps[f.kind], records) };
        }
        return out;
      });
      await this.safeWrite(records.faultRecords({
        runId, requestId, nonce: plan.nonce, source: plan.source, fired: matched,
        detail: { function: context?.functionName || this.env.AWS_LAMBDA_FUNCTION_NAME || "unknown", request_id: requestId,
                  event_ids: plan.traced.map((t) => t.trace.eventId), version: config ? config.version : "" },
      }));
    } catch (err) {
      log.warning(`could not record fired faults: ${err.message}`);
    }
  }

  async traced(plan, handler, event, context) {
    if (!plan.traced.length) return (await this.run(plan, handler, event, context)).result;
    const records = await ledger();
    const pending = [this.safeWrite(records.attempts(plan.traced, plan.source, plan.detail, deadlineOf(context)))];
    const items = batchItems(event, plan.source);
    try {
      let outcome;
      try {
        outcome = await this.run(plan, handler, event, context);
      } catch (err) {
        pending.push(this.record(records, plan, { error: err, items }));
        throw err;
      }
      pending.push(this.record(records, plan, { result: outcome.result, error: outcome.injected, items }));
      return outcome.result;
    } finally {
      await Promise.all(pending); // no post-response phase in Node.js: write before returning
    }
  }

  async safeWrite(records) {
    try {
      await this.ledger.write(records);
    } catch (err) {
      log.warning(`could not record: ${err.message}`);
    }
  }

  record(records, plan, { result, error, items }) {
    try {
      return this.safeWrite(records.outcomes(plan.traced, plan.source, plan.detail, { result, error, items }));
    } catch (err) {
      log.warning(`could not record outcomes: ${err.message}`);
      return Promise.resolve();
    }
  }

  async run(plan, handler, event, context) {
    const version = plan.config ? plan.config.version : "";
    for (const [fault, roll] of plan.fired) {
      // On record before it acts: a latency or timeout fault may get the invocation
      // killed at its timeout, and the write goes on meanwhile.
      plan.pending.push(this.recordFaults(plan, context, [{ kind: fault.kind, rate: fault.rate }]));
      const response = await this.apply(fault, roll, version, context, plan);
      if (response) {
        const injected = new Error(String(response.statusCode));
        injected.name = "InjectedStatus";
        return { result: response, injected };
      }
    }
    let disarm = null;
    if (plan.downstream.length) {
      try {
        const outbound = await import("./outbound.mjs");
        disarm = outbound.arm(plan.downstream, version, plan.rng || this.rng);
      } catch (err) {
        log.warning(`could not arm downstream faults: ${err.message}`);
      }
    }
    try {
      const result = await callHandler(handler, event, context);
      plan.ended = { result, error: null };
      return { result, injected: null };
    } catch (err) {
      plan.ended = { result: null, error: err };
      throw err;
    } finally {
      if (disarm) disarm();
    }
  }

  async apply(fault, roll, version, context, plan = {}) {
    const p = fault.params;
    if (fault.kind === "latency") {
      const draw = plan.rng || this.rng;
      const ms = "ms" in p ? Number(p.ms) : p.min_ms + draw() * (p.max_ms - p.min_ms);
      log.fault("latency", version, roll, fault.rate, { ms: Math.round(ms * 1000) / 1000 });
      await this.sleepMs(ms);
    } else if (fault.kind === "timeout") {
      let remaining;
      try {
        remaining = Number(context.getRemainingTimeInMillis());
      } catch (err) {
        log.warning(`timeout fault skipped: no remaining time in the context: ${err.message}`);
        return null;
      }
      const ms = remaining + Number(p.margin_ms ?? 50);
      log.fault("timeout", version, roll, fault.rate, { ms: Math.round(ms * 1000) / 1000 });
      await this.sleepMs(ms);
      throw injectedError("ChaosKitInjectedTimeout", `Task timed out: chaoskit slept ${Math.round(ms)} ms past the deadline`);
    } else if (fault.kind === "exception") {
      const type = String(p.type || "ChaosKitInjectedError");
      log.fault("exception", version, roll, fault.rate, { type });
      throw injectedError(type, String(p.message || "injected by chaoskit"));
    } else if (fault.kind === "status") {
      try {
        const body = "body" in p ? (typeof p.body === "string" ? p.body : JSON.stringify(p.body)) : DEFAULT_BODY;
        const headers = { "Content-Type": "application/json", ...(p.headers || {}) };
        log.fault("status", version, roll, fault.rate, { status_code: p.status_code });
        return { statusCode: p.status_code, headers: Object.fromEntries(Object.entries(headers).map(([k, v]) => [String(k), String(v)])), body, isBase64Encoded: false };
      } catch (err) {
        log.warning(`status fault skipped: ${err.message}`);
      }
    }
    return null;
  }
}

// Wrap a handler with the fault layer (code-level use: `export const handler = inject(fn)`).
export function inject(handler, options = {}) {
  let layer = null;
  return async function chaoskitHandler(event, context) {
    layer = layer || new Layer(options);
    return layer.invoke(handler, event, context);
  };
}
