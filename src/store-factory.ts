/**
 * The store `createCache({ redis, tiered })` builds for itself.
 */

import type { CacheStore } from './stores/store';
import type { CacheOptions } from './types';

export function createStoreFromOptions(options: Pick<CacheOptions, "redis" | "tiered">): CacheStore {
  const redis = options.redis;
  if (typeof redis !== 'string' && (redis === null || typeof redis !== 'object')) {
    throw new TypeError(`createCache: redis must be a Redis URL or an ioredis Redis or Cluster, got ${redis === null ? 'null' : typeof redis}`);
  }
  throw new TypeError('createCache: redis is not supported yet');
}
