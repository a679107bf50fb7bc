/**
 * The value cache: the same store, namespaces, jitter, tags and invalidation as responses,
 * for data inside handlers (a user row, a price list, a slow query's result). The seed's
 * `CacheService[T]` and `get_or_set`, in TypeScript.
 *
 * Store failures never reach the caller: reads answer undefined, writes resolve false, and
 * `onError` hears about it. A value that does not deserialize or fails `parse` is a miss.
 */

import { createHash } from 'node:crypto';
import { parseDuration, type Duration } from './duration';
import type { CachedValue } from './entry';
import { SerializeError } from './errors';
import type { MissCoordinator } from './coordinator';
import type { GuardedStore } from './guarded-store';
import { UNAVAILABLE } from './guarded-store';
import { shortenKey } from './key';
import type { Metrics } from './metrics';
import { entryTimes, ttlWithJitter } from './ttl';

/** One part of a value id: what JSON writes the same way every time. */
export type ValueIdPart = string | number | boolean | null | readonly ValueIdPart[] | { readonly [name: string]: ValueIdPart | undefined };

/**
 * What identifies a value: a string or a number (`1` and `'1'` are one id), or a plain
 * object or array of such parts, keyed canonically (object keys sorted, recursively), so
 * `{ page: 1, sort: 'a' }` and `{ sort: 'a', page: 1 }` are one entry.
 */
export type ValueId = string | number | readonly ValueIdPart[] | { readonly [name: string]: ValueIdPart | undefined };

export interface ValueCacheOptions<T> {
  /** Seconds (or an `ms` string: '10m') a value is kept. @default the cache's ttl */
  ttl?: Duration;
  /**
   * Part of every key of this namespace: changing it orphans the namespace's values (they
   * expire unread), as the cache's `version` does for everything.
   */
  version?: string;
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
  /** Seconds (or an `ms` string), over the value cache's ttl. */
  ttl?: Duration;
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
  readonly metrics: Metrics;
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

  /** `by` is internal: cached() makes its ValueCache as the namespace's sole owner. */
  constructor(
    private readonly host: ValueHost,
    readonly namespace: string,
    options: ValueCacheOptions<T> = {},
    by: 'cached' | 'values' = 'values',
  ) {
    if (typeof namespace !== 'string' || !NAMESPACE.test(namespace)) {
      throw new TypeError(`cache.values: namespace must be a non-empty string of letters, digits, ".", "_" or "-", got ${JSON.stringify(namespace)}`);
    }
    this.ttl = options.ttl === undefined ? host.ttl : parseDuration(options.ttl, 'cache.values: ttl');
    if (typeof this.ttl !== 'number' || !(this.ttl > 0) || !Number.isFinite(this.ttl))
      throw new TypeError(`cache.values: ttl must be a positive number of seconds, got ${String(options.ttl)}`);
    const version = options.version;
    if (version !== undefined && (typeof version !== 'string' || !NAMESPACE.test(version))) {
      throw new TypeError(`cache.values: version must be a non-empty string of letters, digits, ".", "_" or "-", got ${JSON.stringify(version)}`);
    }
    this.jitter = options.jitter ?? host.jitter;
    if (typeof this.jitter !== 'number' || !(this.jitter >= 0 && this.jitter < 1))
      throw new TypeError(`cache.values: jitter must be a number from 0 up to 1, got ${String(options.jitter)}`);
    for (const name of ['serialize', 'deserialize', 'parse'] as const) {
      if (options[name] !== undefined && typeof options[name] !== 'function') throw new TypeError(`cache.values: ${name} must be a function`);
    }
    this.serialize = options.serialize ?? ((v) => JSON.stringify(v));
    this.deserialize = options.deserialize ?? ((b): unknown => JSON.parse(b.toString('utf8')));
    this.parse = options.parse;
    // A version is a segment no encoded id can be (ids never hold a raw ':').
    this.path = `${host.keyPrefix}val:${namespace}${version === undefined ? '' : `:${version}`}`;
    claimNamespace(host, namespace, by);
  }

  /**
   * The store key of `id`. String and number ids are percent-encoded, objects and arrays
   * written as canonical JSON after an '@' (which an encoded id never holds), so no id
   * reaches another id or namespace.
   */
  key(id: ValueId): string {
    if (typeof id === 'string' || typeof id === 'number') {
      if (typeof id === 'number' && !Number.isFinite(id)) throw new TypeError(`cache.values: a number id must be finite, got ${id}`);
      return shortenKey(`${this.path}:${encodeURIComponent(String(id))}`);
    }
    if (id !== null && typeof id === 'object') return shortenKey(`${this.path}:@${encodeURIComponent(canonicalId(id))}`);
    throw new TypeError(`cache.values: an id must be a string, a number, or a plain object or array, got ${describe(id)}`);
  }

