'use strict';
/**
 * `npm run bench -- memory` (or `node bench/memory.js`): what the MemoryStore costs.
 *
 *  1. Overhead: bytes retained per entry beyond the body, for 100k small entries
 *     (heapUsed + arrayBuffers after a full GC, before and after).
 *  2. Bounds: 1M distinct keys into a default MemoryStore, once with small bodies (the
 *     count bound binds) and once with 16 KiB bodies (the byte bound binds); size, bytes
 *     and the invalidation indexes must stay within the bounds.
 *
 * Uses the built dist/cjs/src/stores/memory.js when present, else the TS source via tsx.
 * Re-runs itself with --expose-gc. Prints markdown and writes MEMORY.md to BENCH_OUT
 * (default bench/).
 */

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const DIST = path.join(ROOT, 'dist/cjs/src/stores/memory.js');
const SRC = path.join(ROOT, 'src/stores/memory.ts');
const useDist = fs.existsSync(DIST);

if (typeof global.gc !== 'function') {
  const args = ['--expose-gc', ...(useDist ? [] : ['--import', 'tsx']), __filename, ...process.argv.slice(2)];
  const { status, signal } = spawnSync(process.execPath, args, { stdio: 'inherit', cwd: ROOT, timeout: 600_000 });
  process.exit(status ?? (signal ? 1 : 0));
}

const { MemoryStore, MEMORY_STORE_DEFAULTS } = require(useDist ? DIST : SRC);

const N = 100_000;
const BODY = 256;
const MILLION = 1_000_000;
const TTL = 60_000;

