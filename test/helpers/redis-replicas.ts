/**
 * A master and a replica of our own for failover tests, on 127.0.0.1:
 *   - the replica replicates through a TCP proxy (`hold(true)` stops the replication stream
 *     and its acks without closing anything, as a congested link does: the master still
 *     counts the replica as connected, and WAIT gets no ack);
 *   - clients reach "the master" through a front proxy whose target can be moved, as a
 *     managed Redis's endpoint is: `failover()` kills the master (SIGKILL: what it had not
 *     sent is lost), promotes the replica (REPLICAOF NO ONE) and points the endpoint at it.
 * Sentinel: `startSentinel(masterPort)` starts one `redis-server --sentinel` watching it.
 */

import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { startTcpProxy, type TcpProxy } from './tcp-proxy';
import { killRedis, redisServerBinary, spawnRedis } from './redis';
import { until } from './wait';

export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as net.AddressInfo;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

export interface ReplicatedRedis {
  /** The endpoint clients use (the front proxy). */
  readonly url: string;
  readonly port: number;
  masterPort: number;
  replicaPort: number;
  /** A direct connection to the current master (not through the endpoint). */
  master(): Redis;
  /** Hold back (true) or let flow (false) the replication link. */
  hold(on: boolean): void;
  /** Resolves once the replica has everything the master had when it was called. */
  synced(): Promise<void>;
  /** Kill the master, promote the replica behind the endpoint, start a new replica of it. */
  failover(): Promise<void>;
  /** Kill the master only (SIGKILL), for a Sentinel to promote the replica. */
  kill(): Promise<void>;
  stop(): Promise<void>;
}

async function replicaUp(replica: Redis, master: Redis): Promise<void> {
  await until(async () => /master_link_status:up/.test(await replica.info('replication')), 10_000, 'replica link up', 20);
  await until(async () => /connected_slaves:[1-9]/.test(await master.info('replication')), 10_000, 'master sees its replica', 20);
}

/** Master + replica (through a holdable link) behind one movable endpoint. */
export async function startReplicated(): Promise<ReplicatedRedis> {
  const procs = new Map<number, ChildProcess>();
  const clients = new Map<number, Redis>();
  const client = (port: number): Redis => {
    let c = clients.get(port);
    if (!c) {
      c = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 1, retryStrategy: () => null });
      c.on('error', () => undefined);
      clients.set(port, c);
    }
    return c;
  };
  // Every server works in this temp dir (a replica's first sync writes an RDB there), never the cwd.
  const dir = mkdtempSync(join(tmpdir(), 'erc-replicas-'));
  const spawnAt = async (): Promise<number> => {
    const port = await freePort();
    // A master starts a replica's sync at once (the default waits 5 s for more replicas).
    procs.set(port, await spawnRedis(port, ['--dir', dir, '--repl-diskless-sync-delay', '0']));
    return port;
  };
  let link: TcpProxy | undefined;
  const attach = async (replicaPort: number, masterPort: number): Promise<void> => {
    await link?.close();
    link = await startTcpProxy(masterPort);
    await client(replicaPort).replicaof('127.0.0.1', String(link.port));
    await replicaUp(client(replicaPort), client(masterPort));
  };
  const masterPort = await spawnAt();
  const replicaPort = await spawnAt();
  await attach(replicaPort, masterPort);
  const front = await startTcpProxy(masterPort);
  const self: ReplicatedRedis = {
    url: `redis://127.0.0.1:${front.port}`,
    port: front.port,
    masterPort,
    replicaPort,
    master: () => client(self.masterPort),
    hold: (on) => link?.blackhole(on),
    async synced() {
      const offset = (info: string): number => Number(/^master_repl_offset:(\d+)/m.exec(info)?.[1] ?? -1);
      const want = offset(await self.master().info('replication'));
      await until(async () => offset(await client(self.replicaPort).info('replication')) >= want, 10_000, 'the replica in sync', 5);
    },
    async failover() {
      const old = self.masterPort;
      clients.get(old)?.disconnect();
      clients.delete(old);
      await killRedis(procs.get(old)!, 'SIGKILL');
      procs.delete(old);
      await link?.close();
      link = undefined;
      await client(self.replicaPort).replicaof('NO', 'ONE');
      self.masterPort = self.replicaPort;
      front.retarget(self.masterPort);
      // The next failover needs a replica again.
      self.replicaPort = await spawnAt();
      await attach(self.replicaPort, self.masterPort);
    },
    async kill() {
      const old = self.masterPort;
      clients.get(old)?.disconnect();
      clients.delete(old);
      await killRedis(procs.get(old)!, 'SIGKILL');
      procs.delete(old);
    },
    async stop() {
      await front.close();
      await link?.close();
      for (const c of clients.values()) c.disconnect();
      await Promise.all([...procs.values()].map((p) => killRedis(p, 'SIGKILL')));
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return self;
}

export interface RunningSentinel {
  readonly port: number;
  stop(): Promise<void>;
}

/** One Sentinel watching `mymaster` at `masterPort`, quorum 1, fast failure detection. */
export async function startSentinel(masterPort: number, name = 'mymaster'): Promise<RunningSentinel> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'erc-sentinel-'));
  const conf = join(dir, 'sentinel.conf');
  writeFileSync(
    conf,
    [
      `port ${port}`,
      'bind 127.0.0.1',
      `dir ${dir}`,
      `sentinel monitor ${name} 127.0.0.1 ${masterPort} 1`,
      `sentinel down-after-milliseconds ${name} 500`,
      `sentinel failover-timeout ${name} 2000`,
      `sentinel parallel-syncs ${name} 1`,
      '',
    ].join('\n'),
  );
  const child = spawn(redisServerBinary(), [conf, '--sentinel'], { stdio: ['ignore', 'pipe', 'ignore'] });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`sentinel did not start: ${out}`)), 5000);
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes('+monitor')) {
        clearTimeout(timer);
        child.stdout.removeAllListeners('data');
        child.stdout.resume();
        resolve();
      }
    });
  });
  return {
    port,
    async stop() {
      await killRedis(child, 'SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
