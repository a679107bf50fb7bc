/**
 * The miss path of the binding: ask the core's coordinator whether to wait or to make the
 * response, then run the handler under capture and give the result to the core (plan at
 * header time, commit through the invalidation guard after the client has every byte).
 *
 * A stale entry with a validator is revalidated through the handler (RFC 9111 §4.3): the
 * handler runs with If-None-Match / If-Modified-Since from the entry; a 304 freshens the
 * entry (§4.3.4) and the client gets the stored response. The client's own conditional
 * never reaches the handler of a leader: what the leader makes is shared by its followers.
 */

import createDebug from 'debug';
import type { OutgoingHttpHeaders } from 'node:http';
import { parseCacheControl } from '../src/cache-control';
import { bodyEtag, isNotModified } from '../src/conditional';
import type { Lead } from '../src/coordinator';
import type { Forward } from '../src/cache-status';
import type { CachedResponse, HeaderValue } from '../src/entry';
import type { Lookup, Plan } from '../src/engine';
import { CallbackError } from '../src/errors';
import { freshenHeaders, responseTags, storableHeaders, varyNames } from '../src/headers';
import { variantKey } from '../src/key';
import { header, responseNotStorableReason } from '../src/policy';
import { capture } from './capture';
import type { RequestContext } from './context';
import { onTakeOver } from './nested';
import { replay, setCacheStatus } from './replay';

const debug = createDebug('express-response-cache');

/** Request headers that would make the handler answer a part or a 304 instead of the whole response. */
const CONDITIONAL = ['if-none-match', 'if-modified-since', 'if-match', 'if-unmodified-since', 'if-range', 'range'] as const;

export interface MissOptions {
  /** A stale entry: revalidated through the handler, and served when the handler fails (stale-if-error). */
  readonly stale?: CachedResponse;
  /** Answer the client with `stale` when the handler fails (RFC 5861 §4). */
  readonly serveStaleOnError?: boolean;
}

/** A miss: follow a flight already making this key (here or on another instance), or lead one. */
export function miss(ctx: RequestContext, options: MissOptions, onHit: (ctx: RequestContext, entry: CachedResponse, key: string) => void): void {
  const { engine, o, req } = ctx;
  const head = req.method === 'HEAD';
  // A HEAD stores nothing: it may follow a GET's flight, never lead one.
  const coalesce = head && !engine.coordinator.running(ctx.primaryKey) ? false : o.coalesce;
  engine.coordinator
    .begin({
      key: ctx.primaryKey,
      path: engine.pathId(req.baseUrl + req.path, o),
      coalesce,
      lock: !head,
      lookup: () => {
        const l = engine.lookup(ctx.primaryKey, req.headers, o.storeTimeout);
        return l instanceof Promise ? l.then((x) => usable(ctx, x)) : usable(ctx, l);
      },
    })
    .then(
      (turn) => {
        if (turn.kind === 'lead') return lead(ctx, turn.lead, options);
        // A response shared as it is (the store could not take it) fits only its own variant.
        if (fits(ctx, turn.value)) return onHit(ctx, turn.value.entry, turn.value.key);
        lead(ctx, engine.coordinator.alone(), options);
      },
      (err) => ctx.next(err),
    );
}

/** Is this the variant the request would pick? */
function fits(ctx: RequestContext, found: { entry: CachedResponse; key: string }): boolean {
  if (found.key === ctx.primaryKey) return true;
  const vary = found.entry.headers.find(([n]) => n === 'vary')?.[1];
  return variantKey(ctx.primaryKey, varyNames(typeof vary === 'string' ? vary : vary?.join(', ')), ctx.req.headers) === found.key;
}

/** A follower takes what its leader stored only while it is fresh. */
function usable(ctx: RequestContext, l: Lookup): { entry: CachedResponse; key: string } | undefined {
  return l.kind === 'found' && ctx.engine.freshness(l.entry) === 'fresh' ? { entry: l.entry, key: l.key } : undefined;
}

