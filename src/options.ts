/**
 * Option defaults and the one resolver every option goes through, at construction and for
 * per-route overrides alike. Bad input throws a TypeError naming the option; nothing is
 * checked at request time.
 */

import type { CacheOptions, ErrorHandler, HeadersOption, QueryOption } from './types';
import cluster from 'node:cluster';
import { parseDuration } from './duration';
import { compileNameFilter, type NameFilter } from './key';

/** The defaults, as the README states them (a test holds the two together). */
/* eslint-disable @typescript-eslint/no-unnecessary-type-assertion -- the casts give each default its option's type, not the literal's */
export const DEFAULTS = Object.freeze({
  namespace: 'http',
  version: 'v1',
  prefix: 'cache',
  ttl: 60,
  maxTtl: undefined as number | undefined,
  jitter: 0.1,
  staleWhileRevalidate: 0,
  staleIfError: 0,
  methods: Object.freeze<string[]>(['GET', 'HEAD']),
  statuses: Object.freeze<number[]>([200, 203, 204]),
  vary: Object.freeze<string[]>([]),
  host: true,
  maxEntryBytes: 1024 * 1024,
  storeTimeout: 100,
  whenStoreDown: 'bypass' as 'bypass' | 'memory',
  fallbackTtl: 5,
  whenStoreEvicts: 'bypass' as 'bypass' | 'best-effort',
  failoverTimeout: 30,
  coalesce: true as boolean | { timeout: number },
  coalesceTimeout: 10_000,
  invalidateUnsafe: true,
  headers: Object.freeze({ xCache: 'X-Cache', age: true, cacheStatus: false }) as Readonly<Required<HeadersOption>>,
  freshness: 'response' as 'response' | 'ttl',
  tagHeader: 'Cache-Tag' as string | false,
  shareAuthorized: false,
  shared: false,
  tiered: false,
  storeErrors: false as false | 'explicit',
  targetedField: undefined as string | undefined,
  forwardTargetedField: false,
});
/* eslint-enable @typescript-eslint/no-unnecessary-type-assertion */

/** Options after validation, with derived fields the request path uses as they are. */
export interface ResolvedOptions<Req = unknown, Res = unknown> {
  readonly namespace: string;
  readonly version: string;
  readonly prefix: string;
  /** `prefix:version:namespace:`, the head of every key, path index and tag. */
  readonly keyPrefix: string;
  readonly ttl: number;
  /** 'response': the response's own freshness wins; 'ttl': the ttl option always decides. */
  readonly freshness: 'response' | 'ttl';
  readonly maxTtl: number | undefined;
  readonly jitter: number;
  readonly staleWhileRevalidate: number;
  readonly staleIfError: number;
  readonly methods: ReadonlySet<string>;
  readonly statuses: ReadonlySet<number>;
  /** Lower-case, sorted, de-duplicated. */
  readonly vary: readonly string[];
  /** `vary`'s names as the option spelled them, index for index: what the response's Vary gets. */
  readonly varySpelled: readonly string[];
  /** The host the app sees is part of the built key. */
  readonly host: boolean;
  readonly query: QueryOption | undefined;
  /** Compiled from `query`: true when a parameter name belongs in the key. */
  readonly queryFilter: NameFilter | undefined;
  readonly key: ((req: Req) => string) | undefined;
  /** Always a function: a plain array is wrapped. */
  readonly tags: ((req: Req, res: Res) => readonly string[]) | undefined;
  /** Lower-case name of the response header whose comma list adds tags, or false. */
  readonly tagHeader: string | false;
  readonly maxEntryBytes: number;
  readonly storeTimeout: number;
  readonly whenStoreDown: 'bypass' | 'memory';
  readonly fallbackTtl: number;
  readonly whenStoreEvicts: 'bypass' | 'best-effort';
  /** Seconds an invalidation's answer is held for a Redis replica to confirm it (through a failover). */
  readonly failoverTimeout: number;
  /** Follower wait bound in ms, or false when misses are not coalesced. */
  readonly coalesce: false | { readonly timeout: number };
  readonly invalidateUnsafe: boolean;
  readonly xCache: string | false;
  readonly age: boolean;
  /** The cache's name in RFC 9211 Cache-Status, or false for no header. */
  readonly cacheStatus: string | false;
  readonly bypass: ((req: Req) => boolean) | undefined;
  readonly shareAuthorized: boolean;
  /** The answer is the same for everyone: per-user reads on a miss do not keep it from the store. */
  readonly shared: boolean;
  readonly onError: ErrorHandler | undefined;
  /** `'explicit'`: a 5xx is stored only with freshness of its own (RFC 9111 §3). */
  readonly storeErrors: false | 'explicit';
  /** Lower-case name of the RFC 9213 targeted field this cache obeys, or undefined. */
  readonly targetedField: string | undefined;
  readonly forwardTargetedField: boolean;
}

