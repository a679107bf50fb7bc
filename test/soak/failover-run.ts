/**
 * `npm run soak:failover` (and `npm run soak`, after the traffic soak): the failover scenario of issue 25 (test/redis/failover-loop.ts)
 * many times over: two instances on one endpoint, a master with a held-back replication
 * link, a PUT answered across the kill of the master and the promotion of its replica,
 * then every read on both instances checked against the new version. `npm test` runs
 * three rounds (test/redis/failover.test.ts). Exits 1 on the first violation.
 *
 *   FAILOVER_ROUNDS=50 npm run soak:failover   (default 20; plain and tiered instances)
 */

import { startReplicated } from '../helpers/redis-replicas';
import { app, failoverRounds } from '../redis/failover-loop';

const rounds = Number(process.env.FAILOVER_ROUNDS ?? 20);
if (!Number.isInteger(rounds) || rounds < 1) {
  console.error(`soak:failover: FAILOVER_ROUNDS must be a positive integer, got ${process.env.FAILOVER_ROUNDS}`);
  process.exit(2);
}

async function run(label: string, tiered: boolean): Promise<void> {
  const r = await startReplicated();
  const model = { v: 1 };
  const namespace = `failover-soak-${process.pid}-${label}`;
  const a = await app(model, { redis: r.url, tiered }, namespace);
  const b = await app(model, { redis: r.url, tiered }, namespace);
  const started = Date.now();
  try {
    await failoverRounds(r, a, b, model, rounds);
    console.log(`${label}: ${rounds} failovers, each across an answered PUT, no old body served (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  } finally {
    await a.close();
    await b.close();
    await r.stop();
  }
}

async function main(): Promise<void> {
  await run('plain', false);
  await run('tiered', true);
}

main().then(
  () => {
    console.log('soak:failover: no violations');
  },
  (err: unknown) => {
    console.error('soak:failover: violation or harness failure:', err);
    process.exitCode = 1;
  },
);
