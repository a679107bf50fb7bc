'use strict';
/**
 * `npm run bench`: every variant in its own server process on core 0, autocannon here on
 * core 1, in interleaved rounds; correctness checked before timing; RESULTS.md and
 * results.svg written at the end, then (on a full run) MEMORY.md and REDIS-MEMORY.md.
 * `npm run bench -- memory` / `-- redis-memory` runs only bench/memory.js / redis-memory.js.
 * Options: see bench/config.js (BENCH_ROUNDS, BENCH_DURATION, BENCH_WARMUP,
 * BENCH_CONNECTIONS, BENCH_QUIET, BENCH_ONLY, BENCH_SOURCE, BENCH_OUT, BENCH_OURS_MODULE).
 */

const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { loadConfig } = require('./config');
const { selectVariants } = require('./variants');
const { resolveOurs } = require('./ours');
const { pinSelf, cpuModel, machineBusyUs, waitForQuiet } = require('./cpu');
const { startRedis, command, redisCpuUs } = require('./redis');
const { startServer, stopAll } = require('./spawn');
const { checkVariant } = require('./check');
const { runLoad } = require('./load');
const { runRawLoad } = require('./raw-load');
const { markdown, summarize, table, targets, targetTable } = require('./report');
const { chart } = require('./chart');
const { PATH, EXPECTED_BODY } = require('./payload');
const { startWriter, KEYS } = require('./writer');

let redis;
let cleaning;

function cleanup() {
  cleaning ??= (async () => {
    stopAll();
    if (redis) await redis.stop();
  })();
  return cleaning;
}

function abort(why, code) {
  console.error(`\nbench: ${why}; stopping servers and redis-server`);
  cleanup().finally(() => process.exit(code));
}

function commandLine() {
  const env = Object.entries(process.env)
    .filter(([k]) => k.startsWith('BENCH_'))
    .map(([k, v]) => `${k}=${v}`);
  return [...env, 'node bench/run.js', ...process.argv.slice(2)].join(' ');
}

async function runOne(entry, round, ctx) {
  const { variant } = entry;
  const { config } = ctx;
  let server;
  try {
    if (variant.redis) await command(redis.port, 'FLUSHALL');
    server = await startServer(variant, {
      env: { BENCH_REDIS_URL: redis ? redis.url : '', BENCH_OURS: variant.ours ? ctx.ours.file : '' },
      nodeArgs: variant.ours ? ctx.ours.nodeArgs : [],
      lifetimeMs: (config.quiet + config.warmup + Math.max(config.duration, config.extraDuration) + 60) * 1000,
    });
    const check = await checkVariant(variant, server);
    if (!check.ok) {
      entry.status = 'WRONG';
      entry.reason = `round ${round}: ${check.reason}`;
      console.log(`  ${variant.name.padEnd(18)} WRONG: ${check.reason}`);
      return;
    }
    entry.sample ??= check.sample;
    const keys = variant.load === 'single' ? 0 : KEYS;
    const duration = variant.short ? config.extraDuration : config.duration;
    const load = { port: server.port, headers: check.headers, unique: variant.unique, keys, connections: variant.connections ?? config.connections };
    const loadFn = variant.loader === 'raw' ? runRawLoad : runLoad;
    const waited = await waitForQuiet(config.quiet);
    if (waited < 0) console.log(`  ${variant.name.padEnd(18)} (machine still busy after ${config.quiet} s; running anyway)`);
    if (config.warmup > 0) await loadFn({ ...load, duration: config.warmup });
    const before = await server.stats();
    const busy = machineBusyUs();
    const redisBefore = variant.redis ? await redisCpuUs(redis.port) : 0;
    const stopWriter = variant.load === 'mixed' ? startWriter(server.port) : undefined;
    const res = await loadFn({ ...load, duration });
    const writes = stopWriter ? await stopWriter() : undefined;
    const redisCpu = variant.redis ? (await redisCpuUs(redis.port)) - redisBefore : 0;
    const busyUs = machineBusyUs() - busy;
    const after = await server.stats();
    const cpu = after.cpu.user + after.cpu.system - before.cpu.user - before.cpu.system;
    const s = res.statuses;
    const run = {
      round,
      rps: res.rps,
      p50: res.p50,
      p99: res.p99,
      cpuUs: res.requests ? cpu / res.requests : NaN,
      redisCpuUs: variant.redis && res.requests ? redisCpu / res.requests : NaN,
      unexpected: (variant.expect === '304' ? s['2xx'] : s['3xx']) + s.other + res.errors,
      rss: after.rss,
      originCalls: after.originCalls - before.originCalls,
      clientCpu: res.clientCpu,
      requests: res.requests,
      writes,
      hitRatio: res.requests ? 1 - (after.originCalls - before.originCalls) / res.requests : NaN,
      // Cores' worth of CPU that neither the server, redis-server nor the load generator used.
      otherCpu: Math.max(0, (busyUs - cpu - redisCpu - res.clientCpuUs) / res.wallUs),
    };
    entry.runs.push(run);
    console.log(
      `  ${variant.name.padEnd(18)} ${run.rps.toFixed(0).padStart(7)} req/s  p50 ${run.p50.toFixed(2)} ms  ` +
        `p99 ${run.p99.toFixed(2)} ms  ${run.cpuUs.toFixed(1)} µs/req${variant.redis ? ` (+${run.redisCpuUs.toFixed(1)} redis)` : ''}  unexpected ${run.unexpected}  ` +
        `${variant.load !== 'single' ? `hit ratio ${run.hitRatio.toFixed(3)}  origin ${run.originCalls}  ${writes ? `writes ${writes.ok}/${writes.unrelated + writes.related}  ` : ''}` : ''}` +
        `client CPU ${(run.clientCpu * 100).toFixed(0)} %  other CPU ${(run.otherCpu * 100).toFixed(0)} %`,
    );
  } catch (err) {
    entry.status = 'failed';
    entry.reason = `round ${round}: ${err.message.split('\n')[0]}`;
    console.log(`  ${variant.name.padEnd(18)} failed: ${entry.reason}`);
  } finally {
    if (server) await server.stop();
  }
}