const KNOWN = new Set([
  'store',
  'redis',
  'tiered',
  'namespace',
  'version',
  'prefix',
  'ttl',
  'maxTtl',
  'jitter',
  'staleWhileRevalidate',
  'staleIfError',
  'methods',
  'statuses',
  'vary',
  'host',
  'query',
  'key',
  'tags',
  'freshness',
  'tagHeader',
  'maxEntryBytes',
  'storeTimeout',
  'whenStoreDown',
  'fallbackTtl',
  'whenStoreEvicts',
  'failoverTimeout',
  'coalesce',
  'invalidateUnsafe',
  'headers',
  'bypass',
  'shareAuthorized',
  'shared',
  'onError',
  'storeErrors',
  'targetedField',
  'forwardTargetedField',
]);
const CONSTRUCTION_ONLY = ['store', 'redis', 'tiered', 'failoverTimeout'];
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/; // RFC 9110 §5.6.2 token (method and header names)
const NAME_PART = /^[A-Za-z0-9._-]+$/; // namespace, version, prefix: nothing that acts as a separator

/**
 * The options object `where` was given (none: `{}`); anything else is a TypeError that says
 * what was passed and, for a duration, how to write it (`cacheResponses('5 minutes')`).
 */
export function optionsObject(input: unknown, where: string): Record<string, unknown> {
  if (input === undefined || input === null) return {};
  if (typeof input === 'object' && !Array.isArray(input)) return input as Record<string, unknown>;
  let hint = '';
  if (typeof input === 'number') hint = `; for a TTL, write ${where}({ ttl: ${input} })`;
  // A bare number in a string is seconds here: the hint must not suggest a refused duration.
  else if (typeof input === 'string') hint = `; for a TTL, write ${where}({ ttl: ${/^\d+(\.\d+)?$/.test(input) ? Number(input) : `'${input}'`} })`;
  throw new TypeError(`${where}: options must be an object, got ${show(input)}${hint}`);
}

/**
 * Validate `input` and merge it over `base` (the cache's own options, for per-route
 * overrides). `where` names the caller in messages: 'createCache' or 'cache.middleware'.
 */
