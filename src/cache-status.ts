/**
 * RFC 9211 Cache-Status: one list member per cache, saying how it handled the request.
 * Pure string building; the middleware decides when to send it (option
 * `headers.cacheStatus`, off by default).
 *
 *   name; hit; ttl=376                     fresh hit (or a 304 from a fresh entry)
 *   name; hit; ttl=-5                      stale hit (stale-while-revalidate)
 *   name; fwd=uri-miss; stored             miss, the response is being stored
 *   name; fwd=stale; fwd-status=304        stale entry revalidated by the handler
 *   name; fwd=bypass; detail=store-down    not handled by the cache
 */

/** RFC 9211 §2.2: why the request went to the origin. */
export type Forward = 'bypass' | 'method' | 'uri-miss' | 'vary-miss' | 'miss' | 'request' | 'stale' | 'partial';

export type CacheStatusMember =
  | { readonly hit: true; readonly ttl: number; readonly detail?: string }
  | {
      readonly hit?: false;
      readonly fwd: Forward;
      /** §2.3: the status the origin (the handler) answered with. */
      readonly fwdStatus?: number;
      /** §2.5: the response is stored. */
      readonly stored?: boolean;
      /** §2.6: the request was collapsed with others into one handler call. */
      readonly collapsed?: boolean;
      readonly ttl?: number;
      readonly detail?: string;
    };

// RFC 8941 §3.3.4: sf-token.
const SF_TOKEN = /^[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*$/;

/** A token when it is one, else an RFC 8941 §3.3.3 sf-string. */
function item(value: string): string {
  return SF_TOKEN.test(value) ? value : `"${value.replace(/[\\"]/g, '\\$&')}"`;
}

/** One Cache-Status list member: `name; param; param=value…` (RFC 9211 §2). */
export function cacheStatusMember(name: string, m: CacheStatusMember): string {
  const parts = [item(name)];
  if (m.hit) {
    parts.push('hit', `ttl=${Math.floor(m.ttl)}`);
  } else {
    parts.push(`fwd=${m.fwd}`);
    if (m.fwdStatus !== undefined) parts.push(`fwd-status=${m.fwdStatus}`);
    if (m.ttl !== undefined) parts.push(`ttl=${Math.floor(m.ttl)}`);
    if (m.stored) parts.push('stored');
    if (m.collapsed) parts.push('collapsed');
  }
  if (m.detail !== undefined) parts.push(`detail=${item(m.detail)}`);
  return parts.join('; ');
}

/**
 * `existing` with `member` added last (§2: each cache appends its member; the one nearest
 * the client comes last).
 */
export function appendCacheStatus(existing: number | string | readonly string[] | undefined, member: string): string {
  const before = existing === undefined ? '' : Array.isArray(existing) ? existing.join(', ') : String(existing);
  return before.trim() ? `${before}, ${member}` : member;
}

/** Seconds of freshness left (negative once stale), as §2.4's ttl wants them. */
export function remainingTtl(staleAt: number, now: number): number {
  return Math.floor((staleAt - now) / 1000);
}
