'use strict';
/**
 * `node bench/redis-memory.js` (or `npm run bench -- redis-memory`): what Redis holds per
 * cached response (issue 13's target: used_memory per entry ≤ 1.6 × a plain SET).
 *
 * On a fresh redis-server (no persistence), 10,000 responses of a 768-byte JSON body with
 * two tags (`items` and `item:<id>`) are stored through the built middleware, by real HTTP
 * GETs, as an app would; then, after FLUSHALL, the same 10,000 entry key names get a plain
 * `SET key <the same 768 bytes> PX 60000`. Both figures are INFO used_memory deltas over
 * the empty server, per entry. Where the bytes go: MEMORY USAGE of one key of each kind,
 * and the used_memory each kind frees when its keys are deleted (DEL frees at once), which
 * also counts the expires dict and allocator rounding that MEMORY USAGE leaves out. A
 * further figure per size in BENCH_META_BYTES (comma-separated, default 200,100) rewrites
 * every entry value to the same body with that much metadata instead (SET … KEEPTTL): what
 * the layout costs with a smaller entry codec. Writes REDIS-MEMORY.md to BENCH_OUT
 * (default bench/).
 */

const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { startRedis, command } = require('./redis');
const { resolveOurs } = require('./ours');

const N = Number(process.env.BENCH_REDIS_ENTRIES) || 10_000;
const BODY_BYTES = 768;
const TTL_S = 60;
/** Metadata sizes of the projected entry codecs, largest first (the last one stays for the breakdown). */
const META_SIZES = (process.env.BENCH_META_BYTES || '200,100')
  .split(',')
  .map(Number)
  .filter((n) => n >= 0)
  .sort((a, b) => b - a);
/** The store's head before the entry bytes: a state byte and an 8-byte writer token. */
const STORE_HEAD = 9;

/** A JSON body of exactly BODY_BYTES bytes for item `id`. */
function bodyOf(id) {
  const base = { id, name: `Item ${id}`, price: { amount: 1999, currency: 'EUR' }, tags: ['bench', 'json'], note: '' };
  const pad = BODY_BYTES - Buffer.byteLength(JSON.stringify(base));
  base.note = 'x'.repeat(pad);
  return JSON.stringify(base);
}

const usedMemory = async (port) => Number(/used_memory:(\d+)/.exec(await command(port, 'INFO memory'))[1]);

function get(port, p, agent) {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: p, agent }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode));
      })
      .on('error', reject);
  });
}

