/**
 * The core's public names, as the README documents them: re-exports, no logic. The package
 * entry (middleware/index.ts) re-exports all of it beside the Express binding. Everything
 * else (the codec, the key parts, the option resolver) is in `express-response-cache/internals`
 * (middleware/internals.ts), which carries no semver promise.
 */

export { type ValueCache, type ValueCacheOptions, type SetOptions, type CachedOptions, type CachedFunction, type ValueId, type ValueIdPart } from './values';
export { type Counters, type CounterOptions, type IncrementOptions } from './counters';
export { buildCacheKey, type CacheKeyParts } from './key';
export type { InspectOptions, InspectResult, InspectedEntry } from './inspect';
export { ttlWithJitter } from './ttl';
export {
  CacheError,
  StoreError,
  StoreTimeoutError,
  StoreUnavailableError,
  EntryCorruptError,
  SerializeError,
  CallbackError,
  CounterUnavailableError,
  CounterOverflowError,
  type CacheErrorCode,
} from './errors';
export { MemoryStore, type MemoryStoreOptions } from './stores/memory';
export { RedisStore, type RedisStoreOptions } from './stores/redis';
export { TieredStore, type TieredStoreOptions } from './stores/tiered';
export type { CacheStore, CounterOp, StoreIndex, StoreSetEntry } from './stores/store';
export { CHANNELS, type CacheEventMessage, type ErrorEventMessage, type InvalidateEventMessage, type MetricKind, type PromRegistry } from './metrics';
export type { Duration, DurationUnit } from './duration';
export type { RedisLike } from './redis-like';
export type {
  CacheOptions,
  CacheStats,
  CacheStatus,
  ErrorContext,
  ErrorHandler,
  HeadersOption,
  InvalidateTarget,
  QueryOption,
  RouteOptions,
  ValueStats,
} from './types';