async function main() {
  const config = loadConfig();
  const variants = selectVariants(config.only);
  const ours = variants.some((v) => v.ours) ? resolveOurs(config.source) : undefined;
  const entries = variants.map((variant) =>
    variant.ours && !ours.available ? { variant, status: 'unavailable', reason: ours.reason, runs: [] } : { variant, status: 'ok', runs: [] },
  );
  const pinning = pinSelf();
  const started = Date.now();
  console.log(
    `bench: ${entries.length} variants, ${config.rounds} rounds × ${config.duration} s (${config.extraDuration} s for sizes, compression, mixed), ` +
      `${config.connections} connections; ${pinning}`,
  );
  if (ours && !ours.available) console.log(`bench: our variants are unavailable: ${ours.reason}`);

  if (entries.some((e) => e.status === 'ok' && e.variant.redis)) {
    const perRun = config.warmup + config.duration + 15;
    redis = await startRedis({ maxSeconds: config.rounds * entries.length * perRun + 120 });
    console.log(`bench: redis-server on ${redis.url}`);
  }

  const ctx = { config, ours };
  for (let round = 1; round <= config.rounds; round++) {
    console.log(`round ${round}/${config.rounds}`);
    for (const entry of entries) if (entry.status === 'ok') await runOne(entry, round, ctx);
  }
  await cleanup();

  const unavailable = entries.filter((e) => e.status === 'unavailable').map((e) => e.variant.name);
  const partial = [
    config.only && `BENCH_ONLY=${config.only.join(',')}`,
    unavailable.length && `unavailable: ${unavailable.join(', ')}`,
    ours && ours.available && process.env.BENCH_OURS_MODULE && `our variants ran a stand-in (BENCH_OURS_MODULE)`,
  ]
    .filter(Boolean)
    .join('; ');
  const results = {
    meta: {
      date: new Date().toISOString(),
      loadavg: os.loadavg()[0],
      node: process.version,
      cpu: cpuModel(),
      cores: os.cpus().length,
      pinning,
      command: commandLine(),
      rounds: config.rounds,
      duration: config.duration,
      extraDuration: config.extraDuration,
      warmup: config.warmup,
      elapsedS: (Date.now() - started) / 1000,
      connections: config.connections,
      quiet: config.quiet,
      path: PATH,
      bodyBytes: EXPECTED_BODY.length,
      partial,
      ours: ours ? ours.describe : 'not selected',
    },
    variants: entries,
  };
  const rows = summarize(results);
  console.log(`\n${table(rows)}\n\n${targetTable(targets(results))}\n`);

  // A partial run never overwrites the published bench/RESULTS.md unless BENCH_OUT says where to write.
  const outDir = partial && !process.env.BENCH_OUT && !process.argv.some((a) => a.startsWith('--out=')) ? path.join(__dirname, '.tmp') : config.outDir;
  fs.mkdirSync(outDir, { recursive: true });
  // Keep the realistic workload's section (bench/realistic.js) first, as it was published.
  const resultsFile = path.join(outDir, 'RESULTS.md');
  const realistic = fs.existsSync(resultsFile) ? /<!-- realistic:start -->[\s\S]*?<!-- realistic:end -->\n/.exec(fs.readFileSync(resultsFile, 'utf8')) : null;
  const text = markdown(results);
  const title = text.indexOf('\n') + 1;
  fs.writeFileSync(resultsFile, realistic ? `${text.slice(0, title)}\n${realistic[0]}${text.slice(title)}` : text);
  fs.writeFileSync(path.join(outDir, 'results.svg'), chart(rows));
  console.log(`bench: wrote ${path.relative(process.cwd(), path.join(outDir, 'RESULTS.md'))} and results.svg${partial ? ` (partial run: ${partial})` : ''}`);
  // A full run publishes the memory reports beside RESULTS.md, from the same build.
  if (!partial) for (const script of ['memory.js', 'redis-memory.js']) runScript(script, outDir);
}

/** Runs another bench script to completion, its output shown, writing into `outDir`. */
function runScript(script, outDir) {
  console.log(`\nbench: node bench/${script}`);
  const { status } = spawnSync(process.execPath, [path.join(__dirname, script)], {
    stdio: 'inherit',
    env: { ...process.env, BENCH_OUT: outDir },
    timeout: 600_000,
  });
  if (status !== 0) console.log(`bench: ${script} exited with ${status}`);
}

function runMemory(script) {
  const child = spawn(process.execPath, [path.join(__dirname, script), ...process.argv.slice(3)], { stdio: 'inherit' });
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
  process.on('SIGINT', () => child.kill('SIGINT'));
}

if (process.argv[2] === 'memory' || process.argv[2] === 'redis-memory') {
  runMemory(`${process.argv[2]}.js`);
} else {
  process.on('SIGINT', () => abort('interrupted', 130));
  process.on('SIGTERM', () => abort('terminated', 143));
  process.on('uncaughtException', (err) => abort(`error: ${err.stack}`, 1));
  process.on('unhandledRejection', (err) => abort(`error: ${err && err.stack ? err.stack : err}`, 1));
  main().then(
    () => process.exit(0),
    (err) => abort(`error: ${err.stack || err}`, 1),
  );
}
