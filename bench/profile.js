'use strict';
/**
 * `node bench/profile.js <variant> [requests] [--unique] [--connections=N]`: one variant's
 * server under `node --cpu-prof`, driven by a plain keep-alive node client (not autocannon,
 * whose own parsing limits large bodies), then the profile's top functions by self and
 * inclusive time. For the "out of reach, show why" notes (issue 13 item 4): the .cpuprofile
 * is written to bench/.tmp/profiles/ (open it in Chrome DevTools).
 *
 * Needs the build (npm run build); Redis variants need BENCH_REDIS_URL.
 */

const { fork } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { parseArgs } = require('./args');
const { PATH } = require('./payload');

const args = parseArgs();
const variant = args.variant;
const requests = args.position(0, 200);
const unique = args.has('unique');
const connections = args.number('connections', 8);
const dir = path.join(__dirname, '.tmp', 'profiles');

/** Self and inclusive time per function, as percentages of the profile. */
function summarize(profile, top = 25) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children || []) parent.set(c, n.id);
  const time = new Map();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] || 0;
    time.set(id, (time.get(id) || 0) + dt);
    total += dt;
  });
  const label = (n) => `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.split('/').slice(-2).join('/')}:${n.callFrame.lineNumber + 1}`;
  const self = new Map();
  const incl = new Map();
  for (const [id, t] of time) {
    const name = label(byId.get(id));
    self.set(name, (self.get(name) || 0) + t);
    const seen = new Set();
    for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
      const n = label(byId.get(cur));
      if (!seen.has(n)) incl.set(n, (incl.get(n) || 0) + t);
      seen.add(n);
    }
  }
  const list = (m) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([n, t]) => `${((t / total) * 100).toFixed(1).padStart(5)} %  ${n}`)
      .join('\n');
  return `self time\n${list(self)}\n\ninclusive time\n${list(incl)}`;
}

function get(port, p, agent) {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: p, agent }, (res) => {
        res.resume();
        res.on('end', resolve);
      })
      .on('error', reject);
  });
}

async function main() {
  if (!variant) throw new Error('usage: node bench/profile.js <variant> [requests] [--unique] [--connections=N]');
  fs.mkdirSync(dir, { recursive: true });
  const before = new Set(fs.readdirSync(dir));
  const child = fork(path.join(__dirname, 'server.js'), [variant], {
    env: { ...process.env, BENCH_OURS: path.resolve(__dirname, '../dist/cjs/middleware/index.js') },
    execArgv: ['--cpu-prof', `--cpu-prof-dir=${dir}`],
  });
  const message = (type) =>
    new Promise((resolve) =>
      child.on('message', function on(m) {
        if (m.type === type || m.type === 'failed') {
          child.off('message', on);
          resolve(m);
        }
      }),
    );
  const ready = await message('ready');
  if (ready.type === 'failed') throw new Error(ready.reason);
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  for (let i = 0; i < 3; i++) await get(ready.port, PATH, agent);
  child.send({ type: 'stats', id: 1 });
  const s0 = await message('stats');
  const started = process.hrtime.bigint();
  let next = 0;
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (next < requests) {
        const i = next++;
        await get(ready.port, unique ? `${PATH}&profile=${i}` : PATH, agent);
      }
    }),
  );
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  child.send({ type: 'stats', id: 2 });
  const s1 = await message('stats');
  agent.destroy();
  const exited = new Promise((r) => child.once('exit', r));
  child.send({ type: 'stop' });
  await exited;
  const cpu = (s1.cpu.user + s1.cpu.system - s0.cpu.user - s0.cpu.system) / requests;
  const file = fs.readdirSync(dir).find((f) => !before.has(f) && f.endsWith('.cpuprofile'));
  console.log(
    `${variant}: ${requests} requests over ${connections} connections${unique ? ' (new key each)' : ''}: ` +
      `${((requests / ms) * 1000).toFixed(0)} req/s, server CPU ${cpu.toFixed(0)} µs/req, handler calls ${s1.originCalls - s0.originCalls}`,
  );
  if (file) {
    console.log(`profile: ${path.relative(process.cwd(), path.join(dir, file))} (whole process, start-up included)\n`);
    console.log(summarize(JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'))));
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
