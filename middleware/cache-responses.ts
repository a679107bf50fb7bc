/**
 * The request path: cacheResponses(), createCache() and cache.middleware().
 *
 *   not a cached method -> (unsafe: invalidate on 2xx/3xx) -> handler
 *   bypassed (Authorization, bypass(), store out) -> handler, X-Cache: BYPASS
 *   fresh entry -> replay or 304, X-Cache: HIT
 *   stale, in stale-while-revalidate -> replay, X-Cache: STALE, one refresh in the background
 *   otherwise -> the miss path (middleware/miss.ts): wait for a flight, or lead one
 *
 * Exported handlers are plain `(req, res, next) => void`; no promise escapes them, so
 * Express 4 and 5 behave the same.
 */

import createDebug from 'debug';
import onHeaders from 'on-headers';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { engineOf, ResponseCache } from '../src/cache';
import type { CacheEngine, Clock, Lookup } from '../src/engine';
import type { Forward } from '../src/cache-status';
import type { CachedResponse } from '../src/entry';
import { CallbackError } from '../src/errors';
import { optionsObject } from '../src/options';
import { isUnsafeMethod, requestBypassReason } from '../src/policy';
import type { CacheOptions, RouteOptions } from '../src/types';
import { callback, type Options, type RequestContext } from './context';
import { invalidates, invalidateUnsafe, type TargetOrFn } from './invalidates';
import { RequestCache } from './locals';
import { lead } from './leader';
import { miss } from './miss';
import { claimRequest, onTakeOver } from './nested';
import { addVary, replay, setCacheStatus } from './replay';
import { refreshInBackground, isRefresh } from './revalidate';

const debug = createDebug('express-response-cache');

export type ExpressCacheOptions = CacheOptions<Request, Response>;
/** Per-route overrides of `cache.middleware()`: the store's options are set once, in createCache(). */
export type ExpressRouteOptions = RouteOptions<Request, Response>;

/** A ResponseCache with its Express binding. */
export class ExpressResponseCache extends ResponseCache<Request, Response> {
  /** Express middleware caching what the routes after it send; `overrides` apply to it alone. */
  // RequestHandler<any>: a route's own handlers keep the params Express infers from its path.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  middleware(overrides?: ExpressRouteOptions): RequestHandler<any> {
    const engine = engineOf<Request, Response>(this);
    const o = engine.routeOptions(overrides);
    const keys = new KeyMemo();
    return (req, res, next) => handle(this, engine, o, keys, req, res, next);
  }

  /** Middleware for a mutating route: on a 2xx or 3xx answer, invalidate `target` before it is sent. */
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
  optionsObject(options, 'cacheResponses'); // a TypeError that names this function, not createCache
  const cache = createCache(options);
  const handler = cache.middleware() as CacheResponsesHandler;
  handler.cache = cache;
  return handler;
}

