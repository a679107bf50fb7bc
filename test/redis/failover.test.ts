/**
 * An acknowledged invalidation survives a Redis failover (issue 25), on real processes: a
 * master and a replica whose replication link is held back, two app instances on one
 * endpoint, a PUT through `cache.invalidates()`, the master killed and the replica
 * promoted behind the same endpoint (or by a real Sentinel). Once the PUT is answered,
 * neither instance may serve the body from before it. The scenario lives in
 * ./failover-loop.ts (`npm run soak:failover` runs many rounds of it).
 */

import { Redis } from 'ioredis';
import { startReplicated, startSentinel, type ReplicatedRedis } from '../helpers/redis-replicas';
import { app, failoverRounds, onlyNew, putAcrossFailover, warm, type App } from './failover-loop';
import { request, until, uniqueNamespace, type Instance } from './instances';

const open: Instance[] = [];
let r: ReplicatedRedis;

beforeEach(async () => {
  r = await startReplicated();
});
afterEach(async () => {
  for (const i of open.splice(0)) await i.close();
  await r.stop();
});

/** Two instances on one namespace and one model; `options()` is called for each. */
async function two(options: () => Parameters<typeof app>[1]): Promise<{ a: App; b: App; model: { v: number } }> {
  const model = { v: 1 };
  const namespace = uniqueNamespace('failover');
  const a = await app(model, options(), namespace);
  const b = await app(model, options(), namespace);
  open.push(a, b);
  return { a, b, model };
}

describe('an acknowledged invalidation across a failover', () => {
  it('should never serve the body from before an answered PUT, on either instance, after the master is killed and the replica promoted behind the endpoint', async () => {
    const { a, b, model } = await two(() => ({ redis: r.url }));
    await warm(a, b, 1);
    expect(await putAcrossFailover(r, a, () => r.failover())).toBe(200);
    expect(model.v).toBe(2);
    // Answered: from now on only v2, from either instance, until both hit again.
    await onlyNew([a, b], 2);
  }, 30_000);

  it('should survive a loop of failovers, each during a PUT', async () => {
    const { a, b, model } = await two(() => ({ redis: r.url }));
    await failoverRounds(r, a, b, model, 3);
    expect(model.v).toBe(4);
  }, 60_000);

  it('should hold the answer, then send it and report ERC_FAILOVER_TIMEOUT when no replica confirms within failoverTimeout', async () => {
    const { a, b } = await two(() => ({ redis: r.url, failoverTimeout: 0.5 }));
    await warm(a, b, 1);
    r.hold(true);
    const put = await request(a.url, '/item', { method: 'PUT' });
    expect({ status: put.status, text: put.text }).toEqual({ status: 200, text: JSON.stringify({ v: 2 }) });
    expect(a.errors).toContain('ERC_FAILOVER_TIMEOUT');
    expect(a.cache.stats().errors).toBeGreaterThan(0);
    // The master has it all the same: without a failover, both instances serve the new body.
    await onlyNew([a, b], 2);
  }, 30_000);

  it("should not hold this instance's hits while an invalidation waits for a replica (WAIT has a connection of its own)", async () => {
    const { a, b } = await two(() => ({ redis: r.url, failoverTimeout: 2 }));
    await warm(a, b, 1);
    expect((await request(a.url, '/other')).headers['x-cache']).toBe('MISS');
    await until(async () => (await request(a.url, '/other')).headers['x-cache'] === 'HIT', 5000, 'a HIT on /other', 20);
    r.hold(true);
    let answered = false;
    const put = request(a.url, '/item', { method: 'PUT' }).then((res) => {
      answered = true;
      return res;
    });
    // While the PUT is held (no replica acknowledges), the hits of this instance go on.
    await until(async () => (await r.master().keys('r:{p*/item}')).length > 0, 5000, 'the invalidation record on the master', 5);
    for (let i = 0; i < 5; i++) expect((await request(a.url, '/other')).headers['x-cache']).toBe('HIT');
    expect(answered).toBe(false);
    expect((await put).status).toBe(200);
    expect(a.errors).toContain('ERC_FAILOVER_TIMEOUT');
  }, 30_000);
});

describe('with no replica', () => {
  it('should send no WAIT and open no second connection', async () => {
    // Detach the replica: the master has none.
    const replica = new Redis(r.replicaPort, '127.0.0.1');
    await replica.replicaof('NO', 'ONE');
    replica.disconnect();
    await until(async () => /connected_slaves:0/.test(await r.master().info('replication')), 10_000, 'no replica', 20);
    const { a, b } = await two(() => ({ redis: r.url }));
    await warm(a, b, 1);
    const clients = Number(/^connected_clients:(\d+)/m.exec(await r.master().info('clients'))?.[1]);
    const monitor = await r.master().monitor();
    const seen: string[] = [];
    monitor.on('monitor', (_t: string, args: string[]) => seen.push(String(args[0]).toUpperCase()));
    expect((await request(a.url, '/item', { method: 'PUT' })).status).toBe(200);
    await onlyNew([a, b], 2);
    monitor.disconnect();
    expect(seen.filter((c) => c.startsWith('EVAL')).length).toBeGreaterThan(0);
    expect(seen).not.toContain('WAIT');
    // Redis's own count agrees: this master never ran a WAIT.
    expect(await r.master().info('commandstats')).not.toMatch(/^cmdstat_wait:/m);
    // The monitor's own connection is the only one more.
    expect(Number(/^connected_clients:(\d+)/m.exec(await r.master().info('clients'))?.[1])).toBeLessThanOrEqual(clients + 1);
  }, 30_000);
});

describe('with a real Sentinel', () => {
  it('should never serve the body from before a PUT answered across a Sentinel failover', async () => {
    const sentinel = await startSentinel(r.masterPort);
    const clients: Redis[] = [];
    const sentinelClient = (): Redis => {
      const c = new Redis({ sentinels: [{ host: '127.0.0.1', port: sentinel.port }], name: 'mymaster', maxRetriesPerRequest: 1, enableOfflineQueue: false });
      c.on('error', () => undefined);
      clients.push(c);
      return c;
    };
    try {
      const { a, b } = await two(() => ({ redis: sentinelClient() }));
      await until(() => clients.every((c) => c.status === 'ready'), 5000, 'sentinel clients ready', 10);
      await warm(a, b, 1);
      // Sentinel's failover: the master dies, Sentinel notices and promotes the replica.
      expect(await putAcrossFailover(r, a, () => r.kill())).toBe(200);
      await onlyNew([a, b], 2);
    } finally {
      for (const i of open.splice(0)) await i.close();
      for (const c of clients) c.disconnect();
      await sentinel.stop();
    }
  }, 60_000);
});
