/**
 * Is Redis keeping every key the cache wrote? Under any `maxmemory-policy` but
 * `noeviction`, Redis may evict an index (`p:`, `t:`), an invalidation record (`r:`,
 * `x:`) while the entry it names stays: a later path, tag or prefix invalidation cannot
 * reach that entry, or a making that raced an invalidation goes live, and the old body is
 * served until its TTL. (Every key of the layout has a TTL, so `volatile-*` evicts them as
 * readily as `allkeys-*`.)
 *
 * The watch reads `maxmemory_policy` (INFO memory) and `evicted_keys` (INFO stats) of every
 * master: at start, every `intervalMs`, and after each invalidation's deletes (before it
 * resolves, so this instance's own invalidation is exact even right after a runtime
 * `CONFIG SET`). The store is **unsafe** while any master's policy may evict, and also once
 * `evicted_keys` grew past what it was at the last clean point (a key may be gone even if
 * the policy is back to `noeviction`: a short evicting spell between two reads). Unsafe
 * turns safe only when every policy is `noeviction` again and, if anything was evicted,
 * after every entry of the store has been deleted (SCAN every master): entries written
 * before or during the spell may have lost their indexes. An evicting policy that never
 * evicted anything costs no purge.
 *
 * A master whose INFO is refused (ACL) or unreadable is trusted, and reported once: as the
 * replica count is (./redis-replication.ts). A counter that went down (a restart) is taken
 * as the new baseline.
 */

import type { Cluster, Redis } from 'ioredis';
import type { StoreSafety } from './store';

export interface EvictionHost {
  /** The masters now (one for a single node). */
  masters(): Redis[];
  /** Delete every entry the store holds; answers how many. */
  purge(): Promise<number>;
  debug(message: string): void;
}

interface Reading {
  readonly node: string;
  readonly policy: string | undefined;
  readonly evicted: number | undefined;
}

const SAFE: StoreSafety = Object.freeze({ safe: true });

export class EvictionWatch {
  private safety: StoreSafety = SAFE;
  private readonly listeners = new Set<(s: StoreSafety) => void>();
  /** evicted_keys per master at the last clean point (first sight, or the start of a purge). */
  private readonly baseline = new Map<string, number>();
  /** Keys may have been evicted since the baseline: a purge is owed before trusting the store. */
  private dirty = false;
  private purging: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private refusedInfo: string | undefined;

  constructor(
    private readonly host: EvictionHost,
    private readonly intervalMs = 1000,
  ) {}

  get current(): StoreSafety {
    return this.safety;
  }

  /** A master refused INFO: what to report once (the policy cannot be known there). */
  get refused(): string | undefined {
    return this.refusedInfo;
  }

