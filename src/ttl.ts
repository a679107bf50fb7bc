/**
 * Time arithmetic: jitter, freshness lifetimes, the fresh and stale windows of an entry,
 * and Age. Pure functions; the clock is always passed in.
 */

import { deltaSeconds, type Directives } from './cache-control';
import type { EntryTimes } from './entry';
import { mustRevalidate } from './policy';

/** A TTL drawn uniformly from `ttl * (1 ± jitter)`, in the unit it was given. */
export function ttlWithJitter(ttl: number, jitter = 0.1, random: () => number = Math.random): number {
  if (!(jitter > 0)) return ttl;
  return ttl * (1 - jitter + 2 * jitter * random());
}

/**
 * The freshness lifetime a response states, in seconds (RFC 9111 §4.2.1): `s-maxage`
 * (we are a shared cache), else `max-age`, else `Expires` minus `Date`. `undefined` when
 * it states none; 0 or less when it is stale on arrival; NaN when a directive is invalid.
 */
export function statedLifetime(cc: Directives, expires: string | undefined, date: string | undefined, now: number): number | undefined {
  const sMaxAge = deltaSeconds(cc, 's-maxage');
  if (sMaxAge !== undefined) return sMaxAge;
  const maxAge = deltaSeconds(cc, 'max-age');
  if (maxAge !== undefined) return maxAge;
  if (expires === undefined) return undefined;
  const expiresAt = parseHttpDate(expires, now);
  // §5.3: an invalid Expires, "0" especially, is a time in the past.
  if (Number.isNaN(expiresAt)) return 0;
  const dateAt = date === undefined ? NaN : parseHttpDate(date, now);
  return (expiresAt - (Number.isNaN(dateAt) ? now : dateAt)) / 1000;
}

// RFC 9110 §5.6.7: IMF-fixdate and the obsolete asctime form; names and GMT in any case
// (recipients are "encouraged to be robust", and Date.parse reads them so).
const HTTP_DATE = [
  /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/i,
  /^[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2} \d{4}$/i,
];
const RFC850_DATE = /^[A-Z][a-z]+day, (\d{2})-([A-Z][a-z]{2})-(\d{2}) (\d{2}:\d{2}:\d{2}) GMT$/i;

/** An HTTP-date in epoch ms, or NaN: Date.parse alone reads "0" as the year 2000. */
export function parseHttpDate(value: string, now = Date.now()): number {
  const v = value.trim();
  if (HTTP_DATE.some((re) => re.test(v))) return Date.parse(v);
  const m = RFC850_DATE.exec(v);
  if (m === null) return NaN;
  // §5.6.7: a two-digit year more than 50 years ahead is the latest past year with those
  // digits (Date.parse would make "50" 1950 even in 2026).
  const thisYear = new Date(now).getUTCFullYear();
  let year = thisYear - (thisYear % 100) + Number(m[3]);
  if (year > thisYear + 50) year -= 100;
  return Date.parse(`${m[1]} ${m[2]} ${year} ${m[4]} GMT`);
}

/** The origin's Age header in whole seconds (RFC 9111 §5.1); 0 when absent or invalid. */
export function parseAge(header: string | undefined): number {
  if (header === undefined) return 0;
  // §5.1: a list-based Age (two lines, or "7200, 0") counts by its first member.
  const comma = header.indexOf(',');
  const first = comma === -1 ? header : header.slice(0, comma);
  if (!/^\s*\d+\s*$/.test(first)) return 0;
  return Math.min(Number(first), 2147483648);
}

export interface TtlInput {
  /** res.locals.cache.ttl(n), which wins over everything. */
  override: number | undefined;
  /** statedLifetime() of the response. */
  stated: number | undefined;
  originAge: number;
  ttl: number;
  maxTtl: number | undefined;
  jitter: number;
  random: () => number;
}

/**
 * Seconds the entry is fresh from now, or 0 when it must not be stored. A lifetime the
 * response states is already counted from its Age (§4.2.3) and is only jittered downward:
 * serving past it would hand out a stale response without revalidation (§4.2.4).
 */
export function freshSeconds(t: TtlInput): number {
  let seconds: number;
  let upward = true;
  if (t.override !== undefined) seconds = t.override;
  else if (t.stated !== undefined) {
    if (Number.isNaN(t.stated)) return 0;
    seconds = t.stated - t.originAge;
    upward = false;
  } else seconds = t.ttl;
  if (!(seconds > 0)) return 0;
  if (t.maxTtl !== undefined) seconds = Math.min(seconds, t.maxTtl);
  if (t.jitter > 0) {
    seconds = upward ? ttlWithJitter(seconds, t.jitter, t.random) : seconds * (1 - t.jitter * t.random());
    if (t.maxTtl !== undefined) seconds = Math.min(seconds, t.maxTtl);
  }
  return seconds;
}

/** An entry's times from its fresh seconds and stale windows (seconds past staleness). */
export function entryTimes(now: number, fresh: number, swr: number, sie: number): EntryTimes {
  const staleAt = now + Math.max(1, Math.round(fresh * 1000));
  const swrUntil = staleAt + Math.round(swr * 1000);
  const sieUntil = staleAt + Math.round(sie * 1000);
  return { storedAt: now, staleAt, swrUntil, sieUntil, expiresAt: Math.max(swrUntil, sieUntil) };
}

/**
 * The times of an entry that is stale from the start, stored only to be revalidated on every
 * use (no-cache, RFC 9111 §5.2.2.4; max-age=0): kept `keep` seconds, or for its stale windows
 * when longer (a max-age=0 entry may be served stale as the options allow, RFC 5861).
 */
export function revalidateTimes(now: number, keep: number, swr: number, sie: number): EntryTimes {
  const swrUntil = now + Math.round(swr * 1000);
  const sieUntil = now + Math.round(sie * 1000);
  return { storedAt: now, staleAt: now, swrUntil, sieUntil, expiresAt: Math.max(now + Math.round(keep * 1000), swrUntil, sieUntil) };
}

/** The Age to send with a hit: the origin's Age plus whole seconds stored (RFC 9111 §4.2.3). */
export function currentAge(originAge: number, storedAt: number, now: number): number {
  return originAge + Math.max(0, Math.floor((now - storedAt) / 1000));
}

/**
 * Stale windows in seconds. must-revalidate, proxy-revalidate and no-cache forbid serving
 * the response stale at all, its own RFC 5861 directives included (RFC 9111 §4.2.4,
 * §5.2.2.2, §5.2.2.8, §5.2.2.4): both windows are zero, so the entry is revalidated once
 * stale. Otherwise the response's own `stale-while-revalidate` / `stale-if-error` win; the
 * options apply only when it does not state `s-maxage` (§5.2.2.10: it implies
 * proxy-revalidate; an explicit RFC 5861 directive beside it is the origin's permission).
 */
export function staleWindows(cc: Directives, swr: number, sie: number): { swr: number; sie: number } {
  if (mustRevalidate(cc)) return { swr: 0, sie: 0 };
  const forbidden = cc.has('s-maxage');
  const own = (name: string, option: number): number => {
    const v = deltaSeconds(cc, name);
    if (v !== undefined && !Number.isNaN(v)) return v;
    return forbidden ? 0 : option;
  };
  return { swr: own('stale-while-revalidate', swr), sie: own('stale-if-error', sie) };
}
