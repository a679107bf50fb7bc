/**
 * Conditional requests against a stored entry (RFC 9110 §13.1): If-None-Match with weak
 * comparison, lists and `*`, else If-Modified-Since against Last-Modified. jshttp/fresh,
 * the function Express itself uses, does the comparison.
 */

import fresh from 'fresh';
import etag from 'etag';
import type { CachedResponse } from './entry';
import type { IncomingHeaders } from './policy';

/**
 * True when the client's copy is current: answer 304 (RFC 9110 §15.4.5). `stored` is the
 * stored response's headers, read only for its `Date` (below).
 */
export function isNotModified(reqHeaders: IncomingHeaders, etag: string, lastModified: string | undefined, stored?: CachedResponse['headers']): boolean {
  // Only a conditional request can be answered 304; checked first, it keeps the hit path short.
  const ifNoneMatch = reqHeaders['if-none-match'];
  const ifModifiedSince = reqHeaders['if-modified-since'];
  if (ifNoneMatch === undefined && ifModifiedSince === undefined) return false;
  // RFC 9111 §4.3.2: a stored response without Last-Modified meets If-Modified-Since with its Date.
  if (lastModified === undefined && ifModifiedSince !== undefined && ifNoneMatch === undefined && stored !== undefined) lastModified = storedDate(stored);
  // Only the validators go to fresh(): it answers "modified" to any request with
  // Cache-Control: no-cache, yet a stored response this cache answers with is current for
  // the validator the client holds (RFC 9110 §13.1; fetch() adds no-cache to every request
  // that carries If-None-Match, and would get the whole 200 back).
  return fresh({ 'if-none-match': ifNoneMatch, 'if-modified-since': ifModifiedSince } as Record<string, string>, { etag, 'last-modified': lastModified });
}

function storedDate(headers: CachedResponse['headers']): string | undefined {
  for (const [name, value] of headers) if (name === 'date' && typeof value === 'string') return value;
  return undefined;
}

/**
 * A strong ETag for a body (jshttp/etag: its length and a SHA-1 of its bytes). It depends
 * on the bytes only, so every instance computes the same one.
 */
export function bodyEtag(body: Buffer): string {
  return etag(body, { weak: false });
}
