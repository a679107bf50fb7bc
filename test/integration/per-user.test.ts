/**
 * Per-user reads (issue 25, point 1): an answer made after the routes after the cache read
 * per-user request state is not stored (X-Cache MISS, Cache-Status detail=per-user, one
 * debug line naming what was read), so one user's body never reaches another. Reads by
 * middlewares before the cache (and by their hooks), the cache's own, and reads after end()
 * do not count; reads by a middleware mounted between the cache and the route do, with one
 * console.warn naming the route. `shared: true`, `res.locals.cache.shared()` and a key or
 * Vary on the user store as before. The watch leaves every property as it found it.
 */

import cookieParser from 'cookie-parser';
import createDebug from 'debug';
import type { Express, Request, RequestHandler } from 'express';
import session from 'express-session';
import onHeaders from 'on-headers';
import { createCache } from '../../middleware';
import { forEachExpress } from '../helpers/express';
import { closeAfterEach, send, serve, TestClock, track, until } from '../helpers/http';

closeAfterEach();

declare module 'express-session' {
  interface SessionData {
    name: string;
    userId: string;
  }
}

type Loose = Record<string, unknown>;
const field = (req: Request, name: string): unknown => (req as unknown as Loose)[name];

/** Every way the issue names of reading per-user state, and the label the debug line gives it. */
const READS: Array<[way: string, read: (req: Request) => unknown, label: string]> = [
  ['req.session', (req) => field(req, 'session'), 'req.session'],
  ['req.user', (req) => field(req, 'user'), 'req.user'],
  ['req.cookies', (req) => field(req, 'cookies'), 'req.cookies'],
  ['req.signedCookies', (req) => field(req, 'signedCookies'), 'req.signedCookies'],
  ['req.auth', (req) => field(req, 'auth'), 'req.auth'],
  ['req.headers.cookie', (req) => req.headers.cookie, 'the Cookie header'],
  ["req.headers['authorization']", (req) => req.headers['authorization'], 'the Authorization header'],
  ["req.get('Cookie')", (req) => req.get('Cookie'), 'the Cookie header'],
  ["req.header('cookie')", (req) => req.header('cookie'), 'the Cookie header'],
  ["req.get('Authorization')", (req) => req.get('Authorization'), 'the Authorization header'],
  ["req.header('Authorization')", (req) => req.header('Authorization'), 'the Authorization header'],
];

/** Lines the debug module writes under express-response-cache while `body` runs. */
async function debugLines(body: () => Promise<void>): Promise<string[]> {
  const lines: string[] = [];
  const before = createDebug.log;
  createDebug.enable('express-response-cache');
  createDebug.log = (...args: unknown[]) => void lines.push(args.map(String).join(' '));
  try {
    await body();
  } finally {
    createDebug.disable();
    createDebug.log = before;
  }
  return lines;
}

