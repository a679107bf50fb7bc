/**
 * Conditional requests against a stored entry (RFC 9110 §13.1): If-None-Match with weak
 * comparison, lists and `*`, else If-Modified-Since against Last-Modified. jshttp/fresh,
 * the function Express itself uses, does the comparison.
 */

import fresh from 'fresh';
import etag from 'etag';
import type { IncomingHeaders } from './policy';

/** True when the client's copy is current: answer 304 (RFC 9110 §15.4.5). */
export function isNotModified(reqHeaders: IncomingHeaders, etag: string, lastModified: string | undefined): boolean {
  // Only a conditional request can be answered 304; checked first, it keeps the hit path short.
  if (reqHeaders['if-none-match'] === undefined && reqHeaders['if-modified-since'] === undefined) return false;
  return fresh(reqHeaders as Record<string, string>, { etag, 'last-modified': lastModified });
}

/**
 * A strong ETag for a body (jshttp/etag: its length and a SHA-1 of its bytes). It depends
 * on the bytes only, so every instance computes the same one.
 */
export function bodyEtag(body: Buffer): string {
  return etag(body, { weak: false });
}
