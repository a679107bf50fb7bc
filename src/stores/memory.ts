/**
 * MemoryStore: the default store. An LRU (./lru.ts) of *encoded* entries, bounded by count
 * and by bytes, so it behaves like Redis: handlers cannot mutate what is cached and codec
 * bugs show without Redis. An entry is one slot: the LRU's arrays hold its key, value and
 * expiry, this store's `paths` / `tags` arrays its index data, and the path and tag maps
 * file slot numbers (a lone slot, or a Set once a name is shared), not key strings. Every
 * removal (eviction, expiry, delete, overwrite) goes through `dispose` → `unindex`, so the
 * indexes are bounded by `maxEntries` too. bench/memory.js measures what each entry costs.
 *
 * An invalidation that names more than EAGER_LIMIT entries (or a prefix, over a store of
 * more than that many paths) becomes a ban (./memory-bans.ts): in place at once, removed
 * in the background a thousand slots a turn, so a large one never stalls the event loop.
 */

import { SlotLru, coarseNow, widened } from './lru';
import { GuardLog, type GuardTarget } from '../guard';
import { memoryCounter, type CounterCells } from './memory-counters';
import { EAGER_LIMIT, MemoryBans, type BanHost, type BanTarget } from './memory-bans';
import { collect, file, sizeOf, unfile, type Filed } from './memory-index';
import type { CacheStore, CounterOp, StoreGuard, StoreIndex, StoreSetEntry } from './store';

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

export class MemoryStore implements CacheStore {
  readonly local = true;
  private readonly lru: SlotLru;
  /** key → slot: the LRU's own map (one record per entry, no second map keyed by key). */
  private readonly meta: ReadonlyMap<string, number>;
  /** Per slot: the entry's path, interned through byPath when shared. */
  private paths: Array<string | undefined> = [];
  /**
   * Per slot: the entry's first and second tag (interned), the rest in `moreTags`. Two
   * slot-indexed arrays cost 16 B an entry; a per-entry array of tags cost 72 B. They grow
   * only when some entry has tags.
   */
  private firstTag: Array<string | undefined> = [];
  private secondTag: Array<string | undefined> = [];
  private readonly moreTags = new Map<number, string[]>();
  private readonly byPath = new Map<string, Filed>();
  private readonly byTag = new Map<string, Filed>();
  private readonly sweeper: NodeJS.Timeout | undefined;
  /** Records of invalidations, for setGuarded (src/guard.ts). */
  private readonly records = new GuardLog();
  private readonly cells: CounterCells;
  /** The write sequence: bumped by every write (stamped on its slot) and every ban. */
  private seq = 0;
  /** Per slot: the sequence of its last write (what a ban compares with its own). */
  private written = new Float64Array(0);
  private readonly bans: MemoryBans;
  private deletedInBackground = 0;

  constructor(options: MemoryStoreOptions = {}) {
    const maxEntries = positiveInt(options.maxEntries ?? MEMORY_STORE_DEFAULTS.maxEntries, 'maxEntries');
    const maxBytes = positiveInt(options.maxBytes ?? MEMORY_STORE_DEFAULTS.maxBytes, 'maxBytes');
    const sweepInterval = options.sweepInterval ?? MEMORY_STORE_DEFAULTS.sweepInterval;
    if (typeof sweepInterval !== 'number' || !(sweepInterval >= 0) || !Number.isFinite(sweepInterval)) {
      throw new TypeError(`MemoryStore: sweepInterval must be a number of ms >= 0, got ${String(sweepInterval)}`);
    }
    const now = options.now;
    if (now !== undefined && typeof now !== 'function') throw new TypeError('MemoryStore: now must be a function');
    this.lru = new SlotLru({
      max: maxEntries,
      maxSize: maxBytes,
      now: now ?? coarseNow,
      // Every removal (eviction, expiry, delete, overwrite) passes here, so the indexes
      // hold only slots the LRU holds and are bounded by maxEntries too.
      dispose: (slot) => this.unindex(slot),
    });
    this.meta = this.lru.slots;
    this.cells = this.counterCells(now ?? coarseNow);
    this.bans = new MemoryBans(this.banHost());
    if (sweepInterval > 0) {
      this.sweeper = setInterval(() => this.lru.purgeStale(), sweepInterval);
      this.sweeper.unref();
    }
  }

  /** Number of entries held (expired ones not yet swept included). */
  get size(): number {
    return this.meta.size;
  }

  /** Bytes held, as counted against maxBytes. */
  get bytes(): number {
    return this.lru.calculatedSize;
  }

  /** Entries removed by the background walks of bans, since the store was made. */
  get backgroundDeleted(): number {
    return this.deletedInBackground;
  }

