// A Node.js test function: answers what it saw, calls a third-party URL and DynamoDB
// when asked, and handles SQS batches with partial batch responses.
import crypto from "node:crypto";

function sign(url, body, target) {
  const env = process.env;
  const amzDate = new Date().toISOString().replace(/[:-]|\.\d{3}/g, "");
  const day = amzDate.slice(0, 8);
  const region = env.AWS_REGION || "us-east-1";
  const headers = { "content-type": "application/x-amz-json-1.0", host: url.host, "x-amz-date": amzDate, "x-amz-target": target };
  if (env.AWS_SESSION_TOKEN) headers["x-amz-security-token"] = env.AWS_SESSION_TOKEN;
  const names = Object.keys(headers).sort();
  const hash = (d) => crypto.createHash("sha256").update(d).digest("hex");
  const canonical = ["POST", "/", "", ...names.map((n) => `${n}:${headers[n]}`), "", names.join(";"), hash(body)].join("\n");
  const scope = `${day}/${region}/dynamodb/aws4_request`;
  let key = crypto.createHmac("sha256", `AWS4${env.AWS_SECRET_ACCESS_KEY}`).update(day).digest();
  for (const part of [region, "dynamodb", "aws4_request"]) key = crypto.createHmac("sha256", key).update(part).digest();
  const signature = crypto.createHmac("sha256", key).update(["AWS4-HMAC-SHA256", amzDate, scope, hash(canonical)].join("\n")).digest("hex");
  headers.authorization = `AWS4-HMAC-SHA256 Credential=${env.AWS_ACCESS_KEY_ID}/${scope}, SignedHeaders=${names.join(";")}, Signature=${signature}`;
  return headers;
}

async function listTables() {
  const url = new URL(process.env.AWS_ENDPOINT_URL || `https://dynamodb.${process.env.AWS_REGION}.amazonaws.com`);
  const body = "{}";
  const res = await fetch(url, { method: "POST", headers: sign(url, body, "DynamoDB_20120810.ListTables"), body });
  const doc = await res.json();
  return { status: res.status, type: doc.__type || null };
}

export const handler = async (event, context) => {
  if (Array.isArray(event.Records)) {
    const failures = event.Records.filter((r) => String(r.body).includes('"poison"')).map((r) => ({ itemIdentifier: r.messageId }));
    return { batchItemFailures: failures };
  }
  const out = { ok: true, fn: context.functionName };
  if (event.url) {
    try {
      const res = await fetch(event.url);
      out.http = { status: res.status, retryAfter: res.headers.get("retry-after") };
    } catch (err) {
      out.http = { error: err.cause ? err.cause.code : err.message };
    }
  }
  if (event.dynamodb) out.dynamodb = await listTables();
  return out;
};
