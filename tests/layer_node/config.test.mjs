import test from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { LAYER, ROOT, readJson } from "./helpers.mjs";

const { parseConfig, ConfigError, naturalThrottle } = await import(path.join(LAYER, "config.mjs"));
const cases = readJson(path.join(ROOT, "tests/layer/config_cases.json"));

test("every document the Python layer refuses, the Node.js layer refuses, naming the same field", () => {
  assert.ok(cases.refused.length >= 20);
  for (const { document, named } of cases.refused) {
    assert.throws(() => parseConfig(typeof document === "string" ? document : JSON.stringify(document)),
      (err) => err instanceof ConfigError && err.message.includes(named), `${JSON.stringify(document)} -> ${named}`);
  }
});

test("every document the Python layer accepts, the Node.js layer accepts with as many faults", () => {
  for (const { document, faults } of cases.accepted) {
    const parsed = parseConfig(document);
    assert.equal(parsed.faults.length, faults);
    assert.equal(parsed.version, document.version);
  }
});

test("ISO expiry is read as UTC epoch seconds", () => {
  assert.equal(parseConfig({ version: "v", expires_at: "2030-01-01T00:00:00Z" }).expiresAt, 1893456000);
  assert.equal(parseConfig({ version: "v", expires_at: "2030-01-01T00:00:00" }).expiresAt, 1893456000);
});

test("natural throttle codes follow each service", () => {
  assert.deepEqual(naturalThrottle("dynamodb"), ["ProvisionedThroughputExceededException", 400]);
  assert.deepEqual(naturalThrottle("s3"), ["SlowDown", 503]);
  assert.deepEqual(naturalThrottle("sqs"), ["ThrottlingException", 400]);
});
