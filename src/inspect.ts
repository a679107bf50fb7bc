/**
 * `cache.inspect()`: what a namespace holds, entry by entry, for debugging (issue 23):
 * key, path, status, size, times, tags and Vary. Bounded: the store lists at most
 * INSPECT_SCAN keys (Redis: SCAN on every master, never KEYS), entries are read in batches,
 * and at most `limit` are answered.
 */

import { decodeEntry, type CachedResponse, type Entry } from './entry';
import { normalizePath } from './key';
import type { CacheStore } from './stores/store';

export interface InspectOptions {
  /** Only entries whose request path starts with this (a path: it starts with '/'). Default: every entry. */
  prefix?: string;
  /** Most entries answered: default 100, at most 1000. */
  limit?: number;
}

export interface InspectedEntry {
  /** 'response' (a cached HTTP response) or 'value' (cache.values(), cache.cached()). */
  readonly kind: 'response' | 'value';
  /** The store key, as `res.locals.cache.key` shows it. */
  readonly key: string;
  /** The request path it is indexed under (lower-case, no trailing slash), or a value's path. */
  readonly path: string;
  /** The HTTP status a hit replays; undefined for a value. */
  readonly status: number | undefined;
  /** Bytes the store holds for it (headers, metadata and body). */
  readonly size: number;
  readonly storedAt: Date;
  /** Fresh until then; stale (revalidated, or served within staleWhileRevalidate / staleIfError) after. */
  readonly freshUntil: Date;
  /** The store drops it then. */
  readonly expiresAt: Date;
  /** Its tags, without the namespace. */
  readonly tags: readonly string[];
  /**
   * The request headers the stored response's `Vary` names (lower-case); [] for none. The
   * `vary` option's names are part of the key, not of the stored response.
   */
  readonly vary: readonly string[];
}

export interface InspectResult {
  /** Sorted by key. */
  readonly entries: InspectedEntry[];
  /** True when the namespace holds more than were answered (or more than one call lists). */
  readonly truncated: boolean;
}

export const INSPECT_LIMITS = Object.freeze({ default: 100, max: 1000, scan: 10_000, batch: 100 });

/** Read and describe the entries of `keyPrefix` on `store`, as InspectOptions say. */
export async function inspectStore(store: CacheStore, keyPrefix: string, options: InspectOptions = {}): Promise<InspectResult> {
  if (options === null || typeof options !== 'object') throw new TypeError('cache.inspect: options must be an object { prefix?, limit? }');
  const { prefix, limit = INSPECT_LIMITS.default } = options;
  if (!Number.isSafeInteger(limit) || limit <= 0 || limit > INSPECT_LIMITS.max) {
    throw new TypeError(`cache.inspect: limit must be an integer from 1 to ${INSPECT_LIMITS.max}, got ${String(limit)}`);
  }
  if (prefix !== undefined && (typeof prefix !== 'string' || !prefix.startsWith('/'))) {
    throw new TypeError(`cache.inspect: prefix is a request path and starts with '/', got ${JSON.stringify(prefix)}`);
  }
  if (typeof store.keys !== 'function') throw new TypeError('cache.inspect: this store cannot list its keys (it has no keys() method)');
  // Literal, as invalidate({ prefixes }) matches: paths are indexed normalised and lower-case.
  const pathPrefix = prefix === undefined ? undefined : keyPrefix + normalizePath(prefix).toLowerCase();
  const listed = await store.keys(keyPrefix, INSPECT_LIMITS.scan + 1);
  let truncated = listed.length > INSPECT_LIMITS.scan;
  const keys = listed.slice(0, INSPECT_LIMITS.scan).sort();
  const entries: InspectedEntry[] = [];
  for (let i = 0; i < keys.length && !truncated; i += INSPECT_LIMITS.batch) {
    const batch = keys.slice(i, i + INSPECT_LIMITS.batch);
    const bufs = store.getMany ? await store.getMany(batch) : await Promise.all(batch.map((k) => store.get(k)));
    for (let j = 0; j < batch.length; j++) {
      const found = describe(batch[j], bufs[j], keyPrefix, pathPrefix);
      if (found === undefined) continue;
      if (entries.length === limit) {
        truncated = true;
        break;
      }
      entries.push(found);
    }
  }
  return { entries, truncated };
}

function describe(key: string, buf: Buffer | undefined, keyPrefix: string, pathPrefix: string | undefined): InspectedEntry | undefined {
  if (buf === undefined) return undefined; // gone since the listing, or not live yet
  let entry: Entry;
  try {
    entry = decodeEntry(buf);
  } catch {
    return undefined; // not readable: the next request for it is a miss that rewrites it
  }
  // A Vary marker is how a variant is found, not a response: its variants are listed.
  if (entry.kind === 'vary') return undefined;
  if (pathPrefix !== undefined && !entry.path.startsWith(pathPrefix)) return undefined;
  const strip = (s: string): string => (s.startsWith(keyPrefix) ? s.slice(keyPrefix.length) : s);
  const response = entry.kind === 'response' ? entry : undefined;
  return {
    kind: entry.kind,
    key,
    path: strip(entry.path),
    status: response?.status,
    size: buf.length,
    storedAt: new Date(entry.storedAt),
    freshUntil: new Date(entry.staleAt),
    expiresAt: new Date(entry.expiresAt),
    tags: entry.tags.map(strip),
    vary: response ? varyOf(response.headers) : [],
  };
}

function varyOf(headers: CachedResponse['headers']): string[] {
  const names: string[] = [];
  for (const [name, value] of headers) {
    if (name !== 'vary') continue;
    for (const part of (Array.isArray(value) ? value.join(',') : value).split(',')) {
      const n = part.trim().toLowerCase();
      if (n !== '' && !names.includes(n)) names.push(n);
    }
  }
  return names;
}