function handle(
  cache: ExpressResponseCache,
  engine: CacheEngine<Request, Response>,
  o: Options,
  keys: KeyMemo,
  req: Request,
  res: Response,
  next: NextFunction,
): void {
  // Each of req's and res's fields is read once: Express gives every request a prototype of
  // its own app, so a property read on req or res misses V8's inline caches and costs ~1 µs.
  const resLocals = res.locals;
  // Nested cache middlewares: a later one of the same cache takes the request over (the
  // route-level options win); one of another cache steps aside (middleware/nested.ts).
  if (claimRequest(res, resLocals, cache, o) === 'step-aside') return next();
  const locals = new RequestCache<Request, Response>(cache);
  resLocals.cache = locals;
  // RFC 9110 §12.5.5: what the key varies on, browsers and CDNs in front must vary on too.
  // Hooked first, so it runs after the capture has taken what is stored (replay adds them).
  if (o.vary.length > 0) onHeaders(res, () => addVary(res, o.vary, o.varySpelled));
  // RFC 9213 §2.2: the targeted field speaks to this cache; after the capture has stored it.
  if (o.targetedField !== undefined && !o.forwardTargetedField) hideTargetedField(res, o.targetedField);
  const { method, headers, url } = req;
  // The request's one context, bypass or not; its key is filled in once built.
  const ctx: { -readonly [K in keyof RequestContext]: RequestContext[K] } = { engine, o, req, res, next, locals, method, headers, primaryKey: '' };
  if (!o.methods.has(method)) {
    if (o.invalidateUnsafe && isUnsafeMethod(method)) invalidateUnsafe(cache, req, res);
    return bypass(ctx, `method ${method}`, 'method');
  }
  const reason = requestBypassReason({ method, headers }, o);
  if (reason) return bypass(ctx, reason, 'request');
  // A bypass or key callback that throws is reported and the request passes through uncached.
  if (o.bypass && callback(ctx, 'bypass', () => o.bypass!(req)) !== false) return bypass(ctx, 'bypass()');
  // The built key is a pure function of method, URL and these options when no header is
  // part of it: remember it for hot URLs rather than parse and sort the query again.
  // GET and HEAD share keys, so the scheme, host and URL (and the mount path) name the key.
  const hosted = o.host && !o.key;
  const scheme = hosted ? protocol(req, headers) : undefined;
  // A scheme no HTTP server is reached by (a hostile X-Forwarded-Proto under trust proxy:
  // `javascript:…`) is never stored or served: its own key would keep it from others, but
  // nothing a client asks for needs it cached.
  if (scheme !== undefined && scheme !== 'http' && scheme !== 'https' && !/^https?$/i.test(scheme))
    return bypass(ctx, `scheme ${JSON.stringify(scheme)}`, 'request');
  const host = hosted ? hostname(req, headers) || null : undefined;
  const memo = o.vary.length === 0 && !o.key && url.length <= KeyMemo.MAX_URL ? keys.hosts(scheme) : undefined;
  let primaryKey: string | undefined;
  let memoKey = '';
  if (memo) {
    const baseUrl = req.baseUrl;
    memoKey = baseUrl ? baseUrl + '\0' + url : url;
    primaryKey = memo.get(host ?? '')?.get(memoKey);
  }
  if (primaryKey === undefined) {
    // A target in absolute form (RFC 9112 §3.2.2) or with a fragment (never sent by a
    // browser, RFC 9110 §7.1) keeps its spelling in req.url and req.originalUrl while
    // req.path drops it: it is neither answered from the cache nor stored. (Such a URL
    // never enters the memo, so a memo hit is an origin-form target without a fragment.)
    if (url.charCodeAt(0) !== 0x2f || url.includes('#')) return bypass(ctx, 'request target in absolute form or with a fragment', 'request');
    let custom: string | undefined;
    if (o.key) {
      custom = callback(ctx, 'key', () => o.key!(req));
      if (typeof custom !== 'string') return bypass(ctx, 'the key callback threw or returned no string');
    }
    try {
      primaryKey = engine.primaryKey({ method, scheme, host, path: req.baseUrl + req.path, query: rawQuery(url), headers }, o, custom);
    } catch (err) {
      engine.guarded.report(new CallbackError(`could not build the key: ${(err as Error).message}`, err), { operation: 'callback' });
      return bypass(ctx, 'no key');
    }
    if (memo) keys.set(memo, host ?? '', memoKey, primaryKey);
  }
  const refresh = isRefresh(req);
  if (refresh) {
    refresh.taken = true;
    // The refresh stores under the key it was started for, even if its twin request
    // computes another one (a host or header the internal request cannot reproduce).
    locals.key = ctx.primaryKey = refresh.key;
    return lead(ctx, refresh.lead, { stale: refresh.stale });
  }
  locals.key = ctx.primaryKey = primaryKey;
  lookUp(ctx);
}

/** With the key known: look it up, then answer from what was found. */
function lookUp(ctx: RequestContext): void {
  const { engine } = ctx;
  const started = engine.metrics.start();
  const found = engine.lookup(ctx.primaryKey, ctx.headers, ctx.o.storeTimeout);
  if (found instanceof Promise)
    found.then(
      (l) => (engine.metrics.lookup(started), onLookup(ctx, l)),
      (err) => onLookupFailed(ctx, err),
    );
  else {
    engine.metrics.lookup(started);
    onLookup(ctx, found);
  }
}

function onLookupFailed(ctx: RequestContext, err: unknown): void {
  // Nothing from a stored entry may fail a request: report it and let the origin answer.
  ctx.engine.guarded.report(new CallbackError(`lookup failed: ${(err as Error)?.message ?? String(err)}`, err), { operation: 'get', key: ctx.primaryKey });
  if (!ctx.res.headersSent) bypass(ctx, 'lookup failed');
}

function onLookup(ctx: RequestContext, l: Lookup): void {
  if (l.kind === 'unavailable') return bypass(ctx, 'store unavailable');
  if (l.key !== ctx.primaryKey) ctx.locals.key = l.key;
  if (l.kind === 'found') {
    const entry = l.entry;
    const state = ctx.engine.freshness(entry);
    if (state === 'fresh') return hit(ctx, entry, 'HIT');
    if (state === 'stale-while-revalidate') {
      hit(ctx, entry, 'STALE');
      return refreshInBackground(ctx, entry);
    }
    // Stale: revalidated through the handler; in stale-if-error, served if the handler fails.
    return miss(ctx, { stale: entry, serveStaleOnError: state === 'stale-if-error' }, onShared);
  }
  miss(ctx, {}, onShared);
}

