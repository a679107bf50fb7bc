'use strict';
/**
 * `scale` (issue 21): what an invalidation costs as the cache grows, and what it does to the
 * hits of unrelated URLs while it runs.
 *
 *   node bench/scale.js [--stores=memory,redis,cluster] [--sizes=10000,100000] [--max-seconds=1500]
 *
 * For each store and size: one Express process with the cache (the shipped dist/), entries of
 * ~300 B filled through the store's own write path (`store.setMany`, in chunks: for Redis the
 * store's exact commands, a SET and its index scripts, pipelined by ioredis), never through
 * HTTP. Entry i is indexed under path `/p10/i` (i % 10 == 0) or `/items/i`, and carries the
 * tags `item:i` and, off the /p10 tenth, `catalog`. Then, in order:
 *   key      invalidate({ keys: [one entry key] })
 *   path     invalidate({ paths: ['/items/1'] })
 *   empty    invalidate({ prefixes: ['/nothing/'] })           (matches nothing)
 *   prefix   invalidate({ prefixes: ['/p10/'] })              (10 %)
 *   tag      invalidate({ tags: ['catalog'] })                (90 %, less the path above)
 * and for each: its time, the count it resolved against the count expected, the store errors
 * reported, the latency p50/p99/max of hits on ten unrelated URLs (/hot/0..9, two clients in
 * this process over keep-alive) from its start until the store is quiet again (background
 * work included), the idle p99 just before, and the event loop's largest delay. At the end:
 * the `p:`/`t:` index keys left (Redis: SCAN of every master; memory: its index maps).
 *
 * Bounded: every server has a watchdog (bench/redis.js), the whole run stops at
 * --max-seconds, every wait polls with a bound. 127.0.0.1 only.
 */

const http = require('node:http');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { performance, monitorEventLoopDelay } = require('node:perf_hooks');
const { startRedis, command } = require('./redis');
const { parseArgs } = require('./args');

const root = path.join(__dirname, '..');
const erc = require(path.join(root, 'dist/cjs/middleware/index.js'));
const { encodeEntry } = require(path.join(root, 'dist/cjs/src/entry.js'));
const express = require('express');
const { Redis, Cluster } = require('ioredis');

const args = parseArgs(process.argv.slice(2));
const STORES = (args.string('stores') || 'memory,redis,cluster').split(',');
const SIZES = (args.string('sizes') || '10000,100000').split(',').map(Number);
const MAX_SECONDS = args.number('max-seconds', 1500);
const deadline = Date.now() + MAX_SECONDS * 1000;
const watchdog = setTimeout(() => {
  console.error(`scale: stopped after ${MAX_SECONDS} s (--max-seconds)`);
  process.exit(2);
}, MAX_SECONDS * 1000);
watchdog.unref();

const KEY_PREFIX = 'cache:v1:http:'; // the defaults: prefix 'cache', version 'v1', namespace 'http'
const BODY = Buffer.alloc(300, 'x');
const CHUNK = 2000;

function entryOf(i) {
  const tenth = i % 10 === 0;
  const p = tenth ? `/p10/${i}` : `/items/${i}`;
  const tags = [`${KEY_PREFIX}item:${i}`];
  if (!tenth) tags.push(`${KEY_PREFIX}catalog`);
  // The bytes the cache itself stores for a 200 text response (src/entry.ts): a faithful
  // entry, whose path and tags a store can read back, not opaque bytes.
  const now = Date.now();
  const value = encodeEntry({
    kind: 'response',
    status: 200,
    headers: [['content-type', 'text/plain; charset=utf-8']],
    etag: `"${i}"`,
    lastModified: undefined,
    originAge: 0,
    path: KEY_PREFIX + p,
    tags,
    storedAt: now,
    staleAt: now + 3_600_000,
    swrUntil: now + 3_600_000,
    sieUntil: now + 3_600_000,
    expiresAt: now + 3_600_000,
    body: BODY,
  });
  return { key: `${KEY_PREFIX}GET:scale${p}`, value, ttlMs: 3_600_000, index: { path: KEY_PREFIX + p, tags } };
}

async function fill(store, n) {
  for (let i = 0; i < n; i += CHUNK) {
    const batch = [];
    for (let j = i; j < Math.min(n, i + CHUNK); j++) batch.push(entryOf(j));
    await store.setMany(batch);
    if (Date.now() > deadline) throw new Error('deadline');
  }
}

