/**
 * Cache keys: pure functions of the request's method, scheme, host, path, query and headers.
 *
 *   prefix:version:namespace:GET:https://shop.example/path?a=1&b=2|accept-language=fr
 *   prefix:version:namespace:GET:/path?a=1                   (host: false)
 *   prefix:version:namespace:k:<custom, percent-encoded>      (the key option)
 *
 * Every request-supplied part is percent-encoded so that none of the separators
 * (`:` after the method and the scheme, `/` after the host, `?`, `&`, `=`, `|`, `#`) can
 * appear inside it, and two spellings the app sees apart never share one: no input can
 * make two different requests share a key, or a key leave its namespace.
 */

import { createHash } from 'node:crypto';
import { foldVaryValue } from './encoding';
import type { QueryOption } from './types';

export const MAX_KEY_BYTES = 200;
const HEAD_CHARS = 150;

export interface CacheKeyParts {
  /** `prefix:version:namespace:`; default 'cache:v1:http:'. */
  keyPrefix?: string;
  method: string;
  /**
   * The host the app sees (`req.hostname`), or null when the request named none.
   * Omitted (undefined): the key has no host part (`host: false`).
   */
  host?: string | null;
  /**
   * The scheme the app sees (`req.protocol`), part of the key with the host; default 'http'.
   * Ignored when `host` is undefined.
   */
  scheme?: string;
  /** The path as sent (`req.baseUrl + req.path`), without the query. */
  path: string;
  /** The raw query string, without the leading `?`. */
  query?: string;
  /** Request headers, lower-case names (Node's `req.headers`). */
  headers?: Readonly<Record<string, string | string[] | undefined>>;
  /** Request header names part of the key, lower-case. */
  vary?: readonly string[];
  /** Which query names are kept; default all. */
  queryFilter?: NameFilter;
}

export type NameFilter = (name: string) => boolean;

/** The key the middleware builds: method class (HEAD reads GET's), scheme and host, path, sorted query, vary headers. */
export function buildCacheKey(parts: CacheKeyParts): string {
  const method = parts.method.toUpperCase();
  let key = `${parts.keyPrefix ?? 'cache:v1:http:'}${method === 'HEAD' ? 'GET' : method}:`;
  if (parts.host !== undefined) key += keyScheme(parts.scheme ?? 'http') + '://' + keyHost(parts.host);
  key += keyPath(parts.path);
  const query = canonicalQuery(parts.query ?? '', parts.queryFilter);
  if (query) key += '?' + query;
  if (parts.vary && parts.vary.length > 0) key += '|' + varyPart(parts.vary, parts.headers ?? {});
  return shortenKey(key);
}

/** The key of one variant of a response that said `Vary: names` (RFC 9111 §4.1). */
export function variantKey(primaryKey: string, names: readonly string[], headers: Readonly<Record<string, string | string[] | undefined>>): string {
  return shortenKey(`${primaryKey}|v|${varyPart(names, headers)}`);
}

/**
 * A custom key (the `key` option's output) inside the namespace: `k:` then the output
 * percent-encoded, so it holds none of `:`, `?`, `|`, `#`, `%` raw. A built key's method
 * class is upper-case and a hashed key ends in `#`, so no output can meet either.
 */
export function customKey(keyPrefix: string, custom: string): string {
  return shortenKey(`${keyPrefix}k:${encodeURIComponent(toWellFormed(custom))}`);
}

/**
 * The host as it appears in a key: lower-cased (RFC 9110 §4.2.3: the host is
 * case-insensitive), every character outside a-z, 0-9, `.` and `-` percent-encoded (the
 * port's `:`, an IPv6 literal's brackets, anything hostile), so it cannot hold a key's
 * separators. No host (null or empty) is the empty string, which no real host encodes to.
 */
export function keyHost(host: string | null | undefined): string {
  if (!host) return '';
  const lower = host.toLowerCase();
  if (/^[a-z0-9.-]+$/.test(lower)) return lower;
  return encodeOutsideOf(/^[a-z0-9.-]$/, lower);
}

