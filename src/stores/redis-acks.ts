/**
 * How a plain RedisStore waits for the memory tiers of other instances to apply what it
 * announces, so its invalidations give the tiers' guarantee too: when `invalidate()`
 * resolves (and a PUT is answered), no tier anywhere still serves what it matched. Without
 * it, a tier whose link to Redis was slow (the soak's slow-link fault) heard the message
 * after the PUT was answered and served its copy meanwhile.
 *
 * - **Who must acknowledge**: PUBLISH answers how many subscribers got the message, and
 *   only tiers subscribe to the channel (a plain instance does not), so that count is who
 *   owes an acknowledgement: no heartbeats and no subscription of our own. A Cluster's
 *   PUBLISH counts one node's subscribers only, so there the count is `PUBSUB NUMSUB`
 *   summed over every node, read before publishing (a tier that subscribes in between
 *   started from an empty tier and owes nothing).
 * - **How**: the message carries an id and `ack: 'set'`; a tier that applied it adds its
 *   own id to the set `<channel>:ack:<message id>` (kept 30 s), and this store reads the
 *   set's size, soon and then less often, until all have. A reply channel would need a
 *   subscription, and lose what is sent while it resubscribes; the set needs neither.
 * - **Bound**: a tier that stays silent stops serving its copies once its lease lapses (a
 *   lease and a beat after it last heard itself), so the wait ends at `ACK_BOUND_MS`, the
 *   bound of a tier with the default heartbeat, whatever answered by then.
 * - **A lost connection ends the wait** (`gone`): Redis took the message to every counted
 *   tier's connection before PUBLISH answered, so each tier gets it, or loses that
 *   connection and empties its tier. A Redis killed or failed over under the wait takes the
 *   subscriptions (and the set) with it; waiting out the bound then only held the answer
 *   3 s (the soak's kill fault caught it: a PUT answered after 3,069 ms).
 */

import type { Cluster, Redis } from 'ioredis';

/** A TieredStore's default heartbeat. */
export const DEFAULT_HEARTBEAT_MS = 500;

/** A tier that has not heard its own heartbeat for this long stops serving its copies: 4 beats. */
export function leaseOf(heartbeatMs: number): number {
  return heartbeatMs * 4;
}

/** How long an invalidation waits for a tier's acknowledgement: its lease and two beats (one of margin). */
export function acknowledgeBound(heartbeatMs: number): number {
  return leaseOf(heartbeatMs) + 2 * heartbeatMs;
}

export const ACK_BOUND_MS = acknowledgeBound(DEFAULT_HEARTBEAT_MS);

/** Acknowledgement sets outlive any wait for them. */
export const ACK_SET_TTL_MS = 30_000;

/** A message id: the announcing store's UUID and a sequence number. Nothing else names a set. */
export const ACK_ID = /^[0-9a-f-]{36}:\d{1,15}$/;

export function ackSetName(channel: string, id: string): string {
  return `${channel}:ack:${id}`;
}

/** The tiers a message published now will reach, on a Cluster (every node's subscribers). */
export async function clusterSubscribers(cluster: Cluster, channel: string): Promise<number> {
  const counts = await Promise.all(
    cluster.nodes('all').map((node) =>
      node.pubsub('NUMSUB', channel).then(
        (r) => Number(r[1] ?? 0),
        () => 0,
      ),
    ),
  );
  return counts.reduce((a, b) => a + b, 0);
}

/** Poll delays: an acknowledgement 1 ms away is seen within a few ms, a slow one within 25 ms. */
const POLL_MS = [1, 2, 4, 8, 16];
const POLL_MAX_MS = 25;

/**
 * Wait until `need` tiers have acknowledged message `id`, or `withinMs` passed, or `gone()`
 * says a connection to Redis was lost since the message went out. Answers how many had; a
 * read that fails is tried again at the next poll (the tiers may still answer), and the set
 * is dropped once the wait is over.
 */
export async function acknowledged(
  c: Redis | Cluster,
  channel: string,
  id: string,
  need: number,
  withinMs: number,
  gone: () => boolean = () => false,
): Promise<number> {
  const name = ackSetName(channel, id);
  const deadline = performance.now() + withinMs;
  let seen = 0;
  for (let n = 0; ; n++) {
    const left = deadline - performance.now();
    if (left <= 0 || gone()) break;
    await new Promise((r) => setTimeout(r, Math.min(POLL_MS[n] ?? POLL_MAX_MS, left)));
    try {
      seen = await c.scard(name);
    } catch {
      continue;
    }
    if (seen >= need) break;
  }
  c.unlink(name).catch(() => undefined);
  return seen;
}

/** A tier acknowledges a plain store's message: its id into the message's set. */
export function acknowledge(c: Redis | Cluster, channel: string, id: string, from: string): Promise<unknown> {
  const name = ackSetName(channel, id);
  return c.multi().sadd(name, from).pexpire(name, ACK_SET_TTL_MS).exec();
}
