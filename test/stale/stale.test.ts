import type express from 'express';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createCache } from '../../middleware';
import { EXPRESSES } from '../helpers/express';
import { sleep, until } from '../helpers/wait';

const flavours = EXPRESSES.map(([name, make]) => [name, make] as const);

async function listen(app: express.Express): Promise<{ url: string; server: Server }> {
  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

describe.each(flavours)('stale entries on %s', (_name, makeExpress) => {
  let now: number;
  let server: Server;
  let url: string;
  let calls: number;
  let mode: 'ok' | 'slow' | '500' | 'throw';
  let slowDone: boolean;
  let cache: ReturnType<typeof createCache>;

  async function setup(options: Parameters<typeof createCache>[0], cacheControl?: string) {
    now = Date.parse('2026-01-01T00:00:00Z');
    calls = 0;
    mode = 'ok';
    cache = createCache({ ttl: 10, jitter: 0, ...options }, { now: () => now });
    const app = makeExpress();
    app.use(cache.middleware());
    app.get('/item', async (_req, res, next) => {
      calls++;
      const n = calls;
      if (mode === 'slow') {
        slowDone = false;
        await sleep(1000);
        slowDone = true;
      }
      if (mode === 'throw') return next(new Error('origin down'));
      if (mode === '500') return res.status(500).send('origin error');
      if (cacheControl) res.set('Cache-Control', cacheControl);
      res.json({ n });
    });
    ({ server, url } = await listen(app));
  }

  afterEach(async () => {
    await new Promise((r) => server.close(r));
    await cache.close();
  });

  describe('when stale-while-revalidate applies', () => {
    it('should answer STALE without waiting for the origin, refresh once, then serve the new body', async () => {
      await setup({ staleWhileRevalidate: 60 });
      expect(await (await fetch(`${url}/item`)).json()).toEqual({ n: 1 });
      now += 11_000;
      mode = 'slow';
      const answers = await Promise.all(Array.from({ length: 10 }, () => fetch(`${url}/item`)));
      // every stale answer arrived while the slow origin (1 s) was still refreshing
      expect(slowDone).toBe(false);
      for (const a of answers) {
        expect(a.headers.get('x-cache')).toBe('STALE');
        expect(await a.json()).toEqual({ n: 1 });
      }
      await until(() => slowDone);
      await sleep(50);
      expect(calls).toBe(2); // exactly one refresh for ten stale answers
      const fresh = await fetch(`${url}/item`);
      expect(fresh.headers.get('x-cache')).toBe('HIT');
      expect(await fresh.json()).toEqual({ n: 2 });
    });

    it('should keep serving the stale entry when the refresh fails', async () => {
      await setup({ staleWhileRevalidate: 60 });
      await fetch(`${url}/item`);
      now += 11_000;
      mode = '500';
      const first = await fetch(`${url}/item`);
      expect(first.headers.get('x-cache')).toBe('STALE');
      await sleep(100);
      const again = await fetch(`${url}/item`);
      expect(again.headers.get('x-cache')).toBe('STALE');
      expect(await again.json()).toEqual({ n: 1 });
      now += 60_000; // past the window: the origin answers
      const late = await fetch(`${url}/item`);
      expect(late.status).toBe(500);
    });

    it("should take the window from the response's own Cache-Control (RFC 5861)", async () => {
      await setup({ staleWhileRevalidate: 0 }, 'max-age=10, stale-while-revalidate=30');
      await fetch(`${url}/item`);
      now += 15_000;
      expect((await fetch(`${url}/item`)).headers.get('x-cache')).toBe('STALE');
    });
  });

  describe('when stale-if-error applies', () => {
    it.each([['500'], ['throw']] as const)('should serve the stale entry when the handler answers %s', async (failure) => {
      await setup({ staleIfError: 60 });
      await fetch(`${url}/item`);
      now += 11_000;
      mode = failure;
      const answer = await fetch(`${url}/item`);
      expect(answer.status).toBe(200);
      expect(answer.headers.get('x-cache')).toBe('STALE');
      expect(answer.headers.get('content-type')).toMatch(/application\/json/);
      expect(await answer.json()).toEqual({ n: 1 });
      expect(calls).toBe(2);
    });

    it('should let a good answer replace the stale entry', async () => {
      await setup({ staleIfError: 60 });
      await fetch(`${url}/item`);
      now += 11_000;
      const answer = await fetch(`${url}/item`);
      expect(answer.headers.get('x-cache')).toBe('MISS');
      expect(await answer.json()).toEqual({ n: 2 });
    });

    it('should not serve stale past the window', async () => {
      await setup({ staleIfError: 5 });
      await fetch(`${url}/item`);
      now += 16_000;
      mode = '500';
      expect((await fetch(`${url}/item`)).status).toBe(500);
    });
  });
});
