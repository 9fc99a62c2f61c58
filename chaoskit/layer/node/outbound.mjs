// Downstream faults on outbound calls: third-party HTTP faults by host pattern, and AWS
// SDK throttling. Both patch node:http / node:https request functions (which the AWS
// SDK for JavaScript v3 sends through) and globalThis.fetch, once, on first use; with
// nothing armed they pass straight through. A firing fault answers with a canned HTTP
// response on a fake socket, so the client parses a real response and its own retry
// logic applies (for the SDK: a genuine throttling error in the service's protocol).
import http from "node:http";
import https from "node:https";
import net from "node:net";
import tls from "node:tls";
import crypto from "node:crypto";
import { syncBuiltinESMExports } from "node:module";
import { Duplex } from "node:stream";
import { naturalThrottle } from "./config.mjs";
import { fault as logFault, gaveUp as logGaveUp } from "./log.mjs";

let armed = null; // {http: [...], sdk: [...], version, rng, sleepMs}
let installed = false;

// boto3 service names (what experiments write) -> SigV4 signing names.
const SIGNING = { stepfunctions: "states", cloudwatch: "monitoring", eventbridge: "events", "api-gateway": "apigateway", logs: "logs", dynamodbstreams: "dynamodb" };
const REST_XML = new Set(["s3", "route53", "cloudfront"]);

export function hostMatches(host, port, patterns) {
  host = String(host || "").toLowerCase().replace(/^\[|\]$/g, "");
  const withPort = port ? `${host}:${port}` : host;
  return patterns.some((pattern) => {
    pattern = pattern.toLowerCase();
    const target = pattern.includes(":") ? withPort : host;
    const re = new RegExp(`^${pattern.replace(/[.+^${}()|\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".")}$`);
    return re.test(target);
  });
}

function header(headers, name) {
  if (!headers) return undefined;
  if (typeof headers.get === "function") return headers.get(name) ?? undefined;
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === name) return Array.isArray(v) ? v[0] : v;
  return undefined;
}

// The AWS service a signed request is for, from its SigV4 credential scope.
export function signingService(headers) {
  const auth = String(header(headers, "authorization") || "");
  const m = auth.match(/Credential=[^/]+\/\d{8}\/[^/]+\/([^/]+)\/aws4_request/);
  return m ? m[1] : null;
}

function operationOf(headers, body) {
  const target = header(headers, "x-amz-target");
  if (target) return String(target).split(".").pop();
  if (typeof body === "string") {
    const m = body.match(/(?:^|&)Action=([^&]+)/);
    if (m) return decodeURIComponent(m[1]);
  }
  return null;
}

const opKey = (name) => String(name).replace(/_/g, "").toLowerCase();

// The error codes the AWS SDK for JavaScript v3 retries (@smithy/service-error-classification:
// throttling and transient), besides statuses 429 and 500 and up.
const RETRIED = new Set(["BandwidthLimitExceeded", "EC2ThrottledException", "LimitExceededException",
  "PriorRequestNotComplete", "ProvisionedThroughputExceededException", "RequestLimitExceeded", "RequestThrottled",
  "RequestThrottledException", "SlowDown", "ThrottledException", "Throttling", "ThrottlingException",
  "TooManyRequestsException", "TransactionInProgressException", "TimeoutError", "RequestTimeout",
  "RequestTimeoutException"]);

// Whether the SDK retries no more after this attempt's error: its last attempt (the
// `amz-sdk-request: attempt=N; max=M` header the v3 SDK sends), or an error it does not
// retry. Unknown (no header) is not counted: a call that gives up early because the
// client's retry quota ran out is not seen either.
export function lastAttempt(headers, code, status) {
  const m = String(header(headers, "amz-sdk-request") || "").match(/attempt=(\d+).*?max=(\d+)/);
  if (!m) return null;
  const attempt = Number(m[1]);
  if (attempt >= Number(m[2])) return attempt;
  return status === 429 || status >= 500 || RETRIED.has(code) ? null : attempt;
}

