/**
 * Which headers a stored response keeps, and which a 304 carries.
 */

/**
 * RFC 9110 §7.6.1 hop-by-hop fields, plus what the cache computes again on every answer.
 * A Date the handler set is kept (RFC 9110 §6.6.1: the time the origin made it).
 */
const NOT_STORED = new Set([
  'connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection',
  'te', 'trailer', 'transfer-encoding', 'upgrade',
  'content-length', 'age',
]);

/** RFC 9110 §15.4.5: what a 304 sends of the stored response (Last-Modified is not needed: every entry has an ETag). */
export const NOT_MODIFIED_HEADERS = new Set(['cache-control', 'content-location', 'date', 'etag', 'expires', 'vary']);

/**
 * The headers worth replaying: not hop-by-hop, not `Proxy-*`, not named by `Connection`
 * (RFC 9110 §7.6.1), and not the cache's own diagnostic header.
 */
export function storableHeaders(
  headers: Readonly<Record<string, number | string | readonly string[] | undefined>>,
  xCache: string | false,
): Array<[string, string | string[]]> {
  const connection = headers.connection;
  const named = new Set(
    (Array.isArray(connection) ? connection.join(',') : String(connection ?? ''))
      .split(',').map((s) => s.trim().toLowerCase()).filter(Boolean),
  );
  const own = xCache ? xCache.toLowerCase() : undefined;
  const out: Array<[string, string | string[]]> = [];
  for (const name of Object.keys(headers)) {
    const value = headers[name];
    if (value === undefined) continue;
    const lower = name.toLowerCase();
    if (NOT_STORED.has(lower) || lower.startsWith('proxy-') || named.has(lower) || lower === own) continue;
    out.push([lower, typeof value === 'number' ? String(value) : Array.isArray(value) ? [...value] : (value as string)]);
  }
  return out;
}

/** The request header names a `Vary` value lists: lower-case, de-duplicated, sorted (RFC 9110 §12.5.5). */
export function varyNames(vary: string | readonly string[] | undefined): string[] {
  if (vary === undefined) return [];
  const text = typeof vary === 'string' ? vary : vary.join(',');
  const names = text.split(',').map((v) => v.trim().toLowerCase()).filter(Boolean);
  return [...new Set(names)].sort();
}
