/**
 * The replicas of the Redis a RedisStore writes to, and WAIT: with replicas, an
 * invalidation counts as done only once a replica has it, so a failover (Sentinel, a
 * managed Redis promoting a replica behind its endpoint) cannot undo it. Redis replicates
 * asynchronously; without this, deletes the old master acknowledged but had not yet sent
 * were missing on the promoted replica, and the entries they removed were served again.
 *
 * - **Are there replicas?** `INFO replication` (`connected_slaves`), sent as each
 *   invalidation's writes begin (`begin()`, from mark(); invalidations at the same time
 *   share one), so its answer is there when replicate() needs it: no round trip of its
 *   own, and no count older than the invalidation. (A count kept for a second was not
 *   enough: right after a failover the promoted master has no replica yet, gets one a
 *   moment later, and an invalidation trusting the old count sent no WAIT; the failover
 *   loop test caught it.) A master without replicas costs an invalidation one INFO in
 *   parallel with its writes, and no WAIT.
 * - **WAIT blocks the connection it is sent on**, and every command queued behind it:
 *   sent on the connection that serves hits, a replica that lags would stall this
 *   instance's hits (and trip the breaker). So once replicas are seen, invalidations write
 *   over a connection of their own (a `duplicate()` of the store's client, closed with the
 *   store), and WAIT goes there: WAIT counts the writes of its own connection, and the
 *   replication stream is ordered, so a replica that acknowledges them has everything the
 *   master did before too.
 * - `WAIT 1`: one replica. Sentinel promotes the replica with the largest replication
 *   offset (among those of equal priority), so with several replicas, the one that
 *   acknowledged (or one further along) is the one promoted.
 * - A lost connection since the invalidation began answers `lost`: its writes may have
 *   reached only a master that is gone. So does the first invalidation after replicas
 *   are first seen (its writes went over the shared connection).
 * - A Redis that refuses INFO or WAIT (an ACL, a proxy) is taken as having no replicas,
 *   and said once (debug log; `check()` reports a refused INFO).
 * Cluster: not handled here (the store answers `none`): see ARCHITECTURE.md, Redis.
 */

import createDebug from 'debug';
import type { Redis } from 'ioredis';
import { monotonicNow } from '../guard';
import type { Replication } from './store';

const log = createDebug('express-response-cache:redis');

export class RedisReplication {
  /** Replicas seen by the read sent at `at` (monotonic ms); undefined until read, and after a lost connection. */
  private count: number | undefined;
  private at = -Infinity;
  /** The last count read, kept across a lost connection. */
  private last = 0;
  private reading: Promise<number> | undefined;
  /** Invalidations' own connection, opened once replicas are seen. */
  private own: Redis | undefined;
  /** When `own` became the connection invalidations write over (monotonic ms). */
  private ownSince = Infinity;
  private ownReady: Promise<void> | undefined;
  private refused = false;
  private closed = false;

  constructor(
    private readonly main: Redis,
    /** When a connection (the store's or `own`) was last lost, monotonic ms. */
    private readonly lostAt: () => number,
    /** Told when `own` loses its connection. */
    private readonly lost: () => void,
  ) {}

  /** The connection invalidations write over: their own once replicas were seen. */
  get writer(): Redis {
    return this.own ?? this.main;
  }

  /** The master had replicas when last read. */
  get replicated(): boolean {
    return this.last > 0 && !this.refused;
  }

  /** An invalidation's writes begin: read the replicas (one read for all that begin while it is out). */
  begin(): void {
    if (this.refused || this.reading) return;
    this.read().catch((err) => log('INFO replication failed: %s', (err as Error).message));
  }

