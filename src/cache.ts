/**
 * ResponseCache: the public face of a cache instance. Its state and algorithm live in a
 * CacheEngine (src/engine.ts) that only the binding reaches, through `engineOf()`.
 */

import { Counters, type CounterOptions } from './counters';
import { CacheEngine, type Clock } from './engine';
import { inspectStore, type InspectOptions, type InspectResult } from './inspect';
import type { MemorySize, PromRegistry } from './metrics';
import { MemoryStore } from './stores/memory';
import type { CacheOptions, CacheStats, InvalidateTarget } from './types';
import { cachedFunction, ValueCache, type CachedFunction, type CachedOptions, type ValueCacheOptions } from './values';

export type { Clock, Freshness, Lookup, Plan } from './engine';

const engines = new WeakMap<object, CacheEngine<never, never>>();

/** The engine behind a cache: for the binding (middleware/), not for applications. */
export function engineOf<Req, Res>(cache: ResponseCache<Req, Res>): CacheEngine<Req, Res> {
  return engines.get(cache) as unknown as CacheEngine<Req, Res>;
}

export class ResponseCache<Req = unknown, Res = unknown> {
  constructor(options: CacheOptions<Req, Res> = {}, clock: Clock = {}) {
    engines.set(this, new CacheEngine<Req, Res>(options, clock));
  }

  /**
   * Remove entries: exact keys (of this namespace), every variant of paths, every path
   * under prefixes (literal), every entry tagged so. When it resolves, no instance sharing
   * the store serves what it matched. Store failures count 0 and go to onError.
   */
  invalidate(target: InvalidateTarget): Promise<number> {
    return engineOf(this).invalidate(target);
  }

  /** A typed cache of values in `namespace`, on this cache's store, tags and invalidation. */
  values<T>(namespace: string, options?: ValueCacheOptions<T>): ValueCache<T> {
    return new ValueCache<T>(engineOf(this).valueHost, namespace, options);
  }

  /**
   * Atomic integer counters in `namespace` (visit counts, rate limits), on this cache's
   * store: `increment`, `decrement`, `get`, `expire`, `delete`, `clear`. They reject when
   * the store fails (unlike values), so the caller chooses what a failure means.
   */
  counters(namespace: string, options?: CounterOptions): Counters {
    return new Counters(engineOf(this).valueHost, namespace, options);
  }

  /** Wrap a function so its results are cached by arguments; the wrapper has `.invalidate(...args)`. */
  cached<A extends unknown[], R>(fn: (...args: A) => R | Promise<R>, options?: CachedOptions<A>): CachedFunction<A, R> {
    return cachedFunction(engineOf(this).valueHost, fn, options);
  }

  /** Response counters (values are not counted). */
  stats(): CacheStats {
    return engineOf(this).metrics.stats();
  }

  /** stats() in Prometheus text format, labelled with the namespace, for a /metrics route. */
  prometheus(): string {
    const e = engineOf(this);
    return e.metrics.toPrometheus(e.options.namespace);
  }

  /** False while the store is failing and left alone by the circuit breaker. */
  get isAvailable(): boolean {
    return engineOf(this).guarded.available;
  }

  /** Resolves true when the store answers within storeTimeout. Never rejects. */
  async ping(): Promise<boolean> {
    try {
      await engineOf(this).guarded.ping();
      return true;
    } catch {
      return false;
    }
  }

  /** Release what the cache opened itself: its own store (never one it was given). */
  close(): Promise<void> {
    return engineOf(this).close();
  }

  /**
   * Remove every entry of this namespace (prefix:version:namespace), responses and values:
   * both are indexed under paths that start with the key prefix. Resolves the count
   * removed, Vary markers included; store failures count 0 and go to onError.
   */
  clear(): Promise<number> {
    return engineOf(this).clear();
  }

  /**
   * What this namespace holds, for debugging (apicache's getIndex()): store keys of
   * responses (Vary markers included) and of values, at most `limit` of each kind in all.
   * Needs a store with `keys()` (MemoryStore, RedisStore, TieredStore); rejects otherwise.
   */
  async keys(options: { limit?: number } = {}): Promise<{ responses: string[]; values: string[]; truncated: boolean }> {
    const limit = options.limit ?? 1000;
    if (!Number.isSafeInteger(limit) || limit <= 0) throw new TypeError(`cache.keys: limit must be a positive integer, got ${String(limit)}`);
    const e = engineOf(this);
    const store = e.store;
    if (typeof store.keys !== 'function') throw new TypeError('cache.keys: this store cannot list its keys (it has no keys() method)');
    const prefix = e.options.keyPrefix;
    const found = await store.keys(prefix, limit + 1);
    const truncated = found.length > limit;
    const all = found.slice(0, limit).sort();
    const valuePrefix = `${prefix}val:`;
    return { responses: all.filter((k) => !k.startsWith(valuePrefix)), values: all.filter((k) => k.startsWith(valuePrefix)), truncated };
  }

  /**
   * What this namespace holds, entry by entry, for debugging: key, path, status, size,
   * stored / fresh-until / expires, tags and Vary of each response and value, at most
   * `limit` (default 100, at most 1000), only those under the path `prefix` if given.
   * Bounded on every store (Redis: SCAN, never KEYS; at most 10,000 keys listed a call).
   * Needs a store with `keys()`; rejects otherwise. Reads the store directly: no counters move.
   */
  inspect(options?: InspectOptions): Promise<InspectResult> {
    const e = engineOf(this);
    return inspectStore(e.store, e.options.keyPrefix, options);
  }

  /**
   * Register prom-client metrics (counters by namespace and kind, store and lookup latency
   * histograms, memory store gauges) on `registry`, prom-client's global one by default.
   * prom-client is an optional peer dependency; this throws when it is not installed.
   */
  registerMetrics<R extends PromRegistry>(registry?: R): R {
    const e = engineOf(this);
    const store = e.store as { memory?: unknown };
    const memory: MemorySize | undefined = e.store instanceof MemoryStore ? e.store : store.memory instanceof MemoryStore ? store.memory : undefined;
    return e.metrics.register(registry, memory && (() => memory)) as R;
  }
}
