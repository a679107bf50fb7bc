/**
 * Counters in Redis (`CacheStore.counter` of RedisStore): each is one key `c:{key}` holding
 * INCRBY's plain integer, in the counter's own hash slot, so every operation is one
 * command or one script on one slot, on a Cluster too. An untagged counter has no index:
 * `clear` SCANs (every master) for the prefix, as cache.keys() does.
 *
 * A tagged counter also has `g:{key}` (same slot, same TTL): a creation token, then its
 * tags as JSON. Each tag's index (`t:{tag}`, the entries' own) holds the member token +
 * key, and RedisStore's invalidation deletes the counter while `g:` still carries that
 * token (redis-scripts.ts DELETE_COUNTER). On a Cluster the index and the counter are in
 * different slots, so the order makes it exact: the members are filed before the counter
 * exists, and stretched before (and again after) a window is renewed, so no moment sees a
 * live tagged counter that invalidation could miss.
 */

import { randomBytes } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { COUNTER_TOKEN_MARK, indexMember, TOKEN_LENGTH, type KeyKind } from './redis-keys';
import { COUNTER_DELETE, COUNTER_EXPIRE, COUNTER_INCREMENT, COUNTER_TAGGED, INDEX_ADD, runScript } from './redis-scripts';
import type { CounterOp } from './store';

export interface RedisCounterHost {
  readonly client: Redis | Cluster;
  /** A key of the store's layout, relative to the client. */
  key(kind: KeyKind, name: string): string;
  /** Names of the counters (as the cache gave them) that start with `prefix`, literally. */
  scan(prefix: string): Promise<string[]>;
  /** Remove index members (index key → members) in the background (the store's Tidier). */
  tidy(members: ReadonlyMap<string, readonly string[]>): void;
}

/** What `g:{key}` holds: the creation token, then the tags. */
export function counterTags(value: string): { token: string; tags: string[] } | undefined {
  if (value.length < TOKEN_LENGTH) return undefined;
  try {
    const tags = JSON.parse(value.slice(TOKEN_LENGTH)) as unknown;
    if (!Array.isArray(tags) || !tags.every((t) => typeof t === 'string')) return undefined;
    return { token: value.slice(0, TOKEN_LENGTH), tags };
  } catch {
    return undefined;
  }
}

export async function redisCounter(h: RedisCounterHost, op: CounterOp): Promise<number | undefined> {
  const c = h.client;
  switch (op.op) {
    case 'increment': {
      const keys = [h.key('c', op.key), h.key('g', op.key)];
      const ttl = String(Math.max(1, Math.ceil(op.ttlMs)));
      if (!op.tags?.length) {
        const v = await runScript(c, COUNTER_INCREMENT, keys, [String(op.by), ttl]);
        return v === null ? undefined : Number(v);
      }
      return incrementTagged(h, op.key, keys, String(op.by), ttl, op.tags);
    }
    case 'get': {
      const v = await c.get(h.key('c', op.key));
      return v === null ? undefined : Number(v);
    }
    case 'expire':
      return expire(h, op.key, String(Math.max(1, Math.ceil(op.ttlMs))));
    case 'delete':
      return remove(h, op.key);
    case 'clear': {
      // One script per counter: on a Cluster they spread over slots.
      const counts = await Promise.all((await h.scan(op.prefix)).map((name) => remove(h, name)));
      return counts.reduce((a, b) => a + b, 0);
    }
  }
}

/**
 * Add to an existing counter in one round trip (its tags are fixed at creation). Only when
 * there is none: file the members, create it, and file them again, so that they cover its
 * whole window (the first filing's TTL began a round trip before the counter's).
 */
async function incrementTagged(
  h: RedisCounterHost,
  name: string,
  keys: string[],
  by: string,
  ttl: string,
  tags: readonly string[],
): Promise<number | undefined> {
  const c = h.client;
  let r = (await runScript(c, COUNTER_TAGGED, keys, [by, ttl, ''])) as number[];
  if (r[0] !== 2) return answer(r);
  const token = newCounterToken();
  const member = indexMember(token, name);
  await file(h, tags, member, ttl);
  r = (await runScript(c, COUNTER_TAGGED, keys, [by, ttl, token + JSON.stringify(tags)])) as number[];
  if (r[0] === 3) await file(h, tags, member, ttl);
  // Another increment created it meanwhile: our members name a token no counter has.
  else h.tidy(new Map(tags.map((t) => [h.key('t', t), [member]])));
  return answer(r);
}

function answer(r: readonly number[]): number | undefined {
  return r[0] === 0 ? undefined : Number(r[1]);
}

/** A new window; a tagged counter's members are stretched before it (and after: see incrementTagged). */
async function expire(h: RedisCounterHost, name: string, ttl: string): Promise<number> {
  const keys = [h.key('c', name), h.key('g', name)];
  const checked = (await runScript(h.client, COUNTER_EXPIRE, keys, [ttl, 'check'])) as number | string;
  if (typeof checked !== 'string') return Number(checked);
  const before = counterTags(checked);
  if (before) await file(h, before.tags, indexMember(before.token, name), ttl);
  const applied = (await runScript(h.client, COUNTER_EXPIRE, keys, [ttl, 'apply'])) as number | string;
  if (typeof applied !== 'string') return Number(applied);
  // Usually the tags just stretched; another counter's if it was made again in between.
  const after = counterTags(applied);
  if (after) await file(h, after.tags, indexMember(after.token, name), ttl);
  return 1;
}

/** Unlink the counter and its tags; its members go in the background. Answers 1 when there was a counter. */
async function remove(h: RedisCounterHost, name: string): Promise<number> {
  const [n, value] = (await runScript(h.client, COUNTER_DELETE, [h.key('c', name), h.key('g', name)], [])) as [number, string | null];
  const held = value === null ? undefined : counterTags(value);
  if (held) h.tidy(new Map(held.tags.map((t) => [h.key('t', t), [indexMember(held.token, name)]])));
  return Number(n);
}

/** File `member` in the index of each tag, for `ttl` ms (the entries' own script). */
async function file(h: RedisCounterHost, tags: readonly string[], member: string, ttl: string): Promise<void> {
  await Promise.all(tags.map((t) => runScript(h.client, INDEX_ADD, [h.key('t', t)], [ttl, member])));
}

/** A counter token: the mark, then 7 random base64 characters (42 bits), TOKEN_LENGTH in all. */
function newCounterToken(): string {
  return (
    COUNTER_TOKEN_MARK +
    randomBytes(6)
      .toString('base64')
      .slice(0, TOKEN_LENGTH - 1)
  );
}