  /** Has what invalidations wrote since `since` reached a replica? Waits at most `timeoutMs`. */
  async replicate(since: number, timeoutMs: number): Promise<Replication> {
    if (this.refused) return 'none';
    if (this.lostAt() >= since) return this.last > 0 ? 'lost' : 'none';
    const n = await this.replicas(since);
    if (n === 0 || this.refused) return 'none';
    if (!this.own || this.ownSince > since) {
      await this.open();
      return 'lost';
    }
    let acked: number;
    try {
      acked = Number(await this.own.call('WAIT', '1', String(Math.max(1, Math.ceil(timeoutMs)))));
    } catch (err) {
      if (!isRefusal(err)) throw err;
      this.refuse(`WAIT refused (${(err as Error).message})`);
      return 'none';
    }
    if (this.lostAt() >= since) return 'lost';
    return acked >= 1 ? 'confirmed' : 'unconfirmed';
  }

  /** Read the replica count now (from check(), at start); answers a problem to report, if any. */
  async prime(): Promise<string | undefined> {
    try {
      await this.read();
      return undefined;
    } catch (err) {
      if (!isRefusal(err)) return undefined; // not reachable yet: read again when needed
      return `Redis refused INFO replication (${(err as Error).message}): invalidations are not confirmed by replicas, and a failover may undo them`;
    }
  }

  /** A lost connection: the topology may have changed, read it again before the next answer. */
  forget(): void {
    this.count = undefined;
    this.at = -Infinity;
  }

  async close(): Promise<void> {
    this.closed = true;
    const own = this.own;
    this.own = undefined;
    if (!own) return;
    if (own.status === 'ready') await Promise.race([own.quit().catch(() => undefined), new Promise((r) => setTimeout(r, 1000).unref())]);
    own.disconnect();
  }

  /** The count as of an invalidation that began at `since`: the read in flight, else one sent since then, else a new one. */
  private async replicas(since: number): Promise<number> {
    if (this.reading) return this.reading;
    if (this.count === undefined || this.at < since) return this.read();
    return this.count;
  }

  /** One INFO at a time, on the connection WAIT goes over (with Sentinel, each connection finds the master itself). */
  private read(): Promise<number> {
    if (this.reading) return this.reading;
    const started = monotonicNow();
    const reading = this.writer
      .info('replication')
      .then((info) => {
        const n = Number(/^connected_slaves:(\d+)/m.exec(info)?.[1] ?? 0);
        // A connection lost while reading: the answer may be the old master's.
        if (this.lostAt() < started) {
          this.count = n;
          this.at = started;
        }
        this.last = n;
        return n;
      })
      .catch((err: unknown) => {
        if (isRefusal(err)) this.refuse(`INFO replication refused (${(err as Error).message})`);
        throw err;
      })
      .finally(() => {
        if (this.reading === reading) this.reading = undefined;
      });
    this.reading = reading;
    return reading;
  }

  /** Open the invalidations' own connection (once) and wait for it to answer or fail. */
  private open(): Promise<void> {
    if (this.ownReady) return this.ownReady;
    if (this.closed) return Promise.resolve();
    // Fail fast while it reconnects: the caller retries, bounded by failoverTimeout.
    const own = this.main.duplicate({ enableOfflineQueue: false, maxRetriesPerRequest: 1, lazyConnect: false });
    own.on('error', (err: Error) => log('invalidation connection: %s', err.message));
    own.on('close', this.lost);
    this.own = own;
    this.ownSince = monotonicNow();
    this.ownReady = new Promise<void>((resolve) => {
      if (own.status === 'ready') return resolve();
      const done = (): void => {
        own.off('ready', done).off('error', done).off('end', done);
        resolve();
      };
      own.on('ready', done).on('error', done).on('end', done);
    });
    return this.ownReady;
  }

  private refuse(why: string): void {
    if (!this.refused) log('%s: invalidations are not confirmed by replicas', why);
    this.refused = true;
  }
}

/** Redis will never take this command from us (an ACL, a proxy without it); a LOADING or BUSY reply will pass. */
function isRefusal(err: unknown): boolean {
  const e = err as Error | undefined;
  return e?.name === 'ReplyError' && /^NOPERM|unknown command|not allowed|unsupported/i.test(e.message);
}
