/**
 * Lua scripts RedisStore runs, and EVALSHA with an EVAL fallback. Each script touches keys
 * of one hash slot only (see redis-keys.ts), so each runs on a Cluster too.
 */

import { createHash } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';

export interface Script {
  readonly lua: string;
  readonly sha: string;
}

function script(lua: string): Script {
  return { lua, sha: createHash('sha1').update(lua).digest('hex') };
}

/**
 * KEYS[1] a path or tag index (sorted set: entry key -> expiry, server time in ms);
 * ARGV: ttlMs, key, ttlMs, key, ... Prunes members that have expired, adds the keys, and
 * stretches the index's TTL to its longest member: PEXPIRE NX gives a brand-new set its
 * first TTL, PEXPIRE GT only ever lengthens it (Redis 7).
 */
export const INDEX_ADD = script(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. now)
local longest = 1
for i = 1, #ARGV, 2 do
  local ttl = tonumber(ARGV[i])
  if ttl > longest then longest = ttl end
  redis.call('ZADD', KEYS[1], now + ttl, ARGV[i + 1])
end
if redis.call('PEXPIRE', KEYS[1], longest, 'NX') == 0 then
  redis.call('PEXPIRE', KEYS[1], longest, 'GT')
end
return 1`);

/**
 * KEYS[1] an entry, KEYS[2] its index record; ARGV[1] the record member ('p' + path or
 * 't' + tag) the entry must still be filed under, or '' for any. Answers 1 when the entry
 * existed and was removed, else 0, so counts are exact.
 */
export const DELETE_ENTRY = script(`
if ARGV[1] ~= '' and redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 0 then return 0 end
redis.call('UNLINK', KEYS[2])
return redis.call('UNLINK', KEYS[1])`);

/** KEYS[1] a lock; ARGV[1] the holder's token. Deletes the lock only if the token holds it. */
export const UNLOCK = script(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`);

/** EVALSHA, falling back to EVAL when the server does not know the script yet (restart, new node). */
export async function runScript(client: Redis | Cluster, s: Script, keys: readonly string[], args: readonly string[]): Promise<unknown> {
  try {
    return await client.evalsha(s.sha, keys.length, ...keys, ...args);
  } catch (err) {
    if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
    return client.eval(s.lua, keys.length, ...keys, ...args);
  }
}
