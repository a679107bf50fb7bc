import { Redis } from 'ioredis';
import { storeContract } from '../../src/stores/contract';
import { RedisStore } from '../../src/stores/redis';
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
