/**
 * Hit-for-miss (Varnish's name): keys whose last answer could not be stored, remembered
 * for a short while so that their misses run in parallel instead of queueing behind one
 * leader each. Nothing is served from it and nothing is kept from the store: a miss of a
 * remembered key still looks the store up, still runs the handler and still stores an
 * answer that turns out storable, and that answer forgets the key (the page is cached again
 * from its next request on). The worst a flood of uncacheable URLs can do is push other
 * remembered keys out early, which only makes their misses coalesce again.
 */

import { monotonicNow } from './guard';

/** How long a key answered not storable is remembered. */
export const HIT_FOR_MISS_MS = 10_000;
/** Most keys remembered; the oldest are forgotten first. */
export const HIT_FOR_MISS_MAX = 10_000;

export class HitForMiss {
  /** key -> monotonic ms until which it is remembered; Map order is insertion order (oldest first). */
  private readonly until = new Map<string, number>();

  constructor(
    private readonly ttlMs = HIT_FOR_MISS_MS,
    private readonly max = HIT_FOR_MISS_MAX,
  ) {}

  get size(): number {
    return this.until.size;
  }

  /** Was `key` answered not storable within the window? */
  has(key: string): boolean {
    if (this.until.size === 0) return false;
    const until = this.until.get(key);
    if (until === undefined) return false;
    if (until > monotonicNow()) return true;
    this.until.delete(key);
    return false;
  }

  /** `key` was just answered not storable. */
  mark(key: string): void {
    // Re-inserted at the end: the oldest mark is the first one iterated.
    this.until.delete(key);
    if (this.until.size >= this.max) this.until.delete(this.until.keys().next().value as string);
    this.until.set(key, monotonicNow() + this.ttlMs);
  }

  /** `key` was answered storable: its misses coalesce again. */
  forget(key: string): void {
    if (this.until.size !== 0) this.until.delete(key);
  }
}
