/**
 * Jest globalSetup: make sure a real redis-server can be started, and point
 * redis-memory-server at it (it cannot download Redis here). Each test file starts its own
 * server with startRedis()/startCluster(); nothing global runs between files.
 */

import { redisServerBinary, which } from './redis';

export default async function globalSetup(): Promise<void> {
  // Throws a clear message when redis-server is missing; sets REDISMS_SYSTEM_BINARY for the workers.
  redisServerBinary();
  if (!which('redis-cli')) {
    throw new Error('Redis Cluster tests need redis-cli on PATH (it comes with apt-get install redis-server)');
  }
}
