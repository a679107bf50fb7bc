'use strict';
/**
 * The write routes of the mixed scenario (issue 9), shared by ours and apicache:
 * `PUT /items/:id` (a write to a key readers read) and `POST /events` (a write whose
 * invalidation matches nothing read). Each answers 204 after its invalidation middleware.
 */

function mixedRoutes(app, ctx, { put, post }) {
  const done = (_req, res) => {
    ctx.counter.writes++;
    res.status(204).end();
  };
  app.put('/items/:id', put, done);
  app.post('/events', post, done);
}

module.exports = { mixedRoutes };
