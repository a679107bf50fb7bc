/**
 * The CacheStore contract.
 *
 * A store moves opaque bytes with a TTL and keeps the two indexes invalidation needs
 * (by path, by tag). It knows nothing of HTTP: keys, paths and tags arrive already
 * namespaced by the cache (`prefix:version:namespace:...`), and values are encoded
 * entries (src/entry.ts). `undefined` is the only miss.
 *
 * Required: get, set, delete, deleteByPath, deleteByPrefix, deleteByTag, close.
 * Optional: getMany, setMany (batching), lock/unlock (single flight across instances),
 * ping (health), peek (a synchronous local read), local (a process-local store: the cache
 * skips timeouts and the breaker), mark/setGuarded (exact invalidation across every
 * instance sharing the store, see src/guard.ts), check (configuration problems at start),
 * watchSafety/afterInvalidate (a store that may lose its indexes: a Redis eviction policy),
 * replicate/replicated (an invalidation survives a failover: src/replicated.ts).
 *
 * Keys, paths, tags and prefixes are arbitrary strings: a store must never read them as
 * patterns (no glob, no regex). `set` with `ttlMs <= 0` stores nothing. An overwrite
 * replaces the entry's path and tags: it is no longer found under the old ones.
 *
 * A store signals failure by rejecting; the cache turns every rejection into a miss or a
 * no-op and reports it through `onError`. Run `storeContract()`
 * (`express-response-cache/store-contract`) against a new store to prove it.
 */

import type { GuardTarget, Making } from '../guard';

/** What invalidation needs to know of an entry, given with every `set`. */
export interface StoreIndex {
  /** The namespaced, normalised path the entry belongs to (`deleteByPath`, `deleteByPrefix`). */
  readonly path: string;
  /** Namespaced tags (`deleteByTag`). */
  readonly tags: readonly string[];
}

export interface CacheStore {
  /** The bytes stored at `key`, or `undefined` when there are none (or they expired). */
  get(key: string): Promise<Buffer | undefined>;
  /** Store `value` for `ttlMs` milliseconds (> 0) and index it under its path and tags. */
  set(key: string, value: Buffer, ttlMs: number, index: StoreIndex): Promise<void>;
  /** Remove exact keys; resolves the number that existed. */
  delete(keys: readonly string[]): Promise<number>;
  /** Remove every entry indexed under exactly this path; resolves the number removed. */
  deleteByPath(path: string): Promise<number>;
  /** Remove every entry whose path starts with `prefix` (literally: no glob); resolves the number removed. */
  deleteByPrefix(prefix: string): Promise<number>;
  /** Remove every entry (and, with `counter`, every counter) carrying any of `tags`; each counts once. */
  deleteByTag(tags: readonly string[]): Promise<number>;
  /** Release what the store opened itself (never a client it was given). */
  close(): Promise<void>;

  /** Optional batch read: one answer per key, in order. */
  getMany?(keys: readonly string[]): Promise<Array<Buffer | undefined>>;
  /** Optional batch write. */
  setMany?(entries: ReadonlyArray<StoreSetEntry>): Promise<void>;
  /**
   * Optional cross-instance lock for single flight: resolves a token when this caller now
   * holds `key` for `ttlMs`, `undefined` when someone else does.
   */
  lock?(key: string, ttlMs: number): Promise<string | undefined>;
  /** Release a lock taken with `lock`, only if `token` still holds it. */
  unlock?(key: string, token: string): Promise<void>;
  /** Optional health check: resolves when the store answers. */
  ping?(): Promise<void>;
  /**
   * Optional synchronous read of what the store holds in this process: the bytes, or
   * undefined to mean "ask get()" (or, for a `local` store, a miss). Lets a memory hit
   * skip the promise machinery.
   */
  peek?(key: string): Buffer | undefined;
  /** True for a process-local store that never blocks on I/O (MemoryStore): peek() is the whole answer. */
  readonly local?: boolean;
  /**
   * Optional, with setGuarded: leave records, kept `windowMs`, of what an invalidation is
   * about to delete. The cache calls it before the deletes of every invalidation and waits
   * for it.
   */
  mark?(target: GuardTarget, windowMs: number): Promise<void>;
  /**
   * Optional, with mark: write `entry` so that it becomes visible to readers only when no
   * record left by mark() since `guard.making` started matches it (its key, `guard.keys`,
   * its path or a prefix of it, its tags), and with no moment at which a reader could see
   * it before that check. Resolves true when the entry is live, false when it was refused.
   * Records are compared by durations each side measures (`windowMs` is the same value
   * mark() got), never by clocks of two machines.
   */
  setGuarded?(entry: StoreSetEntry, guard: StoreGuard): Promise<boolean>;
  /**
   * Optional: how long, in ms, an invalidation may wait beyond its store calls for other
   * instances to acknowledge it (a TieredStore: a lease and two heartbeats). The cache adds
   * it to the bound of the call that waits, so a slow acknowledgement is waited for, never
   * cut off: `announce()` for a store that has one (a plain RedisStore), else the deletes.
   */
  readonly acknowledgeWithinMs?: number;
  /** Optional: called after an invalidation's deletes went through (a RedisStore tells memory tiers elsewhere). */
  announce?(target: GuardTarget): Promise<void>;
  /** Optional: problems with the store's configuration that defeat the cache (reported once, at start). */
  check?(): Promise<string[]>;
  /**
   * Optional, for a store that may lose the keys exact invalidation reads (RedisStore under
   * a maxmemory-policy that evicts): hear when it becomes unsafe and safe again (told at
   * once when unsafe now). While it is unsafe the cache neither reads nor writes entries
   * through it (unless `whenStoreEvicts: 'best-effort'`); invalidations still go to it.
   * Returns how to stop listening.
   */
  watchSafety?(listener: (safety: StoreSafety) => void): () => void;
  /**
   * Optional: awaited after an invalidation's deletes, before it resolves (RedisStore reads
   * its eviction policy again). `exact` (whenStoreEvicts 'bypass'): make the invalidation
   * exact even if the store lost an index it read (RedisStore: delete every entry after
   * evictions), reading the store's state within `readWithinMs`.
   */
  afterInvalidate?(options?: { readonly exact?: boolean; readonly readWithinMs?: number }): Promise<void>;
  /**
   * Optional, for debugging (`cache.keys()`): keys of live entries that start with
   * `prefix` (literally), at most `limit` of them, in any order. Enumerate without
   * blocking the store (Redis: SCAN on every master, never KEYS).
   */
  keys?(prefix: string, limit: number): Promise<string[]>;
  /**
   * Optional, for `cache.counters()`: integer counters, kept apart from entries (a counter
   * key is never an entry key, and `get()` need not see it). Each operation is atomic on
   * its own and answers as CounterOp says. A store without it cannot hold counters:
   * `cache.counters()` throws a TypeError on it.
   */
  counter?(op: CounterOp): Promise<number | undefined>;
  /**
   * Optional, for a store with replicas (Redis): have the writes of an invalidation that
   * began at `since` (monotonic ms, src/guard.ts `monotonicNow`) reached a replica, so that
   * a failover cannot undo them? Waits at most `timeoutMs` for one. See `Replication`.
   */
  replicate?(since: number, timeoutMs: number): Promise<Replication>;
  /** With replicate: the store had replicas when it last looked (a kept invalidation is then held too). */
  readonly replicated?: boolean;
}

