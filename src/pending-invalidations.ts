/**
 * Invalidations that could not reach the store (outage, open breaker), kept in order and
 * retried when it answers again. Until then the instance serves nothing they matched: a
 * read checks its entry against them (a length check when there are none).
 */

import type { Entry } from './entry';
import { targetMatches, type GuardTarget } from './guard';
import type { CacheStore } from './stores/store';

export interface PendingInvalidation {
  readonly target: GuardTarget;
  /** The deletes to run on the store, after its records are written. */
  readonly runs: ReadonlyArray<(store: CacheStore) => Promise<number>>;
}

/** Most kept; past it they are folded into one that clears the namespace. */
const MAX_PENDING = 1000;

export class PendingInvalidations {
  private queue: PendingInvalidation[] = [];

  constructor(private readonly everything: () => PendingInvalidation) {}

  get size(): number {
    return this.queue.length;
  }

  add(p: PendingInvalidation): void {
    // Too many to keep one by one: one invalidation of the whole namespace covers them all.
    if (this.queue.length >= MAX_PENDING) this.queue = [this.everything()];
    else this.queue.push(p);
  }

  /** Does a kept invalidation match this entry (read at `key`)? */
  matches(key: string, entry: Entry): boolean {
    const subject = { keys: [key], path: entry.path, tags: entry.tags };
    for (const p of this.queue) if (targetMatches(p.target, subject)) return true;
    return false;
  }

  /** The oldest, to retry; `done()` it when it went through. */
  peek(): PendingInvalidation | undefined {
    return this.queue[0];
  }

  done(p: PendingInvalidation): void {
    if (this.queue[0] === p) this.queue.shift();
  }
}
