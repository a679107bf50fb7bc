/**
 * The request path: cacheResponses(), createCache() and cache.middleware().
 *
 *   not a cached method -> (unsafe: invalidate on 2xx/3xx) -> handler
 *   bypassed (Authorization, bypass(), store out) -> handler, X-Cache: BYPASS
 *   fresh entry -> replay or 304, X-Cache: HIT
 *   stale, in stale-while-revalidate -> replay, X-Cache: STALE, one refresh in the background
 *   otherwise -> wait for a running flight, or lead one: the handler runs under capture,
 *                the copy is stored after the client has every byte
 *
 * Exported handlers are plain `(req, res, next) => void`; no promise escapes them, so
 * Express 4 and 5 behave the same.
 */

import createDebug from 'debug';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { ResponseCache, type Clock, type Lookup, type Plan, type Shared } from '../src/cache';
import { bodyEtag } from '../src/conditional';
import type { CachedResponse } from '../src/entry';
import { storableHeaders, varyNames } from '../src/headers';
import type { ResolvedOptions } from '../src/options';
import { parseCacheControl } from '../src/cache-control';
import { isUnsafeMethod, requestBypassReason, responseNotStorableReason } from '../src/policy';
import { variantKey } from '../src/key';
import type { Leader } from '../src/flight';
import type { CacheOptions, RouteOptions } from '../src/types';
import { capture } from './capture';
import { invalidates, invalidateUnsafe, type TargetOrFn } from './invalidates';
import { RequestCache } from './locals';
import { replay } from './replay';
import { refreshInBackground, isRefresh } from './revalidate';

const debug = createDebug('express-response-cache');

export type ExpressCacheOptions = CacheOptions<Request, Response>;
/** Per-route overrides of `cache.middleware()`: the store's options are set once, in createCache(). */
export type ExpressRouteOptions = RouteOptions<Request, Response>;
type Options = ResolvedOptions<Request, Response>;

/** A ResponseCache with its Express binding. */
export class ExpressResponseCache extends ResponseCache<Request, Response> {
  /** Express middleware caching what the routes after it send; `overrides` apply to it alone. */
  // RequestHandler<any>: a route's own handlers keep the params Express infers from its path.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  middleware(overrides?: ExpressRouteOptions): RequestHandler<any> {
    const o = this.routeOptions(overrides);
    const keys = new KeyMemo();
    return (req, res, next) => handle(this, o, keys, req, res, next);
  }

  /** Middleware for a mutating route: on a 2xx answer, invalidate `target` before it is sent. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- as for middleware(): the route keeps its own params
  invalidates(target: TargetOrFn): RequestHandler<any> {
    return invalidates(this, target);
  }
}

/** A cache instance; `createCache(options).middleware()` is the usual way in. */
export function createCache(options?: ExpressCacheOptions, clock?: Clock): ExpressResponseCache {
  return new ExpressResponseCache(options, clock);
}

export type CacheResponsesHandler = RequestHandler & { cache: ExpressResponseCache };

/** `app.use(cacheResponses())`: in memory, 60 s, GET/HEAD, 200/203/204. */
export function cacheResponses(options?: ExpressCacheOptions): CacheResponsesHandler {
  const cache = createCache(options);
  const handler = cache.middleware() as CacheResponsesHandler;
  handler.cache = cache;
  return handler;
}

function handle(cache: ExpressResponseCache, o: Options, keys: KeyMemo, req: Request, res: Response, next: NextFunction): void {
  // One cache per request: a route-level middleware under an app-level one leaves it be.
  if (res.locals.cache instanceof RequestCache) return next();
  const locals = new RequestCache<Request, Response>(cache);
  res.locals.cache = locals;
  let primaryKey: string;
  try {
    if (!o.methods.has(req.method)) {
      if (o.invalidateUnsafe && isUnsafeMethod(req.method)) invalidateUnsafe(cache, req, res);
      return bypass(cache, o, res, locals, next, `method ${req.method}`);
    }
    const reason = requestBypassReason(req, o) ?? (o.bypass?.(req) ? 'bypass()' : undefined);
    if (reason) return bypass(cache, o, res, locals, next, reason);
    // The built key is a pure function of method, URL and these options when no header is
    // part of it: remember it for hot URLs rather than parse and sort the query again.
    // GET and HEAD share keys, so the URL alone (and the mount path) names the key.
    const memoizable = (req.method === 'GET' || req.method === 'HEAD') && o.vary.length === 0 && !o.key && req.url.length <= KeyMemo.MAX_URL;
    const memoKey = memoizable ? (req.baseUrl ? req.baseUrl + '\0' + req.url : req.url) : '';
    const known = memoizable ? keys.get(memoKey) : undefined;
    if (known !== undefined) primaryKey = known;
    else {
      primaryKey = cache.primaryKey({ method: req.method, path: req.baseUrl + req.path, query: rawQuery(req.url), headers: req.headers }, o, o.key?.(req));
      if (memoizable) keys.set(memoKey, primaryKey);
    }
  } catch (err) {
    return next(err);
  }
  locals.key = primaryKey;
  const refresh = isRefresh(req);
  if (refresh) {
    refresh.taken = true;
    return lead(cache, o, req, res, next, locals, primaryKey, refresh.leader, undefined);
  }
  const started = cache.metrics.start();
  const found = cache.lookup(primaryKey, req.headers, o.storeTimeout);
  if (found instanceof Promise) found.then((l) => (cache.metrics.lookup(started), onLookup(cache, o, req, res, next, locals, primaryKey, l)), next);
  else {
    cache.metrics.lookup(started);
    onLookup(cache, o, req, res, next, locals, primaryKey, found);
  }
}

