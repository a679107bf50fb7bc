'use strict';
/**
 * The reference points: Express answering by itself (`bare`, `uncached-slow`), the smallest
 * possible in-process cache (`bare-replay`, the ceiling for any in-process hit) and one
 * ioredis GET per request (`redis-floor`, the ceiling for any Redis hit). The `-64k` and
 * `-1m` ones answer the same bytes as the ours variants of that size (ctx.payload).
 */

const { ROUTE } = require('../payload');

/**
 * A Map of stored bytes and headers, answered with one writeHead + end. With `fields`, a
 * hit also sends what ours does beyond the handler's own fields (the stored Date,
 * Accept-Ranges, X-Cache, Age): what those fields cost Node, apart from any cache logic.
 */
function replayMiddleware({ fields = false } = {}) {
  const stored = new Map();
  return function replay(req, res, next) {
    const key = req.url;
    const hit = stored.get(key);
    if (hit !== undefined) {
      if (fields) {
        res.setHeader('date', hit.date);
        res.setHeader('accept-ranges', 'bytes');
        res.setHeader('X-Cache', 'HIT');
        res.setHeader('Age', Math.floor((Date.now() - hit.at) / 1000));
      }
      res.writeHead(200, hit.headers);
      res.end(hit.body);
      return;
    }
    // Capture: Express's res.send ends with a single res.end(chunk, encoding).
    const end = res.end;
    res.end = function captureEnd(chunk, encoding, cb) {
      if (res.statusCode === 200 && chunk !== undefined && typeof chunk !== 'function') {
        const body = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk, encoding);
        stored.set(key, { headers: res.getHeaders(), body, date: new Date().toUTCString(), at: Date.now() });
      }
      return end.call(this, chunk, encoding, cb);
    };
    next();
  };
}

async function redisFloor(app, ctx) {
  const Redis = require('ioredis');
  const redis = new Redis(ctx.redisUrl, { lazyConnect: true });
  await redis.connect();
  const key = 'bench:redis-floor';
  const { expected, type } = ctx.payload;
  await redis.set(key, expected);
  app.get(ROUTE, (req, res, next) => {
    redis.getBuffer(key).then((body) => {
      res.writeHead(200, { 'content-type': type, 'content-length': body.length });
      res.end(body);
    }, next);
  });
  return () => redis.quit();
}

const replay = (app, ctx) => {
  app.use(replayMiddleware());
  app.get(ROUTE, ctx.handler);
};
const replayFields = (app, ctx) => {
  app.use(replayMiddleware({ fields: true }));
  app.get(ROUTE, ctx.handler);
};
const uncachedSlow = (app, ctx) => {
  app.get(ROUTE, ctx.slowHandler);
};

const builders = {
  bare(app, ctx) {
    app.get(ROUTE, ctx.handler);
  },
  'bare-replay-fields': replayFields,
};
for (const suffix of ['', '-64k', '-1m']) {
  builders[`bare-replay${suffix}`] = replay;
  builders[`uncached-slow${suffix}`] = uncachedSlow;
  builders[`redis-floor${suffix}`] = redisFloor;
}

module.exports = { builders };
