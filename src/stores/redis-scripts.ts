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
 * KEYS[1] a path or tag index (sorted set: writer token + entry key -> expiry in whole
 * seconds, server time, rounded up); ARGV: ttlMs, member, ttlMs, member, ... Prunes members
 * that have expired, adds the new ones, and stretches the index's TTL to its longest member:
 * PEXPIRE NX gives a brand-new set its first TTL, PEXPIRE GT only ever lengthens it
 * (Redis 7). Seconds, not ms: a listpack holds a score below 2^31 in 4 bytes, not 8. A
 * score past 1e11 (the year 5138 in seconds) is a member an older layout scored in ms: it
 * names no token and would never expire, so it goes too.
 */
export const INDEX_ADD = script(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. math.floor(now / 1000))
redis.call('ZREMRANGEBYSCORE', KEYS[1], '(100000000000', '+inf')
local longest = 1
for i = 1, #ARGV, 2 do
  local ttl = tonumber(ARGV[i])
  if ttl > longest then longest = ttl end
  redis.call('ZADD', KEYS[1], math.ceil((now + ttl) / 1000), ARGV[i + 1])
end
if redis.call('PEXPIRE', KEYS[1], longest, 'NX') == 0 then
  redis.call('PEXPIRE', KEYS[1], longest, 'GT')
end
return 1`);

/**
 * INDEX_ADD of one member to several indexes in one call, for a store whose keys share one
 * server (not a Cluster: the indexes are in different slots). KEYS the indexes; ARGV[1] the
 * ttl in ms, ARGV[2] the member. A guarded write files its entry under its path and every
 * tag: one script instead of one per index.
 */
export const INDEX_ADD_ALL = script(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[1])
local longest = ttl
if longest < 1 then longest = 1 end
for k = 1, #KEYS do
  redis.call('ZREMRANGEBYSCORE', KEYS[k], '-inf', '(' .. math.floor(now / 1000))
  redis.call('ZREMRANGEBYSCORE', KEYS[k], '(100000000000', '+inf')
  redis.call('ZADD', KEYS[k], math.ceil((now + ttl) / 1000), ARGV[2])
  if redis.call('PEXPIRE', KEYS[k], longest, 'NX') == 0 then
    redis.call('PEXPIRE', KEYS[k], longest, 'GT')
  end
end
return 1`);

/**
 * KEYS[1] an entry; ARGV[1] the writer token an index member names, or '' for any; ARGV[2]
 * how many bytes of the entry to answer. Unlinks the entry only if it still is that write
 * (bytes 2..9 of its value, pending or live); a key of another type is unlinked, counted
 * only by key. Answers 0 when it removed nothing (an entry
 * rewritten since, under other tags or another path, one that expired, or one already
 * removed through another index: so counts are exact), else the entry's token and its
 * first ARGV[2] bytes after the head (its path and tags come first), from which the store
 * removes its members from its other indexes.
 */
export const DELETE_ENTRY_HEAD = script(`
local head = redis.pcall('GETRANGE', KEYS[1], 1, 8 + tonumber(ARGV[2]))
if type(head) == 'table' then
  -- Not a string (WRONGTYPE): something else wrote at the entry's key; not an entry, gone.
  local n = redis.call('UNLINK', KEYS[1])
  if ARGV[1] ~= '' then return 0 end
  return n
end
if ARGV[1] ~= '' and string.sub(head, 1, 8) ~= ARGV[1] then return 0 end
if redis.call('UNLINK', KEYS[1]) == 0 then return 0 end
return head`);

