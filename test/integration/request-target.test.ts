/**
 * The key follows what the app sees (issue 20): a request target in absolute form or with
 * a fragment never shares the plain URL's entry, the scheme (`req.protocol`, through
 * `trust proxy`) is part of the key, and the path is keyed as `req.path` spells it.
 * Raw TCP requests: supertest and http.request normalise targets.
 */

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Express } from 'express';
import { createCache, type ExpressCacheOptions } from '../../middleware';
import { keyScheme } from '../../src/key';
import { forEachExpress, type ExpressFactory } from '../helpers/express';
import { closeAfterEach, send, serve, track } from '../helpers/http';

closeAfterEach();

/** Send `target` as written over a fresh connection; the reply's X-Cache and body. */
function raw(base: string, target: string, headers: Record<string, string> = {}): Promise<{ xCache: string; body: string }> {
  const { port } = new URL(base);
  const lines = Object.entries({ Host: 'shop.example', ...headers }).map(([k, v]) => `${k}: ${v}\r\n`);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), '127.0.0.1', () => socket.end(`GET ${target} HTTP/1.1\r\n${lines.join('')}Connection: close\r\n\r\n`));
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const [head, body = ''] = text.split('\r\n\r\n');
      resolve({ xCache: /\r\nx-cache: (\w+)/i.exec(head)?.[1] ?? '', body });
    });
  });
}

/** An app whose pages reflect req.originalUrl and req.url (a canonical link, say); `keys` records each request's key. */
async function reflecting(express: ExpressFactory, options: ExpressCacheOptions = {}, setup?: (app: Express) => void) {
  const cache = track(createCache({ jitter: 0, ...options }));
  const app = express();
  setup?.(app);
  const keys: string[] = [];
  let calls = 0;
  app.use((_req, res, next) => {
    res.on('finish', () => keys.push(String(res.locals.cache?.key ?? '')));
    next();
  });
  const page = (req: Express['request'], res: Express['response']) => {
    calls++;
    res.send(`${req.protocol} ${req.originalUrl} ${req.url} ${req.path}`);
  };
  const router = express.Router();
  router.use(cache.middleware());
  router.get('/login', page);
  app.use('/mounted', router);
  app.use(cache.middleware());
  app.get('/login', page);
  app.get('/:name', page);
  const { url, server } = await serve(app);
  return { url, server, app, keys, calls: () => calls };
}

let tls: { key: Buffer; cert: Buffer };
beforeAll(() => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'erc-tls-'));
  const [k, c] = [path.join(dir, 'k.pem'), path.join(dir, 'c.pem')];
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', k, '-out', c, '-days', '1', '-subj', '/CN=localhost'], {
    stdio: 'ignore',
  });
  tls = { key: fs.readFileSync(k), cert: fs.readFileSync(c) };
  fs.rmSync(dir, { recursive: true, force: true });
});

function getTls(port: number, urlPath: string, headers: Record<string, string> = {}): Promise<{ body: string; xCache: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, path: urlPath, rejectUnauthorized: false, headers: { host: 'shop.example', ...headers } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ body, xCache: String(res.headers['x-cache']) }));
    });
    req.on('error', reject);
    req.end();
  });
}

