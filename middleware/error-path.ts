/**
 * Which responses an error went through: a handler threw, rejected (Express 5) or called
 * next(err). An error handler that ends a half-sent response with a bare `res.end()` leaves
 * nothing on the response to tell its partial body from a whole one, so the capture asks
 * here (issue 20).
 *
 * Express hands an error to each layer it passes through by `Layer#handle_error` (Express 4)
 * or `Layer#handleError` (Express 5's router), for app-level, router and route layers alike.
 * That method is wrapped once per Layer class (as express-async-errors wraps its
 * neighbour): the wrapper notes the response and calls the original with the same
 * arguments, returning what it returns. The class is found from the app's own router, so
 * an app on another copy of Express is wrapped too, and nothing is imported from Express.
 * The request path pays one WeakSet look-up per miss (the app already seen).
 */

import type { ServerResponse } from 'node:http';

type Handle = (this: unknown, error: unknown, req: unknown, res: ServerResponse, next: unknown) => unknown;

const erred = new WeakSet<ServerResponse>();
const apps = new WeakSet<object>();
const wrapped = new WeakSet<object>();

/** Did an error reach Express's error path for this response? */
export function erredOn(res: ServerResponse): boolean {
  return erred.has(res);
}

/** Make sure errors on this app's layers are noted (once per app; cheap after). */
export function watchErrors(app: unknown): void {
  // An Express app (and a router) is a function.
  if (!app || (typeof app !== 'function' && typeof app !== 'object') || apps.has(app)) return;
  apps.add(app);
  try {
    const a = app as { _router?: { stack?: unknown[] }; router?: { stack?: unknown[] } };
    // Express 4 keeps its router in `_router` (its `app.router` getter throws); Express 5 in `router`.
    const router = '_router' in a ? a._router : a.router;
    const layer = router?.stack?.[0];
    if (layer && typeof layer === 'object') wrap(Object.getPrototypeOf(layer) as Record<string, unknown> | null);
  } catch {
    // An app shaped otherwise: partial bodies after an error are then told apart only by
    // a status change or an abort, as before.
  }
}

function wrap(proto: Record<string, unknown> | null): void {
  if (!proto || wrapped.has(proto)) return;
  wrapped.add(proto);
  for (const name of ['handle_error', 'handleError']) {
    const original = proto[name];
    if (typeof original !== 'function') continue;
    const fn = original as Handle;
    // The wrapper keeps the original's arity (Express reads `length` of handlers, not of this).
    proto[name] = function handleErrorNoted(this: unknown, error: unknown, req: unknown, res: ServerResponse, next: unknown) {
      if (error && res && typeof res === 'object') erred.add(res);
      return fn.call(this, error, req, res, next);
    };
  }
}