/**
 * The scheme as it appears in a key: lower-cased (RFC 3986 §3.1: schemes are
 * case-insensitive), every character outside a-z, 0-9, `+`, `.` and `-` percent-encoded,
 * `%` included: a hostile `X-Forwarded-Proto` (`javascript:alert(1)//`) holds no `:` or `/`
 * and no escape another value could spell.
 */
export function keyScheme(scheme: string): string {
  if (scheme === 'http' || scheme === 'https') return scheme;
  return encodeOutsideOf(/^[a-z0-9+.-]$/, scheme.toLowerCase());
}

/** Each character outside `safe` as percent-encoded UTF-8 (`!'()*` too, which encodeURIComponent keeps). */
function encodeOutsideOf(safe: RegExp, s: string): string {
  let out = '';
  for (const ch of toWellFormed(s)) {
    if (safe.test(ch)) out += ch;
    else out += encodeURIComponent(ch).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
  }
  return out;
}

/** Lone surrogates replaced by U+FFFD, so encodeURIComponent cannot throw. */
function toWellFormed(s: string): string {
  return s.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
}

/** Keys over MAX_KEY_BYTES keep a readable head and end in a hash of the whole key. */
export function shortenKey(key: string): string {
  if (key.length <= MAX_KEY_BYTES && Buffer.byteLength(key) <= MAX_KEY_BYTES) return key;
  let head = key.slice(0, HEAD_CHARS);
  const last = head.charCodeAt(head.length - 1);
  if (last >= 0xd800 && last <= 0xdbff) head = head.slice(0, -1); // don't split a surrogate pair
  // '#' never appears in a built key (it is percent-encoded everywhere), so no short key ends like this.
  return `${head}#${createHash('sha256').update(key).digest('base64url').slice(0, 32)}`;
}

// RFC 3986 pchar and '/': unreserved, sub-delims, ':', '@', and '%' of a pct-encoding. Minus '|'.
const PATH_SAFE = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*$/;

/**
 * The path as it appears in a built key: exactly as sent (`req.path`), hex case included,
 * when it starts with `/` and holds only RFC 3986 pchar characters (what browsers send).
 * Any other path is marked with a leading `*` and spelled injectively: `%` as `%25`, every
 * character outside pchar percent-encoded (UTF-8). So `/a|b`, `/a%7Cb` and `/a%7cb` are
 * three keys, as they are three `req.path`s to the app: a handler that reflects the path
 * or `req.originalUrl` never gets one client's raw `"><svg>` served for another's
 * `%22%3E%3Csvg%3E`, and a route Express matches against the raw path (a literal `/a` does
 * not match `/%61`) never fills another spelling's entry. No host in a key starts with
 * `*` or `/` (both are encoded there), so with `host: false` no path can pose as a host.
 */
function keyPath(path: string): string {
  if (path.charCodeAt(0) === 0x2f && PATH_SAFE.test(path)) return path;
  let out = '*';
  for (const ch of path) {
    if (ch === '%') out += '%25';
    else if (PATH_CHAR.test(ch)) out += ch;
    else if (ch.length === 1 && ch >= '\uD800' && ch <= '\uDFFF')
      out += '%EF%BF%BD'; // lone surrogate (never from the wire: Node reads the target as latin1): U+FFFD
    else out += encodeURIComponent(ch);
  }
  return out;
}

/**
 * The path as invalidation knows it (index paths and prefixes): as in a key, and also with
 * escapes of unreserved characters decoded (RFC 3986 §6.2.2.2: ALPHA / DIGIT / "-" / "." /
 * "_" / "~"), so a PUT to `/products/42` reaches the entry of `/products/%34%32`.
 */