function onLookup(cache: ExpressResponseCache, o: Options, req: Request, res: Response, next: NextFunction, locals: RequestCache<Request, Response>, primaryKey: string, l: Lookup): void {
  if (l.unavailable) return bypass(cache, o, res, locals, next, 'store unavailable');
  if (l.key !== primaryKey) locals.key = l.key;
  const entry = l.entry;
  if (entry) {
    const state = cache.freshness(entry);
    if (state === 'fresh') return hit(cache, o, req, res, locals, entry, 'HIT');
    if (state === 'stale-while-revalidate') {
      hit(cache, o, req, res, locals, entry, 'STALE');
      return refreshInBackground(cache, req, primaryKey);
    }
    if (state === 'stale-if-error') return miss(cache, o, req, res, next, locals, primaryKey, entry);
  }
  miss(cache, o, req, res, next, locals, primaryKey, undefined);
}

function hit(cache: ExpressResponseCache, o: Options, req: Request, res: Response, locals: RequestCache<Request, Response>, entry: CachedResponse, status: 'HIT' | 'STALE'): void {
  locals.status = status;
  if (status === 'HIT') cache.metrics.hit(locals.key);
  else cache.metrics.staleHit(locals.key);
  replay(req, res, entry, status, o, cache.now());
}

function bypass(cache: ExpressResponseCache, o: Options, res: Response, locals: RequestCache<Request, Response>, next: NextFunction, reason: string): void {
  debug('bypass %s: %s', locals.key || res.req.url, reason);
  locals.status = 'BYPASS';
  cache.metrics.bypass();
  if (o.xCache) res.setHeader(o.xCache, 'BYPASS');
  next();
}

/** A miss: follow a flight already computing this key, or lead one. */
function miss(cache: ExpressResponseCache, o: Options, req: Request, res: Response, next: NextFunction, locals: RequestCache<Request, Response>, primaryKey: string, fallback: CachedResponse | undefined): void {
  if (o.coalesce) {
    const waiting = cache.flights.wait(primaryKey, o.coalesce.timeout);
    if (waiting) {
      waiting.then(
        (shared) => {
          if (shared && fits(shared, primaryKey, req)) return hit(cache, o, req, res, locals, shared.entry, 'HIT');
          lead(cache, o, req, res, next, locals, primaryKey, undefined, fallback);
        },
        () => lead(cache, o, req, res, next, locals, primaryKey, undefined, fallback),
      );
      return;
    }
  }
  const leader = o.coalesce && req.method !== 'HEAD' ? cache.flights.lead(primaryKey) : undefined;
  if (!leader || !cache.store.lock) return lead(cache, o, req, res, next, locals, primaryKey, leader, fallback);
  // Across instances: one computes a cold key under a short lock; the others wait for its entry.
  const lockKey = cache.lockKey(primaryKey);
  const timeout = o.coalesce ? o.coalesce.timeout : 0;
  const holding = (token: string | null) => (token ? { resolve: (v: Shared | undefined) => { cache.guarded.unlock(lockKey, token); leader.resolve(v); }, reject: leader.reject } : leader);
  cache.guarded.lock(lockKey, timeout).then((token) => {
    if (token !== undefined) return lead(cache, o, req, res, next, locals, primaryKey, holding(token), fallback);
    return cache.awaitOther(primaryKey, req.headers, timeout).then((got) => {
      if (got && 'entry' in got) {
        leader.resolve(got);
        return hit(cache, o, req, res, locals, got.entry, 'HIT');
      }
      lead(cache, o, req, res, next, locals, primaryKey, holding(got ? got.token : null), fallback);
    });
  }).catch(next);
}

/** The leader's response fits a follower when the follower picks the same variant. */
function fits(shared: Shared, primaryKey: string, req: Request): boolean {
  if (shared.key === primaryKey) return true;
  return variantKey(primaryKey, varyNames(shared.entry.headers.find(([n]) => n === 'vary')?.[1]), req.headers) === shared.key;
}

