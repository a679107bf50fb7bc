/**
 * Redis key layout for RedisStore. Pure functions, no I/O.
 *
 * Every key the store writes is `base + kind + ':{' + escapeName(name) + '}'`, where `base`
 * is the store's `keyPrefix` (ioredis adds the client's own `keyPrefix` in front of that),
 * `kind` is one letter and `name` is what the cache gave (an entry key, a path or a tag):
 *
 *   e:{key}   the entry bytes (SET … PX), behind a state byte and the writer's 8-byte token
 *   p:{path}  path index: writes of entries with this exact path (a sorted set: member =
 *             writer token + entry key, score = expiry in whole seconds)
 *   t:{tag}   tag index: writes of entries carrying this tag (likewise)
 *   l:{key}   single-flight lock
 *   c:{key}   a counter (cache.counters()): a plain integer string, INCRBY's own format
 *   g:{key}   a tagged counter's tags: its creation token, then the tags as JSON, with
 *             the counter's TTL; in the counter's slot (the same hash tag)
 *
 * Why this shape:
 * - No collisions: the kind letter sets each key type apart, and `escapeName` is
 *   injective, so no entry key, path or tag (whatever characters it holds) can produce
 *   another key's name.
 * - Cluster slots: `escapeName` leaves no `{` or `}` in the name, so the hash tag is exactly
 *   the escaped name: every key of one entry (`e:{k}`, `l:{k}`) sits in the entry's slot,
 *   while different entries spread over the cluster. No entry script touches two keys; a
 *   counter script touches the counter's `c:{k}` and `g:{k}`, one slot.
 * - Prefix search: escaping is character by character, so `escapeChars(prefix)` is a prefix
 *   of `escapeName(path)` exactly when `prefix` is a prefix of `path`, and SCAN can match
 *   path indexes with `p:{<escaped prefix>*}` (glob characters escaped too).
 */

/** e entry, p path index, t tag index, l lock, r invalidation record, x prefix records, c counter, g counter tags. */
export type KeyKind = 'e' | 'p' | 't' | 'l' | 'r' | 'x' | 'c' | 'g';

const ESCAPES: Record<string, string> = { '%': '%25', '{': '%7B', '}': '%7D' };
const UNESCAPES: Record<string, string> = { '%25': '%', '%7B': '{', '%7D': '}' };

/** Escape `%`, `{`, `}` as `%25`, `%7B`, `%7D`; every other character is kept. */
export function escapeChars(s: string): string {
  return s.replace(/[%{}]/g, (c) => ESCAPES[c]!);
}

/**
 * The name inside the braces: `escapeChars(name)`, and `%` for the empty name (an empty
 * hash tag `{}` would make Redis hash the whole key, splitting `e:` from `l:`). A lone `%`
 * is never produced by `escapeChars`, so this stays injective.
 */
export function escapeName(name: string): string {
  return name === '' ? '%' : escapeChars(name);
}

/** Inverse of `escapeName`. */
export function unescapeName(escaped: string): string {
  return escaped === '%' ? '' : escaped.replace(/%(?:25|7B|7D)/g, (e) => UNESCAPES[e]!);
}

/** The key of kind `kind` for `name`, relative to the client (without the client's keyPrefix). */
export function redisKey(base: string, kind: KeyKind, name: string): string {
  return `${base}${kind}:{${escapeName(name)}}`;
}

/**
 * Recover the name from a key of the given kind; `undefined` when `key` is not one.
 * `key` is relative to the same base as `redisKey` (strip the client's prefix first).
 */
export function parseRedisKey(base: string, kind: KeyKind, key: string): string | undefined {
  const head = `${base}${kind}:{`;
  if (!key.startsWith(head) || !key.endsWith('}')) return undefined;
  const inner = key.slice(head.length, -1);
  if (inner.includes('{') || inner.includes('}')) return undefined;
  return unescapeName(inner);
}

/** Escape Redis glob characters (`* ? [ ] \`) so a SCAN MATCH pattern matches `s` literally. */
export function escapeGlob(s: string): string {
  return s.replace(/[*?[\]\\]/g, '\\$&');
}

/**
 * SCAN MATCH pattern for every path index whose path starts with `prefix`, literally.
 * `fullBase` is the client's keyPrefix + the store's base: ioredis does not prefix MATCH.
 */
export function pathIndexPattern(fullBase: string, prefix: string): string {
  return `${escapeGlob(`${fullBase}p:{${escapeChars(prefix)}`)}*}`;
}

/**
 * Whether keys built on `base` keep the keys of one entry (`e:{k}`, `l:{k}`) in one Cluster
 * slot. No script needs that now that the index record is gone, but the store still refuses
 * such a base, so a layout can rely on it again without breaking deployments. Redis hashes
 * the text between the first `{` and the first `}` after it (the whole key when that text
 * is empty or unclosed). A base with no `{` is safe (our braces decide); a base whose
 * first `{` is closed with something in between is safe too (every key lands in that one
 * slot, which is what such a prefix asks for). An unclosed `{` or an empty `{}` is not.
 */
export function isHashTagSafe(base: string): boolean {
  const open = base.indexOf('{');
  if (open === -1) return true;
  const close = base.indexOf('}', open + 1);
  return close > open + 1;
}

/** Length of the writer token that starts every `e:` value (after the state byte) and every index member. */
export const TOKEN_LENGTH = 8;

/**
 * An index member: the token of the write that filed it, then the entry key. Invalidation
 * deletes the entry only while its value still carries that token, so a member left by an
 * older write of the key (other tags, another path) reaches nothing.
 */
export function indexMember(token: string, key: string): string {
  return token + key;
}

/** Inverse of `indexMember`; `undefined` for a member too short to hold a token. */
export function parseIndexMember(member: string): { token: string; key: string } | undefined {
  if (member.length < TOKEN_LENGTH) return undefined;
  return { token: member.slice(0, TOKEN_LENGTH), key: member.slice(TOKEN_LENGTH) };
}

/**
 * A tagged counter's token starts with this: no entry token can (they are base64), so a
 * tag index member names a counter (`c:{key}`) exactly when its token does.
 */
export const COUNTER_TOKEN_MARK = '#';

export function isCounterToken(token: string): boolean {
  return token.startsWith(COUNTER_TOKEN_MARK);
}