function retained() {
  for (let i = 0; i < 3; i++) global.gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

const keyOf = (i) => `cache:v1:http:/items/${i}?page=1&sort=asc`;
/**
 * Pooled bodies (Buffer.allocUnsafe): the method of the figures in issue 13, so rows compare.
 * src/entry.ts allocates entries outside the pool (allocUnsafeSlow): the "unpooled" row shows
 * what that adds (an ArrayBuffer object per entry), which is the Buffer's cost, not the store's.
 */
const bodyOf = (i, size) => Buffer.allocUnsafe(size).fill(i & 0xff);
const unpooledBodyOf = (i, size) => Buffer.allocUnsafeSlow(size).fill(i & 0xff);

/** Bytes per entry the issue's targets allow beyond the body and the key (issue 13). */
const TARGET = { none: 250, tags: 350 };

async function overhead(label, tagsOf, target, makeBody = bodyOf) {
  // Preallocated arrays: one 8 B slot per element, subtracted below.
  let keys = new Array(N);
  let bodies = new Array(N);
  const base = retained();
  for (let i = 0; i < N; i++) keys[i] = keyOf(i);
  const withKeys = retained();
  for (let i = 0; i < N; i++) bodies[i] = makeBody(i, BODY);
  const held = retained();
  const store = new MemoryStore({ maxEntries: N, maxBytes: 2 ** 30, sweepInterval: 0 });
  for (let i = 0; i < N; i++) await store.set(keys[i], bodies[i], TTL, { path: `/items/${i}`, tags: tagsOf(i) });
  const stored = retained();
  const keyChars = keys[0].length;
  keys = bodies = undefined; // the store now holds the only references
  const alone = retained();
  if (store.size !== N) throw new Error(`${label}: expected ${N} entries, store holds ${store.size}`);
  const total = (alone - base) / N;
  const key = (withKeys - base) / N - 8;
  const buffer = (held - withKeys) / N - 8 - BODY;
  const beyond = total - BODY - key;
  const row =
    `| ${label} | ${BODY} | ${keyChars} | ${total.toFixed(0)} | ${key.toFixed(0)} | ${buffer.toFixed(0)} | ` +
    `${((stored - held) / N).toFixed(0)} | ${beyond.toFixed(0)} | ${target === undefined ? '— (see note)' : `≤ ${target} ${beyond <= target ? 'met' : 'NOT met'}`} |`;
  await store.close();
  return row;
}

async function bounds(label, bodyFor) {
  const store = new MemoryStore();
  const started = Date.now();
  for (let i = 0; i < MILLION; i++) {
    await store.set(keyOf(i), bodyFor(i), TTL, { path: `/items/${i}`, tags: ['items', `item:${i}`] });
  }
  const seconds = (Date.now() - started) / 1000;
  const heap = retained();
  const { maxEntries, maxBytes } = MEMORY_STORE_DEFAULTS;
  // The indexes are private; read them only to show they stay bounded too.
  const indexes = ['meta', 'byPath', 'byTag']
    .map((f) => (store[f] instanceof Map ? `${f} ${store[f].size.toLocaleString('en-US')}` : undefined))
    .filter(Boolean);
  const ok = store.size <= maxEntries && store.bytes <= maxBytes && (!store.byTag || store.byTag.size <= store.size + 1);
  const row =
    `| ${label} | ${MILLION.toLocaleString('en-US')} | ${store.size.toLocaleString('en-US')} / ${maxEntries.toLocaleString('en-US')} | ` +
    `${store.bytes.toLocaleString('en-US')} / ${maxBytes.toLocaleString('en-US')} | ${indexes.join(', ')} | ${(heap / 2 ** 20).toFixed(0)} | ${seconds.toFixed(1)} | ${ok ? 'PASS' : 'FAIL'} |`;
  await store.close();
  return row;
}

async function main() {
  const source = useDist ? path.relative(ROOT, DIST) : `${path.relative(ROOT, SRC)} via tsx`;
  const shared = Buffer.alloc(16 * 1024, 1); // one buffer: the store counts its length, memory stays small
  const rows1 = [
    await overhead('path, no tags', () => [], TARGET.none),
    await overhead('path + 2 tags', (i) => ['items', `item:${i}`], TARGET.tags),
    await overhead('path + 2 tags, unpooled bodies', (i) => ['items', `item:${i}`], undefined, unpooledBodyOf),
  ];
  const rows2 = [await bounds(`${BODY} B bodies`, (i) => bodyOf(i, BODY)), await bounds('16 KiB bodies', () => shared)];
  const text = `# MemoryStore memory

- Date: ${new Date().toISOString()}; Node ${process.version}; store: \`${source}\`
- Command: \`node bench/memory.js\` (re-runs itself with \`--expose-gc\`)

## Overhead per entry (${N.toLocaleString('en-US')} entries)

Retained = heapUsed + arrayBuffers after a full GC, per entry, with the store holding the only
references to keys and bodies. "Key" is the key string as the cache builds it (a concatenation:
V8 keeps a cons string and its flat copy), "Buffer object" the JS object around the body bytes,
"store structures" what the store adds on top of both (LRU slots and links, expiry, the path and
tag strings and indexes). "Beyond body and key" (retained − body bytes − key) is what the issue's
targets bound: Buffer object plus store structures. The targets are read on pooled bodies, the
method of the issue's own figures; the unpooled row allocates bodies as \`src/entry.ts\` does
(\`allocUnsafeSlow\`, so an entry never pins an 8 KiB pool slab): its extra Buffer-object bytes are
an ArrayBuffer per entry, which no store layout removes.

| entries | body B | key chars | retained B/entry | key B | Buffer object B | store structures B | beyond body and key B | target |
|---|---:|---:|---:|---:|---:|---:|---:|---|
${rows1.join('\n')}

## Bounds under ${MILLION.toLocaleString('en-US')} distinct keys (default MemoryStore)

| bodies | keys inserted | size / maxEntries | bytes / maxBytes | indexes | heap MB after | seconds | bounded |
|---|---:|---:|---:|---|---:|---:|---|
${rows2.join('\n')}
`;
  console.log(text);
  const outDir = path.resolve(process.env.BENCH_OUT || __dirname);
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(path.join(outDir, 'MEMORY.md'), text);
  console.log(`wrote ${path.relative(process.cwd(), path.join(outDir, 'MEMORY.md'))}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
