import test from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { LAYER, tempApp } from "./helpers.mjs";

const { loadHandler } = await import(path.join(LAYER, "loader.mjs"));

const app = tempApp({
  "index.mjs": "export const handler = async () => 'esm';\nexport const nested = { deep: { fn: async () => 'nested' } };\nexport const notFn = 1;\n",
  "cjs.js": "exports.handler = async () => 'cjs';\n",
  "sub/dir/mod.cjs": "module.exports.go = async () => 'sub';\n",
  "esmpkg/package.json": '{"type": "module"}',
  "esmpkg/app.js": "export const handler = async () => 'esm-js';\n",
  "broken.mjs": "export const handler = async () => {\n",
  "throws.mjs": "throw new RangeError('init failed in user code');\n",
});

test("handlers load from .mjs, .js (CommonJS or a module package), .cjs and nested paths", async () => {
  assert.equal(await (await loadHandler(app, "index.handler"))(), "esm");
  assert.equal(await (await loadHandler(app, "cjs.handler"))(), "cjs");
  assert.equal(await (await loadHandler(app, "sub/dir/mod.go"))(), "sub");
  assert.equal(await (await loadHandler(app, "esmpkg/app.handler"))(), "esm-js");
  assert.equal(await (await loadHandler(app, "index.nested.deep.fn"))(), "nested");
});

test("errors are Lambda's own: HandlerNotFound, MalformedHandlerName, ImportModuleError, UserCodeSyntaxError", async () => {
  await assert.rejects(loadHandler(app, "index.missing"), { name: "Runtime.HandlerNotFound", message: "index.missing is undefined or not exported" });
  await assert.rejects(loadHandler(app, "index.notFn"), { name: "Runtime.HandlerNotFound", message: "index.notFn is not a function" });
  await assert.rejects(loadHandler(app, "nodot"), { name: "Runtime.MalformedHandlerName", message: "Bad handler nodot" });
  await assert.rejects(loadHandler(app, "../index.handler"), { name: "Runtime.MalformedHandlerName" });
  await assert.rejects(loadHandler(app, "nothere.handler"), (err) => err.name === "Runtime.ImportModuleError" && err.message.includes("'nothere'"));
  await assert.rejects(loadHandler(app, "broken.handler"), (err) => err.name === "Runtime.UserCodeSyntaxError" && err.stack.includes("broken.mjs"));
});

test("an error thrown by the user's init code is the user's error, naming the user's module", async () => {
  await assert.rejects(loadHandler(app, "throws.handler"), (err) => err.name === "RangeError" && err.stack.includes("throws.mjs"));
});
