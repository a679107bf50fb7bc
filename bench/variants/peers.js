'use strict';
/** The libraries we replace, on the same route and handler, with their documented memory setup. */

const { ROUTE } = require('../payload');

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
};

module.exports = { builders };
