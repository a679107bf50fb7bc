'use strict';
/**
 * The variant catalogue: what each variant is, what it needs and how it is checked and loaded.
 * The parent reads only this metadata; a server process calls `build` (see ../server.js).
 *
 *   group     'baseline' | 'ours' | 'peer'
 *   scenario  'core' (the 2 KB set) | 'sizes' (64 KB, 1 MB) | 'compression' | 'mixed';
 *             BENCH_ONLY accepts a scenario name for all its variants
 *   payload   the body (../payload.js PAYLOADS): '2k' | '12k' | '64k' | '1m'
 *   expect    'body' (200 + the body) or '304' (If-None-Match of the entry's ETag)
 *   cached    the handler must not run again once the entry is warm
 *   unique    every request carries a new query value (a new cache key)
 *   accept    the Accept-Encoding the client sends (the body is checked decoded)
 *   load      'single' (one URL) | 'mixed' (100 URLs + writes) | 'readonly' (100 URLs)
 *   replay / floor / refs   the references its ratios are taken against
 *   ours      needs our built middleware; redis: needs the runner's redis-server
 *   connections  autocannon connections, when not BENCH_CONNECTIONS
 *   loader    'autocannon' (load.js) | 'raw' (raw-load.js: skips bodies unparsed; the sizes)
 *   short     timed for BENCH_EXTRA_DURATION seconds instead of BENCH_DURATION (keeps
 *             `npm run bench` under 12 minutes with every scenario)
 */

const V = (name, group, module, extra = {}) =>
  Object.freeze({
    name,
    group,
    module,
    scenario: 'core',
    payload: '2k',
    expect: 'body',
    cached: false,
    unique: false,
    accept: undefined,
    load: 'single',
    replay: 'bare-replay',
    floor: 'redis-floor',
    refs: [],
    ours: false,
    redis: false,
    short: false,
    loader: 'autocannon',
    ...extra,
  });

function sizeVariants(size) {
  // autocannon parses bodies: on 1 MB ones it, not the server, was the limit (65 req/s at
  // 98 % of its core), so the size variants use bench/raw-load.js, which skips body bytes.
  const s = {
    scenario: 'sizes',
    payload: size,
    replay: `bare-replay-${size}`,
    floor: `redis-floor-${size}`,
    short: true,
    loader: 'raw',
  };
  const miss = { ...s, unique: true, refs: [`uncached-slow-${size}`] };
  return [
    V(`bare-replay-${size}`, 'baseline', 'baseline', { ...s, cached: true }),
    V(`redis-floor-${size}`, 'baseline', 'baseline', { ...s, redis: true }),
    V(`uncached-slow-${size}`, 'baseline', 'baseline', { ...s, unique: true }),
    V(`memory-hit-${size}`, 'ours', 'ours', { ...s, cached: true, ours: true }),
    V(`redis-hit-${size}`, 'ours', 'ours', { ...s, cached: true, ours: true, redis: true }),
    V(`memory-miss-${size}`, 'ours', 'ours', { ...miss, ours: true }),
    V(`redis-miss-${size}`, 'ours', 'ours', { ...miss, ours: true, redis: true }),
    V(`apicache-miss-${size}`, 'peer', 'peers', miss),
  ];
}

const zip = { scenario: 'compression', payload: '12k', cached: true, ours: true, short: true, refs: ['identity-hit-12k'] };
const mixed = (name, group, module, extra) => V(name, group, module, { scenario: 'mixed', cached: true, short: true, ...extra });