/** Can the store keep invalidation exact now (`watchSafety`)? When not, why. */
export type StoreSafety = { readonly safe: true } | { readonly safe: false; readonly reason: string };

/**
 * `replicate()`'s answer: `none`, the store has no replica (nothing to wait for: the node
 * that took the writes is the one reads go to); `confirmed`, a replica has them;
 * `unconfirmed`, none confirmed within the time given (ask again); `lost`, a connection
 * was lost since the invalidation began (a failover, a restart): its writes may be on a
 * node reads no longer go to, so it must be applied again.
 */
export type Replication = 'none' | 'confirmed' | 'unconfirmed' | 'lost';

/**
 * One counter operation (`CacheStore.counter`). Values are integers within
 * ±Number.MAX_SAFE_INTEGER; a counter that does not exist counts 0.
 *
 * - increment: add `by` (an integer, negative to decrement) atomically and answer the new
 *   value. A counter that did not exist is created with `ttlMs` (> 0) to live, and filed
 *   under `tags` (namespaced, as an entry's) so that `deleteByTag` removes it; one that
 *   exists keeps its expiry and the tags it was created with (a window is fixed, never
 *   pushed forward by each hit, and `tags` of later increments are ignored). Answers
 *   `undefined`, changing nothing, when the result would leave the safe integer range.
 *   No increment may answer a value of a tagged counter before `deleteByTag` can find it.
 * - get: the value, or `undefined` when there is none (or it expired).
 * - expire: give an existing counter `ttlMs` more to live from now (its tags with it: a
 *   tagged counter stays findable by `deleteByTag` for as long as it lives); answers 1, or
 *   0 when there is none.
 * - delete: remove it; answers 1, or 0 when there was none.
 * - clear: remove every counter whose key starts with `prefix` (literally); answers the
 *   count. The cache passes only prefixes that no entry key has.
 */
export type CounterOp =
  | { readonly op: 'increment'; readonly key: string; readonly by: number; readonly ttlMs: number; readonly tags?: readonly string[] }
  | { readonly op: 'get'; readonly key: string }
  | { readonly op: 'expire'; readonly key: string; readonly ttlMs: number }
  | { readonly op: 'delete'; readonly key: string }
  | { readonly op: 'clear'; readonly prefix: string };

export interface StoreGuard {
  readonly making: Making;
  /** Keys besides the entry's own whose records also refuse it (a variant's primary key). */
  readonly keys: readonly string[];
  readonly windowMs: number;
  /**
   * When the caller gives up on this write (monotonic ms, src/guard.ts `monotonicNow`): a
   * store with several round trips must not make the entry live after it. A client that
   * resends its commands once Redis is back (ioredis does) would otherwise finish a write
   * the cache abandoned, after the invalidations that should have refused it were lost
   * (a restart) or kept on another instance (an outage).
   */
  readonly deadline?: number;
}

export interface StoreSetEntry {
  readonly key: string;
  readonly value: Buffer;
  readonly ttlMs: number;
  readonly index: StoreIndex;
}

const REQUIRED = ['get', 'set', 'delete', 'deleteByPath', 'deleteByPrefix', 'deleteByTag', 'close'] as const;

/** Check a user-supplied store's shape at construction (as undici's assertCacheStore does). */
export function assertCacheStore(store: unknown, name = 'store'): asserts store is CacheStore {
  if (store === null || typeof store !== 'object') {
    throw new TypeError(`createCache: ${name} must be a CacheStore object, got ${store === null ? 'null' : typeof store}`);
  }
  for (const method of REQUIRED) {
    if (typeof (store as Record<string, unknown>)[method] !== 'function') {
      throw new TypeError(`createCache: ${name}.${method} must be a function`);
    }
  }
}
