// The runtime interface client of a sandbox Node.js execution environment: Lambda's
// Runtime API (AWS_LAMBDA_RUNTIME_API), the handler loaded and called as Lambda's
// Node.js runtime does, console lines formatted as in CloudWatch Logs, and each
// invocation's log cut by marks the executor reads. Standard library only.
//   node node_bootstrap.mjs [LOADER]   (LOADER: the handler loader module; default beside this file)
import http from "node:http";
import util from "node:util";
import { pathToFileURL } from "node:url";

const MARK = "\x1fchaoskit:";
const request = http.request; // captured before user code (or a fault) patches it
// One kept-alive connection to the Runtime API, not one per request: the sandbox
// serves each connection on a thread of its own. A private agent, so user code
// that changes http.globalAgent does not change it.
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const api = process.env.AWS_LAMBDA_RUNTIME_API;
const loaderUrl = process.argv[2] ? pathToFileURL(process.argv[2]).href : new URL("./node_loader.mjs", import.meta.url).href;
let currentRequestId = "";
let callHandler; // Lambda's calling rules, from the loader module

function send(method, path, body) {
  const [host, port] = api.split(":");
  return new Promise((resolve, reject) => {
    const req = request({ host, port, method, path: `/2018-06-01/runtime${path}`, agent,
                          headers: { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body || "") } }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body || "");
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
