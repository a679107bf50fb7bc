import { Cluster, type Redis } from 'ioredis';
import { storeContract } from '../../src/stores/contract';
import { indexedValueEntry } from '../helpers/entries';
import { RedisStore } from '../../src/stores/redis';
import { cleanPrefix, scanKeys, startCluster, uniquePrefix, type RunningCluster } from '../helpers/redis';
import { expectMakingAcrossRestartRefused } from '../helpers/restart-guard';
import { until } from '../helpers/wait';

const prefix = uniquePrefix('redis-cluster.contract');
const HOUR = 3_600_000;
let cluster: RunningCluster;
let client: Cluster;

function connect(options: ConstructorParameters<typeof Cluster>[1] = {}): Promise<Cluster> {
  const c = new Cluster([...cluster.nodes], options);
  return new Promise((resolve, reject) => {
    c.once('ready', () => resolve(c));
    c.once('error', reject);
  });
}

beforeAll(async () => {
  cluster = await startCluster();
  client = await connect();
}, 60_000);

afterAll(async () => {
  await cleanPrefix(client, prefix);
  await client.quit();
  await cluster.stop();
});

storeContract('RedisStore (Cluster, 3 masters)', () => new RedisStore({ client, keyPrefix: prefix }));

describe('RedisStore on a Cluster', () => {
  describe('when an entry key holds another Redis type', () => {
    it('should read it as a miss (get and getMany), and let a tag invalidation unlink it uncounted', async () => {
      const store = new RedisStore({ client, keyPrefix: `${prefix}type:` });
      const keys = ['cache:v1:http:GET:/type/a', 'cache:v1:http:GET:/type/b'];
      await store.setMany(keys.map((key) => ({ key, value: Buffer.from(key), ttlMs: HOUR, index: { path: '/type', tags: ['type'] } })));
      const [name] = await Promise.all(client.nodes('master').map((m) => scanKeys(m, `${prefix}type:e:*type/a*`))).then((found) => found.flat());
      expect(name).toBeDefined();
      await client.del(name!);
      await client.hset(name!, 'f', 'v');
      expect(await store.get(keys[0]!)).toBeUndefined();
      expect((await store.getMany(keys)).map((v) => v?.toString())).toEqual([undefined, keys[1]]);
      expect(await store.deleteByTag(['type'])).toBe(1);
      expect(await client.exists(name!)).toBe(0);
    });
  });

  describe('when entries, paths and tags spread over slots', () => {
    it('should put keys on more than one master and still find them all', async () => {
      const store = new RedisStore({ client, keyPrefix: `${prefix}spread:` });
      const entries = Array.from({ length: 60 }, (_, i) => ({
        key: `cache:v1:http:GET:/spread/${i}?q=${i}`,
        value: Buffer.from([i, 0, 255]),
        ttlMs: HOUR,
        index: { path: `/spread/${i % 12}`, tags: [`tag:${i % 5}`, `{odd}:${i % 2}`, 'all*'] },
      }));
      await store.setMany(entries);
      const masters = client.nodes('master');
      expect(masters).toHaveLength(3);
      const perMaster = await Promise.all(masters.map(async (m) => (await scanKeys(m, `${prefix}spread:*`)).length));
      expect(perMaster.filter((n) => n > 0).length).toBeGreaterThan(1);
      // 60 entries + 12 path indexes + 5 + 2 + 1 tag indexes.
      expect(perMaster.reduce((a, b) => a + b, 0)).toBe(60 + 12 + 8);

      expect((await store.getMany(entries.map((e) => e.key))).every((v, i) => v?.equals(entries[i]!.value))).toBe(true);
      expect(await store.deleteByTag(['tag:0', 'tag:1'])).toBe(24);
      expect(await store.deleteByPath('/spread/11')).toBe(3);
      expect(await store.deleteByPrefix('/spread/1')).toBe(6);
      expect(await store.deleteByTag(['{odd}:1'])).toBe(12);
      expect(await store.deleteByTag(['all*'])).toBe(15);
      expect(await store.deleteByTag(['all*', 'tag:2'])).toBe(0);
    });
  });

  describe('when entries deleted through one index are filed in others on other masters (issue 21)', () => {
    it('should remove their members there in the background, leaving no index key', async () => {
      const store = new RedisStore({ client, keyPrefix: `${prefix}tidy:` });
      const entries = Array.from({ length: 200 }, (_, i) => indexedValueEntry(`k${i}`, `/tidy/${i}`, [`item:${i}`, 'all'], Buffer.from([i])));
      await store.setMany(entries);
      const count = async (): Promise<number[]> => Promise.all(client.nodes('master').map(async (m) => (await scanKeys(m, `${prefix}tidy:*`)).length));
      expect((await count()).filter((n) => n > 0).length).toBeGreaterThan(1);
      expect(await store.deleteByTag(['all'])).toBe(200);
      await store.tidied();
      expect(await count()).toEqual([0, 0, 0]);
      expect(store.indexMembersTidied).toBe(400);
    });
  });

  describe('when the Cluster client has its own keyPrefix', () => {
    it('should write under it and find path indexes on every master by prefix', async () => {
      const prefixed = await connect({ keyPrefix: `${prefix}cp:` });
      try {
        const store = new RedisStore({ client: prefixed });
        for (let i = 0; i < 20; i++) {
          await store.set(`k${i}`, Buffer.from('v'), HOUR, { path: `/p/${i}`, tags: [] });
        }
        const found = await Promise.all(client.nodes('master').map((m) => scanKeys(m, `${prefix}cp:p:*`)));
        expect(found.flat()).toHaveLength(20);
        expect(found.filter((keys) => keys.length > 0).length).toBeGreaterThan(1);
        expect(await store.deleteByPrefix('/p/')).toBe(20);
        await store.close();
        expect(prefixed.status).toBe('ready');
      } finally {
        await prefixed.quit();
      }
    });
  });

  // Last in this file: it restarts a master of the Cluster the other tests share.
  describe('when a master restarts empty while a response is being made', () => {
    // The restarted master held the invalidation's records. The store saw that node's
    // connection go, so a making that spans it is not made live (as on a single node,
    // test/stores/redis.test.ts).
    it('should refuse the write of a making begun before the restart, and take one begun after', async () => {
      const s = new RedisStore({ client, keyPrefix: `${prefix}restart:` });
      const holding = async (): Promise<Redis[]> => {
        const masters = client.nodes('master');
        const counts = await Promise.all(masters.map(async (m) => (await scanKeys(m, `${prefix}restart:*`)).length));
        return masters.filter((_, i) => counts[i]! > 0);
      };
      try {
        // An invalidation of the key during that making: its records, then their masters restart.
        await expectMakingAcrossRestartRefused(s, async () => {
          const withRecords = await holding();
          expect(withRecords.length).toBeGreaterThan(0);
          for (const node of withRecords) await cluster.restartNode(node.options.port!);
          await until(async () => (await holding().catch(() => [null])).length === 0, 10_000, 'the records gone with the restart');
          await until(
            () =>
              s.get('k').then(
                () => true,
                () => false,
              ),
            10_000,
            'the Cluster answering',
          );
        });
      } finally {
        await s.close();
      }
    }, 60_000);
  });
});
