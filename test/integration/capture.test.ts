/**
 * Capture: whatever way a handler sends its body (res.write chunks, a piped stream,
 * sendFile, writeHead with headers), the first client gets it intact and later clients get
 * the same bytes from the cache; what cannot be stored whole is streamed and not stored.
 */

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { createCache } from '../../middleware';
import { capture, type CaptureHooks } from '../../middleware/capture';
import { forEachExpress } from '../helpers/express';
import { allBytes, closeAfterEach, deferred, send, serve, track, until } from '../helpers/http';

closeAfterEach();

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'erc-capture-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

forEachExpress((express, major) => {
  function setup(options: Parameters<typeof createCache>[0] = {}) {
    const cache = track(createCache({ jitter: 0, ...options }));
    const app = express();
    app.use(cache.middleware());
    return { cache, app };
  }

  describe('when a body is too large to store', () => {
    it('should stream a body sent with end() over maxEntryBytes in full, and not store it', async () => {
      const { app } = setup({ maxEntryBytes: 1000 });
      const body = allBytes(8); // 2048 bytes
      let calls = 0;
      app.get('/big', (_req, res) => {
        calls++;
        res.type('application/octet-stream').end(body);
      });
      const { url } = await serve(app);
      const a = await send(url, '/big');
      const b = await send(url, '/big');
      expect(a.body.equals(body)).toBe(true);
      expect(b.body.equals(body)).toBe(true);
      expect([a.headers['x-cache'], b.headers['x-cache']]).toEqual(['MISS', 'MISS']);
      expect(calls).toBe(2);
    });

    it('should stream a body written in chunks past maxEntryBytes in full, and not store it', async () => {
      const { app } = setup({ maxEntryBytes: 1000 });
      const chunk = allBytes(1); // 256 bytes, 8 of them
      let calls = 0;
      app.get('/big', (_req, res) => {
        calls++;
        res.type('application/octet-stream');
        for (let i = 0; i < 7; i++) res.write(chunk);
        res.end(chunk);
      });
      const { url } = await serve(app);
      const a = await send(url, '/big');
      const b = await send(url, '/big');
      expect(a.body.equals(Buffer.concat(Array(8).fill(chunk)))).toBe(true);
      expect(a.headers['transfer-encoding']).toBe('chunked');
      expect(b.body.equals(a.body)).toBe(true);
      expect(b.headers['x-cache']).toBe('MISS');
      expect(calls).toBe(2);
    });
  });

  describe('when the client goes away mid-stream', () => {
    it('should store nothing, and the next request should reach the handler', async () => {
      const { app } = setup();
      const release = deferred();
      const closed = deferred();
      let calls = 0;
      app.get('/stream', (_req, res) => {
        calls++;
        res.type('text/plain');
        if (calls > 1) return void res.end('whole');
        res.on('close', () => closed.resolve());
        res.write('first part;');
        void release.promise.then(() => res.end('rest'));
      });
      const { url, server } = await serve(app);
      const { port } = server.address() as { port: number };
      await new Promise<void>((resolve, reject) => {
        const req = http.get({ host: '127.0.0.1', port, path: '/stream', agent: false }, (res) => {
          res.once('data', () => {
            req.destroy();
            resolve();
          });
        });
        req.on('error', () => {});
        req.on('close', resolve);
        req.on('timeout', reject);
      });
      await closed.promise;
      release.resolve();
      const next = await send(url, '/stream');
      expect(next.text).toBe('whole');
      expect(next.headers['x-cache']).toBe('MISS');
      expect(calls).toBe(2);
    });
  });

  describe('when a response is still streaming', () => {
    it('should not store anything before it finishes: a request meanwhile is a miss, not a partial hit', async () => {
      const { app } = setup({ coalesce: false });
      const release = deferred();
      let calls = 0;
      app.get('/stream', (_req, res) => {
        calls++;
        res.type('text/plain');
        res.write('first part;');
        if (calls === 1) void release.promise.then(() => res.end(' second part'));
        else res.end(' whole');
      });
      const { url } = await serve(app);
      const first = send(url, '/stream');
      await until(() => calls === 1);
      const meanwhile = await send(url, '/stream');
      release.resolve();
      expect([meanwhile.text, meanwhile.headers['x-cache']]).toEqual(['first part; whole', 'MISS']);
      expect((await first).text).toBe('first part; second part');
      expect(calls).toBe(2);
    });
  });

  describe('when the handler streams its body', () => {
    it('should deliver res.write chunks (strings in several encodings and Buffers) intact and replay them byte for byte', async () => {
      const { app } = setup();
      let calls = 0;
      app.get('/chunks', (_req, res) => {
        calls++;
        res.setHeader('Content-Type', 'application/octet-stream');
        res.write('héllo ');
        res.write('776f726c64', 'hex');
        res.write(Buffer.from([0, 255, 10, 13]));
        res.write(new Uint8Array([1, 2, 3]));
        res.end(' ✓', 'utf8');
      });
      const { url } = await serve(app);
      const expected = Buffer.concat([Buffer.from('héllo '), Buffer.from('world'), Buffer.from([0, 255, 10, 13, 1, 2, 3]), Buffer.from(' ✓')]);
      const a = await send(url, '/chunks');
      const b = await send(url, '/chunks');
      expect(a.body.equals(expected)).toBe(true);
      expect(b.body.equals(expected)).toBe(true);
      expect(b.headers['x-cache']).toBe('HIT');
      expect(b.headers['content-length']).toBe(String(expected.length));
      expect(calls).toBe(1);
    });

    it('should send and store a string given to end() with an encoding as those bytes, with the length Node computes', async () => {
      const { app } = setup();
      const done: string[] = [];
      app.get('/hex', (_req, res) => {
        res.setHeader('Content-Type', 'application/octet-stream');
        res.end('00ff0a68c3a9', 'hex', () => done.push('hex'));
      });
      app.get('/latin1', (_req, res) => {
        res.setHeader('Content-Type', 'text/plain; charset=latin1');
        res.write('caf');
        res.end('\u00e9', 'latin1');
      });
      const { url } = await serve(app);
      const hex = Buffer.from('00ff0a68c3a9', 'hex');
      const latin1 = Buffer.from([0x63, 0x61, 0x66, 0xe9]);
      for (const xCache of ['MISS', 'HIT']) {
        const a = await send(url, '/hex');
        const b = await send(url, '/latin1');
        expect([a.headers['x-cache'], b.headers['x-cache']]).toEqual([xCache, xCache]);
        expect(a.body.equals(hex)).toBe(true);
        expect(a.headers['content-length']).toBe(String(hex.length));
        expect(b.body.equals(latin1)).toBe(true);
      }
      expect(done).toEqual(['hex']);
    });

    it('should pass end(undefined, encoding, cb) on as an end with no body, calling cb', async () => {
      const { app } = setup();
      let called = 0;
      app.get('/none', (_req, res) => {
        res.type('text/plain');
        res.write('body');
        res.end(undefined, 'utf8', () => called++);
      });
      const { url } = await serve(app);
      expect((await send(url, '/none')).text).toBe('body');
      await until(() => called === 1);
      expect((await send(url, '/none')).text).toBe('body');
    });

    it('should deliver a Readable piped to res intact and replay it byte for byte', async () => {
      const { app } = setup();
      const parts = [allBytes(2), Buffer.from('middle'), allBytes(3).reverse()];
      let calls = 0;
      app.get('/piped', (_req, res) => {
        calls++;
        res.type('application/octet-stream');
        Readable.from(parts.map((p) => Buffer.from(p))).pipe(res);
      });
      const { url } = await serve(app);
      const a = await send(url, '/piped');
      const b = await send(url, '/piped');
      expect(a.body.equals(Buffer.concat(parts))).toBe(true);
      expect(b.body.equals(a.body)).toBe(true);
      expect(b.headers['x-cache']).toBe('HIT');
      expect(calls).toBe(1);
    });

    it('should deliver res.sendFile of a binary file intact and replay it byte for byte', async () => {
      const { app } = setup();
      const file = join(dir, `all-bytes-${Math.random().toString(36).slice(2)}.bin`);
      const bytes = allBytes(64); // 16 kB: more than one read chunk
      writeFileSync(file, bytes);
      let calls = 0;
      app.get('/file', (_req, res, next) => {
        calls++;
        // send's default Cache-Control is "public, max-age=0", which is revalidated on every use.
        res.sendFile(file, { cacheControl: false }, (err) => err && next(err));
      });
      const { url } = await serve(app);
      const a = await send(url, '/file');
      const b = await send(url, '/file');
      expect(a.status).toBe(200);
      expect(a.body.equals(bytes)).toBe(true);
      expect(b.body.equals(bytes)).toBe(true);
      expect(b.headers['x-cache']).toBe('HIT');
      expect(b.headers['content-type']).toBe('application/octet-stream');
      expect(b.headers['last-modified']).toBe(a.headers['last-modified']);
      expect(b.headers.etag).toBe(a.headers.etag);
      expect(calls).toBe(1);
    });

    it('should revalidate a sendFile answer with send\'s default "Cache-Control: public, max-age=0" on every use', async () => {
      const { app } = setup();
      const file = join(dir, 'default.txt');
      writeFileSync(file, 'default');
      let calls = 0;
      const conditional: Array<string | undefined> = [];
      app.get('/file', (req, res, next) => {
        calls++;
        conditional.push(req.get('if-none-match'));
        res.sendFile(file, (err) => err && next(err));
      });
      const { url } = await serve(app);
      const a = await send(url, '/file');
      const b = await send(url, '/file');
      expect(b.headers['cache-control']).toBe('public, max-age=0');
      // Stale on arrival (RFC 9111 §4.2.1): stored, and each use asks send() with its ETag; send's 304 answers from the store.
      expect([b.headers['x-cache'], b.status, b.text]).toEqual(['REVALIDATED', 200, 'default']);
      expect(conditional).toEqual([undefined, a.headers.etag]);
      expect(calls).toBe(2);
    });

    it('should replay a body of all 256 byte values sent with res.send(Buffer) byte for byte', async () => {
      const { app } = setup();
      const bytes = allBytes(3);
      app.get('/bin', (_req, res) => {
        res.send(bytes);
      });
      const { url } = await serve(app);
      const a = await send(url, '/bin');
      const b = await send(url, '/bin');
      expect(a.body.equals(bytes)).toBe(true);
      expect(b.body.equals(bytes)).toBe(true);
      expect(b.headers['x-cache']).toBe('HIT');
    });
  });

  describe('when the handler passes write and end callbacks', () => {
    it('should call every one of them, once', async () => {
      const { app } = setup();
      const called: string[] = [];
      app.get('/cb', (_req, res) => {
        res.type('text/plain');
        res.write('a', () => called.push('write(chunk, cb)'));
        res.write('b', 'utf8', () => called.push('write(chunk, encoding, cb)'));
        res.end('c', () => called.push('end(chunk, cb)'));
      });
      app.get('/cb2', (_req, res) => {
        res.type('text/plain');
        res.write('x');
        res.end(() => called.push('end(cb)'));
      });
      const { url } = await serve(app);
      expect((await send(url, '/cb')).text).toBe('abc');
      expect((await send(url, '/cb2')).text).toBe('x');
      await until(() => called.length === 4);
      expect(called.sort()).toEqual(['end(cb)', 'end(chunk, cb)', 'write(chunk, cb)', 'write(chunk, encoding, cb)']);
      expect((await send(url, '/cb')).headers['x-cache']).toBe('HIT');
    });
  });

  describe('when the handler sets headers with writeHead(status, headers)', () => {
    it('should not store a no-store given to writeHead', async () => {
      const { app } = setup();
      let calls = 0;
      app.get('/wh', (_req, res) => {
        calls++;
        res.writeHead(200, { 'Content-Type': 'text/plain', 'Cache-Control': 'no-store' });
        res.end('secret');
      });
      const { url } = await serve(app);
      await send(url, '/wh');
      const b = await send(url, '/wh');
      expect(b.headers['cache-control']).toBe('no-store');
      expect(b.headers['x-cache']).toBe('MISS');
      expect(calls).toBe(2);
    });

    it('should not store, nor replay to another client, a Set-Cookie given to writeHead', async () => {
      const { app } = setup();
      let calls = 0;
      app.get('/wh', (_req, res) => {
        calls++;
        res.writeHead(200, { 'Content-Type': 'text/plain', 'Set-Cookie': `sid=client${calls}` });
        res.end('hello');
      });
      const { url } = await serve(app);
      const a = await send(url, '/wh');
      const b = await send(url, '/wh');
      expect(a.headers['set-cookie']).toEqual(['sid=client1']);
      expect(b.headers['set-cookie']).toEqual(['sid=client2']);
      expect(calls).toBe(2);
    });

    it('should not store a status given to writeHead that is not stored (201, 500)', async () => {
      const { app } = setup();
      let calls = 0;
      app.get('/created', (_req, res) => {
        calls++;
        res.writeHead(201, { 'Content-Type': 'text/plain' });
        res.end('created');
      });
      app.get('/failed', (_req, res) => {
        calls++;
        res.writeHead(500, 'Oops', [['Content-Type', 'text/plain']]);
        res.end('failed');
      });
      const { url } = await serve(app);
      await send(url, '/created');
      const b = await send(url, '/created');
      await send(url, '/failed');
      const d = await send(url, '/failed');
      expect([b.status, b.headers['x-cache']]).toEqual([201, 'MISS']);
      expect([d.status, d.headers['x-cache']]).toEqual([500, 'MISS']);
      expect(calls).toBe(4);
    });

    it('should capture them (object, [[name, value]] and flat lists) and replay them on a hit', async () => {
      const { app } = setup();
      let calls = 0;
      app.get('/obj', (_req, res) => {
        calls++;
        res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'X-From-WriteHead': 'object', 'Cache-Control': 'max-age=300' });
        res.end('obj');
      });
      app.get('/pairs', (_req, res) => {
        calls++;
        res.writeHead(203, 'Non-Authoritative', [
          ['Content-Type', 'text/plain'],
          ['X-From-WriteHead', 'pairs'],
        ]);
        res.end('pairs');
      });
      app.get('/flat', (_req, res) => {
        calls++;
        res.writeHead(200, ['Content-Type', 'text/csv', 'X-From-WriteHead', 'flat']);
        res.end('a,b');
      });
      const { url } = await serve(app);
      for (const path of ['/obj', '/pairs', '/flat']) await send(url, path);
      const obj = await send(url, '/obj');
      const pairs = await send(url, '/pairs');
      const flat = await send(url, '/flat');
      expect(calls).toBe(3);
      expect([
        obj.status,
        obj.headers['x-cache'],
        obj.headers['x-from-writehead'],
        obj.headers['content-type'],
        obj.headers['cache-control'],
        obj.text,
      ]).toEqual([200, 'HIT', 'object', 'text/plain; charset=utf-8', 'max-age=300', 'obj']);
      expect([pairs.status, pairs.headers['x-cache'], pairs.headers['x-from-writehead'], pairs.headers['content-type'], pairs.text]).toEqual([
        203,
        'HIT',
        'pairs',
        'text/plain',
        'pairs',
      ]);
      expect([flat.status, flat.headers['x-cache'], flat.headers['x-from-writehead'], flat.headers['content-type'], flat.text]).toEqual([
        200,
        'HIT',
        'flat',
        'text/csv',
        'a,b',
      ]);
    });
  });

  describe('when a body is not complete', () => {
    it('should never store a body shorter than its Content-Length: the next request runs the handler', async () => {
      const { app } = setup();
      let calls = 0;
      app.get('/short', (_req, res) => {
        calls++;
        res.set('Content-Length', '100').type('text/plain');
        res.write('x'.repeat(50));
        res.end();
      });
      const { url } = await serve(app);
      const a = await sendLoose(url, '/short');
      const b = await sendLoose(url, '/short');
      expect(a.body.length).toBe(50);
      expect([a.headers['x-cache'], b.headers['x-cache']]).toEqual(['MISS', 'MISS']);
      expect(b.headers['content-length']).toBe('100');
      expect(calls).toBe(2);
    });

    it('should store a body that matches its Content-Length, written in chunks', async () => {
      const { app } = setup();
      let calls = 0;
      app.get('/exact', (_req, res) => {
        calls++;
        res.set('Content-Length', '100').type('text/plain');
        res.write('x'.repeat(50));
        res.end('y'.repeat(50));
      });
      const { url } = await serve(app);
      await send(url, '/exact');
      const b = await send(url, '/exact');
      expect([b.headers['x-cache'], b.text]).toEqual(['HIT', 'x'.repeat(50) + 'y'.repeat(50)]);
      expect(calls).toBe(1);
    });

    it.each([
      ['default statuses', {}],
      // 500 storable: only the status change after the headers tells the partial body apart.
      ['statuses [200, 500]', { statuses: [200, 500] }],
    ])('should not store a partial body an error handler ended with res.end() after setting 500 (%s)', async (_name, options) => {
      const { app } = setup(options);
      let calls = 0;
      app.get('/partial', (_req, res, next) => {
        calls++;
        res.type('text/plain');
        res.write('first half, ');
        next(new Error('the database went away'));
      });
      app.use((_err: Error, _req: import('express').Request, res: import('express').Response, _next: import('express').NextFunction) => {
        // Too late for a 500 on the wire; the status only changes on the response object.
        res.status(500);
        res.end();
      });
      const { url } = await serve(app);
      const a = await send(url, '/partial');
      const b = await send(url, '/partial');
      expect([a.status, a.text]).toEqual([200, 'first half, ']);
      expect([b.headers['x-cache'], b.text]).toEqual(['MISS', 'first half, ']);
      expect(calls).toBe(2);
    });

    it.each([
      ['next(err)', 'next'],
      ['a synchronous throw', 'throw'],
      ['a later next(err), from a callback', 'later'],
    ] as const)('should not store a partial body an error handler ended with a bare res.end(), after %s', async (_name, how) => {
      const { app } = setup();
      let calls = 0;
      let errors = 0;
      app.get('/partial', (_req, res, next) => {
        calls++;
        res.type('text/plain');
        res.write(`part ${calls}, `);
        const err = new Error('the database went away');
        if (how === 'throw') throw err;
        if (how === 'later') setImmediate(() => next(err));
        else next(err);
      });
      app.use((_err: Error, _req: import('express').Request, res: import('express').Response, _next: import('express').NextFunction) => {
        errors++;
        // The status is left alone: nothing on the response tells this body apart from a whole one.
        res.end();
      });
      const { url } = await serve(app);
      const a = await send(url, '/partial');
      const b = await send(url, '/partial');
      expect([a.status, a.text, b.headers['x-cache'], b.text]).toEqual([200, 'part 1, ', 'MISS', 'part 2, ']);
      expect({ calls, errors }).toEqual({ calls: 2, errors: 2 });
    });

    // Express 4 does not catch a rejected promise (the request would hang).
    (major === 5 ? it : it.skip)('should not store a partial body an error handler ended with a bare res.end(), after an async handler rejected', async () => {
      const { app } = setup();
      let calls = 0;
      app.get('/async', async (_req, res) => {
        calls++;
        res.type('text/plain').write(`part ${calls}, `);
        await new Promise((r) => setImmediate(r));
        throw new Error('the database went away');
      });
      app.use((_err: Error, _req: import('express').Request, res: import('express').Response, _next: import('express').NextFunction) => {
        res.end();
      });
      const { url } = await serve(app);
      const a = await send(url, '/async');
      const b = await send(url, '/async');
      expect([a.text, b.headers['x-cache'], b.text, calls]).toEqual(['part 1, ', 'MISS', 'part 2, ', 2]);
    });

    it('should not store what an error handler inside the route (after next(err)) ended', async () => {
      const { app } = setup();
      let calls = 0;
      app.get(
        '/inline',
        (_req: import('express').Request, res: import('express').Response, next: import('express').NextFunction) => {
          calls++;
          res.type('text/plain').write(`part ${calls}, `);
          next(new Error('gone'));
        },
        (_err: Error, _req: import('express').Request, res: import('express').Response, _next: import('express').NextFunction) => {
          res.end('sorry');
        },
      );
      const { url } = await serve(app);
      const a = await send(url, '/inline');
      const b = await send(url, '/inline');
      expect([a.text, b.headers['x-cache'], b.text]).toEqual(['part 1, sorry', 'MISS', 'part 2, sorry']);
      expect(calls).toBe(2);
    });

    it('should still store a whole body whose handler never erred, on an app with an error handler', async () => {
      const { app } = setup();
      let calls = 0;
      app.get('/fine', (_req, res) => {
        calls++;
        res.type('text/plain');
        res.write('all ');
        res.end('of it');
      });
      app.use((_err: Error, _req: import('express').Request, res: import('express').Response, _next: import('express').NextFunction) => {
        res.end();
      });
      const { url } = await serve(app);
      await send(url, '/fine');
      const b = await send(url, '/fine');
      expect([b.headers['x-cache'], b.text, calls]).toEqual(['HIT', 'all of it', 1]);
    });

    it('should not store a response whose socket is destroyed mid-body', async () => {
      const { app } = setup();
      let calls = 0;
      app.get('/torn', (req, res) => {
        calls++;
        res.type('text/plain');
        res.write('some of it');
        if (calls === 1) setImmediate(() => req.socket.destroy());
        else res.end(' and the rest');
      });
      const { url } = await serve(app);
      await sendLoose(url, '/torn');
      const b = await send(url, '/torn');
      const c = await send(url, '/torn');
      expect([b.headers['x-cache'], b.text]).toEqual(['MISS', 'some of it and the rest']);
      expect([c.headers['x-cache'], c.text]).toEqual(['HIT', 'some of it and the rest']);
      expect(calls).toBe(2);
    });
  });

  describe('when a capture hook throws', () => {
    /** A bare capture() over a real response, with hooks that may throw. */
    async function captured(hooks: Partial<CaptureHooks>, handler: (res: http.ServerResponse) => void) {
      const seen = { errors: [] as unknown[], abandoned: [] as string[], finished: [] as string[] };
      const { url } = await serve((_req, res) => {
        capture(res, 1024, {
          headers: () => true,
          finished: (body) => seen.finished.push(body.toString()),
          abandoned: (reason) => seen.abandoned.push(reason),
          onCallbackError: (err) => seen.errors.push(err),
          ...hooks,
        });
        handler(res);
      });
      return { url, seen };
    }
    const boom = () => {
      throw new Error('boom');
    };

    it.each([
      ['headers()', { headers: boom }],
      ['swallow()', { swallow: boom }],
    ])('should pass the response through untouched when %s throws, store nothing, and report it', async (_name, hooks) => {
      const { url, seen } = await captured(hooks, (res) => {
        res.setHeader('Content-Type', 'text/plain');
        res.write('a');
        res.end('b');
      });
      const r = await send(url, '/');
      expect([r.status, r.text]).toEqual([200, 'ab']);
      await until(() => seen.abandoned.length === 1);
      expect(seen.finished).toEqual([]);
      expect(seen.abandoned).toEqual(['a capture hook threw']);
      expect((seen.errors[0] as Error).message).toBe('boom');
    });

    it('should report a finished() that throws and still call abandoned(), so no flight waits forever', async () => {
      const { url, seen } = await captured({ finished: boom }, (res) => res.end('whole'));
      const r = await send(url, '/');
      expect(r.text).toBe('whole');
      await until(() => seen.abandoned.length === 1);
      expect(seen.abandoned).toEqual(['the finished hook threw']);
      expect(seen.errors.length).toBe(1);
    });

    it('should survive an abandoned() and an onCallbackError() that throw', async () => {
      const { url } = await captured({ headers: boom, abandoned: boom, onCallbackError: boom }, (res) => res.end('still here'));
      const r = await send(url, '/');
      expect([r.status, r.text]).toEqual([200, 'still here']);
    });

    it('should say why an incomplete body was abandoned', async () => {
      const { url, seen } = await captured({}, (res) => {
        res.setHeader('Content-Length', '10');
        res.end('12345');
      });
      await sendLoose(url, '/');
      await until(() => seen.abandoned.length === 1);
      expect(seen.abandoned).toEqual(['body of 5 bytes, Content-Length said 10']);
      expect(seen.finished).toEqual([]);
    });
  });
});

/** Like send(), but a response cut short (fewer bytes than Content-Length) resolves with what came. */
function sendLoose(base: string, path: string): Promise<{ headers: http.IncomingHttpHeaders; body: Buffer }> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: hostname, port, path, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      const done = () => resolve({ headers: res.headers, body: Buffer.concat(chunks) });
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', done);
      res.on('end', done);
      res.on('close', done);
    });
    req.on('error', reject);
    req.end();
  });
}
