'use strict';
/**
 * Our middleware, as shipped: memory, Redis and tiered, hit / 304 / miss.
 * `ctx.ours` is the module the runner resolved (dist by default), exporting
 * `createCache` and `cacheResponses`.
 */

const { ROUTE } = require('../payload');

function memory(app, ctx, handler) {
  const mw = ctx.ours.cacheResponses();
  app.use(mw);
  app.get(ROUTE, handler);
  return () => mw.cache && mw.cache.close();
}

function redis(tiered) {
  return (app, ctx) => {
    const cache = ctx.ours.createCache(tiered ? { redis: ctx.redisUrl, tiered: true } : { redis: ctx.redisUrl });
    app.use(cache.middleware());
    app.get(ROUTE, ctx.handler);
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
};

module.exports = { builders };
