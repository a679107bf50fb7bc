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
}

/** RFC 9110 §9.2.1: the methods that cannot change state on the origin. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);

export function isUnsafeMethod(method: string): boolean {
  return !SAFE_METHODS.has(method);
}

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
 * parsed Cache-Control. Freshness (max-age=0, an Expires in the past) is judged apart,
 * by freshSeconds() in ttl.ts.
 */
export function responseNotStorableReason(req: RequestInfo, res: ResponseInfo, cc: Directives, opts: PolicyOptions): string | undefined {
  // A HEAD answer has no body to store; the next GET fills the entry HEAD reads.
  if (req.method === 'HEAD') return 'HEAD responses carry no body';
  if (!opts.statuses.has(res.status)) return `status ${res.status} is not stored`;
  // Another client must never receive this one's cookie.
  if (res.headers['set-cookie'] !== undefined) return 'response sets a cookie';
  if (cc.has('no-store')) return 'Cache-Control: no-store'; // RFC 9111 §5.2.2.5
  if (cc.has('private')) return 'Cache-Control: private'; // RFC 9111 §5.2.2.7 (shared cache)
  // RFC 9111 §5.2.2.4: no-cache means revalidate on every use; we do not revalidate, so we do not store.
  if (cc.has('no-cache')) return 'Cache-Control: no-cache';
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

/** A header as one string (lists joined with ', '), or undefined. */
export function header(v: number | string | readonly string[] | undefined): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return String(v);
  return v.join(', ');
}
