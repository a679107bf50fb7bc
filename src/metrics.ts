/**
 * What the cache counts, and the three ways out: `stats()` (no dependency), Prometheus
 * through prom-client (an optional peer dependency, loaded only by `register()`), and
 * `node:diagnostics_channel` events, which cost nothing until someone subscribes (undici's
 * pattern, so APM agents and OpenTelemetry can listen without code in the app).
 *
 * Every call site counts through one method here (`metrics.hit(key)`), so the three stay
 * in step. Responses and values are counted apart.
 */

import diagnostics from 'node:diagnostics_channel';
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import type { CacheError } from './errors';
import type { CacheStats, ErrorContext, ValueStats } from './types';

/** What a count is about: a cached HTTP response or a value of `cache.values()`. */
export type MetricKind = 'response' | 'value';

/** The diagnostics_channel names the cache publishes on (documented in the README). */
export const CHANNELS = Object.freeze({
  hit: 'express-response-cache:hit',
  miss: 'express-response-cache:miss',
  store: 'express-response-cache:store',
  invalidate: 'express-response-cache:invalidate',
  error: 'express-response-cache:error',
});

/** Message of the hit, miss and store channels. */
export interface CacheEventMessage {
  readonly namespace: string;
  readonly kind: MetricKind;
  readonly key: string;
  /** On hit: 'HIT' or 'STALE'. */
  readonly status?: 'HIT' | 'STALE';
}
/** Message of the invalidate channel. */
export interface InvalidateEventMessage {
  readonly namespace: string;
  readonly count: number;
}
/** Message of the error channel: store, codec and serializer failures (never thrown at the caller). */
export interface ErrorEventMessage {
  readonly namespace: string;
  readonly error: CacheError;
  readonly operation: ErrorContext['operation'];
  readonly key: string | undefined;
}

const hitChannel = diagnostics.channel(CHANNELS.hit);
const missChannel = diagnostics.channel(CHANNELS.miss);
const storeChannel = diagnostics.channel(CHANNELS.store);
const invalidateChannel = diagnostics.channel(CHANNELS.invalidate);
const errorChannel = diagnostics.channel(CHANNELS.error);

/** The plain counters behind stats(): the public shapes, less what stats() derives. */
type Counts = Omit<CacheStats, 'hitRatio' | 'values' | 'evictionBypass'>;
type ValueCounts = Omit<ValueStats, 'hitRatio'>;

const COUNTERS = ['hits', 'misses', 'stale', 'revalidated', 'bypasses', 'stores', 'invalidations', 'errors'] as const;
const HELP: Record<(typeof COUNTERS)[number], string> = {
  hits: 'Lookups answered from the cache with a fresh entry',
  misses: 'Lookups that found nothing usable and went to the origin',
  stale: 'Lookups answered with a stale entry (stale-while-revalidate, stale-if-error)',
  revalidated: 'Stale entries refreshed by a 304 from the handler',
  bypasses: 'Requests the cache neither read nor wrote',
  stores: 'Entries written to the store',
  invalidations: 'Entries removed by invalidation',
  errors: 'Store, codec and serializer errors (each also reaches onError)',
};

/** The parts of prom-client used here, typed structurally: no import of its types in the shipped .d.ts. */
export interface PromRegistry {
  getSingleMetric(name: string): unknown;
  metrics(): Promise<string>;
}
interface PromCounter {
  inc(labels: Record<string, string>, value?: number): void;
}
interface PromHistogram {
  observe(labels: Record<string, string>, value: number): void;
}
interface PromGauge {
  set(labels: Record<string, string>, value: number): void;
}
interface PromClient {
  register: PromRegistry;
  Counter: new (c: { name: string; help: string; labelNames: string[]; registers: PromRegistry[] }) => PromCounter;
  Histogram: new (c: { name: string; help: string; labelNames: string[]; buckets: number[]; registers: PromRegistry[] }) => PromHistogram;
  Gauge: new (c: { name: string; help: string; labelNames: string[]; registers: PromRegistry[]; collect(this: PromGauge): void }) => PromGauge;
}

/** Sources of a shared gauge: every cache registered on one registry adds its own. */
const gaugeSources = new WeakMap<object, Set<() => void>>();

/** What the memory gauges read: a memory store's size, when the cache has one. */
export interface MemorySize {
  readonly size: number;
  readonly bytes: number;
  /** Entries removed by the background walks of bans (large invalidations), since start. */
  readonly backgroundDeleted: number;
  /** Bans whose background walk is still running. */
  readonly activeBans: number;
}

interface Prom {
  counters: Record<(typeof COUNTERS)[number], PromCounter>;
  storeCalls: PromHistogram;
  lookups: PromHistogram;
}

export const METRIC_PREFIX = 'express_response_cache';
const EVICTION_HELP = '1 while the store may evict the keys invalidation reads (a Redis maxmemory-policy) and the cache bypasses it';