/** The five invalidations, with the count each should resolve on a store filled with n. */
function plan(n) {
  const tenth = Math.ceil(n / 10);
  return [
    { name: 'one key', target: { keys: [`${KEY_PREFIX}GET:scale/items/3`] }, expect: 1 },
    { name: 'one path', target: { paths: ['/items/1'] }, expect: 1 },
    { name: 'empty prefix', target: { prefixes: ['/nothing/'] }, expect: 0 },
    { name: 'prefix 10 %', target: { prefixes: ['/p10/'] }, expect: tenth },
    // the catalog tenth-complement, less /items/3 and /items/1 already gone
    { name: 'tag 90 %', target: { tags: ['catalog'] }, expect: n - tenth - 2 },
  ];
}

function pct(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** Two clients hitting /hot/0..9 in a loop; samples are [startedAt, ms]. */
function hitLoop(port) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
  const samples = [];
  let running = true;
  let misses = 0;
  const one = (j) =>
    new Promise((resolve) => {
      const t0 = performance.now();
      const req = http.get({ host: '127.0.0.1', port, path: `/hot/${j}`, agent }, (res) => {
        if (res.headers['x-cache'] !== 'HIT') misses++;
        res.resume();
        res.on('end', () => {
          samples.push([t0, performance.now() - t0]);
          resolve();
        });
      });
      req.on('error', () => resolve());
    });
  const client = async (c) => {
    let j = c;
    while (running) {
      await one(j % 10);
      j += 2;
    }
  };
  const done = Promise.all([client(0), client(1)]);
  return {
    samples,
    misses: () => misses,
    stop: async () => {
      running = false;
      await done;
      agent.destroy();
    },
  };
}

function window(samples, from, to) {
  return samples
    .filter(([t]) => t >= from && t < to)
    .map(([, ms]) => ms)
    .sort((a, b) => a - b);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Until two readings of `probe` 300 ms apart agree (the store has finished any background work), at most 120 s. */
async function quiet(probe) {
  let last = await probe();
  for (let i = 0; i < 400 && Date.now() < deadline; i++) {
    await sleep(300);
    const now = await probe();
    if (now === last) return;
    last = now;
  }
}

async function startCluster() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'erc-scale-cluster-'));
  const nodes = [];
  for (let i = 0; i < 3; i++) {
    nodes.push(
      await startRedis({
        maxSeconds: MAX_SECONDS + 60,
        extraArgs: ['--cluster-enabled', 'yes', '--cluster-config-file', path.join(dir, `nodes-${i}.conf`), '--dir', dir],
      }),
    );
  }
  execFileSync('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'], {
    stdio: 'ignore',
    timeout: 30_000,
  });
  for (let i = 0; i < 200; i++) {
    const states = await Promise.all(nodes.map((n) => command(n.port, 'CLUSTER INFO').catch(() => '')));
    if (states.every((s) => s.includes('cluster_state:ok'))) break;
    await sleep(100);
  }
  const client = new Cluster(
    nodes.map((n) => ({ host: '127.0.0.1', port: n.port })),
    { redisOptions: { maxRetriesPerRequest: 1 } },
  );
  await new Promise((resolve, reject) => {
    client.once('ready', resolve);
    client.once('error', reject);
  });
  return {
    client,
    masters: () => client.nodes('master'),
    stop: async () => {
      client.disconnect();
      await Promise.all(nodes.map((n) => n.stop()));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function startSingle() {
  const server = await startRedis({ maxSeconds: MAX_SECONDS + 60 });
  const client = new Redis(server.url, { maxRetriesPerRequest: 1 });
  await client.ping();
  return {
    client,
    masters: () => [client],
    stop: async () => {
      client.disconnect();
      await server.stop();
    },
  };
}

async function scanCount(masters, pattern) {
  let n = 0;
  for (const node of masters) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 5000);
      n += keys.length;
      cursor = next;
    } while (cursor !== '0');
  }
  return n;
}

