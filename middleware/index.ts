/**
 * The package's entry point: the core's public API (src/index.ts) and its Express binding,
 * the names the README documents and no others (the rest: ./internals.ts).
 */

import { MemoryStore } from '../src/stores/memory';
import { RedisStore } from '../src/stores/redis';
import { TieredStore } from '../src/stores/tiered';
import { buildCacheKey } from '../src/key';
import { ttlWithJitter } from '../src/ttl';
import { cacheResponses, createCache } from './cache-responses';
import { getRequestCache } from './locals';

export * from '../src/index';
export {
  cacheResponses,
  createCache,
  type ExpressResponseCache,
  type CacheResponsesHandler,
  type ExpressCacheOptions,
  type ExpressRouteOptions,
} from './cache-responses';
export { getRequestCache, type RequestCache } from './locals';
export type { TargetOrFn } from './invalidates';

/**
 * `import erc from 'express-response-cache'`: the main functions and stores on one object,
 * for those who prefer a default import (named imports are the documented way).
 */
const erc = Object.freeze({ cacheResponses, createCache, getRequestCache, MemoryStore, RedisStore, TieredStore, buildCacheKey, ttlWithJitter });
export default erc;