forEachExpress((express) => {
  describe('when the request target is in absolute form or has a fragment', () => {
    it.each([
      ['absolute form', '/login', 'http://evil.example/login'],
      ['a fragment', '/login', '/login#"><svg/onload=alert(1)>'],
      ['a fragment after the query', '/login?a=1', '/login?a=1#"><svg>'],
      ['a fragment holding a query', '/login', '/login#x?a=1'],
      ['absolute form, mounted', '/mounted/login', 'http://evil.example/mounted/login'],
      ['a fragment, mounted', '/mounted/login', '/mounted/login#"><svg>'],
    ])('should never store or serve the answer to %s under the plain URL', async (_name, plain, hostile) => {
      const t = await reflecting(express);
      const first = await raw(t.url, hostile);
      expect(first.body.startsWith(`http ${hostile} `)).toBe(true); // the app sees the spelling
      expect(first.xCache).toBe('BYPASS');
      const a = await raw(t.url, plain);
      const again = await raw(t.url, hostile);
      const b = await raw(t.url, plain);
      expect([a.xCache, again.xCache, b.xCache]).toEqual(['MISS', 'BYPASS', 'HIT']);
      expect(a.body.startsWith(`http ${plain} `)).toBe(true);
      expect(b.body).toBe(a.body);
      expect(again.body).toBe(first.body); // the hostile spelling never gets the plain entry either
      expect(t.calls()).toBe(3);
    });
  });

  describe('when the scheme differs', () => {
    it('should key X-Forwarded-Proto under trust proxy, and neither store nor serve a scheme other than http and https', async () => {
      const t = await reflecting(express, {}, (app) => app.set('trust proxy', true));
      const evil = await raw(t.url, '/login', { 'X-Forwarded-Proto': 'javascript:alert(1)//' });
      expect([evil.xCache, evil.body.startsWith('javascript:alert(1)// /login')]).toEqual(['BYPASS', true]);
      const plain = await raw(t.url, '/login');
      const tls1 = await raw(t.url, '/login', { 'X-Forwarded-Proto': 'https' });
      const tls2 = await raw(t.url, '/login', { 'X-Forwarded-Proto': 'https, http' });
      const evil2 = await raw(t.url, '/login', { 'X-Forwarded-Proto': 'javascript:alert(1)//' });
      const plain2 = await raw(t.url, '/login');
      expect([plain.xCache, plain.body]).toEqual(['MISS', 'http /login /login /login']);
      expect([tls1.xCache, tls1.body, tls2.xCache, tls2.body]).toEqual(['MISS', 'https /login /login /login', 'HIT', tls1.body]);
      expect([evil2.xCache, evil2.body, plain2.xCache, plain2.body]).toEqual(['BYPASS', evil.body, 'HIT', plain.body]);
      expect(t.calls()).toBe(4);
      // Each request's key ('' for none: the hostile scheme is not keyed at all).
      const [plainKey, tlsKey] = ['cache:v1:http:GET:http://shop.example/login', 'cache:v1:http:GET:https://shop.example/login'];
      expect(t.keys).toEqual(['', plainKey, tlsKey, tlsKey, '', plainKey]);
    });

    it('should give https clients the page built for https when one app serves both', async () => {
      const t = await reflecting(express);
      const server = https.createServer(tls, t.app);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      try {
        const port = (server.address() as AddressInfo).port;
        const plain = await send(t.url, '/login', { headers: { Host: 'shop.example' } });
        const secure = await getTls(port, '/login');
        const again = await getTls(port, '/login');
        expect([plain.text, secure.xCache, secure.body]).toEqual(['http /login /login /login', 'MISS', 'https /login /login /login']);
        expect([again.xCache, again.body]).toEqual(['HIT', secure.body]);
        expect(t.calls()).toBe(2);
      } finally {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      }
    });

    it('should key the scheme exactly as req.protocol reads it, whatever trust proxy and the header say', async () => {
      const seen: Array<[string, string]> = [];
      for (const trust of [false, true, 'loopback', '10.0.0.1']) {
        const t = await reflecting(express, {}, (app) => app.set('trust proxy', trust));
        const server = https.createServer(tls, t.app);
        await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
        try {
          const port = (server.address() as AddressInfo).port;
          for (const proto of [undefined, 'https', 'http', '', 'HTTPS', ' https , http', 'ftp', 'a:b/c']) {
            const headers: Record<string, string> = proto === undefined ? {} : { 'X-Forwarded-Proto': proto };
            for (const get of [() => raw(t.url, '/p', headers), () => getTls(port, '/p', headers)]) {
              const { body } = await get();
              seen.push([body.split(' ')[0], t.keys[t.keys.length - 1]]);
            }
          }
        } finally {
          server.closeAllConnections();
          await new Promise((resolve) => server.close(resolve));
        }
      }
      expect(seen).toHaveLength(64); // HTTPS is keyed as https (RFC 3986 §3.1), so it hits https's entry
      // A scheme other than http and https is not cached at all (no key: a bypass).
      for (const [protocol, key] of seen) expect(key).toBe(/^https?$/i.test(protocol) ? `cache:v1:http:GET:${keyScheme(protocol)}://shop.example/p` : '');
      expect(new Set(seen.map(([p]) => p))).toEqual(new Set(['http', 'https', 'ftp', 'a:b/c']));
    });

    it('should leave the scheme out with host: false, as the host', async () => {
      const t = await reflecting(express, { host: false }, (app) => app.set('trust proxy', true));
      await raw(t.url, '/login', { 'X-Forwarded-Proto': 'https' });
      const plain = await raw(t.url, '/login');
      expect([plain.xCache, t.calls(), t.keys[1]]).toEqual(['HIT', 1, 'cache:v1:http:GET:/login']);
    });
  });

  describe('when a path is spelled two ways', () => {
    it.each([
      ['/a%2fb', '/a%2Fb'],
      ['/x"><svg>', '/x%22%3E%3Csvg%3E'],
      ['/a|b', '/a%7Cb'],
    ])('should key %s and %s apart, as req.path has them', async (a, b) => {
      const t = await reflecting(express);
      const first = await raw(t.url, a);
      const second = await raw(t.url, b);
      expect([first.body, second.xCache, second.body]).toEqual([`http ${a} ${a} ${a}`, 'MISS', `http ${b} ${b} ${b}`]);
      expect([(await raw(t.url, a)).xCache, (await raw(t.url, b)).xCache, t.calls()]).toEqual(['HIT', 'HIT', 2]);
    });
  });
});
