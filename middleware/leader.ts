/**
 * The leader of a miss: run the handler with its response captured and give the result to
 * the core (plan at header time, commit through the invalidation guard after the client has
 * every byte). The leader's state and the capture's hooks are one `Leader` object.
 *
 * A stale entry with a validator is revalidated through the handler (RFC 9111 §4.3): the
 * handler runs with If-None-Match / If-Modified-Since from the entry; a 304 freshens the
 * entry (§4.3.4) and the client gets the stored response. The client's own conditional
 * never reaches the handler of a leader: what the leader makes is shared by its followers.
 */

import createDebug from 'debug';
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { bodyEtag, isNotModified } from '../src/conditional';
import type { Lead } from '../src/coordinator';
import type { Forward } from '../src/cache-status';
import type { CachedResponse, HeaderValue, StoredHeader } from '../src/entry';
import type { Plan } from '../src/engine';
import { CallbackError } from '../src/errors';
import { freshenHeaders, httpDate, responseTags, storableHeaders, varyNames } from '../src/headers';
import { header, responseNotStorableReason } from '../src/policy';
import { responseDirectives } from '../src/targeted';
import { capture, DECLINED, SWALLOWED, TOO_LARGE, type CaptureHooks } from './capture';
import { watchErrors } from './error-path';
import { callback, type RequestContext } from './context';
import { onTakeOver } from './nested';
import { PerUserWatch, warnBetween } from './per-user';
import { replay, setCacheStatus } from './replay';

const debug = createDebug('express-response-cache');

/** A leader's answer that could not be stored: its followers make their own at once (hit-for-miss). */
const UNCACHEABLE = { kind: 'uncacheable' } as const;

/** Request headers that would make the handler answer a part or a 304 instead of the whole response. */
const CONDITIONAL = ['if-none-match', 'if-modified-since', 'if-match', 'if-unmodified-since', 'if-range', 'range'] as const;

export interface MissOptions {
  /** A stale entry: revalidated through the handler, and served when the handler fails (stale-if-error). */
  readonly stale?: CachedResponse;
  /** Answer the client with `stale` when the handler fails (RFC 5861 §4). */
  readonly serveStaleOnError?: boolean;
}

/** Run the handler with its response captured; store what may be stored; end the flight. */
export function lead(ctx: RequestContext, flight: Lead, options: MissOptions): void {
  const { engine, res, locals } = ctx;
  locals.status = 'MISS';
  engine.metrics.miss(ctx.primaryKey);
  const leader = new Leader(ctx, flight, options);
  // A route-level middleware of this cache took the request over (middleware/nested.ts):
  // end this flight and let the capture pass everything through untouched.
  onTakeOver(res, () => leader.standAside());
  // An error handler's bare end() must not pass for a whole body (./error-path.ts).
  watchErrors(ctx.req.app);
  capture(res, ctx.o.maxEntryBytes, leader);
  ctx.next();
}

/**
 * One leader's making, as the capture's hooks: the state of the miss lives in its fields,
 * so a miss allocates one object here rather than a closure per hook.
 */
class Leader implements CaptureHooks {
  private readonly stale: CachedResponse | undefined;
  /** The client's conditional and range headers, set aside while the handler runs. */
  private readonly clientConditionals: Record<string, string | string[] | undefined> = {};
  /** The client's Cache-Control, set aside while the handler revalidates (see the constructor). */
  private clientCacheControl: string | undefined = undefined;
  private readonly revalidating: boolean;
  /** The response's headers before the handler ran: what the routes after the cache changed is what is stored. */
  private readonly before: Record<string, unknown>;
  private plan: Plan | undefined = undefined;
  private tags: readonly string[] = [];
  private plannedTtl: number | undefined = undefined;
  // The handler's headers at header time: what is stored. Middleware mounted before the
  // cache (compression, express-session) adds its own from writeHead hooks that run after
  // ours, for this response only (a replay goes through them again).
  private sent: OutgoingHttpHeaders = {};
  /** The names of `sent` as the handler spelled them (res.getRawHeaderNames()): a hit sends them so. */
  private sentNames: readonly string[] = [];
  private swallowed: 'revalidated' | 'error' | undefined = undefined;
  /** The status the handler answered with (what is stored), when the client is answered 304 instead. */
  private madeStatus: number | undefined = undefined;
  private failedStatus = 500;
  /** Set when a later middleware of this cache took the request over: pass everything through. */
  private aside = false;
  /** Per-user reads while the response is made (./per-user.ts); none for a route that keys on the user or says it is shared. */
  private readonly watch: PerUserWatch | undefined;
  /** The answer could not be stored: the key goes hit-for-miss (src/hit-for-miss.ts). */
  private uncacheable = false;