export function resolveOptions<Req, Res>(
  input: CacheOptions<Req, Res> | undefined,
  base?: ResolvedOptions<Req, Res>,
  where = 'createCache',
): ResolvedOptions<Req, Res> {
  const o = optionsObject(input, where);
  for (const name of Object.keys(o)) {
    if (!KNOWN.has(name)) throw new TypeError(`${where}: unknown option "${name}"`);
    if (base && CONSTRUCTION_ONLY.includes(name) && o[name] !== undefined) {
      throw new TypeError(`${where}: ${name} can only be set in createCache(), not per route`);
    }
  }
  if (!base) warnAtConstruction(o);
  const fail = (name: string, rule: string, got: unknown): never => {
    throw new TypeError(`${where}: ${name} must be ${rule}, got ${show(got)}`);
  };
  const pick = <T>(name: string, fallback: T): T => (o[name] === undefined ? fallback : (o[name] as T));

  const namePart = (name: 'namespace' | 'version' | 'prefix'): string => {
    const v = pick(name, base ? base[name] : DEFAULTS[name]);
    if (typeof v !== 'string' || !NAME_PART.test(v)) fail(name, 'a non-empty string of letters, digits, ".", "_" or "-"', v);
    return v;
  };
  const seconds = (name: string, given: unknown, allowZero: boolean): number => {
    // '5 minutes', '1h' (the `ms` package, as apicache users write them) become seconds.
    const v = parseDuration(given, `${where}: ${name}`);
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (!allowZero && v === 0)) {
      fail(
        name,
        allowZero ? "a number of seconds >= 0 (or a duration string: '30s')" : "a positive number of seconds (ttl: 300) or a duration string ('5 minutes')",
        given,
      );
    }
    return v as number;
  };
  const fn = <F>(name: string, fallback: F | undefined): F | undefined => {
    const v = pick<unknown>(name, fallback);
    if (v !== undefined && typeof v !== 'function') fail(name, 'a function', v);
    return v as F | undefined;
  };
  const bool = (name: string, fallback: boolean): boolean => {
    const v = pick<unknown>(name, fallback);
    if (typeof v !== 'boolean') fail(name, 'true or false', v);
    return v as boolean;
  };

  const namespace = namePart('namespace');
  const version = namePart('version');
  const prefix = namePart('prefix');
  const ttl = seconds('ttl', pick('ttl', base ? base.ttl : DEFAULTS.ttl), false);
  const freshness = pick<unknown>('freshness', base ? base.freshness : DEFAULTS.freshness);
  if (freshness !== 'response' && freshness !== 'ttl') fail('freshness', "'response' or 'ttl'", freshness);
  const maxTtlIn = pick<unknown>('maxTtl', base ? base.maxTtl : DEFAULTS.maxTtl);
  const maxTtl = maxTtlIn === undefined ? undefined : seconds('maxTtl', maxTtlIn, false);
  const jitter = pick<unknown>('jitter', base ? base.jitter : DEFAULTS.jitter);
  if (typeof jitter !== 'number' || !(jitter >= 0 && jitter < 1)) fail('jitter', 'a number from 0 up to (not including) 1', jitter);
  const swr = seconds('staleWhileRevalidate', pick('staleWhileRevalidate', base ? base.staleWhileRevalidate : DEFAULTS.staleWhileRevalidate), true);
  const sie = seconds('staleIfError', pick('staleIfError', base ? base.staleIfError : DEFAULTS.staleIfError), true);

  let methods = base ? base.methods : new Set(DEFAULTS.methods);
  if (o.methods !== undefined) {
    const v = o.methods;
    // Only GET and HEAD: the key holds no request body, and other methods change state.
    if (!Array.isArray(v) || v.length === 0 || !v.every((m) => typeof m === 'string' && /^(GET|HEAD)$/i.test(m))) {
      fail('methods', "a non-empty array of 'GET' and 'HEAD'", v);
    }
    methods = new Set((v as string[]).map((m) => m.toUpperCase()));
  }
  let statuses = base ? base.statuses : new Set(DEFAULTS.statuses);
  if (o.statuses !== undefined) {
    const v = o.statuses;
    // Never a 304 (Express makes one from any matching conditional GET) nor a 206 (a part
    // replayed to a request for the whole).
    if (!Array.isArray(v) || v.length === 0 || !v.every((s) => Number.isInteger(s) && s >= 200 && s <= 599 && s !== 304 && s !== 206)) {
      fail('statuses', 'a non-empty array of status codes from 200 to 599 (never 206 or 304)', v);
    }
    statuses = new Set(v as number[]);
  }
  let vary = base ? base.vary : DEFAULTS.vary;
  let varySpelled = base ? base.varySpelled : DEFAULTS.vary;
  if (o.vary !== undefined) {
    const v = o.vary;
    if (!Array.isArray(v) || !v.every((h) => typeof h === 'string' && TOKEN.test(h))) fail('vary', 'an array of header names', v);
    // The first spelling of a name is the one sent (`['X-Tenant', 'x-tenant']`: X-Tenant).
    const spelled = new Map<string, string>();
    for (const h of v as string[]) if (!spelled.has(h.toLowerCase())) spelled.set(h.toLowerCase(), h);
    vary = Object.freeze([...spelled.keys()].sort());
    varySpelled = Object.freeze(vary.map((n) => spelled.get(n)!));
  }
  let query = base ? base.query : undefined;
  let queryFilter = base ? base.queryFilter : undefined;
  if (o.query !== undefined) {
    query = checkQuery(o.query, fail);
    queryFilter = compileNameFilter(query);
  }
  let tags = base ? base.tags : undefined;
  if (o.tags !== undefined) {
    const v = o.tags;
    if (Array.isArray(v)) {
      if (!v.every((t) => typeof t === 'string' && t.length > 0)) fail('tags', 'an array of non-empty strings or a function', v);
      const list = Object.freeze([...(v as string[])]);
      tags = () => list;
    } else if (typeof v === 'function') tags = v as (req: Req, res: Res) => readonly string[];
    else fail('tags', 'an array of non-empty strings or a function', v);
  }
  let tagHeader = base ? base.tagHeader : DEFAULTS.tagHeader;
  if (o.tagHeader !== undefined) {
    const v = o.tagHeader;
    if (v !== false && (typeof v !== 'string' || !TOKEN.test(v))) fail('tagHeader', 'a header name or false', v);
    tagHeader = v as string | false;
  }
  if (tagHeader) tagHeader = tagHeader.toLowerCase();
  const maxEntryBytes = pick<unknown>('maxEntryBytes', base ? base.maxEntryBytes : DEFAULTS.maxEntryBytes);
  if (typeof maxEntryBytes !== 'number' || !Number.isSafeInteger(maxEntryBytes) || maxEntryBytes < 0) {
    fail('maxEntryBytes', 'a whole number of bytes >= 0', maxEntryBytes);
  }
  const storeTimeout = pick<unknown>('storeTimeout', base ? base.storeTimeout : DEFAULTS.storeTimeout);
  if (typeof storeTimeout !== 'number' || !Number.isFinite(storeTimeout) || storeTimeout <= 0) {
    fail('storeTimeout', 'a positive number of milliseconds', storeTimeout);
  }
  const whenStoreDown = pick<unknown>('whenStoreDown', base ? base.whenStoreDown : DEFAULTS.whenStoreDown);
  if (whenStoreDown !== 'bypass' && whenStoreDown !== 'memory') fail('whenStoreDown', "'bypass' or 'memory'", whenStoreDown);
  const fallbackTtl = seconds('fallbackTtl', pick('fallbackTtl', base ? base.fallbackTtl : DEFAULTS.fallbackTtl), false);
  const whenStoreEvicts = pick<unknown>('whenStoreEvicts', base ? base.whenStoreEvicts : DEFAULTS.whenStoreEvicts);
  if (whenStoreEvicts !== 'bypass' && whenStoreEvicts !== 'best-effort') fail('whenStoreEvicts', "'bypass' or 'best-effort'", whenStoreEvicts);
  const failoverTimeout = seconds('failoverTimeout', pick('failoverTimeout', base ? base.failoverTimeout : DEFAULTS.failoverTimeout), true);

  let coalesce = base ? base.coalesce : { timeout: DEFAULTS.coalesceTimeout };
  if (o.coalesce !== undefined) {
    const v = o.coalesce as unknown;
    if (v === true) coalesce = { timeout: DEFAULTS.coalesceTimeout };
    else if (v === false) coalesce = false;
    else if (
      v &&
      typeof v === 'object' &&
      typeof (v as { timeout?: unknown }).timeout === 'number' &&
      (v as { timeout: number }).timeout > 0 &&
      Number.isFinite((v as { timeout: number }).timeout)
    ) {
      coalesce = { timeout: (v as { timeout: number }).timeout };
    } else fail('coalesce', 'true, false or { timeout: positive ms }', v);
  }

  let xCache: string | false = base ? base.xCache : DEFAULTS.headers.xCache;
  let age = base ? base.age : DEFAULTS.headers.age;
  let cacheStatus: string | false = base ? base.cacheStatus : DEFAULTS.headers.cacheStatus;
  const shape = '{ xCache?, age?, cacheStatus? }';
  if (o.headers !== undefined) {
    const v = o.headers as unknown;
    if (v === false) {
      xCache = false;
      age = false;
      cacheStatus = false;
    } else if (v && typeof v === 'object' && !Array.isArray(v)) {
      const h = v as HeadersOption;
      for (const k of Object.keys(h)) if (k !== 'xCache' && k !== 'age' && k !== 'cacheStatus') fail('headers', shape, v);
      if (h.xCache !== undefined) {
        if (h.xCache !== false && (typeof h.xCache !== 'string' || !TOKEN.test(h.xCache))) fail('headers.xCache', 'a header name or false', h.xCache);
        xCache = h.xCache;
      }
      if (h.age !== undefined) {
        if (typeof h.age !== 'boolean') fail('headers.age', 'true or false', h.age);
        age = h.age;
      }
      if (h.cacheStatus !== undefined) {
        // RFC 9211 §2: the cache's identifier, sent as a token or a quoted string.
        if (
          h.cacheStatus !== false &&
          (typeof h.cacheStatus !== 'string' || !/^[\x20-\x7e]{1,64}$/.test(h.cacheStatus) || h.cacheStatus.trim() !== h.cacheStatus || !h.cacheStatus)
        ) {
          fail('headers.cacheStatus', 'a cache name of 1 to 64 printable ASCII characters, or false', h.cacheStatus);
        }
        cacheStatus = h.cacheStatus;
      }
    } else fail('headers', `${shape} or false`, v);
  }

  if (o.tiered !== undefined && typeof o.tiered !== 'boolean') fail('tiered', 'true or false', o.tiered);
  const storeErrors = pick<unknown>('storeErrors', base ? base.storeErrors : DEFAULTS.storeErrors);
  if (storeErrors !== false && storeErrors !== 'explicit') fail('storeErrors', "false or 'explicit'", storeErrors);
  let targetedField = base ? base.targetedField : DEFAULTS.targetedField;
  if (o.targetedField !== undefined) {
    const v = o.targetedField;
    // RFC 9213 §2: a field name; Cache-Control itself would make it a no-op that hides the real one.
    if (typeof v !== 'string' || !TOKEN.test(v) || v.toLowerCase() === 'cache-control')
      fail('targetedField', "a header name other than Cache-Control (e.g. 'CDN-Cache-Control')", v);
    targetedField = (v as string).toLowerCase();
  }

  return Object.freeze({
    namespace,
    version,
    prefix,
    keyPrefix: `${prefix}:${version}:${namespace}:`,
    ttl,
    freshness: freshness as 'response' | 'ttl',
    maxTtl,
    jitter: jitter as number,
    staleWhileRevalidate: swr,
    staleIfError: sie,
    methods,
    statuses,
    vary,
    varySpelled,
    query,
    queryFilter,
    host: bool('host', base ? base.host : DEFAULTS.host),
    key: fn<(req: Req) => string>('key', base?.key),
    tags,
    tagHeader,
    maxEntryBytes: maxEntryBytes as number,
    storeTimeout: storeTimeout as number,
    whenStoreDown: whenStoreDown as 'bypass' | 'memory',
    fallbackTtl,
    whenStoreEvicts: whenStoreEvicts as 'bypass' | 'best-effort',
    failoverTimeout,
    coalesce,
    invalidateUnsafe: bool('invalidateUnsafe', base ? base.invalidateUnsafe : DEFAULTS.invalidateUnsafe),
    xCache,
    age,
    cacheStatus,
    bypass: fn<(req: Req) => boolean>('bypass', base?.bypass),
    shareAuthorized: bool('shareAuthorized', base ? base.shareAuthorized : DEFAULTS.shareAuthorized),
    shared: bool('shared', base ? base.shared : DEFAULTS.shared),
    onError: fn<ErrorHandler>('onError', base?.onError),
    storeErrors: storeErrors as false | 'explicit',
    targetedField,
    forwardTargetedField: bool('forwardTargetedField', base ? base.forwardTargetedField : DEFAULTS.forwardTargetedField),
  });
}

