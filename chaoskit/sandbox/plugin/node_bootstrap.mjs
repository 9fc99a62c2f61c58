// The runtime interface client of a sandbox Node.js execution environment: Lambda's
// Runtime API (AWS_LAMBDA_RUNTIME_API), the handler loaded and called as Lambda's
// Node.js runtime does, console lines formatted as in CloudWatch Logs, and each
// invocation's log cut by marks the executor reads. Standard library only.
//   node node_bootstrap.mjs [LOADER]   (LOADER: the handler loader module; default beside this file)
import net from "node:net";
import util from "node:util";
import { pathToFileURL } from "node:url";

const MARK = "\x1fchaoskit:";
const connect = net.connect; // captured before user code (or a fault) patches anything
const api = process.env.AWS_LAMBDA_RUNTIME_API;
const loaderUrl = process.argv[2] ? pathToFileURL(process.argv[2]).href : new URL("./node_loader.mjs", import.meta.url).href;
let currentRequestId = "";
let callHandler; // Lambda's calling rules, from the loader module

// HTTP/1.1 to the Runtime API on one kept-alive socket, one request at a time, as
// AWS's runtime interface clients do (theirs is native code). node:http cost about
// 0.4 ms of CPU per invocation for its next + response pair, this 0.17 ms. The
// sandbox serves each connection on a thread of its own, so one connection, reused.
// Answers are read by Content-Length, chunked, or until the close; an answer with
// "Connection: close" closes the socket; a request whose reused connection closed
// before any byte of its answer is sent once more on a new one.
let socket = null;
let received = Buffer.alloc(0);
let pending = null; // {resolve, reject, retry}

function openSocket() {
  const [host, port] = api.split(":");
  const opened = connect({ host, port: Number(port) });
  opened.setNoDelay(true);
  opened.on("data", (chunk) => {
    received = received.length ? Buffer.concat([received, chunk]) : chunk;
    answer(false);
  });
  const closed = (err) => {
    if (socket !== opened) return;
    socket = null;
    if (pending) answer(true, err);
  };
  opened.on("error", closed);
  opened.on("close", () => closed(null));
  return opened;
}

function parseAnswer(ended) {
  const end = received.indexOf("\r\n\r\n");
  if (end < 0) return null;
  const lines = received.toString("latin1", 0, end).split("\r\n");
  const headers = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  let at = end + 4;
  let body;
  if (headers["content-length"] !== undefined) {
    const length = Number(headers["content-length"]);
    if (received.length < at + length) return null;
    body = received.subarray(at, at + length);
    at += length;
  } else if (/chunked/i.test(headers["transfer-encoding"] || "")) {
    const parts = [];
    for (;;) {
      const lineEnd = received.indexOf("\r\n", at);
      if (lineEnd < 0) return null;
      const size = parseInt(received.toString("latin1", at, lineEnd), 16);
      if (Number.isNaN(size)) throw new Error("malformed chunked answer from the Runtime API");
      if (size === 0) { // then trailers, if any, and an empty line
        if (received.length < lineEnd + 4) return null;
        if (received[lineEnd + 2] === 13 && received[lineEnd + 3] === 10) {
          at = lineEnd + 4;
        } else {
          const trailersEnd = received.indexOf("\r\n\r\n", lineEnd + 2);
          if (trailersEnd < 0) return null;
          at = trailersEnd + 4;
        }
        break;
      }
      if (received.length < lineEnd + 2 + size + 2) return null;
      parts.push(received.subarray(lineEnd + 2, lineEnd + 2 + size));
      at = lineEnd + 2 + size + 2;
    }
    body = Buffer.concat(parts);
  } else {
    if (!ended) return null; // no length: the close ends it
    body = received.subarray(at);
  }
  return { status: Number(lines[0].split(" ")[1]), headers, body: body.toString("utf8") };
}

