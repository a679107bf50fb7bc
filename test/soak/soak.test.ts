/**
 * The soak's short form in the suite (`npm run soak` is the long one): two instances on one
 * real Redis behind a 1 ms TCP proxy, mixed GET/PUT/POST traffic with cookies and
 * Authorization, one Redis pause, one SIGKILL + restart, one latency window and one slow
 * link (B's only) per run, and the oracle checking every answer (read-your-writes, user,
 * host, scheme and request-target isolation, no failed request). Each run is bounded (9 s of traffic); the counts are printed.
 *
 * Both Express majors run in every configuration: instance A on one, B on the other.
 */

import { describeViolation, formatResult, runSoak, type SoakConfig, type SoakResult } from './harness';

/**
 * The violations with their examples, so that a failure shows its reproduction in the
 * assertion itself (CI keeps only part of the console output).
 */
const violations = (result: SoakResult) => ({
  counts: Object.fromEntries(result.oracle.violations),
  examples: result.oracle.examples.map((v) => describeViolation(v).join(' | ')),
});
const NONE = { counts: {}, examples: [] };

// One fault of each kind inside 9 s: pause at ~1.1 s, kill at ~2.7 s, latency at ~4.8 s,
// B's link slow (350 ms a chunk: past 3 × storeTimeout) at ~6.9 s.
const faults = { gapMs: 1100, pauseMs: 500, downMs: 700, latencyMs: 1000, latencyDelayMs: 25, slowMs: 800, slowDelayMs: 350 };
// Lighter than `npm run soak` (6 users who pause 5–15 ms): it shares two cores with the rest
// of the suite, whose Redis tests must not starve behind it.
const base = { seconds: 9, users: 6, faults, thinkMs: [5, 15] as const };

const runs: SoakConfig[] = [
  {
    ...base,
    label: 'plain + tiered',
    instances: [
      { name: 'A', express: 5, tiered: false },
      { name: 'B', express: 4, tiered: true },
    ],
  },
  {
    ...base,
    label: 'plain + plain',
    instances: [
      { name: 'A', express: 4, tiered: false },
      { name: 'B', express: 5, tiered: false },
    ],
  },
];

describe('soak control: the cache bypasses every request', () => {
  // Every answer comes from the handler, so any violation would be the harness's own (a
  // wrong ack, a snapshot taken late, a fault that outlasts its bound): none is allowed.
  it('should find no violation and still inject every fault', async () => {
    const result = await runSoak({
      ...base,
      seconds: 6.5,
      label: 'control',
      cacheOptions: { bypass: () => true },
      faults: { ...faults, gapMs: 700, slowMs: 600 },
      instances: [
        { name: 'A', express: 5, tiered: false },
        { name: 'B', express: 4, tiered: true },
      ],
    });
    console.log(formatResult(result));
    expect([...result.faults.keys()].sort()).toEqual(['kill', 'latency', 'pause', 'slow']);
    expect([...result.oracle.counts.byXCache.keys()]).toEqual(['BYPASS']);
    expect(result.handlerCalls.get('PUT /rows/:id')).toBeGreaterThan(0);
    expect(violations(result)).toEqual(NONE);
  }, 60_000);
});

describe('soak: two instances on one Redis, faults injected, every answer checked by the oracle', () => {
  for (const config of runs) {
    it(`should give no stale, cross-user, cross-host, cross-scheme, cross-target, stalled or failed answer (${config.label})`, async () => {
      const result = await runSoak(config);
      console.log(formatResult(result));
      // The run really exercised what it claims: traffic on both instances, writes, hits, each fault.
      expect(result.faults.get('pause')).toBe(1);
      expect(result.faults.get('kill')).toBe(1);
      expect(result.faults.get('latency')).toBe(1);
      expect(result.faults.get('slow')).toBe(1);
      expect(result.handlerCalls.get('PUT /rows/:id')).toBeGreaterThan(0);
      expect(result.handlerCalls.get('POST /rows')).toBeGreaterThan(0);
      expect(result.oracle.counts.byXCache.get('HIT')).toBeGreaterThan(0);
      for (const i of result.instances) expect(i.stats.hits + i.stats.misses).toBeGreaterThan(0);
      // Hits really spared the origin: fewer GET handler runs than GETs answered.
      const gets = [...result.oracle.counts.byXCache.values()].reduce((a, b) => a + b, 0);
      const getCalls = [...result.handlerCalls].filter(([route]) => route.startsWith('GET ')).reduce((a, [, n]) => a + n, 0);
      expect(getCalls).toBeLessThan(gets);
      expect(violations(result)).toEqual(NONE);
    }, 60_000);
  }
});
