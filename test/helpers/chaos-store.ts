/**
 * A store wrapper that fails on demand: throws, hangs or returns garbage, so tests can
 * show a failing store never fails a request.
 */
import type { CacheStore, StoreIndex } from '../../src/stores/store';

export type Mode = 'ok' | 'throw' | 'hang' | 'slow' | 'garbage';

export class ChaosStore implements CacheStore {
  mode: Mode = 'ok';
  slowMs = 500;
  calls = 0;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(private readonly inner: CacheStore) {}

  private async gate<T>(run: () => Promise<T>): Promise<T> {
    this.calls++;
    switch (this.mode) {
      case 'throw':
        throw new Error('chaos: store is down');
      case 'hang':
      case 'slow':
        await new Promise<void>((resolve) => {
          const t = setTimeout(
            () => {
              this.timers.delete(t);
              resolve();
            },
            this.mode === 'hang' ? 5_000 : this.slowMs,
          );
          this.timers.add(t);
        });
        return run();
      default:
        return run();
    }
  }

  get(key: string) {
    if (this.mode === 'garbage') return Promise.resolve(Buffer.from('\x01\x00garbage'));
    return this.gate(() => this.inner.get(key));
  }
  set(key: string, value: Buffer, ttlMs: number, index: StoreIndex) {
    return this.gate(() => this.inner.set(key, value, ttlMs, index));
  }
  delete(keys: readonly string[]) {
    return this.gate(() => this.inner.delete(keys));
  }
  deleteByPath(path: string) {
    return this.gate(() => this.inner.deleteByPath(path));
  }
  deleteByPrefix(prefix: string) {
    return this.gate(() => this.inner.deleteByPrefix(prefix));
  }
  deleteByTag(tags: readonly string[]) {
    return this.gate(() => this.inner.deleteByTag(tags));
  }
  ping() {
    return this.gate(async () => {});
  }
  async close() {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await this.inner.close();
  }
}
