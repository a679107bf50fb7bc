/**
 * The package's entry point: the core's public API (src/index.ts) and its Express binding.
 */

export * from '../src/index';
export {
  cacheResponses, createCache, ExpressResponseCache,
  type CacheResponsesHandler, type ExpressCacheOptions,
} from './cache-responses';
export { RequestCache } from './locals';
export type { TargetOrFn } from './invalidates';
