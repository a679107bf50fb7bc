/**
 * A TCP proxy adding latency, not a bandwidth limit: each chunk is forwarded `delayMs`
 * after it arrived (order kept), however many are in flight.
 *
 * Why not test/helpers/tcp-proxy.ts: that one waits `delayMs` per chunk *in turn*, so a
 * connection carries at most 1000 / delayMs chunks a second. Under the soak's load (one
 * ioredis connection per instance, hundreds of commands a second) 1 ms already queues, and
 * after a 25 ms window the backlog took ~9 s to drain: the soak measured the proxy.
 */

import net from 'node:net';
import { performance } from 'node:perf_hooks';

export interface LatencyProxy {
  readonly port: number;
  /** Milliseconds added to every chunk, both directions; changes apply to new chunks. */
  delayMs: number;
  close(): Promise<void>;
}

export async function startLatencyProxy(targetPort: number, delayMs: number): Promise<LatencyProxy> {
  const sockets = new Set<net.Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const state = { delayMs };

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
        if (!to.destroyed) to.write(chunk);
      }
      if (queue.length) arm(queue[0].due - now);
    };
    const arm = (ms: number): void => {
      timer = setTimeout(flush, Math.max(0, ms));
      timers.add(timer);
    };
    from.on('data', (chunk: Buffer) => {
      // Never before a chunk that arrived earlier, even when the delay was just lowered.
      const due = Math.max(performance.now() + state.delayMs, lastDue);
      lastDue = due;
      queue.push({ due, chunk });
      if (!timer) arm(due - performance.now());
    });
  };

  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
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

  return {
    port,
    get delayMs() {
      return state.delayMs;
    },
    set delayMs(v: number) {
      state.delayMs = v;
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
