/**
 * Shared public types. The core knows nothing of Express: request and response types are
 * parameters (`Req`, `Res`) that the middleware fills in with Express's.
 */

import type { Duration } from './duration';
import type { CacheError } from './errors';
import type { RedisLike } from './redis-like';
import type { CacheStore } from './stores/store';

/** What the cache did with a request; also sent as `X-Cache`. */
export type CacheStatus = 'HIT' | 'MISS' | 'STALE' | 'REVALIDATED' | 'BYPASS';

/** What `invalidate()` removes. Paths and prefixes are request paths as clients send them. */
export interface InvalidateTarget {
  /** Exact cache keys, as `res.locals.cache.key` shows them. */
  keys?: readonly string[];
  /** Every variant (query, vary) of each exact path. */
  paths?: readonly string[];
  /** Every path that starts with each prefix, literally (no glob). */
  prefixes?: readonly string[];
  /** Every entry carrying any of the tags, responses and values alike. */
  tags?: readonly string[];
}

/** Response counters, and the values' apart. */
export interface CacheStats {
  hits: number;
  misses: number;
  stale: number;
  /** Stale entries refreshed by a 304 from the handler. */
  revalidated: number;
  bypasses: number;
  stores: number;
  /** Entries removed by invalidation, responses and values alike. */
  invalidations: number;
  /** Store, codec and serializer errors, responses and values alike. */
  errors: number;
  /** hits (stale included) / (hits + stale + misses); 0 before any lookup. */
  hitRatio: number;
  /**
   * True while the store may evict the keys invalidation reads (a Redis `maxmemory-policy`
   * other than `noeviction`, or evictions seen) and the cache bypasses it
   * (`whenStoreEvicts: 'bypass'`): requests go to the handler, nothing is stored.
   */
  evictionBypass: boolean;
  /** `cache.values()` and `cache.cached()`: counted apart from responses. */
  values: ValueStats;
}

export interface ValueStats {
  hits: number;
  misses: number;
  stores: number;
  /** hits / (hits + misses); 0 before any lookup. */
  hitRatio: number;
}

/** Where an error reported to `onError` came from. */
export interface ErrorContext {
  operation: 'get' | 'set' | 'delete' | 'invalidate' | 'lock' | 'decode' | 'encode' | 'serialize' | 'ping' | 'refresh' | 'check' | 'callback' | 'counter';
  key?: string;
}

export type ErrorHandler = (err: CacheError, context: ErrorContext) => void;

/** Query parameter names part of the key: all but `ignore`, or only `only`. Names may end in `*`. */
export type QueryOption = { ignore: readonly string[] } | { only: readonly string[] };

export interface HeadersOption {
  /** Name of the header saying HIT / MISS / STALE / BYPASS, or false for none. @default 'X-Cache' */
  xCache?: string | false;
  /** Send `Age` on hits. @default true */
  age?: boolean;
  /**
   * The cache's name in an RFC 9211 `Cache-Status` header (`name; hit; ttl=42`,
   * `name; fwd=uri-miss; stored`, ...), or false for none. Off by default: it tells any
   * client how the cache treated its request. @default false
   */
  cacheStatus?: string | false;
}

