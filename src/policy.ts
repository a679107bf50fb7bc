/**
 * May this request be answered from the cache? May this response be stored? Pure
 * functions over plain `{ method, headers }` / `{ status, headers }` objects. Each answer
 * is a reason string (for debug logs) or undefined for "yes".
 */

import { parseCacheControl, type Directives } from './cache-control';

export type IncomingHeaders = Readonly<Record<string, string | string[] | undefined>>;
export type OutgoingHeaders = Readonly<Record<string, number | string | readonly string[] | undefined>>;

export interface RequestInfo {
  readonly method: string;
  readonly headers: IncomingHeaders;
}

export interface ResponseInfo {
  readonly status: number;
  readonly headers: OutgoingHeaders;
}

export interface PolicyOptions {
  readonly methods: ReadonlySet<string>;
  readonly statuses: ReadonlySet<number>;
  readonly shareAuthorized: boolean;
  readonly maxEntryBytes: number;
  /** `'ttl'`: the response's own freshness is ignored here (see statusNotStorableReason). @default 'response' */
  readonly freshness?: 'response' | 'ttl';
  /** `'explicit'`: a 5xx is stored only when it states its own freshness, `statuses` aside. @default false */
  readonly storeErrors?: false | 'explicit';
}

/** RFC 9110 §9.2.1: the methods that cannot change state on the origin. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);

export function isUnsafeMethod(method: string): boolean {
  return !SAFE_METHODS.has(method);
}

/**
 * The final statuses RFC 9110 §15 defines, whose caching rules this cache implements: what
 * `must-understand` (RFC 9111 §5.2.2.3) asks a cache to know before it stores a response.
 */
const UNDERSTOOD_STATUSES = new Set([
  200, 201, 202, 203, 204, 205, 206, 300, 301, 302, 303, 304, 305, 307, 308, 400, 401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415,
  416, 417, 421, 422, 426, 500, 501, 502, 503, 504, 505,
]);

/** Why the cache must not answer this request, or undefined when it may. */
export function requestBypassReason(req: RequestInfo, opts: PolicyOptions): string | undefined {
  if (!opts.methods.has(req.method)) return `method ${req.method} is not cached`;
  // RFC 9111 §3.5: a shared cache must not answer a request with Authorization from a
  // response stored for someone else, unless the route says its answer is shared.
  if (req.headers.authorization !== undefined && !opts.shareAuthorized) return 'request has Authorization';
  return undefined;
}

/**
 * Why this response must not be stored, or undefined when it may. `cc` is the response's
 * parsed Cache-Control (or its targeted field's, src/targeted.ts, which also says which
 * `expires` counts). Freshness (max-age=0, an Expires in the past) is judged apart, by
 * freshSeconds() in ttl.ts; no-cache is stored and revalidated on every use (engine.plan).
 */
export function responseNotStorableReason(
  req: RequestInfo,
  res: ResponseInfo,
  cc: Directives,
  opts: PolicyOptions,
  expires: string | undefined = header(res.headers.expires),
): string | undefined {
  // A HEAD answer has no body to store; the next GET fills the entry HEAD reads.
  if (req.method === 'HEAD') return 'HEAD responses carry no body';
  const explicit = opts.freshness === 'ttl' ? false : statesFreshness(cc, expires);
  const status = statusNotStorableReason(res.status, explicit, opts.statuses, opts.storeErrors);
  if (status) return status;
  // Another client must never receive this one's cookie.
  if (res.headers['set-cookie'] !== undefined) return 'response sets a cookie';
  // RFC 9111 §5.2.2.3: must-understand keeps a status this cache does not know out of it,
  // and a cache that knows the status SHOULD ignore the no-store sent beside it.
  const understood = cc.has('must-understand') ? UNDERSTOOD_STATUSES.has(res.status) : undefined;
  if (understood === false) return `must-understand, and status ${res.status} is not one this cache knows`;
  if (cc.has('no-store') && understood !== true) return 'Cache-Control: no-store'; // RFC 9111 §5.2.2.5
  if (cc.has('private')) return 'Cache-Control: private'; // RFC 9111 §5.2.2.7 (shared cache)
  if (parseCacheControl(req.headers['cache-control']).has('no-store')) return 'request Cache-Control: no-store'; // §5.2.1.5
  const vary = header(res.headers.vary);
  if (vary !== undefined && vary.split(',').some((v) => v.trim() === '*')) return 'Vary: *'; // §4.1
  const type = header(res.headers['content-type']);
  if (type !== undefined && /^\s*text\/event-stream\b/i.test(type)) return 'event stream';
  if (req.headers.authorization !== undefined) {
    // RFC 9111 §3.5: only these let a shared cache store a response to an authorized request.
    if (!cc.has('public') && !cc.has('s-maxage') && !cc.has('must-revalidate')) return 'authorized request without public, s-maxage or must-revalidate';
  }
  const length = header(res.headers['content-length']);
  if (length !== undefined && Number(length) > opts.maxEntryBytes) return `body of ${length} bytes exceeds maxEntryBytes`;
  return undefined;
}

/**
 * RFC 9111 §3: a shared cache may store any final status the response gives explicit
 * freshness to (§4.2.1: s-maxage, max-age, Expires), except 206 (a part, replayed to a
 * request for the whole would be wrong: §3.3 needs range support we do not store) and 304
 * (Express makes one from any matching conditional GET). A 5xx is a failure, kept only when
 * listed in `statuses`. Without explicit freshness `statuses` alone decides (the
 * heuristically cacheable ones of RFC 9110 §15.1, by default). `storeErrors: 'explicit'`
 * reads §3 literally for 5xx: stored when it states its freshness, never otherwise, and
 * `statuses` does not count for them (§4.2.2: no 5xx is heuristically cacheable).
 */
export function statusNotStorableReason(
  status: number,
  explicit: boolean,
  statuses: ReadonlySet<number>,
  storeErrors: false | 'explicit' = false,
): string | undefined {
  if (status === 206 || status === 304) return `status ${status} is never stored`;
  if (storeErrors === 'explicit' && status >= 500) {
    return explicit && status <= 599 ? undefined : `status ${status} is not stored without explicit freshness (storeErrors: 'explicit')`;
  }
  if (statuses.has(status)) return undefined;
  if (explicit && status >= 200 && status <= 499) return undefined;
  return explicit ? `status ${status} is not stored (a 5xx only when listed in statuses)` : `status ${status} is not stored without explicit freshness`;
}

/** True when the response states its own freshness lifetime (RFC 9111 §4.2.1). */
export function statesFreshness(cc: Directives, expires: string | undefined): boolean {
  return cc.has('s-maxage') || cc.has('max-age') || expires !== undefined;
}

/**
 * True when a stored response must not be served stale without revalidation:
 * must-revalidate (RFC 9111 §5.2.2.2), proxy-revalidate (§5.2.2.8, shared caches), no-cache
 * (§5.2.2.4: not even fresh). §4.2.4: such a response's stale windows are zero.
 */
export function mustRevalidate(cc: Directives): boolean {
  return cc.has('must-revalidate') || cc.has('proxy-revalidate') || cc.has('no-cache');
}

/** A header as one string (lists joined with ', '), or undefined. */
export function header(v: number | string | readonly string[] | undefined): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return String(v);
  return v.join(', ');
}