forEachExpress((express) => {
  function app(opts: Parameters<typeof createCache>[0] = {}) {
    // shareAuthorized: requests with Authorization reach the cache (else they bypass it).
    const cache = track(createCache({ jitter: 0, shareAuthorized: true, headers: { cacheStatus: 'erc' }, ...opts }));
    const a = express();
    a.use(cookieParser('secret'));
    // As passport and express-jwt do before the cache: req.user and req.auth from the request.
    a.use((req, _res, next) => {
      (req as unknown as Loose).user = req.headers['x-user'];
      (req as unknown as Loose).auth = req.headers['x-user'];
      next();
    });
    return { a, cache };
  }
  const as = (user: string) => ({ headers: { 'x-user': user, cookie: `u=${user}`, authorization: `Bearer ${user}` } });
  // `public`: an authorized request's answer may be stored (RFC 9111 §3.5); only the read keeps it out.
  const PUBLIC = 'public, max-age=60';

  describe.each(READS)('after reading %s', (way, read, label) => {
    it('should not store the answer, and say why', async () => {
      const { a, cache } = app();
      let calls = 0;
      a.use(cache.middleware());
      a.get('/me', (req, res) => {
        calls++;
        const v = read(req);
        res.set('Cache-Control', PUBLIC).send(`${String(req.headers['x-user'])}: ${typeof v === 'string' ? v : JSON.stringify(v)}`);
      });
      const { url } = await serve(a);
      let alice, bob;
      const lines = await debugLines(async () => {
        alice = await send(url, '/me', as('alice'));
        bob = await send(url, '/me', as('bob'));
      });
      for (const [who, r] of [
        ['alice', alice!],
        ['bob', bob!],
      ] as const) {
        expect(r.headers['x-cache']).toBe('MISS');
        expect(r.headers['cache-status']).toBe('erc; fwd=uri-miss; detail=per-user');
        expect(r.text.startsWith(`${who}: `)).toBe(true);
        if (way !== 'req.session') expect(r.text).toContain(who === 'alice' ? 'alice' : 'bob');
      }
      expect(calls).toBe(2);
      const named = lines.filter((l) => l.includes('per-user'));
      expect(named).toHaveLength(2);
      expect(named[0]).toContain(`the handler read ${label}`);
      expect(cache.stats().stores).toBe(0);
    });
  });

  it('should store the same route when it reads nothing per-user (the control)', async () => {
    const { a, cache } = app();
    let calls = 0;
    a.use(cache.middleware());
    a.get('/page', (req, res) => {
      calls++;
      res.set('Cache-Control', PUBLIC).send(`page ${req.path}`);
    });
    const { url } = await serve(a);
    await send(url, '/page', as('alice'));
    const bob = await send(url, '/page', as('bob'));
    expect([bob.headers['x-cache'], bob.text, calls]).toEqual(['HIT', 'page /page', 1]);
  });

  it('should not count reads by middlewares before the cache, nor by their hooks (onHeaders, end, finish)', async () => {
    const { a, cache } = app();
    a.use(session({ secret: 's', resave: false, saveUninitialized: false, store: new session.MemoryStore() }));
    a.use((req, res, next) => {
      void req.session;
      void req.cookies;
      // As compression and morgan ('combined' reads Authorization for :remote-user) do.
      onHeaders(res, () => void req.headers.cookie);
      const end = res.end.bind(res) as (...args: unknown[]) => unknown;
      (res as unknown as Loose).end = (...args: unknown[]) => {
        void field(req, 'user');
        return end(...args);
      };
      res.on('finish', () => void req.headers.authorization);
      next();
    });
    a.use(cache.middleware());
    let calls = 0;
    a.get('/page', (_req, res) => {
      calls++;
      res.set('Cache-Control', PUBLIC);
      res.write('same ');
      res.end('for all');
    });
    const { url } = await serve(a);
    await send(url, '/page', as('alice'));
    await until(() => cache.stats().stores === 1);
    const second = await send(url, '/page', as('bob'));
    expect([second.headers['x-cache'], second.text, calls]).toEqual(['HIT', 'same for all', 1]);
  });

  it("should not count the handler's reads after end()", async () => {
    const { a, cache } = app();
    a.use(cache.middleware());
    let calls = 0;
    a.get('/after', (req, res) => {
      calls++;
      res.set('Cache-Control', PUBLIC).send('public');
      void req.headers.cookie;
      res.on('finish', () => void field(req, 'session'));
    });
    const { url } = await serve(a);
    await send(url, '/after', as('alice'));
    await until(() => cache.stats().stores === 1);
    expect((await send(url, '/after', as('bob'))).headers['x-cache']).toBe('HIT');
    expect(calls).toBe(1);
  });

  it('should count a read made while streaming, after the first write', async () => {
    const { a, cache } = app();
    a.use(cache.middleware());
    a.get('/stream', (req, res) => {
      res.set('Cache-Control', PUBLIC);
      res.write('<p>hello ');
      setImmediate(() => res.end(`${String(field(req, 'user'))}</p>`));
    });
    const { url } = await serve(a);
    const alice = await send(url, '/stream', as('alice'));
    const bob = await send(url, '/stream', as('bob'));
    expect([alice.text, bob.text, bob.headers['x-cache']]).toEqual(['<p>hello alice</p>', '<p>hello bob</p>', 'MISS']);
    expect(cache.stats().stores).toBe(0);
  });

  it('should not freshen a stored entry for everyone from a 304 the handler made after a per-user read', async () => {
    const clock = new TestClock();
    const cache = track(createCache({ jitter: 0, shareAuthorized: true }, clock));
    const a = express();
    a.use((req, _res, next) => {
      (req as unknown as Loose).user = req.headers['x-user'];
      next();
    });
    a.use(cache.middleware());
    let personal = false;
    let calls = 0;
    a.get('/doc', (req, res) => {
      calls++;
      res.set({ 'Cache-Control': PUBLIC, ETag: '"v1"' });
      if (personal) void field(req, 'user');
      // The entry's own validator comes back when it is revalidated (RFC 9111 §4.3.1).
      if (req.headers['if-none-match'] === '"v1"') return void res.status(304).end();
      res.send('the document');
    });
    const { url } = await serve(a);
    await send(url, '/doc', as('alice'));
    await until(() => cache.stats().stores === 1);
    clock.advance(61);
    const control = await send(url, '/doc', as('alice'));
    expect([control.headers['x-cache'], control.text]).toEqual(['REVALIDATED', 'the document']);
    // Freshened and stored again: fresh for another 60 s.
    await until(() => cache.stats().stores === 2);
    expect((await send(url, '/doc', as('alice'))).headers['x-cache']).toBe('HIT');
    clock.advance(61);
    personal = true;
    const lines = await debugLines(async () => {
      const r = await send(url, '/doc', as('bob'));
      expect([r.headers['x-cache'], r.text]).toEqual(['REVALIDATED', 'the document']);
    });
    expect(lines.some((l) => l.includes('per-user: the handler read req.user to revalidate'))).toBe(true);
    // Not freshened: still stale, so the next request goes to the handler again.
    expect((await send(url, '/doc', as('carol'))).headers['x-cache']).toBe('REVALIDATED');
    expect(calls).toBe(4);
    expect(cache.stats().stores).toBe(2);
  });

  describe('with express-session (real) and a passport-like req.user from the session', () => {
    function sessionApp(opts: Parameters<typeof createCache>[0] = {}) {
      const cache = track(createCache({ jitter: 0, headers: { cacheStatus: 'erc' }, ...opts }));
      const a = express();
      a.use(session({ secret: 's', resave: false, saveUninitialized: false, store: new session.MemoryStore() }));
      // passport.session(): deserialize the user the session names into req.user.
      a.use((req, _res, next) => {
        if (req.session.userId) (req as unknown as Loose).user = { id: req.session.userId };
        next();
      });
      a.use(cache.middleware());
      a.get('/login/:name', (req, res) => {
        req.session.name = req.params.name;
        req.session.userId = `u-${req.params.name}`;
        res.set('Cache-Control', 'no-store').send('ok');
      });
      return { a, cache };
    }
    async function login(url: string, name: string): Promise<string> {
      const r = await send(url, `/login/${name}`);
      return String(r.headers['set-cookie']![0]).split(';')[0];
    }

    it('should answer each visitor their own /me, never a stored one', async () => {
      const { a, cache } = sessionApp();
      a.get('/me', (req, res) => res.json({ name: req.session.name ?? null }));
      a.get('/whoami', (req, res) => res.json({ id: (field(req, 'user') as { id?: string } | undefined)?.id ?? null }));
      const { url } = await serve(a);
      const alice = await login(url, 'alice');
      const bob = await login(url, 'bob');
      for (const path of ['/me', '/whoami']) {
        const anon = await send(url, path);
        const a1 = await send(url, path, { headers: { cookie: alice } });
        const b1 = await send(url, path, { headers: { cookie: bob } });
        const anon2 = await send(url, path);
        const want = path === '/me' ? ['alice', 'bob'] : ['u-alice', 'u-bob'];
        expect([anon, a1, b1, anon2].map((r) => Object.values(JSON.parse(r.text) as Loose)[0])).toEqual([null, want[0], want[1], null]);
        expect([anon, a1, b1, anon2].map((r) => r.headers['x-cache'])).toEqual(['MISS', 'MISS', 'MISS', 'MISS']);
        expect(anon.headers['cache-status']).toContain('detail=per-user');
      }
      expect(cache.stats().stores).toBe(0);
    });

    it('should store a route that keys on the cookie (vary), one entry per visitor', async () => {
      const { a } = sessionApp({ vary: ['cookie'] });
      let calls = 0;
      a.get('/me', (req, res) => {
        calls++;
        res.json({ name: req.session.name ?? null });
      });
      const { url } = await serve(a);
      const alice = await login(url, 'alice');
      const bob = await login(url, 'bob');
      await send(url, '/me', { headers: { cookie: alice } });
      const a2 = await send(url, '/me', { headers: { cookie: alice } });
      const b1 = await send(url, '/me', { headers: { cookie: bob } });
      expect([a2.headers['x-cache'], a2.text, b1.headers['x-cache'], b1.text]).toEqual(['HIT', '{"name":"alice"}', 'MISS', '{"name":"bob"}']);
      expect(calls).toBe(2);
    });
  });

  it('should store the answer with shared: true on the route, or after res.locals.cache.shared()', async () => {
    const { a, cache } = app();
    let calls = 0;
    a.get('/route', cache.middleware({ shared: true }), (req, res) => {
      calls++;
      res.send(`cookies ${Object.keys(req.cookies as object).length}`);
    });
    a.get('/locals', cache.middleware(), (req, res) => {
      calls++;
      void field(req, 'user');
      res.locals.cache!.shared();
      res.send('same');
    });
    a.get('/unshared', cache.middleware(), (req, res) => {
      calls++;
      res.send(`cookies ${Object.keys(req.cookies as object).length}`);
    });
    const { url } = await serve(a);
    await send(url, '/route', { headers: { cookie: 'a=1' } });
    expect((await send(url, '/route', { headers: { cookie: 'b=2' } })).headers['x-cache']).toBe('HIT');
    await send(url, '/locals', { headers: { 'x-user': 'a' } });
    expect((await send(url, '/locals', { headers: { 'x-user': 'b' } })).headers['x-cache']).toBe('HIT');
    await send(url, '/unshared', { headers: { cookie: 'a=1' } });
    expect((await send(url, '/unshared', { headers: { cookie: 'a=1' } })).headers['x-cache']).toBe('MISS');
    expect(calls).toBe(4);
  });

  it('should store per user a route that keys on the user: its own key, vary, or a response Vary', async () => {
    const { a, cache } = app();
    let calls = 0;
    const me: RequestHandler = (req, res) => {
      calls++;
      if (req.path === '/vary-header') res.vary('Cookie');
      res.send(`me ${String((req.cookies as Loose).u)}`);
    };
    a.get('/key', cache.middleware({ key: (req) => `me:${String((req.cookies as Loose).u)}` }), me);
    a.get('/vary-option', cache.middleware({ vary: ['cookie'] }), me);
    a.get('/vary-header', cache.middleware(), me);
    const { url } = await serve(a);
    for (const path of ['/key', '/vary-option', '/vary-header']) {
      calls = 0;
      await send(url, path, { headers: { cookie: 'u=alice' } });
      const alice = await send(url, path, { headers: { cookie: 'u=alice' } });
      const bob = await send(url, path, { headers: { cookie: 'u=bob' } });
      expect([path, alice.headers['x-cache'], alice.text, bob.headers['x-cache'], bob.text, calls]).toEqual([path, 'HIT', 'me alice', 'MISS', 'me bob', 2]);
    }
    expect(cache.stats().stores).toBe(6);
  });

  it('should not let a Vary on Cookie cover a read of Authorization', async () => {
    const { a, cache } = app();
    a.use(cache.middleware());
    a.get('/token', (req, res) => {
      res
        .vary('Cookie')
        .set('Cache-Control', PUBLIC)
        .send(String(req.get('authorization')));
    });
    const { url } = await serve(a);
    await send(url, '/token', { headers: { cookie: 'same', authorization: 'Bearer alice' } });
    const bob = await send(url, '/token', { headers: { cookie: 'same', authorization: 'Bearer bob' } });
    expect([bob.text, bob.headers['x-cache']]).toEqual(['Bearer bob', 'MISS']);
    expect(cache.stats().stores).toBe(0);
  });

  it('should store, without shareAuthorized, an answer that read the absent Authorization header (such requests bypass the cache)', async () => {
    const { a, cache } = app({ shareAuthorized: false });
    let calls = 0;
    a.use(cache.middleware());
    a.get('/maybe', (req, res) => {
      calls++;
      res.send(req.headers.authorization ? `for ${req.headers.authorization}` : 'for anyone');
    });
    const { url } = await serve(a);
    await send(url, '/maybe');
    const anon = await send(url, '/maybe');
    const alice = await send(url, '/maybe', { headers: { authorization: 'Bearer alice' } });
    expect([anon.headers['x-cache'], anon.text, alice.headers['x-cache'], alice.text, calls]).toEqual(['HIT', 'for anyone', 'BYPASS', 'for Bearer alice', 2]);
    expect(cache.stats().stores).toBe(1);
  });

  it('should count reads by a middleware mounted between the cache and the route, and warn once naming the route', async () => {
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      const { a, cache } = app();
      a.use(cache.middleware());
      a.use((req, _res, next) => {
        void req.headers.cookie;
        next();
      });
      let calls = 0;
      a.get('/between', (_req, res) => res.send(`p${++calls}`));
      a.get('/items/:id', (_req, res) => res.send(`p${++calls}`));
      const { url } = await serve(a);
      for (let i = 0; i < 3; i++) {
        const r = await send(url, '/between', { headers: { cookie: `u=${i}` } });
        expect([r.headers['x-cache'], r.headers['cache-status']]).toEqual(['MISS', 'erc; fwd=uri-miss; detail=per-user']);
        await send(url, `/items/${i}`);
      }
      expect(calls).toBe(6);
      const ours = warn.mock.calls.map(([m]) => String(m)).filter((m) => m.includes('express-response-cache'));
      expect(ours).toHaveLength(2);
      expect(ours[0]).toContain('between the cache and GET /between reads the Cookie header');
      expect(ours[1]).toContain('GET /items/:id');
    } finally {
      warn.mockRestore();
    }
  });

  it('should not warn when the route itself reads', async () => {
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      const { a, cache } = app();
      a.use(cache.middleware());
      a.get('/own', (req, res) => res.send(String(req.headers.cookie)));
      const { url } = await serve(a);
      const r = await send(url, '/own', { headers: { cookie: 'u=x' } });
      expect(r.headers['cache-status']).toContain('detail=per-user');
      expect(warn.mock.calls.filter(([m]) => String(m).includes('express-response-cache'))).toHaveLength(0);
    } finally {
      warn.mockRestore();
    }
  });

  describe('the watch', () => {
    function keep(a: Express, path: string, route: RequestHandler) {
      const seen: Request[] = [];
      a.get(
        path,
        (req, _res, next) => {
          seen.push(req);
          next();
        },
        route,
      );
      return seen;
    }
    const plain = (target: object, name: string) => Object.getOwnPropertyDescriptor(target, name);

    it('should leave plain properties behind, and absent ones absent (also while enumerating req.headers)', async () => {
      const { a, cache } = app();
      a.use(cache.middleware());
      a.use((req, _res, next) => {
        // Assigned by a middleware between the cache and the route (passport's logIn).
        if (req.headers['x-login']) (req as unknown as Loose).session = { who: req.headers['x-login'] };
        next();
      });
      const seen = keep(a, '/h', (req, res) => res.send(JSON.stringify([Object.keys({ ...req.headers }).sort(), field(req, 'session')])));
      const { url } = await serve(a);
      const r = await send(url, '/h', { headers: { cookie: 'c=1', 'x-login': 'ann' } });
      const [keys, sess] = JSON.parse(r.text) as [string[], unknown];
      expect(keys).toContain('cookie');
      expect(keys).not.toContain('authorization');
      expect(sess).toEqual({ who: 'ann' });
      const req = seen[0];
      expect(plain(req.headers, 'cookie')).toEqual({ value: 'c=1', writable: true, enumerable: true, configurable: true });
      expect(plain(req.headers, 'authorization')).toBeUndefined();
      expect(plain(req, 'user')).toEqual({ value: undefined, writable: true, enumerable: true, configurable: true });
      expect(plain(req, 'session')).toEqual({ value: { who: 'ann' }, writable: true, enumerable: true, configurable: true });
      for (const name of ['session', 'user', 'cookies', 'signedCookies', 'auth']) expect(typeof plain(req, name)?.get).not.toBe('function');
      expect(Object.keys(req.headers)).not.toContain('authorization');
    });

    it('should wrap an accessor as cookie-session defines req.session, and put it back', async () => {
      const { a, cache } = app();
      const getter = function (this: Loose) {
        return (this._sess ??= { views: 0 }) as Loose;
      };
      const setter = function (this: Loose, v: unknown) {
        this._sess = v;
      };
      a.use((req, _res, next) => {
        Object.defineProperty(req, 'session', { configurable: true, enumerable: true, get: getter, set: setter });
        next();
      });
      a.use(cache.middleware());
      const seen = keep(a, '/views', (req, res) => {
        const s = field(req, 'session') as { views: number };
        s.views++;
        (req as unknown as Loose).session = { views: s.views + 10 };
        res.send(String((field(req, 'session') as { views: number }).views));
      });
      const { url } = await serve(a);
      const r = await send(url, '/views');
      expect([r.text, r.headers['cache-status']]).toEqual(['11', 'erc; fwd=uri-miss; detail=per-user']);
      const d = plain(seen[0], 'session')!;
      expect([d.get, d.set]).toEqual([getter, setter]);
    });

    it('should not crash on a request whose properties cannot be redefined, and not store what it cannot watch', async () => {
      const { a, cache } = app();
      a.use((req, _res, next) => {
        Object.defineProperty(req, 'user', { value: 'locked', enumerable: true, configurable: false, writable: false });
        Object.preventExtensions(req.headers);
        next();
      });
      a.use(cache.middleware());
      let calls = 0;
      a.get('/locked', (req, res) => {
        calls++;
        res.send(`hi ${String(field(req, 'user'))}`);
      });
      const { url } = await serve(a);
      const lines = await debugLines(async () => {
        const r1 = await send(url, '/locked', { headers: { cookie: 'u=1' } });
        const r2 = await send(url, '/locked', { headers: { cookie: 'u=1' } });
        expect([r1.status, r1.text, r2.text, r2.headers['x-cache']]).toEqual([200, 'hi locked', 'hi locked', 'MISS']);
      });
      expect(calls).toBe(2);
      expect(lines.some((l) => l.includes('req.user (could not be watched)'))).toBe(true);
    });

    it('should watch a GET while it is made, and leave a HEAD unwatched (it stores nothing)', async () => {
      const { a, cache } = app();
      a.use(cache.middleware());
      const watched: boolean[] = [];
      a.get('/head', (req, res) => {
        watched.push(typeof plain(req, 'user')?.get === 'function');
        res.send('x');
      });
      const { url } = await serve(a);
      expect((await send(url, '/head', { method: 'HEAD' })).status).toBe(200);
      expect((await send(url, '/head')).text).toBe('x');
      expect(watched).toEqual([false, true]);
    });
  });

  it('should never serve one user the body made for another (a mixed run of users)', async () => {
    const { a, cache } = app();
    a.use(cache.middleware());
    a.get('/me', (req, res) => res.json({ user: field(req, 'user') }));
    a.get('/public', (_req, res) => res.json({ user: 'everyone' }));
    const { url } = await serve(a);
    const users = ['alice', 'bob', 'carol', 'dave'];
    const replies = await Promise.all(
      Array.from({ length: 60 }, (_, i) => {
        const user = users[i % users.length];
        const path = i % 3 === 0 ? '/public' : '/me';
        return send(url, path, { headers: { 'x-user': user } }).then((r) => ({ user, path, r }));
      }),
    );
    for (const { user, path, r } of replies) expect(JSON.parse(r.text).user).toBe(path === '/me' ? user : 'everyone');
    expect(replies.some(({ path, r }) => path === '/public' && r.headers['x-cache'] === 'HIT')).toBe(true);
  });
});
