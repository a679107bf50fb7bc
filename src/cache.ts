/**
 * ResponseCache: the framework-free core. It looks entries up (following Vary markers),
 * plans and writes new ones, coalesces misses, and invalidates. The Express binding in
 * middleware/ drives it with plain request and response descriptions.
 */

import { parseCacheControl, type Directives } from './cache-control';
import { bodyEtag } from './conditional';
import type { CachedResponse, Entry, EntryTimes, HeaderValue } from './entry';
import { GuardedStore, UNAVAILABLE } from './guarded-store';
import { varyNames } from './headers';
import { indexPath, normalizePath, shortenKey, variantKey, buildCacheKey } from './key';
import { Metrics, type MemorySize, type PromRegistry } from './metrics';
import { resolveOptions, type ResolvedOptions } from './options';
import { header, responseNotStorableReason, type IncomingHeaders, type RequestInfo, type ResponseInfo } from './policy';
import { MemoryStore } from './stores/memory';
import { assertCacheStore, type CacheStore } from './stores/store';
import { SingleFlight } from './flight';
import { entryTimes, freshSeconds, parseAge, staleWindows, statedLifetime } from './ttl';
import type { CacheOptions, CacheStats, InvalidateTarget } from './types';
import { createStoreFromOptions } from './store-factory';
import { cachedFunction, ValueCache, type CachedFunction, type CachedOptions, type ValueCacheOptions, type ValueHost } from './values';

/** How a stored response stands at a moment (RFC 9111 §4.2, RFC 5861). */
export type Freshness = 'fresh' | 'stale-while-revalidate' | 'stale-if-error' | 'expired';

/** A lookup's answer: the entry if any, and the key a new one for this request goes to. */
export interface Lookup {
  readonly entry: CachedResponse | undefined;
  readonly key: string;
  /** The store could not be read: the request bypasses the cache. */
  readonly unavailable: boolean;
}

/** What a leader shares with followers of its flight. */
export interface Shared {
  readonly entry: CachedResponse;
  /** Where it was stored: a follower whose own variant key differs runs its handler. */
  readonly key: string;
}

/** The decision made once, at header time, for a response that may be stored. */
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

