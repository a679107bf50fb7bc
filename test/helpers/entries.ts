import { encodeEntry } from '../../src/entry';

const HOUR = 3_600_000;

/** A store write of a value entry (fresh for an hour), filed under the path and tags it carries, as the cache files it. */
export function indexedValueEntry(
  key: string,
  path: string,
  tags: string[],
  body: Buffer = Buffer.from(key),
): { key: string; value: Buffer; ttlMs: number; index: { path: string; tags: string[] } } {
  const now = Date.now();
  const value = encodeEntry({
    kind: 'value',
    path,
    tags,
    storedAt: now,
    staleAt: now + HOUR,
    swrUntil: now + HOUR,
    sieUntil: now + HOUR,
    expiresAt: now + HOUR,
    body,
  });
  return { key, value, ttlMs: HOUR, index: { path, tags } };
}
