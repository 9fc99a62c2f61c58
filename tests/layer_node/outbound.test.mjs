import test from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import path from "node:path";
import { LAYER, server } from "./helpers.mjs";

const outbound = await import(path.join(LAYER, "outbound.mjs"));
const aws = await import(path.join(LAYER, "aws.mjs"));
const fault = (kind, params, rate = 1) => ({ kind, rate, params, match: null });

function get(url, options = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, options, (res) => {
      let body = "";
      res.on("data", (c) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end(options.body || "");
  });
}

test("an http fault answers 429 with Retry-After and the server never sees the call", async () => {
  const srv = await server();
  const disarm = outbound.arm([fault("http", { hosts: ["127.0.0.1"], status: 429, retry_after: 3 })], "v1", () => 0);
  try {
    const res = await get(`http://127.0.0.1:${srv.port}/pay`);
    assert.equal(res.status, 429);
    assert.equal(res.headers["retry-after"], "3");
    assert.equal(srv.hits.length, 0);
  } finally {
    disarm();
  }
  assert.equal((await get(`http://127.0.0.1:${srv.port}/pay`)).status, 200); // disarmed: through
  assert.equal(srv.hits.length, 1);
  await srv.close();
});

test("fetch gets the same faults: a canned 503, and connection refused", async () => {
  const srv = await server();
  let disarm = outbound.arm([fault("http", { hosts: ["127.0.0.1:*"], status: 503 })], "v1", () => 0);
  assert.equal((await fetch(`http://127.0.0.1:${srv.port}/`)).status, 503);
  disarm();
  disarm = outbound.arm([fault("http", { hosts: ["127.0.0.1"], connection_refused: true })], "v1", () => 0);
  await assert.rejects(fetch(`http://127.0.0.1:${srv.port}/`), (err) => err.cause && err.cause.code === "ECONNREFUSED");
  await assert.rejects(get(`http://127.0.0.1:${srv.port}/`), { code: "ECONNREFUSED" });
  disarm();
  assert.equal(srv.hits.length, 0);
  await srv.close();
});

test("a latency fault delays the call, which then reaches the server", async () => {
  const srv = await server();
  const disarm = outbound.arm([fault("http", { hosts: ["127.0.0.1"], latency_ms: 120 })], "v1", () => 0);
  const started = Date.now();
  try {
    assert.equal((await get(`http://127.0.0.1:${srv.port}/slow`)).status, 200);
  } finally {
    disarm();
  }
  assert.ok(Date.now() - started >= 110);
  assert.equal(srv.hits.length, 1);
  await srv.close();
});

test("hosts that match no pattern go through untouched", async () => {
  const srv = await server();
  const disarm = outbound.arm([fault("http", { hosts: ["payments.example.com"], status: 429 })], "v1", () => 0);
  try {
    assert.equal((await get(`http://127.0.0.1:${srv.port}/`)).status, 200);
  } finally {
    disarm();
  }
  await srv.close();
});

test("sdk throttling answers a signed DynamoDB call with the service's own throttling error", async () => {
  const srv = await server();
  const env = { AWS_ACCESS_KEY_ID: "AKID", AWS_SECRET_ACCESS_KEY: "secret", AWS_REGION: "us-east-1" };
  const url = new URL(`http://127.0.0.1:${srv.port}/`);
  const body = JSON.stringify({ TableName: "orders", Item: {} });
  const headers = aws.sign({ service: "dynamodb", region: "us-east-1", url, body, env,
    headers: { "content-type": "application/x-amz-json-1.0", "x-amz-target": "DynamoDB_20120810.PutItem" } });
  const disarm = outbound.arm([fault("sdk_throttle", { service: "dynamodb", operations: ["put_item"] })], "v1", () => 0);
  try {
    const res = await get(url, { method: "POST", headers, body });
    assert.equal(res.status, 400);
    assert.equal(JSON.parse(res.body).__type, "ProvisionedThroughputExceededException");
    assert.match(res.headers["x-amzn-errortype"], /^ProvisionedThroughputExceededException/);
    // Another operation of the same service is not throttled.
    const scan = aws.sign({ service: "dynamodb", region: "us-east-1", url, body, env,
      headers: { "content-type": "application/x-amz-json-1.0", "x-amz-target": "DynamoDB_20120810.Scan" } });
    assert.equal((await get(url, { method: "POST", headers: scan, body })).status, 200);
  } finally {
    disarm();
  }
  assert.equal(srv.hits.length, 1);
  await srv.close();
});

test("query-protocol services get the XML error document", () => {
  const res = outbound.throttleResponse("sqs", { "content-type": "application/x-www-form-urlencoded" }, "Throttling", 400, "slow down");
  assert.match(res.body, /<ErrorResponse><Error><Type>Sender<\/Type><Code>Throttling<\/Code>/);
});

test("the layer's own AWS calls are never faulted", async () => {
  const srv = await server((req, res) => { res.setHeader("content-type", "application/x-amz-json-1.1"); res.end('{"Parameter": {"Value": "x"}}'); });
  const disarm = outbound.arm([fault("sdk_throttle", { service: "ssm" }), fault("http", { hosts: ["*"], status: 500 })], "v1", () => 0);
  try {
    const env = { AWS_ENDPOINT_URL: `http://127.0.0.1:${srv.port}`, AWS_ACCESS_KEY_ID: "a", AWS_SECRET_ACCESS_KEY: "b" };
    const out = await aws.call("ssm", "GetParameter", { Name: "/x" }, { env });
    assert.equal(out.Parameter.Value, "x");
  } finally {
    disarm();
  }
  assert.equal(srv.hits.length, 1);
  await srv.close();
});