const warned = new Set<string>();

/** console.warn once per process and kind: a misconfiguration worth hearing, not a flood. */
function warnOnce(kind: string, message: string): void {
  if (warned.has(kind)) return;
  warned.add(kind);
  console.warn(`express-response-cache: ${message}`);
}

/** Set-ups that run but not as the user likely meant: said once, at construction. */
function warnAtConstruction(o: Record<string, unknown>): void {
  // `redis: process.env.REDIS_URL` with the variable unset: indistinguishable from no
  // option at all, except that the key is there. Running in memory is right for a laptop,
  // and in production it quietly turns off cross-instance invalidation: say so.
  if ('redis' in o && o.redis === undefined && o.store === undefined) {
    warnOnce('redis-undefined', "createCache({ redis }) was given undefined (an unset REDIS_URL?): caching in this process's memory, not in Redis");
  }
  const store = o.store as { local?: unknown } | undefined;
  const local = o.redis === undefined && (store === undefined || store.local === true);
  if (local && isClusterWorker()) {
    warnOnce(
      'cluster-worker',
      'this process is a cluster worker (node:cluster or PM2 cluster mode) with a process-local memory store: each worker caches and invalidates its own copy, so an invalidation on one worker leaves the others serving the old body until it expires. Use Redis (createCache({ redis })) to share one cache',
    );
  }
}

/** node:cluster worker, or a PM2 cluster-mode instance (PM2 runs them on node:cluster too, and says so in the env). */
function isClusterWorker(): boolean {
  return cluster.isWorker || process.env.exec_mode === 'cluster_mode';
}

function checkQuery(v: unknown, fail: (name: string, rule: string, got: unknown) => never): QueryOption {
  const names = (list: unknown): list is string[] => Array.isArray(list) && list.every((n) => typeof n === 'string' && n.length > 0);
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    const keys = Object.keys(v);
    const q = v as Record<string, unknown>;
    if (keys.length === 1 && keys[0] === 'ignore' && names(q.ignore)) return { ignore: [...q.ignore] };
    if (keys.length === 1 && keys[0] === 'only' && names(q.only)) return { only: [...q.only] };
  }
  return fail('query', '{ ignore: [names] } or { only: [names] }', v);
}

function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'function') return 'a function';
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}
