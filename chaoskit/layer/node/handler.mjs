// The entry point the exec wrapper puts in front of a Node.js function's own handler:
// _HANDLER=<layer>/nodejs/node_modules/chaoskit-layer/handler.handler, with the function's
// handler kept in CHAOSKIT_ORIGINAL_HANDLER. The original handler is loaded here, at
// import, so the function's init code still runs in the init phase, and a handler that
// cannot be loaded fails init with the error Lambda reports without the layer.
import { loadHandler } from "./loader.mjs";
import { Layer } from "./layer.mjs";

const spec = process.env.CHAOSKIT_ORIGINAL_HANDLER;
if (!spec) {
  const err = new Error("CHAOSKIT_ORIGINAL_HANDLER is not set: chaoskit does not know which handler to run");
  err.name = "Runtime.HandlerNotFound";
  throw err;
}
const original = await loadHandler(process.env.LAMBDA_TASK_ROOT || process.cwd(), spec);
let layer = null;

export async function handler(event, context) {
  layer = layer || new Layer();
  return layer.invoke(original, event, context);
}
