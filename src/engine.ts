/**
 * CacheEngine: the state and algorithm behind a ResponseCache, kept out of its public
 * surface. It looks entries up (following Vary markers), plans and commits new ones
 * through the invalidation guard, runs the miss protocol (src/coordinator.ts) and
 * invalidates. The Express binding reaches it through `engineOf(cache)`.
 */

import type { Directives } from './cache-control';
import { bodyEtag } from './conditional';
import { MissCoordinator } from './coordinator';
import type { CachedResponse, Entry, EntryTimes, StoredHeader } from './entry';
import type { FlightOutcome } from './flight';
import type { GuardTarget, Making } from './guard';
import { GuardedStore, UNAVAILABLE } from './guarded-store';
import { httpDate, varyNames } from './headers';
import { indexPath, normalizePath, variantKey, buildCacheKey, customKey } from './key';
import { Metrics } from './metrics';
import { resolveOptions, type ResolvedOptions } from './options';
import { header, responseNotStorableReason, type IncomingHeaders, type RequestInfo, type ResponseInfo } from './policy';
import { MemoryStore } from './stores/memory';
import { assertCacheStore, type CacheStore } from './stores/store';
import { entryTimes, freshSeconds, parseAge, revalidateTimes, staleWindows, statedLifetime } from './ttl';
import { responseDirectives } from './targeted';
import type { CacheOptions, InvalidateTarget } from './types';
import { createStoreFromOptions } from './store-factory';
import type { ValueHost } from './values';

/** How a stored response stands at a moment (RFC 9111 §4.2, RFC 5861). */
export type Freshness = 'fresh' | 'stale-while-revalidate' | 'stale-if-error' | 'expired';

/** A lookup's answer. */
export type Lookup =
  /** the store could not be read: the request bypasses the cache */
  | { readonly kind: 'unavailable'; readonly key: string }
  /** nothing stored for this request; a new entry goes to `key` */
  | { readonly kind: 'miss'; readonly key: string }
  | { readonly kind: 'found'; readonly key: string; readonly entry: CachedResponse };

/** The decision made at header time for a response that may be stored. */
export interface Plan {
  readonly times: EntryTimes;
  readonly cc: Directives;
  readonly vary: readonly string[];
  readonly originAge: number;
}

export interface Clock {
  now?: () => number;
  random?: () => number;
}

/** What a finished response leaves for commit(). */
export interface CommitInput<Req, Res> {
  readonly primaryKey: string;
  readonly reqHeaders: IncomingHeaders;
  /** `req.baseUrl + req.path`. */
  readonly path: string;
  readonly status: number;
  /** Lower-case names with their spelling (src/entry.ts StoredHeader). */
  readonly headers: StoredHeader[];
  readonly body: Buffer;
  readonly plan: Plan;
  readonly tags: readonly string[];
  readonly o: ResolvedOptions<Req, Res>;
  readonly making: Making;
}

/** Longest a stale entry with the handler's own validator is kept for revalidation. */
const REVALIDATE_GRACE_MS = 3_600_000;

/** How long past its freshness an entry with a validator is kept to be revalidated: its lifetime again, at least `ttl` seconds, at most an hour. */
function revalidateGrace(times: EntryTimes, ttl: number): number {
  return Math.min(Math.max(times.staleAt - times.storedAt, ttl * 1000), REVALIDATE_GRACE_MS);
}

/** Options that describe the shared store or the key space: createCache() only. */
const STORE_LEVEL = ['whenStoreDown', 'fallbackTtl', 'whenStoreEvicts', 'onError', 'namespace', 'version', 'prefix'] as const;

export class CacheEngine<Req = unknown, Res = unknown> {
  readonly options: ResolvedOptions<Req, Res>;
  readonly store: CacheStore;
  readonly metrics = new Metrics(() => this.options.namespace);
  readonly guarded: GuardedStore;
  readonly coordinator: MissCoordinator;
  readonly now: () => number;
  readonly random: () => number;
  private readonly ownsStore: boolean;

  constructor(options: CacheOptions<Req, Res> = {}, clock: Clock = {}) {
    this.options = resolveOptions(options);
    this.now = clock.now ?? Date.now;
    this.random = clock.random ?? Math.random;
    if (options.store !== undefined && options.redis !== undefined) throw new TypeError('createCache: give store or redis, not both');
    if (options.tiered && options.redis === undefined) throw new TypeError('createCache: tiered needs redis (the memory tier sits in front of it)');
    if (options.store !== undefined) {
      assertCacheStore(options.store);
      this.store = options.store;
      this.ownsStore = false;
    } else {
      this.store = options.redis !== undefined ? createStoreFromOptions(options) : new MemoryStore();
      this.ownsStore = true;
    }
    const o = this.options;
    this.guarded = new GuardedStore(this.store, {
      storeTimeout: o.storeTimeout,
      whenStoreDown: o.whenStoreDown,
      fallbackTtl: o.fallbackTtl,
      onError: o.onError,
      metrics: this.metrics,
      now: this.now,
      keyPrefix: o.keyPrefix,
      failoverTimeout: o.failoverTimeout * 1000,
      whenStoreEvicts: o.whenStoreEvicts,
    });
    this.coordinator = new MissCoordinator(this.guarded);
  }

