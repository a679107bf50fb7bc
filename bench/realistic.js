'use strict';
/**
 * `npm run bench:realistic` (issue 24): the figure a user would compare products by.
 * Zipf-distributed GETs (s = 1) over 100,000 item URLs with bodies of 1–64 KB, 5 % PUTs that
 * invalidate a product's tag (4 URLs), two app instances (bench/realistic-app.js) on one
 * redis-server behind a 1 ms latency proxy (test/helpers/tcp-proxy.ts), 30 ms handlers
 * reading a shared database (a second redis-server, not proxied). For no cache, apicache,
 * ours on memory, Redis and tiered: requests/s, p50/p99/p99.9, GET handler calls, hit ratio,
 * server (both instances) and redis-server CPU per request, and read-your-writes violations:
 * a GET sent after a PUT of its product was answered must not show an older version.
 *
 * Closed loop: BENCH_CONNECTIONS (default 32) requesters, each sending its next request when
 * the last is answered, to one of the two instances at random (a load balancer), keep-alive.
 * Apps and both redis-servers on core 0; this process (load, checker, proxy) on core 1.
 *
 *   node bench/realistic.js [--duration=25] [--warmup=5] [--connections=32] [--only=redis,tiered] [--out=dir]
 *
 * Writes bench/REALISTIC.md and bench/realistic.svg, and replaces the realistic section at the
 * top of bench/RESULTS.md (a partial run, with --only, writes to bench/.tmp/ unless --out).
 */

const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { pinSelf, cpuModel, machineBusyUs } = require('./cpu');
const { startRedis, command, redisCpuUs } = require('./redis');
const { startServer, stopAll } = require('./spawn');
const { resolveOurs } = require('./ours');
const { Samples } = require('./samples');
const { chart } = require('./chart');
const { URLS, HANDLER_MS, ZIPF_S, ITEMS_PER_PRODUCT, productOf, bodySize, parseHead, zipfSampler } = require('./realistic-model');

const VARIANTS = [
  { name: 'none', group: 'baseline', label: 'no cache' },
  { name: 'apicache', group: 'peer', label: 'apicache (memory, per instance)' },
  { name: 'memory', group: 'ours', label: 'ours, memory (per instance)', ours: true },
  { name: 'redis', group: 'ours', label: 'ours, Redis', ours: true },
  { name: 'tiered', group: 'ours', label: 'ours, tiered (memory + Redis)', ours: true },
];
const PUT_SHARE = 0.05;
const PROXY_MS = 1;

function option(name, fallback) {
  const flag = process.argv.find((a) => a.startsWith(`--${name}=`));
  const raw = flag ? flag.slice(name.length + 3) : process.env[`BENCH_${name.toUpperCase()}`];
  return raw === undefined || raw === '' ? fallback : raw;
}

const live = [];
async function cleanup() {
  stopAll();
  for (const stop of live.splice(0)) await stop().catch(() => undefined);
}

/** The closed-loop load and the read-your-writes checker, for `seconds`. */
async function drive(ports, { seconds, connections, committed, sample }) {
  const agents = ports.map(() => new http.Agent({ keepAlive: true, maxSockets: connections }));
  const latency = new Samples();
  const c = { gets: 0, puts: 0, violations: 0, wrongBodies: 0, errors: 0, non2xx: 0, bytes: 0, firstViolation: undefined };
  const deadline = Date.now() + seconds * 1000;
  const request = (i, method, urlPath) =>
    new Promise((resolve) => {
      const req = http.request({ host: '127.0.0.1', port: ports[i], method, path: urlPath, agent: agents[i], timeout: 10_000 }, (res) => {
        const chunks = [];
        res.on('data', (d) => chunks.push(d));
        res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks) }));
        res.on('error', () => resolve({ error: true }));
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', () => resolve({ error: true }));
      req.end();
    });

  async function requester() {
    while (Date.now() < deadline) {
      const id = sample();
      const p = productOf(id);
      const instance = Math.random() < 0.5 ? 0 : 1;
      const started = process.hrtime.bigint();
      if (Math.random() < PUT_SHARE) {
        const res = await request(instance, 'PUT', `/products/${p}`);
        latency.push(Number(process.hrtime.bigint() - started) / 1e6);
        c.puts++;
        if (res.error) c.errors++;
        else if (res.status !== 200) c.non2xx++;
        else committed.set(p, Math.max(committed.get(p) || 0, JSON.parse(res.body).v));
        continue;
      }
      const floor = committed.get(p) || 0; // every PUT answered before this GET is sent
      const res = await request(instance, 'GET', `/items/${id}`);
      latency.push(Number(process.hrtime.bigint() - started) / 1e6);
      c.gets++;
      if (res.error) c.errors++;
      else if (res.status !== 200) c.non2xx++;
      else {
        c.bytes += res.body.length;
        const head = parseHead(res.body);
        if (!head || head.id !== id || res.body.length !== bodySize(id)) c.wrongBodies++;
        else if (head.v < floor) {
          c.violations++;
          c.firstViolation ??= `GET /items/${id} on instance ${instance + 1} answered version ${head.v} after a PUT of product ${p} answered version ${floor}`;
        }
      }
    }
  }
  const cpu = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: connections }, requester));
  const wallUs = Number(process.hrtime.bigint() - t0) / 1000;
  const used = process.cpuUsage(cpu);
  for (const a of agents) a.destroy();
  return { ...c, latency, wallUs, clientCpu: (used.user + used.system) / wallUs };
}

