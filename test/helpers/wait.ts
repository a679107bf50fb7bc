/**
 * Waiting in tests: one `until` (bounded polling, never a fixed sleep standing in for a
 * condition) and one `sleep` (for the few tests that must let real time pass: Redis
 * expiry, a lock's TTL). Every test file takes them from here.
 */

import { performance } from 'node:perf_hooks';

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Poll `check` (sync or async) until it holds; resolves the milliseconds it took. Rejects
 * with "<label> not met within <limitMs> ms" after `limitMs`.
 */
export async function until(check: () => boolean | Promise<boolean>, limitMs = 5000, label = 'condition', intervalMs = 5): Promise<number> {
  const started = performance.now();
  while (!(await check())) {
    if (performance.now() - started > limitMs) throw new Error(`${label} not met within ${limitMs} ms`);
    await sleep(intervalMs);
  }
  return performance.now() - started;
}
