/**
 * Invalidation on mutating routes, done before the answer is sent, so the client's next
 * GET never sees the old body (read-your-writes).
 */

import type { Request, RequestHandler, Response } from 'express';
import { engineOf, type ResponseCache } from '../src/cache';
import { checkTarget } from '../src/engine';
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
  // A fixed target is checked now, at mount, as options are.
  if (typeof target !== 'function') checkTarget(target, 'cache.invalidates');
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

/**
 * RFC 9111 §4.4: "a cache MUST NOT trigger an invalidation under these conditions if the
 * origin ... of the URI to be invalidated differs from that of the target URI". The target's
 * host is the one the app sees (`req.hostname`: trust proxy, X-Forwarded-Host), compared as
 * the key compares it: without the port, and for http and https alike (a proxy in front
 * terminates TLS or maps ports, and the index drops a path for every scheme and host
 * anyway). Another host's URL is never invalidated.
 */
function sameOriginPaths(req: Request, res: Response): string[] {
  const out: string[] = [];
  for (const name of ['location', 'content-location']) {
    const value = res.getHeader(name);
    if (typeof value !== 'string' || !value) continue;
    try {
      // A relative reference resolves against the target (RFC 9110 §10.2.2); without a host
      // the request names, only relative ones can be ours (`.invalid`: RFC 6761 §6.4).
      const self = new URL(`http://${req.hostname || 'no-host.invalid'}`).hostname;
      const target = req.originalUrl.charCodeAt(0) === 0x2f ? req.originalUrl : req.baseUrl + req.path;
      const url = new URL(value, new URL(target, `http://${self}`));
      if (url.hostname === self && (url.protocol === 'http:' || url.protocol === 'https:')) out.push(url.pathname);
    } catch {
      // an unparseable Location (or host) invalidates nothing
    }
  }
  return out;
}
