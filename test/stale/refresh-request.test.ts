/**
 * What the handler sees when the cache runs it on its own: a stale-while-revalidate
 * refresh carries the client's protocol, host and address (issue: it ran on a fake plain
 * socket, stored http:// links from an https server), and a stale entry is revalidated
 * through the handler with the entry's own validators (RFC 9111 §4.3): a 304 freshens it,
 * the body is kept, and the handler renders nothing.
 */

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createCache } from '../../middleware';
import { EXPRESSES } from '../helpers/express';
import { closeAfterEach, send, serve, track, until } from '../helpers/http';

closeAfterEach();

let tls: { key: Buffer; cert: Buffer };
beforeAll(() => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'erc-tls-'));
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      path.join(dir, 'k.pem'),
      '-out',
      path.join(dir, 'c.pem'),
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
    ],
    { stdio: 'ignore' },
  );
  tls = { key: fs.readFileSync(path.join(dir, 'k.pem')), cert: fs.readFileSync(path.join(dir, 'c.pem')) };
  fs.rmSync(dir, { recursive: true, force: true });
});

function get(port: number, urlPath: string): Promise<{ status: number; body: string; xCache: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, path: urlPath, rejectUnauthorized: false, headers: { host: `localhost:${port}` } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body, xCache: String(res.headers['x-cache']) }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe.each(EXPRESSES.map(([name, make]) => [name, make] as const))('on %s', (_name, makeExpress) => {
  it("should run a stale-while-revalidate refresh as the client's request: https, its host, its address", async () => {
    let now = Date.parse('2026-01-01T00:00:00Z');
    const cache = track(createCache({ ttl: 10, jitter: 0, staleWhileRevalidate: 60 }, { now: () => now }));
    const app = makeExpress();
    let calls = 0;
    app.use(cache.middleware());
    app.get('/link', (req, res) => {
      calls++;
      // No validator of its own, so the refresh renders the whole body again.
      res.set('ETag', `"call-${calls}"`).send(`${req.protocol}://${req.hostname}/reset secure=${req.secure} ip=${req.ip} call=${calls}`);
    });
    const server = https.createServer(tls, app);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const port = (server.address() as AddressInfo).port;
      const first = await get(port, '/link');
      expect(first.body).toMatch(/^https:\/\/localhost\/reset secure=true ip=(::ffff:)?127\.0\.0\.1 call=1$/);
      now += 11_000;
      const stale = await get(port, '/link');
      expect([stale.xCache, stale.body]).toEqual(['STALE', first.body]);
      await until(() => calls === 2);
      await until(() => cache.stats().stores === 2);
      const refreshed = await get(port, '/link');
      expect(refreshed.xCache).toBe('HIT');
      expect(refreshed.body).toMatch(/^https:\/\/localhost\/reset secure=true ip=(::ffff:)?127\.0\.0\.1 call=2$/);
    } finally {
      server.closeAllConnections?.();
      await new Promise((r) => server.close(r));
    }
  });

  it('should revalidate a stale entry through the handler: 304s refresh it, only a new version renders', async () => {
    let now = Date.parse('2026-01-01T00:00:00Z');
    const cache = track(createCache({ ttl: 10, jitter: 0 }, { now: () => now }));
    const app = makeExpress();
    let version = 1;
    const seen = { renders: 0, notModified: 0 };
    app.use(cache.middleware());
    app.get('/doc', (req, res) => {
      const etag = `"v${version}"`;
      // A handler that checks its version cheaply, as Express users do with req.fresh.
      if (req.get('if-none-match') === etag) {
        seen.notModified++;
        return res.status(304).set('ETag', etag).end();
      }
      seen.renders++;
      res.set('ETag', etag).send(`document version ${version}`);
    });
    const { url } = await serve(app);
    const xs: string[] = [];
    const texts: string[] = [];
    const ask = async () => {
      const r = await send(url, '/doc');
      xs.push(String(r.headers['x-cache']));
      texts.push(r.text);
    };
    await ask(); // MISS, render 1
    now += 11_000;
    await ask(); // stale: 304 from the handler -> REVALIDATED, same body
    await ask(); // fresh again: HIT
    now += 11_000;
    version = 2;
    await ask(); // stale, the version moved on: a 200 replaces it
    await ask(); // HIT of version 2
    expect(xs).toEqual(['MISS', 'REVALIDATED', 'HIT', 'MISS', 'HIT']);
    expect(texts).toEqual(['document version 1', 'document version 1', 'document version 1', 'document version 2', 'document version 2']);
    expect(seen).toEqual({ renders: 2, notModified: 1 });
    // A client's own conditional is answered by the cache from the revalidated entry.
    const conditional = await send(url, '/doc', { headers: { 'If-None-Match': '"v2"' } });
    expect([conditional.status, conditional.headers['x-cache']]).toEqual([304, 'HIT']);
  });
});
