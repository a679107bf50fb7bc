/**
 * The core's public face: every export by name, no logic. The package entry
 * (middleware/index.ts) re-exports all of it beside the Express binding.
 */

export { ResponseCache, type Freshness, type Lookup, type Plan, type Clock } from './cache';
export { ValueCache, type ValueCacheOptions, type SetOptions, type CachedOptions, type CachedFunction } from './values';
export { DEFAULTS, resolveOptions, type ResolvedOptions } from './options';
export { buildCacheKey, canonicalQuery, normalizePath, indexPath, variantKey, MAX_KEY_BYTES, type CacheKeyParts } from './key';
export { ttlWithJitter, statedLifetime, currentAge } from './ttl';
export { isNotModified, bodyEtag } from './conditional';
export { requestBypassReason, responseNotStorableReason } from './policy';
export { encodeEntry, decodeEntry, ENTRY_VERSION, type CachedResponse, type CachedValue, type VaryMarker, type Entry, type EntryTimes } from './entry';
export {
  CacheError, StoreError, StoreTimeoutError, StoreUnavailableError, EntryCorruptError, SerializeError, CallbackError,
  type CacheErrorCode,
} from './errors';
export { MemoryStore, MEMORY_STORE_DEFAULTS, type MemoryStoreOptions } from './stores/memory';
export { RedisStore, type RedisStoreOptions } from './stores/redis';
export { TieredStore, type TieredStoreOptions } from './stores/tiered';
export { assertCacheStore, type CacheStore, type StoreIndex, type StoreSetEntry } from './stores/store';
export type {
  CacheOptions, CacheStats, CacheStatus, ErrorContext, ErrorHandler, HeadersOption, InvalidateTarget, QueryOption,
} from './types';
