// Reproducible rate rolls, as chaoskit/layer/rolls.py makes them: with a seed in the fault
// config, each traced event rolls for fault N on BLAKE2b-64(seed, N, kind, event key) / 2^64,
// the same number the Python layer computes, and an invocation of n events rolls
// 1 - (1 - smallest)^n; so a seed fires the same faults on the same events whichever
// runtime handles them. Other draws (a latency range, downstream rolls)
// come from a generator seeded the same way; those sequences are Node.js's own.

const MASK = (1n << 64n) - 1n;
const IV = [
  0x6a09e667f3bcc908n, 0xbb67ae8584caa73bn, 0x3c6ef372fe94f82bn, 0xa54ff53a5f1d36f1n,
  0x510e527fade682d1n, 0x9b05688c2b3e6c1fn, 0x1f83d9abfb41bd6bn, 0x5be0cd19137e2179n,
];
const SIGMA = [
  [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
  [14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3],
  [11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4],
  [7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8],
  [9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13],
  [2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9],
  [12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11],
  [13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10],
  [6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5],
  [10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0],
];
const rotr = (x, n) => ((x >> n) | (x << (64n - n))) & MASK;

function compress(h, block, t, last) {
  const m = [];
  for (let i = 0; i < 16; i++) {
    let w = 0n;
    for (let b = 7; b >= 0; b--) w = (w << 8n) | BigInt(block[i * 8 + b]);
    m.push(w);
  }
  const v = [...h, ...IV];
  v[12] ^= t & MASK;
  v[13] ^= t >> 64n;
  if (last) v[14] ^= MASK;
  const g = (a, b, c, d, x, y) => {
    v[a] = (v[a] + v[b] + x) & MASK; v[d] = rotr(v[d] ^ v[a], 32n);
    v[c] = (v[c] + v[d]) & MASK; v[b] = rotr(v[b] ^ v[c], 24n);
    v[a] = (v[a] + v[b] + y) & MASK; v[d] = rotr(v[d] ^ v[a], 16n);
    v[c] = (v[c] + v[d]) & MASK; v[b] = rotr(v[b] ^ v[c], 63n);
  };
  for (let r = 0; r < 12; r++) {
    const s = SIGMA[r % 10];
    g(0, 4, 8, 12, m[s[0]], m[s[1]]); g(1, 5, 9, 13, m[s[2]], m[s[3]]);
    g(2, 6, 10, 14, m[s[4]], m[s[5]]); g(3, 7, 11, 15, m[s[6]], m[s[7]]);
    g(0, 5, 10, 15, m[s[8]], m[s[9]]); g(1, 6, 11, 12, m[s[10]], m[s[11]]);
    g(2, 7, 8, 13, m[s[12]], m[s[13]]); g(3, 4, 9, 14, m[s[14]], m[s[15]]);
  }
  for (let i = 0; i < 8; i++) h[i] ^= v[i] ^ v[i + 8];
}

// BLAKE2b with an 8-byte digest (Python's hashlib.blake2b(data, digest_size=8)), as a
// big-endian integer, as rolls.py reads it.
export function blake2b64(data) {
  const bytes = Buffer.from(data, "utf8");
  const h = [...IV];
  h[0] ^= 0x01010000n ^ 8n;
  let t = 0n;
  let offset = 0;
  do {
    const block = Buffer.alloc(128);
    const chunk = bytes.subarray(offset, offset + 128);
    chunk.copy(block);
    offset += 128;
    t += BigInt(chunk.length);
    compress(h, block, t, offset >= bytes.length);
  } while (offset < bytes.length);
  let out = 0n;
  for (let b = 0; b < 8; b++) out = (out << 8n) | ((h[0] >> BigInt(8 * b)) & 0xffn);
  return out;
}

const digest = (...parts) => blake2b64(parts.map(String).join("\x1f"));

export function invocationKey(event, eventIds, requestId) {
  if (!eventIds.length) return `request:${requestId || ""}`;
  let key = [...eventIds].sort()[0];
  const records = event && typeof event === "object" ? event.Records : undefined;
  if (Array.isArray(records) && records.length && records[0] && typeof records[0] === "object") {
    const count = (records[0].attributes || {}).ApproximateReceiveCount;
    if ((typeof count === "string" || Number.isInteger(count)) && !["", "1"].includes(String(count))) key = `${key}#${count}`;
  }
  return key;
}

// The key one traced event rolls on: its id, and its delivery count from the second on.
export const eventKey = (eventId, delivery) => (delivery <= 1 ? eventId : `${eventId}#${delivery}`);

export function roll(seed, position, kind, key) {
  return Number(digest(seed, position, kind, key)) / 2 ** 64;
}

// The roll of an invocation carrying events `keys`: 1 - (1 - m)^n, m the smallest of their
// rolls, uniform like one roll, so `rate` stays the share of invocations hit (rolls.py).
export function batchRoll(seed, position, kind, keys) {
  const smallest = Math.min(...keys.map((key) => roll(seed, position, kind, key)));
  return 1 - (1 - smallest) ** keys.length;
}

// A generator of [0, 1) numbers for one invocation's other draws (splitmix64).
export function seededRandom(seed, key) {
  let state = digest(seed, "invocation", key);
  return () => {
    state = (state + 0x9e3779b97f4a7c15n) & MASK;
    let z = state;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK;
    z ^= z >> 31n;
    return Number(z >> 11n) / 2 ** 53;
  };
}
