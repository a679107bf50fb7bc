/**
 * The directives this cache obeys for a response: its targeted Cache-Control field when the
 * `targetedField` option names one and the response carries a valid one (RFC 9213), else
 * Cache-Control and Expires. One place, so the storability, freshness and stale decisions
 * all read the same directives.
 */

import { parseDictionary, Token } from 'structured-headers';
import { parseCacheControl, type Directives } from './cache-control';
import { header, type OutgoingHeaders } from './policy';

export interface ResponseDirectives {
  readonly cc: Directives;
  /** The Expires that counts: none when a targeted field decides (RFC 9213 §2.2). */
  readonly expires: string | undefined;
}

/** `targetedField`: the lower-case field name, or undefined when the option is not set. */
export function responseDirectives(headers: OutgoingHeaders, targetedField: string | undefined): ResponseDirectives {
  if (targetedField !== undefined) {
    const targeted = targetedDirectives(headers[targetedField]);
    // RFC 9213 §2.2: a valid, non-empty targeted field replaces Cache-Control and Expires.
    if (targeted !== undefined) return { cc: targeted, expires: undefined };
  }
  return { cc: parseCacheControl(headers['cache-control']), expires: header(headers.expires) };
}

/** RFC 9213 §2.1: directives whose value is an Integer (RFC 9111 delta-seconds). */
const INTEGER = new Set(['max-age', 's-maxage', 'stale-while-revalidate', 'stale-if-error']);
/** Directives that are a Boolean; the two that may name fields take an Inner List too. */
const BOOLEAN = new Set(['no-store', 'no-cache', 'private', 'public', 'must-revalidate', 'proxy-revalidate', 'must-understand', 'no-transform', 'immutable']);
const WITH_FIELDS = new Set(['no-cache', 'private']);

/**
 * A targeted field's value as Cache-Control directives, or undefined when it is absent,
 * empty or invalid: not a Structured Fields Dictionary, or a directive this cache knows
 * with a value of the wrong type (`max-age="60"`, `max-age=1.5`, `no-store=1`). RFC 9213
 * §2.1: such a field is ignored, and Cache-Control decides. Parameters are ignored; `?0`
 * means absent; an Inner List (no-cache or private with field names) counts as the bare
 * directive, the stricter reading (RFC 9111 §5.2.2.4, §5.2.2.7). Unknown directives keep
 * their value as text.
 */
export function targetedDirectives(value: number | string | readonly string[] | undefined): Directives | undefined {
  const text = header(value);
  if (text === undefined || text.trim() === '') return undefined;
  let dict: ReturnType<typeof parseDictionary>;
  try {
    dict = parseDictionary(text);
  } catch {
    return undefined;
  }
  if (dict.size === 0) return undefined;
  const out = new Map<string, string | true>();
  for (const [name, [item]] of dict) {
    if (INTEGER.has(name)) {
      if (typeof item !== 'number' || !Number.isInteger(item)) return undefined;
      // A negative integer stays: deltaSeconds() reads it as invalid, so stale (RFC 9111 §4.2.1).
      out.set(name, String(item));
    } else if (BOOLEAN.has(name)) {
      if (Array.isArray(item) && WITH_FIELDS.has(name)) out.set(name, true);
      else if (typeof item !== 'boolean') return undefined;
      else if (item) out.set(name, true);
    } else if (item === true) out.set(name, true);
    else if (typeof item === 'number' || typeof item === 'string') out.set(name, String(item));
    else if (item instanceof Token) out.set(name, item.toString());
  }
  return out;
}
