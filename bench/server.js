'use strict';
/**
 * One variant's server process: `node bench/server.js <variant>`, started by the runner
 * with an IPC channel. It listens on 127.0.0.1 (port 0), says { type: 'ready', port },
 * answers { type: 'stats' } with its CPU time, memory, GET handler calls and writes, and exits on
 * { type: 'stop' }, when the runner goes away (IPC disconnect), or after
 * BENCH_LIFETIME_MS whatever happens.
 *
 * Environment: BENCH_REDIS_URL (Redis variants), BENCH_OURS (path of our middleware module).
 */

const { VARIANTS } = require('./variants');
const { makeHandler, PAYLOADS } = require('./payload');

const name = process.argv[2];
const variant = VARIANTS.find((v) => v.name === name);
const lifetime = Number(process.env.BENCH_LIFETIME_MS) || 120_000;
setTimeout(() => process.exit(3), lifetime).unref();
process.on('disconnect', () => process.exit(0));

function send(message) {
  if (process.connected) process.send(message);
}

async function main() {
  if (!variant) throw new Error(`unknown variant ${name}`);
  const express = require('express');
  const counter = { calls: 0, writes: 0 };
  const payload = PAYLOADS[variant.payload];
  const ctx = {
    variant,
    payload,
    counter,
    handler: makeHandler({ counter, payload }),
    slowHandler: makeHandler({ counter, payload, slow: true }),
    redisUrl: process.env.BENCH_REDIS_URL,
    ours: variant.ours ? require(process.env.BENCH_OURS) : undefined,
  };
  const app = express();
  const { builders } = require(`./variants/${variant.module}`);
  const close = await builders[name](app, ctx);
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve, reject) => server.once('listening', resolve).once('error', reject));

  process.on('message', async (msg) => {
    if (msg.type === 'stats') {
      const mem = process.memoryUsage();
      send({ type: 'stats', id: msg.id, cpu: process.cpuUsage(), rss: mem.rss, heapUsed: mem.heapUsed, originCalls: counter.calls, writes: counter.writes });
    } else if (msg.type === 'stop') {
      server.closeAllConnections();
      server.close();
      try {
        if (typeof close === 'function') await close();
      } finally {
        process.exit(0);
      }
    }
  });
  send({ type: 'ready', port: server.address().port });
}

main().catch((err) => {
  send({ type: 'failed', reason: err && err.stack ? err.stack : String(err) });
  process.exitCode = 1;
  setTimeout(() => process.exit(1), 100);
});
