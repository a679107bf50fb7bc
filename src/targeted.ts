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

/**
 * A targeted field's value as Cache-Control directives, or undefined when it is absent,
 * empty or not a valid Structured Fields Dictionary (RFC 9213 §2.1: such a field is
 * ignored). Parameters are ignored (§2.1). A member of a type the directive cannot have is
 * dropped rather than coerced (§2.1: a decimal max-age is not consumed): an integer is a
 * delta-seconds value, a boolean true a bare directive, a string or token an argument;
 * an inner list (no-cache or private with field names) counts as the bare directive,
 * which is the stricter reading (RFC 9111 §5.2.2.4, §5.2.2.7).
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
    if (Array.isArray(item)) out.set(name, true);
    else if (item === true) out.set(name, true);
    else if (typeof item === 'number') {
      // A negative integer stays (deltaSeconds() reads it as invalid: stale, RFC 9111 §4.2.1).
      if (Number.isInteger(item)) out.set(name, String(item));
    } else if (typeof item === 'string') out.set(name, item);
    else if (item instanceof Token) out.set(name, item.toString());
  }
  return out;
}
