// The entry point the exec wrapper puts in front of a Node.js function's own handler:
// _HANDLER=<layer>/nodejs/node_modules/chaoskit-layer/handler.handler, with the function's
// handler kept in CHAOSKIT_ORIGINAL_HANDLER. The original handler is loaded here, at
// import, so the function's init code still runs in the init phase. A handler that cannot
// be loaded does not fail this module's import: init logs the error, and each invocation
// fails with it (Lambda's own error, Runtime.ImportModuleError and the like) through the
// layer, so the events are on record as attempted and failed with it, as in Python.
import { loadHandler } from "./loader.mjs";
import { Layer } from "./layer.mjs";

const root = process.env.LAMBDA_TASK_ROOT || process.cwd();
const spec = process.env.CHAOSKIT_ORIGINAL_HANDLER;

async function load() {
  if (!spec) {
    const err = new Error("CHAOSKIT_ORIGINAL_HANDLER is not set: chaoskit does not know which handler to run");
    err.name = "Runtime.HandlerNotFound";
    throw err;
  }
  return loadHandler(root, spec);
}

let original = null;
try {
  original = await load();
} catch (err) {
  console.error(`[ERROR] ${err.name}: ${err.message}`);
}
let layer = null;

export async function handler(event, context) {
  layer = layer || new Layer();
  let run = original;
  if (!run) {
    // Loaded again at each invocation, as Lambda runs a failed init again.
    try {
      run = original = await load();
    } catch (err) {
      run = async () => {
        throw err;
      };
    }
  }
  return layer.invoke(run, event, context);
}
