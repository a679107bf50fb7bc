/**
 * One request's state on its way through the cache: built once by handle(), handed to the
 * hit and miss paths instead of a long list of arguments.
 */

import type { IncomingHttpHeaders } from 'node:http';
import type { NextFunction, Request, Response } from 'express';
import type { CacheEngine } from '../src/engine';
import { CallbackError } from '../src/errors';
import type { ResolvedOptions } from '../src/options';
import type { RequestCache } from './locals';

export type Options = ResolvedOptions<Request, Response>;

export interface RequestContext {
  readonly engine: CacheEngine<Request, Response>;
  readonly o: Options;
  readonly req: Request;
  readonly res: Response;
  readonly next: NextFunction;
  readonly locals: RequestCache<Request, Response>;
  /** req.method and req.headers, read once: each read on req misses V8's inline caches (see handle()). */
  readonly method: string;
  readonly headers: IncomingHttpHeaders;
  /** The key before any Vary: the flight's and the lock's ('' before it is built). */
  readonly primaryKey: string;
}

/** Run a user callback; a throw is reported (ERC_CALLBACK_FAILED) and answers undefined. */
export function callback<T>(ctx: RequestContext, name: string, fn: () => T): T | undefined {
  try {
    return fn();
  } catch (err) {
    ctx.engine.guarded.report(new CallbackError(`the ${name} callback threw: ${(err as Error)?.message ?? String(err)}`, err), {
      operation: 'callback',
      key: ctx.locals.key || undefined,
    });
    return undefined;
  }
}
