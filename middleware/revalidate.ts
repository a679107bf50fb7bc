/**
 * stale-while-revalidate (RFC 5861 §3): the stale entry has been served; one refresh per
 * key runs in the background. It is an internal GET dispatched through the app itself
 * (the root app, so mounted routers see the full path), answered into a response that
 * goes nowhere; the cache middleware recognises it and leads the miss with the stale
 * entry, so the handler revalidates it (a 304 freshens it) or replaces it.
 *
 * The internal request is the original's twin as the app sees it: same headers (but the
 * client's conditionals and ranges), and a socket that answers with the original's
 * remote address and TLS state, so `req.ip`, `req.secure`, `req.protocol` and
 * `req.hostname` (with `trust proxy`) are what they were for the client.
 */

import createDebug from 'debug';
import type { Application, Request } from 'express';
import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { Writable } from 'node:stream';
import type { Lead } from '../src/coordinator';
import type { CachedResponse } from '../src/entry';
import type { RequestContext } from './context';

const debug = createDebug('express-response-cache');
const REFRESH = Symbol('express-response-cache.refresh');

/** Conditional and range headers would get a 304 or a part, not the whole response to store. */
const DROPPED = new Set(['if-none-match', 'if-modified-since', 'if-match', 'if-unmodified-since', 'if-range', 'range']);

interface RefreshMark {
  /** The primary key being refreshed: the refresh stores there, whatever its own request computes. */
  readonly key: string;
  readonly lead: Lead;
  readonly stale: CachedResponse;
  /** Set when the cache middleware took the refresh over (and will end the flight). */
  taken: boolean;
}

/**
 * Refresh requests dispatched and not yet finished. While there are none (nearly always)
 * no request is one, and the hit path skips the lookup of a property a request lacks:
 * a miss that walks Express's whole request prototype chain.
 */
let dispatched = 0;

/** The refresh a request is, if it is one the cache dispatched. */
export function isRefresh(req: Request): RefreshMark | undefined {
  if (dispatched === 0) return undefined;
  return (req as unknown as Record<symbol, RefreshMark | undefined>)[REFRESH];
}

/** Start one background refresh of the request's key, unless one runs here or on another instance. */
export function refreshInBackground(ctx: RequestContext, stale: CachedResponse): void {
  const { engine, o, req } = ctx;
  if (engine.coordinator.running(ctx.primaryKey)) return;
  const lockTtl = o.coalesce ? o.coalesce.timeout : 10_000;
  engine.coordinator.tryLead(ctx.primaryKey, engine.pathId(req.baseUrl + req.path, o), lockTtl).then(
    (lead) => {
      if (!lead) return debug('refresh %s: already being made', ctx.primaryKey);
      dispatch(req, { key: ctx.primaryKey, lead, stale, taken: false });
    },
    (err) => debug('refresh %s could not start: %s', ctx.primaryKey, (err as Error)?.message),
  );
}

function dispatch(original: Request, mark: RefreshMark): void {
  let app = original.app as Application & { parent?: Application };
  while (app.parent) app = app.parent as Application & { parent?: Application };
  const socket = new Socket();
  // What Express reads of the socket: the client's address and whether it came over TLS.
  const from = original.socket;
  Object.defineProperty(socket, 'remoteAddress', { value: from?.remoteAddress });
  Object.defineProperty(socket, 'remoteFamily', { value: from?.remoteFamily });
  Object.defineProperty(socket, 'remotePort', { value: from?.remotePort });
  if ((from as { encrypted?: boolean } | undefined)?.encrypted) Object.defineProperty(socket, 'encrypted', { value: true });
  const req = new IncomingMessage(socket);
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
  // Counted until the response finishes or closes; one that never does keeps the count
  // above zero, which costs later requests only the property lookup, never a wrong answer.
  let counted = true;
  dispatched++;
  const ended = (): void => {
    if (counted) {
      counted = false;
      dispatched--;
    }
    setImmediate(give);
  };
  const give = (): void => {
    if (settled || mark.taken) return;
    settled = true;
    // If the handler never reached the cache (404, an error), the flight ends empty.
    mark.lead.finish({ kind: 'none' });
  };
  res.once('finish', ended);
  res.once('close', ended);
  try {
    (app as unknown as { handle(req: unknown, res: unknown, done: (err?: unknown) => void): void }).handle(req, res, (err) => {
      if (err) debug('refresh %s failed: %s', original.originalUrl, (err as Error)?.message ?? err);
      give();
    });
  } catch (err) {
    debug('refresh %s threw: %s', original.originalUrl, (err as Error)?.message);
    give();
  }
}
