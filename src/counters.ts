/**
 * Counters: atomic integers beside the value cache (`cache.counters(namespace)`), for
 * visit counts and fixed-window rate limits, as the seed's cache offers `increment` and
 * `expire`. A sibling of values(), not a method of it: a counter is always a number kept in
 * the store's native integer (Redis INCRBY), never a serialized value with a codec or
 * `parse`. Tags are the values' own (one namespace: `invalidate({ tags })` resets the
 * counters created with one), given per increment as values take them per set.
 *
 * Keys are `<prefix>cnt:<namespace>[:<version>]:<id>`, ids encoded as value ids are, so no
 * counter meets a value (`val:`) or a response (an upper-case method, `k:`).
 *
 * Unlike values, a store failure rejects (CounterUnavailableError): a rate limiter must
 * choose to fail open or closed, and a silent 0 would choose open for it.
 */

import { parseDuration, type Duration } from './duration';
import { CounterOverflowError } from './errors';
import { shortenKey } from './key';
import type { CounterOp } from './stores/store';
import { canonicalId, type ValueHost, type ValueId } from './values';

export interface CounterOptions {
  /**
   * Seconds (or an `ms` string: '1m') a new counter lives: its window. An increment never
   * lengthens it. No jitter: a window is exact. @default the cache's ttl
   */
  ttl?: Duration;
  /** Part of every key of this namespace: changing it starts every counter afresh. */
  version?: string;
}

export interface IncrementOptions {
  /** Seconds (or an `ms` string) for a counter this call creates, over the namespace's ttl. */
  ttl?: Duration;
  /**
   * Tags of a counter this call creates, as a value's: `cache.invalidate({ tags })` removes
   * it (it counts from 0 again). Like the window, fixed at creation: an existing counter
   * keeps the tags it was created with, and later increments' tags are ignored.
   */
  tags?: readonly string[];
}

const NAMESPACE = /^[A-Za-z0-9._-]+$/;

export class Counters {
  private readonly ttl: number;
  private readonly prefix: string;

  constructor(
    private readonly host: ValueHost,
    readonly namespace: string,
    options: CounterOptions = {},
  ) {
    if (typeof namespace !== 'string' || !NAMESPACE.test(namespace)) {
      throw new TypeError(`cache.counters: namespace must be a non-empty string of letters, digits, ".", "_" or "-", got ${JSON.stringify(namespace)}`);
    }
    const version = options.version;
    if (version !== undefined && (typeof version !== 'string' || !NAMESPACE.test(version))) {
      throw new TypeError(`cache.counters: version must be a non-empty string of letters, digits, ".", "_" or "-", got ${JSON.stringify(version)}`);
    }
    this.ttl = options.ttl === undefined ? host.ttl : seconds(options.ttl);
    if (typeof host.guarded.store.counter !== 'function') {
      throw new TypeError('cache.counters: this store cannot hold counters (it has no counter() method; MemoryStore, RedisStore and TieredStore have)');
    }
    // The trailing ':' ends the namespace: clear() of "a" never reaches "a.b" (no id holds a raw ':').
    this.prefix = `${host.keyPrefix}cnt:${namespace}${version === undefined ? '' : `:${version}`}:`;
  }

  /** The store key of `id`: encoded as value ids are (percent-encoding, or '@' and canonical JSON). */
  key(id: ValueId): string {
    if (typeof id === 'string' || typeof id === 'number') {
      if (typeof id === 'number' && !Number.isFinite(id)) throw new TypeError(`cache.counters: a number id must be finite, got ${id}`);
      return shortenKey(`${this.prefix}${encodeURIComponent(String(id))}`);
    }
    if (id !== null && typeof id === 'object') return shortenKey(`${this.prefix}@${encodeURIComponent(canonicalId(id))}`);
    throw new TypeError(`cache.counters: an id must be a string, a number, or a plain object or array, got ${id === null ? 'null' : typeof id}`);
  }

  /**
   * Add `by` (a safe integer) atomically and answer the new value. A counter this call
   * creates lives `ttl` from now; an existing one keeps its expiry (a fixed window).
   * Rejects with CounterOverflowError past Number.MAX_SAFE_INTEGER (the counter is left
   * as it was), CounterUnavailableError when the store fails.
   */
  async increment(id: ValueId, by = 1, options?: IncrementOptions): Promise<number> {
    return this.add(id, checkBy(by, 'increment'), options);
  }

  /** increment(id, -by): counters may go below zero. */
  async decrement(id: ValueId, by = 1, options?: IncrementOptions): Promise<number> {
    return this.add(id, -checkBy(by, 'decrement'), options);
  }

  /** The value, 0 when there is no counter (or it expired). */
  async get(id: ValueId): Promise<number> {
    const key = this.key(id);
    return (await this.run({ op: 'get', key }, key)) ?? 0;
  }

  /** Give an existing counter `ttl` from now to live (a new window); resolves false when there is none. */
  async expire(id: ValueId, ttl: Duration): Promise<boolean> {
    const key = this.key(id);
    const ttlMs = seconds(ttl) * 1000;
    return (await this.run({ op: 'expire', key, ttlMs }, key)) === 1;
  }

  /** Remove the counter; resolves false when there was none. */
  async delete(id: ValueId): Promise<boolean> {
    const key = this.key(id);
    return (await this.run({ op: 'delete', key }, key)) === 1;
  }

  /** Remove every counter of this namespace (and version); resolves the count. */
  async clear(): Promise<number> {
    return (await this.run({ op: 'clear', prefix: this.prefix }, this.prefix)) ?? 0;
  }

  private async add(id: ValueId, by: number, options: IncrementOptions | undefined): Promise<number> {
    const key = this.key(id);
    const ttlMs = (options?.ttl === undefined ? this.ttl : seconds(options.ttl)) * 1000;
    const tags = options?.tags === undefined ? undefined : [...new Set(checkTags(options.tags))].map((t) => this.host.keyPrefix + t);
    const value = await this.run(tags?.length ? { op: 'increment', key, by, ttlMs, tags } : { op: 'increment', key, by, ttlMs }, key);
    if (value === undefined) throw new CounterOverflowError(key, by);
    return value;
  }

  private run(op: CounterOp, key: string): Promise<number | undefined> {
    return this.host.guarded.counter(op, key);
  }
}

function checkBy(by: unknown, method: string): number {
  if (typeof by !== 'number' || !Number.isSafeInteger(by)) {
    throw new TypeError(`cache.counters: ${method} takes a safe integer (up to Number.MAX_SAFE_INTEGER), got ${String(by)}`);
  }
  return by;
}

/** Tags as responses take them (a tag is a non-empty string), checked before the store is asked. */
function checkTags(tags: unknown): readonly string[] {
  if (!Array.isArray(tags) || !tags.every((t) => typeof t === 'string' && t.length > 0)) {
    throw new TypeError(`cache.counters: tags must be an array of non-empty strings, got ${describeTags(tags)}`);
  }
  return tags as readonly string[];
}

function describeTags(tags: unknown): string {
  try {
    return JSON.stringify(tags) ?? String(tags);
  } catch {
    return String(tags);
  }
}

function seconds(ttl: Duration): number {
  const s = parseDuration(ttl, 'cache.counters: ttl');
  if (typeof s !== 'number' || !(s > 0) || !Number.isFinite(s))
    throw new TypeError(`cache.counters: ttl must be a positive number of seconds, got ${String(ttl)}`);
  return s;
}
