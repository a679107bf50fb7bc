/**
 * Which headers a stored response keeps, and which a 304 carries.
 */

import type { HeaderValue, StoredHeader } from './entry';

/**
 * RFC 9110 §7.6.1 hop-by-hop fields, plus what the cache computes again on every answer.
 * A Date the handler set is kept (RFC 9110 §6.6.1: the time the origin made it).
 */
const NOT_STORED = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'content-length',
  'age',
]);

/** RFC 9110 §15.4.5: what a 304 sends of the stored response (Last-Modified is not needed: every entry has an ETag). */
export const NOT_MODIFIED_HEADERS = new Set(['cache-control', 'content-location', 'date', 'etag', 'expires', 'vary']);

/**
 * The headers worth replaying: not hop-by-hop, not `Proxy-*`, not named by `Connection`
 * (RFC 9110 §7.6.1), and not the cache's own diagnostic header. `rawNames`: the names as
 * they were set (`res.getRawHeaderNames()`), so a hit spells each as the miss sent it;
 * without them the lower-case name is the spelling.
 */
export function storableHeaders(
  headers: Readonly<Record<string, number | string | readonly string[] | undefined>>,
  xCache: string | false,
  rawNames?: readonly string[],
): StoredHeader[] {
  const connection = headers.connection;
  // Handlers rarely set Connection: no Set of the names it lists is built then.
  const named =
    connection === undefined
      ? undefined
      : new Set(
          (Array.isArray(connection) ? connection.join(',') : String(connection))
            .split(',')
            .map((s) => s.trim().toLowerCase())
            .filter(Boolean),
        );
  const own = xCache ? xCache.toLowerCase() : undefined;
  const spellings = rawNames === undefined ? undefined : spellingsOf(rawNames);
  const out: StoredHeader[] = [];
  for (const name of Object.keys(headers)) {
    const value = headers[name];
    if (value === undefined) continue;
    const lower = name.toLowerCase();
    if (NOT_STORED.has(lower) || lower.startsWith('proxy-') || named?.has(lower) || lower === own) continue;
    out.push(
      storedHeader(lower, typeof value === 'number' ? String(value) : Array.isArray(value) ? [...value] : (value as string), spellings?.get(lower) ?? lower),
    );
  }
  return out;
}

/** A stored header, with its spelling only when that is not the lower-case name (src/entry.ts). */
export function storedHeader(name: string, value: HeaderValue, spelled: string): StoredHeader {
  return spelled === name ? [name, value] : [name, value, spelled];
}

/** Lower-case name -> the name as set (Node keeps the spelling of the last setHeader). */
function spellingsOf(rawNames: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const raw of rawNames) out.set(raw.toLowerCase(), raw);
  return out;
}

let dateSecond = NaN;
let dateText = '';
const dates = new Map<number, string>();

/**
 * `ms` as an IMF-fixdate (RFC 9110 §5.6.7), remembered per second: formatting a Date costs
 * a miss more than building the rest of its entry, and the entry codec formats the Date it
 * keeps as one byte back on every Redis hit (src/entry.ts). The last second is checked
 * first (every miss of that second); the rest are bounded, cleared when full.
 */
export function httpDate(ms: number): string {
  const second = Math.floor(ms / 1000);
  if (second === dateSecond) return dateText;
  let text = dates.get(second);
  if (text === undefined) {
    if (dates.size >= 1024) dates.clear();
    text = new Date(second * 1000).toUTCString();
    dates.set(second, text);
  }
  dateSecond = second;
  dateText = text;
  return text;
}

/** The request header names a `Vary` value lists: lower-case, de-duplicated, sorted (RFC 9110 §12.5.5). */
export function varyNames(vary: string | readonly string[] | undefined): string[] {
  if (vary === undefined) return [];
  const text = typeof vary === 'string' ? vary : vary.join(',');
  const names = text
    .split(',')
    .map((v) => v.trim().toLowerCase())
    .filter(Boolean);
  return [...new Set(names)].sort();
}

type OutgoingValue = number | string | readonly string[] | undefined;

/**
 * Never taken from a 304 into the stored response (RFC 9111 §3.2): Content-Length (the
 * stored body's length stands), fields that describe the stored bytes (Content-Encoding,
 * Content-Range, Transfer-Encoding), hop-by-hop fields, Set-Cookie (one client's) and
 * Cache-Status (RFC 9211: it describes one exchange, not the stored response).
 */