  /** Options for one route: the same validation, over this cache's own. */
  routeOptions(overrides: CacheOptions<Req, Res> | undefined): ResolvedOptions<Req, Res> {
    if (overrides === undefined) return this.options;
    for (const name of STORE_LEVEL) {
      if (overrides[name] !== undefined) throw new TypeError(`cache.middleware: ${name} belongs to the shared store and key space; set it in createCache()`);
    }
    return resolveOptions(overrides, this.options, 'cache.middleware');
  }

  /**
   * The primary key of a request: built, or the `key` option's, inside the namespace.
   * `host`: the request's host when the `host` option is on (null: none sent), else undefined;
   * `scheme`: the request's scheme (`req.protocol`), keyed with the host.
   */
  primaryKey(
    req: { method: string; scheme?: string; host?: string | null; path: string; query: string; headers: IncomingHeaders },
    o: ResolvedOptions<Req, Res>,
    custom?: string,
  ): string {
    if (custom !== undefined) return customKey(o.keyPrefix, custom);
    return buildCacheKey({
      keyPrefix: o.keyPrefix,
      method: req.method,
      scheme: req.scheme,
      host: req.host,
      path: req.path,
      query: req.query,
      headers: req.headers,
      vary: o.vary,
      queryFilter: o.queryFilter,
    });
  }

  /** Find the response for this request: the primary key's, or its variant's when it varies. */
  lookup(primaryKey: string, headers: IncomingHeaders, timeout?: number): Lookup | Promise<Lookup> {
    const first = this.guarded.read(primaryKey, timeout);
    if (first instanceof Promise) return first.then((e) => this.follow(primaryKey, e, headers, timeout));
    return this.follow(primaryKey, first, headers, timeout);
  }

  private follow(primaryKey: string, found: Entry | undefined | typeof UNAVAILABLE, headers: IncomingHeaders, timeout?: number): Lookup | Promise<Lookup> {
    if (found === UNAVAILABLE) return { kind: 'unavailable', key: primaryKey };
    if (found === undefined || found.kind === 'value') return { kind: 'miss', key: primaryKey };
    if (found.kind === 'response') return { kind: 'found', key: primaryKey, entry: found };
    const key = variantKey(primaryKey, found.vary, headers);
    const second = this.guarded.read(key, timeout);
    const done = (e: Entry | undefined | typeof UNAVAILABLE): Lookup =>
      e === UNAVAILABLE ? { kind: 'unavailable', key } : e?.kind === 'response' ? { kind: 'found', key, entry: e } : { kind: 'miss', key };
    return second instanceof Promise ? second.then(done) : done(second);
  }

  freshness(entry: EntryTimes, now = this.now()): Freshness {
    if (now < entry.staleAt) return 'fresh';
    if (now < entry.swrUntil) return 'stale-while-revalidate';
    if (now < entry.sieUntil) return 'stale-if-error';
    return 'expired';
  }

