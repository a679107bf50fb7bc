/**
 * A TCP proxy on 127.0.0.1 for fault tests: adds latency to every chunk in both
 * directions, and can blackhole its connections (bytes stop flowing, nothing is closed:
 * what an idle NAT drop looks like to a client).
 */

import net from 'node:net';

export interface TcpProxy {
  readonly port: number;
  /** Milliseconds added before each chunk is forwarded (both directions). */
  delayMs: number;
  /** Stop forwarding bytes on every connection, open and future, without closing any. */
  blackhole(on: boolean): void;
  /** Close every connection (the peers see a reset/close). */
  dropAll(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number, options: { delayMs?: number; host?: string } = {}): Promise<TcpProxy> {
  const host = options.host ?? '127.0.0.1';
  const sockets = new Set<net.Socket>();
  let holed = false;
  const state = { delayMs: options.delayMs ?? 0 };

  const pipe = (from: net.Socket, to: net.Socket): void => {
    // Chunks keep their order: each waits for the one before it.
    let chain = Promise.resolve();
    from.on('data', (chunk) => {
      if (holed) return;
      const delay = state.delayMs;
      chain = chain.then(() => (delay > 0 ? new Promise((r) => setTimeout(r, delay)) : undefined)).then(() => {
        if (!holed && !to.destroyed) to.write(chunk);
      });
    });
  };

  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, host);
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
    blackhole(on: boolean) {
      holed = on;
    },
    dropAll() {
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
    close() {
      for (const s of sockets) s.destroy();
      sockets.clear();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
