/**
 * A TCP proxy on 127.0.0.1 for fault tests: adds latency to every chunk in both
 * directions, and can blackhole its connections (bytes stop flowing, nothing is closed:
 * what an idle NAT drop looks like to a client).
 */

import net from 'node:net';
import { performance } from 'node:perf_hooks';

export interface TcpProxy {
  readonly port: number;
  /** Milliseconds added before each chunk is forwarded (both directions). */
  delayMs: number;
  /** Stop forwarding bytes on every connection, open and future, without closing any. */
  blackhole(on: boolean): void;
  /** Close every connection (the peers see a reset/close). */
  dropAll(): void;
  /** Send new connections to `port` and close the open ones: a failover behind one endpoint. */
  retarget(port: number): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number, options: { delayMs?: number; host?: string } = {}): Promise<TcpProxy> {
  const host = options.host ?? '127.0.0.1';
  let target = targetPort;
  const sockets = new Set<net.Socket>();
  let holed = false;
  const state = { delayMs: options.delayMs ?? 0 };

  const timers = new Set<NodeJS.Timeout>();
  // Latency, not a bandwidth limit: each chunk goes `delayMs` after it arrived (order
  // kept), however many are in flight. Waiting the delay per chunk in turn would cap a
  // connection at 1000 / delayMs chunks a second and measure the proxy under load.
  const pipe = (from: net.Socket, to: net.Socket): void => {
    const queue: Array<{ due: number; chunk: Buffer }> = [];
    let lastDue = 0;
    let timer: NodeJS.Timeout | undefined;
    const flush = (): void => {
      if (timer) timers.delete(timer);
      timer = undefined;
      const now = performance.now();
      while (queue.length && queue[0].due <= now) {
        const { chunk } = queue.shift()!;
        if (!holed && !to.destroyed) to.write(chunk);
      }
      if (queue.length) arm(queue[0].due - now);
    };
    const arm = (ms: number): void => {
      timer = setTimeout(flush, Math.max(0, ms));
      timers.add(timer);
    };
    from.on('data', (chunk: Buffer) => {
      if (holed) return;
      // Never before a chunk that arrived earlier, even when the delay was just lowered.
      const due = Math.max(performance.now() + state.delayMs, lastDue);
      lastDue = due;
      queue.push({ due, chunk });
      if (!timer) arm(due - performance.now());
    });
  };

  const server = net.createServer((client) => {
    const upstream = net.connect(target, host);
    sockets.add(client);
    sockets.add(upstream);
    const end = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    pipe(client, upstream);
    pipe(upstream, client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  const dropAll = (): void => {
    for (const s of sockets) s.destroy();
    sockets.clear();
  };

  return {
    port,
    get delayMs() {
      return state.delayMs;
    },
    set delayMs(v: number) {
      state.delayMs = v;
    },
    blackhole(on: boolean) {
      holed = on;
    },
    dropAll,
    retarget(port: number) {
      target = port;
      dropAll();
    },
    close() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      for (const s of sockets) s.destroy();
      sockets.clear();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
