'use strict';
/**
 * The variant catalogue: what each variant is, what it needs and how it is checked and loaded.
 * The parent reads only this metadata; a server process calls `build` (see ../server.js).
 *
 *   group     'baseline' | 'ours' | 'peer'
 *   expect    'body' (200 + the JSON) or '304' (If-None-Match of the entry's ETag)
 *   cached    the handler must not run again once the entry is warm
 *   unique    every request carries a new query value (a new cache key)
 *   ours      needs our built middleware; redis: needs the runner's redis-server
 */

const V = (name, group, module, extra = {}) => Object.freeze({
  name, group, module, expect: 'body', cached: false, unique: false, ours: false, redis: false, ...extra,
});

const VARIANTS = Object.freeze([
  V('bare', 'baseline', 'baseline'),
  V('bare-replay', 'baseline', 'baseline', { cached: true }),
  V('uncached-slow', 'baseline', 'baseline', { unique: true }),
  V('redis-floor', 'baseline', 'baseline', { redis: true }),
  V('memory-hit', 'ours', 'ours', { cached: true, ours: true }),
  V('redis-hit', 'ours', 'ours', { cached: true, ours: true, redis: true }),
  V('tiered-hit', 'ours', 'ours', { cached: true, ours: true, redis: true }),
  V('memory-304', 'ours', 'ours', { cached: true, ours: true, expect: '304' }),
  V('redis-304', 'ours', 'ours', { cached: true, ours: true, redis: true, expect: '304' }),
  V('tiered-304', 'ours', 'ours', { cached: true, ours: true, redis: true, expect: '304' }),
  V('miss-slow', 'ours', 'ours', { ours: true, unique: true }),
  V('apicache', 'peer', 'peers', { cached: true }),
  V('route-cache', 'peer', 'peers', { cached: true }),
]);

/** Variants the ratios and targets are computed against, added to any BENCH_ONLY selection. */
function referencesOf(variant) {
  const refs = ['bare-replay'];
  if (variant.redis && variant.group === 'ours') refs.push('redis-floor');
  if (variant.name === 'miss-slow') refs.push('uncached-slow');
  if (variant.expect === '304') refs.push(variant.name.replace('-304', '-hit'));
  return refs;
}

/** The selected variants, in catalogue order, with their references. Throws on unknown names. */
function selectVariants(only) {
  if (!only) return VARIANTS.slice();
  const byName = new Map(VARIANTS.map((v) => [v.name, v]));
  const unknown = only.filter((n) => !byName.has(n));
  if (unknown.length) {
    throw new TypeError(`bench: unknown variant(s) ${unknown.join(', ')}; known: ${[...byName.keys()].join(', ')}`);
  }
  const wanted = new Set(only);
  for (const n of only) for (const ref of referencesOf(byName.get(n))) wanted.add(ref);
  return VARIANTS.filter((v) => wanted.has(v.name));
}

module.exports = { VARIANTS, selectVariants, referencesOf };
