/**
 * res.locals.cache: the handler's view of, and control over, the cache for its request.
 */

import type { Request as ExpressRequest, Response as ExpressResponse } from 'express';
import type { ResponseCache } from '../src/cache';
import type { CacheStatus, InvalidateTarget } from '../src/types';

export class RequestCache<Req = ExpressRequest, Res = ExpressResponse> {
  /** The request's cache key ('' when the cache does not apply to it). */
  key = '';
  /** What the cache did: HIT, MISS, STALE or BYPASS (also sent as X-Cache). */
  status: CacheStatus = 'BYPASS';
  /** @internal */ skipped = false;
  /** @internal */ ttlOverride: number | undefined = undefined;
  /** @internal */ readonly extraTags: string[] = [];
  /** @internal Set only by shared(): declared, not initialised, so a hit's RequestCache is unchanged. */ declare sharedAnswer?: true;

  constructor(readonly cache: ResponseCache<Req, Res>) {}

  /** Do not store this response, whatever it says. */
  skip(): void {
    this.skipped = true;
  }

  /**
   * This answer is the same for everyone, although the handler read per-user request state
   * (`req.session`, `req.user`, cookies, Authorization): store it anyway. As the `shared`
   * route option, for one response.
   */
  shared(): void {
    this.sharedAnswer = true;
  }

  /** Keep this response fresh for `seconds`, over the options and its own headers. */
  ttl(seconds: number): void {
    if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds <= 0) {
      throw new TypeError(`res.locals.cache.ttl: seconds must be a positive number, got ${String(seconds)}`);
    }
    this.ttlOverride = seconds;
  }

  /** Add tags to the entry this response becomes. */
  tag(...tags: string[]): void {
    for (const t of tags) {
      if (typeof t !== 'string' || t.length === 0) throw new TypeError(`res.locals.cache.tag: tags must be non-empty strings, got ${String(t)}`);
      this.extraTags.push(t);
    }
  }

  /** Same as cache.invalidate(). */
  invalidate(target: InvalidateTarget): Promise<number> {
    return this.cache.invalidate(target);
  }
}

/**
 * `res.locals.cache`, for a handler that needs the cache middleware in front of it: throws
 * a clear error where none ran (a route mounted without it), instead of the TypeError of
 * `undefined.skip()`. Where the middleware is optional, write `res.locals.cache?.skip()`.
 */
export function getRequestCache(res: { locals: Record<string, unknown> }): RequestCache<ExpressRequest, ExpressResponse> {
  const found = res.locals.cache;
  if (found instanceof RequestCache) return found as RequestCache<ExpressRequest, ExpressResponse>;
  throw new Error('getRequestCache: no express-response-cache middleware saw this request; mount cache.middleware() (or cacheResponses()) before this route');
}

declare global {
  // Express's own way to type res.locals is declaration merging into its global namespace.
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Locals {
      /**
       * Set by express-response-cache on every request its middleware sees; undefined on
       * routes it is not mounted in front of. `getRequestCache(res)` throws there instead.
       */
      cache?: RequestCache<ExpressRequest, ExpressResponse>;
    }
  }
}
