/**
 * Answer a request from a stored response: the whole response, a 304 when the client's
 * copy is current, or a part of the body for a Range request. Headers earlier middleware
 * set for this request (CORS, say) stay; the stored ones are what the handler set.
 *
 * Order of preconditions (RFC 9110 §13.2.2): If-None-Match / If-Modified-Since first (a
 * 304, for 2xx entries only), then If-Range and Range (a 206 or 416), else the whole 200.
 */

import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import { appendCacheStatus, cacheStatusMember, remainingTtl, type CacheStatusMember, type Forward } from '../src/cache-status';
import { isNotModified } from '../src/conditional';
import type { CachedResponse } from '../src/entry';
import { mergeVary, NOT_MODIFIED_HEADERS } from '../src/headers';
import type { ResolvedOptions } from '../src/options';
import { rangeFor } from '../src/range';
import { currentAge } from '../src/ttl';
import type { CacheStatus } from '../src/types';

type Options = ResolvedOptions<never, never> | ResolvedOptions<unknown, unknown>;

/** A 416 keeps only these of the stored fields: it describes no content. */
const UNSATISFIABLE_HEADERS = new Set(['date', 'etag', 'last-modified']);

/** The request a stored response answers: its method and headers as read once by the middleware. */
export interface ReplayContext {
  readonly res: ServerResponse;
  readonly o: Options;
  readonly method: string;
  readonly headers: IncomingHttpHeaders;
}

/** `forwarded`: the Cache-Status of a stale entry served after the handler failed (else a hit). */
export function replay(
  ctx: ReplayContext,
  entry: CachedResponse,
  status: CacheStatus,
  now: number,
  forwarded?: { readonly fwd: Forward; readonly fwdStatus?: number },
): void {
  // res's methods are looked up once each: Express gives every request its own prototype
  // chain, so each lookup on it misses V8's inline caches.
  const { res, o, method, headers: reqHeaders } = ctx;
  const setHeader = res.setHeader;
  const set = (name: string, value: number | string | readonly string[]): unknown => setHeader.call(res, name, value);
  // RFC 9110 §13.2.1: preconditions apply only where the unconditional answer is a 2xx
  // (a stored 301 or 404 is replayed whole, as Express's req.fresh does).
  const notModified = entry.status >= 200 && entry.status < 300 && isNotModified(reqHeaders, entry.etag, entry.lastModified, entry.headers);
  const headers = entry.headers;
  let body: Buffer | undefined = entry.body;
  if (notModified) {
    // RFC 9110 §15.4.5: a 304 carries the fields a 200 would have sent of this list, and no content.
    res.statusCode = 304;
    for (let i = 0; i < headers.length; i++) {
      const h = headers[i];
      if (NOT_MODIFIED_HEADERS.has(h[0])) set(h[2] ?? h[0], h[1]);
    }
    body = undefined;
  } else {
    const range = entry.status === 200 && reqHeaders.range !== undefined ? rangeFor({ method, headers: reqHeaders }, rangeTarget(entry)) : undefined;
    let acceptRanges = false;
    if (range?.kind === 'unsatisfiable') {
      // RFC 9110 §15.5.17: 416 with the current length, so the client can ask again.
      res.statusCode = 416;
      for (let i = 0; i < headers.length; i++) {
        const h = headers[i];
        if (UNSATISFIABLE_HEADERS.has(h[0])) set(h[2] ?? h[0], h[1]);
      }
      set('Content-Range', range.contentRange);
      body = Buffer.alloc(0);
    } else {
      for (let i = 0; i < headers.length; i++) {
        const h = headers[i];
        if (h[0] === 'accept-ranges') acceptRanges = true;
        // Spelled as the handler set it (Node sends the name as given to setHeader).
        set(h[2] ?? h[0], h[1]);
      }
      if (range?.kind === 'partial') {
        // RFC 9110 §15.3.7: 206, the part's Content-Range, and the 200's other fields.
        res.statusCode = 206;
        set('Content-Range', range.contentRange);
        body = entry.body.subarray(range.start, range.end + 1);
      } else res.statusCode = entry.status;
    }
    // RFC 9110 §14.3: we answer ranges on any stored 200 unless the handler's own stored
    // value says otherwise (ranges are judged by the stored fields alone, see rangeTarget).
    if (entry.status === 200 && !acceptRanges) set('Accept-Ranges', 'bytes');
    if (entry.status !== 204) set('Content-Length', body.length);
  }
  if (o.vary.length > 0) addVary(res, o.vary, o.varySpelled);
  if (o.xCache) set(o.xCache, status);
  // RFC 9111 §4.2.3: the origin's Age plus the time spent here.
  if (o.age) set('Age', currentAge(entry.originAge, entry.storedAt, now));
  // RFC 9211 §2.1, §2.4: a hit, stale or not, with its remaining freshness (negative when stale).
  if (o.cacheStatus) {
    const ttl = remainingTtl(entry.staleAt, now);
    setCacheStatus(res, o, forwarded ? { ...forwarded, ttl } : { hit: true, ttl });
  }
  if (body === undefined || method === 'HEAD' || entry.status === 204) res.end();
  else res.end(body);
}

function rangeTarget(entry: CachedResponse) {
  const find = (name: string): string | undefined => {
    const v = entry.headers.find(([n]) => n === name)?.[1];
    return v === undefined ? undefined : Array.isArray(v) ? v.join(', ') : v;
  };
  return {
    status: entry.status,
    size: entry.body.length,
    etag: entry.etag,
    lastModified: entry.lastModified,
    date: find('date'),
    acceptRanges: find('accept-ranges'),
  };
}

/**
 * Add the `vary` option's names to the response's Vary (RFC 9110 §12.5.5), so browsers and
 * CDNs in front keep the variants this cache keys apart. Call before the headers are sent.
 */
export function addVary(res: ServerResponse, names: readonly string[], spelled?: readonly string[]): void {
  if (names.length === 0 || res.headersSent) return;
  const merged = mergeVary(res.getHeader('vary'), names, spelled);
  if (merged !== undefined) res.setHeader('Vary', merged);
}

/**
 * Append this cache's RFC 9211 Cache-Status member, when `headers.cacheStatus` names the
 * cache. Call before the headers are sent; for a miss, at header time:
 * `setCacheStatus(res, o, { fwd: 'uri-miss', stored: true })`.
 */
export function setCacheStatus(res: ServerResponse, o: Pick<Options, 'cacheStatus'>, member: CacheStatusMember): void {
  if (!o.cacheStatus || res.headersSent) return;
  res.setHeader('Cache-Status', appendCacheStatus(res.getHeader('cache-status'), cacheStatusMember(o.cacheStatus, member)));
}
