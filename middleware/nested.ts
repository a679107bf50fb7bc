/**
 * Several cache middlewares on one request: `app.use(cache.middleware())` and a route's
 * `cache.middleware({ tags })`. Express tells a middleware nothing about the routes after
 * it, so the app-level one cannot know a route-level one is coming. It handles the request
 * as usual (a hit is answered at once); when a later middleware of the same cache sees the
 * request, the later, more specific one takes over: the earlier one stands aside (ends its
 * flight, stops its capture, undoes its count) and the later one looks up, plans and tags
 * with its own options (DESIGN.md: route-level options win).
 *
 * A middleware of another cache instance steps aside instead, and warns once: two caches
 * storing one response under two keys and two sets of tags is a mount mistake.
 */

import type { ServerResponse } from 'node:http';

/** What a claim needs of a middleware's resolved options: identity, and the cache's name. */
interface ClaimOptions {
  /** `prefix:version:namespace:` */
  readonly keyPrefix: string;
}

interface Claim {
  /** The cache instance whose middleware handles the request. */
  readonly cache: object;
  /** That middleware's resolved options: the same object for the same middleware. */
  readonly options: ClaimOptions;
  /** Set by whoever is handling the request: make it stop, so a later middleware can. */
  standAside: (() => void) | undefined;
}

/**
 * Kept in `res.locals` (Express makes it per request, a null-prototype object: adding a
 * key is cheap). A property on the ServerResponse itself, or a WeakMap entry per request,
 * cost a hit path measurably more.
 */
const CLAIM = Symbol('express-response-cache.claim');
type Locals = Record<PropertyKey, unknown>;
const claimOf = (locals: object): Claim | undefined => (locals as Locals)[CLAIM] as Claim | undefined;
const setClaim = (locals: object, claim: Claim): void => void ((locals as Locals)[CLAIM] = claim);
/** Apps (else middlewares, outside Express) already warned about two caches: once each. */
const warned = new WeakSet<object>();

export type Nesting = 'first' | 'take-over' | 'step-aside';

/**
 * Decide what a cache middleware does with a request another one may already handle, and
 * record it as the one handling it when it does.
 */
export function claimRequest(
  res: ServerResponse,
  locals: object,
  cache: object,
  options: ClaimOptions,
  warn: (message: string) => void = console.warn,
): Nesting {
  const prev = claimOf(locals);
  if (prev === undefined) {
    setClaim(locals, { cache, options, standAside: undefined });
    return 'first';
  }
  // The same middleware mounted twice on one path (app.use and router.use): once is enough.
  if (prev.options === options || res.headersSent) return 'step-aside';
  if (prev.cache !== cache) {
    // Once per app, however many middlewares and requests meet the mistake (issue 23).
    const app = (res as ServerResponse & { app?: object }).app ?? options;
    if (!warned.has(app)) {
      warned.add(app);
      warn(twoCachesMessage(res, prev.options, options));
    }
    return 'step-aside';
  }
  const standAside = prev.standAside;
  setClaim(locals, { cache, options, standAside: undefined });
  standAside?.();
  return 'take-over';
}

function twoCachesMessage(res: ServerResponse, first: ClaimOptions, later: ClaimOptions): string {
  const req = (res as ServerResponse & { req?: { method?: string; baseUrl?: string; path?: string; route?: { path?: unknown } } }).req;
  const route = req ? `${req.method} ${req.baseUrl ?? ''}${typeof req.route?.path === 'string' ? req.route.path : (req.path ?? '')}` : 'a request';
  const name = (o: ClaimOptions): string => `'${o.keyPrefix.slice(0, -1)}'`;
  const same = first.keyPrefix === later.keyPrefix ? ' (another instance with the same namespace)' : '';
  return (
    `express-response-cache: ${route} met the middlewares of two caches: ${name(first)} handles it, ${name(later)}${same} steps aside ` +
    `(its options and tags are not used, and its invalidations do not reach what the first stores). ` +
    `Mount one createCache() instance: app.use(cache.middleware()) and cache.middleware({ ... }) per route. (Said once per app.)`
  );
}

/** Register how the middleware handling `res` stands aside if a later one takes over. */
export function onTakeOver(res: ServerResponse, standAside: () => void): void {
  const claim = claimOf((res as ServerResponse & { locals: object }).locals);
  if (claim) claim.standAside = standAside;
}
