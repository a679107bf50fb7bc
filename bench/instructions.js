'use strict';
/**
 * `node bench/instructions.js <variant> [--warm=15000] [--count=4000] [--connections=8] [--unique] [--keep=FILE]`:
 * server instructions per request, counted by callgrind (valgrind), for figures the
 * machine's noise cannot move. The variant's server (bench/server.js) runs under
 * `valgrind --tool=callgrind --instr-atstart=no` and node `--predictable`; `warm` requests
 * go uncounted (V8 optimises the hot path), then counting is switched on for `count`
 * requests over keep-alive connections. Prints the total, and the total without V8's
 * optimising compiler (still compiling in so short a window, by a different amount each
 * run). Compare variants of one run of this script each, e.g. bare-replay and memory-hit.
 * `--keep=FILE` keeps the callgrind file (for callgrind_annotate); BENCH_OURS=<a built
 * dist/cjs/middleware/index.js> measures another build (a commit's, say) the same way.
 *
 * Needs valgrind (callgrind_control, callgrind_annotate) and the build (npm run build);
 * Redis variants need BENCH_REDIS_URL. Takes a few minutes per variant.
 */

const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('./args');
const { PATH } = require('./payload');

const args = parseArgs();
const variant = args.variant;
const warm = args.number('warm', 15000);
const count = args.number('count', 4000);
const connections = args.number('connections', 8);
const unique = args.has('unique');
const keep = args.string('keep');

/** Send `n` GETs over keep-alive connections; `offset` numbers unique paths. */
async function load(port, n, offset) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  let next = 0;
  const get = (p) =>
    new Promise((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port, path: p, agent }, (res) => {
          res.resume();
          res.on('end', resolve);
        })
        .on('error', reject);
    });
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (next < n) {
        const i = offset + next++;
        await get(unique ? `${PATH}&count=${i}` : PATH);
      }
    }),
  );
  agent.destroy();
}

/** Instructions of `compiler::` functions in a callgrind file (callgrind_annotate's listing). */
function compilerInstructions(file) {
  const out = execFileSync('callgrind_annotate', ['--threshold=100', file], { maxBuffer: 256 * 1024 * 1024 }).toString();
  let n = 0;
  for (const line of out.split('\n')) {
    const m = /^\s*([\d,]+)\s+(?:\([^)]*\)\s+)?(.*)$/.exec(line);
    if (m && m[2].includes('compiler::')) n += Number(m[1].replace(/,/g, ''));
  }
  return n;
}

async function main() {
  if (!variant) throw new Error('usage: node bench/instructions.js <variant> [--warm=N] [--count=N] [--connections=N] [--unique]');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'erc-callgrind-'));
  const out = path.join(dir, 'callgrind.out');
  const child = spawn(
    'valgrind',
    ['--tool=callgrind', '--instr-atstart=no', `--callgrind-out-file=${out}`, process.execPath, '--predictable', path.join(__dirname, 'server.js'), variant],
    {
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      // Under valgrind the default 60 s TTL and 100 ms storeTimeout would count expiries
      // and bypasses (variants/ours.js); the handler calls while counted are printed.
      env: {
        ...process.env,
        BENCH_OURS: process.env.BENCH_OURS || path.resolve(__dirname, '../dist/cjs/middleware/index.js'),
        BENCH_LIFETIME_MS: '3600000',
        BENCH_OURS_OPTIONS: JSON.stringify({ ttl: 3600, storeTimeout: 60_000 }),
      },
    },
  );
  let stderr = '';
  child.stderr.on('data', (c) => (stderr += c));
  const ready = await new Promise((resolve, reject) => {
    child.on('message', (m) => m.type === 'ready' && resolve(m));
    child.once('exit', (code) => reject(new Error(`server exited (${code}): ${stderr.slice(-500)}`)));
  });
  const stats = () =>
    new Promise((resolve) => {
      child.once('message', resolve);
      child.send({ type: 'stats', id: 0 });
    });
  await load(ready.port, warm, 0);
  const before = await stats();
  execFileSync('callgrind_control', ['-i', 'on', String(child.pid)], { stdio: 'ignore' });
  await load(ready.port, count, warm);
  execFileSync('callgrind_control', ['-i', 'off', String(child.pid)], { stdio: 'ignore' });
  const calls = (await stats()).originCalls - before.originCalls;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.send({ type: 'stop' });
  await exited;
  const total = Number((/Collected : (\d+)/.exec(stderr) || [])[1]);
  if (!total) throw new Error(`no instruction count from callgrind: ${stderr.slice(-500)}`);
  const compiler = compilerInstructions(out);
  if (keep) fs.copyFileSync(out, keep);
  fs.rmSync(dir, { recursive: true, force: true });
  const k = (n) => `${(n / count / 1000).toFixed(1)} k`;
  console.log(
    `${variant}: ${k(total)} instructions per request (${k(total - compiler)} without V8's optimising compiler), ` +
      `${count} requests after ${warm}, ${connections} connections${unique ? ', a new key each' : ''}, ${calls} handler calls while counted`,
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
