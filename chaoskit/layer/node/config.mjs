// The fault config document: parse and validate it, as chaoskit/layer/config.py does.
// The same document drives the Python and the Node.js layer; a document one refuses,
// the other refuses too (tests/layer_node checks both against the same cases).

export const SOURCES = ["sqs", "sns", "eventbridge", "kinesis", "dynamodb", "apigateway", "direct"];

const NUM = "number";
// kind -> {field: [accepted types, required]}; `rate` and `match` are common to all.
const FIELDS = {
  latency: { ms: [[NUM], false], min_ms: [[NUM], false], max_ms: [[NUM], false] },
  exception: { type: [["string"], false], message: [["string"], false] },
  status: { status_code: [["integer"], true], body: [["string", "object", "array"], false],
            headers: [["object"], false] },
  timeout: { margin_ms: [[NUM], false] },
  sdk_throttle: { service: [["string"], true], operations: [["array"], false],
                  error_code: [["string"], false], http_status: [["integer"], false],
                  latency_ms: [[NUM], false], message: [["string"], false] },
  http: { hosts: [["array"], true], status: [["integer"], false], retry_after: [[NUM], false],
          latency_ms: [[NUM], false], connection_refused: [["boolean"], false],
          body: [["string"], false] },
};
export const KINDS = Object.keys(FIELDS);
const MAX_MS = 900000;

// Service (boto3 name, as the actions write it) -> [natural throttling code, HTTP status].
const THROTTLES = {
  dynamodb: ["ProvisionedThroughputExceededException", 400],
  kinesis: ["ProvisionedThroughputExceededException", 400],
  s3: ["SlowDown", 503],
  ec2: ["RequestLimitExceeded", 503],
  lambda: ["TooManyRequestsException", 429],
  apigateway: ["TooManyRequestsException", 429],
  "api-gateway": ["TooManyRequestsException", 429],
  sns: ["Throttling", 400],
  sts: ["Throttling", 400],
  cloudwatch: ["Throttling", 400],
};

export function naturalThrottle(service) {
  return THROTTLES[String(service).toLowerCase()] || ["ThrottlingException", 400];
}

export class ConfigError extends Error {
  constructor(message) {
    super(message);
    this.name = "ConfigError";
  }
}

function typeOf(value) {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "number") return Number.isInteger(value) ? "integer" : "number";
  return typeof value;
}

function accepts(types, value) {
  const t = typeOf(value);
  return types.includes(t) || (t === "integer" && types.includes(NUM));
}

// Values in messages as the Python layer shows them (repr), so both layers word errors alike.
function show(value) {
  if (typeof value === "string") return `'${value}'`;
  if (value === true || value === false) return value ? "True" : "False";
  if (value === null || value === undefined) return "None";
  if (Array.isArray(value)) return `[${value.map(show).join(", ")}]`;
  if (typeof value === "object") return `{${Object.entries(value).map(([k, v]) => `${show(k)}: ${show(v)}`).join(", ")}}`;
  return String(value);
}

function checkNumber(where, name, value, low, high) {
  if (typeof value !== "number" || !Number.isFinite(value) || value < low || value > high) {
    throw new ConfigError(`${where}.${name} must be a number from ${low} to ${high}, got ${show(value)}`);
  }
}

function parseExpiresAt(value) {
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new ConfigError(`'expires_at' must be finite, got ${show(value)}`);
    return value;
  }
  if (typeof value === "string") {
    let text = value.trim();
    // Python's fromisoformat reads a naive timestamp as UTC here; so does this.
    if (/^\d{4}-\d{2}-\d{2}(T[\d:.]+)?$/.test(text)) text += text.includes("T") ? "Z" : "T00:00:00Z";
    const ms = Date.parse(text);
    if (Number.isNaN(ms)) {
      throw new ConfigError(`'expires_at' must be epoch seconds or ISO-8601, got ${show(value)}`);
    }
    return ms / 1000;
  }
  throw new ConfigError(`'expires_at' is required: epoch seconds or ISO-8601, got ${show(value)}`);
}

function parseMatch(where, value) {
  if (value === undefined || value === null) return null;
  if (typeOf(value) !== "object") throw new ConfigError(`${where}.match must be an object, got ${show(value)}`);
  const unknown = Object.keys(value).filter((k) => !["qualifier", "source", "fields"].includes(k)).sort();
  if (unknown.length) {
    throw new ConfigError(`${where}.match has unknown field(s) ${unknown.join(", ")}: expected qualifier, source, fields`);
  }
  let qualifiers = [];
  const q = value.qualifier;
  if (q === undefined || q === null) qualifiers = [];
  else if (typeof q === "string" || Number.isInteger(q)) qualifiers = [String(q)];
  else if (Array.isArray(q) && q.every((x) => typeof x === "string" || Number.isInteger(x))) qualifiers = q.map(String);
  else throw new ConfigError(`${where}.match.qualifier must be a version or alias name, got ${show(q)}`);
  const source = value.source ?? null;
  if (source !== null && !SOURCES.includes(source)) {
    throw new ConfigError(`${where}.match.source ${show(source)} is not one of ${SOURCES.join(", ")}`);
  }
  const fields = value.fields ?? {};
  if (typeOf(fields) !== "object") throw new ConfigError(`${where}.match.fields must map dotted paths to values, got ${show(fields)}`);
  return { qualifiers, source, fields: Object.entries(fields) };
}