async function main() {
  const ours = resolveOurs(process.env.BENCH_SOURCE || 'dist');
  if (!ours.available) throw new Error(`our middleware is unavailable: ${ours.reason}`);
  if (ours.nodeArgs.length) throw new Error('BENCH_SOURCE=src is not supported here: run `npm run build` first');
  const { createCache } = require(ours.file);
  const express = require('express');
  const Redis = require('ioredis');
  const redis = await startRedis({ maxSeconds: 600 });
  const client = new Redis(redis.url);
  try {
    await client.flushall();
    const empty = await usedMemory(redis.port);

    // A long storeTimeout: on a loaded machine a store slower than the default 100 ms would be skipped.
    const cache = createCache({ redis: client, ttl: TTL_S, jitter: 0, storeTimeout: 5_000, tags: (req) => ['items', `item:${req.params.id}`] });
    const app = express();
    app.get('/items/:id', cache.middleware(), (req, res) => res.type('json').send(bodyOf(req.params.id)));
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
    const { port } = server.address();
    for (let i = 0; i < N; i += 8) {
      await Promise.all(Array.from({ length: Math.min(8, N - i) }, (_v, j) => get(port, `/items/${i + j}`, agent)));
    }
    // Stores are not awaited by the response: wait until every entry is there and the key
    // count has settled (the indexes follow their entries).
    for (let t = 0, last = -1; t < 100; t++) {
      const size = await client.dbsize();
      if (size >= N && size === last) break;
      last = size;
      await new Promise((r) => setTimeout(r, 100));
    }
    agent.destroy();
    server.close();
    await cache.close();

    const keys = await client.keys('*'); // a bench on a private server: KEYS is fine here
    const kinds = {};
    for (const k of keys) {
      const kind = /(?:^|:)([a-z]):\{/.exec(k)?.[1] ?? '?';
      (kinds[kind] ??= []).push(k);
    }
    const ourBytes = (await usedMemory(redis.port)) - empty;
    const sample = {};
    for (const [kind, list] of Object.entries(kinds)) {
      const k = list.find((x) => !x.includes('{cache:v1:http:items}')) ?? list[0];
      sample[kind] = { count: list.length, key: k, usage: Number(await client.call('MEMORY', 'USAGE', k, 'SAMPLES', '0')), type: await client.type(k) };
    }
    const shared = (kinds.t || []).find((k) => k.endsWith(':items}'));
    const sharedUsage = shared ? Number(await client.call('MEMORY', 'USAGE', shared, 'SAMPLES', '0')) : 0;
    const entryKeys = kinds.e || [];
    const entryBytes = entryKeys.length ? await client.strlen(entryKeys[0]) : 0;
    if (entryKeys.length !== N) throw new Error(`expected ${N} entries, Redis holds ${entryKeys.length} e: keys`);

    // The same layout with a smaller entry codec: each value rewritten to the store's head,
    // `meta` bytes of metadata and the body (the TTLs kept).
    const projections = [];
    for (const meta of META_SIZES) {
      const bytes = STORE_HEAD + meta + BODY_BYTES;
      for (let i = 0; i < entryKeys.length; i += 500) {
        const pipe = client.pipeline();
        for (const k of entryKeys.slice(i, i + 500)) pipe.set(k, Buffer.alloc(bytes, 0x78), 'KEEPTTL');
        await pipe.exec();
      }
      const usage = Number(await client.call('MEMORY', 'USAGE', entryKeys[0], 'SAMPLES', '0'));
      projections.push({ meta, bytes, per: ((await usedMemory(redis.port)) - empty) / N, usage });
    }
    const projectedBytes = projections.length ? projections[projections.length - 1].bytes : entryBytes;

    // used_memory each kind frees, the shared tag index apart; what is left after the
    // indexes go is the entries plus the dict tables sized for every key.
    const frees = [];
    const drop = async (label, list) => {
      const before = await usedMemory(redis.port);
      for (let i = 0; i < list.length; i += 500) await client.del(...list.slice(i, i + 500));
      frees.push([label, list.length, before - (await usedMemory(redis.port))]);
    };
    if (shared) await drop(`\`t:\` shared (\`items\`)`, [shared]);
    for (const kind of Object.keys(kinds).filter((k) => k !== 'e'))
      await drop(
        `\`${kind}:\``,
        kinds[kind].filter((k) => k !== shared),
      );
    const rest = (await usedMemory(redis.port)) - empty;

    await client.flushall();
    const empty2 = await usedMemory(redis.port);
    const body = Buffer.from(bodyOf('0'));
    for (let i = 0; i < entryKeys.length; i += 500) {
      const pipe = client.pipeline();
      for (const k of entryKeys.slice(i, i + 500)) pipe.set(k, body, 'PX', TTL_S * 1000);
      await pipe.exec();
    }
    const plainBytes = (await usedMemory(redis.port)) - empty2;
    const plainUsage = Number(await client.call('MEMORY', 'USAGE', entryKeys[0], 'SAMPLES', '0'));
    // The longest value that still costs what the plain body costs (the allocator's size
    // class): probed on one key, which is then put back.
    const usageAt = async (len) => {
      await client.set(entryKeys[0], Buffer.alloc(len, 0x78), 'KEEPTTL');
      return Number(await client.call('MEMORY', 'USAGE', entryKeys[0], 'SAMPLES', '0'));
    };
    let fits = BODY_BYTES;
    while ((await usageAt(fits + 1)) === plainUsage) fits++;
    await client.set(entryKeys[0], body, 'KEEPTTL');

    const per = ourBytes / N;
    const freeRows = frees.map(([label, count, bytes]) => `| ${label} | ${count.toLocaleString('en-US')} | ${(bytes / N).toFixed(0)} |`);
    const plain = plainBytes / N;
    const rows = Object.entries(sample)
      .sort()
      .map(
        ([kind, s]) =>
          `| \`${kind}:\` | ${s.type} | ${s.count.toLocaleString('en-US')} | ${(s.count / N).toFixed(2)} | ${s.usage.toLocaleString('en-US')} | \`${s.key.length > 70 ? `${s.key.slice(0, 67)}...` : s.key}\` |`,
      );
    const text = `# Redis memory per entry

- Date: ${new Date().toISOString()}; Node ${process.version}; redis-server ${(/redis_version:(\S+)/.exec(await command(redis.port, 'INFO server')) || [])[1]}; middleware: \`${ours.describe}\`
- Command: \`node bench/redis-memory.js\`: ${N.toLocaleString('en-US')} GETs through \`cache.middleware()\` (Redis store, tags \`items\` and \`item:<id>\`), each answering ${BODY_BYTES} bytes of JSON

| layout | used_memory B/entry | × plain SET | keys per entry |
|---|---:|---:|---:|
| ours (RedisStore) | ${per.toFixed(0)} | ${(per / plain).toFixed(2)} | ${(keys.length / N).toFixed(2)} |
${projections.map((x) => `| ours, entry values rewritten with ${x.meta} B of metadata (${x.bytes} B values) | ${x.per.toFixed(0)} | ${(x.per / plain).toFixed(2)} | ${(keys.length / N).toFixed(2)} |\n`).join('')}| plain \`SET key body PX\` (same key names, same ${BODY_BYTES} bytes) | ${plain.toFixed(0)} | 1.00 | 1.00 |

Target (issue 13): ≤ 1.6 × plain SET, so ≤ ${(1.6 * plain).toFixed(0)} B/entry: **${per <= 1.6 * plain ? 'met' : 'NOT met'}** (${(per - plain).toFixed(0)} B/entry over a plain SET).

The entry value itself is ${entryBytes.toLocaleString('en-US')} bytes (${BODY_BYTES} of body, ${(entryBytes - BODY_BYTES).toLocaleString('en-US')} of
encoded metadata and the store's ${STORE_HEAD}-byte head: status, headers, ETag, times, path and tags);
one \`e:\` key uses ${sample.e.usage.toLocaleString('en-US')} B (MEMORY USAGE)${projections.map((x) => `, ${x.usage.toLocaleString('en-US')} B with ${x.bytes} B values`).join('')};
one plain-SET key ${plainUsage.toLocaleString('en-US')} B.

used_memory freed per entry when each kind's keys are deleted (this counts their expires
entries and allocator rounding; the dict tables stay allocated and are in the rest):

| kind | keys | B/entry |
|---|---:|---:|
${freeRows.join('\n')}
| rest: \`e:\` keys with ${projectedBytes} B values, and the dict tables | ${N.toLocaleString('en-US')} | ${(rest / N).toFixed(0)} |

Reading it:
- An \`e:\` value of up to ${fits} B costs exactly what the plain ${BODY_BYTES}-byte body costs (the
  allocator's size class; a longer one takes the next class). With the store's ${STORE_HEAD}-byte head
  that leaves ${fits - BODY_BYTES - STORE_HEAD} B for the entry's metadata; past that the value takes the next size class.
- Each path index and each per-entry tag index is a key of its own holding one member (the
  writer token and the entry key, scored by expiry): its key name, object, one-member listpack
  and its main and expires dict entries are what the per-kind rows above free. Redis 7.0 has
  no per-field TTL and no listpack sets: an index that expires by itself is a key of its own.
  Folding small indexes into shared hashes would need the store to expire and prune fields
  itself, and prefix invalidation to scan them (not tried).
- A big shared tag index (\`items\`) is a skiplist: one node, one dict entry and one member
  string (token and key) per entry.

Where it goes (MEMORY USAGE of one key of each kind; the shared \`items\` tag index is one key of ${sharedUsage.toLocaleString('en-US')} B, ${(sharedUsage / N).toFixed(0)} B/entry):

| kind | type | keys | per entry | MEMORY USAGE B (one key) | example |
|---|---|---:|---:|---:|---|
${rows.join('\n')}
`;
    console.log(text);
    const outDir = path.resolve(process.env.BENCH_OUT || __dirname);
    fs.mkdirSync(outDir, { recursive: true });
    fs.writeFileSync(path.join(outDir, 'REDIS-MEMORY.md'), text);
    console.log(`wrote ${path.relative(process.cwd(), path.join(outDir, 'REDIS-MEMORY.md'))}`);
  } finally {
    client.disconnect();
    await redis.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
