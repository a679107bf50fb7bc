/**
 * The value cache: the same store, namespaces, jitter, tags and invalidation as responses,
 * for data inside handlers (a user row, a price list, a slow query's result). The seed's
 * `CacheService[T]` and `get_or_set`, in TypeScript.
 *
 * Store failures never reach the caller: reads answer undefined, writes resolve false, and
 * `onError` hears about it. A value that does not deserialize or fails `parse` is a miss.
 */

import { createHash } from 'node:crypto';
import type { CachedValue } from './entry';
import { SerializeError } from './errors';
import type { MissCoordinator } from './coordinator';
import type { GuardedStore } from './guarded-store';
import { UNAVAILABLE } from './guarded-store';
import { entryTimes, ttlWithJitter } from './ttl';

export interface ValueCacheOptions<T> {
  /** Seconds a value is kept. @default the cache's ttl */
  ttl?: number;
  /** @default the cache's jitter */
  jitter?: number;
  /** @default JSON.stringify */
  serialize?: (value: T) => Buffer | string;
  /** @default JSON.parse */
  deserialize?: (bytes: Buffer) => unknown;
  /** Validates what comes back (zod's `parse`, say); a value it rejects is a miss. */
  parse?: (value: unknown) => T;
}

export interface SetOptions {
  /** Seconds, over the value cache's ttl. */
  ttl?: number;
  tags?: readonly string[];
}

/** What a value cache needs of its ResponseCache. */
export interface ValueHost {
  readonly guarded: GuardedStore;
  readonly coordinator: MissCoordinator;
  readonly keyPrefix: string;
  readonly ttl: number;
  readonly jitter: number;
  readonly lockTimeout: number;
  now(): number;
  random(): number;
}

const NAMESPACE = /^[A-Za-z0-9._-]+$/;

export class ValueCache<T> {
  private readonly ttl: number;
  private readonly jitter: number;
  private readonly serialize: (value: T) => Buffer | string;
  private readonly deserialize: (bytes: Buffer) => unknown;
  private readonly parse: ((value: unknown) => T) | undefined;
  /** Every value of this namespace is indexed under this path (never a request path: no '/'). */
  private readonly path: string;

  constructor(private readonly host: ValueHost, readonly namespace: string, options: ValueCacheOptions<T> = {}) {
    if (typeof namespace !== 'string' || !NAMESPACE.test(namespace)) {
      throw new TypeError(`cache.values: namespace must be a non-empty string of letters, digits, ".", "_" or "-", got ${JSON.stringify(namespace)}`);
    }
    this.ttl = options.ttl ?? host.ttl;
    if (typeof this.ttl !== 'number' || !(this.ttl > 0) || !Number.isFinite(this.ttl)) throw new TypeError(`cache.values: ttl must be a positive number of seconds, got ${String(options.ttl)}`);
    this.jitter = options.jitter ?? host.jitter;
    if (typeof this.jitter !== 'number' || !(this.jitter >= 0 && this.jitter < 1)) throw new TypeError(`cache.values: jitter must be a number from 0 up to 1, got ${String(options.jitter)}`);
    for (const name of ['serialize', 'deserialize', 'parse'] as const) {
      if (options[name] !== undefined && typeof options[name] !== 'function') throw new TypeError(`cache.values: ${name} must be a function`);
    }
    this.serialize = options.serialize ?? ((v) => JSON.stringify(v));
    this.deserialize = options.deserialize ?? ((b) => JSON.parse(b.toString('utf8')));
    this.parse = options.parse;
    this.path = `${host.keyPrefix}val:${namespace}`;
  }

  /** The store key of `id` (ids are percent-encoded: no id reaches another namespace). */
  key(id: string | number): string {
    return `${this.path}:${encodeURIComponent(String(id))}`;
  }

  async get(id: string | number): Promise<T | undefined> {
    const key = this.key(id);
    return this.unpack(await this.host.guarded.read(key), key);
  }

