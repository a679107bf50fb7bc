import { Redis } from 'ioredis';
import { storeContract } from '../../src/stores/contract';
import { RedisStore } from '../../src/stores/redis';
import { TieredStore } from '../../src/stores/tiered';
import { cleanPrefix, startRedis, uniquePrefix, type RunningRedis } from '../helpers/redis';

const prefix = uniquePrefix('redis.contract');
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

// On a client it was given: the suite's close() must leave that client open for afterAll.
storeContract('RedisStore (single node, given client)', () => new RedisStore({ client, keyPrefix: prefix }));

// On a connection it opened from a URL.
storeContract('RedisStore (single node, from URL)', () => new RedisStore({ url: server.url, keyPrefix: `${prefix}url:` }));

// A memory tier in front of Redis keeps the same contract as Redis alone: counts,
// overwrites re-indexed, literal prefixes, expiry, locks.
storeContract('TieredStore (memory in front of Redis)', async () => {
  const store = new TieredStore({
    remote: new RedisStore({ client, keyPrefix: `${prefix}tiered:` }),
    publisher: client,
    subscriber: client.duplicate(),
    owns: true,
  });
  for (let i = 0; i < 200 && !store.coherent; i++) await new Promise((r) => setTimeout(r, 10));
  return store;
});
