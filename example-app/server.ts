/**
 * `npm start`: the shop API on 127.0.0.1:$PORT (3000), cached in memory, or in Redis when
 * REDIS_URL is set. Ctrl-C stops it cleanly: no new connections, in-flight requests
 * finish, then the cache closes what it opened (the Redis connection).
 */

import type { AddressInfo } from 'node:net';
import { createCache, type ExpressResponseCache } from '../middleware';
import { createApp } from './app';
import { tryIt } from './try-it';

const HOST = '127.0.0.1';
const port = Number(process.env.PORT ?? 3000);
const redisUrl = process.env.REDIS_URL;

if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`PORT must be a port number, got ${JSON.stringify(process.env.PORT)}`);
  process.exit(1);
}

let cache: ExpressResponseCache;
try {
  cache = redisUrl ? createCache({ redis: redisUrl, namespace: 'shop' }) : createCache({ namespace: 'shop' });
} catch (err) {
  // Asked for Redis and cannot have it: say so rather than quietly cache in memory.
  console.error(`Could not create the cache: ${(err as Error).message}`);
  process.exit(1);
}

const server = createApp({ cache }).listen(port, HOST, () => {
  const base = `http://${HOST}:${(server.address() as AddressInfo).port}`;
  console.log(`Shop API on ${base}, caching in ${redisUrl ? `Redis (${redactUrl(redisUrl)})` : 'memory'}`);
  console.log(`\nTry it (watch X-Cache: MISS, then HIT):\n${tryIt(base)}\nCtrl-C to stop.`);
});

server.on('error', (err) => {
  console.error(`Could not listen on ${HOST}:${port}: ${err.message}`);
  void cache.close().finally(() => process.exit(1));
});

let stopping = false;
function shutdown(signal: NodeJS.Signals): void {
  if (stopping) {
    console.log('Forced exit.');
    process.exit(1);
  }
  stopping = true;
  console.log(`${signal}: shutting down`);
  // Do not wait forever for a slow client.
  setTimeout(() => {
    console.error('Still busy after 10 s; exiting.');
    process.exit(1);
  }, 10_000).unref();
  server.close((err) => {
    cache.close().then(
      () => process.exit(err ? 1 : 0),
      (closeErr: unknown) => {
        console.error(`Closing the cache failed: ${(closeErr as Error)?.message ?? closeErr}`);
        process.exit(1);
      },
    );
  });
  server.closeIdleConnections();
}

process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);

/** The URL without its password, fit for a log line. */
function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}
