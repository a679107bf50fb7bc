/**
 * The step after an invalidation's deletes, on a store with replicas (Redis): the
 * invalidation counts as done only once a replica has it, so a failover cannot undo an
 * acknowledged one. `invalidate()` resolves, and an `invalidates()` route or an unsafe
 * method's answer is sent, only after this.
 *
 *   none / confirmed  -> done (no replica: the node that took the writes is the one reads go to)
 *   unconfirmed       -> ask again (the store's WAIT waited `storeTimeout`)
 *   lost              -> a connection was lost since it began (a failover): apply it again,
 *                        on whatever node reads go to now, then ask again
 *   kept              -> the store could not take it yet: retry the kept queue first
 *   store failure     -> pause, then the same again
 * bounded by `failoverTimeout` (enough for a Sentinel or managed failover); past it the
 * answer goes out and `onError` hears ERC_FAILOVER_TIMEOUT (counted in `errors`). A store
 * that had no replica when the failure came is not waited for: nothing changes there.
 */

import { FailoverTimeoutError, type CacheError } from './errors';
import { monotonicNow } from './guard';
import type { Replication } from './stores/store';

/** Pause after a failed store call before the next try. */
const RETRY_MS = 100;

export interface ReplicaHold {
  /** The store's replicate(), bounded and reported like any store call; rejects when it failed. */
  replicate(since: number, timeoutMs: number): Promise<Replication>;
  /** Apply the invalidation again (records, deletes, announcement); rejects when the store failed. */
  reapply(): Promise<unknown>;
  /** Retry invalidations still kept (this one among them); answers whether any are left. */
  retryKept(): Promise<boolean>;
  /** The store had replicas when it last looked. */
  replicated(): boolean;
  /** The cache is closing: stop holding. */
  closed(): boolean;
  readonly storeTimeout: number;
  /** failoverTimeout, ms. */
  readonly limitMs: number;
  report(err: CacheError): void;
}

/**
 * Hold until the invalidation that began at `startedAt` is on a replica, or on the node
 * reads go to when it has none. Resolves true when it is, false when the limit passed (reported).
 */
export async function holdForReplica(h: ReplicaHold, startedAt: number): Promise<boolean> {
  const deadline = monotonicNow() + h.limitMs;
  let since = startedAt;
  let again = false;
  for (let left = h.limitMs; left > 0 && !h.closed(); left = deadline - monotonicNow()) {
    try {
      if (await h.retryKept()) {
        if (!h.replicated()) return true; // kept, no replicas: as without this step
        await pause(Math.min(RETRY_MS, left));
        continue;
      }
      if (again) {
        since = monotonicNow();
        await h.reapply();
        again = false;
      }
      const r = await h.replicate(since, Math.min(h.storeTimeout, left));
      if (r === 'none' || r === 'confirmed') return true;
      if (r === 'lost') again = true;
    } catch {
      if (!h.replicated()) return true;
      await pause(Math.min(RETRY_MS, left));
    }
  }
  if (h.closed()) return false;
  h.report(new FailoverTimeoutError(h.limitMs));
  return false;
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(1, ms)));
}