/** Run the handler with its response captured; store what may be stored and share it. */
function lead(
  cache: ExpressResponseCache, o: Options, req: Request, res: Response, next: NextFunction,
  locals: RequestCache<Request, Response>, primaryKey: string, leader: Leader<Shared> | undefined, fallback: CachedResponse | undefined,
): void {
  locals.status = 'MISS';
  cache.metrics.miss(primaryKey);
  const before = res.getHeaders();
  const generation = cache.generation;
  let plan: Plan | undefined;
  let tags: readonly string[] = [];
  let plannedTtl: number | undefined;
  // The handler's headers at header time: what is stored. Middleware mounted before the
  // cache (compression, express-session) adds its own from writeHead hooks that run after
  // ours, for this response only (a replay goes through them again).
  let sent: Record<string, unknown> = {};
  capture(res, o.maxEntryBytes, {
    swallow: fallback && ((status) => status >= 500 && cache.freshness(fallback) !== 'expired'),
    headers(body) {
      if (o.xCache) res.setHeader(o.xCache, 'MISS');
      if (locals.skipped) return notStored(locals, 'skip()');
      const decision = cache.plan(req, { status: res.statusCode, headers: res.getHeaders() }, o, locals.ttlOverride);
      if (typeof decision === 'string') return notStored(locals, decision);
      plan = decision;
      plannedTtl = locals.ttlOverride;
      tags = [...(o.tags ? o.tags(req, res) : []), ...locals.extraTags];
      // The miss carries the ETag its hits will: computed now when the whole body is known.
      if (body && !res.hasHeader('etag')) res.setHeader('ETag', bodyEtag(body));
      sent = res.getHeaders();
      return true;
    },
    finished(body) {
      if (!plan || locals.skipped) return leader?.resolve(undefined);
      // What those hooks added still forbids storing: a session's Set-Cookie is one visitor's.
      const final = { status: res.statusCode, headers: res.getHeaders() };
      const late = responseNotStorableReason(req, final, parseCacheControl(final.headers['cache-control']), o);
      if (late) {
        notStored(locals, `${late} (added after the handler)`);
        return leader?.resolve(undefined);
      }
      if (locals.ttlOverride !== plannedTtl) {
        const again = cache.plan(req, { status: res.statusCode, headers: sent as typeof final.headers }, o, locals.ttlOverride);
        if (typeof again === 'string') return leader?.resolve(undefined);
        plan = again;
      }
      const headers = storableHeaders(changedHeaders(before, sent), o.xCache);
      cache.commit({ generation, primaryKey, reqHeaders: req.headers, path: req.baseUrl + req.path, status: res.statusCode, headers, body, plan, tags: [...tags, ...locals.extraTags.filter((t) => !tags.includes(t))], o })
        .then((shared) => leader?.resolve(shared), () => leader?.resolve(undefined));
    },
    abandoned() {
      leader?.resolve(undefined);
    },
    onSwallowed() {
      // stale-if-error (RFC 5861 §4): the handler failed; the stale copy answers instead.
      for (const name of res.getHeaderNames()) if (!(name in before)) res.removeHeader(name);
      debug('stale-if-error %s: serving the stale entry', locals.key);
      if (fallback) hit(cache, o, req, res, locals, fallback, 'STALE');
    },
  });
  next();
}

function notStored(locals: RequestCache<Request, Response>, reason: string): false {
  debug('not stored %s: %s', locals.key, reason);
  return false;
}

/** Headers the routes after the cache set or changed: the ones worth replaying. */
function changedHeaders(before: Record<string, unknown>, after: Record<string, unknown>): Record<string, number | string | string[] | undefined> {
  const out: Record<string, number | string | string[] | undefined> = {};
  for (const name of Object.keys(after)) {
    const value = after[name] as number | string | string[] | undefined;
    if (!(name in before) || !sameValue(before[name], value)) out[name] = value;
  }
  return out;
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((v, i) => v === b[i]);
}

/** The raw query string as sent, without `?` and any fragment. */
function rawQuery(url: string): string {
  const q = url.indexOf('?');
  if (q === -1) return '';
  const hash = url.indexOf('#', q);
  return hash === -1 ? url.slice(q + 1) : url.slice(q + 1, hash);
}

/** Built keys of recent URLs, bounded in count and URL length (hostile URLs cannot grow it). */
class KeyMemo {
  static readonly MAX_URL = 256;
  private static readonly MAX_ENTRIES = 1000;
  private readonly map = new Map<string, string>();

  get(url: string): string | undefined {
    return this.map.get(url);
  }

  set(url: string, key: string): void {
    if (this.map.size >= KeyMemo.MAX_ENTRIES) this.map.clear();
    this.map.set(url, key);
  }
}
