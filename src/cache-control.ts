/**
 * Cache-Control parsing (RFC 9111 §5.2): directive names are case-insensitive, values may
 * be tokens or quoted strings, and unknown directives are ignored.
 */

export type Directives = ReadonlyMap<string, string | true>;

const EMPTY: Directives = new Map();

export function parseCacheControl(header: string | readonly string[] | number | undefined): Directives {
  if (header === undefined) return EMPTY;
  const text = Array.isArray(header) ? header.join(',') : String(header);
  if (!text) return EMPTY;
  const out = new Map<string, string | true>();
  // Split on commas outside quoted strings (a quoted no-cache="a, b" is one directive).
  for (const part of text.match(/(?:[^,"]|"(?:\\.|[^"\\])*")+/g) ?? []) {
    const eq = part.indexOf('=');
    const name = (eq === -1 ? part : part.slice(0, eq)).trim().toLowerCase();
    if (!name) continue;
    let value: string | true = true;
    if (eq !== -1) {
      value = part.slice(eq + 1).trim();
      if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1).replace(/\\(.)/g, '$1');
    }
    // RFC 9111 §4.2.1: with duplicates, the first wins here; a conflicting duplicate of a
    // delta-seconds directive is reported by deltaSeconds() as invalid.
    if (out.has(name)) {
      if (out.get(name) !== value) out.set(name, 'conflict\u0000');
      continue;
    }
    out.set(name, value);
  }
  return out;
}

/**
 * A delta-seconds directive (RFC 9111 §1.2.2): undefined when absent, NaN when its value
 * is not a non-negative integer (such a response is treated as stale, §4.2.1).
 */
export function deltaSeconds(cc: Directives, name: string): number | undefined {
  const v = cc.get(name);
  if (v === undefined) return undefined;
  if (v === true || !/^\d+$/.test(v)) return NaN;
  // §1.2.2: values past 2^31 are taken as 2^31.
  return Math.min(Number(v), 2147483648);
}