  async get(id: ValueId): Promise<T | undefined> {
    const key = this.key(id);
    return this.counted(this.unpack(await this.host.guarded.read(key), key), key);
  }

  /** True when `id` has a value `get(id)` would answer (so one that fails `parse` is not there). */
  async has(id: ValueId): Promise<boolean> {
    const key = this.key(id);
    return this.unpack(await this.host.guarded.read(key), key) !== undefined;
  }

  async getMany(ids: readonly ValueId[]): Promise<Array<T | undefined>> {
    const keys = ids.map((id) => this.key(id));
    const entries = await this.host.guarded.readMany(keys);
    return entries.map((e, i) => this.counted(this.unpack(e, keys[i]), keys[i]));
  }

  /** Resolves false when the value could not be serialized or stored; `undefined` is never stored. */
  async set(id: ValueId, value: T, options?: SetOptions): Promise<boolean> {
    const packed = this.pack(id, value, options);
    if (!packed) return false;
    const ok = await this.host.guarded.write(packed.key, packed.entry, packed.ttlMs, packed.index);
    if (ok) this.host.metrics.stored(packed.key, 'value');
    return ok;
  }

  /** Takes `[id, value]` pairs (a Map too); one batch on stores that batch. */
  async setMany(entries: Iterable<readonly [ValueId, T]>, options?: SetOptions): Promise<boolean> {
    const packed = [];
    for (const [id, value] of entries) {
      const p = this.pack(id, value, options);
      if (p) packed.push(p);
    }
    const results = await Promise.all(
      packed.map(async (p) => {
        const ok = await this.host.guarded.write(p.key, p.entry, p.ttlMs, p.index);
        if (ok) this.host.metrics.stored(p.key, 'value');
        return ok;
      }),
    );
    return results.every(Boolean);
  }