export function normalizePath(path: string): string {
  const out = upperHex(PATH_SAFE.test(path) ? path : encodeOutside(path));
  return out.includes('%')
    ? out.replace(/%(4[1-9A-F]|5[0-9A]|6[1-9A-F]|7[0-9A]|3[0-9]|2D|2E|5F|7E)/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)))
    : out;
}

function upperHex(path: string): string {
  return path.includes('%') ? path.replace(/%([0-9a-fA-F]{2})/g, (_m, hex: string) => '%' + hex.toUpperCase()) : path;
}

function encodeOutside(path: string): string {
  let out = '';
  for (const ch of path) {
    if (PATH_CHAR.test(ch)) out += ch;
    else if (ch.length === 1 && ch >= '\uD800' && ch <= '\uDFFF')
      out += '%EF%BF%BD'; // lone surrogate: U+FFFD
    else out += encodeURIComponent(ch);
  }
  return out;
}
const PATH_CHAR = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/%]$/;

/**
 * The path as the invalidation index knows it: normalised (above), lower-cased, with no trailing
 * slash. Express routes `/Products/` and `/products` to one handler by default, so one
 * `invalidate({ paths: ['/products'] })` drops them all; over-invalidating is safe.
 */
export function indexPath(path: string): string {
  let p = normalizePath(path).toLowerCase();
  while (p.length > 1 && p.endsWith('/')) p = p.slice(0, -1);
  return p;
}

/** Both Express parsers read the first 1000 parameters only (qs's parameterLimit, querystring's maxKeys). */
const PARAMETER_LIMIT = 1000;

/**
 * Query parameters sorted by (decoded) base name, the one qs files a parameter under, each
 * base name's parameters kept in their order, every name and value re-encoded with
 * encodeURIComponent. `a` and `a=` are the same parameter, as every query parser reads them.
 * Independent of Express's query parser, and never coarser than one: two queries share a
 * key only when Express 4's qs and Express 5's querystring and qs read them alike.
 *
 * - qs merges `a[]=1&a=2` into `[1, 2]` and `a=2&a[]=1` into `[2, 1]`, so parameters of one
 *   base name keep their order (sorting by the whole name would put `a` before `a[]`).
 * - A part qs splits elsewhere than at its first `=` (`a[b=c]=d`: qs's name is `a[b=c]`,
 *   querystring's `a[b`; its value is kept raw), a name that does not decode, or one whose
 *   brackets qs versions read apart (`a[b` is `a[b` to qs 6.13, `a` to 6.16): such a part
 *   is never filtered out, and the query keeps its order.
 * - Past 1000 parts the parsers drop the rest, so which ones count depends on the order:
 *   such a query is keyed as sent, behind a `&` no canonical query starts with.
 */
export function canonicalQuery(raw: string, filter?: NameFilter): string {
  if (!raw) return '';
  const parts = raw.split('&');
  if (parts.length > PARAMETER_LIMIT) return '&' + encodeURIComponent(toWellFormed(raw));
  // [base name to sort by, name in the key, value in the key]
  const params: Array<[string, string, string]> = [];
  let ordered = false;
  for (const part of parts) {
    if (!part) continue;
    const eq = part.indexOf('=');
    const rawName = eq === -1 ? part : part.slice(0, eq);
    const decoded = decodeComponent(rawName);
    const elsewhere = splitsElsewhere(part, eq);
    if (decoded === undefined || elsewhere || !plainBrackets(decoded)) ordered = true;
    else if (filter && !filter(decoded)) continue;
    const rawValue = eq === -1 ? '' : part.slice(eq + 1);
    const value = elsewhere ? '%%' + encodeURIComponent(toWellFormed(rawValue)) : keyComponent(rawValue);
    params.push([decoded === undefined ? '' : baseName(decoded), keyComponent(rawName, decoded), value]);
  }
  if (params.length === 0) return '';
  // stable: a base name's parameters keep their order
  if (params.length > 1 && !ordered) params.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  let out = '';
  for (const [, name, value] of params) out += (out ? '&' : '') + name + '=' + value;
  return out;
}

