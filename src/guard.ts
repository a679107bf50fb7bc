/**
 * The invalidation guard: what makes invalidation exact while responses are being made.
 *
 * An invalidation first leaves short-lived records of what it matched (keys, paths,
 * prefixes, tags), then deletes. A response (or value) remembers when its making started;
 * before it becomes visible it is checked against the records: one that any record newer
 * than its start matches was perhaps made from data read before that invalidation, so it
 * is not stored and not shared. Unrelated invalidations match nothing and stop nothing.
 *
 * Times here are `performance.now()`: durations and comparisons within one process only
 * (a store shared between machines compares durations each side measures itself).
 */

import { performance } from 'node:perf_hooks';

/** What an invalidation matched, in store terms (namespaced keys, index paths and tags). */
export interface GuardTarget {
  readonly keys: readonly string[];
  readonly paths: readonly string[];
  readonly prefixes: readonly string[];
  readonly tags: readonly string[];
}

/** What a stored response or value is checked by: its keys and its index. */
export interface GuardSubject {
  readonly keys: readonly string[];
  readonly path: string;
  readonly tags: readonly string[];
}

/** When a response's making started (`performance.now()` in this process). */
export interface Making {
  readonly startedAt: number;
}

/** How long records are kept: a making that takes longer cannot be checked and is not stored. */
export const GUARD_WINDOW_MS = 30_000;
/** Most records one log keeps; past it, every making older than the oldest dropped record is refused. */
const MAX_RECORDS = 100_000;

export function monotonicNow(): number {
  return performance.now();
}

export function startMaking(): Making {
  return { startedAt: monotonicNow() };
}

/** Does `target` match `subject`? Prefixes are literal (no glob). */
export function targetMatches(target: GuardTarget, subject: GuardSubject): boolean {
  for (const k of target.keys) if (subject.keys.includes(k)) return true;
  for (const p of target.paths) if (p === subject.path) return true;
  for (const p of target.prefixes) if (subject.path.startsWith(p)) return true;
  for (const t of target.tags) if (subject.tags.includes(t)) return true;
  return false;
}

/**
 * Records of invalidations in this process, by name, with the time of the newest one.
 * Used by the MemoryStore (the records of its invalidations) and by the cache itself (its
 * flights, and stores that keep no records of their own).
 */
export class GuardLog {
  private readonly keys = new Map<string, number>();
  private readonly paths = new Map<string, number>();
  private readonly tags = new Map<string, number>();
  private prefixes: Array<[string, number]> = [];
  /** Makings that started before this cannot be checked (records were dropped). */
  private floor = -Infinity;
  private size = 0;
  /** When the newest record was made. */
  private newest = -Infinity;

  constructor(
    private readonly windowMs = GUARD_WINDOW_MS,
    private readonly clock: () => number = monotonicNow,
  ) {}

  /** Leave records for everything `target` names, stamped now. */
  mark(target: GuardTarget): void {
    const now = this.clock();
    this.prune(now);
    this.newest = now;
    for (const k of target.keys) this.put(this.keys, k, now);
    for (const p of target.paths) this.put(this.paths, p, now);
    for (const t of target.tags) this.put(this.tags, t, now);
    for (const p of target.prefixes) {
      this.prefixes.push([p, now]);
      this.size++;
    }
  }

  /** True when a record at or after `making.startedAt` matches `subject` (or it cannot be told). */
  overlaps(making: Making, subject: GuardSubject): boolean {
    const since = making.startedAt;
    const now = this.clock();
    if (since <= this.floor || now - since >= this.windowMs) return true;
    // The common case under unrelated or no writes: nothing at all since the making began.
    if (this.quietSince(making)) return false;
    for (const k of subject.keys) if ((this.keys.get(k) ?? -Infinity) >= since) return true;
    if ((this.paths.get(subject.path) ?? -Infinity) >= since) return true;
    for (const t of subject.tags) if ((this.tags.get(t) ?? -Infinity) >= since) return true;
    for (const [p, at] of this.prefixes) if (at >= since && subject.path.startsWith(p)) return true;
    return false;
  }

  /** Was anything at all invalidated since `making` started? (cheap check for the common case) */
  quietSince(making: Making): boolean {
    return this.size === 0 || this.newest < making.startedAt;
  }

  private put(map: Map<string, number>, name: string, now: number): void {
    if (!map.has(name)) this.size++;
    // Re-inserted so the Map's order stays oldest first, which prune() relies on.
    map.delete(name);
    map.set(name, now);
    if (this.size > MAX_RECORDS) this.dropOldest();
  }

  private prune(now: number): void {
    if (this.size === 0) return;
    const cutoff = now - this.windowMs;
    for (const map of [this.keys, this.paths, this.tags]) {
      for (const [name, at] of map) {
        if (at >= cutoff) break;
        map.delete(name);
        this.size--;
      }
    }
    const kept = this.prefixes.filter(([, at]) => at >= cutoff);
    this.size -= this.prefixes.length - kept.length;
    this.prefixes = kept;
  }

  private dropOldest(): void {
    // Bounded memory under an invalidation storm: forget the oldest tenth, and refuse the
    // makings that started before the newest record forgotten.
    const drop = Math.ceil(MAX_RECORDS / 10);
    let dropped = 0;
    for (const map of [this.keys, this.paths, this.tags]) {
      for (const [name, at] of map) {
        if (dropped >= drop) break;
        map.delete(name);
        this.size--;
        dropped++;
        if (at > this.floor) this.floor = at;
      }
    }
    if (dropped < drop && this.prefixes.length) {
      const cut = this.prefixes.splice(0, drop - dropped);
      this.size -= cut.length;
      for (const [, at] of cut) if (at > this.floor) this.floor = at;
    }
  }
}
