/**
 * MemoryStore: the default store. An LRU (lru-cache) of *encoded* entries, bounded by count
 * and by bytes, so it behaves like Redis: handlers cannot mutate what is cached and codec
 * bugs show without Redis. The path and tag indexes hold only keys that are in the LRU:
 * every removal (eviction, expiry, delete, overwrite) goes through `dispose`, which drops
 * the key from them, so they are bounded by `maxEntries` too.
 */

import { LRUCache } from 'lru-cache';
import { GuardLog, type GuardTarget } from '../guard';
import type { CacheStore, StoreGuard, StoreIndex, StoreSetEntry } from './store';

export interface MemoryStoreOptions {
  /**
   * Most entries kept; the least recently used go first.
   * @default 10000
   */
  maxEntries?: number;
  /**
   * Most bytes kept, counting each entry's encoded bytes and its key.
   * @default 104857600 (100 MiB)
   */
  maxBytes?: number;
  /**
   * How often expired entries are swept, in ms (they are also dropped when read). 0 turns the sweep off.
   * @default 30000
   */
  sweepInterval?: number;
  /** Clock, for tests. @default Date.now */
  now?: () => number;
}

export const MEMORY_STORE_DEFAULTS = Object.freeze({
  maxEntries: 10_000,
  maxBytes: 100 * 1024 * 1024,
  sweepInterval: 30_000,
});

interface Indexed { readonly path: string; readonly tags: readonly string[] }

export class MemoryStore implements CacheStore {
  readonly local = true;
  private readonly lru: LRUCache<string, Buffer>;
  private readonly meta = new Map<string, Indexed>();
  private readonly byPath = new Map<string, Set<string>>();
  private readonly byTag = new Map<string, Set<string>>();
  private readonly sweeper: NodeJS.Timeout | undefined;
  /** Records of invalidations, for setGuarded (src/guard.ts). */
  private readonly records = new GuardLog();

  constructor(options: MemoryStoreOptions = {}) {
    const maxEntries = positiveInt(options.maxEntries ?? MEMORY_STORE_DEFAULTS.maxEntries, 'maxEntries');
    const maxBytes = positiveInt(options.maxBytes ?? MEMORY_STORE_DEFAULTS.maxBytes, 'maxBytes');
    const sweepInterval = options.sweepInterval ?? MEMORY_STORE_DEFAULTS.sweepInterval;
    if (typeof sweepInterval !== 'number' || !(sweepInterval >= 0) || !Number.isFinite(sweepInterval)) {
      throw new TypeError(`MemoryStore: sweepInterval must be a number of ms >= 0, got ${String(sweepInterval)}`);
    }
    const now = options.now;
    if (now !== undefined && typeof now !== 'function') throw new TypeError('MemoryStore: now must be a function');
    this.lru = new LRUCache<string, Buffer>({
      max: maxEntries,
      maxSize: maxBytes,
      sizeCalculation: (value, key) => value.length + key.length,
      // Entries are written with a TTL each; expired ones are never returned.
      ttlAutopurge: false,
      allowStale: false,
      updateAgeOnGet: false,
      ...(now ? { perf: { now }, ttlResolution: 0 } : {}),
      dispose: (_value, key, reason) => {
        // 'set' here means overwritten: the new value's index is written right after.
        this.unindex(key);
        void reason;
      },
    });
    if (sweepInterval > 0) {
      this.sweeper = setInterval(() => this.lru.purgeStale(), sweepInterval);
      this.sweeper.unref();
    }
  }

  /** Number of entries held (expired ones not yet swept included). */
  get size(): number {
    return this.lru.size;
  }

  /** Bytes held, as counted against maxBytes. */
  get bytes(): number {
    return this.lru.calculatedSize;
  }

  /** Synchronous read: a memory hit needs no promise. */
  peek(key: string): Buffer | undefined {
    return this.lru.get(key);
  }

  async get(key: string): Promise<Buffer | undefined> {
    return this.lru.get(key);
  }

  async getMany(keys: readonly string[]): Promise<Array<Buffer | undefined>> {
    return keys.map((k) => this.lru.get(k));
  }

