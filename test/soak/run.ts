/**
 * `npm run soak`: two instances on one Redis, each behind its own 1 ms proxy, mixed traffic,
 * Redis paused / killed / slowed, and B's link made slow, on a schedule, every answer checked by the oracle. Two runs:
 * plain + tiered, then plain + plain, each half of SOAK_SECONDS (default 120). Prints the
 * counts; exits 1 on any violation. Not part of `npm test` (soak.test.ts is its short form).
 *
 *   SOAK_SECONDS=600 SOAK_USERS=24 npm run soak
 *   SOAK_CONTROL=1 npm run soak   # the cache bypasses everything: checks the harness itself (0 expected)
 */

import { formatResult, runSoak, type SoakConfig } from './harness';

const seconds = Number(process.env.SOAK_SECONDS ?? 120);
const users = Number(process.env.SOAK_USERS ?? 16);
if (!(seconds > 0) || !Number.isInteger(users) || users < 1) {
  console.error(`soak: SOAK_SECONDS must be > 0 and SOAK_USERS a positive integer, got ${process.env.SOAK_SECONDS} / ${process.env.SOAK_USERS}`);
  process.exit(2);
}

// Control: with every request bypassing the cache, any violation is the harness's own fault.
const control = process.env.SOAK_CONTROL === '1' ? { cacheOptions: { bypass: () => true } } : {};
const faults = { gapMs: 4000, pauseMs: 800, downMs: 1000, latencyMs: 2000, latencyDelayMs: 30, slowMs: 2000, slowDelayMs: 350 };
const runs: SoakConfig[] = [
  {
    label: 'plain + tiered',
    seconds: seconds / 2,
    users,
    faults,
    ...control,
    instances: [
      { name: 'A', express: 5, tiered: false },
      { name: 'B', express: 4, tiered: true },
    ],
  },
  {
    label: 'plain + plain',
    seconds: seconds / 2,
    users,
    faults,
    ...control,
    instances: [
      { name: 'A', express: 4, tiered: false },
      { name: 'B', express: 5, tiered: false },
    ],
  },
];

async function main(): Promise<number> {
  let violations = 0;
  for (const config of runs) {
    const result = await runSoak(config);
    console.log(formatResult(result));
    violations += result.oracle.totalViolations;
  }
  console.log(violations ? `soak: ${violations} violation(s)` : 'soak: no violations');
  return violations ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error('soak: the harness itself failed:', err);
    process.exitCode = 2;
  },
);
