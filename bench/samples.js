'use strict';
/** Latency samples with nearest-rank percentiles (load.js, raw-load.js, realistic.js). */

/** A growable list of float milliseconds. */
class Samples {
  constructor() {
    this.values = new Float64Array(1 << 16);
    this.length = 0;
  }

  push(v) {
    if (this.length === this.values.length) {
      const bigger = new Float64Array(this.values.length * 2);
      bigger.set(this.values);
      this.values = bigger;
    }
    this.values[this.length++] = v;
  }

  /** Nearest-rank percentile, p in [0, 100]. */
  percentile(p) {
    if (!this.length) return NaN;
    if (!this.sorted) this.sorted = this.values.subarray(0, this.length).sort();
    return this.sorted[Math.min(this.length - 1, Math.max(0, Math.ceil((p / 100) * this.length) - 1))];
  }
}

module.exports = { Samples };
