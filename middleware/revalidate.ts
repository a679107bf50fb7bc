/**
 * stale-while-revalidate (RFC 5861 §3): the stale entry has been served; one refresh per
 * key runs in the background. It is an internal GET dispatched through the app itself
 * (the root app, so mounted routers see the full path), answered into a response that
 * goes nowhere; the cache middleware recognises it and stores what the handler sends.
 */

import createDebug from 'debug';
import type { Application, Request, Response } from 'express';
import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { Writable } from 'node:stream';
import type { ResponseCache, Shared } from '../src/cache';
import type { Leader } from '../src/flight';

const debug = createDebug('express-response-cache');
const REFRESH = Symbol('express-response-cache.refresh');

/** Conditional and range headers would get a 304 or a part, not the whole response to store. */
const DROPPED = new Set(['if-none-match', 'if-modified-since', 'if-match', 'if-unmodified-since', 'if-range', 'range']);

interface RefreshMark {
  readonly leader: Leader<Shared>;
  /** Set when the cache middleware took the refresh over (and will end the flight). */
  taken: boolean;
}

/** The refresh a request is, if it is one the cache dispatched. */
export function isRefresh(req: Request): RefreshMark | undefined {
  return (req as unknown as Record<symbol, RefreshMark | undefined>)[REFRESH];
}

/** Start one background refresh of `primaryKey`, unless one runs here or on another instance. */
export function refreshInBackground(cache: ResponseCache<Request, Response>, req: Request, primaryKey: string): void {
  const leader = cache.flights.lead(primaryKey);
  if (!leader) return; // a refresh (or a miss) is already computing this key here
  const lockKey = cache.lockKey(primaryKey);
  cache.guarded.lock(lockKey, cache.options.coalesce ? cache.options.coalesce.timeout : 10_000).then((token) => {
    if (token === undefined) {
      debug('refresh %s: another instance is refreshing', primaryKey);
      return leader.resolve(undefined);
    }
    const release = (): void => {
      if (token) cache.guarded.unlock(lockKey, token);
    };
    dispatch(req, { leader: wrap(leader, release), taken: false });
  }, () => leader.resolve(undefined));
}

function wrap(leader: Leader<Shared>, release: () => void): Leader<Shared> {
  return {
    resolve: (v) => { release(); leader.resolve(v); },
    reject: (e) => { release(); leader.reject(e); },
  };
}

function dispatch(original: Request, mark: RefreshMark): void {
  let app = original.app as Application & { parent?: Application };
  while (app.parent) app = app.parent as Application & { parent?: Application };
  const req = new IncomingMessage(new Socket());
  req.method = 'GET';
  req.url = original.originalUrl;
  req.httpVersionMajor = 1;
  req.httpVersionMinor = 1;
  req.httpVersion = '1.1';
  for (const [name, value] of Object.entries(original.headers)) if (!DROPPED.has(name) && value !== undefined) req.headers[name] = value;
  req.push(null); // no body
  (req as unknown as Record<symbol, RefreshMark>)[REFRESH] = mark;
  const res = new ServerResponse(req);
  // A socket that swallows the bytes, so the response finishes like a real one.
  const sink = new Writable({ write: (_c, _e, cb) => cb() }) as unknown as Socket;
  res.assignSocket(sink);
  let settled = false;
  const give = (): void => {
    if (settled || mark.taken) return;
    settled = true;
    // If the handler never reached the cache (404, an error), the flight ends empty.
    mark.leader.resolve(undefined);
  };
  res.once('finish', () => setImmediate(give));
  res.once('close', () => setImmediate(give));
  (app as unknown as { handle(req: unknown, res: unknown, done: (err?: unknown) => void): void }).handle(req, res, (err) => {
    if (err) debug('refresh %s failed: %s', original.originalUrl, (err as Error)?.message ?? err);
    give();
  });
}