function answer(ended, err) {
  if (!pending) return;
  let parsed;
  try {
    parsed = parseAnswer(ended);
  } catch (parseErr) {
    parsed = null;
    err = parseErr;
    ended = true;
    if (socket) socket.destroy();
  }
  if (parsed) {
    const { resolve } = pending;
    pending = null;
    if (/close/i.test(parsed.headers.connection || "") && socket) {
      const closing = socket;
      socket = null;
      closing.destroy();
    }
    received = Buffer.alloc(0);
    resolve(parsed);
  } else if (ended) {
    const { reject, retry } = pending;
    pending = null;
    const nothingYet = received.length === 0;
    received = Buffer.alloc(0);
    if (retry && nothingYet) retry();
    else reject(err || new Error("the Runtime API closed the connection"));
  }
}

function send(method, path, body) {
  const payload = Buffer.from(body || "", "utf8");
  const head = Buffer.from(
    `${method} /2018-06-01/runtime${path} HTTP/1.1\r\nHost: ${api}\r\n` +
    `Content-Type: application/json\r\nContent-Length: ${payload.length}\r\n\r\n`, "latin1");
  const message = payload.length ? Buffer.concat([head, payload]) : head;
  return new Promise((resolve, reject) => {
    const attempt = (mayRetry) => {
      const reused = socket !== null;
      if (!socket) socket = openSocket();
      received = Buffer.alloc(0);
      pending = { resolve, reject, retry: mayRetry && reused ? () => attempt(false) : null };
      socket.write(message);
    };
    attempt(true);
  });
}

function installConsole() {
  for (const [name, level] of [["log", "INFO"], ["info", "INFO"], ["warn", "WARN"], ["error", "ERROR"], ["debug", "DEBUG"], ["trace", "TRACE"]]) {
    console[name] = (...args) => {
      const text = util.format(...args).replace(/\n/g, "\r");
      process.stdout.write(`${new Date().toISOString()}\t${currentRequestId || "undefined"}\t${level}\t${text}\n`);
    };
  }
}

function mark(kind, requestId) {
  process.stdout.write(`${MARK}${kind} ${requestId}\n`);
}

function errorBody(err) {
  const error = err instanceof Error ? err : new Error(String(err));
  return JSON.stringify({
    errorType: error.name || "Error",
    errorMessage: error.message || "",
    trace: String(error.stack || "").split("\n"),
  });
}

function contextFor(headers) {
  const deadline = Number(headers["lambda-runtime-deadline-ms"] || Date.now() + 3000);
  const env = process.env;
  return {
    awsRequestId: headers["lambda-runtime-aws-request-id"],
    invokedFunctionArn: headers["lambda-runtime-invoked-function-arn"],
    functionName: env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: env.AWS_LAMBDA_FUNCTION_VERSION || "$LATEST",
    memoryLimitInMB: env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE || "128",
    logGroupName: env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: env.AWS_LAMBDA_LOG_STREAM_NAME,
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
}

async function main() {
  installConsole();
  let handler;
  let loadHandler;
  try {
    ({ loadHandler, callHandler } = await import(loaderUrl));
    handler = await loadHandler(process.env.LAMBDA_TASK_ROOT || process.cwd(), process.env._HANDLER || "");
  } catch (err) {
    console.error(`${err.name}: ${err.message}`);
    await send("POST", "/init/error", errorBody(err));
    process.exit(129);
  }
  for (;;) {
    const { headers, body } = await send("GET", "/invocation/next");
    const requestId = headers["lambda-runtime-aws-request-id"];
    process.env._X_AMZN_TRACE_ID = headers["lambda-runtime-trace-id"] || "";
    currentRequestId = requestId;
    mark("start", requestId);
    let outcome;
    try {
      const value = await callHandler(handler, body ? JSON.parse(body) : {}, contextFor(headers));
      outcome = ["response", JSON.stringify(value === undefined ? null : value)];
    } catch (err) {
      console.error(`Invoke Error \t${errorBody(err)}`);
      outcome = ["error", errorBody(err)];
    }
    mark("end", requestId);
    currentRequestId = "";
    await send("POST", `/invocation/${requestId}/${outcome[0]}`, outcome[1]);
  }
}

process.on("unhandledRejection", (reason) => {
  console.error(`Unhandled Promise Rejection \t${errorBody(reason)}`);
  process.exit(128);
});

main();
