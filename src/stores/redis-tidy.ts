/**
 * Index tidying for RedisStore (issue 21): an entry deleted through one index (a tag, a
 * path) still has its member in its other indexes (its path, its other tags). Left alone,
 * those members and their keys stayed until their TTL: 88,891 `p:` and 100,001 `t:` keys
 * after a 100,000-entry run in issue 21. The invalidation hands the members it found to a
 * Tidier, which removes them in the background, after the invalidation resolved: rounds
 * of at most `ROUND` members, one round in flight at a time, so a hit waits behind at most
 * one round, and the invalidation itself takes no longer than before.
 *
 * Removing a member a later write could need is impossible: every write files its own
 * token in its members, so a member names one write, already deleted.
 */

import type { Cluster, Redis } from 'ioredis';

/** Most members removed per round. */
export const ROUND = 1000;

export class Tidier {
  private queue: Promise<void> = Promise.resolve();
  private removed = 0;

  constructor(private readonly onError: (err: Error) => void) {}

  /** Index members removed in the background, since the store was made. */
  get membersRemoved(): number {
    return this.removed;
  }

  /** Resolves once everything handed over so far has been tidied (or failed). */
  idle(): Promise<void> {
    return this.queue;
  }

  /** Remove `members` (index key → members) in the background, after what was queued before. */
  add(c: Redis | Cluster, members: ReadonlyMap<string, readonly string[]>): void {
    if (members.size === 0) return;
    this.queue = this.queue.then(() => this.run(c, members)).catch((err: unknown) => this.onError(err as Error));
  }

  private async run(c: Redis | Cluster, members: ReadonlyMap<string, readonly string[]>): Promise<void> {
    let round: Array<Promise<number>> = [];
    let size = 0;
    for (const [key, all] of members) {
      for (let i = 0; i < all.length; i += ROUND) {
        const part = all.slice(i, i + ROUND);
        round.push(c.zrem(key, ...part));
        size += part.length;
        if (size >= ROUND) {
          this.removed += sum(await Promise.all(round));
          round = [];
          size = 0;
        }
      }
    }
    this.removed += sum(await Promise.all(round));
  }
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}