async function runVariant(variant, ctx) {
  const { cacheRedis, dbRedis, proxy, ours, duration, warmup, connections } = ctx;
  await command(cacheRedis.port, 'FLUSHALL');
  await command(dbRedis.port, 'FLUSHALL');
  const env = { BENCH_REDIS_URL: `redis://127.0.0.1:${proxy.port}`, BENCH_DB_URL: dbRedis.url, BENCH_OURS: variant.ours ? ours.file : '' };
  const lifetimeMs = (warmup + duration + 60) * 1000;
  const apps = [];
  try {
    for (let i = 0; i < 2; i++)
      apps.push(await startServer(variant, { env, lifetimeMs, script: 'realistic-app.js', nodeArgs: variant.ours ? ours.nodeArgs : [] }));
    const ports = apps.map((a) => a.port);
    const committed = new Map();
    const sample = zipfSampler();
    if (warmup > 0) await drive(ports, { seconds: warmup, connections, committed, sample });
    const before = await Promise.all(apps.map((a) => a.stats()));
    const redisBefore = await redisCpuUs(cacheRedis.port);
    const dbBefore = await redisCpuUs(dbRedis.port);
    const busyBefore = machineBusyUs();
    const r = await drive(ports, { seconds: duration, connections, committed, sample });
    const busyUs = machineBusyUs() - busyBefore;
    const redisCpu = (await redisCpuUs(cacheRedis.port)) - redisBefore;
    const dbCpu = (await redisCpuUs(dbRedis.port)) - dbBefore;
    const after = await Promise.all(apps.map((a) => a.stats()));
    const sum = (f) => after.reduce((s, a, i) => s + f(a) - f(before[i]), 0);
    const serverCpu = sum((s) => s.cpu.user + s.cpu.system);
    const calls = sum((s) => s.originCalls);
    const requests = r.gets + r.puts;
    const row = {
      name: variant.name,
      label: variant.label,
      group: variant.group,
      status: 'ok',
      rps: requests / (r.wallUs / 1e6),
      p50: r.latency.percentile(50),
      p99: r.latency.percentile(99),
      p999: r.latency.percentile(99.9),
      gets: r.gets,
      puts: r.puts,
      handlerCalls: calls,
      hitRatio: r.gets ? 1 - calls / r.gets : NaN,
      serverCpuUs: serverCpu / requests,
      redisCpuUs: variant.name === 'redis' || variant.name === 'tiered' ? redisCpu / requests : NaN,
      dbCpuUs: dbCpu / requests,
      violations: r.violations,
      firstViolation: r.firstViolation,
      wrongBodies: r.wrongBodies,
      failed: r.errors + r.non2xx,
      meanBodyKB: r.bytes / Math.max(1, r.gets - r.non2xx - r.errors) / 1024,
      rssMB: Math.max(...after.map((a) => a.rss)) / 2 ** 20,
      clientCpu: r.clientCpu,
      otherCpu: Math.max(0, (busyUs - serverCpu - redisCpu - dbCpu - r.clientCpu * r.wallUs) / r.wallUs),
    };
    console.log(
      `  ${variant.name.padEnd(9)} ${row.rps.toFixed(0).padStart(6)} req/s  p50 ${row.p50.toFixed(1)}  p99 ${row.p99.toFixed(1)}  p99.9 ${row.p999.toFixed(1)} ms  ` +
        `hit ratio ${row.hitRatio.toFixed(3)}  calls ${calls}  server ${row.serverCpuUs.toFixed(0)} µs/req  redis ${Number.isFinite(row.redisCpuUs) ? row.redisCpuUs.toFixed(0) : '–'} µs/req  ` +
        `violations ${row.violations}  wrong ${row.wrongBodies}  failed ${row.failed}  client CPU ${(row.clientCpu * 100).toFixed(0)} %  other CPU ${(row.otherCpu * 100).toFixed(0)} %`,
    );
    return row;
  } catch (err) {
    console.log(`  ${variant.name.padEnd(9)} failed: ${err.message.split('\n')[0]}`);
    return { name: variant.name, label: variant.label, group: variant.group, status: 'failed', reason: err.message.split('\n')[0] };
  } finally {
    for (const a of apps) await a.stop();
  }
}