function canned(status, headers, body) {
  const text = Buffer.from(body);
  const lines = [`HTTP/1.1 ${status} ${http.STATUS_CODES[status] || "Error"}`];
  for (const [k, v] of Object.entries({ ...headers, "Content-Length": text.length, Connection: "close" })) lines.push(`${k}: ${v}`);
  return Buffer.concat([Buffer.from(`${lines.join("\r\n")}\r\n\r\n`), text]);
}

export function throttleResponse(service, headers, code, status, message) {
  const requestId = crypto.randomUUID();
  const base = { "x-amzn-RequestId": requestId, "x-amz-request-id": requestId };
  const escape = (s) => String(s).replace(/[<>&]/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;" })[c]);
  const contentType = String(header(headers, "content-type") || "");
  if (header(headers, "x-amz-target") || (!contentType.includes("x-www-form-urlencoded") && !REST_XML.has(service) && service !== "ec2")) {
    return { status, headers: { ...base, "Content-Type": "application/x-amz-json-1.0", "x-amzn-ErrorType": `${code}:http://internal.amazon.com/` },
             body: JSON.stringify({ __type: code, message, Message: message }) };
  }
  const error = `<Code>${escape(code)}</Code><Message>${escape(message)}</Message>`;
  let body;
  if (contentType.includes("x-www-form-urlencoded")) body = `<ErrorResponse><Error><Type>Sender</Type>${error}</Error><RequestId>${requestId}</RequestId></ErrorResponse>`;
  else if (service === "ec2") body = `<Response><Errors><Error>${error}</Error></Errors><RequestID>${requestId}</RequestID></Response>`;
  else body = `<Error>${error}<RequestId>${requestId}</RequestId></Error>`;
  return { status, headers: { ...base, "Content-Type": "text/xml" }, body };
}

// Decide what, if anything, happens to one outbound request.
function decide({ host, port, headers, body }) {
  const state = armed;
  if (!state) return null;
  const service = signingService(headers);
  if (service) {
    for (const f of state.sdk) {
      const wanted = String(f.params.service).toLowerCase();
      if (service !== wanted && service !== (SIGNING[wanted] || wanted)) continue;
      const operation = operationOf(headers, body);
      const ops = f.params.operations || [];
      if (ops.length && !(operation && ops.map(opKey).includes(opKey(operation)))) continue;
      const roll = state.rng();
      if (roll >= f.rate) continue;
      const [naturalCode, naturalStatus] = naturalThrottle(wanted);
      const code = f.params.error_code || naturalCode;
      const status = f.params.http_status || (f.params.error_code ? 400 : naturalStatus);
      logFault("sdk_throttle", state.version, roll, f.rate, { service: wanted, operation, error_code: code, http_status: status });
      const attempts = lastAttempt(headers, code, status);
      if (attempts !== null) logGaveUp("sdk_throttle", state.version, { service: wanted, operation, error_code: code, attempts });
      const message = f.params.message || "Rate exceeded (injected by chaoskit)";
      return { latencyMs: Number(f.params.latency_ms || 0), response: throttleResponse(wanted, headers, code, status, message) };
    }
    return null; // signed AWS traffic is the SDK's; http faults name third parties
  }
  for (const f of state.http) {
    if (!hostMatches(host, port, f.params.hosts)) continue;
    const roll = state.rng();
    if (roll >= f.rate) continue;
    const p = f.params;
    logFault("http", state.version, roll, f.rate, { host, port: port ?? null, status: p.status ?? null, latency_ms: p.latency_ms ?? null, connection_refused: Boolean(p.connection_refused) });
    const out = { latencyMs: Number(p.latency_ms || 0) };
    if (p.connection_refused) out.refused = true;
    else if (p.status !== undefined) {
      const headersOut = { "Content-Type": "application/json" };
      if (p.retry_after !== undefined) headersOut["Retry-After"] = p.retry_after;
      out.response = { status: p.status, headers: headersOut, body: p.body || '{"message": "injected by chaoskit"}' };
    }
    return out;
  }
  return null;
}

function refusedError(host, port) {
  const err = new Error(`connect ECONNREFUSED ${host}:${port} (injected by chaoskit)`);
  Object.assign(err, { code: "ECONNREFUSED", errno: -111, syscall: "connect", address: host, port });
  return err;
}

// A socket that swallows the request and replays one canned response.
class CannedSocket extends Duplex {
  constructor(payload, error) {
    super();
    this.payload = payload;
    this.error = error;
    this.connecting = false;
  }
  _write(chunk, enc, cb) { cb(); }
  _read() {
    if (this.error) { this.destroy(this.error); return; }
    if (this.payload) { const p = this.payload; this.payload = null; this.push(p); this.push(null); }
  }
  setTimeout() { return this; }
  setNoDelay() { return this; }
  setKeepAlive() { return this; }
  ref() { return this; }
  unref() { return this; }
}

function normalise(args, defaultProtocol) {
  // request(url[, options][, cb]) | request(options[, cb])
  let url = null;
  let options = {};
  let cb;
  for (const arg of args) {
    if (typeof arg === "string" || arg instanceof URL) url = new URL(arg);
    else if (typeof arg === "function") cb = arg;
    else if (arg && typeof arg === "object") options = arg;
  }
  const merged = url
    ? { protocol: url.protocol, hostname: url.hostname, port: url.port, path: `${url.pathname}${url.search}`, ...options }
    : { ...options };
  merged.protocol = merged.protocol || defaultProtocol;
  return { options: merged, cb };
}

function wrapRequest(module, original, defaultProtocol) {
  return function request(...args) {
    if (!armed) return original.apply(module, args);
    const { options, cb } = normalise(args, defaultProtocol);
    const host = options.hostname || (options.host || "").replace(/:\d+$/, "") || "localhost";
    const port = options.port ? Number(options.port) : undefined;
    const decision = decide({ host, port, headers: options.headers, body: null });
    if (!decision) return original.call(module, options, cb);
    const next = { ...options, agent: undefined };
    delete next.agent;
    next.createConnection = (opts, oncreate) => {
      const connect = () => {
        if (decision.refused) return new CannedSocket(null, refusedError(host, port ?? (defaultProtocol === "https:" ? 443 : 80)));
        if (decision.response) {
          const r = decision.response;
          return new CannedSocket(canned(r.status, r.headers, r.body));
        }
        return defaultProtocol === "https:"
          ? tls.connect({ ...opts, servername: opts.servername || (net.isIP(host) ? undefined : host) })
          : net.connect(opts);
      };
      if (!decision.latencyMs) return connect();
      setTimeout(() => {
        try { oncreate(null, connect()); } catch (err) { oncreate(err); }
      }, decision.latencyMs);
      return undefined;
    };
    return original.call(module, next, cb);
  };
}

function wrapFetch(original) {
  return async function fetch(input, init = {}) {
    if (!armed) return original(input, init);
    const url = new URL(typeof input === "string" || input instanceof URL ? input : input.url);
    const headers = init.headers || (typeof input === "object" && input.headers) || {};
    const decision = decide({ host: url.hostname, port: url.port ? Number(url.port) : undefined, headers, body: typeof init.body === "string" ? init.body : null });
    if (!decision) return original(input, init);
    if (decision.latencyMs) await new Promise((r) => setTimeout(r, decision.latencyMs));
    if (decision.refused) throw new TypeError("fetch failed", { cause: refusedError(url.hostname, url.port || (url.protocol === "https:" ? 443 : 80)) });
    if (decision.response) {
      const r = decision.response;
      return new Response(r.body, { status: r.status, headers: r.headers });
    }
    return original(input, init);
  };
}

export function install() {
  if (installed) return;
  installed = true;
  const originals = { httpRequest: http.request, httpsRequest: https.request };
  http.request = wrapRequest(http, originals.httpRequest, "http:");
  https.request = wrapRequest(https, originals.httpsRequest, "https:");
  http.get = function get(...args) { const req = http.request(...args); req.end(); return req; };
  https.get = function get(...args) { const req = https.request(...args); req.end(); return req; };
  if (typeof globalThis.fetch === "function") globalThis.fetch = wrapFetch(globalThis.fetch);
  syncBuiltinESMExports(); // `import { request } from "node:https"` sees the patch too
}

// Inject `faults` into matching outbound calls until the returned function is called.
export function arm(faults, version, rng) {
  install();
  armed = { sdk: faults.filter((f) => f.kind === "sdk_throttle"), http: faults.filter((f) => f.kind === "http"), version, rng };
  return () => { armed = null; };
}
