/**
 * The store `createCache({ redis, tiered })` builds for itself (and so closes in close()).
 */

import { RedisStore } from './stores/redis';
import type { CacheStore } from './stores/store';
import { TieredStore } from './stores/tiered';
import type { CacheOptions } from './types';

export function createStoreFromOptions(options: Pick<CacheOptions, 'redis' | 'tiered'>): CacheStore {
  const redis = options.redis;
  let store: RedisStore;
  // Under a memory tier the tier publishes (and is acknowledged); a plain store announces itself.
  const channel = options.tiered ? false : undefined;
  if (typeof redis === 'string') store = new RedisStore({ url: redis, channel });
  else if (redis !== null && typeof redis === 'object' && typeof (redis as { getBuffer?: unknown }).getBuffer === 'function') {
    store = new RedisStore({ client: redis as ConstructorParameters<typeof RedisStore>[0]['client'], channel });
  } else {
    throw new TypeError(`createCache: redis must be a Redis URL or an ioredis Redis or Cluster, got ${redis === null ? 'null' : typeof redis}`);
  }
  if (!options.tiered) return store;
  const client = store.client;
  // A subscriber needs its own connection; the cache made it, so the cache closes it.
  return new TieredStore({ remote: store, publisher: client, subscriber: client.duplicate(), owns: true });
}
