/**
 * Counters behind `stats()`, and their Prometheus text exposition for a /metrics route.
 */

import type { CacheStats } from './types';

export class Metrics {
  hits = 0;
  misses = 0;
  stale = 0;
  revalidated = 0;
  bypasses = 0;
  stores = 0;
  invalidations = 0;
  errors = 0;

  stats(): CacheStats {
    const lookups = this.hits + this.stale + this.misses;
    return {
      hits: this.hits,
      misses: this.misses,
      stale: this.stale,
      bypasses: this.bypasses,
      stores: this.stores,
      invalidations: this.invalidations,
      errors: this.errors,
      hitRatio: lookups === 0 ? 0 : (this.hits + this.stale) / lookups,
    };
  }

  /** Prometheus text format (counters and the hit ratio as a gauge), labelled by namespace. */
  toPrometheus(namespace: string, metricPrefix = 'express_response_cache'): string {
    const s = this.stats();
    const label = `{namespace="${namespace.replace(/["\\\n]/g, '_')}"}`;
    let out = '';
    for (const name of ['hits', 'misses', 'stale', 'bypasses', 'stores', 'invalidations', 'errors'] as const) {
      out += `# TYPE ${metricPrefix}_${name}_total counter\n${metricPrefix}_${name}_total${label} ${s[name]}\n`;
    }
    out += `# TYPE ${metricPrefix}_hit_ratio gauge\n${metricPrefix}_hit_ratio${label} ${s.hitRatio}\n`;
    return out;
  }
}