  /** Hear every change of safety (and the current one at once when unsafe); returns how to stop. */
  watch(listener: (s: StoreSafety) => void): () => void {
    this.listeners.add(listener);
    if (!this.safety.safe) listener(this.safety);
    if (!this.timer && !this.stopped) {
      this.timer = setInterval(() => void this.check().catch((err: Error) => this.host.debug(`eviction check failed: ${err.message}`)), this.intervalMs);
      this.timer.unref();
    }
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) this.stop();
    };
  }

  /** Read every master now and update the safety; rejects when Redis cannot be read. */
  async check(): Promise<StoreSafety> {
    const readings = await this.read();
    this.apply(readings);
    return this.safety;
  }

  /**
   * After an invalidation's deletes, before it resolves: read every master again and, if
   * anything was evicted since the last clean point, delete every entry now, whatever the
   * policy. An index the deletes read may have been evicted, leaving an entry they could not
   * reach; this instance bypasses Redis from here, but another one learns it only at its
   * next reading (up to `intervalMs` away) and would serve that entry meanwhile. An evicting
   * policy that evicted nothing owes nothing: the indexes are all there.
   */
  async settle(readWithinMs = Infinity): Promise<void> {
    // A Redis that stopped answering is the deletes' problem, not a reason to hold the answer longer.
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      if (Number.isFinite(readWithinMs)) timer = setTimeout(() => reject(new Error('eviction reading timed out')), readWithinMs);
    });
    const before = await Promise.race([this.read(), late]).finally(() => clearTimeout(timer));
    this.apply(before);
    if (!this.dirty) return;
    const n = await this.host.purge();
    this.host.debug(`evictions seen at an invalidation: ${n} entries deleted before it resolves`);
    for (const r of before) if (r.evicted !== undefined) this.baseline.set(r.node, r.evicted);
    this.dirty = false;
    // Anything evicted during the purge shows in this reading and owes another.
    this.apply(await this.read());
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private async read(): Promise<Reading[]> {
    const nodes = this.host.masters();
    return Promise.all(
      nodes.map(async (node) => {
        const name = `${node.options.host ?? ''}:${node.options.port ?? ''}`;
        try {
          const [memory, stats] = await Promise.all([node.info('memory'), node.info('stats')]);
          const policy = /maxmemory_policy:(\S+)/.exec(memory)?.[1];
          const evicted = /evicted_keys:(\d+)/.exec(stats)?.[1];
          return { node: name, policy, evicted: evicted === undefined ? undefined : Number(evicted) };
        } catch (err) {
          // A refusal (NOPERM, a proxy without INFO) is an answer: trusted and reported; a lost connection is not.
          const message = (err as Error).message ?? '';
          if (!/^(NOPERM|ERR)/.test(message)) throw err;
          this.refusedInfo ??= `Redis refused INFO (${message}): the cache cannot see its maxmemory-policy or evictions, and trusts it not to evict`;
          return { node: name, policy: undefined, evicted: undefined };
        }
      }),
    );
  }

  private apply(readings: readonly Reading[]): void {
    const evicting: string[] = [];
    for (const r of readings) {
      if (r.policy !== undefined && r.policy !== 'noeviction') evicting.push(r.policy);
      if (r.evicted === undefined) continue;
      const known = this.baseline.get(r.node);
      if (known === undefined || r.evicted < known) this.baseline.set(r.node, r.evicted);
      else if (r.evicted > known) this.dirty = true;
    }
    if (evicting.length > 0) {
      this.set({
        safe: false,
        reason: `Redis maxmemory-policy is ${evicting[0]}: under memory pressure Redis may evict the index keys and invalidation records that path, tag and prefix invalidation rely on, leaving entries it can no longer reach; set maxmemory-policy noeviction (entries expire by TTL) or give the cache its own Redis`,
      });
      return;
    }
    if (!this.dirty) return this.set(SAFE);
    this.set({
      safe: false,
      reason: 'Redis evicted keys: an index or an invalidation record may be gone, so every entry is deleted before the cache trusts Redis again',
    });
    this.purging ??= this.purge().finally(() => (this.purging = undefined));
  }

  /** Delete every entry, then trust the store again if nothing evicted meanwhile and every policy is noeviction. */
  private async purge(): Promise<void> {
    try {
      const before = await this.read();
      if (before.some((r) => r.policy !== undefined && r.policy !== 'noeviction')) return this.apply(before);
      const n = await this.host.purge();
      this.host.debug(`evictions seen: ${n} entries deleted`);
      for (const r of before) if (r.evicted !== undefined) this.baseline.set(r.node, r.evicted);
      this.dirty = false;
      // Anything evicted during the purge shows in this reading and owes another.
      this.apply(await this.read());
    } catch (err) {
      this.host.debug(`eviction purge failed, retried at the next check: ${(err as Error).message}`);
    }
  }

  private set(next: StoreSafety): void {
    const prev = this.safety;
    if (prev.safe === next.safe && (next.safe || (!prev.safe && prev.reason === next.reason))) return;
    this.safety = next;
    this.host.debug(next.safe ? 'Redis keeps every key again: caching resumes' : `Redis may lose keys: ${next.reason}`);
    for (const l of this.listeners) l(next);
  }
}

/** The masters of a single node or a Cluster. */
export function mastersOf(redis: Redis | Cluster, isCluster: boolean): Redis[] {
  return isCluster ? (redis as Cluster).nodes('master') : [redis as Redis];
}