/** KEYS[1] a lock; ARGV[1] the holder's token. Deletes the lock only if the token holds it. */
export const UNLOCK = script(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`);

/**
 * KEYS[1] an entry written pending; ARGV[1] the 8-byte token it was written with. Flips
 * the state byte to live (SETRANGE keeps the TTL) only if the entry still exists, is
 * pending and is this writer's: an invalidation or another write in between wins.
 */
export const MARK_LIVE = script(`
local head = redis.call('GETRANGE', KEYS[1], 0, 8)
if string.len(head) < 9 or string.byte(head, 1) ~= 224 or string.sub(head, 2, 9) ~= ARGV[1] then return 0 end
redis.call('SETRANGE', KEYS[1], 0, string.char(225))
return 1`);

/** KEYS[1] an entry; ARGV[1] the token of a refused pending write: drop it if still ours. */
export const DISCARD_PENDING = script(`
local head = redis.call('GETRANGE', KEYS[1], 0, 8)
if string.len(head) < 9 or string.byte(head, 1) ~= 224 or string.sub(head, 2, 9) ~= ARGV[1] then return 0 end
redis.call('UNLINK', KEYS[1])
return 1`);

/**
 * KEYS[1] an invalidation record; ARGV[1] the window in ms. Stamps it with the server's
 * time in microseconds (as a digit string: Lua would print a large number in e-notation).
 */
export const MARK_RECORD = script(`
local t = redis.call('TIME')
redis.call('SET', KEYS[1], t[1] .. string.format('%06d', tonumber(t[2])), 'PX', tonumber(ARGV[1]))
return 1`);

/** KEYS[1] an invalidation record. Answers its age in microseconds on the server's clock, or -1. */
export const RECORD_AGE = script(`
local v = redis.call('GET', KEYS[1])
if not v then return -1 end
local t = redis.call('TIME')
return (tonumber(t[1]) - tonumber(string.sub(v, 1, -7))) * 1000000 + (tonumber(t[2]) - tonumber(string.sub(v, -6)))`);

/**
 * RECORD_AGE of every record and PREFIX_AGES in one call, for a store whose keys share one
 * server (not a Cluster: the records are in different slots). KEYS[1..n-1] the records,
 * KEYS[n] the prefix records; ARGV[1] the window in ms. Answers the n-1 ages (-1: none),
 * then the prefix, age pairs. One script instead of n: a guarded write's step 2 costs the
 * server one call and the client one reply.
 */
export const RECORD_AGES = script(`
local t = redis.call('TIME')
local s, us = tonumber(t[1]), tonumber(t[2])
local out = {}
for i = 1, #KEYS - 1 do
  local v = redis.call('GET', KEYS[i])
  if v then out[i] = (s - tonumber(string.sub(v, 1, -7))) * 1000000 + (us - tonumber(string.sub(v, -6))) else out[i] = -1 end
end
local now = s * 1000000 + us
local found = redis.call('ZRANGEBYSCORE', KEYS[#KEYS], string.format('%.0f', now - tonumber(ARGV[1]) * 1000), '+inf', 'WITHSCORES')
for i = 1, #found, 2 do
  out[#out + 1] = found[i]
  out[#out + 1] = string.format('%.0f', now - tonumber(found[i + 1]))
end
return out`);

/**
 * KEYS[1] the prefix records (sorted set: prefix -> server time in µs); ARGV[1] the window
 * in ms, ARGV[2..] prefixes. Records them at the server's time and drops the expired.
 */
export const MARK_PREFIXES = script(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local window = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. string.format('%.0f', now - window * 1000))
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], string.format('%.0f', now), ARGV[i]) end
redis.call('PEXPIRE', KEYS[1], window)
return 1`);

/**
 * KEYS[1] the prefix records; ARGV[1] the window in ms. Answers prefix, age-in-µs pairs of
 * the records still in the window: ages are durations on the server's own clock.
 */
export const PREFIX_AGES = script(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local found = redis.call('ZRANGEBYSCORE', KEYS[1], string.format('%.0f', now - tonumber(ARGV[1]) * 1000), '+inf', 'WITHSCORES')
local out = {}
for i = 1, #found, 2 do
  out[#out + 1] = found[i]
  out[#out + 1] = string.format('%.0f', now - tonumber(found[i + 1]))
end
return out`);

/**
 * KEYS[1] a counter, KEYS[2] its tags (g:); ARGV[1] the integer to add, ARGV[2] the ttl in
 * ms of a new counter. INCRBY, then PEXPIRE NX: only a counter without an expiry (a new
 * one) gets one, so a window is fixed, never pushed forward by each hit. A new counter is
 * untagged: tags a lost (evicted) predecessor left are dropped, so no index member of that
 * one can reach it. A result past ±(2^53 - 1) is undone (both operands are safe integers,
 * so INCRBY itself cannot overflow, and a new counter cannot pass the bound) and answered
 * as nil: a JavaScript number would lose precision. The comparison is exact: 2^53 - 1 is a
 * double, and anything past it rounds to >= 2^53.
 */
export const COUNTER_INCREMENT = script(`
local v = redis.call('INCRBY', KEYS[1], ARGV[1])
if v > 9007199254740991 or v < -9007199254740991 then
  redis.call('DECRBY', KEYS[1], ARGV[1])
  return false
end
if redis.call('PEXPIRE', KEYS[1], ARGV[2], 'NX') == 1 then redis.call('UNLINK', KEYS[2]) end
return v`);

/**
 * A tagged increment. KEYS[1] a counter, KEYS[2] its tags; ARGV[1] the integer to add,
 * ARGV[2] the ttl in ms of a new counter, ARGV[3] '' to only add to an existing counter,
 * else the new counter's tags value (its token and tags, already filed in their indexes).
 * Answers {1, value} when it added to an existing counter (its tags untouched), {3, value}
 * when it created one, {2} when there is none and ARGV[3] is '' (nothing written), {0}
 * past ±(2^53 - 1) (nothing changed). A counter therefore never exists before its index
 * members do: the caller files them between the {2} and the call that creates.
 */
export const COUNTER_TAGGED = script(`
if redis.call('EXISTS', KEYS[1]) == 1 then
  local v = redis.call('INCRBY', KEYS[1], ARGV[1])
  if v > 9007199254740991 or v < -9007199254740991 then
    redis.call('DECRBY', KEYS[1], ARGV[1])
    return {0}
  end
  return {1, v}
end
if ARGV[3] == '' then return {2} end
local v = redis.call('INCRBY', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[2])
return {3, v}`);

/**
 * KEYS[1] a counter, KEYS[2] its tags; ARGV[1] the new ttl in ms, ARGV[2] 'check' or
 * 'apply'. Answers 0 when there is no counter. An untagged one is renewed and answers 1. A
 * tagged one answers its tags value: under 'check' unchanged (the caller stretches its
 * index members first), under 'apply' renewed with its tags (the caller stretches them
 * again: they were filed a round trip before the counter's new expiry began).
 */
export const COUNTER_EXPIRE = script(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local g = redis.call('GET', KEYS[2])
if g and ARGV[2] == 'check' then return g end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
if g then
  redis.call('PEXPIRE', KEYS[2], ARGV[1])
  return g
end
return 1`);

/**
 * KEYS[1] a counter, KEYS[2] its tags. Unlinks both; answers {1 or 0 (was there a
 * counter), its tags value or false}, so the caller can tidy its index members.
 */
export const COUNTER_DELETE = script(`
local g = redis.call('GET', KEYS[2])
local n = redis.call('UNLINK', KEYS[1])
if g then redis.call('UNLINK', KEYS[2]) end
return {n, g}`);

/**
 * Invalidation of a counter through a tag index member. KEYS[1] a counter, KEYS[2] its
 * tags; ARGV[1] the token the member names. Unlinks both only while the tags value still
 * carries that token (the counter is the one that filed the member: not one made since,
 * under other tags or none). Answers 0 when it removed no counter, else the tags value.
 */
export const DELETE_COUNTER = script(`
local g = redis.call('GET', KEYS[2])
if not g or string.sub(g, 1, 8) ~= ARGV[1] then return 0 end
redis.call('UNLINK', KEYS[2])
if redis.call('UNLINK', KEYS[1]) == 0 then return 0 end
return g`);

/** EVALSHA, falling back to EVAL when the server does not know the script yet (restart, new node). */
export async function runScript(client: Redis | Cluster, s: Script, keys: readonly string[], args: readonly string[]): Promise<unknown> {
  try {
    return await client.evalsha(s.sha, keys.length, ...keys, ...args);
  } catch (err) {
    if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
    return client.eval(s.lua, keys.length, ...keys, ...args);
  }
}

/** runScript answering bulk strings as Buffers (an entry's bytes are not UTF-8). */
export async function runScriptBuffer(client: Redis | Cluster, s: Script, keys: readonly string[], args: readonly string[]): Promise<unknown> {
  try {
    return await client.callBuffer('EVALSHA', s.sha, keys.length, ...keys, ...args);
  } catch (err) {
    if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
    return client.callBuffer('EVAL', s.lua, keys.length, ...keys, ...args);
  }
}