  constructor(
    private readonly ctx: RequestContext,
    private readonly flight: Lead,
    private readonly options: MissOptions,
  ) {
    const { res } = ctx;
    const stale = options.stale;
    this.stale = stale;
    // The leader makes the whole response for everyone: the client's conditional and range
    // headers are set aside (and put back for the answer), the entry's validators put in.
    const headers = ctx.headers as Record<string, string | string[] | undefined>;
    for (const name of CONDITIONAL) {
      this.clientConditionals[name] = headers[name];
      // A delete of an absent name is a runtime call: the usual request has none of these.
      if (name in headers) delete headers[name];
    }
    this.revalidating = stale !== undefined && ctx.method === 'GET';
    if (stale !== undefined && this.revalidating) {
      // RFC 9111 §4.3.1: validate the stored response with its own validators.
      headers['if-none-match'] = stale.etag;
      if (stale.lastModified) headers['if-modified-since'] = stale.lastModified;
      // The validation request is the cache's, not the client's: a client's no-cache would
      // make Express's req.fresh (jshttp/fresh) refuse the 304 that validates the entry.
      const cc = headers['cache-control'];
      if (typeof cc === 'string') {
        this.clientCacheControl = cc;
        delete headers['cache-control'];
      }
    }
    this.before = res.getHeaders();
    // A HEAD stores nothing, so what it reads cannot matter.
    this.watch = ctx.method === 'HEAD' ? undefined : PerUserWatch.start(ctx.req, headers, ctx.o);
  }

  quiet(on: boolean): void {
    this.watch?.quiet(on);
  }

  ending(): void {
    this.watch?.stop();
  }

  standAside(): void {
    this.aside = true;
    this.watch?.remove();
    this.ctx.engine.metrics.retract('misses');
    this.restoreClient();
    this.end({ kind: 'none' });
  }

  swallow(status: number): boolean {
    if (this.aside) return false;
    const { stale, options } = this;
    if (this.revalidating && status === 304) return Boolean((this.swallowed = 'revalidated'));
    if (
      stale &&
      options.serveStaleOnError &&
      status >= 500 &&
      this.ctx.engine.freshness(stale) !== 'expired' &&
      !invalidatedSince(this.ctx, stale, this.flight)
    ) {
      this.failedStatus = status;
      return Boolean((this.swallowed = 'error'));
    }
    // A 304 that was not ours to ask for reaches the client as it is.
    this.restoreClient();
    return false;
  }

