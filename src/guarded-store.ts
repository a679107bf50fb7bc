/**
 * The store as the cache sees it: every call bounded by `storeTimeout`, a circuit breaker
 * in front, failures turned into misses and no-ops and reported through `onError`, and
 * entries decoded here (a corrupt one is a miss). With `whenStoreDown: 'memory'`, a small
 * local store takes reads and writes while the shared one is out.
 */

import createDebug from 'debug';
import { CircuitBreaker } from './breaker';
import { decodeEntry, encodeEntry, type Entry } from './entry';
import { CacheError, CounterUnavailableError, StoreConfigError, StoreError, StoreTimeoutError, StoreUnavailableError } from './errors';
import { GUARD_WINDOW_MS, GuardLog, monotonicNow, type GuardSubject, type GuardTarget, type Making } from './guard';
import type { Metrics } from './metrics';
import { PendingInvalidations, type PendingInvalidation } from './pending-invalidations';
import { holdForReplica } from './replicated';
import { MemoryStore } from './stores/memory';
import type { CacheStore, CounterOp, StoreIndex, StoreSafety } from './stores/store';
import type { ErrorContext, ErrorHandler } from './types';

const debug = createDebug('express-response-cache');

/** The least time an invalidation gives a store to delete every entry after evictions (RedisStore.afterInvalidate). */
const EXACT_AFTER_EVICTIONS_MS = 10_000;

export interface GuardedStoreOptions {
  storeTimeout: number;
  whenStoreDown: 'bypass' | 'memory';
  fallbackTtl: number;
  onError: ErrorHandler | undefined;
  metrics: Metrics;
  now: () => number;
  /** The namespace's head: an overflowing queue of kept invalidations becomes one of everything under it. */
  keyPrefix: string;
  /** Most ms an invalidation waits for a replica to confirm it (src/replicated.ts); 0 (the default here) never waits. */
  failoverTimeout?: number;
  /**
   * While the store says it may lose the keys invalidation reads (`watchSafety`: a Redis
   * eviction policy): 'bypass' reads and writes no entries through it, 'best-effort' goes
   * on caching (reported all the same). @default 'bypass'
   */
  whenStoreEvicts?: 'bypass' | 'best-effort';
}

/**
 * How a guarded write ended: live in the store; refused by the guard; not written (the
 * store failed) yet cleared by the guard all the same (`cleared`: only where this
 * instance's log is the whole guard, so what was made may still be handed to followers);
 * or not written and not cleared (`failed`).
 */
