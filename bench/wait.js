'use strict';
/**
 * What WAIT costs a PUT (issue 25): one Express app with `cache.invalidates()` on a Redis
 * master, first without a replica, then with one and the wait off (`failoverTimeout: 0`,
 * as before 0.2.0), then with one and WAIT (on 127.0.0.1, so the figure is the replica's
 * acknowledgement round trip plus the extra commands, not a network). Sequential
 * PUTs, each invalidating a path that holds a cached entry (a GET stores it first).
 *
 *   npm run build && node bench/wait.js [--count=2000]
 *
 * Prints the PUT's median and p99 in ms for each run. A benchmark, not a test.
 */

const { spawn } = require('node:child_process');
const http = require('node:http');
const net = require('node:net');
const { mkdtempSync, rmSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');
const { performance } = require('node:perf_hooks');

const count = Number((process.argv.find((a) => a.startsWith('--count=')) ?? '--count=2000').slice(8));

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function redis(dir) {
  const port = await freePort();
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--repl-diskless-sync-delay', '0'],
    {
      stdio: ['ignore', 'pipe', 'ignore'],
    },
  );
  await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (c) => {
      out += c;
      if (out.includes('Ready to accept connections')) resolve();
    });
    child.once('exit', () => reject(new Error(out)));
  });
  child.stdout.resume();
  return { port, child };
}

function send(port, method, path) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, agent: keepAlive }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', reject);
    req.end();
  });
}
const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 1 });

async function run(label, withReplica, options = {}) {
  const { createCache } = require('../dist/cjs/middleware/index.js');
  const { Redis } = require('ioredis');
  const express = require('express');
  const dir = mkdtempSync(join(tmpdir(), 'erc-bench-wait-'));
  const master = await redis(dir);
  const servers = [master.child];
  if (withReplica) {
    const replica = await redis(dir);
    servers.push(replica.child);
    const r = new Redis(replica.port, '127.0.0.1');
    await r.replicaof('127.0.0.1', String(master.port));
    for (;;) {
      if (/master_link_status:up/.test(await r.info('replication'))) break;
      await new Promise((res) => setTimeout(res, 20));
    }
    r.disconnect();
  }
  const cache = createCache({ redis: `redis://127.0.0.1:${master.port}`, onError: () => undefined, ...options });
  const app = express();
  app.use(cache.middleware());
  app.get('/item/:n', (req, res) => res.json({ n: req.params.n }));
  app.put(
    '/item/:n',
    cache.invalidates((req) => ({ paths: [`/item/${req.params.n}`] })),
    (req, res) => res.json({ ok: true }),
  );
  const server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const port = server.address().port;
  const times = [];
  for (let i = 0; i < count + 200; i++) {
    const path = `/item/${i % 50}`;
    await send(port, 'GET', path);
    const t = performance.now();
    const status = await send(port, 'PUT', path);
    if (status !== 200) throw new Error(`PUT answered ${status}`);
    if (i >= 200) times.push(performance.now() - t); // the first 200 warm up
  }
  times.sort((a, b) => a - b);
  const at = (p) => times[Math.min(times.length - 1, Math.floor((p / 100) * times.length))].toFixed(3);
  console.log(`${label}: PUT median ${at(50)} ms, p99 ${at(99)} ms (${count} PUTs)`);
  server.close();
  keepAlive.destroy();
  await cache.close();
  for (const c of servers) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
}

(async () => {
  await run('no replica                     ', false);
  await run('one replica, failoverTimeout 0  ', true, { failoverTimeout: 0 });
  await run('one replica (WAIT, the default) ', true);
})().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
