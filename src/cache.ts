/**
 * ResponseCache: the public face of a cache instance. Its state and algorithm live in a
 * CacheEngine (src/engine.ts) that only the binding reaches, through `engineOf()`.
 */

import { CacheEngine, type Clock } from './engine';
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
    engines.set(this, new CacheEngine<Req, Res>(options, clock) as unknown as CacheEngine<never, never>);
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
}
