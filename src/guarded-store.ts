/**
 * The store as the cache sees it: every call bounded by `storeTimeout`, a circuit breaker
 * in front, failures turned into misses and no-ops and reported through `onError`, and
 * entries decoded here (a corrupt one is a miss). With `whenStoreDown: 'memory'`, a small
 * local store takes reads and writes while the shared one is out.
 */

import createDebug from 'debug';
import { CircuitBreaker } from './breaker';
import { decodeEntry, encodeEntry, type Entry } from './entry';
import { CacheError, StoreError, StoreTimeoutError, StoreUnavailableError } from './errors';
import type { Metrics } from './metrics';
import { MemoryStore } from './stores/memory';
import type { CacheStore, StoreIndex } from './stores/store';
import type { ErrorContext, ErrorHandler } from './types';

const debug = createDebug('express-response-cache');

export interface GuardedStoreOptions {
  storeTimeout: number;
  whenStoreDown: 'bypass' | 'memory';
  fallbackTtl: number;
  onError: ErrorHandler | undefined;
  metrics: Metrics;
  now: () => number;
}

type Op = ErrorContext['operation'];

/** A read that could not reach the store: the request bypasses the cache. */
export const UNAVAILABLE: unique symbol = Symbol('store unavailable');
export type ReadResult = Entry | undefined | typeof UNAVAILABLE;

export class GuardedStore {
  readonly store: CacheStore;
  private readonly breaker: CircuitBreaker;
  private readonly fallback: MemoryStore | undefined;
  private readonly peek: ((key: string) => Buffer | undefined) | undefined;
  /**
   * Decoded entries by the Buffer a store with peek() hands back: a memory hit decodes
   * once. Filled on first read, not on write: a decoded body is a view of the stored
   * bytes, where the entry given to write() holds a second copy of the body.
   */
  private readonly decoded = new WeakMap<Buffer, Entry>();
  private readonly logged = new Set<string>();

  constructor(store: CacheStore, private readonly o: GuardedStoreOptions) {
    this.store = store;
    this.breaker = new CircuitBreaker({ now: o.now });
    this.peek = typeof store.peek === 'function' ? store.peek.bind(store) : undefined;
    if (o.whenStoreDown === 'memory' && !store.local) this.fallback = new MemoryStore({ maxEntries: 1000, maxBytes: 32 * 1024 * 1024 });
  }

  /** False while the breaker is open: the store failed repeatedly and is left alone. */
  get available(): boolean {
    return !this.breaker.isOpen;
  }

  /**
   * The entry at `key`, or UNAVAILABLE when the store failed, timed out or is left alone.
   * Synchronous for a local store, so a memory hit needs no await.
   */
  read(key: string, timeout = this.o.storeTimeout): ReadResult | Promise<ReadResult> {
    if (this.peek) {
      const held = this.peek(key);
      // A local store's peek is its whole answer; a tier's miss still asks the store.
      if (held !== undefined || this.store.local) return this.decode(held, key);
    }
    const target = this.target();
    if (!target) return UNAVAILABLE;
    return this.call('get', key, () => target.get(key), timeout, target === this.fallback).then(
      (buf) => this.decode(buf, key),
      () => UNAVAILABLE,
    );
  }

  async readMany(keys: readonly string[], timeout = this.o.storeTimeout): Promise<Array<Entry | undefined>> {
    const target = this.target();
    if (!target || keys.length === 0) return keys.map(() => undefined);
    const pending = (): Promise<Array<Buffer | undefined>> => (target.getMany ? target.getMany(keys) : Promise.all(keys.map((k) => target.get(k))));
    try {
      const bufs = await this.call('get', keys[0], pending, timeout, target === this.fallback);
      return keys.map((k, i) => this.decode(bufs[i], k));
    } catch {
      return keys.map(() => undefined);
    }
  }