const fmt = (v, d = 0) => (Number.isFinite(v) ? v.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }) : '–');

function markdown(rows, meta) {
  const none = rows.find((r) => r.name === 'none' && r.status === 'ok');
  const lines = [
    '| cache | req/s | × no cache | p50 ms | p99 ms | p99.9 ms | GET handler calls | hit ratio | server CPU µs/req (both instances) | redis-server CPU µs/req | read-your-writes violations | wrong bodies | failed requests |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of rows) {
    if (r.status !== 'ok') {
      lines.push(`| ${r.label} | **${r.status}** (${r.reason}) |||||||||||| |`);
      continue;
    }
    lines.push(
      `| ${r.label} | ${fmt(r.rps)} | ${none ? fmt(r.rps / none.rps, 2) : '–'} | ${fmt(r.p50, 1)} | ${fmt(r.p99, 1)} | ${fmt(r.p999, 1)} | ${fmt(r.handlerCalls)} of ${fmt(r.gets)} | ` +
        `${fmt(r.hitRatio, 3)} | ${fmt(r.serverCpuUs, 0)} | ${fmt(r.redisCpuUs, 0)} | **${fmt(r.violations)}** | ${fmt(r.wrongBodies)} | ${fmt(r.failed)} |`,
    );
  }
  const examples = rows.filter((r) => r.firstViolation).map((r) => `- ${r.label}: ${r.firstViolation}`);
  const other = Math.max(0, ...rows.filter((r) => r.status === 'ok').map((r) => r.otherCpu));
  return `<!-- realistic:start -->
## A realistic workload (issue 24)

- Date: ${meta.date}; Node ${meta.node}, ${meta.cpu}, ${meta.cores} cores; ${meta.pinning}
- Command: \`${meta.command}\` (${meta.warmup} s warm-up, then ${meta.duration} s timed per cache, one run each, a fresh pair of app processes and empty Redis each)
- **The machine was loaded** while these figures were taken (it is shared with other engineers'
  builds and tests): other processes used up to ${fmt(other * 100)} % of a core during a timed run, and
  the 1-minute load average was ${fmt(meta.loadavgStart, 1)} before and ${fmt(meta.loadavgEnd, 1)} after. Compare the rows with each other, not with other runs.

${fmt(URLS)} item URLs, GETs drawn from a Zipf distribution (s = ${ZIPF_S}) over a fixed shuffle of
them; bodies of 1–64 KB (log-uniform per item, mean ${fmt(rows.find((r) => r.meanBodyKB)?.meanBodyKB, 1)} KB as answered); ${PUT_SHARE * 100} % of requests are
\`PUT /products/<p>\` (drawn the same way), which changes the product's version in the database and
invalidates its tag, carried by its ${ITEMS_PER_PRODUCT} item URLs (ours: \`cache.invalidates({ tags })\`;
apicache: \`req.apicacheGroup\` and \`apicache.clear(group)\`). Handlers read the product's version
from a shared database (a redis-server of its own), then work ${HANDLER_MS} ms. Two app instances, each
request to one of them at random; the cache's redis-server is behind a ${PROXY_MS} ms latency proxy (each
way). ${meta.connections} closed-loop requesters, keep-alive. p50/p99/p99.9 over all requests (GETs and PUTs).
Hit ratio = 1 − GET handler calls / GETs. Server CPU: both app processes' user+system time over
the timed run ÷ requests; redis-server: the cache's Redis (\`INFO cpu\`), not the database's. A
**read-your-writes violation** is a GET sent after a PUT of its product was answered that shows an
older version; a wrong body is one whose id or length is not the item's.

![requests/s per cache, realistic workload](realistic.svg)

${lines.join('\n')}

The memory configurations (apicache's, and ours with the default \`MemoryStore\`) keep a store per
instance: a PUT answered by one instance invalidates its own store only, so the other keeps
serving the old body until it expires. That is what their violations count; ours says so
(docs/redis-and-tiered.md) and offers the Redis store and the tiered one, whose invalidation
reaches every instance before the PUT is answered. Those two must show 0.
${examples.length ? `\nFirst violation seen:\n\n${examples.join('\n')}\n` : ''}<!-- realistic:end -->
`;
}