export type WriteOutcome = 'stored' | 'refused' | 'cleared' | 'failed';

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
  /** This instance's own invalidations: for its flights, and for stores that keep no records. */
  readonly log = new GuardLog();
  private readonly pending: PendingInvalidations;
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** The store may lose index keys and the cache bypasses it (whenStoreEvicts 'bypass'): reads and writes skip it. */
  private evicting = false;
  private readonly unwatchSafety: (() => void) | undefined;

  constructor(
    store: CacheStore,
    private readonly o: GuardedStoreOptions,
  ) {
    this.store = store;
    this.breaker = new CircuitBreaker({ now: o.now });
    this.peek = typeof store.peek === 'function' ? store.peek.bind(store) : undefined;
    if (o.whenStoreDown === 'memory' && !store.local) this.fallback = new MemoryStore({ maxEntries: 1000, maxBytes: 32 * 1024 * 1024 });
    const all = o.keyPrefix;
    this.pending = new PendingInvalidations(() => ({
      target: { keys: [], paths: [], prefixes: [all], tags: [] },
      runs: [(s) => s.deleteByPrefix(all)],
    }));
    if (typeof store.check === 'function') this.selfCheck(store.check.bind(store));
    if (typeof store.watchSafety === 'function') this.unwatchSafety = store.watchSafety((s) => this.onSafety(s));
  }

  /** The store became unsafe (reported each time) or safe again; under 'bypass', entries skip it meanwhile. */
  private onSafety(s: StoreSafety): void {
    const bypass = (this.o.whenStoreEvicts ?? 'bypass') === 'bypass';
    if (!s.safe) {
      const what = bypass
        ? "the cache bypasses Redis until it is safe again (whenStoreEvicts: 'best-effort' caches anyway)"
        : "caching goes on (whenStoreEvicts: 'best-effort'): an invalidation may miss an entry";
      this.report(new StoreConfigError(`${s.reason}; ${what}`), { operation: 'check' });
    } else debug('store safe again: caching through it resumes');
    this.evicting = bypass && !s.safe;
    this.o.metrics.evictionBypass(this.evicting);
  }

  /** True while the store may lose index keys and the cache bypasses it (whenStoreEvicts: 'bypass'). */
  get bypassingEvictingStore(): boolean {
    return this.evicting;
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
      // whenStoreDown 'memory': a failed read is the fallback's answer (a miss there is stored there).
      () => (this.fallback && target !== this.fallback ? this.decode(this.fallback.peek(key), key) : UNAVAILABLE),
    );
  }

  async readMany(keys: readonly string[], timeout = this.o.storeTimeout): Promise<Array<Entry | undefined>> {
    // Asked before target(): an empty batch must not take the breaker's half-open probe.
    if (keys.length === 0) return [];
    const target = this.target();
    if (!target) return keys.map(() => undefined);
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
      // whenStoreDown 'memory': a write the store refused lands in the fallback, not nowhere.
      if (this.fallback && target !== this.fallback) await this.fallback.set(key, bytes, Math.min(ttlMs, this.o.fallbackTtl * 1000), index);
      return false;
    }
  }

  /**
   * Encode and store through the invalidation guard (src/guard.ts): the entry becomes
   * visible only if no invalidation since `making` started matches it, on any instance
   * sharing the store (stores with mark/setGuarded) or on this one (others).
   */
  async writeGuarded(key: string, entry: Entry, ttlMs: number, index: StoreIndex, making: Making, alsoKeys: readonly string[] = []): Promise<WriteOutcome> {
    const subject: GuardSubject = { keys: [key, ...alsoKeys], path: index.path, tags: index.tags };
    // Our own invalidations are known here at once, for free.
    if (this.log.overlaps(making, subject) || this.pendingMatch(subject)) return 'refused';
    let bytes: Buffer;
    try {
      bytes = encodeEntry(entry);
    } catch (err) {
      this.report(new StoreError(`could not encode the entry: ${(err as Error).message}`, err), { operation: 'encode', key });
      return 'failed';
    }
    const target = this.target();
    if (!target) return this.unwritten(making, subject);
    const local = target === this.fallback;
    const ttl = local ? Math.min(ttlMs, this.o.fallbackTtl * 1000) : ttlMs;
    const guarded = target.setGuarded?.bind(target);
    try {
      if (!guarded) {
        await this.call('set', key, () => target.set(key, bytes, ttl, index), this.o.storeTimeout, local);
        return 'stored';
      }
      // Three round trips (write pending, read records, mark live), after the client has its answer.
      // The deadline is the call's own timeout: a write the cache gave up on never goes live later.
      const timeout = this.o.storeTimeout * 3;
      const deadline = monotonicNow() + timeout;
      const live = await this.call(
        'set',
        key,
        () => guarded({ key, value: bytes, ttlMs: ttl, index }, { making, keys: alsoKeys, windowMs: GUARD_WINDOW_MS, deadline }),
        timeout,
        local,
      );
      return live ? 'stored' : 'refused';
    } catch {
      // whenStoreDown 'memory': what the store could not take lands in the fallback, which reads fall back to.
      if (this.fallback && !local) {
        const kept = await this.fallback.setGuarded(
          { key, value: bytes, ttlMs: Math.min(ttlMs, this.o.fallbackTtl * 1000), index },
          { making, keys: alsoKeys, windowMs: GUARD_WINDOW_MS },
        );
        return kept ? 'stored' : 'refused';
      }
      return this.unwritten(making, subject);
    }
  }

  /**
   * A making the store did not take: `cleared` when no invalidation it matches can have
   * happened since it began, `refused` when one did, `failed` when that cannot be known. A store that keeps
   * records for every instance (RedisStore, TieredStore) is the only place that knows of
   * another instance's invalidations, and it just failed to answer: whatever made the
   * write fail (a slow link, an outage) also kept its records unread.
   */
  private unwritten(making: Making, subject: GuardSubject): WriteOutcome {
    if (this.store.setGuarded && !this.store.local) return 'failed';
    return this.log.overlaps(making, subject) || this.pendingMatch(subject) ? 'refused' : 'cleared';
  }

  /** Is anything this instance could not yet invalidate in the store a match for `subject`? */
  private pendingMatch(subject: GuardSubject): boolean {
    if (this.pending.size === 0) return false;
    return this.pending.matches(subject.keys[0] ?? '', { path: subject.path, tags: subject.tags } as Entry);
  }

  /**
   * Invalidate: records first (here, at once, and in the store: the guard), then the
   * deletes, on the store and the fallback (which may hold copies from an outage). An
   * invalidation the store cannot take now is kept and retried; until it goes through this
   * instance serves nothing it matched. On a store with replicas it resolves only once one
   * has it (src/replicated.ts). Resolves the count removed; failures go to onError.
   */
  async invalidate(target: GuardTarget, runs: ReadonlyArray<(store: CacheStore) => Promise<number>>, timeout: number): Promise<number> {
    const startedAt = monotonicNow();
    const p: PendingInvalidation = { target, runs };
    const n = await this.invalidateOnce(p, timeout);
    if (!this.store.replicate || (this.o.failoverTimeout ?? 0) <= 0) return n;
    // Kept for a store never seen with replicas: as before this step (retried in the background, no wait).
    if (this.pending.size > 0 && this.store.replicated !== true) return n;
    await this.holdForReplica(p, startedAt, timeout);
    return n;
  }

  private holdForReplica(p: PendingInvalidation, startedAt: number, timeout: number): Promise<boolean> {
    const store = this.store;
    const replicate = store.replicate!.bind(store);
    const wait = this.o.storeTimeout;
    return holdForReplica(
      {
        // The store's WAIT waits `timeoutMs` itself: the call gets a storeTimeout more for the round trip.
        replicate: (since, timeoutMs) => this.call('invalidate', undefined, () => replicate(since, timeoutMs), timeoutMs + wait, false),
        reapply: () => this.apply(p, timeout),
        retryKept: async () => {
          if (this.pending.size > 0) await this.retry(timeout);
          return this.pending.size > 0;
        },
        replicated: () => store.replicated === true,
        closed: () => this.closed,
        storeTimeout: wait,
        limitMs: this.o.failoverTimeout ?? 0,
        report: (err) => this.report(err, { operation: 'invalidate' }),
      },
      startedAt,
    );
  }

  private async invalidateOnce(p: PendingInvalidation, timeout: number): Promise<number> {
    const { target, runs } = p;
    this.log.mark(target);
    let n = 0;
    if (this.fallback) {
      await this.fallback.mark(target);
      for (const run of runs) n += await run(this.fallback);
    }
    // An invalidation is tried even while the breaker keeps reads away: the breaker saves
    // requests from a dead store's latency, but an instance that could still reach the
    // store and did not would leave the other instances serving what it changed.
    if (this.pending.size === 0) {
      try {
        return n + (await this.apply(p, timeout));
      } catch {
        this.pending.add(p);
        this.scheduleRetry();
        return n;
      }
    }
    // Behind earlier ones, in order: a later invalidation must not overtake an earlier one.
    this.pending.add(p);
    const applied = await this.retry(timeout);
    if (applied.has(p)) return n + applied.get(p)!;
    this.report(new StoreUnavailableError('invalidate'), { operation: 'invalidate' });
    return n;
  }

  /** The store's records, then its deletes; rejects (reported) when the store fails. */
  private async apply(p: PendingInvalidation, timeout: number): Promise<number> {
    const mark = this.store.mark?.bind(this.store);
    if (mark) await this.call('invalidate', undefined, () => mark(p.target, GUARD_WINDOW_MS), timeout, false);
    // A tier's deletes include waiting for the other instances' acknowledgements, a plain
    // store's announce() does (after its deletes): cut short, the invalidation would resolve
    // while a tier that hears it late still serves the copy.
    const announce = this.store.announce?.bind(this.store);
    const waiting = timeout + (this.store.acknowledgeWithinMs ?? 0);
    const deletes = announce ? timeout : waiting;
    const counts = await Promise.all(p.runs.map((run) => this.call('invalidate', undefined, () => run(this.store), deletes, false)));
    // A store that may have lost an index this invalidation needed says so before it resolves (and is bypassed from then).
    // With 'bypass', evictions cost a purge of every entry here (other instances learn of them
    // only at their next reading): it gets EXACT_AFTER_EVICTIONS_MS more, the reading does not.
    const after = this.store.afterInvalidate?.bind(this.store);
    const exact = (this.o.whenStoreEvicts ?? 'bypass') === 'bypass';
    const afterBound = exact ? timeout + EXACT_AFTER_EVICTIONS_MS : timeout;
    if (after) await this.call('invalidate', undefined, () => after({ exact, readWithinMs: timeout }), afterBound, false).catch(() => undefined);
    if (announce) await this.call('invalidate', undefined, () => announce(p.target), waiting, false).catch(() => undefined);
    return counts.reduce((a, b) => a + b, 0);
  }

  /** Retry kept invalidations, oldest first, until the store takes them all (bounded tries per tick). */
  private scheduleRetry(): void {
    if (this.retryTimer || this.closed) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.retry();
    }, 100);
    this.retryTimer.unref();
  }

  /**
   * Apply kept invalidations oldest first until one fails; one drain at a time (a caller
   * that arrives during one waits for it, then drains what is left). Answers the counts of
   * those applied.
   */
  private retry(timeout = Math.max(1000, this.o.storeTimeout * 10)): Promise<Map<PendingInvalidation, number>> {
    const run = this.draining.then(() => this.drainOnce(timeout));
    this.draining = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private draining: Promise<void> = Promise.resolve();

  private async drainOnce(timeout: number): Promise<Map<PendingInvalidation, number>> {
    const applied = new Map<PendingInvalidation, number>();
    if (this.closed) return applied;
    try {
      for (let p = this.pending.peek(); p; p = this.pending.peek()) {
        try {
          applied.set(p, await this.apply(p, timeout));
        } catch {
          break;
        }
        this.pending.done(p);
        debug('kept invalidation applied; %d left', this.pending.size);
      }
    } finally {
      if (this.pending.size > 0) this.scheduleRetry();
    }
    return applied;
  }

  /** Invalidations kept until the store takes them. */
  get pendingInvalidations(): number {
    return this.pending.size;
  }

  private selfCheck(check: () => Promise<string[]>): void {
    this.track(check()).then(
      (problems) => {
        for (const m of problems) this.report(new StoreConfigError(m), { operation: 'check' });
      },
      (err) => debug('store check failed: %s', (err as Error)?.message),
    );
  }

  async lock(key: string, ttlMs: number): Promise<string | undefined | null> {
    if (!this.store.lock || this.evicting || !this.breaker.allow()) return null;
    let attempt: Promise<string | undefined>;
    try {
      attempt = Promise.resolve(this.store.lock(key, ttlMs));
    } catch (err) {
      attempt = Promise.reject(err);
    }
    try {
      return await this.call('lock', key, () => attempt, this.o.storeTimeout, false);
    } catch {
      // Timed out here, but the store may still take it (a paused Redis applies the SET
      // when it resumes): release it when it lands, or every other instance waits out its TTL.
      attempt.then(
        (token) => token && this.unlock(key, token),
        () => undefined,
      );
      return null; // no lock service: the caller computes
    }
  }

  unlock(key: string, token: string): void {
    if (!this.store.unlock) return;
    this.track(this.store.unlock(key, token)).catch((err) =>
      this.report(new StoreError(`unlock failed: ${(err as Error).message}`, err), { operation: 'lock', key }),
    );
  }

  /**
   * A counter operation, bounded by storeTimeout and behind the breaker like every call,
   * but it rejects (CounterUnavailableError) where reads and writes fall back: a counter
   * is never taken by the whenStoreDown memory fallback (a per-instance count is a wrong
   * count) and never answers a made-up 0. The store's own error is reported as usual.
   */
  counter(op: CounterOp, key: string): Promise<number | undefined> {
    const store = this.store;
    if (!store.counter) return Promise.reject(new TypeError('cache.counters: this store has no counter() method'));
    if (!store.local && !this.breaker.allow()) {
      const cause = new StoreUnavailableError('counter');
      this.report(cause, { operation: 'counter', key });
      return Promise.reject(new CounterUnavailableError(op.op, key, cause));
    }
    return this.track(
      this.call('counter', key, () => store.counter!(op), this.o.storeTimeout, false).catch((err: unknown) => {
        throw new CounterUnavailableError(op.op, key, err);
      }),
    );
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
    this.closed = true;
    this.unwatchSafety?.();
    if (this.retryTimer) clearTimeout(this.retryTimer);
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
    if (this.evicting) return this.fallback;
    if (this.store.local || this.breaker.allow()) return this.store;
    return this.fallback;
  }

  private decode(buf: Buffer | undefined, key: string): Entry | undefined {
    if (buf === undefined) return undefined;
    const known = this.decoded.get(buf);
    if (known) return this.pending.size === 0 || !this.pending.matches(key, known) ? known : undefined;
    try {
      const entry = decodeEntry(buf);
      if (this.peek) this.decoded.set(buf, entry);
      // Invalidated here but not yet in the store (outage): not served by this instance.
      if (this.pending.size > 0 && this.pending.matches(key, entry)) return undefined;
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
      if (started)
        pending.then(
          () => this.o.metrics.storeCall(op, started),
          () => this.o.metrics.storeCall(op, started),
        );
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
    // In flight until settled (drain() waits for it); every settling runs after this
    // assignment, in a timer or a reaction.
    const inflight = this.inflight;
    const outer: Promise<T> = new Promise<T>((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => {
        settled = true;
        inflight.delete(outer);
        this.breaker.failure();
        const err = new StoreTimeoutError(op, timeout);
        this.report(err, { operation: op, key });
        reject(err);
      }, timeout);
      pending.then(
        (v) => {
          if (settled) return;
          inflight.delete(outer);
          clearTimeout(timer);
          this.breaker.success();
          resolve(v);
        },
        (e) => {
          if (settled) return;
          inflight.delete(outer);
          clearTimeout(timer);
          this.breaker.failure();
          const err = e instanceof CacheError ? e : new StoreError(`store ${op} failed: ${(e as Error)?.message ?? String(e)}`, e);
          this.report(err, { operation: op, key });
          reject(err);
        },
      );
    });
    inflight.add(outer);
    return outer;
  }
}