  async getMany(ids: ReadonlyArray<string | number>): Promise<Array<T | undefined>> {
    const keys = ids.map((id) => this.key(id));
    const entries = await this.host.guarded.readMany(keys);
    return entries.map((e, i) => this.unpack(e, keys[i]));
  }

  /** Resolves false when the value could not be serialized or stored; `undefined` is never stored. */
  async set(id: string | number, value: T, options?: SetOptions): Promise<boolean> {
    const packed = this.pack(id, value, options);
    if (!packed) return false;
    return this.host.guarded.write(packed.key, packed.entry, packed.ttlMs, packed.index);
  }

  /** Takes `[id, value]` pairs (a Map too); one batch on stores that batch. */
  async setMany(entries: Iterable<readonly [string | number, T]>, options?: SetOptions): Promise<boolean> {
    const packed = [];
    for (const [id, value] of entries) {
      const p = this.pack(id, value, options);
      if (p) packed.push(p);
    }
    const results = await Promise.all(packed.map((p) => this.host.guarded.write(p.key, p.entry, p.ttlMs, p.index)));
    return results.every(Boolean);
  }

  /** Remove the value of `id`; a getOrSet making it meanwhile does not store what it read before. */
  async delete(id: string | number): Promise<boolean> {
    const key = this.key(id);
    const target = { keys: [key], paths: [], prefixes: [], tags: [] };
    this.host.coordinator.detach(target);
    return (await this.host.guarded.invalidate(target, [(s) => s.delete([key])], this.host.lockTimeout)) > 0;
  }

  /** Remove every value of this namespace; resolves the count. */
  clear(): Promise<number> {
    const target = { keys: [], paths: [this.path], prefixes: [], tags: [] };
    this.host.coordinator.detach(target);
    return this.host.guarded.invalidate(target, [(s) => s.deleteByPath(this.path)], this.host.lockTimeout);
  }

  /** Seconds `id` has left, or undefined when it is not cached. */
  async getTtl(id: string | number): Promise<number | undefined> {
    const entry = await this.host.guarded.read(this.key(id));
    if (entry === UNAVAILABLE || entry?.kind !== 'value') return undefined;
    const left = (entry.expiresAt - this.host.now()) / 1000;
    return left > 0 ? left : undefined;
  }

  /**
   * The cached value, or the factory's, stored for next time. Concurrent callers for one
   * id share one factory call, here and (through the store's lock) across instances. A
   * factory that throws stores nothing and every waiter gets its error.
   */
  getOrSet(id: string | number, factory: () => T | Promise<T>, options?: SetOptions): Promise<T>;
  getOrSet(id: string | number, factory: () => T | undefined | Promise<T | undefined>, options?: SetOptions): Promise<T | undefined>;
  async getOrSet(id: string | number, factory: () => T | undefined | Promise<T | undefined>, options?: SetOptions): Promise<T | undefined> {
    const key = this.key(id);
    const found = await this.host.guarded.read(key);
    const cached = this.unpack(found, key);
    if (cached !== undefined) return cached;
    // The store could not be read: compute without its lock and store nothing (as a response BYPASS).
    if (found === UNAVAILABLE) return factory();
    // The miss protocol responses use (src/coordinator.ts): one factory call here and across instances.
    const turn = await this.host.coordinator.begin<T>({
      key, path: this.path, coalesce: { timeout: this.host.lockTimeout }, lock: true,
      lookup: async () => this.unpack(await this.host.guarded.read(key), key),
    });
    if (turn.kind === 'found') return turn.value;
    const lead = turn.lead;
    let value: T | undefined;
    try {
      value = await factory();
    } catch (err) {
      lead.finish({ kind: 'error', error: err });
      throw err;
    }
    const packed = value === undefined ? undefined : this.pack(id, value, options);
    if (!packed) {
      lead.finish({ kind: 'none' });
      return value;
    }
    // Through the guard: a value read before an invalidation of it is not stored.
    const outcome = await this.host.guarded.writeGuarded(packed.key, packed.entry, packed.ttlMs, packed.index, lead.making);
    if (outcome === 'failed' && !this.host.guarded.log.overlaps(lead.making, { keys: [packed.key], path: packed.index.path, tags: packed.index.tags })) {
      // The store is struggling: waiters take the value itself rather than each call the factory.
      lead.finish({ kind: 'shared', value });
    } else lead.finish(outcome === 'stored' ? { kind: 'stored' } : { kind: 'none' });
    return value;
  }

