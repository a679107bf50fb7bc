'use strict';
/**
 * One app instance of the realistic workload (bench/realistic.js): `node bench/realistic-app.js
 * <variant>` with an IPC channel (the protocol of bench/server.js: ready, stats, stop).
 *
 *   GET /items/:id      reads its product's version from the database, works 30 ms, answers
 *                       a JSON body of exactly bodySize(id) bytes naming id, product and version;
 *                       cached with the tag `product:<p>`
 *   PUT /products/:p    works 30 ms, increments the product's version, invalidates the tag
 *                       (ours: cache.invalidates; apicache: apicache.clear(group)), answers { v }
 *
 * The database is a redis-server of its own (BENCH_DB_URL), shared by both instances and
 * not behind the latency proxy; the cache's Redis (BENCH_REDIS_URL) is behind it.
 * Variants: none | apicache | memory | redis | tiered.
 */

const { renderItem, productOf, HANDLER_MS, TTL_S } = require('./realistic-model');

const name = process.argv[2];
const lifetime = Number(process.env.BENCH_LIFETIME_MS) || 120_000;
setTimeout(() => process.exit(3), lifetime).unref();
process.on('disconnect', () => process.exit(0));
const send = (m) => process.connected && process.send(m);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  const express = require('express');
  const Redis = require('ioredis');
  const db = new Redis(process.env.BENCH_DB_URL, { lazyConnect: true });
  await db.connect();
  const counter = { calls: 0, writes: 0 };
  const app = express();
  const tag = (p) => `product:${p}`;

  async function item(req, res) {
    counter.calls++;
    const id = Number(req.params.id);
    const v = Number(await db.get(`v:${productOf(id)}`)) || 0; // read the row first, as a handler would
    await sleep(HANDLER_MS);
    res.type('json').send(renderItem(id, v));
  }
  async function put(req, res) {
    counter.writes++;
    await sleep(HANDLER_MS);
    const v = await db.incr(`v:${req.params.p}`);
    res.locals.onWritten?.(req.params.p);
    res.json({ v });
  }

  let close = () => undefined;
  if (name === 'none') {
    app.get('/items/:id', item);
    app.put('/products/:p', put);
  } else if (name === 'apicache') {
    // apicache's documented groups: req.apicacheGroup on the GET, apicache.clear(group) on the write.
    const apicache = require('apicache').newInstance();
    const group = (req, _res, next) => {
      req.apicacheGroup = tag(productOf(Number(req.params.id)));
      next();
    };
    app.get('/items/:id', group, apicache.middleware(`${TTL_S} seconds`), item);
    app.put(
      '/products/:p',
      (_req, res, next) => {
        res.locals.onWritten = (p) => apicache.clear(tag(p));
        next();
      },
      put,
    );
    close = () => apicache.clear();
  } else {
    const ours = require(process.env.BENCH_OURS);
    const options = name === 'memory' ? {} : { redis: process.env.BENCH_REDIS_URL, ...(name === 'tiered' ? { tiered: true } : {}) };
    const cache = ours.createCache({ ttl: TTL_S, ...options });
    app.get('/items/:id', cache.middleware({ tags: (req) => [tag(productOf(Number(req.params.id)))] }), item);
    app.put(
      '/products/:p',
      cache.invalidates((req) => ({ tags: [tag(req.params.p)] })),
      put,
    );
    close = () => cache.close();
  }

  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve, reject) => server.once('listening', resolve).once('error', reject));
  process.on('message', async (msg) => {
    if (msg.type === 'stats') {
      send({ type: 'stats', id: msg.id, cpu: process.cpuUsage(), rss: process.memoryUsage().rss, originCalls: counter.calls, writes: counter.writes });
    } else if (msg.type === 'stop') {
      server.closeAllConnections();
      server.close();
      try {
        await close();
        db.disconnect();
      } finally {
        process.exit(0);
      }
    }
  });
  send({ type: 'ready', port: server.address().port });
}

main().catch((err) => {
  send({ type: 'failed', reason: err && err.stack ? err.stack : String(err) });
  setTimeout(() => process.exit(1), 100);
});