/** A follower's answer: what its flight's leader stored, read back from the store. */
function onShared(ctx: RequestContext, entry: CachedResponse, key: string): void {
  if (key !== ctx.primaryKey) ctx.locals.key = key;
  hit(ctx, entry, 'HIT');
}

function hit(ctx: RequestContext, entry: CachedResponse, status: 'HIT' | 'STALE'): void {
  const { engine, res, locals } = ctx;
  locals.status = status;
  if (status === 'HIT') engine.metrics.hit(locals.key);
  else engine.metrics.staleHit(locals.key);
  try {
    replay(ctx, entry, status, engine.now());
  } catch (err) {
    // An entry that decodes but cannot be replayed (a header Node refuses): a miss, reported.
    engine.guarded.report(new CallbackError(`stored entry could not be replayed: ${(err as Error).message}`, err), { operation: 'decode', key: locals.key });
    if (res.headersSent) return void res.end();
    for (const name of res.getHeaderNames()) res.removeHeader(name);
    bypass(ctx, 'entry could not be replayed');
  }
}

function bypass(ctx: RequestContext, reason: string, fwd: Forward = 'bypass'): void {
  const { engine, o, res, locals, next } = ctx;
  debug('bypass %s: %s', locals.key || res.req.url, reason);
  locals.status = 'BYPASS';
  engine.metrics.bypass();
  if (o.xCache) res.setHeader(o.xCache, 'BYPASS');
  const before = res.getHeader('cache-status');
  // RFC 9211 §2.2: bypass (configured), method (its semantics), request (Authorization).
  setCacheStatus(res, o, reason === 'store unavailable' ? { fwd, detail: 'store-unavailable' } : { fwd });
  onTakeOver(res, () => {
    // A route-level middleware of this cache handles the request after all.
    engine.metrics.retract('bypasses');
    if (before === undefined) res.removeHeader('cache-status');
    else res.setHeader('cache-status', before);
  });
  next();
}

function hideTargetedField(res: Response, name: string): void {
  onHeaders(res, () => res.removeHeader(name));
}

/**
 * The host as Express sees it (`req.hostname`: through `trust proxy` and X-Forwarded-Host).
 * Without X-Forwarded-Host that is the Host header less its port, whatever `trust proxy`
 * says, in Express 4 and 5 alike: read it here, without the getter's settings lookup.
 */
function hostname(req: Request, headers: Request['headers']): string | undefined {
  if (headers['x-forwarded-host'] !== undefined) return req.hostname;
  const host = headers.host;
  if (!host) return undefined;
  // IPv6 literal: the port's colon comes after the closing bracket (as Express does).
  const colon = host.indexOf(':', host.charCodeAt(0) === 0x5b ? host.indexOf(']') + 1 : 0);
  return colon === -1 ? host : host.slice(0, colon);
}

/**
 * The scheme as Express sees it (`req.protocol`: through `trust proxy` and X-Forwarded-Proto).
 * Without X-Forwarded-Proto that is `https` over TLS and `http` otherwise, whatever `trust
 * proxy` says, in Express 4 and 5 alike: read it here, without the getter's settings lookup.
 */
function protocol(req: Request, headers: Request['headers']): string {
  if (headers['x-forwarded-proto'] !== undefined) return req.protocol;
  return (req.socket as { encrypted?: boolean } | null)?.encrypted ? 'https' : 'http';
}

/** The raw query string as sent, without `?` (the target has no fragment: see handle()). */
function rawQuery(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? '' : url.slice(q + 1);
}

/**
 * Built keys of recent URLs per scheme and host, bounded in count and URL length (hostile
 * URLs or hosts cannot grow it). One map of hosts per usual scheme (`http` also holds
 * `host: false`'s keys, which have no host) and lookups rather than one of a concatenated
 * string: no new string to build and hash on every hit. Other schemes (a forwarded
 * `javascript:`) are not remembered.
 */
class KeyMemo {
  static readonly MAX_URL = 256;
  private static readonly MAX_ENTRIES = 1000;
  private readonly plain = new Map<string, Map<string, string>>();
  private readonly tls = new Map<string, Map<string, string>>();
  private size = 0;

  hosts(scheme: string | undefined): Map<string, Map<string, string>> | undefined {
    return scheme === undefined || scheme === 'http' ? this.plain : scheme === 'https' ? this.tls : undefined;
  }

  set(hosts: Map<string, Map<string, string>>, host: string, url: string, key: string): void {
    if (this.size >= KeyMemo.MAX_ENTRIES) {
      this.plain.clear();
      this.tls.clear();
      this.size = 0;
    }
    let urls = hosts.get(host);
    if (!urls) hosts.set(host, (urls = new Map<string, string>()));
    if (!urls.has(url)) this.size++;
    urls.set(url, key);
  }
}