const NOT_FRESHENED = new Set([...NOT_STORED, 'content-encoding', 'content-range', 'set-cookie', 'cache-status']);

/**
 * RFC 9111 §4.3.4, freshening a stored response upon validation: every field the 304
 * carries replaces all instances of that field in the stored response (the §3.2
 * exceptions aside), spelled as the 304 spelled it (`rawNames`, as storableHeaders); the
 * other stored fields stay, in their order and spelling. New fields go last.
 * Returns a new list; `stored` is not changed.
 */
export function freshenHeaders(
  stored: ReadonlyArray<Readonly<StoredHeader>>,
  from304: Readonly<Record<string, OutgoingValue>>,
  xCache: string | false = false,
  rawNames?: readonly string[],
): StoredHeader[] {
  const update = new Map<string, StoredHeader>();
  for (const header of storableHeaders(from304, xCache, rawNames)) if (!NOT_FRESHENED.has(header[0])) update.set(header[0], header);
  const out: StoredHeader[] = [];
  for (const [name, value, spelled = name] of stored) {
    const next = update.get(name);
    if (next === undefined) out.push(storedHeader(name, Array.isArray(value) ? [...value] : value, spelled));
    else if (!out.some(([n]) => n === name)) out.push(next);
  }
  for (const [name, header] of update) if (!out.some(([n]) => n === name)) out.push(header);
  return out;
}

/**
 * The validators a revalidation sends for a stored response (RFC 9111 §4.3.1): its entity
 * tag (every entry has one) and, when it has one, its Last-Modified date.
 */
export function conditionalHeadersFor(entry: { readonly etag: string; readonly lastModified?: string | undefined }): {
  'if-none-match'?: string;
  'if-modified-since'?: string;
} {
  const out: { 'if-none-match'?: string; 'if-modified-since'?: string } = {};
  if (entry.etag) out['if-none-match'] = entry.etag;
  if (entry.lastModified) out['if-modified-since'] = entry.lastModified;
  return out;
}

/** Most tags one response header adds, and the longest tag kept: a handler bug must not grow the indexes without bound. */
export const MAX_HEADER_TAGS = 64;
export const MAX_TAG_LENGTH = 256;

/**
 * The tags a response gives itself in `tagHeader` (`Cache-Tag: a, b`, the surrogate-key
 * convention of CDNs): a comma list, trimmed, empties and duplicates dropped, at most
 * MAX_HEADER_TAGS tags of at most MAX_TAG_LENGTH characters (longer ones are dropped).
 * `headers` as `res.getHeaders()` gives them (lower-case names).
 */
export function responseTags(headers: Readonly<Record<string, OutgoingValue>>, tagHeader: string | false): string[] {
  if (!tagHeader) return [];
  const value = headers[tagHeader.toLowerCase()];
  if (value === undefined) return [];
  const text = Array.isArray(value) ? value.join(',') : String(value);
  const out = new Set<string>();
  for (const part of text.split(',')) {
    const tag = part.trim();
    if (!tag || tag.length > MAX_TAG_LENGTH) continue;
    out.add(tag);
    if (out.size >= MAX_HEADER_TAGS) break;
  }
  return [...out];
}

/**
 * `existing` Vary with `names` added (RFC 9110 §12.5.5: a list of request header names,
 * case-insensitive), or undefined when nothing needs adding (all there, or `*`). `names`
 * are lower-case; `spelled`, index for index, how to write them (the `vary` option's own
 * spelling), else `X-Tenant` for `x-tenant`.
 */
export function mergeVary(existing: OutgoingValue, names: readonly string[], spelled?: readonly string[]): string | undefined {
  if (names.length === 0) return undefined;
  const text = existing === undefined ? '' : Array.isArray(existing) ? existing.join(', ') : String(existing);
  const have = text
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean);
  const lower = new Set(have.map((v) => v.toLowerCase()));
  if (lower.has('*')) return undefined;
  const missing: string[] = [];
  for (let i = 0; i < names.length; i++) if (!lower.has(names[i].toLowerCase())) missing.push(spelled?.[i] ?? displayName(names[i]));
  if (missing.length === 0) return undefined;
  return [...have, ...missing].join(', ');
}

/** `x-tenant` as `X-Tenant`: how header names are usually written in Vary. */
function displayName(name: string): string {
  return name.replace(/(^|-)([a-z])/g, (_m, dash: string, c: string) => dash + c.toUpperCase());
}