  /** Remove the value of `id`; a getOrSet making it meanwhile does not store what it read before. */
  async delete(id: ValueId): Promise<boolean> {
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
  async getTtl(id: ValueId): Promise<number | undefined> {
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
  getOrSet(id: ValueId, factory: () => T | Promise<T>, options?: SetOptions): Promise<T>;
  getOrSet(id: ValueId, factory: () => T | undefined | Promise<T | undefined>, options?: SetOptions): Promise<T | undefined>;
  async getOrSet(id: ValueId, factory: () => T | undefined | Promise<T | undefined>, options?: SetOptions): Promise<T | undefined> {
    const key = this.key(id);
    const found = await this.host.guarded.read(key);
    const cached = this.counted(this.unpack(found, key), key);
    if (cached !== undefined) return cached;
    // The store could not be read: compute without its lock and store nothing (as a response BYPASS).
    if (found === UNAVAILABLE) return factory();
    // The miss protocol responses use (src/coordinator.ts): one factory call here and across instances.
    const turn = await this.host.coordinator.begin<T>({
      key,
      path: this.path,
      coalesce: { timeout: this.host.lockTimeout },
      lock: true,
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
    if (outcome === 'stored') this.host.metrics.stored(packed.key, 'value');
    // The store could not take it but the guard cleared it: waiters take the value itself
    // rather than each call the factory. Not cleared (the store failed): they call their own.
    if (outcome === 'cleared') lead.finish({ kind: 'shared', value });
    else lead.finish(outcome === 'stored' ? { kind: 'stored' } : outcome === 'refused' ? { kind: 'none' } : { kind: 'failed' });
    return value;
  }

  /** Count a read as a value hit or miss. */
  private counted(value: T | undefined, key: string): T | undefined {
    if (value === undefined) this.host.metrics.miss(key, 'value');
    else this.host.metrics.hit(key, 'value');
    return value;
  }

  private pack(id: ValueId, value: T, options: SetOptions | undefined) {
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
    const ttl = options?.ttl === undefined ? this.ttl : parseDuration(options.ttl, 'cache.values: ttl');
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
      this.host.guarded.report(new SerializeError(`cached ${key} did not deserialize or parse: ${(err as Error).message}`, err), {
        operation: 'serialize',
        key,
      });
      return undefined;
    }
  }
}

export interface CachedOptions<A extends unknown[]> {
  /** The id of a call. @default the arguments, keyed canonically (see ValueId) */
  key?: (...args: A) => ValueId;
  /** Seconds (or an `ms` string). */
  ttl?: Duration;
  tags?: readonly string[] | ((...args: A) => readonly string[]);
  /**
   * The value namespace of this function's results. Default: the function's name and a
   * hash of its source, the same on every instance; a second cached() with the same
   * namespace on one cache throws, so pass one when a factory makes several wrappers.
   */
  namespace?: string;
  /** As for values(): changing it orphans this function's cached results. */
  version?: string;
}

export type CachedFunction<A extends unknown[], R> = ((...args: A) => Promise<R>) & {
  /** Drop the cached result of these arguments. */
  invalidate(...args: A): Promise<boolean>;
  readonly values: ValueCache<R>;
};

/** Namespaces claimed on one cache (by its guarded store): by cached() or by values(). */
const claimed = new WeakMap<GuardedStore, Map<string, 'cached' | 'values'>>();

/**
 * A namespace cached() takes is its own: two functions sharing one would answer each
 * other's calls (a user lookup answered with an order). values() may be called again for a
 * namespace it already has (a typed view of the same data), never for one a cached() owns.
 */
export function claimNamespace(host: ValueHost, namespace: string, by: 'cached' | 'values'): void {
  let names = claimed.get(host.guarded);
  if (!names) claimed.set(host.guarded, (names = new Map<string, 'cached' | 'values'>()));
  const owner = names.get(namespace);
  if (owner === 'cached' || (owner === 'values' && by === 'cached')) {
    throw new TypeError(
      by === 'cached' && owner === 'cached'
        ? `cache.cached: namespace "${namespace}" is already used by another cached() function of this cache; give each a distinct \`namespace\` option (a factory that wraps several functions must), and make wrappers once, not per request`
        : `cache.${by}: namespace "${namespace}" is already used by cache.${owner}(); pick another`,
    );
  }
  names.set(namespace, by);
}

/** Wrap an async function so its results are cached by arguments. */
export function cachedFunction<A extends unknown[], R>(
  host: ValueHost,
  fn: (...args: A) => R | Promise<R>,
  options: CachedOptions<A> = {},
): CachedFunction<A, R> {
  if (typeof fn !== 'function') throw new TypeError('cache.cached: fn must be a function');
  if (options.key !== undefined && typeof options.key !== 'function') throw new TypeError('cache.cached: key must be a function');
  const namespace =
    options.namespace ??
    `fn.${(fn.name || 'anonymous').replace(/[^A-Za-z0-9._-]/g, '_')}.${createHash('sha1').update(fn.toString()).digest('hex').slice(0, 8)}`;
  const values = new ValueCache<R>(host, namespace, { ttl: options.ttl, version: options.version }, 'cached');
  const id = (args: A): ValueId => (options.key ? options.key(...args) : (args as readonly unknown[] as readonly ValueIdPart[]));
  const tags = (args: A): readonly string[] | undefined => (typeof options.tags === 'function' ? options.tags(...args) : options.tags);
  const wrapped = ((...args: A) => values.getOrSet(id(args), () => fn(...args), { tags: tags(args) })) as CachedFunction<A, R>;
  wrapped.invalidate = (...args: A) => values.delete(id(args));
  (wrapped as { values: ValueCache<R> }).values = values;
  return wrapped;
}

/**
 * Canonical JSON of a plain object or array id: object keys sorted (recursively), undefined
 * properties left out, undefined array items written null (as JSON does). Throws a
 * TypeError on what JSON would drop or mangle: functions, symbols, bigints, non-finite
 * numbers, cycles, and objects that are not plain (a Date, a Map, a class instance).
 */
export function canonicalId(id: object): string {
  const seen = new Set<object>();
  const walk = (v: unknown, at: string): string => {
    if (v === null) return 'null';
    switch (typeof v) {
      case 'string':
      case 'boolean':
        return JSON.stringify(v);
      case 'number':
        if (!Number.isFinite(v)) throw new TypeError(`cache.values: id${at} must be a finite number, got ${v}`);
        return JSON.stringify(v);
      case 'object': {
        if (seen.has(v)) throw new TypeError(`cache.values: id${at} refers back to itself (a cycle); ids must be trees`);
        seen.add(v);
        let out: string;
        if (Array.isArray(v)) {
          out = `[${v.map((item: unknown, i) => (item === undefined ? 'null' : walk(item, `${at}[${i}]`))).join(',')}]`;
        } else {
          const proto = Object.getPrototypeOf(v) as unknown;
          if (proto !== Object.prototype && proto !== null) throw new TypeError(`cache.values: id${at} must be a plain object or array, got ${describe(v)}`);
          const rec = v as Record<string, unknown>;
          const names = Object.keys(rec)
            .filter((k) => rec[k] !== undefined)
            .sort();
          out = `{${names.map((k) => `${JSON.stringify(k)}:${walk(rec[k], `${at}.${k}`)}`).join(',')}}`;
        }
        seen.delete(v);
        return out;
      }
      default:
        throw new TypeError(`cache.values: id${at} must be a string, number, boolean, null, plain object or array, got ${describe(v)}`);
    }
  };
  return walk(id, '');
}

function describe(v: unknown): string {
  if (typeof v === 'function') return 'a function';
  if (typeof v === 'symbol') return 'a symbol';
  if (typeof v === 'bigint') return 'a bigint';
  if (v === undefined || v === null) return String(v);
  if (typeof v === 'object') return `a ${v.constructor?.name ?? 'object'}`;
  return typeof v;
}
