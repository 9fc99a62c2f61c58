// The layer's own AWS calls (SSM GetParameter, DynamoDB writes), dependency-free:
// AWS JSON protocol over node:https, signed with Signature Version 4. The request
// functions are captured at import, before any fault patches them, so an sdk_throttle
// or http fault never hits chaoskit's own traffic.
import crypto from "node:crypto";
import http from "node:http";
import https from "node:https";

const httpRequest = http.request;
const httpsRequest = https.request;

const JSON_TARGETS = {
  ssm: ["AmazonSSM", "1.1"],
  dynamodb: ["DynamoDB_20120810", "1.0"],
};

const hmac = (key, data) => crypto.createHmac("sha256", key).update(data, "utf8").digest();
const sha256 = (data) => crypto.createHash("sha256").update(data, "utf8").digest("hex");

export function endpointFor(service, env = process.env) {
  const specific = env[`AWS_ENDPOINT_URL_${service.toUpperCase()}`];
  const region = env.AWS_REGION || env.AWS_DEFAULT_REGION || "us-east-1";
  return new URL(specific || env.AWS_ENDPOINT_URL || `https://${service}.${region}.amazonaws.com`);
}

// Return the headers of a SigV4-signed POST of `body` to `url` for `service`.
export function sign({ service, region, url, headers, body, env = process.env, now = new Date() }) {
  const amzDate = now.toISOString().replace(/[:-]|\.\d{3}/g, "");
  const day = amzDate.slice(0, 8);
  const all = { ...headers, host: url.host, "x-amz-date": amzDate };
  if (env.AWS_SESSION_TOKEN) all["x-amz-security-token"] = env.AWS_SESSION_TOKEN;
  const names = Object.keys(all).map((k) => k.toLowerCase()).sort();
  const lower = Object.fromEntries(Object.entries(all).map(([k, v]) => [k.toLowerCase(), String(v).trim()]));
  const canonical = [
    "POST", url.pathname || "/", "",
    ...names.map((n) => `${n}:${lower[n]}`), "",
    names.join(";"), sha256(body),
  ].join("\n");
  const scope = `${day}/${region}/${service}/aws4_request`;
  const toSign = ["AWS4-HMAC-SHA256", amzDate, scope, sha256(canonical)].join("\n");
  let key = hmac(`AWS4${env.AWS_SECRET_ACCESS_KEY || ""}`, day);
  for (const part of [region, service, "aws4_request"]) key = hmac(key, part);
  const signature = crypto.createHmac("sha256", key).update(toSign, "utf8").digest("hex");
  return {
    ...all,
    authorization: `AWS4-HMAC-SHA256 Credential=${env.AWS_ACCESS_KEY_ID || ""}/${scope}, SignedHeaders=${names.join(";")}, Signature=${signature}`,
  };
}

export class AwsError extends Error {
  constructor(code, message, status) {
    super(`${code}: ${message}`);
    this.name = "AwsError";
    this.code = code;
    this.status = status;
  }
}

// Call `operation` on `service` (AWS JSON protocol); resolve with the decoded answer.
export function call(service, operation, input, { timeoutMs = 3000, env = process.env } = {}) {
  const [prefix, version] = JSON_TARGETS[service];
  const url = endpointFor(service, env);
  const region = env.AWS_REGION || env.AWS_DEFAULT_REGION || "us-east-1";
  const body = JSON.stringify(input);
  const headers = sign({
    service, region, url, body, env,
    headers: {
      "content-type": `application/x-amz-json-${version}`,
      "x-amz-target": `${prefix}.${operation}`,
      "user-agent": "chaoskit-layer-node",
    },
  });
  headers["content-length"] = Buffer.byteLength(body);
  const request = url.protocol === "http:" ? httpRequest : httpsRequest;
  return new Promise((resolve, reject) => {
    const req = request(url, { method: "POST", headers, timeout: timeoutMs, agent: false }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        let doc = {};
        try {
          doc = text ? JSON.parse(text) : {};
        } catch {
          doc = { message: text };
        }
        if (res.statusCode >= 300) {
          const code = String(doc.__type || res.headers["x-amzn-errortype"] || res.statusCode).split("#").pop().split(":")[0];
          reject(new AwsError(code, doc.message || doc.Message || "", res.statusCode));
        } else {
          resolve(doc);
        }
      });
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`${service}:${operation} timed out after ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end(body);
  });
}
