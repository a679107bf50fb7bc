/**
 * A redis-server of the soak's own on a fixed 127.0.0.1 port, so that it can be paused
 * (CLIENT PAUSE), killed with SIGKILL and restarted on the same port while traffic flows.
 * Not redis-memory-server: that one cannot be restarted on the port it chose.
 */

import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { redisServerBinary } from '../helpers/redis';

const HOST = '127.0.0.1';

/** A 127.0.0.1 port nothing listens on (taken and released). */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, HOST, resolve));
  const { port } = s.address() as { port: number };
  await new Promise((resolve) => s.close(resolve));
  return port;
}

export class SoakRedis {
  private child: ChildProcess | undefined;
  private readonly killOnExit = (): void => {
    this.child?.kill('SIGKILL');
  };

  private constructor(readonly port: number) {}

  /** Start on a free port; stop() must be called (an exit hook kills it otherwise). */
  static async start(): Promise<SoakRedis> {
    const server = new SoakRedis(await freePort());
    process.once('exit', server.killOnExit);
    await server.spawn();
    return server;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  /** SIGKILL: no shutdown, no save; every connection sees a reset. */
  async kill(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child) await exited(child, 'SIGKILL');
  }

  /** Start again on the same port, empty (no persistence), as a crashed node comes back. */
  async restart(): Promise<void> {
    if (!this.child) await this.spawn();
  }

  /** CLIENT PAUSE ALL for `ms`, sent on a direct connection (not through the proxy). */
  async pause(ms: number, mode: 'ALL' | 'WRITE' = 'ALL'): Promise<void> {
    const admin = new Redis({ host: HOST, port: this.port, lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false });
    try {
      await admin.connect();
      if (mode === 'ALL') await admin.client('PAUSE', ms, 'ALL');
      else await admin.client('PAUSE', ms, 'WRITE');
    } finally {
      admin.disconnect();
    }
  }

  /** CLIENT PAUSE WRITE: reads are answered, writes wait (and are applied when it ends). */
  pauseWrites(ms: number): Promise<void> {
    return this.pause(ms, 'WRITE');
  }

  async stop(): Promise<void> {
    process.removeListener('exit', this.killOnExit);
    const child = this.child;
    this.child = undefined;
    if (child) await exited(child, 'SIGTERM');
  }

  private spawn(): Promise<void> {
    const args = ['--port', String(this.port), '--bind', HOST, '--save', '', '--appendonly', 'no', '--loglevel', 'notice'];
    const child = spawn(redisServerBinary(), args, { stdio: ['ignore', 'pipe', 'ignore'] });
    return new Promise((resolve, reject) => {
      let out = '';
      const fail = (why: string): void => {
        clearTimeout(timer);
        reject(new Error(`redis-server on ${this.port} ${why}: ${out}`));
      };
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        fail('did not start within 5 s');
      }, 5000);
      child.once('exit', (code) => fail(`exited with ${code}`));
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString();
        if (!out.includes('Ready to accept connections')) return;
        clearTimeout(timer);
        child.removeAllListeners('exit');
        child.stdout.removeAllListeners('data');
        child.stdout.resume();
        this.child = child;
        resolve();
      });
    });
  }
}

function exited(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    child.kill(signal);
  });
}
