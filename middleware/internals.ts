/**
 * `express-response-cache/internals`: the building blocks behind the public API, for
 * tests, benchmarks and a second binding. No semver promise: names and signatures here
 * may change in any release. The public API is the package entry (./index.ts).
 */

export { ResponseCache, engineOf, type Freshness, type Lookup, type Plan, type Clock } from '../src/cache';
export { ValueCache, canonicalId, type ValueHost } from '../src/values';
export { DEFAULTS, resolveOptions, type ResolvedOptions } from '../src/options';
export { parseDuration } from '../src/duration';
export { canonicalQuery, normalizePath, indexPath, variantKey, MAX_KEY_BYTES } from '../src/key';
export { statedLifetime, currentAge } from '../src/ttl';
export { isNotModified, bodyEtag } from '../src/conditional';
export { requestBypassReason, responseNotStorableReason } from '../src/policy';
export { encodeEntry, decodeEntry, ENTRY_VERSION, type CachedResponse, type CachedValue, type VaryMarker, type Entry, type EntryTimes } from '../src/entry';
export { MEMORY_STORE_DEFAULTS } from '../src/stores/memory';
export { assertCacheStore } from '../src/stores/store';
export { Metrics, METRIC_PREFIX, type MemorySize } from '../src/metrics';
export { ExpressResponseCache } from './cache-responses';
export { RequestCache } from './locals';