/** A name every qs version files under one base name: `name`, `name[x][]`, `[name][x]`. */
function plainBrackets(name: string): boolean {
  return !name.includes('[') || /^(?:[^[]+|\[[^[\]]*\])(?:\[[^[\]]*\])*$/.test(name);
}

/** qs splits `name]=value` at the first `]=` (after reading `%5B` / `%5D` as brackets), not at the first `=`. */
function splitsElsewhere(part: string, eq: number): boolean {
  if (eq === -1 || !/\]|%5d/i.test(part)) return false;
  const brackets = part.replace(/%5B/gi, '[').replace(/%5D/gi, ']');
  const at = brackets.indexOf(']=');
  return at !== -1 && at + 1 !== brackets.indexOf('=');
}

/**
 * A query component as it appears in a key: decoded and re-encoded, so equivalent
 * spellings meet. One that does not decode keeps its raw bytes behind a `%%` mark (which
 * no re-encoded component can start with): parsers read `%zz%41` as `%zzA`, or as
 * `%zz%41`, never as the valid `%25zz%2541`, so the two must not share a key.
 */
function keyComponent(raw: string, decoded = decodeComponent(raw)): string {
  return decoded === undefined ? '%%' + encodeURIComponent(raw) : encodeURIComponent(decoded);
}

/**
 * `ignore` / `only` lists of names, each exact or ending in `*` for a prefix (`utm_*`).
 * A name matches by itself or by its base name, the one qs (Express 4's default parser,
 * Express 5's `extended`) files it under: `page[]`, `page[0]`, `page[x][y]` and `[page]`
 * are all `page` to it, so none of them may slip past `only: ['page']`.
 */
export function compileNameFilter(option: QueryOption): NameFilter {
  const list = 'only' in option ? option.only : option.ignore;
  const exact = new Set(list.filter((n) => !n.endsWith('*')));
  const prefixes = list.filter((n) => n.endsWith('*')).map((n) => n.slice(0, -1));
  const one = (name: string): boolean => exact.has(name) || prefixes.some((p) => name.startsWith(p));
  const matches = (name: string): boolean => {
    if (one(name)) return true;
    const base = baseName(name);
    return base !== name && one(base);
  };
  return 'only' in option ? matches : (name) => !matches(name);
}

/**
 * The name qs reads a parameter as: the part before the first `[…]` group (without nested
 * brackets), or that group's content when nothing comes before it (qs's parseKeys).
 */
export function baseName(name: string): string {
  const group = /\[[^[\]]*\]/.exec(name);
  if (!group) return name;
  return group.index > 0 ? name.slice(0, group.index) : group[0].slice(1, -1);
}

/** `name=value&…` for the given header names; an absent header has no `=`, unlike an empty one. */
function varyPart(names: readonly string[], headers: Readonly<Record<string, string | string[] | undefined>>): string {
  let out = '';
  for (const name of names) {
    // Own properties only: a header named `constructor` must not read Object.prototype's.
    // Accept-Encoding is keyed by the coding it selects (src/encoding.ts, RFC 9111 §4.1).
    const raw = foldVaryValue(name, Object.hasOwn(headers, name) ? headers[name] : undefined);
    out += (out ? '&' : '') + encodeURIComponent(name);
    if (raw === undefined) continue;
    // RFC 9111 §4.1: values may be normalised where semantics are identical (whitespace, line folding).
    const value = (Array.isArray(raw) ? raw.join(', ') : raw).replace(/\s+/g, ' ').trim();
    out += '=' + encodeURIComponent(value);
  }
  return out;
}

/** `+` as space, then percent-decoded; undefined when the escapes are malformed. */
function decodeComponent(s: string): string | undefined {
  const plus = s.includes('+') ? s.replace(/\+/g, ' ') : s;
  if (!plus.includes('%')) return plus;
  try {
    return decodeURIComponent(plus);
  } catch {
    return undefined;
  }
}