async function run(kind, n) {
  const redis = kind === 'memory' ? undefined : kind === 'redis' ? await startSingle() : await startCluster();
  const store = redis ? new erc.RedisStore({ client: redis.client }) : new erc.MemoryStore({ maxEntries: n + 1000, maxBytes: 4 * 1024 ** 3 });
  const errors = [];
  const cache = erc.createCache({ store, ttl: 3600, onError: (err) => errors.push(err.code ?? err.message) });
  const app = express();
  app.get('/hot/:id', cache.middleware(), (req, res) => res.json({ hot: req.params.id, pad: 'y'.repeat(200) }));
  const server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const port = server.address().port;
  const rows = [];
  try {
    const t0 = performance.now();
    await fill(store, n);
    const fillMs = performance.now() - t0;
    // warm the hot URLs (second GET is the hit)
    for (let j = 0; j < 10; j++)
      for (let k = 0; k < 2; k++) await new Promise((r) => http.get({ host: '127.0.0.1', port, path: `/hot/${j}` }, (res) => res.resume().on('end', r)));
    const probe = redis ? async () => (await Promise.all(redis.masters().map((m) => m.dbsize()))).reduce((a, b) => a + b, 0) : async () => store.size;
    await quiet(probe);
    const hits = hitLoop(port);
    const loop = monitorEventLoopDelay({ resolution: 10 });
    for (const step of plan(n)) {
      const idleFrom = performance.now();
      await sleep(1000);
      const from = performance.now();
      loop.reset();
      loop.enable();
      errors.length = 0;
      let count;
      try {
        count = await cache.invalidate(step.target);
      } catch (err) {
        count = `rejected: ${err.message}`;
      }
      const ackMs = performance.now() - from;
      await quiet(probe);
      const to = Math.max(performance.now(), from + 300);
      if (performance.now() < to) await sleep(to - performance.now());
      loop.disable();
      const during = window(hits.samples, from, to);
      const idle = window(hits.samples, idleFrom, from);
      rows.push({
        store: kind,
        entries: n,
        invalidation: step.name,
        ackMs,
        doneMs: to - from,
        count,
        expect: step.expect,
        errors: [...new Set(errors)].join(' ') || '',
        idleP99: pct(idle, 99),
        p50: pct(during, 50),
        p99: pct(during, 99),
        max: during[during.length - 1],
        hits: during.length,
        loopMaxMs: loop.max / 1e6,
      });
      console.error(JSON.stringify(rows[rows.length - 1]));
    }
    await hits.stop();
    const left = redis
      ? { p: await scanCount(redis.masters(), '*p:{*'), t: await scanCount(redis.masters(), '*t:{*') }
      : { p: store.byPath.size, t: store.byTag.size };
    for (const r of rows) Object.assign(r, { fillMs, leftP: left.p, leftT: left.t, missesOnHot: hits.misses() });
  } finally {
    await new Promise((r) => server.close(r));
    await cache.close();
    await store.close();
    if (redis) await redis.stop();
  }
  return rows;
}

const f = (x, d = 1) => (typeof x === 'number' && Number.isFinite(x) ? x.toFixed(d) : String(x));

function table(rows) {
  const out = [
    '| store | entries | invalidation | acked (ms) | quiet (ms) | resolved / expected | errors | idle p99 | hit p50 | hit p99 | hit max | loop max (ms) |',
    '|---|---:|---|---:|---:|---:|---|---:|---:|---:|---:|---:|',
  ];
  for (const r of rows) {
    out.push(
      `| ${r.store} | ${r.entries.toLocaleString('en')} | ${r.invalidation} | ${f(r.ackMs)} | ${f(r.doneMs, 0)} | ${r.count === r.expect ? '' : '**'}${r.count} / ${r.expect}${r.count === r.expect ? '' : '**'} | ${r.errors} | ${f(r.idleP99, 2)} | ${f(r.p50, 2)} | ${f(r.p99, 2)} | ${f(r.max, 1)} | ${f(r.loopMaxMs)} |`,
    );
  }
  out.push('', '| store | entries | fill (s) | `p:` keys left | `t:` keys left |', '|---|---:|---:|---:|---:|');
  const seen = new Set();
  for (const r of rows) {
    const id = `${r.store}/${r.entries}`;
    if (seen.has(id)) continue;
    seen.add(id);
    out.push(`| ${r.store} | ${r.entries.toLocaleString('en')} | ${f(r.fillMs / 1000)} | ${r.leftP.toLocaleString('en')} | ${r.leftT.toLocaleString('en')} |`);
  }
  return out.join('\n');
}

async function main() {
  const all = [];
  for (const n of SIZES) {
    for (const kind of STORES) {
      if (Date.now() > deadline) break;
      console.error(`scale: ${kind}, ${n} entries`);
      all.push(...(await run(kind, n)));
    }
  }
  const md = table(all);
  if (args.string('out')) fs.writeFileSync(args.string('out'), md + '\n');
  if (args.string('json')) fs.writeFileSync(args.string('json'), JSON.stringify(all, null, 1));
  console.log(md);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
