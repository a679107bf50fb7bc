/**
 * Invalidation on mutating routes, done before the answer is sent, so the client's next
 * GET never sees the old body (read-your-writes).
 */

import type { Request, RequestHandler, Response } from 'express';
import { engineOf, type ResponseCache } from '../src/cache';
import { CallbackError } from '../src/errors';
import type { InvalidateTarget } from '../src/types';
import { holdUntil } from './defer';

export type TargetOrFn = InvalidateTarget | ((req: Request, res: Response) => InvalidateTarget);

/**
 * `cache.invalidates(target)`: on a 2xx or 3xx answer, invalidate `target` before it is
 * sent. 3xx too: Post/Redirect/Get answers a POST with 303 and the GET it redirects to
 * must see the new data (RFC 9111 §4.4 counts 3xx as non-error responses).
 */
export function invalidates(cache: ResponseCache<Request, Response>, target: TargetOrFn): RequestHandler {
  if (typeof target !== 'function' && (target === null || typeof target !== 'object')) {
    throw new TypeError('cache.invalidates: target must be { keys?, paths?, prefixes?, tags? } or a function returning one');
  }
  return function invalidatesMiddleware(req, res, next) {
    holdUntil(res, (status) => {
      if (status < 200 || status > 399) return undefined;
      return run(cache, () => (typeof target === 'function' ? target(req, res) : target));
    });
    next();
  };
}

/**
 * RFC 9111 §4.4: a non-error answer to an unsafe method invalidates the target URI, and
 * the same-origin URIs in Location and Content-Location.
 */
export function invalidateUnsafe(cache: ResponseCache<Request, Response>, req: Request, res: Response): void {
  // Nested cache middlewares on one request: the path is invalidated once.
  if (unsafeHandled.has(res)) return;
  unsafeHandled.add(res);
  holdUntil(res, (status) => {
    if (status < 200 || status > 399) return undefined;
    return run(cache, () => ({ paths: [req.baseUrl + req.path, ...sameOriginPaths(req, res)] }));
  });
}

const unsafeHandled = new WeakSet<Response>();

function run(cache: ResponseCache<Request, Response>, target: () => InvalidateTarget): Promise<unknown> {
  return Promise.resolve()
    .then(() => cache.invalidate(target()))
    .catch((err) =>
      engineOf(cache).guarded.report(new CallbackError(`invalidation target failed: ${(err as Error)?.message}`, err), { operation: 'invalidate' }),
    );
}

function sameOriginPaths(req: Request, res: Response): string[] {
  const host = req.headers.host;
  const out: string[] = [];
  for (const name of ['location', 'content-location']) {
    const value = res.getHeader(name);
    if (typeof value !== 'string' || !value) continue;
    try {
      const base = new URL(`http://${host ?? 'localhost'}${req.originalUrl}`);
      const url = new URL(value, base);
      // Only our own origin: another host's URIs are not ours to invalidate (§4.4).
      if (url.host === base.host && (url.protocol === 'http:' || url.protocol === 'https:')) out.push(url.pathname);
    } catch {
      // an unparseable Location invalidates nothing
    }
  }
  return out;
}
