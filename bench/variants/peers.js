'use strict';
/** The libraries we replace, on the same route and handler, with their documented memory setup. */

const { ROUTE } = require('../payload');
const { mixedRoutes } = require('./writes');

/** apicache under the mixed load: each write clears what it changed (apicache.clear(key)), as its README shows. */
function apicacheMixed(app, ctx) {
  const apicache = require('apicache').newInstance();
  app.get(ROUTE, apicache.middleware('5 minutes'), ctx.slowHandler);
  mixedRoutes(app, ctx, {
    // apicache keys entries by req.originalUrl; the readers' URLs carry this query.
    put: (req, _res, next) => {
      apicache.clear(`/items/${req.params.id}?page=1&sort=asc`);
      next();
    },
    post: (_req, _res, next) => {
      apicache.clear('/events');
      next();
    },
  });
  return () => apicache.clear();
}

function apicacheMiss(duration) {
  return (app, ctx) => {
    const apicache = require('apicache').newInstance();
    app.use(apicache.middleware(duration));
    app.get(ROUTE, ctx.slowHandler);
    return () => apicache.clear();
  };
}

const builders = {
  apicache(app, ctx) {
    const apicache = require('apicache').newInstance();
    app.use(apicache.middleware('5 minutes'));
    app.get(ROUTE, ctx.handler);
    // apicache keeps a setTimeout per key; clear() drops them.
    return () => apicache.clear();
  },
  'route-cache'(app, ctx) {
    const routeCache = require('route-cache');
    app.use(routeCache.cacheSeconds(300));
    app.get(ROUTE, ctx.handler);
  },
  // Misses (a new key per request, 20 ms origin); a short duration so unique big bodies do not pile up.
  'apicache-miss': apicacheMiss('5 minutes'),
  'apicache-miss-64k': apicacheMiss('5 seconds'),
  'apicache-miss-1m': apicacheMiss('5 seconds'),
  'readonly-apicache': apicacheMixed,
  'mixed-apicache': apicacheMixed,
};

module.exports = { builders };