  async set(key: string, value: Buffer, ttlMs: number, index: StoreIndex): Promise<void> {
    this.setSync(key, value, ttlMs, index);
  }

  async setMany(entries: ReadonlyArray<StoreSetEntry>): Promise<void> {
    for (const e of entries) this.setSync(e.key, e.value, e.ttlMs, e.index);
  }

  private setSync(key: string, value: Buffer, ttlMs: number, index: StoreIndex): void {
    if (!(ttlMs > 0)) return;
    this.lru.set(key, value, { ttl: Math.ceil(ttlMs) });
    // lru-cache refuses an entry larger than maxSize; index only what it kept.
    if (!this.lru.has(key)) return;
    this.unindex(key);
    const indexed = { path: index.path, tags: [...index.tags] };
    this.meta.set(key, indexed);
    add(this.byPath, indexed.path, key);
    for (const tag of indexed.tags) add(this.byTag, tag, key);
  }

  async delete(keys: readonly string[]): Promise<number> {
    let n = 0;
    for (const key of keys) if (this.remove(key)) n++;
    return n;
  }

  async deleteByPath(path: string): Promise<number> {
    return this.removeAll(this.byPath.get(path));
  }

  async deleteByPrefix(prefix: string): Promise<number> {
    const keys = new Set<string>();
    for (const [path, set] of this.byPath) if (path.startsWith(prefix)) for (const k of set) keys.add(k);
    return this.removeAll(keys);
  }

  async deleteByTag(tags: readonly string[]): Promise<number> {
    const keys = new Set<string>();
    for (const tag of tags) for (const k of this.byTag.get(tag) ?? []) keys.add(k);
    return this.removeAll(keys);
  }

  /** Drop everything (a memory tier that may have missed invalidations starts again from empty). */
  clear(): void {
    this.lru.clear();
    this.meta.clear();
    this.byPath.clear();
    this.byTag.clear();
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    this.clear();
  }

  /** Records are checked synchronously with the write: no reader can see a refused entry. */
  async mark(target: GuardTarget): Promise<void> {
    this.records.mark(target);
  }

  async setGuarded(entry: StoreSetEntry, guard: StoreGuard): Promise<boolean> {
    if (this.records.overlaps(guard.making, { keys: [entry.key, ...guard.keys], path: entry.index.path, tags: entry.index.tags })) return false;
    this.setSync(entry.key, entry.value, entry.ttlMs, entry.index);
    return this.lru.has(entry.key);
  }

  private removeAll(keys: Iterable<string> | undefined): number {
    if (!keys) return 0;
    let n = 0;
    // Copy: removing mutates the index sets being iterated.
    for (const key of [...keys]) if (this.remove(key)) n++;
    return n;
  }

  /** Counts only live entries, so invalidation counts are exact. */
  private remove(key: string): boolean {
    const live = this.lru.has(key);
    // delete() also drops expired-but-unswept entries, and dispose unindexes them.
    this.lru.delete(key);
    this.unindex(key);
    return live;
  }

  private unindex(key: string): void {
    const indexed = this.meta.get(key);
    if (!indexed) return;
    this.meta.delete(key);
    drop(this.byPath, indexed.path, key);
    for (const tag of indexed.tags) drop(this.byTag, tag, key);
  }

  /** Keys of live entries starting with `prefix`, at most `limit` (for `cache.keys()`). */
  async keys(prefix: string, limit: number): Promise<string[]> {
    const out: string[] = [];
    for (const key of this.lru.keys()) {
      if (out.length >= limit) break;
      if (key.startsWith(prefix) && this.lru.has(key)) out.push(key);
    }
    return out;
  }
}

function add(map: Map<string, Set<string>>, name: string, key: string): void {
  const set = map.get(name);
  if (set) set.add(key);
  else map.set(name, new Set([key]));
}

function drop(map: Map<string, Set<string>>, name: string, key: string): void {
  const set = map.get(name);
  if (!set) return;
  set.delete(key);
  if (set.size === 0) map.delete(name);
}

function positiveInt(v: unknown, name: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) {
    throw new TypeError(`MemoryStore: ${name} must be a positive integer, got ${String(v)}`);
  }
  return v;
}
