import { Redis } from 'ioredis';
import { storeContract } from '../../src/stores/contract';
import { RedisStore } from '../../src/stores/redis';
import { TieredStore } from '../../src/stores/tiered';
import { cleanPrefix, startRedis, uniquePrefix, type RunningRedis } from '../helpers/redis';

const prefix = uniquePrefix('tiered.contract');
let server: RunningRedis;
let client: Redis;

beforeAll(async () => {
  server = await startRedis();
  client = new Redis(server.url, { lazyConnect: true });
  await client.connect();
});

afterAll(async () => {
  await cleanPrefix(client, prefix);
  await client.quit();
  await server.stop();
});

// The memory tier in front of Redis must keep the same contract as Redis alone: counts,
// overwrites re-indexed, literal prefixes, expiry, locks.
storeContract('TieredStore (memory in front of Redis)', async () => {
  const store = new TieredStore({
    remote: new RedisStore({ client, keyPrefix: prefix }),
    publisher: client,
    subscriber: client.duplicate(),
    owns: true,
  });
  for (let i = 0; i < 200 && !store.coherent; i++) await new Promise((r) => setTimeout(r, 10));
  return store;
});
