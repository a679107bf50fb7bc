/**
 * The scenario behind the RedisStore's lost-connection rule, shared by the single-node and
 * the Cluster tests: a making starts, an invalidation of its key leaves records, Redis loses
 * them in a restart (`restart`, which returns once the store answers again with the records
 * gone), then the making's write arrives. It must be refused; a making begun after is taken.
 */

import { monotonicNow } from '../../src/guard';
import type { RedisStore } from '../../src/stores/redis';

const HOUR = 3_600_000;

export async function expectMakingAcrossRestartRefused(s: RedisStore, restart: () => Promise<void>): Promise<void> {
  const guard = () => ({ making: { startedAt: monotonicNow() }, keys: [], windowMs: 30_000, deadline: monotonicNow() + 60_000 });
  const write = (value: string, g: ReturnType<typeof guard>) =>
    s.setGuarded({ key: 'k', value: Buffer.from(value), ttlMs: HOUR, index: { path: '/k', tags: [] } }, g);
  const before = guard();
  await s.mark({ keys: ['k'], paths: [], prefixes: [], tags: [] }, 30_000);
  await restart();
  expect(await write('read before the invalidation', before)).toBe(false);
  expect(await s.get('k')).toBeUndefined();
  expect(await write('read after the restart', guard())).toBe(true);
  expect(await s.get('k')).toEqual(Buffer.from('read after the restart'));
}