function checkKind(where, kind, p) {
  if (kind === "latency") {
    if (!("ms" in p) && !("min_ms" in p && "max_ms" in p)) throw new ConfigError(`${where} needs 'ms', or both 'min_ms' and 'max_ms'`);
    if ("min_ms" in p && "max_ms" in p && p.min_ms > p.max_ms) {
      throw new ConfigError(`${where}.min_ms (${p.min_ms}) is greater than max_ms (${p.max_ms})`);
    }
  } else if (kind === "status") {
    if (p.status_code < 100 || p.status_code > 599) throw new ConfigError(`${where}.status_code must be 100-599, got ${p.status_code}`);
  } else if (kind === "sdk_throttle") {
    const ops = p.operations || [];
    if (!ops.every((op) => typeof op === "string" && op)) throw new ConfigError(`${where}.operations must be operation names, got ${show(ops)}`);
    if (p.http_status !== undefined && (p.http_status < 400 || p.http_status > 599)) {
      throw new ConfigError(`${where}.http_status must be 400-599, got ${p.http_status}`);
    }
  } else if (kind === "http") {
    if (!p.hosts.length || !p.hosts.every((h) => typeof h === "string" && h)) {
      throw new ConfigError(`${where}.hosts must be a non-empty list of host patterns`);
    }
    if (p.status !== undefined && (p.status < 100 || p.status > 599)) throw new ConfigError(`${where}.status must be 100-599, got ${p.status}`);
    if (p.status === undefined && !p.connection_refused && !p.latency_ms) {
      throw new ConfigError(`${where} needs 'status', 'latency_ms' or 'connection_refused'`);
    }
  }
}

function parseFault(index, raw) {
  let where = `faults[${index}]`;
  if (typeOf(raw) !== "object") throw new ConfigError(`${where} must be an object, got ${show(raw)}`);
  const kind = raw.kind;
  if (!Object.hasOwn(FIELDS, kind)) throw new ConfigError(`${where}.kind ${show(kind)} is not one of ${KINDS.join(", ")}`);
  where = `${where} (${kind})`;
  const fields = FIELDS[kind];
  const unknown = Object.keys(raw).filter((k) => !(k in fields) && !["kind", "rate", "match"].includes(k)).sort();
  if (unknown.length) {
    throw new ConfigError(`${where} has unknown field(s) ${unknown.join(", ")}: expected ${["rate", "match", ...Object.keys(fields)].join(", ")}`);
  }
  if (!("rate" in raw)) throw new ConfigError(`${where}.rate is required: a number from 0 to 1`);
  checkNumber(where, "rate", raw.rate, 0, 1);
  const params = {};
  for (const [name, [types, required]] of Object.entries(fields)) {
    const value = raw[name];
    if (value === undefined || value === null) {
      if (required) throw new ConfigError(`${where}.${name} is required`);
      continue;
    }
    if (!accepts(types, value)) {
      const expected = types.map((t) => ({ number: "int or float", integer: "int", string: "str", object: "dict", array: "list", boolean: "bool" })[t]).join(" or ");
      throw new ConfigError(`${where}.${name} must be ${expected}, got ${show(value)}`);
    }
    if (types.length === 1 && types[0] === NUM) checkNumber(where, name, value, 0, MAX_MS);
    params[name] = value;
  }
  checkKind(where, kind, params);
  return { kind, rate: raw.rate, params, match: parseMatch(where, raw.match), position: index };
}

export const DEFAULT_MAX_FAULT_SECONDS = 4 * 3600;

// The ceiling on a config's remaining life (CHAOSKIT_MAX_FAULT_SECONDS, default 4 hours).
export function maxFaultSeconds(env) {
  const value = Number(env.CHAOSKIT_MAX_FAULT_SECONDS || DEFAULT_MAX_FAULT_SECONDS);
  return Number.isFinite(value) && value > 0 ? value : DEFAULT_MAX_FAULT_SECONDS;
}

// `now` (epoch seconds): when given, a config expiring more than `maxSeconds` later is refused.
export function parseConfig(document, now = null, maxSeconds = DEFAULT_MAX_FAULT_SECONDS) {
  let raw = document;
  if (typeof document === "string" || document instanceof Uint8Array) {
    try {
      raw = JSON.parse(String(document));
    } catch (err) {
      throw new ConfigError(`fault config is not valid JSON: ${err.message}`);
    }
  }
  if (typeOf(raw) !== "object") throw new ConfigError(`fault config must be a JSON object, got ${typeOf(raw)}`);
  const version = raw.version;
  if (typeof version !== "string" || !version) throw new ConfigError(`'version' is required: a non-empty string, got ${show(version)}`);
  if (!("expires_at" in raw)) throw new ConfigError("'expires_at' is required: epoch seconds or ISO-8601");
  const expiresAt = parseExpiresAt(raw.expires_at);
  if (now !== null && expiresAt - now > maxSeconds) {
    throw new ConfigError(`'expires_at' is ${Math.round(expiresAt - now)} s away, beyond the ${maxSeconds} s ceiling on a fault's life (CHAOSKIT_MAX_FAULT_SECONDS)`);
  }
  const runId = raw.run_id ?? null;
  if (runId !== null && typeof runId !== "string") throw new ConfigError(`'run_id' must be a string, got ${show(runId)}`);
  let faults = raw.faults ?? [];
  if (!Array.isArray(faults)) throw new ConfigError(`'faults' must be a list, got ${typeOf(faults)}`);
  faults = faults.map((f, i) => parseFault(i, f));
  const seed = raw.seed ?? null;
  if (seed !== null && typeof seed !== "string" && !Number.isInteger(seed)) {
    throw new ConfigError(`'seed' must be a string or an integer, got ${show(seed)}`);
  }
  return { version, expiresAt, faults, runId, seed: seed === null ? null : String(seed), raw };
}