/** Puts the section first in RESULTS.md (after the title), replacing an earlier one. */
function publish(resultsFile, section) {
  let text = fs.existsSync(resultsFile) ? fs.readFileSync(resultsFile, 'utf8') : '# Benchmark results\n';
  text = text.replace(/<!-- realistic:start -->[\s\S]*?<!-- realistic:end -->\n*/, '');
  const title = text.indexOf('\n') + 1;
  fs.writeFileSync(resultsFile, `${text.slice(0, title)}\n${section}\n${text.slice(title).replace(/^\n+/, '')}`);
}

async function main() {
  const duration = Number(option('duration', 25));
  const warmup = Number(option('warmup', 5));
  const connections = Number(option('connections', 32));
  const only = option('only', '');
  const variants = only ? VARIANTS.filter((v) => only.split(',').includes(v.name)) : VARIANTS;
  if (!variants.length) throw new TypeError(`bench: --only names none of ${VARIANTS.map((v) => v.name).join(', ')}`);
  const outOpt = option('out', '');
  const outDir = outOpt ? path.resolve(outOpt) : only ? path.join(__dirname, '.tmp') : __dirname;
  const ours = resolveOurs(option('source', 'dist'));
  if (variants.some((v) => v.ours) && !ours.available) throw new Error(`our build is unavailable: ${ours.reason}`);
  const pinning = pinSelf();
  const loadavgStart = os.loadavg()[0];
  const maxSeconds = variants.length * (duration + warmup + 40) + 60;
  const cacheRedis = await startRedis({ maxSeconds });
  live.push(cacheRedis.stop);
  const dbRedis = await startRedis({ maxSeconds });
  live.push(dbRedis.stop);
  require('tsx/cjs/api').register();
  const { startTcpProxy } = require('../test/helpers/tcp-proxy.ts');
  const proxy = await startTcpProxy(cacheRedis.port, { delayMs: PROXY_MS });
  live.push(() => proxy.close());
  console.log(`realistic: ${variants.map((v) => v.name).join(', ')}; ${warmup} s warm-up + ${duration} s each, ${connections} requesters; ${pinning}`);
  const rows = [];
  for (const v of variants) rows.push(await runVariant(v, { cacheRedis, dbRedis, proxy, ours, duration, warmup, connections }));
  await cleanup();
  const meta = {
    date: new Date().toISOString(),
    node: process.version,
    cpu: cpuModel(),
    cores: os.cpus().length,
    pinning,
    command: ['node bench/realistic.js', ...process.argv.slice(2)].join(' '),
    duration,
    warmup,
    connections,
    loadavgStart,
    loadavgEnd: os.loadavg()[0],
  };
  const section = markdown(rows, meta);
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(path.join(outDir, 'REALISTIC.md'), `# Realistic workload\n\n${section.replace(/^<!--.*-->\n/gm, '').replace(/^## .*\n\n/, '')}`);
  const none = rows.find((r) => r.name === 'none' && r.status === 'ok');
  const chartRows = rows.map((r) => ({ ...r, name: r.name === 'none' ? 'no cache' : r.name === 'apicache' ? 'apicache' : `ours: ${r.name}` }));
  fs.writeFileSync(
    path.join(outDir, 'realistic.svg'),
    chart(chartRows, {
      title: 'Realistic workload: requests/s (higher is better)',
      subtitle: `Zipf GETs over 100,000 URLs, 5 % PUTs, 2 instances, ${HANDLER_MS} ms handlers; loaded machine`,
      label: (r) =>
        `${fmt(r.rps)} req/s · ${none ? `${fmt(r.rps / none.rps, 2)}× no cache · ` : ''}hit ratio ${fmt(r.hitRatio, 2)} · ${fmt(r.violations)} violations`,
    }),
  );
  publish(path.join(outDir, 'RESULTS.md'), section);
  console.log(`realistic: wrote ${path.relative(process.cwd(), outDir) || '.'}/REALISTIC.md, realistic.svg and the first section of RESULTS.md`);
}

process.on('SIGINT', () => cleanup().finally(() => process.exit(130)));
main().then(
  () => process.exit(0),
  (err) => {
    console.error(`realistic: ${err.stack || err}`);
    cleanup().finally(() => process.exit(1));
  },
);