  /**
   * Decide whether a response may be stored and for how long.
   * Returns the plan, or the reason it may not be stored.
   */
  plan(req: RequestInfo, res: ResponseInfo, o: ResolvedOptions<Req, Res>, ttlOverride: number | undefined): Plan | string {
    // RFC 9213 §2.2: the targeted field, when the option names one and it is valid, else Cache-Control and Expires.
    const { cc, expires } = responseDirectives(res.headers, o.targetedField);
    const reason = responseNotStorableReason(req, res, cc, o, expires);
    if (reason) return reason;
    const now = this.now();
    const originAge = parseAge(header(res.headers.age));
    // freshness: 'ttl': the configured ttl decides how long this cache keeps the response,
    // whatever it tells browsers (the storability rules above still applied).
    const ttlDecides = o.freshness === 'ttl';
    const stated = ttlDecides ? undefined : statedLifetime(cc, expires, header(res.headers.date), now);
    const fresh = freshSeconds({ override: ttlOverride, stated, originAge, ttl: o.ttl, maxTtl: o.maxTtl, jitter: o.jitter, random: this.random });
    const windows = staleWindows(cc, o.staleWhileRevalidate, o.staleIfError);
    const vary = varyNames(header(res.headers.vary));
    // RFC 9111 §5.2.2.4: no-cache is stored but never used without validation; so is a
    // response stale on arrival (§4.2.1: max-age=0, an Expires in the past, an invalid
    // directive). Only the handler's own validator makes keeping it worth anything.
    if (!ttlDecides && (cc.has('no-cache') || fresh <= 0)) {
      if (res.headers.etag === undefined && res.headers['last-modified'] === undefined) {
        return cc.has('no-cache')
          ? 'Cache-Control: no-cache without a validator'
          : 'stale on arrival (max-age=0, an Expires in the past, or an invalid directive) without a validator';
      }
      // Kept for its stated lifetime, else `ttl`: the 304s that revalidate it renew it.
      const keep =
        fresh > 0
          ? fresh
          : freshSeconds({ override: undefined, stated: undefined, originAge: 0, ttl: o.ttl, maxTtl: o.maxTtl, jitter: o.jitter, random: this.random });
      return { times: revalidateTimes(now, keep, windows.swr, windows.sie), cc, vary, originAge };
    }
    if (fresh <= 0) return 'stale on arrival (max-age=0, an Expires in the past, or an invalid directive)';
    return { times: entryTimes(now, fresh, windows.swr, windows.sie), cc, vary, originAge };
  }

  /**
   * Build the entry from a finished response and store it (with the Vary marker it needs)
   * through the invalidation guard. The outcome is what the flight's followers learn.
   */
  async commit(input: CommitInput<Req, Res>): Promise<FlightOutcome> {
    const { plan, o } = input;
    const times = plan.times;
    const headers = input.headers;
    let etag = headers.find(([n]) => n === 'etag')?.[1];
    const lastModified = headers.find(([n]) => n === 'last-modified')?.[1];
    // The handler's own validator lets a stale entry be revalidated through it (RFC 9111
    // §4.3): keep such an entry past its freshness, for as long again or `ttl` when longer
    // (at most an hour): a 1 s lifetime would otherwise leave nothing to validate a moment later.
    const validated = typeof etag === 'string' || typeof lastModified === 'string';
    if (typeof etag !== 'string') {
      etag = bodyEtag(input.body);
      // Spelled as Express's res.send spells its own.
      headers.push(['etag', etag, 'ETag']);
    }
    // RFC 9110 §6.6.1: a replay carries the time the origin made the response (spelled as
    // Node spells the Date it sent with the miss).
    if (!headers.some(([n]) => n === 'date')) headers.push(['date', httpDate(times.storedAt), 'Date']);
    const index = { path: this.pathId(input.path, o), tags: input.tags.map((t) => o.keyPrefix + t) };
    const entry: CachedResponse = {
      kind: 'response',
      status: input.status,
      headers,
      etag,
      lastModified: typeof lastModified === 'string' ? lastModified : undefined,
      originAge: plan.originAge,
      path: index.path,
      tags: index.tags,
      body: input.body,
      // The times one by one: a spread into this literal takes V8's slow object-clone path.
      storedAt: times.storedAt,
      staleAt: times.staleAt,
      swrUntil: times.swrUntil,
      sieUntil: times.sieUntil,
      expiresAt: validated ? Math.max(times.expiresAt, times.staleAt + revalidateGrace(times, o.ttl)) : times.expiresAt,
    };
    const key = plan.vary.length > 0 ? variantKey(input.primaryKey, plan.vary, input.reqHeaders) : input.primaryKey;
    const ttlMs = entry.expiresAt - this.now();
    if (!(ttlMs > 0)) return { kind: 'none' };
    if (plan.vary.length > 0) {
      // The marker is filed under its own key, not the path or tags: invalidation counts
      // only responses, and a marker left behind only leads to a miss that rewrites it.
      const markerIndex = { path: input.primaryKey, tags: [] };
      const marker = { kind: 'vary' as const, vary: plan.vary, ...markerIndex, storedAt: entry.storedAt, expiresAt: entry.expiresAt };
      if (!(await this.guarded.write(input.primaryKey, marker, ttlMs, markerIndex))) return { kind: 'failed' };
    }
    const alsoKeys = key === input.primaryKey ? [] : [input.primaryKey];
    const outcome = await this.guarded.writeGuarded(key, entry, ttlMs, index, input.making, alsoKeys);
    if (outcome === 'stored') {
      this.metrics.stored(key);
      return { kind: 'stored' };
    }
    if (outcome === 'refused') return { kind: 'none' };
    // The store could not take it (slow, down) but the guard cleared it: followers take the
    // response itself rather than all run the handler. Not cleared: they make their own.
    if (outcome === 'cleared') return { kind: 'shared', value: { entry, key } };
    return { kind: 'failed' };
  }

