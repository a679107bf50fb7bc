/**
 * The miss path of the binding: ask the core's coordinator whether to wait or to make the
 * response; a follower takes what its flight stored, a leader makes it (./leader.ts).
 */

import type { MissTurn } from '../src/coordinator';
import type { CachedResponse } from '../src/entry';
import type { Lookup } from '../src/engine';
import { varyNames } from '../src/headers';
import { variantKey } from '../src/key';
import type { RequestContext } from './context';
import { lead, type MissOptions } from './leader';

/** A miss: follow a flight already making this key (here or on another instance), or lead one. */
export function miss(ctx: RequestContext, options: MissOptions, onHit: (ctx: RequestContext, entry: CachedResponse, key: string) => void): void {
  const { engine, o, req } = ctx;
  const head = ctx.method === 'HEAD';
  // A HEAD stores nothing: it may follow a GET's flight, never lead one.
  // Hit-for-miss: a key just answered not storable makes its misses in parallel (src/hit-for-miss.ts).
  const coordinator = engine.coordinator;
  const coalesce = (head && !coordinator.running(ctx.primaryKey)) || coordinator.hitForMiss.has(ctx.primaryKey) ? false : o.coalesce;
  const since = engine.now();
  engine.coordinator
    .begin({
      key: ctx.primaryKey,
      path: engine.pathId(req.baseUrl + req.path, o),
      coalesce,
      lock: !head,
      lookup: () => {
        const l = engine.lookup(ctx.primaryKey, ctx.headers, o.storeTimeout);
        return l instanceof Promise ? l.then((x) => usable(ctx, x, since)) : usable(ctx, l, since);
      },
    })
    .then(
      (turn) => take(ctx, turn, options, onHit),
      (err) => ctx.next(err),
    );
}

/** The coordinator's answer: lead, take what a flight shared, or lead alone when it is another variant. */
function take(
  ctx: RequestContext,
  turn: MissTurn<Found>,
  options: MissOptions,
  onHit: (ctx: RequestContext, entry: CachedResponse, key: string) => void,
): void {
  if (turn.kind === 'lead') return lead(ctx, turn.lead, options);
  // A response shared as it is (the store could not take it) fits only its own variant.
  if (fits(ctx, turn.value)) return onHit(ctx, turn.value.entry, turn.value.key);
  lead(ctx, ctx.engine.coordinator.alone(), options);
}

/** Is this the variant the request would pick? */
function fits(ctx: RequestContext, found: { entry: CachedResponse; key: string }): boolean {
  if (found.key === ctx.primaryKey) return true;
  const vary = found.entry.headers.find(([n]) => n === 'vary')?.[1];
  return variantKey(ctx.primaryKey, varyNames(typeof vary === 'string' ? vary : vary?.join(', ')), ctx.headers) === found.key;
}

/** What a follower takes: a stored response and the key it was found at. */
type Found = { entry: CachedResponse; key: string };

/**
 * A follower takes what its leader stored while it is fresh, or when it was made or
 * validated by the handler since the follower arrived: a no-cache entry (RFC 9111
 * §5.2.2.4) is never fresh, yet the 304 that validated it answers its waiting requests.
 */
function usable(ctx: RequestContext, l: Lookup, since: number): Found | undefined {
  if (l.kind !== 'found') return undefined;
  return ctx.engine.freshness(l.entry) === 'fresh' || l.entry.storedAt >= since ? { entry: l.entry, key: l.key } : undefined;
}