const VARIANTS = Object.freeze([
  V('bare', 'baseline', 'baseline'),
  V('bare-replay', 'baseline', 'baseline', { cached: true }),
  V('bare-replay-fields', 'baseline', 'baseline', { cached: true }),
  V('uncached-slow', 'baseline', 'baseline', { unique: true }),
  V('redis-floor', 'baseline', 'baseline', { redis: true }),
  V('memory-hit', 'ours', 'ours', { cached: true, ours: true }),
  V('redis-hit', 'ours', 'ours', { cached: true, ours: true, redis: true }),
  V('tiered-hit', 'ours', 'ours', { cached: true, ours: true, redis: true }),
  V('memory-304', 'ours', 'ours', { cached: true, ours: true, expect: '304' }),
  V('redis-304', 'ours', 'ours', { cached: true, ours: true, redis: true, expect: '304' }),
  V('tiered-304', 'ours', 'ours', { cached: true, ours: true, redis: true, expect: '304' }),
  V('miss-slow', 'ours', 'ours', { ours: true, unique: true }),
  // Issue 24: the 2 KB miss on Redis, beside the 64 KB and 1 MB ones of the sizes scenario.
  V('redis-miss', 'ours', 'ours', { ours: true, unique: true, redis: true, short: true, refs: ['uncached-slow'] }),
  V('apicache', 'peer', 'peers', { cached: true }),
  V('route-cache', 'peer', 'peers', { cached: true }),
  // Issue 24: apicache's miss (20 ms origin, a new key per request) beside ours (miss-slow).
  V('apicache-miss', 'peer', 'peers', { unique: true, refs: ['uncached-slow'] }),
  ...sizeVariants('64k'),
  ...sizeVariants('1m'),
  // compression() mounted before the cache (the README's old advice: every hit is compressed
  // again) and after it (the new: the cache holds the compressed bytes), beside the identity hit.
  V('identity-hit-12k', 'ours', 'ours', { ...zip, refs: [] }),
  V('gzip-hit-before', 'ours', 'ours', { ...zip, accept: 'gzip, deflate' }),
  V('br-hit-before', 'ours', 'ours', { ...zip, accept: 'gzip, deflate, br' }),
  V('gzip-hit-after', 'ours', 'ours', { ...zip, accept: 'gzip, deflate' }),
  V('br-hit-after', 'ours', 'ours', { ...zip, accept: 'gzip, deflate, br' }),
  // Issue 9: readers over 100 keys with 50 unrelated writes/s and 5 writes/s to read keys,
  // beside the same readers with no writes.
  mixed('readonly-memory', 'ours', 'ours', { ours: true, load: 'readonly' }),
  mixed('readonly-redis', 'ours', 'ours', { ours: true, redis: true, load: 'readonly' }),
  mixed('readonly-apicache', 'peer', 'peers', { load: 'readonly' }),
  mixed('mixed-memory', 'ours', 'ours', { ours: true, load: 'mixed', refs: ['readonly-memory'] }),
  mixed('mixed-redis', 'ours', 'ours', { ours: true, redis: true, load: 'mixed', refs: ['readonly-redis'] }),
  mixed('mixed-apicache', 'peer', 'peers', { load: 'mixed', refs: ['readonly-apicache'] }),
]);

const SCENARIOS = new Set(VARIANTS.map((v) => v.scenario));

/** Variants the ratios and targets are computed against, added to any BENCH_ONLY selection. */
function referencesOf(variant) {
  const refs = [...variant.refs];
  if (variant.scenario === 'core' || variant.scenario === 'sizes') {
    if (variant.name !== variant.replay) refs.push(variant.replay);
    if (variant.redis && variant.group === 'ours') refs.push(variant.floor);
  }
  if (variant.name === 'miss-slow') refs.push('uncached-slow', 'apicache-miss');
  if (/^(memory|redis)-miss-/.test(variant.name)) refs.push(variant.name.replace(/^(memory|redis)/, 'apicache'));
  if (variant.expect === '304') refs.push(variant.name.replace('-304', '-hit'));
  return refs;
}

/** The selected variants (names or scenario names), in catalogue order, with their references. Throws on unknown names. */
function selectVariants(only) {
  if (!only) return VARIANTS.slice();
  const byName = new Map(VARIANTS.map((v) => [v.name, v]));
  const unknown = only.filter((n) => !byName.has(n) && !SCENARIOS.has(n));
  if (unknown.length) {
    throw new TypeError(`bench: unknown variant(s) ${unknown.join(', ')}; known: ${[...SCENARIOS, ...byName.keys()].join(', ')}`);
  }
  const wanted = new Set();
  for (const n of only) {
    if (SCENARIOS.has(n)) for (const v of VARIANTS) if (v.scenario === n) wanted.add(v.name);
    if (byName.has(n)) wanted.add(n);
  }
  for (const n of [...wanted]) for (const ref of referencesOf(byName.get(n))) wanted.add(ref);
  return VARIANTS.filter((v) => wanted.has(v.name));
}

module.exports = { VARIANTS, SCENARIOS, selectVariants, referencesOf };