  /** The namespaced path an entry is indexed under. */
  pathId(path: string, o: ResolvedOptions<Req, Res> = this.options): string {
    return o.keyPrefix + indexPath(path);
  }

  /**
   * Remove entries: exact keys (of this namespace), every variant of paths, every path
   * under prefixes (literal), every entry tagged so. Records go first (the guard), flights
   * it matched take no more followers. Resolves the number removed; store failures count 0
   * and go to onError, never to the caller.
   */
  async invalidate(target: InvalidateTarget): Promise<number> {
    checkTarget(target);
    const p = this.options.keyPrefix;
    const guard: GuardTarget = {
      keys: (target.keys ?? []).filter((k) => k.startsWith(p)),
      paths: (target.paths ?? []).map((path) => p + indexPath(pathOnly(path))),
      // A prefix is literal: '/p?' is not '/p'.
      prefixes: (target.prefixes ?? []).map((prefix) => p + normalizePath(prefix).toLowerCase()),
      tags: (target.tags ?? []).map((t) => p + t),
    };
    const runs: Array<(s: CacheStore) => Promise<number>> = [];
    if (guard.keys.length) runs.push((s) => s.delete(guard.keys));
    for (const path of guard.paths) runs.push((s) => s.deleteByPath(path));
    for (const prefix of guard.prefixes) runs.push((s) => s.deleteByPrefix(prefix));
    if (guard.tags.length) runs.push((s) => s.deleteByTag(guard.tags));
    this.coordinator.detach(guard);
    const n = await this.guarded.invalidate(guard, runs, Math.max(1000, this.options.storeTimeout * 10));
    this.metrics.invalidated(n);
    return n;
  }

  /** Every entry of this namespace, responses and values (their paths all start with the key prefix). */
  async clear(): Promise<number> {
    const prefix = this.options.keyPrefix;
    const guard: GuardTarget = { keys: [], paths: [], prefixes: [prefix], tags: [] };
    this.coordinator.detach(guard);
    // Counters (src/counters.ts) are not indexed entries on every store: their own clear.
    const counters = (s: CacheStore): Promise<number> =>
      s.counter ? s.counter({ op: 'clear', prefix: `${prefix}cnt:` }).then((c) => c ?? 0) : Promise.resolve(0);
    const n = await this.guarded.invalidate(guard, [(s) => s.deleteByPrefix(prefix), counters], Math.max(1000, this.options.storeTimeout * 10));
    this.metrics.invalidated(n);
    return n;
  }

  get valueHost(): ValueHost {
    const o = this.options;
    return {
      guarded: this.guarded,
      coordinator: this.coordinator,
      metrics: this.metrics,
      keyPrefix: o.keyPrefix,
      ttl: o.ttl,
      jitter: o.jitter,
      lockTimeout: o.coalesce ? o.coalesce.timeout : 10_000,
      now: this.now,
      random: this.random,
    };
  }

  /** Release what the cache opened itself: its own store (never one it was given). */
  async close(): Promise<void> {
    await this.guarded.drain(Math.max(1000, this.options.storeTimeout * 10));
    if (this.ownsStore) await this.store.close();
  }
}

/** A path given with a query or fragment names the path: every variant of it goes. */
function pathOnly(path: string): string {
  const end = path.search(/[?#]/);
  return end === -1 ? path : path.slice(0, end);
}

/**
 * A target that can only mean a mistake is a TypeError, never a silent 0 (issue 23): one
 * that names nothing (`{}`), and a path or prefix that no request path can have (`'products'`:
 * request paths start with '/'). Empty lists are fine (tags computed from an empty list).
 */
export function checkTarget(target: InvalidateTarget, where = 'invalidate'): void {
  if (!target || typeof target !== 'object') throw new TypeError(`${where}: target must be an object { keys?, paths?, prefixes?, tags? }`);
  let named = false;
  for (const name of Object.keys(target)) {
    if (!['keys', 'paths', 'prefixes', 'tags'].includes(name)) throw new TypeError(`${where}: unknown target "${name}"`);
    const list = (target as Record<string, unknown>)[name];
    if (list === undefined) continue;
    named = true;
    if (!Array.isArray(list) || !list.every((s) => typeof s === 'string')) throw new TypeError(`${where}: ${name} must be an array of strings`);
    const bad = name === 'paths' || name === 'prefixes' ? list.find((s) => !s.startsWith('/') && !(name === 'prefixes' && s === '')) : undefined;
    if (bad !== undefined) throw new TypeError(`${where}: ${name} are request paths and start with '/', got ${JSON.stringify(bad)} (write '/${bad}')`);
  }
  if (!named) throw new TypeError(`${where}: the target names nothing; give keys, paths, prefixes or tags`);
}