export class Metrics {
  private readonly counts: Counts = { hits: 0, misses: 0, stale: 0, revalidated: 0, bypasses: 0, stores: 0, invalidations: 0, errors: 0 };
  private readonly values: ValueCounts = { hits: 0, misses: 0, stores: 0 };
  private readonly proms: Prom[] = [];
  /** The store may lose index keys (a Redis eviction policy) and the cache bypasses it. */
  private evicting = false;

  /** `namespace` is read when a count is labelled (the cache resolves its options after making this). */
  constructor(private readonly namespaceOf: () => string = () => 'http') {}

  get namespace(): string {
    return this.namespaceOf();
  }

  hit(key: string, kind: MetricKind = 'response'): void {
    this.count(kind, 'hits');
    if (hitChannel.hasSubscribers) hitChannel.publish({ namespace: this.namespace, kind, key, status: 'HIT' } satisfies CacheEventMessage);
  }

  /** A stale entry answered (stale-while-revalidate or stale-if-error). */
  staleHit(key: string): void {
    this.count('response', 'stale');
    if (hitChannel.hasSubscribers) hitChannel.publish({ namespace: this.namespace, kind: 'response', key, status: 'STALE' } satisfies CacheEventMessage);
  }

  miss(key: string, kind: MetricKind = 'response'): void {
    this.count(kind, 'misses');
    if (missChannel.hasSubscribers) missChannel.publish({ namespace: this.namespace, kind, key } satisfies CacheEventMessage);
  }

  /** A stale entry refreshed by a 304 (RFC 9111 §4.3.4). */
  revalidated(): void {
    this.count('response', 'revalidated');
  }

  bypass(): void {
    this.count('response', 'bypasses');
  }

  /** The cache bypasses its store (or stops) because the store may lose index keys (src/stores/redis-eviction.ts). */
  evictionBypass(on: boolean): void {
    this.evicting = on;
  }

  /**
   * Take back a miss or bypass counted by a cache middleware that a later, route-level one
   * of the same cache took the request over from (middleware/nested.ts). Only stats() can
   * take it back: prom-client counters never go down.
   */
  retract(name: 'misses' | 'bypasses'): void {
    if (this.counts[name] > 0) this.counts[name]--;
  }

  stored(key: string, kind: MetricKind = 'response'): void {
    this.count(kind, 'stores');
    if (storeChannel.hasSubscribers) storeChannel.publish({ namespace: this.namespace, kind, key } satisfies CacheEventMessage);
  }

  /** `count` entries removed by one invalidation (responses and values alike). */
  invalidated(count: number): void {
    this.counts.invalidations += count;
    for (const p of this.proms) if (count > 0) p.counters.invalidations.inc(this.labels('response'), count);
    if (invalidateChannel.hasSubscribers) invalidateChannel.publish({ namespace: this.namespace, count } satisfies InvalidateEventMessage);
  }

  error(error: CacheError, context: ErrorContext): void {
    this.count('response', 'errors');
    if (errorChannel.hasSubscribers)
      errorChannel.publish({ namespace: this.namespace, error, operation: context.operation, key: context.key } satisfies ErrorEventMessage);
  }

  /** A monotonic start time for `storeCall` and `lookup` (not wall-clock time: only durations). */
  start(): number {
    return this.proms.length === 0 ? 0 : performance.now();
  }

  /** A store call took from `started` (`start()`) until now. */
  storeCall(operation: string, started: number): void {
    if (this.proms.length === 0) return;
    const seconds = (performance.now() - started) / 1000;
    for (const p of this.proms) p.storeCalls.observe({ namespace: this.namespace, operation }, seconds);
  }

  /** A lookup (store read, Vary marker followed) took from `started` until now. */
  lookup(started: number): void {
    if (this.proms.length === 0) return;
    const seconds = (performance.now() - started) / 1000;
    for (const p of this.proms) p.lookups.observe({ namespace: this.namespace }, seconds);
  }

  stats(): CacheStats {
    const c = this.counts;
    const v = this.values;
    return {
      hits: c.hits,
      misses: c.misses,
      stale: c.stale,
      revalidated: c.revalidated,
      bypasses: c.bypasses,
      stores: c.stores,
      invalidations: c.invalidations,
      errors: c.errors,
      hitRatio: ratio(c.hits + c.stale, c.misses),
      evictionBypass: this.evicting,
      values: { hits: v.hits, misses: v.misses, stores: v.stores, hitRatio: ratio(v.hits, v.misses) },
    };
  }