/** Run the handler with its response captured; store what may be stored; end the flight. */
export function lead(ctx: RequestContext, flight: Lead, options: MissOptions): void {
  const { engine, o, req, res, locals } = ctx;
  locals.status = 'MISS';
  engine.metrics.miss(ctx.primaryKey);
  const stale = options.stale;
  // The leader makes the whole response for everyone: the client's conditional and range
  // headers are set aside (and put back for the answer), the entry's validators put in.
  const clientConditionals: Record<string, string | string[] | undefined> = {};
  for (const name of CONDITIONAL) {
    clientConditionals[name] = req.headers[name];
    delete req.headers[name];
  }
  const restoreClient = (): void => {
    for (const name of CONDITIONAL) {
      if (clientConditionals[name] === undefined) delete req.headers[name];
      else (req.headers as Record<string, string | string[] | undefined>)[name] = clientConditionals[name];
    }
  };
  const revalidating = stale !== undefined && req.method === 'GET';
  if (revalidating) {
    // RFC 9111 §4.3.1: validate the stored response with its own validators.
    req.headers['if-none-match'] = stale.etag;
    if (stale.lastModified) req.headers['if-modified-since'] = stale.lastModified;
  }
  const before = res.getHeaders();
  let plan: Plan | undefined;
  let tags: readonly string[] = [];
  let plannedTtl: number | undefined;
  // The handler's headers at header time: what is stored. Middleware mounted before the
  // cache (compression, express-session) adds its own from writeHead hooks that run after
  // ours, for this response only (a replay goes through them again).
  let sent: OutgoingHttpHeaders = {};
  let swallowed: 'revalidated' | 'error' | undefined;
  /** The status the handler answered with (what is stored), when the client is answered 304 instead. */
  let madeStatus: number | undefined;
  let failedStatus = 500;
  const end = (outcome: Parameters<Lead['finish']>[0]): void => flight.finish(outcome);
  // A route-level middleware of this cache took the request over (middleware/nested.ts):
  // end this flight and let the capture pass everything through untouched.
  let aside = false;
  onTakeOver(res, () => {
    aside = true;
    engine.metrics.retract('misses');
    restoreClient();
    end({ kind: 'none' });
  });
  const missNotStored = (reason: string): false => {
    setCacheStatus(res, o, { fwd: stale ? 'stale' : 'uri-miss' });
    return notStored(ctx, reason);
  };

  /**
   * The client asked conditionally and the whole 200 just made matches its validators:
   * answer it 304 (RFC 9110 §13.1) while the body is still captured for the store.
   */
  const notModifiedForClient = (): void => {
    if (res.statusCode !== 200 || (clientConditionals['if-none-match'] === undefined && clientConditionals['if-modified-since'] === undefined)) return;
    const etag = res.getHeader('etag');
    const lastModified = res.getHeader('last-modified');
    if (typeof etag !== 'string' || !isNotModified(clientConditionals, etag, typeof lastModified === 'string' ? lastModified : undefined)) return;
    madeStatus = 200;
    res.statusCode = 304;
    // RFC 9110 §15.4.5: no content, so none of the fields that describe it.
    for (const name of ['content-length', 'content-type', 'content-encoding', 'content-range', 'transfer-encoding']) res.removeHeader(name);
  };

  capture(res, o.maxEntryBytes, {
    swallow(status) {
      if (aside) return false;
      if (revalidating && status === 304) return Boolean((swallowed = 'revalidated'));
      if (stale && options.serveStaleOnError && status >= 500 && engine.freshness(stale) !== 'expired' && !invalidatedSince(ctx, stale, flight)) {
        failedStatus = status;
        return Boolean((swallowed = 'error'));
      }
      // A 304 that was not ours to ask for reaches the client as it is.
      restoreClient();
      return false;
    },
    headers(body) {
      if (aside) return false;
      if (o.xCache) res.setHeader(o.xCache, 'MISS');
      if (locals.skipped) return missNotStored('skip()');
      const decision = engine.plan(req, { status: res.statusCode, headers: res.getHeaders() }, o, locals.ttlOverride);
      if (typeof decision === 'string') return missNotStored(decision);
      const named = callback(ctx, 'tags', () => (o.tags ? o.tags(req, res) : []));
      if (named === undefined) return missNotStored('the tags callback threw');
      plan = decision;
      plannedTtl = locals.ttlOverride;
      // Surrogate keys: a `Cache-Tag: a, b` response header tags the entry too.
      tags = [...named, ...responseTags(res.getHeaders(), o.tagHeader)];
      // The miss carries the ETag its hits will: computed now when the whole body is known.
      if (body && !res.hasHeader('etag')) res.setHeader('ETag', bodyEtag(body));
      sent = res.getHeaders();
      // RFC 9211 §2.2, §2.5; after the snapshot of what is stored: hits must not replay it.
      setCacheStatus(res, o, { fwd: stale ? 'stale' : 'uri-miss', stored: true });
      notModifiedForClient();
      return true;
    },
    finished(body) {
      if (aside) return;
      if (!plan || locals.skipped) return end({ kind: 'none' });
      // What hooks after the handler added still counts: a session's Set-Cookie is one
      // visitor's, and a Vary added late picks what the entry is stored under.
      const status = madeStatus ?? res.statusCode;
      const final = { status, headers: madeStatus === undefined ? res.getHeaders() : { ...sent, ...res.getHeaders() } };
      const late = responseNotStorableReason(req, final, parseCacheControl(final.headers['cache-control']), o);
      if (late) {
        notStored(ctx, `${late} (added after the handler)`);
        return end({ kind: 'none' });
      }
      const finalVary = varyNames(header(final.headers.vary));
      if (locals.ttlOverride !== plannedTtl || !sameList(finalVary, plan.vary)) {
        const again = engine.plan(req, { status, headers: { ...sent, vary: final.headers.vary } }, o, locals.ttlOverride);
        if (typeof again === 'string') return end({ kind: 'none' });
        plan = again;
      }
      const headers = storableHeaders(changedHeaders(before, sent), o.xCache) as Array<[string, HeaderValue]>;
      if (finalVary.length && !headers.some(([n]) => n === 'vary')) headers.push(['vary', finalVary.join(', ')]);
      const allTags = [...tags, ...locals.extraTags.filter((t) => !tags.includes(t))];
      engine
        .commit({
          primaryKey: ctx.primaryKey,
          reqHeaders: req.headers,
          path: req.baseUrl + req.path,
          status,
          headers,
          body,
          plan,
          tags: allTags,
          o,
          making: flight.making,
        })
        .then(end, () => end({ kind: 'failed' }));
    },
    abandoned(reason) {
      debug('not stored %s: %s', locals.key, reason);
      end({ kind: 'none' });
    },
    onCallbackError(err) {
      engine.guarded.report(new CallbackError(`a capture hook threw: ${(err as Error)?.message ?? String(err)}`, err), {
        operation: 'callback',
        key: locals.key,
      });
    },
    onSwallowed() {
      if (aside) return;
      const got = changedHeaders(before, res.getHeaders());
      // Headers the handler set for its 304 or its error are not the stored response's.
      for (const name of res.getHeaderNames()) if (!(name in before)) res.removeHeader(name);
      restoreClient();
      if (!stale) return end({ kind: 'none' });
      if (swallowed === 'error') {
        // stale-if-error (RFC 5861 §4): the handler failed; the stale copy answers instead.
        debug('stale-if-error %s: serving the stale entry', locals.key);
        end({ kind: 'none' });
        return answer(ctx, stale, 'STALE', { fwd: 'stale', fwdStatus: failedStatus });
      }
      revalidated(ctx, flight, stale, got);
    },
  });
  ctx.next();
}

