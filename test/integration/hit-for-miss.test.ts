/**
 * Hit-for-miss (issue 20): concurrent misses of a URL whose answer cannot be stored run the
 * handler in parallel. The followers of a leader whose answer turns out not storable are all
 * woken at once, and the misses after it do not queue at all; a later storable answer makes
 * the URL cached (and coalesced) again. Measured as the most handler calls running at once,
 * never as wall-clock time: each call holds until every request of its wave has entered the
 * handler (bounded), so calls that run in parallel overlap whatever the machine's load, and
 * calls queued one behind another never do.
 */

import type { RequestHandler } from 'express';
import session from 'express-session';
import { createCache } from '../../middleware';
import { forEachExpress } from '../helpers/express';
import { closeAfterEach, send, serve, track, until } from '../helpers/http';

closeAfterEach();

/** The figure: 10 concurrent requests to a slow uncacheable route. */
const N = 10;
/** How long a call holds at most for the rest of its wave (only reached when calls queue). */
const HOLD_MS = 1000;

interface Gate {
  /** Requests that reached the app (a middleware before the cache counts them). */
  arrived: number;
  calls: number;
  active: number;
  /** The most handler calls running at once. */
  max: number;
}

function gate() {
  const g: Gate = { arrived: 0, calls: 0, active: 0, max: 0 };
  let base = { arrived: 0, calls: 0 };
  let leader = false;
  const arrive: RequestHandler = (_req, _res, next) => {
    g.arrived++;
    next();
  };
  /** The handler's slow part. The first call of a leader wave holds until every request of the wave has arrived (its followers wait on it). */
  const enter = async (): Promise<void> => {
    const nth = ++g.calls - base.calls;
    g.active++;
    g.max = Math.max(g.max, g.active);
    const lone = leader && nth === 1;
    await until(() => (lone ? g.arrived - base.arrived >= N : g.calls - base.calls >= N), HOLD_MS).catch(() => undefined);
    g.active--;
  };
  /** N concurrent requests; `withLeader`: the first one to enter the handler leads the others (a flight is expected). */
  const wave = async (url: string, path: string, withLeader: boolean) => {
    base = { arrived: g.arrived, calls: g.calls };
    leader = withLeader;
    g.max = 0;
    return Promise.all(Array.from({ length: N }, () => send(url, path)));
  };
  return { g, arrive, enter, wave };
}

forEachExpress((express) => {
  async function start(route: (enter: () => Promise<void>) => RequestHandler, opts: Parameters<typeof createCache>[0] = {}, before?: RequestHandler) {
    const cache = track(createCache({ jitter: 0, headers: { cacheStatus: 'erc' }, ...opts }));
    const app = express();
    const { g, arrive, enter, wave } = gate();
    app.use(arrive);
    if (before) app.use(before);
    app.use(cache.middleware());
    app.get('/r', route(enter));
    const { url } = await serve(app);
    return { url, g, cache, wave: (withLeader: boolean) => wave(url, '/r', withLeader) };
  }

  const cases: Array<[string, (enter: () => Promise<void>) => RequestHandler, Parameters<typeof createCache>[0]?, RequestHandler?]> = [
    [
      'Set-Cookie',
      (enter) => async (_req, res) => {
        await enter();
        res.cookie('sid', String(Math.random())).send('mine');
      },
    ],
    [
      'Set-Cookie added after the handler (express-session, rolling)',
      (enter) => async (_req, res) => {
        await enter();
        res.send('page');
      },
      {},
      session({ secret: 's', resave: false, saveUninitialized: true, rolling: true, store: new session.MemoryStore() }),
    ],
    [
      'Cache-Control: private',
      (enter) => async (_req, res) => {
        await enter();
        res.set('Cache-Control', 'private').send('mine');
      },
    ],
    [
      'a body over maxEntryBytes (Content-Length)',
      (enter) => async (_req, res) => {
        await enter();
        res.send('x'.repeat(200));
      },
      { maxEntryBytes: 100 },
    ],
    [
      'a streamed body that grows over maxEntryBytes',
      (enter) => async (_req, res) => {
        await enter();
        res.write('x'.repeat(60));
        res.end('y'.repeat(60));
      },
      { maxEntryBytes: 100 },
    ],
    [
      'an answer made after reading req.session (per-user)',
      (enter) => async (req, res) => {
        await enter();
        res.send(`hello ${String((req.session as unknown as { id?: string }).id?.length)}`);
      },
      {},
      session({ secret: 's', resave: false, saveUninitialized: false, store: new session.MemoryStore() }),
    ],
  ];

  for (const [name, route, opts, before] of cases) {
    it(`should run concurrent misses of a route answering with ${name} in parallel`, async () => {
      const { g, wave } = await start(route, opts, before);
      const first = await wave(true);
      expect(first.every((r) => r.status === 200 && r.headers['x-cache'] === 'MISS')).toBe(true);
      // One leader; when its answer is not storable, its N - 1 followers are woken together.
      expect(g.max).toBe(N - 1);
      expect(g.calls).toBe(N);
      const second = await wave(false);
      // Remembered (hit-for-miss): no leader to wait for at all.
      expect(g.max).toBe(N);
      expect(g.calls).toBe(2 * N);
      expect(second.every((r) => r.status === 200 && r.headers['x-cache'] === 'MISS')).toBe(true);
    });
  }

  it('should cache the URL again, and coalesce its misses again, once its answer is storable', async () => {
    let cookie = true;
    let made = 0;
    const { url, g, wave, cache } = await start((enter) => async (_req, res) => {
      const n = ++made;
      await enter();
      if (cookie) res.cookie('a', 'b');
      res.send(`v${n}`);
    });
    await wave(true);
    expect(g.calls).toBe(N);
    cookie = false;
    // Still remembered: these run in parallel, and each answer is storable.
    const stored = await wave(false);
    expect(g.max).toBe(N);
    expect(stored.every((r) => r.headers['x-cache'] === 'MISS' && /^v\d+$/.test(r.text))).toBe(true);
    const hit = await send(url, '/r');
    expect(hit.headers['x-cache']).toBe('HIT');
    expect(stored.map((r) => r.text)).toContain(hit.text);
    await cache.invalidate({ paths: ['/r'] });
    // Forgotten: the next misses coalesce behind one leader, whose stored answer they all get.
    const again = await wave(true);
    expect(g.calls).toBe(2 * N + 1);
    const bodies = new Set(again.map((r) => r.text));
    expect(bodies.size).toBe(1);
    expect(again.filter((r) => r.headers['x-cache'] === 'MISS')).toHaveLength(1);
  });

  it('should keep coalescing a storable route', async () => {
    const { g, wave } = await start((enter) => async (_req, res) => {
      await enter();
      res.send('same');
    });
    const replies = await wave(true);
    expect(g.calls).toBe(1);
    expect(replies.every((r) => r.text === 'same')).toBe(true);
  });

  it('should leave values.getOrSet coalescing as it was, also for a key named like an uncacheable URL', async () => {
    const { cache, wave } = await start((enter) => async (_req, res) => {
      await enter();
      res.cookie('a', 'b').send('mine');
    });
    await wave(true);
    const values = cache.values<string>('r');
    let made = 0;
    const got = await Promise.all(
      Array.from({ length: N }, () =>
        values.getOrSet('/r', async () => {
          made++;
          await new Promise((resolve) => setTimeout(resolve, 50));
          return 'v';
        }),
      ),
    );
    expect(made).toBe(1);
    expect(got.every((v) => v === 'v')).toBe(true);
  });
});