  /**
   * Register prom-client metrics on `registry` (default: prom-client's global registry).
   * Metrics already there (another cache registered them) are shared, labelled by namespace.
   * Throws when prom-client is not installed.
   */
  register(registry: PromRegistry | undefined, memory: (() => MemorySize | undefined) | undefined): PromRegistry {
    const prom = loadPromClient();
    const reg = registry ?? prom.register;
    const name = (n: string): string => `${METRIC_PREFIX}_${n}`;
    const reuse = <M>(n: string, make: () => M): M => (reg.getSingleMetric(n) as M | undefined) ?? make();
    const counters = {} as Prom['counters'];
    for (const c of COUNTERS) {
      counters[c] = reuse(
        name(`${c}_total`),
        () => new prom.Counter({ name: name(`${c}_total`), help: HELP[c], labelNames: ['namespace', 'kind'], registers: [reg] }),
      );
    }
    const storeCalls = reuse(
      name('store_duration_seconds'),
      () =>
        new prom.Histogram({
          name: name('store_duration_seconds'),
          help: 'Store call latency, by operation',
          labelNames: ['namespace', 'operation'],
          buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
          registers: [reg],
        }),
    );
    const lookups = reuse(
      name('lookup_duration_seconds'),
      () =>
        new prom.Histogram({
          name: name('lookup_duration_seconds'),
          help: 'Time to look a request up in the cache',
          labelNames: ['namespace'],
          buckets: [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
          registers: [reg],
        }),
    );
    // A gauge read at scrape time from every cache that registered a source on it.
    const collected = (n: string, help: string): PromGauge =>
      reuse(name(n), () => {
        const sources = new Set<() => void>();
        const made = new prom.Gauge({
          name: name(n),
          help,
          labelNames: ['namespace'],
          registers: [reg],
          collect() {
            for (const s of sources) s();
          },
        });
        gaugeSources.set(made, sources);
        return made;
      });
    if (memory) {
      const gauge = (n: string, help: string, read: (m: MemorySize) => number): void => {
        const g = collected(n, help);
        gaugeSources.get(g)?.add(() => {
          const m = memory();
          if (m) g.set({ namespace: this.namespace }, read(m));
        });
      };
      gauge('memory_entries', 'Entries held by the process-local memory store', (m) => m.size);
      gauge('memory_bytes', 'Bytes held by the process-local memory store (entries and keys)', (m) => m.bytes);
      gauge(
        'memory_background_deleted',
        'Entries the process-local memory store removed in the background for large invalidations (bans), since start',
        (m) => m.backgroundDeleted,
      );
      gauge('memory_bans', 'Large invalidations (bans) of the process-local memory store still being removed in the background', (m) => m.activeBans);
    }
    const bypassGauge = collected('eviction_bypass', EVICTION_HELP);
    gaugeSources.get(bypassGauge)?.add(() => bypassGauge.set({ namespace: this.namespace }, this.evicting ? 1 : 0));
    // Counts made before registration are carried over, so the registry agrees with stats().
    const p: Prom = { counters, storeCalls, lookups };
    for (const c of COUNTERS) {
      if (this.counts[c] > 0) counters[c].inc(this.labels('response'), this.counts[c]);
      const v = c === 'hits' || c === 'misses' || c === 'stores' ? this.values[c] : 0;
      if (v > 0) counters[c].inc(this.labels('value'), v);
    }
    this.proms.push(p);
    return reg;
  }

  /** Prometheus text format (counters and the hit ratio as a gauge), labelled by namespace. */
  toPrometheus(namespace: string = this.namespace, metricPrefix = METRIC_PREFIX): string {
    const s = this.stats();
    const ns = namespace.replace(/["\\\n]/g, '_');
    let out = '';
    for (const c of COUNTERS) {
      const n = `${metricPrefix}_${c}_total`;
      out += `# HELP ${n} ${HELP[c]}\n# TYPE ${n} counter\n${n}{namespace="${ns}",kind="response"} ${s[c]}\n`;
      if (c === 'hits' || c === 'misses' || c === 'stores') out += `${n}{namespace="${ns}",kind="value"} ${s.values[c]}\n`;
    }
    const e = `${metricPrefix}_eviction_bypass`;
    out += `# HELP ${e} ${EVICTION_HELP}\n# TYPE ${e} gauge\n${e}{namespace="${ns}"} ${s.evictionBypass ? 1 : 0}\n`;
    const n = `${metricPrefix}_hit_ratio`;
    out += `# HELP ${n} Hits (stale included) over lookups\n# TYPE ${n} gauge\n${n}{namespace="${ns}",kind="response"} ${s.hitRatio}\n${n}{namespace="${ns}",kind="value"} ${s.values.hitRatio}\n`;
    return out;
  }

  private count(kind: MetricKind, name: (keyof Counts & keyof ValueCounts) | Exclude<keyof Counts, keyof ValueCounts>): void {
    if (kind === 'value' && (name === 'hits' || name === 'misses' || name === 'stores')) this.values[name]++;
    else this.counts[name]++;
    for (const p of this.proms) p.counters[name].inc(this.labels(kind));
  }

  private labels(kind: MetricKind): Record<string, string> {
    return { namespace: this.namespace, kind };
  }
}

function ratio(hits: number, misses: number): number {
  return hits + misses === 0 ? 0 : hits / (hits + misses);
}

/** prom-client is an optional peer dependency: loaded on first use only. */
function loadPromClient(): PromClient {
  const load = typeof require === 'function' ? require : createRequire(`${process.cwd()}/`);
  try {
    return load('prom-client') as PromClient;
  } catch (err) {
    throw new Error('cache.registerMetrics() needs the "prom-client" package: npm install prom-client', { cause: err });
  }
}
