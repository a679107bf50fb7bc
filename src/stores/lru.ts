/**
 * SlotLru: the MemoryStore's LRU, bounded by count and by bytes, with a TTL per entry.
 *
 * Why not lru-cache: its per-entry cost (~90 B) plus an index record per key was most of
 * what the store added to each entry (bench/MEMORY.md). Here an entry is a slot number: its
 * key, value, expiry and recency links live in parallel arrays indexed by slot, so an entry
 * allocates nothing but its Map slot; the store keeps its own per-slot index data beside
 * these arrays, keyed by the same slot. The arrays grow by doubling up to `max`, so a large
 * `maxEntries` costs nothing until it is used.
 *
 * Every removal of a live slot (eviction, expiry, delete, overwrite, clear) calls `dispose`
 * first, while the slot's key and value are still readable, so the store can unindex it.
 */

const NONE = 0xffff_ffff;
const INITIAL = 64;

/**
 * A copy of `a` with room for exactly `n` elements. Arrays grown by assignment keep up to
 * half their length spare; sized with the typed arrays, at `max` they hold no slack.
 */
export function widened<T>(a: T[], n: number): T[] {
  const b = new Array<T>(n);
  for (let i = 0; i < a.length; i++) b[i] = a[i];
  return b;
}

let cachedNow = 0;

/**
 * A monotonic clock read at most once a millisecond (lru-cache's `ttlResolution: 1`): a
 * memory hit's expiry check then costs no clock call (35 of ~120 ns per peek, measured).
 * An entry may thus live up to ~1 ms past its TTL, as it did under lru-cache.
 */
export function coarseNow(): number {
  if (cachedNow === 0) {
    cachedNow = performance.now();
    setTimeout(() => {
      cachedNow = 0;
    }, 1).unref();
  }
  return cachedNow;
}

export interface SlotLruOptions {
  /** Most entries kept. */
  readonly max: number;
  /** Most bytes kept, counting each value's length and its key's. */
  readonly maxSize: number;
  readonly now: () => number;
  /** Called before a slot is freed or overwritten; `slot` still holds its key and value. */
  readonly dispose: (slot: number) => void;
}

export class SlotLru {
  /** key → slot. */
  readonly slots = new Map<string, number>();
  private keys: Array<string | undefined> = [];
  private values: Array<Buffer | undefined> = [];
  private expires = new Float64Array(0);
  /** Recency links: `newer` points toward the head (most recent), `older` toward the tail. */
  private newer = new Uint32Array(0);
  private older = new Uint32Array(0);
  private readonly free: number[] = [];
  private head = NONE;
  private tail = NONE;
  private used = 0;
  private bytes = 0;

  constructor(private readonly o: SlotLruOptions) {}

  get size(): number {
    return this.slots.size;
  }

  /** Bytes held, as counted against maxSize. */
  get calculatedSize(): number {
    return this.bytes;
  }

  /** The live value at `key`, made most recent; an expired one is removed and missed. */
  get(key: string): Buffer | undefined {
    const slot = this.slots.get(key);
    if (slot === undefined) return undefined;
    if (this.expires[slot] <= this.o.now()) {
      this.removeSlot(slot);
      return undefined;
    }
    this.touch(slot);
    return this.values[slot];
  }

  /** True when `key` holds a live value (recency untouched). */
  has(key: string): boolean {
    const slot = this.slots.get(key);
    return slot !== undefined && this.expires[slot] > this.o.now();
  }

  /**
   * Store `value` for `ttlMs`; returns its slot, or undefined when the value alone exceeds
   * maxSize (then nothing is kept under `key`, as lru-cache does).
   */
  set(key: string, value: Buffer, ttlMs: number): number | undefined {
    const size = value.length + key.length;
    let slot = this.slots.get(key);
    if (size > this.o.maxSize) {
      if (slot !== undefined) this.removeSlot(slot);
      return undefined;
    }
    if (slot !== undefined) {
      this.o.dispose(slot);
      this.bytes -= (this.values[slot] as Buffer).length + key.length;
      this.touch(slot);
    } else {
      if (this.slots.size >= this.o.max) this.removeSlot(this.tail);
      slot = this.allocate();
      this.slots.set(key, slot);
      this.keys[slot] = key;
      this.link(slot);
    }
    this.values[slot] = value;
    this.expires[slot] = this.o.now() + ttlMs;
    this.bytes += size;
    // Evict from the tail until the bytes fit; the new slot is at the head, so it stays.
    while (this.bytes > this.o.maxSize && this.tail !== slot) this.removeSlot(this.tail);
    return slot;
  }

  /** The slot of `key`, live or expired-but-unswept. */
  slotOf(key: string): number | undefined {
    return this.slots.get(key);
  }

  /** True when `slot` holds a value that has not expired. */
  isLive(slot: number): boolean {
    return this.keys[slot] !== undefined && this.expires[slot] > this.o.now();
  }

  keyAt(slot: number): string | undefined {
    return this.keys[slot];
  }

  /** Remove `key` (expired or not); true when it was held at all. */
  delete(key: string): boolean {
    const slot = this.slots.get(key);
    if (slot === undefined) return false;
    this.removeSlot(slot);
    return true;
  }

  /** Remove every expired entry. */
  purgeStale(): void {
    const now = this.o.now();
    for (let slot = this.tail; slot !== NONE;) {
      const next = this.newer[slot];
      if (this.expires[slot] <= now) this.removeSlot(slot);
      slot = next;
    }
  }

  clear(): void {
    for (let slot = this.tail; slot !== NONE;) {
      const next = this.newer[slot];
      this.removeSlot(slot);
      slot = next;
    }
  }

  private removeSlot(slot: number): void {
    this.o.dispose(slot);
    const key = this.keys[slot] as string;
    this.slots.delete(key);
    this.bytes -= (this.values[slot] as Buffer).length + key.length;
    this.keys[slot] = undefined;
    this.values[slot] = undefined;
    this.unlink(slot);
    this.free.push(slot);
  }

  private allocate(): number {
    const reused = this.free.pop();
    if (reused !== undefined) return reused;
    if (this.used === this.expires.length) this.grow();
    return this.used++;
  }

  /** Slots allocated so far: per-slot arrays kept beside this one can be sized to it. */
  get capacity(): number {
    return this.expires.length;
  }

  private grow(): void {
    const n = Math.min(this.o.max, Math.max(INITIAL, this.expires.length * 2));
    const widen = <T extends Float64Array | Uint32Array>(a: T, b: T): T => (b.set(a), b);
    this.expires = widen(this.expires, new Float64Array(n));
    this.newer = widen(this.newer, new Uint32Array(n));
    this.older = widen(this.older, new Uint32Array(n));
    this.keys = widened(this.keys, n);
    this.values = widened(this.values, n);
  }

  /** Make a linked slot the most recent. */
  private touch(slot: number): void {
    if (this.head === slot) return;
    this.unlink(slot);
    this.link(slot);
  }

  /** Put an unlinked slot at the head. */
  private link(slot: number): void {
    this.older[slot] = this.head;
    this.newer[slot] = NONE;
    if (this.head !== NONE) this.newer[this.head] = slot;
    this.head = slot;
    if (this.tail === NONE) this.tail = slot;
  }

  private unlink(slot: number): void {
    const newer = this.newer[slot];
    const older = this.older[slot];
    if (newer !== NONE) this.older[newer] = older;
    else if (this.head === slot) this.head = older;
    if (older !== NONE) this.newer[older] = newer;
    else if (this.tail === slot) this.tail = newer;
    this.newer[slot] = NONE;
    this.older[slot] = NONE;
  }
}