/** Options of `createCache()`; every one but `store`, `redis` and `tiered` can be overridden per route. */
export interface CacheOptions<Req = unknown, Res = unknown> {
  /** Any CacheStore. @default new MemoryStore() */
  store?: CacheStore;
  /**
   * A Redis URL, or an ioredis `Redis` or `Cluster`: shorthand for a RedisStore. Given as
   * a key whose value is undefined (`redis: process.env.REDIS_URL` unset), the cache runs in
   * memory and says so once with console.warn.
   */
  redis?: string | RedisLike;
  /** With `redis`: a bounded memory tier in front of Redis, kept coherent over pub/sub. @default false */
  tiered?: boolean;
  /** @default 'http' */
  namespace?: string;
  /** Bumping it orphans every entry. @default 'v1' */
  version?: string;
  /** @default 'cache' */
  prefix?: string;
  /** Seconds an entry is fresh when the response says nothing of freshness. @default 60 */
  ttl?: Duration;
  /**
   * 'response': the response's own s-maxage / max-age / Expires decide how long an entry is
   * fresh, and `ttl` fills in. 'ttl': `ttl` always decides (express.static, res.sendFile,
   * APIs sending max-age=0 or no-cache to browsers); no-store, private, Set-Cookie and
   * Authorization still keep a response out. The client still gets the response's own
   * Cache-Control. @default 'response'
   */
  freshness?: 'response' | 'ttl';
  /** Upper bound in seconds on any TTL, response headers' included. @default undefined */
  maxTtl?: Duration;
  /** Each TTL is drawn uniformly from ttl * (1 ± jitter). @default 0.1 */
  jitter?: number;
  /** Seconds past expiry during which a stale entry is served while one request refreshes it. @default 0 */
  staleWhileRevalidate?: Duration;
  /** Seconds past expiry during which a stale entry is served when the handler fails. @default 0 */
  staleIfError?: Duration;
  /** Methods answered from the cache; HEAD is answered from the GET entry. @default ['GET', 'HEAD'] */
  methods?: readonly string[];
  /** Statuses stored (RFC 9110 §15.1's cacheable-by-default 2xx). @default [200, 203, 204] */
  statuses?: readonly number[];
  /**
   * `'explicit'`: a 5xx (500–599) is stored only when it states its own freshness
   * (s-maxage, max-age, Expires), RFC 9111 §3 read literally; a 5xx without one never is,
   * whatever `statuses` lists. @default false (a 5xx only when listed in `statuses`)
   */
  storeErrors?: false | 'explicit';
  /**
   * A targeted Cache-Control field for this cache (RFC 9213), e.g. 'App-Cache-Control' or
   * 'CDN-Cache-Control'. When a response carries it as a valid, non-empty Structured Fields
   * Dictionary it replaces Cache-Control and Expires for this cache's storability and
   * freshness decisions; the client still gets Cache-Control. @default undefined
   */
  targetedField?: string;
  /** Send the `targetedField` header on to clients (for a CDN in front that reads it too). @default false */
  forwardTargetedField?: boolean;
  /** Request headers always part of the key. @default [] */
  vary?: readonly string[];
  /**
   * The host the app sees (Express's `req.hostname`, which follows `trust proxy` and
   * X-Forwarded-Host; the port is not part of it) is part of the key, so a response
   * built from the Host header (absolute links, a tenant picked by host) is never served
   * for another host. `false` for apps that answer every host alike. @default true
   */
  host?: boolean;
  /** Which query parameters are part of the key. @default all */
  query?: QueryOption;
  /** Replaces the built key (still namespaced). */
  key?: (req: Req) => string;
  /** Tags for the stored entry: a list, or a function read when the response is stored. */
  tags?: readonly string[] | ((req: Req, res: Res) => readonly string[]);
  /**
   * Response header whose comma list adds tags to the entry (the surrogate-key convention
   * of CDNs), namespaced like `tags`; false ignores it. The header itself is sent on and
   * replayed as the handler set it. @default 'Cache-Tag'
   */
  tagHeader?: string | false;
  /** Larger bodies are streamed to the client and not stored. @default 1048576 */
  maxEntryBytes?: number;
  /** Milliseconds after which a store call counts as a miss. @default 100 */
  storeTimeout?: number;
  /** While the store is out: 'bypass' to the origin, or 'memory' through a small local store. @default 'bypass' */
  whenStoreDown?: 'bypass' | 'memory';
  /** Most seconds an entry is kept by the `whenStoreDown: 'memory'` fallback. @default 5 */
  fallbackTtl?: Duration;
  /**
   * While Redis may evict the keys invalidation reads (a `maxmemory-policy` other than
   * `noeviction`, or evictions seen): 'bypass' reads and writes no entries there (requests
   * go to the handler, or to the `whenStoreDown: 'memory'` fallback; invalidations still
   * reach Redis) until it is safe again; 'best-effort' caches anyway, accepting that an
   * invalidation may miss an entry whose index was evicted. Reported through onError
   * (ERC_STORE_CONFIG) either way. @default 'bypass'
   */
  whenStoreEvicts?: 'bypass' | 'best-effort';
  /**
   * With Redis replicas: most seconds a mutating request's answer (and `invalidate()`) is
   * held while its invalidation waits for a replica to confirm it (WAIT), through a
   * failover. Past it the answer goes anyway and `onError` hears ERC_FAILOVER_TIMEOUT.
   * 0 never waits. @default 30
   */
  failoverTimeout?: Duration;
  /** Concurrent misses on one key make one origin call; `{ timeout }` bounds a follower's wait (ms). @default true */
  coalesce?: boolean | { timeout: number };
  /** A 2xx/3xx answer to an unsafe method invalidates its path first (RFC 9111 §4.4). @default true */
  invalidateUnsafe?: boolean;
  /** Diagnostic headers, or false for none. @default { xCache: 'X-Cache', age: true } */
  headers?: HeadersOption | false;
  /** Requests for which the cache neither reads nor writes. */
  bypass?: (req: Req) => boolean;
  /** Let requests with Authorization use the cache (RFC 9111 §3.5). @default false */
  shareAuthorized?: boolean;
  /**
   * The answer is the same for everyone, even though the handler reads per-user request
   * state (`req.session`, `req.user`, cookies, Authorization): store it anyway. @default false
   */
  shared?: boolean;
  /** Hears store and codec errors. @default logs once per error code */
  onError?: ErrorHandler;
}

/** What `cache.middleware(overrides)` takes: every option but those of the shared store, set once in createCache(). */
export type RouteOptions<Req = unknown, Res = unknown> = Omit<
  CacheOptions<Req, Res>,
  'store' | 'redis' | 'tiered' | 'whenStoreDown' | 'fallbackTtl' | 'whenStoreEvicts' | 'onError'
>;