  headers(body: Buffer | undefined): boolean {
    if (this.aside) return false;
    const { ctx } = this;
    const { engine, o, req, res, locals } = ctx;
    if (o.xCache) res.setHeader(o.xCache, 'MISS');
    if (locals.skipped) return this.missNotStored('skip()');
    // Per-user reads so far. The verdict waits for the finished response: a streamed body
    // may read more, and a Vary added after the handler (a hook of a middleware before the
    // cache) may key on what was read; the copy is kept until then.
    const perUser = this.perUser(header(res.getHeader('vary')), false) !== undefined;
    // One snapshot of the headers serves the plan, the tags and what is stored; only a
    // tags callback (user code, which may set headers) makes a second one necessary.
    let headers = res.getHeaders();
    const decision = engine.plan(req, { status: res.statusCode, headers }, o, locals.ttlOverride);
    if (typeof decision === 'string') return this.missNotStored(decision);
    let named: readonly string[] | undefined = [];
    if (o.tags) {
      named = callback(ctx, 'tags', () => o.tags!(req, res));
      if (named === undefined) return this.missNotStored('the tags callback threw');
      headers = res.getHeaders();
    }
    this.plan = decision;
    this.plannedTtl = locals.ttlOverride;
    // Surrogate keys: a `Cache-Tag: a, b` response header tags the entry too.
    this.tags = [...named, ...responseTags(headers, o.tagHeader)];
    // The miss carries the ETag its hits will: computed now when the whole body is known.
    if (body && headers.etag === undefined) {
      const etag = bodyEtag(body);
      res.setHeader('ETag', etag);
      headers.etag = etag;
    }
    this.sent = headers;
    // Before notModifiedForClient() removes the content fields a client's 304 goes without.
    this.sentNames = rawHeaderNames(res);
    // RFC 9211 §2.2, §2.5; after the snapshot of what is stored: hits must not replay it.
    setCacheStatus(res, o, perUser ? { fwd: this.stale ? 'stale' : 'uri-miss', detail: 'per-user' } : { fwd: this.stale ? 'stale' : 'uri-miss', stored: true });
    this.notModifiedForClient();
    return true;
  }

  finished(body: Buffer): void {
    if (this.aside) return;
    const { ctx, sent } = this;
    const { engine, o, req, res, locals } = ctx;
    let plan = this.plan;
    if (!plan || locals.skipped) {
      if (locals.skipped) this.uncacheable = true;
      return this.end({ kind: 'none' });
    }
    // What hooks after the handler added still counts: a session's Set-Cookie is one
    // visitor's, and a Vary added late picks what the entry is stored under.
    const status = this.madeStatus ?? res.statusCode;
    const final = { status, headers: this.madeStatus === undefined ? res.getHeaders() : { ...sent, ...res.getHeaders() } };
    // The targeted field went to the store, not to the client (removed at header time).
    if (o.targetedField !== undefined && !o.forwardTargetedField) final.headers[o.targetedField] = sent[o.targetedField];
    const { cc, expires } = responseDirectives(final.headers, o.targetedField);
    const late = responseNotStorableReason(req, final, cc, o, expires);
    if (late) {
      notStored(ctx, `${late} (added after the handler)`);
      this.uncacheable = true;
      return this.end({ kind: 'none' });
    }
    const finalVary = varyNames(header(final.headers.vary));
    const read = this.perUser(header(final.headers.vary), true);
    this.watch?.remove();
    if (read !== undefined) {
      notStored(ctx, `per-user: the handler read ${read}`);
      this.uncacheable = true;
      return this.end({ kind: 'none' });
    }
    if (locals.ttlOverride !== this.plannedTtl || !sameList(finalVary, plan.vary)) {
      const again = engine.plan(req, { status, headers: { ...sent, vary: final.headers.vary } }, o, locals.ttlOverride);
      if (typeof again === 'string') {
        this.uncacheable = true;
        return this.end({ kind: 'none' });
      }
      plan = again;
    }
    const headers = storableHeaders(changedHeaders(this.before, sent), o.xCache, this.sentNames);
    // A Vary added after the handler (the `vary` option's, compression's) or set before the
    // cache: the entry keeps it as the miss sent it, so a hit sends the same.
    if (finalVary.length && !headers.some(([n]) => n === 'vary'))
      headers.push(['vary', header(final.headers.vary)!, rawHeaderNames(res).find((n) => n.toLowerCase() === 'vary') ?? 'Vary']);
    const tags = this.tags;
    const extra = locals.extraTags;
    engine
      .commit({
        primaryKey: ctx.primaryKey,
        reqHeaders: ctx.headers,
        path: req.baseUrl + req.path,
        status,
        headers,
        body,
        plan,
        tags: extra.length === 0 ? tags : [...tags, ...extra.filter((t) => !tags.includes(t))],
        o,
        making: this.flight.making,
      })
      .then(
        (outcome) => this.end(outcome),
        () => this.end({ kind: 'failed' }),
      );
  }