  /** Bans whose background walk is still running. */
  get activeBans(): number {
    return this.bans.size;
  }

  /** Synchronous read: a memory hit needs no promise. */
  peek(key: string): Buffer | undefined {
    // One length check while no ban is active (the hit path's only cost of bans).
    if (this.bans.size === 0) return this.lru.get(key);
    return this.unbanned(key);
  }

  async get(key: string): Promise<Buffer | undefined> {
    return this.peek(key);
  }

  async getMany(keys: readonly string[]): Promise<Array<Buffer | undefined>> {
    return keys.map((k) => this.peek(k));
  }

  /** A read while a ban is active: a slot it bans is dropped and missed. */
  private unbanned(key: string): Buffer | undefined {
    const slot = this.lru.slotOf(key);
    if (slot === undefined || this.bans.banned(slot)) return undefined;
    return this.lru.get(key);
  }

  async set(key: string, value: Buffer, ttlMs: number, index: StoreIndex): Promise<void> {
    this.setSync(key, value, ttlMs, index);
  }

  async setMany(entries: ReadonlyArray<StoreSetEntry>): Promise<void> {
    for (const e of entries) this.setSync(e.key, e.value, e.ttlMs, e.index);
  }

  private setSync(key: string, value: Buffer, ttlMs: number, index: StoreIndex): void {
    if (!(ttlMs > 0)) return;
    // An entry larger than maxBytes is refused (and any older value dropped): nothing to index.
    const slot = this.lru.set(key, value, Math.ceil(ttlMs));
    if (slot !== undefined) this.index(slot, index);
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

  /** Keys of live entries starting with `prefix`, at most `limit` (for cache.keys()). */
  async keys(prefix: string, limit: number): Promise<string[]> {
    const out: string[] = [];
    for (const [key, slot] of this.meta) {
      if (out.length >= limit) break;
      if (key.startsWith(prefix) && this.lru.has(key) && !(this.bans.size > 0 && this.bans.banned(slot))) out.push(key);
    }
    return out;
  }

  async delete(keys: readonly string[]): Promise<number> {
    let n = 0;
    for (const key of keys) if (this.remove(key)) n++;
    return n;
  }

  // The three below run synchronously up to their answer: a ban is in place before the
  // promise is handed back (TieredStore acknowledges a peer's invalidation on that).

  deleteByPath(path: string): Promise<number> {
    const filed = this.byPath.get(path);
    if (sizeOf(filed) <= EAGER_LIMIT) return Promise.resolve(this.removeSlots(filed));
    return this.ban({ kind: 'path', name: path });
  }

  deleteByPrefix(prefix: string): Promise<number> {
    // Only a store of few paths is searched at once: the search itself is linear in them.
    if (this.byPath.size <= EAGER_LIMIT) {
      const slots: number[] = [];
      for (const [path, filed] of this.byPath) if (path.startsWith(prefix)) collect(filed, slots);
      if (slots.length <= EAGER_LIMIT) return Promise.resolve(this.removeSlots(slots));
    }
    return this.ban({ kind: 'prefix', name: prefix });
  }

  deleteByTag(tags: readonly string[]): Promise<number> {
    let n = 0;
    for (const tag of tags) n += sizeOf(this.byTag.get(tag));
    if (n > EAGER_LIMIT) return this.ban({ kind: 'tags', names: [...new Set(tags)] });
    const slots = new Set<number>();
    for (const tag of tags) {
      const filed = this.byTag.get(tag);
      if (typeof filed === 'number') slots.add(filed);
      else if (filed) for (const s of filed) slots.add(s);
    }
    return Promise.resolve(this.removeSlots(slots));
  }

  private ban(target: BanTarget): Promise<number> {
    return this.bans.ban(++this.seq, target);
  }

  /** Drop everything (a memory tier that may have missed invalidations starts again from empty). */
  clear(): void {
    this.lru.clear();
    this.byPath.clear();
    this.byTag.clear();
    this.bans.retireAll();
  }

  async ping(): Promise<void> {}

  /** Integer counters (./memory-counters.ts), synchronous from read to write: atomic. */
  async counter(op: CounterOp): Promise<number | undefined> {
    return memoryCounter(this.cells, op);
  }

  private counterCells(now: () => number): CounterCells {
    return {
      // Through peek: a cell a ban names (cache.clear() past EAGER_LIMIT) is gone, as any entry.
      peek: (key) => this.peek(key),
      // Filed under its own key as path: cache.clear() (deleteByPrefix) reaches it like any
      // entry; and under its tags: invalidate({ tags }) (deleteByTag, or its ban) too.
      put: (key, value, ttlMs, tags) => this.setSync(key, value, ttlMs, { path: key, tags: tags ?? this.tagsOf(key) }),
      remove: (key) => this.remove(key),
      keysWith: (prefix) => [...this.meta].filter(([k, slot]) => k.startsWith(prefix) && !(this.bans.size > 0 && this.bans.banned(slot))).map(([k]) => k),
      now,
    };
  }

  async close(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    this.clear();
  }

  /** Removes the slots (copied first: removing mutates the sets); counts only live ones, so invalidation counts are exact. */
  private removeSlots(filed: Filed | Iterable<number> | undefined): number {
    if (filed === undefined) return 0;
    const slots = typeof filed === 'number' ? [filed] : [...filed];
    let n = 0;
    for (const slot of slots) {
      const key = this.lru.keyAt(slot);
      if (key !== undefined && this.remove(key)) n++;
    }
    return n;
  }

  /** Counts only live entries; an expired-but-unswept one is dropped (and unindexed) too. */
  private remove(key: string): boolean {
    const slot = this.lru.slotOf(key);
    if (slot === undefined) return false;
    const live = this.lru.isLive(slot);
    this.lru.delete(key);
    return live;
  }

  private index(slot: number, index: StoreIndex): void {
    if (slot >= this.written.length) {
      const grown = new Float64Array(this.lru.capacity);
      grown.set(this.written);
      this.written = grown;
    }
    this.written[slot] = ++this.seq;
    if (slot >= this.paths.length) this.paths = widened(this.paths, this.lru.capacity);
    this.paths[slot] = file(this.byPath, index.path, slot, (other) => this.paths[other] as string);
    const tags = index.tags;
    if (tags.length > 0 && slot >= this.firstTag.length) this.firstTag = widened(this.firstTag, this.lru.capacity);
    if (tags.length > 1 && slot >= this.secondTag.length) this.secondTag = widened(this.secondTag, this.lru.capacity);
    for (let i = 0; i < tags.length; i++) {
      const tag = file(this.byTag, tags[i], slot, (other) => this.tagNamed(other, tags[i]));
      if (i === 0) this.firstTag[slot] = tag;
      else if (i === 1) this.secondTag[slot] = tag;
      else {
        const more = this.moreTags.get(slot);
        if (more) more.push(tag);
        else this.moreTags.set(slot, [tag]);
      }
    }
  }

  private unindex(slot: number): void {
    const path = this.paths[slot];
    if (path === undefined) return;
    this.paths[slot] = undefined;
    unfile(this.byPath, path, slot);
    const first = this.firstTag[slot];
    if (first === undefined) return;
    this.firstTag[slot] = undefined;
    unfile(this.byTag, first, slot);
    const second = this.secondTag[slot];
    if (second === undefined) return;
    this.secondTag[slot] = undefined;
    unfile(this.byTag, second, slot);
    const more = this.moreTags.get(slot);
    if (more === undefined) return;
    this.moreTags.delete(slot);
    for (const tag of more) unfile(this.byTag, tag, slot);
  }

  /** What a ban reads and removes, by slot. */
  private banHost(): BanHost {
    return {
      writtenAt: (slot) => this.written[slot] ?? 0,
      pathOf: (slot) => this.paths[slot],
      hasTag: (slot, tag) => this.firstTag[slot] === tag || this.secondTag[slot] === tag || (this.moreTags.get(slot)?.includes(tag) ?? false),
      byPath: (path) => this.byPath.get(path),
      byTag: (tag) => this.byTag.get(tag),
      paths: () => this.byPath.entries(),
      remove: (slot) => {
        const key = this.lru.keyAt(slot);
        return key !== undefined && this.remove(key);
      },
      removedInBackground: (n) => void (this.deletedInBackground += n),
    };
  }

  /** The tags `key` is filed under now (none when it is not held). */
  private tagsOf(key: string): string[] {
    const slot = this.lru.slotOf(key);
    const first = slot === undefined ? undefined : this.firstTag[slot];
    if (slot === undefined || first === undefined) return [];
    const second = this.secondTag[slot];
    return second === undefined ? [first] : [first, second, ...(this.moreTags.get(slot) ?? [])];
  }

  /** The interned string of `name` among the tags of `slot` (which carries it). */
  private tagNamed(slot: number, name: string): string {
    if (this.firstTag[slot] === name) return this.firstTag[slot];
    if (this.secondTag[slot] === name) return this.secondTag[slot];
    return this.moreTags.get(slot)?.find((t) => t === name) ?? name;
  }
}

function positiveInt(v: unknown, name: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) {
    throw new TypeError(`MemoryStore: ${name} must be a positive integer, got ${String(v)}`);
  }
  return v;
}
