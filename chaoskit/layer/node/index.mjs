// chaoskit's Node.js layer, for code-level use:
//   import { inject } from "chaoskit-layer";
//   export const handler = inject(async (event, context) => { ... });
export { inject, Layer, ConfigLoader, callHandler } from "./layer.mjs";
export { parseConfig, ConfigError } from "./config.mjs";
export { findTraces, detectSource } from "./events.mjs";
