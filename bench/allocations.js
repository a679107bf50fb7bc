'use strict';
/**
 * `node bench/allocations.js <variant> [--requests=5000] [--top=30]`: bytes allocated per
 * request, by the function that allocated them, for a memory variant (bare, uncached-slow,
 * miss-slow, memory-hit, ...). In process and without sockets (an IncomingMessage and a
 * ServerResponse on a sink), a new key per request, the origin's 20 ms wait left out:
 * what a request allocates, not how long it waits. V8's sampling heap profiler, counting
 * objects that were collected too (what the scavenger pays for), after as many requests
 * of warm-up. Needs the build (npm run build).
 */

const inspector = require('node:inspector');
const { IncomingMessage, ServerResponse } = require('node:http');
const { Socket } = require('node:net');
const path = require('node:path');
const { Writable } = require('node:stream');
const { parseArgs } = require('./args');
const { VARIANTS } = require('./variants');
const { makeHandler, PAYLOADS, PATH } = require('./payload');

const args = parseArgs();
const name = args.variant;
const requests = args.number('requests', 5000);
const top = args.number('top', 30);

let seq = 0;
function one(app) {
  return new Promise((resolve) => {
    const req = new IncomingMessage(new Socket());
    req.method = 'GET';
    req.url = `${PATH}&alloc=${seq++}`;
    req.headers = { host: 'localhost:3000', accept: 'application/json' };
    req.httpVersionMajor = 1;
    req.httpVersionMinor = 1;
    req.push(null);
    const res = new ServerResponse(req);
    res.assignSocket(new Writable({ write: (_c, _e, cb) => cb(), writev: (_c, cb) => cb() }));
    res.on('finish', () => setImmediate(resolve));
    app.handle(req, res, () => resolve());
  });
}

async function main() {
  const variant = VARIANTS.find((v) => v.name === name);
  if (!variant || variant.redis) throw new Error('usage: node bench/allocations.js <memory variant> [--requests=N] [--top=N]');
  const express = require('express');
  const counter = { calls: 0, writes: 0 };
  const payload = PAYLOADS[variant.payload];
  const handler = makeHandler({ counter, payload });
  const ctx = {
    variant,
    payload,
    counter,
    handler,
    slowHandler: handler,
    ours: variant.ours ? require(path.resolve(__dirname, '../dist/cjs/middleware/index.js')) : undefined,
  };
  const app = express();
  await require(`./variants/${variant.module}`).builders[name](app, ctx);
  for (let i = 0; i < requests; i++) await one(app);
  const session = new inspector.Session();
  session.connect();
  const post = (method, params) => new Promise((resolve, reject) => session.post(method, params, (e, v) => (e ? reject(e) : resolve(v))));
  await post('HeapProfiler.startSampling', { samplingInterval: 256, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  for (let i = 0; i < requests; i++) await one(app);
  const { profile } = await post('HeapProfiler.stopSampling');
  const self = new Map();
  let total = 0;
  const walk = (n) => {
    const f = n.callFrame;
    const label = `${f.functionName || '(anonymous)'} ${f.url.split('/').slice(-2).join('/')}:${f.lineNumber + 1}`;
    self.set(label, (self.get(label) || 0) + n.selfSize);
    total += n.selfSize;
    n.children.forEach(walk);
  };
  walk(profile.head);
  console.log(`${name}: ${(total / requests).toFixed(0)} B allocated per request (${requests} requests after ${requests}, a new key each)`);
  for (const [label, bytes] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${(bytes / requests).toFixed(0).padStart(7)} B  ${label}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
