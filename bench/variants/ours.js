'use strict';
/**
 * Our middleware, as shipped: memory, Redis and tiered, hit / 304 / miss, at each body size;
 * beside compression() in both mounting orders; and under the mixed read/write load.
 * `ctx.ours` is the module the runner resolved (dist by default), exporting
 * `createCache` and `cacheResponses`.
 */

const { ROUTE } = require('../payload');
const { mixedRoutes } = require('./writes');

/**
 * BENCH_OURS_OPTIONS (JSON) is merged into the memory and Redis variants' options.
 * bench/instructions.js sets a TTL of an hour and a long storeTimeout: under valgrind a
 * server runs ~50x slower, so entries would expire mid-count (a miss and its compilation
 * added to a hit's figure) and Redis reads would be cut at 100 ms (a bypass).
 */
const oursOverride = () => (process.env.BENCH_OURS_OPTIONS ? JSON.parse(process.env.BENCH_OURS_OPTIONS) : {});

function memory(app, ctx, handler) {
  const mw = ctx.ours.cacheResponses(oursOverride());
  app.use(mw);
  app.get(ROUTE, handler);
  return () => mw.cache && mw.cache.close();
}

function redis(tiered, { slow = false, ttl } = {}) {
  return (app, ctx) => {
    const cache = ctx.ours.createCache({ redis: ctx.redisUrl, ...(tiered ? { tiered: true } : {}), ...oursOverride(), ...(ttl ? { ttl } : {}) });
    app.use(cache.middleware());
    app.get(ROUTE, slow ? ctx.slowHandler : ctx.handler);
    return () => cache.close();
  };
}

/** compression() in front of the cache ('before': it compresses every hit again) or behind it ('after'). */
function compressed(order) {
  return (app, ctx) => {
    const compression = require('compression');
    const cache = ctx.ours.createCache();
    if (order === 'before') app.use(compression());
    app.use(cache.middleware());
    if (order === 'after') app.use(compression());
    app.get(ROUTE, ctx.handler);
    return () => cache.close();
  };
}

/** Readers over 100 keys (slow origin); PUT /items/:id invalidates that path, POST /events a tag nothing read carries. */
function mixed(options) {
  return (app, ctx) => {
    const cache = ctx.ours.createCache(options(ctx));
    app.get(ROUTE, cache.middleware(), ctx.slowHandler);
    mixedRoutes(app, ctx, {
      put: cache.invalidates((req) => ({ paths: [`/items/${req.params.id}`] })),
      post: cache.invalidates(() => ({ tags: ['events'] })),
    });
    return () => cache.close();
  };
}

const builders = {
  'memory-hit': (app, ctx) => memory(app, ctx, ctx.handler),
  'memory-304': (app, ctx) => memory(app, ctx, ctx.handler),
  'redis-hit': redis(false),
  'redis-304': redis(false),
  'tiered-hit': redis(true),
  'tiered-304': redis(true),
  'miss-slow': (app, ctx) => memory(app, ctx, ctx.slowHandler),
  'redis-miss': redis(false, { slow: true, ttl: 5 }),
  'identity-hit-12k': compressed('none'),
  'gzip-hit-before': compressed('before'),
  'br-hit-before': compressed('before'),
  'gzip-hit-after': compressed('after'),
  'br-hit-after': compressed('after'),
  'readonly-memory': mixed(() => ({})),
  'mixed-memory': mixed(() => ({})),
  'readonly-redis': mixed((ctx) => ({ redis: ctx.redisUrl })),
  'mixed-redis': mixed((ctx) => ({ redis: ctx.redisUrl })),
};
for (const size of ['64k', '1m']) {
  builders[`memory-hit-${size}`] = (app, ctx) => memory(app, ctx, ctx.handler);
  builders[`memory-miss-${size}`] = (app, ctx) => memory(app, ctx, ctx.slowHandler);
  builders[`redis-hit-${size}`] = redis(false);
  // A short TTL: unique 1 MB misses would otherwise pile up in redis-server for a minute.
  builders[`redis-miss-${size}`] = redis(false, { slow: true, ttl: 5 });
}

module.exports = { builders };