  abandoned(reason: string): void {
    // The swallowed 304 is never stored itself: onSwallowed() runs next and ends the flight
    // with the freshened entry's commit, which answers the followers (a no-cache entry is
    // never fresh: a flight ended empty here would make each of them validate in turn).
    // The watch stays for onSwallowed(): its verdict on the 304 needs what was read.
    if (this.swallowed === 'revalidated' && reason === SWALLOWED) return;
    this.watch?.remove();
    // One debug line per unstored response: a declined one had its reason logged by headers().
    if (reason !== DECLINED) debug('not stored %s: %s', this.ctx.locals.key, reason);
    if (reason.startsWith(TOO_LARGE)) this.uncacheable = true;
    this.end({ kind: 'none' });
  }

  onCallbackError(err: unknown): void {
    this.ctx.engine.guarded.report(new CallbackError(`a capture hook threw: ${(err as Error)?.message ?? String(err)}`, err), {
      operation: 'callback',
      key: this.ctx.locals.key,
    });
  }

  onSwallowed(): void {
    if (this.aside) return;
    // A 304 made after a per-user read validated the entry for that user only: not freshened for all.
    const read = this.swallowed === 'revalidated' ? this.perUser(undefined, true) : undefined;
    this.watch?.remove();
    const { ctx, stale, before } = this;
    const { res, locals } = ctx;
    const got = changedHeaders(before, res.getHeaders());
    const gotNames = rawHeaderNames(res);
    // Headers the handler set for its 304 or its error are not the stored response's.
    for (const name of res.getHeaderNames()) if (!(name in before)) res.removeHeader(name);
    this.restoreClient();
    if (!stale) return this.end({ kind: 'none' });
    if (this.swallowed === 'error') {
      // stale-if-error (RFC 5861 §4): the handler failed; the stale copy answers instead.
      debug('stale-if-error %s: serving the stale entry', locals.key);
      this.end({ kind: 'none' });
      return answer(ctx, stale, 'STALE', { fwd: 'stale', fwdStatus: this.failedStatus });
    }
    try {
      revalidated(ctx, this.flight, stale, got, gotNames, read);
    } catch (err) {
      this.end({ kind: 'none' });
      throw err;
    }
  }

  /**
   * What the routes read that the key does not vary on (the route's `vary`, the response's
   * `Vary`), unless the answer is said to be shared. `final`: the verdict, which warns once
   * when a middleware mounted between the cache and the route read it.
   */
  private perUser(vary: string | undefined, final: boolean): string | undefined {
    const { watch, ctx } = this;
    if (watch === undefined || !watch.anyRead || ctx.locals.sharedAnswer === true) return undefined;
    const o = ctx.o;
    const read = watch.uncovered(o.vary, vary === undefined ? [] : varyNames(vary));
    if (final && read !== undefined && watch.readBeforeRoute) {
      const req = ctx.req;
      const route = (req.route as { path?: unknown } | undefined)?.path;
      warnBetween(ctx.engine, `${ctx.method} ${req.baseUrl}${typeof route === 'string' ? route : req.path}`, read);
    }
    return read;
  }

  private end(outcome: Parameters<Lead['finish']>[0]): void {
    this.watch?.remove();
    const hitForMiss = this.ctx.engine.coordinator.hitForMiss;
    if (outcome.kind === 'none' && this.uncacheable) {
      // Not storable: its next misses run in parallel, and the followers now all at once.
      hitForMiss.mark(this.ctx.primaryKey);
      return this.flight.finish(UNCACHEABLE);
    }
    if (outcome.kind === 'stored' || outcome.kind === 'shared') hitForMiss.forget(this.ctx.primaryKey);
    this.flight.finish(outcome);
  }

  private restoreClient(): void {
    const headers = this.ctx.headers as Record<string, string | string[] | undefined>;
    if (this.clientCacheControl !== undefined) headers['cache-control'] = this.clientCacheControl;
    for (const name of CONDITIONAL) {
      const value = this.clientConditionals[name];
      if (value !== undefined) headers[name] = value;
      else if (name in headers) delete headers[name];
    }
  }

