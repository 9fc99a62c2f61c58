// Load a function's handler from its handler string the way Lambda's Node.js runtime
// does, and fail with the errors it reports: Runtime.MalformedHandlerName,
// Runtime.ImportModuleError, Runtime.UserCodeSyntaxError, Runtime.HandlerNotFound.
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";

export class RuntimeError extends Error {
  constructor(type, message, cause, file) {
    super(message);
    this.name = `Runtime.${type}`;
    // The message is Lambda's; the trace names the user's file (an ES module's
    // SyntaxError does not), never chaoskit's.
    const where = file ? `    at ${file}\n` : "";
    if (cause && cause.stack) this.stack = `${this.name}: ${message}\n${where}${cause.stack}`;
  }
}

function split(full) {
  const base = path.basename(full);
  const moduleRoot = full.substring(0, full.indexOf(base));
  const match = base.match(/^([^.]*)\.(.*)$/);
  if (!match) throw new RuntimeError("MalformedHandlerName", `Bad handler ${full}`);
  if (moduleRoot.includes("..")) throw new RuntimeError("MalformedHandlerName", "'../' not allowed in handler path");
  return [moduleRoot, match[1], match[2]];
}

function packageType(dir, stop) {
  for (let d = dir; ; d = path.dirname(d)) {
    const file = path.join(d, "package.json");
    if (fs.existsSync(file)) {
      try {
        return JSON.parse(fs.readFileSync(file, "utf8")).type === "module" ? "module" : "commonjs";
      } catch {
        return "commonjs";
      }
    }
    if (d === stop || d === path.dirname(d)) return "commonjs";
  }
}

async function importOrRequire(file, esm, moduleName) {
  try {
    if (esm) return await import(pathToFileURL(file).href);
    return createRequire(file)(file);
  } catch (err) {
    if (err instanceof SyntaxError) throw new RuntimeError("UserCodeSyntaxError", `${err.name}: ${err.message}`, err, file);
    if (err && (err.code === "MODULE_NOT_FOUND" || err.code === "ERR_MODULE_NOT_FOUND")) {
      throw new RuntimeError("ImportModuleError", `Error: ${err.message}`, err);
    }
    throw err;
  }
}

async function loadModule(appRoot, moduleRoot, moduleName) {
  const base = path.resolve(appRoot, moduleRoot, moduleName);
  if (fs.existsSync(`${base}.mjs`)) return importOrRequire(`${base}.mjs`, true, moduleName);
  if (fs.existsSync(`${base}.cjs`)) return importOrRequire(`${base}.cjs`, false, moduleName);
  if (fs.existsSync(`${base}.js`)) {
    return importOrRequire(`${base}.js`, packageType(path.dirname(base), appRoot) === "module", moduleName);
  }
  // Not a file: a package on the module path, as `require(name)` finds it.
  let resolved;
  try {
    resolved = createRequire(path.join(appRoot, moduleRoot, "noop.js")).resolve(moduleName);
  } catch (err) {
    throw new RuntimeError("ImportModuleError", `Error: Cannot find module '${moduleName}'`, err);
  }
  return importOrRequire(resolved, resolved.endsWith(".mjs"), moduleName);
}

// Return the handler function named by `full` ("path/module.function[.nested]").
export async function loadHandler(appRoot, full) {
  const [moduleRoot, moduleName, handlerPath] = split(String(full || "").trim());
  const mod = await loadModule(appRoot, moduleRoot, moduleName);
  let value = mod;
  for (const part of handlerPath.split(".")) {
    value = value === null || value === undefined ? undefined : value[part];
    // An ES module's CommonJS default export holds the handler.
    if (value === undefined && mod && mod.default && part === handlerPath.split(".")[0]) value = mod.default[part];
  }
  if (value === undefined) throw new RuntimeError("HandlerNotFound", `${full} is undefined or not exported`);
  if (typeof value !== "function") throw new RuntimeError("HandlerNotFound", `${full} is not a function`);
  return value;
}

// Call a handler the way Lambda's Node.js runtime does: a returned promise, or the
// callback (and the legacy context.succeed/fail/done, where the context takes them).
export function callHandler(handler, event, context) {
  return new Promise((resolve, reject) => {
    let settled = false;
    const done = (err, value) => {
      if (settled) return;
      settled = true;
      if (err !== null && err !== undefined) reject(err);
      else resolve(value);
    };
    if (context && typeof context === "object" && !Object.isFrozen(context)) {
      context.succeed = (v) => done(null, v);
      context.fail = (e) => done(e ?? new Error("handled"));
      context.done = done;
    }
    let result;
    try {
      result = handler(event, context, done);
    } catch (err) {
      done(err);
      return;
    }
    if (result && typeof result.then === "function") result.then((v) => done(null, v), (e) => done(e ?? new Error("handler rejected")));
    else if (handler.length < 3) done(null, result);
  });
}
