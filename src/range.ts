/**
 * Range requests answered from a stored body (RFC 9110 §14). jshttp/range-parser, what
 * `send` and `express.static` use, parses the header. Pure: no Express, no clock.
 *
 * Several ranges are answered with the whole 200 (RFC 9110 §14.2 lets a server ignore
 * Range): multipart/byteranges costs a boundary and per-part headers for a case media
 * players and download managers do not need (they ask for one range at a time).
 */

import parseRange from 'range-parser';
import type { IncomingHeaders } from './policy';
import { parseHttpDate } from './ttl';

export type RangeAnswer =
  /** Send the whole stored response. */
  | { readonly kind: 'full' }
  /** 206 with bytes start..end (inclusive) and this Content-Range. */
  | { readonly kind: 'partial'; readonly start: number; readonly end: number; readonly contentRange: string }
  /** 416 with this Content-Range (`bytes *\/length`). */
  | { readonly kind: 'unsatisfiable'; readonly contentRange: string };

export interface RangeTarget {
  readonly status: number;
  /** The stored body's length in bytes. */
  readonly size: number;
  readonly etag: string;
  readonly lastModified: string | undefined;
  /** The stored response's Date (RFC 9110 §8.8.2.2 needs it to call a date strong). */
  readonly date: string | undefined;
  /** The stored Accept-Ranges, if the handler set one (`none` turns ranges off). */
  readonly acceptRanges: string | undefined;
}

const FULL: RangeAnswer = Object.freeze({ kind: 'full' });

/** How to answer `req` from `target`: whole, one part, or 416. */
export function rangeFor(req: { readonly method: string; readonly headers: IncomingHeaders }, target: RangeTarget): RangeAnswer {
  const range = req.headers.range;
  if (typeof range !== 'string') return FULL;
  // RFC 9110 §14.2: range handling is defined for GET only; a HEAD gets the whole 200's headers.
  if (req.method !== 'GET') return FULL;
  // §14.2: Range applies to a complete 200 representation; we only have one for a 200.
  if (target.status !== 200) return FULL;
  if (target.acceptRanges !== undefined && target.acceptRanges.trim().toLowerCase() === 'none') return FULL;
  // §13.1.5: an If-Range that does not match means "send me the whole thing".
  const ifRange = req.headers['if-range'];
  if (ifRange !== undefined && !ifRangeMatches(typeof ifRange === 'string' ? ifRange : ifRange.join(','), target)) return FULL;
  // §14.1.1: on an empty body only a non-zero suffix is satisfiable, and no byte range can
  // describe what it selects: the whole (empty) 200 (§14.2 lets a server ignore Range).
  if (target.size === 0 && /(?:=|,)\s*-\s*0*[1-9]/.test(range)) return FULL;
  const parsed = parseRange(target.size, clampSuffixes(range, target.size), { combine: true });
  // -2: malformed; §14.2 says ignore an invalid Range.
  if (parsed === -2) return FULL;
  // -1: no range overlaps the body (§15.5.17: 416 with the complete length).
  if (parsed === -1) return { kind: 'unsatisfiable', contentRange: `bytes */${target.size}` };
  // Only the bytes unit is defined (§14.1); several ranges get the whole 200 (see above).
  if (parsed.type !== 'bytes' || parsed.length !== 1) return FULL;
  const { start, end } = parsed[0];
  return { kind: 'partial', start, end, contentRange: `bytes ${start}-${end}/${target.size}` };
}

/**
 * RFC 9110 §14.1.2: "If the selected representation is shorter than the specified
 * suffix-length, the entire representation is used". range-parser drops such a range
 * (its start is negative) and answers 416; a suffix is clamped to the body's size first.
 */
function clampSuffixes(range: string, size: number): string {
  if (size === 0 || !range.includes('-')) return range;
  return range.replace(/([=,]\s*)-\s*(\d+)(?=\s*(?:,|$))/g, (m, before: string, digits: string) => (Number(digits) > size ? `${before}-${size}` : m));
}

/**
 * RFC 9110 §13.1.5: an entity tag matches by strong comparison only (§8.8.3.2: a weak tag
 * never does); a date matches when it equals Last-Modified exactly and that date is strong
 * (§8.8.2.2: at least a second before the response's Date).
 */
export function ifRangeMatches(ifRange: string, target: Pick<RangeTarget, 'etag' | 'lastModified' | 'date'>): boolean {
  const v = ifRange.trim();
  if (v.startsWith('"') || v.startsWith('W/')) {
    return !v.startsWith('W/') && !target.etag.startsWith('W/') && v === target.etag;
  }
  if (target.lastModified === undefined || target.date === undefined) return false;
  const at = parseHttpDate(v);
  const lastModified = parseHttpDate(target.lastModified);
  const date = parseHttpDate(target.date);
  if (Number.isNaN(at) || Number.isNaN(lastModified) || Number.isNaN(date)) return false;
  return at === lastModified && date - lastModified >= 1000;
}