  private missNotStored(reason: string): false {
    this.uncacheable = true;
    setCacheStatus(this.ctx.res, this.ctx.o, { fwd: this.stale ? 'stale' : 'uri-miss' });
    return notStored(this.ctx, reason);
  }

  /**
   * The client asked conditionally and the whole 200 just made matches its validators:
   * answer it 304 (RFC 9110 §13.1) while the body is still captured for the store.
   */
  private notModifiedForClient(): void {
    const res = this.ctx.res;
    const client = this.clientConditionals;
    if (res.statusCode !== 200 || (client['if-none-match'] === undefined && client['if-modified-since'] === undefined)) return;
    const etag = res.getHeader('etag');
    const lastModified = res.getHeader('last-modified');
    if (typeof etag !== 'string' || !isNotModified(client, etag, typeof lastModified === 'string' ? lastModified : undefined)) return;
    this.madeStatus = 200;
    res.statusCode = 304;
    // RFC 9110 §15.4.5: no content, so none of the fields that describe it.
    for (const name of ['content-length', 'content-type', 'content-encoding', 'content-range', 'transfer-encoding']) res.removeHeader(name);
  }
}

/**
 * The handler answered 304 to the entry's validators: freshen it (RFC 9111 §4.3.4), store it,
 * serve it; not stored when the handler read per-user state (`perUser`) to answer.
 * `names`: the 304's header names as the handler spelled them.
 */
function revalidated(
  ctx: RequestContext,
  flight: Lead,
  stale: CachedResponse,
  from304: Record<string, unknown>,
  names: readonly string[],
  perUser: string | undefined,
): void {
  const { engine, o, req, locals } = ctx;
  // The freshened response is made now: it carries the 304's Date, else this moment's (commit adds it).
  const headers = freshenHeaders(stale.headers, from304 as Parameters<typeof freshenHeaders>[1], o.xCache, names).filter(
    ([n]) => n !== 'date' || from304.date !== undefined,
  );
  const record: Record<string, HeaderValue> = {};
  for (const [n, v] of headers) record[n] = v;
  // RFC 9111 §4.2.3: the 304's Age is the validated response's age at the origin.
  if (from304.age !== undefined) record.age = from304.age as HeaderValue;
  const plan = engine.plan(req, { status: stale.status, headers: record }, o, locals.ttlOverride);
  engine.metrics.revalidated();
  locals.status = 'REVALIDATED';
  const entry: CachedResponse =
    typeof plan === 'string' ? stale : { ...stale, headers: withDate(headers, plan.times.storedAt), ...plan.times, originAge: plan.originAge };
  answer(ctx, entry, 'REVALIDATED', { fwd: 'stale', fwdStatus: 304 });
  if (perUser !== undefined) notStored(ctx, `per-user: the handler read ${perUser} to revalidate`);
  if (typeof plan === 'string' || perUser !== undefined) return flight.finish({ kind: 'none' });
  engine
    .commit({
      primaryKey: ctx.primaryKey,
      reqHeaders: ctx.headers,
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

/** Spelled as Node spells the Date it adds itself, which the miss sent. */
function withDate(headers: StoredHeader[], at: number): StoredHeader[] {
  return headers.some(([n]) => n === 'date') ? headers : [...headers, ['date', httpDate(at), 'Date']];
}

function answer(ctx: RequestContext, entry: CachedResponse, status: 'STALE' | 'REVALIDATED', forwarded: { fwd: Forward; fwdStatus: number }): void {
  const { engine, res, locals } = ctx;
  locals.status = status;
  if (status === 'STALE') engine.metrics.staleHit(locals.key);
  try {
    replay(ctx, entry, status, engine.now(), forwarded);
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

/**
 * The response's header names as they were set (Node keeps each spelling; on every
 * OutgoingMessage since 15.13, though @types/node 20 declares it on ClientRequest only).
 */
function rawHeaderNames(res: ServerResponse): string[] {
  return (res as ServerResponse & { getRawHeaderNames(): string[] }).getRawHeaderNames();
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((v, i) => v === b[i]);
}
