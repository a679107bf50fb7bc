/**
 * The miss protocol, once, for responses, stale-while-revalidate refreshes and
 * values.getOrSet (as bentocache's factory runner): local single flight, the store's
 * cross-instance lock and polling for another instance's result, the lock released on
 * every exit, hand-over to one new leader when a leader ends with nothing to share.
 *
 *   begin() -> { kind: 'found', value }   another request made it and it is stored: use it
 *           -> { kind: 'lead', lead }     make it; then lead.finish(outcome), exactly once
 *
 * What a leader makes is stored through the invalidation guard (GuardedStore.writeGuarded)
 * with `lead.making`; followers read the store rather than take the leader's result, so a
 * follower never gets what an invalidation matched after the making started.
 */

import { monotonicNow, startMaking, targetMatches, type GuardTarget, type Making } from './guard';
import type { GuardedStore } from './guarded-store';
import { SingleFlight, type FlightLeader, type FlightOutcome } from './flight';
import { HitForMiss } from './hit-for-miss';

export interface MissSpec<T> {
  /** What the flight and the lock are for (a primary key, a value key). */
  readonly key: string;
  /** The index path the result is filed under: invalidations of it end the flight. */
  readonly path: string;
  /** Follower wait bound, or false to make it alone. */
  readonly coalesce: false | { readonly timeout: number };
  /** Take the store's cross-instance lock (false for requests that could not share: HEAD). */
  readonly lock: boolean;
  /** What the store holds for this caller now (fresh, usable), or undefined. */
  lookup(): T | undefined | Promise<T | undefined>;
}

export interface Lead {
  readonly making: Making;
  /** End the making: the lock is released and followers learn the outcome. */
  finish(outcome: FlightOutcome): void;
}

export type MissTurn<T> = { readonly kind: 'found'; readonly value: T } | { readonly kind: 'lead'; readonly lead: Lead };

export class MissCoordinator {
  private readonly flights = new SingleFlight();
  /** Keys recently answered not storable: their misses do not coalesce (./hit-for-miss.ts). */
  readonly hitForMiss = new HitForMiss();

  constructor(private readonly guarded: GuardedStore) {}

  /** Flights running now (for tests and close()). */
  get size(): number {
    return this.flights.size;
  }

  /** Is a flight for `key` running here? (a refresh does not start a second one) */
  running(key: string): boolean {
    return this.flights.has(key);
  }

  async begin<T>(spec: MissSpec<T>): Promise<MissTurn<T>> {
    if (!spec.coalesce) return { kind: 'lead', lead: this.wrap(undefined, undefined) };
    const timeout = spec.coalesce.timeout;
    const deadline = monotonicNow() + timeout;
    for (;;) {
      const left = deadline - monotonicNow();
      // From here to lead() nothing awaits: followers released together elect one leader.
      const waiting = this.flights.wait(spec.key, left);
      if (waiting) {
        const outcome = await waiting;
        if (outcome === 'timeout' || outcome.kind === 'failed' || outcome.kind === 'uncacheable')
          return { kind: 'lead', lead: this.wrap(undefined, undefined) };
        if (outcome.kind === 'error') throw outcome.error;
        if (outcome.kind === 'shared') return { kind: 'found', value: outcome.value as T };
        if (outcome.kind === 'stored') {
          const value = await spec.lookup();
          if (value !== undefined) return { kind: 'found', value };
        }
        if (deadline - monotonicNow() <= 0) return { kind: 'lead', lead: this.wrap(undefined, undefined) };
        continue;
      }
      const leader = this.flights.lead(spec.key, spec.path)!;
      if (!spec.lock || !this.guarded.store.lock) return { kind: 'lead', lead: this.wrap(leader, undefined) };
      const lockKey = lockKeyOf(spec.key);
      const token = await this.guarded.lock(lockKey, timeout);
      if (typeof token === 'string') return { kind: 'lead', lead: this.wrap(leader, token, lockKey) };
      if (token === null) return { kind: 'lead', lead: this.wrap(leader, undefined) };
      // Another instance makes it: wait for its entry, or for its lock to go.
      const polled = await this.poll(spec, lockKey, deadline, timeout);
      if (polled.kind === 'found') {
        leader.finish({ kind: 'stored' });
        return polled;
      }
      return { kind: 'lead', lead: this.wrap(leader, polled.token, lockKey) };
    }
  }

  /**
   * Lead a background refresh of `key`, or undefined when a flight for it runs here or
   * another instance holds its lock (someone is already making it).
   */
  async tryLead(key: string, path: string, lockTtl: number): Promise<Lead | undefined> {
    const leader = this.flights.lead(key, path);
    if (!leader) return undefined;
    if (!this.guarded.store.lock) return this.wrap(leader, undefined);
    const lockKey = lockKeyOf(key);
    const token = await this.guarded.lock(lockKey, lockTtl);
    if (token === undefined) {
      leader.finish({ kind: 'none' });
      return undefined;
    }
    return this.wrap(leader, token ?? undefined, lockKey);
  }

  /** A lead outside any flight: the caller makes it on its own (it may still store it). */
  alone(): Lead {
    return this.wrap(undefined, undefined);
  }

  /** Flights whose key or path the invalidation matched take no more followers. */
  detach(target: GuardTarget): void {
    this.flights.detach((key, path) => targetMatches(target, { keys: [key], path, tags: [] }));
  }

  private async poll<T>(
    spec: MissSpec<T>,
    lockKey: string,
    deadline: number,
    ttl: number,
  ): Promise<(MissTurn<T> & { kind: 'found' }) | { kind: 'lead'; token: string | undefined }> {
    for (let delay = 10; monotonicNow() + delay < deadline; delay = Math.min(delay * 2, 100)) {
      await new Promise((r) => setTimeout(r, delay));
      const value = await spec.lookup();
      if (value !== undefined) return { kind: 'found', value };
      // The holder is gone without storing what this caller needs: make it here, holding the lock.
      const token = await this.guarded.lock(lockKey, ttl);
      if (token === null) return { kind: 'lead', token: undefined };
      if (token !== undefined) return { kind: 'lead', token };
    }
    return { kind: 'lead', token: undefined };
  }

  private wrap(leader: FlightLeader | undefined, token: string | undefined, lockKey = ''): Lead {
    return new LeadTurn(this.guarded, leader, token, lockKey);
  }
}

/** A making handed out: its start (for the guard), and the one finish that unlocks and tells the followers. */
class LeadTurn implements Lead {
  readonly making: Making = startMaking();
  private done = false;

  constructor(
    private readonly guarded: GuardedStore,
    private readonly leader: FlightLeader | undefined,
    private readonly token: string | undefined,
    private readonly lockKey: string,
  ) {}

  finish(outcome: FlightOutcome): void {
    if (this.done) return;
    this.done = true;
    if (this.token) this.guarded.unlock(this.lockKey, this.token);
    this.leader?.finish(outcome);
  }
}

/** The store key of the cross-instance lock for `key` (outside every entry key's form). */
export function lockKeyOf(key: string): string {
  return 'lock:' + key;
}
