/**
 * Answer a request from a stored response: the whole response, or a 304 when the client's
 * copy is current. Headers earlier middleware set for this request (CORS, say) stay; the
 * stored ones are what the handler set.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import { isNotModified } from '../src/conditional';
import type { CachedResponse } from '../src/entry';
import { NOT_MODIFIED_HEADERS } from '../src/headers';
import type { ResolvedOptions } from '../src/options';
import { currentAge } from '../src/ttl';
import type { CacheStatus } from '../src/types';

export function replay(
  req: IncomingMessage,
  res: ServerResponse,
  entry: CachedResponse,
  status: CacheStatus,
  o: ResolvedOptions<never, never> | ResolvedOptions<unknown, unknown>,
  now: number,
): void {
  const notModified = isNotModified(req.headers, entry.etag, entry.lastModified);
  const headers = entry.headers;
  if (notModified) {
    // RFC 9110 §15.4.5: a 304 carries the fields a 200 would have sent of this list, and no content.
    res.statusCode = 304;
    for (let i = 0; i < headers.length; i++) if (NOT_MODIFIED_HEADERS.has(headers[i][0])) res.setHeader(headers[i][0], headers[i][1]);
  } else {
    res.statusCode = entry.status;
    for (let i = 0; i < headers.length; i++) res.setHeader(headers[i][0], headers[i][1]);
    if (entry.status !== 204) res.setHeader('Content-Length', entry.body.length);
  }
  if (o.xCache) res.setHeader(o.xCache, status);
  // RFC 9111 §4.2.3: the origin's Age plus the time spent here.
  if (o.age) res.setHeader('Age', currentAge(entry.originAge, entry.storedAt, now));
  if (notModified || req.method === 'HEAD' || entry.status === 204) res.end();
  else res.end(entry.body);
}
