// The layer's log lines: one JSON object per line on stdout, as the Python layer writes.
let sink = (line) => process.stdout.write(`${line}\n`);

export function setSink(next) {
  const previous = sink;
  sink = next || ((line) => process.stdout.write(`${line}\n`));
  return previous;
}

function emit(record) {
  try {
    const sorted = Object.fromEntries(Object.keys(record).sort().map((k) => [k, record[k]]));
    sink(JSON.stringify(sorted));
  } catch {
    // logging never breaks an invocation
  }
}

// While an invocation runs, the faults that fired in it ({kind, rate}), and how many of
// its calls ended on an injected fault, per kind (the client retried no more); null
// outside one. `firstFired(kind, rate)` is called the first time each fault fires in it,
// before the fault acts: the layer puts that firing on record at once, so an invocation
// killed at its timeout (a throttled call retrying past it) still leaves it.
export const state = { fired: null, gaveUps: null, firstFired: null };

export function fault(kind, version, roll, rate, detail = {}) {
  if (state.fired) {
    const first = !state.fired.some((f) => f.kind === kind && f.rate === rate);
    state.fired.push({ kind, rate });
    if (first && state.firstFired) state.firstFired(kind, rate);
  }
  emit({ chaoskit: "fault", level: "INFO", kind, version, roll: Math.round(roll * 1e6) / 1e6, rate, at: Math.round(Date.now()) / 1000, ...detail });
}

// One call that failed for good on an injected fault: its client retries no more.
export function gaveUp(kind, version, detail = {}) {
  if (state.gaveUps) state.gaveUps[kind] = (state.gaveUps[kind] || 0) + 1;
  emit({ chaoskit: "gave_up", level: "WARNING", kind, version, at: Math.round(Date.now()) / 1000, ...detail });
}

export function warning(message, detail = {}) {
  emit({ chaoskit: "warning", level: "WARNING", message, ...detail });
}