export class ResponseCache<Req = unknown, Res = unknown> {
  readonly options: ResolvedOptions<Req, Res>;
  readonly store: CacheStore;
  readonly metrics = new Metrics(() => this.options.namespace);
  readonly flights = new SingleFlight<Shared>();
  readonly guarded: GuardedStore;
  readonly now: () => number;
  readonly random: () => number;
  private readonly ownsStore: boolean;
  /**
   * Bumped by every invalidation; a response whose making overlapped one is not stored.
   * Local to this instance: across instances the race stays (see ARCHITECTURE.md).
   */
  generation = 0;

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
      storeTimeout: o.storeTimeout, whenStoreDown: o.whenStoreDown, fallbackTtl: o.fallbackTtl,
      onError: o.onError, metrics: this.metrics, now: this.now,
    });
  }

  /** Options for one route: the same validation, over this cache's own. */
  routeOptions(overrides: CacheOptions<Req, Res> | undefined): ResolvedOptions<Req, Res> {
    if (overrides === undefined) return this.options;
    for (const name of ['whenStoreDown', 'fallbackTtl', 'onError'] as const) {
      if (overrides[name] !== undefined) throw new TypeError(`cache.middleware: ${name} belongs to the shared store; set it in createCache()`);
    }
    return resolveOptions(overrides, this.options, 'cache.middleware');
  }

  /** The primary key of a request: built, or the `key` option's, inside the namespace. */
  primaryKey(req: { method: string; path: string; query: string; headers: IncomingHeaders }, o: ResolvedOptions<Req, Res>, custom?: string): string {
    if (custom !== undefined) return shortenKey(`${o.keyPrefix}k:${custom}`);
    return buildCacheKey({ keyPrefix: o.keyPrefix, method: req.method, path: req.path, query: req.query, headers: req.headers, vary: o.vary, queryFilter: o.queryFilter });
  }

  /** Find the response for this request: the primary key's, or its variant's when it varies. */
  lookup(primaryKey: string, headers: IncomingHeaders, timeout?: number): Lookup | Promise<Lookup> {
    const first = this.guarded.read(primaryKey, timeout);
    if (first instanceof Promise) return first.then((e) => this.follow(primaryKey, e, headers, timeout));
    return this.follow(primaryKey, first, headers, timeout);
  }

  private follow(primaryKey: string, found: Entry | undefined | typeof UNAVAILABLE, headers: IncomingHeaders, timeout?: number): Lookup | Promise<Lookup> {
    if (found === UNAVAILABLE) return { entry: undefined, key: primaryKey, unavailable: true };
    if (found === undefined || found.kind === 'value') return { entry: undefined, key: primaryKey, unavailable: false };
    if (found.kind === 'response') return { entry: found, key: primaryKey, unavailable: false };
    const key = variantKey(primaryKey, found.vary, headers);
    const second = this.guarded.read(key, timeout);
    const done = (e: Entry | undefined | typeof UNAVAILABLE): Lookup => ({
      entry: e !== UNAVAILABLE && e?.kind === 'response' ? e : undefined, key, unavailable: e === UNAVAILABLE,
    });
    return second instanceof Promise ? second.then(done) : done(second);
  }

  freshness(entry: EntryTimes, now = this.now()): Freshness {
    if (now < entry.staleAt) return 'fresh';
    if (now < entry.swrUntil) return 'stale-while-revalidate';
    if (now < entry.sieUntil) return 'stale-if-error';
    return 'expired';
  }

  /**
   * Decide, once, at header time, whether a response may be stored and for how long.
   * Returns the plan, or the reason it may not be stored.
   */
  plan(req: RequestInfo, res: ResponseInfo, o: ResolvedOptions<Req, Res>, ttlOverride: number | undefined): Plan | string {
    const cc = parseCacheControl(res.headers['cache-control']);
    const reason = responseNotStorableReason(req, res, cc, o);
    if (reason) return reason;
    const now = this.now();
    const originAge = parseAge(header(res.headers.age));
    const stated = statedLifetime(cc, header(res.headers.expires), header(res.headers.date), now);
    const fresh = freshSeconds({ override: ttlOverride, stated, originAge, ttl: o.ttl, maxTtl: o.maxTtl, jitter: o.jitter, random: this.random });
    if (fresh <= 0) return 'stale on arrival (max-age=0, an Expires in the past, or an invalid directive)';
    const windows = staleWindows(cc, o.staleWhileRevalidate, o.staleIfError);
    return { times: entryTimes(now, fresh, windows.swr, windows.sie), cc, vary: varyNames(header(res.headers.vary)), originAge };
  }

  /**
   * Build the entry from a finished response and write it (and the Vary marker it needs).
   * Resolves what followers may share, or undefined when nothing was stored.
   */
  async commit(input: {
    primaryKey: string; reqHeaders: IncomingHeaders; path: string; status: number;
    headers: Array<[string, HeaderValue]>; body: Buffer; plan: Plan; tags: readonly string[];
    o: ResolvedOptions<Req, Res>;
    /** `generation` when the response started being made. */
    generation: number;
  }): Promise<Shared | undefined> {
    const { plan, o } = input;
    const headers = input.headers;
    let etag = headers.find(([n]) => n === 'etag')?.[1];
    if (typeof etag !== 'string') {
      etag = bodyEtag(input.body);
      headers.push(['etag', etag]);
    }
    const lastModified = headers.find(([n]) => n === 'last-modified')?.[1];
    // RFC 9110 §6.6.1: a replay carries the time the origin made the response.
    if (!headers.some(([n]) => n === 'date')) headers.push(['date', new Date(plan.times.storedAt).toUTCString()]);
    const index = { path: this.pathId(input.path, o), tags: input.tags.map((t) => o.keyPrefix + t) };
    const entry: CachedResponse = {
      kind: 'response', status: input.status, headers, etag,
      lastModified: typeof lastModified === 'string' ? lastModified : undefined,
      originAge: plan.originAge, path: index.path, tags: index.tags, body: input.body, ...plan.times,
    };
    const key = plan.vary.length > 0 ? variantKey(input.primaryKey, plan.vary, input.reqHeaders) : input.primaryKey;
    const ttlMs = entry.expiresAt - this.now();
    if (!(ttlMs > 0)) return undefined;
    // Followers get the response even if the store refuses it; only writes depend on the store.
    const shared = { entry, key };
    // An invalidation ran while this response was being made: it may hold what was just
    // invalidated (a GET that read before a PUT), so it is not stored (read-your-writes).
    if (input.generation !== this.generation) return shared;
    if (plan.vary.length > 0) {
      // The marker is filed under its own key, not the path or tags: invalidation counts
      // only responses, and a marker left behind only leads to a miss that rewrites it.
      const markerIndex = { path: input.primaryKey, tags: [] };
      const marker = { kind: 'vary' as const, vary: plan.vary, ...markerIndex, storedAt: entry.storedAt, expiresAt: entry.expiresAt };
      if (!(await this.guarded.write(input.primaryKey, marker, ttlMs, markerIndex))) return shared;
    }
    if (!(await this.guarded.write(key, entry, ttlMs, index))) return shared;
    this.metrics.stored(key);
    return shared;
  }

  /** The store key of the cross-instance lock for computing `primaryKey` (outside every entry key's form). */
  lockKey(primaryKey: string): string {
    return 'lock:' + primaryKey;
  }

  /**
   * Another instance holds the lock for `primaryKey`: poll for the entry it will store,
   * for at most `timeoutMs`. Resolves the fresh entry, or undefined to compute it here.
   */
  async awaitOther(primaryKey: string, headers: IncomingHeaders, timeoutMs: number): Promise<Shared | { token: string } | undefined> {
    let expired = false;
    const timer = setTimeout(() => (expired = true), timeoutMs);
    try {
      for (let delay = 10; !expired; delay = Math.min(delay * 2, 100)) {
        await new Promise((r) => setTimeout(r, delay));
        const l = await this.lookup(primaryKey, headers);
        if (l.unavailable) return undefined;
        if (l.entry && this.freshness(l.entry) === 'fresh') return { entry: l.entry, key: l.key };
        // The holder is gone without storing what this request needs: compute it here, holding the lock.
        const token = await this.guarded.lock(this.lockKey(primaryKey), timeoutMs);
        if (token === null) return undefined;
        if (token !== undefined) return { token };
      }
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }

  /** The namespaced path an entry is indexed under. */
  pathId(path: string, o: ResolvedOptions<Req, Res> = this.options): string {
    return o.keyPrefix + indexPath(path);
  }

  /**
   * Remove entries: exact keys (of this namespace), every variant of paths, every path
   * under prefixes (literal), every entry tagged so. Resolves the number removed; store
   * failures count 0 and go to onError, never to the caller.
   */
  async invalidate(target: InvalidateTarget): Promise<number> {
    checkTarget(target);
    this.generation++;
    const p = this.options.keyPrefix;
    const timeout = Math.max(1000, this.options.storeTimeout * 10);
    const runs: Array<(s: CacheStore) => Promise<number>> = [];
    const keys = (target.keys ?? []).filter((k) => k.startsWith(p));
    if (keys.length) runs.push((s) => s.delete(keys));
    for (const path of target.paths ?? []) runs.push((s) => s.deleteByPath(p + indexPath(pathOnly(path))));
    for (const prefix of target.prefixes ?? []) runs.push((s) => s.deleteByPrefix(p + normalizePath(pathOnly(prefix)).toLowerCase()));
    if (target.tags?.length) {
      const tags = target.tags.map((t) => p + t);
      runs.push((s) => s.deleteByTag(tags));
    }
    const counts = await Promise.all(runs.map((run) => this.guarded.invalidate(run, timeout)));
    const n = counts.reduce((a, b) => a + b, 0);
    this.metrics.invalidated(n);
    return n;
  }

  /** A typed cache of values in `namespace`, on this cache's store, tags and invalidation. */
  values<T>(namespace: string, options?: ValueCacheOptions<T>): ValueCache<T> {
    return new ValueCache<T>(this.valueHost, namespace, options);
  }

  /** Wrap a function so its results are cached by arguments; the wrapper has `.invalidate(...args)`. */
  cached<A extends unknown[], R>(fn: (...args: A) => R | Promise<R>, options?: CachedOptions<A>): CachedFunction<A, R> {
    return cachedFunction(this.valueHost, fn, options);
  }

  private get valueHost(): ValueHost {
    const o = this.options;
    return {
      guarded: this.guarded, keyPrefix: o.keyPrefix, ttl: o.ttl, jitter: o.jitter,
      lockTimeout: o.coalesce ? o.coalesce.timeout : 10_000,
      now: this.now, random: this.random, lockKey: (k) => this.lockKey(k), metrics: this.metrics,
    };
  }

  /** Response counters (values are not counted). */
  stats(): CacheStats {
    return this.metrics.stats();
  }

  /** stats() in Prometheus text format, labelled with the namespace, for a /metrics route. */
  prometheus(): string {
    return this.metrics.toPrometheus(this.options.namespace);
  }

  /** False while the store is failing and left alone by the circuit breaker. */
  get isAvailable(): boolean {
    return this.guarded.available;
  }

  /** Resolves true when the store answers within storeTimeout. Never rejects. */
  async ping(): Promise<boolean> {
    try {
      await this.guarded.ping();
      return true;
    } catch {
      return false;
    }
  }

  /** Release what the cache opened itself: its own store (never one it was given). */
  async close(): Promise<void> {
    await this.guarded.drain(Math.max(1000, this.options.storeTimeout * 10));
    if (this.ownsStore) await this.store.close();
  }

  /**
   * Remove every entry of this namespace (prefix:version:namespace), responses and values:
   * both are indexed under paths that start with the key prefix. Resolves the count
   * removed, Vary markers included; store failures count 0 and go to onError.
   */
  async clear(): Promise<number> {
    this.generation++;
    const prefix = this.options.keyPrefix;
    const n = await this.guarded.invalidate((s) => s.deleteByPrefix(prefix), Math.max(1000, this.options.storeTimeout * 10));
    this.metrics.invalidated(n);
    return n;
  }

  /**
   * What this namespace holds, for debugging (apicache's getIndex()): store keys of
   * responses (Vary markers included) and of values, at most `limit` of each kind in all.
   * Needs a store with `keys()` (MemoryStore, RedisStore); rejects otherwise.
   */
  async keys(options: { limit?: number } = {}): Promise<{ responses: string[]; values: string[]; truncated: boolean }> {
    const limit = options.limit ?? 1000;
    if (!Number.isSafeInteger(limit) || limit <= 0) throw new TypeError(`cache.keys: limit must be a positive integer, got ${String(limit)}`);
    if (typeof this.store.keys !== 'function') throw new TypeError('cache.keys: this store cannot list its keys (it has no keys() method)');
    const prefix = this.options.keyPrefix;
    const found = await this.store.keys(prefix, limit + 1);
    const truncated = found.length > limit;
    const all = found.slice(0, limit).sort();
    const valuePrefix = `${prefix}val:`;
    return { responses: all.filter((k) => !k.startsWith(valuePrefix)), values: all.filter((k) => k.startsWith(valuePrefix)), truncated };
  }

  /**
   * Register prom-client metrics (counters by namespace and kind, store and lookup latency
   * histograms, memory store gauges) on `registry`, prom-client's global one by default.
   * prom-client is an optional peer dependency; this throws when it is not installed.
   */
  registerMetrics<R extends PromRegistry>(registry?: R): R {
    const store = this.store as { memory?: unknown };
    const memory: MemorySize | undefined = this.store instanceof MemoryStore ? this.store : store.memory instanceof MemoryStore ? store.memory : undefined;
    return this.metrics.register(registry, memory && (() => memory)) as R;
  }
}

/** A path given with a query or fragment names the path: every variant of it goes. */
function pathOnly(path: string): string {
  const end = path.search(/[?#]/);
  return end === -1 ? path : path.slice(0, end);
}

function checkTarget(target: InvalidateTarget): void {
  if (!target || typeof target !== 'object') throw new TypeError('invalidate: target must be an object { keys?, paths?, prefixes?, tags? }');
  for (const name of Object.keys(target)) {
    if (!['keys', 'paths', 'prefixes', 'tags'].includes(name)) throw new TypeError(`invalidate: unknown target "${name}"`);
    const list = (target as Record<string, unknown>)[name];
    if (list !== undefined && (!Array.isArray(list) || !list.every((s) => typeof s === 'string'))) {
      throw new TypeError(`invalidate: ${name} must be an array of strings`);
    }
  }
}