/** The handler answered 304 to the entry's validators: freshen it (RFC 9111 §4.3.4), store it, serve it. */
function revalidated(ctx: RequestContext, flight: Lead, stale: CachedResponse, from304: Record<string, unknown>): void {
  const { engine, o, req, locals } = ctx;
  // The freshened response is made now: it carries the 304's Date, else this moment's (commit adds it).
  const headers = freshenHeaders(stale.headers, from304 as Parameters<typeof freshenHeaders>[1], o.xCache).filter(
    ([n]) => n !== 'date' || from304.date !== undefined,
  );
  const record: Record<string, HeaderValue> = {};
  for (const [n, v] of headers) record[n] = v;
  const plan = engine.plan(req, { status: stale.status, headers: record }, o, locals.ttlOverride);
  engine.metrics.revalidated();
  locals.status = 'REVALIDATED';
  const entry: CachedResponse = typeof plan === 'string' ? stale : { ...stale, headers: withDate(headers, plan.times.storedAt), ...plan.times };
  answer(ctx, entry, 'REVALIDATED', { fwd: 'stale', fwdStatus: 304 });
  if (typeof plan === 'string') return flight.finish({ kind: 'none' });
  engine
    .commit({
      primaryKey: ctx.primaryKey,
      reqHeaders: req.headers,
      path: req.baseUrl + req.path,
      status: stale.status,
      headers,
      body: stale.body,
      plan,
      tags: stale.tags.map((t) => t.slice(o.keyPrefix.length)),
      o,
      making: flight.making,
    })
    .then(
      (outcome) => flight.finish(outcome),
      () => flight.finish({ kind: 'failed' }),
    );
}

function withDate(headers: Array<[string, HeaderValue]>, at: number): Array<[string, HeaderValue]> {
  return headers.some(([n]) => n === 'date') ? headers : [...headers, ['date', new Date(at).toUTCString()]];
}

function answer(ctx: RequestContext, entry: CachedResponse, status: 'STALE' | 'REVALIDATED', forwarded: { fwd: Forward; fwdStatus: number }): void {
  const { engine, o, req, res, locals } = ctx;
  locals.status = status;
  if (status === 'STALE') engine.metrics.staleHit(locals.key);
  try {
    replay(req, res, entry, status, o, engine.now(), forwarded);
  } catch (err) {
    engine.guarded.report(new CallbackError(`stored entry could not be replayed: ${(err as Error).message}`, err), { operation: 'decode', key: locals.key });
    if (!res.headersSent) res.statusCode = 502;
    res.end();
  }
}

/** Did this instance invalidate what `entry` is filed under since the making started? */
function invalidatedSince(ctx: RequestContext, entry: CachedResponse, flight: Lead): boolean {
  return ctx.engine.guarded.log.overlaps(flight.making, { keys: [ctx.primaryKey, ctx.locals.key], path: entry.path, tags: entry.tags });
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

function notStored(ctx: RequestContext, reason: string): false {
  debug('not stored %s: %s', ctx.locals.key, reason);
  return false;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** Headers the routes after the cache set or changed: the ones worth replaying. */
function changedHeaders(before: Record<string, unknown>, after: Record<string, unknown>): Record<string, number | string | string[] | undefined> {
  const out: Record<string, number | string | string[] | undefined> = {};
  for (const name of Object.keys(after)) {
    const value = after[name] as number | string | string[] | undefined;
    if (!(name in before) || !sameValue(before[name], value)) out[name] = value;
  }
  return out;
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((v, i) => v === b[i]);
}