  /** Encode and store; resolves false (never rejects) when it could not. */
  async write(key: string, entry: Entry, ttlMs: number, index: StoreIndex, timeout = this.o.storeTimeout): Promise<boolean> {
    let bytes: Buffer;
    try {
      bytes = encodeEntry(entry);
    } catch (err) {
      this.report(new StoreError(`could not encode the entry: ${(err as Error).message}`, err), { operation: 'encode', key });
      return false;
    }
    const target = this.target();
    if (!target) return false;
    const ttl = target === this.fallback ? Math.min(ttlMs, this.o.fallbackTtl * 1000) : ttlMs;
    try {
      await this.call('set', key, () => target.set(key, bytes, ttl, index), timeout, target === this.fallback);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Run one invalidation on the store (and the fallback, which may hold copies from an
   * outage). Resolves the count removed; failures count 0 and go to onError.
   */
  async invalidate(run: (store: CacheStore) => Promise<number>, timeout: number): Promise<number> {
    let n = 0;
    if (this.fallback) n += await run(this.fallback);
    if (!this.breaker.allow()) {
      this.report(new StoreUnavailableError('invalidate'), { operation: 'invalidate' });
      return n;
    }
    try {
      n += await this.call('invalidate', undefined, () => run(this.store), timeout, false);
    } catch {
      // reported by call()
    }
    return n;
  }

  async lock(key: string, ttlMs: number): Promise<string | undefined | null> {
    if (!this.store.lock || !this.breaker.allow()) return null;
    try {
      return await this.call('lock', key, () => this.store.lock!(key, ttlMs), this.o.storeTimeout, false);
    } catch {
      return null; // no lock service: the caller computes
    }
  }

  unlock(key: string, token: string): void {
    if (!this.store.unlock) return;
    this.track(this.store.unlock(key, token)).catch((err) => this.report(new StoreError(`unlock failed: ${(err as Error).message}`, err), { operation: 'lock', key }));
  }

  /** Resolves when the store answers within storeTimeout; rejects otherwise. */
  async ping(): Promise<void> {
    const answer = (): Promise<void> => (this.store.ping ? this.store.ping() : this.store.get(`__ping__:${this.o.now()}`).then(() => undefined));
    await this.call('ping', undefined, answer, this.o.storeTimeout, false);
  }

  private readonly inflight = new Set<Promise<unknown>>();

  private track<T>(p: Promise<T>): Promise<T> {
    this.inflight.add(p);
    const done = (): void => void this.inflight.delete(p);
    p.then(done, done);
    return p;
  }

  /** Wait (at most limitMs) for the store calls in flight, and those they lead to, to settle. */
  async drain(limitMs: number): Promise<void> {
    let expired = false;
    const timer = setTimeout(() => (expired = true), limitMs);
    try {
      for (;;) {
        await new Promise((r) => setImmediate(r));
        if (this.inflight.size === 0 || expired) return;
        await Promise.race([Promise.allSettled([...this.inflight]), new Promise((r) => setTimeout(r, 50))]);
      }
    } finally {
      clearTimeout(timer);
    }
  }

  report(err: CacheError, context: ErrorContext): void {
    this.o.metrics.error(err, context);
    debug('%s %s: %s', context.operation, context.key ?? '', err.message);
    if (this.o.onError) {
      try {
        this.o.onError(err, context);
      } catch (e) {
        debug('onError threw: %s', (e as Error).message);
      }
    } else if (!this.logged.has(err.code)) {
      this.logged.add(err.code);
      console.warn(`express-response-cache: ${err.message} (${err.code}; further ${err.code} errors are not logged, pass onError to hear them all)`);
    }
  }

  /** Where reads and writes go now: the store, the fallback while it is out, or nowhere. */
  private target(): CacheStore | undefined {
    if (this.store.local || this.breaker.allow()) return this.store;
    return this.fallback;
  }

  private decode(buf: Buffer | undefined, key: string): Entry | undefined {
    if (buf === undefined) return undefined;
    const known = this.decoded.get(buf);
    if (known) return known;
    try {
      const entry = decodeEntry(buf);
      if (this.peek) this.decoded.set(buf, entry);
      return entry;
    } catch (err) {
      this.report(err instanceof CacheError ? err : new StoreError('entry did not decode', err), { operation: 'decode', key });
      return undefined;
    }
  }

  /** Start the store call, bound it by `timeout`, feed the breaker, report failures; rejects on failure. */
  private call<T>(op: Op, key: string | undefined, start: () => Promise<T>, timeout: number, local: boolean): Promise<T> {
    let pending: Promise<T>;
    const started = this.o.metrics.start();
    try {
      pending = Promise.resolve(start());
      if (started) pending.then(() => this.o.metrics.storeCall(op, started), () => this.o.metrics.storeCall(op, started));
    } catch (err) {
      // A store that throws instead of rejecting fails the same way: a miss, never the request.
      pending = Promise.reject(err);
    }
    if (local || this.store.local) {
      // No timer or breaker for a process-local store, but its failures are heard all the same.
      return pending.catch((e: unknown) => {
        this.report(e instanceof CacheError ? e : new StoreError(`store ${op} failed: ${(e as Error)?.message ?? String(e)}`, e), { operation: op, key });
        throw e;
      });
    }
    return this.track(new Promise<T>((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => {
        settled = true;
        this.breaker.failure();
        const err = new StoreTimeoutError(op, timeout);
        this.report(err, { operation: op, key });
        reject(err);
      }, timeout);
      pending.then(
        (v) => {
          if (settled) return;
          clearTimeout(timer);
          this.breaker.success();
          resolve(v);
        },
        (e) => {
          if (settled) return;
          clearTimeout(timer);
          this.breaker.failure();
          const err = e instanceof CacheError ? e : new StoreError(`store ${op} failed: ${(e as Error)?.message ?? String(e)}`, e);
          this.report(err, { operation: op, key });
          reject(err);
        },
      );
    }));
  }
}