  private pack(id: string | number, value: T, options: SetOptions | undefined) {
    if (value === undefined) return undefined;
    const key = this.key(id);
    let body: Buffer;
    try {
      const out = this.serialize(value);
      if (out === undefined) return undefined;
      body = typeof out === 'string' ? Buffer.from(out, 'utf8') : out;
      if (!Buffer.isBuffer(body)) throw new TypeError('serialize must return a Buffer or a string');
    } catch (err) {
      this.host.guarded.report(new SerializeError(`could not serialize ${key}: ${(err as Error).message}`, err), { operation: 'serialize', key });
      return undefined;
    }
    const ttl = options?.ttl ?? this.ttl;
    if (typeof ttl !== 'number' || !(ttl > 0)) throw new TypeError(`cache.values: ttl must be a positive number of seconds, got ${String(ttl)}`);
    const now = this.host.now();
    const seconds = ttlWithJitter(ttl, this.jitter, () => this.host.random());
    const times = entryTimes(now, seconds, 0, 0);
    const index = { path: this.path, tags: (options?.tags ?? []).map((t) => this.host.keyPrefix + t) };
    const entry: CachedValue = { kind: 'value', path: index.path, tags: index.tags, body, ...times };
    return { key, entry, ttlMs: times.expiresAt - now, index };
  }

  private unpack(found: unknown, key: string): T | undefined {
    if (found === UNAVAILABLE || found === undefined) return undefined;
    const entry = found as CachedValue;
    if (entry.kind !== 'value' || this.host.now() >= entry.expiresAt) return undefined;
    try {
      const raw = this.deserialize(entry.body);
      return this.parse ? this.parse(raw) : (raw as T);
    } catch (err) {
      this.host.guarded.report(new SerializeError(`cached ${key} did not deserialize or parse: ${(err as Error).message}`, err), { operation: 'serialize', key });
      return undefined;
    }
  }
}

export interface CachedOptions<A extends unknown[]> {
  /** The id of a call. @default JSON.stringify(args) */
  key?: (...args: A) => string;
  /** Seconds. */
  ttl?: number;
  tags?: readonly string[] | ((...args: A) => readonly string[]);
  /** @default the function's name and a hash of its source, the same on every instance */
  namespace?: string;
}

export type CachedFunction<A extends unknown[], R> = ((...args: A) => Promise<R>) & {
  /** Drop the cached result of these arguments. */
  invalidate(...args: A): Promise<boolean>;
  readonly values: ValueCache<R>;
};

/** Wrap an async function so its results are cached by arguments. */
export function cachedFunction<A extends unknown[], R>(host: ValueHost, fn: (...args: A) => R | Promise<R>, options: CachedOptions<A> = {}): CachedFunction<A, R> {
  if (typeof fn !== 'function') throw new TypeError('cache.cached: fn must be a function');
  if (options.key !== undefined && typeof options.key !== 'function') throw new TypeError('cache.cached: key must be a function');
  const namespace = options.namespace ?? `fn.${(fn.name || 'anonymous').replace(/[^A-Za-z0-9._-]/g, '_')}.${createHash('sha1').update(fn.toString()).digest('hex').slice(0, 8)}`;
  const values = new ValueCache<R>(host, namespace, { ttl: options.ttl });
  const id = (args: A): string => (options.key ? options.key(...args) : JSON.stringify(args));
  const tags = (args: A): readonly string[] | undefined => (typeof options.tags === 'function' ? options.tags(...args) : options.tags);
  const wrapped = ((...args: A) => values.getOrSet(id(args), () => fn(...args), { tags: tags(args) })) as CachedFunction<A, R>;
  wrapped.invalidate = (...args: A) => values.delete(id(args));
  (wrapped as { values: ValueCache<R> }).values = values;
  return wrapped;
}
