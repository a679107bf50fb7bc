/**
 * Issue 22: targeted Cache-Control (RFC 9213). With `targetedField`, a valid targeted field
 * decides this cache's storability and freshness instead of Cache-Control and Expires, and
 * is not sent to clients unless `forwardTargetedField`. Each handler counts its calls and
 * names them in its body, so a replay shows.
 */

import type { Express, Response } from 'express';
import { createCache, type ExpressCacheOptions } from '../../middleware';
import { forEachExpress } from '../helpers/express';
import { closeAfterEach, send, serve, TestClock, track } from '../helpers/http';

closeAfterEach();

forEachExpress((express) => {
  async function start(options: ExpressCacheOptions, set: (res: Response) => void) {
    const clock = new TestClock();
    const cache = track(createCache({ jitter: 0, ...options }, clock));
    const app: Express = express();
    let calls = 0;
    app.use(cache.middleware());
    app.get('/t', (_req, res) => {
      calls++;
      set(res);
      res.send(`call ${calls}`);
    });
    const { url } = await serve(app);
    return { url, clock, calls: () => calls };
  }

  describe('when the targeted field is valid (RFC 9213 §2.2)', () => {
    it.each(['App-Cache-Control', 'CDN-Cache-Control', 'app-cache-control'])(
      'should keep the page for %s while browsers get Cache-Control: no-cache, and not send the field on',
      async (field) => {
        const { url, calls } = await start({ targetedField: field }, (res) => res.set('Cache-Control', 'no-cache').set(field, 'max-age=300'));
        const a = await send(url, '/t');
        const b = await send(url, '/t');
        expect([a.xCache, a.text, b.xCache, b.text, calls()]).toEqual(['MISS', 'call 1', 'HIT', 'call 1', 1]);
        expect([a.headers['cache-control'], b.headers['cache-control']]).toEqual(['no-cache', 'no-cache']);
        expect([a.headers[field.toLowerCase()], b.headers[field.toLowerCase()]]).toEqual([undefined, undefined]);
      },
    );

    it('should send the field on with forwardTargetedField: true, on the miss and on hits', async () => {
      const { url, calls } = await start({ targetedField: 'CDN-Cache-Control', forwardTargetedField: true }, (res) =>
        res.set('Cache-Control', 'no-cache').set('CDN-Cache-Control', 'max-age=300'),
      );
      const a = await send(url, '/t');
      const b = await send(url, '/t');
      expect([a.headers['cdn-cache-control'], b.headers['cdn-cache-control'], b.xCache, b.text, calls()]).toEqual([
        'max-age=300',
        'max-age=300',
        'HIT',
        'call 1',
        1,
      ]);
    });

    it('should take its lifetime over Cache-Control and a past Expires, and ask the handler once it is stale', async () => {
      const { url, clock, calls } = await start({ targetedField: 'App-Cache-Control' }, (res) =>
        res.set('Cache-Control', 'max-age=5').set('Expires', 'Tue, 01 Jan 2019 00:00:00 GMT').set('App-Cache-Control', 'max-age=60'),
      );
      const t0 = clock.t;
      await send(url, '/t');
      clock.t = t0 + 30_000; // past Cache-Control's max-age, within the targeted one
      const b = await send(url, '/t');
      clock.t = t0 + 61_000;
      const c = await send(url, '/t');
      // The second call's body differs, so its ETag does: a 200 that replaces the entry.
      expect([b.xCache, b.text, c.xCache, c.text, calls()]).toEqual(['HIT', 'call 1', 'MISS', 'call 2', 2]);
    });

    it.each([
      ['no-store', 'no-store'],
      ['private', 'private'],
      ['no-cache with a field list (an inner list reads as the bare directive)', 'no-cache=("set-cookie")'],
    ])('should not store a response whose targeted field says %s, whatever Cache-Control says', async (_name, value) => {
      const { url, calls } = await start({ targetedField: 'App-Cache-Control' }, (res) => {
        res.set('Cache-Control', 'public, max-age=600').set('App-Cache-Control', value);
        res.removeHeader('ETag');
      });
      const a = await send(url, '/t');
      const b = await send(url, '/t');
      expect([a.text, b.xCache, b.text, calls()]).toEqual(['call 1', 'MISS', 'call 2', 2]);
      expect(b.headers['cache-control']).toBe('public, max-age=600');
    });
  });

  describe('when the targeted field is invalid, empty or absent (RFC 9213 §2.1)', () => {
    it.each([
      ['not a dictionary', 'max-age=60,,'],
      ['upper case (keys are lower case)', 'MAX-AGE=60'],
      ['of the wrong type (a String max-age)', 'max-age="10000"'],
      ['of the wrong type (a Decimal max-age)', 'max-age=1.5'],
    ])('should ignore it when %s and follow Cache-Control', async (_name, value) => {
      const stored = await start({ targetedField: 'App-Cache-Control' }, (res) => res.set('Cache-Control', 'max-age=600').set('App-Cache-Control', value));
      await send(stored.url, '/t');
      const b = await send(stored.url, '/t');
      expect([b.xCache, b.text, stored.calls()]).toEqual(['HIT', 'call 1', 1]);
      const refused = await start({ targetedField: 'App-Cache-Control' }, (res) => res.set('Cache-Control', 'no-store').set('App-Cache-Control', value));
      await send(refused.url, '/t');
      const d = await send(refused.url, '/t');
      expect([d.xCache, d.text, refused.calls()]).toEqual(['MISS', 'call 2', 2]);
    });

    it('should follow Cache-Control when the response carries no targeted field', async () => {
      const { url, calls } = await start({ targetedField: 'App-Cache-Control' }, (res) => res.set('Cache-Control', 'no-store'));
      await send(url, '/t');
      const b = await send(url, '/t');
      expect([b.xCache, b.text, calls()]).toEqual(['MISS', 'call 2', 2]);
    });

    it('should ignore the field, and send it on, when targetedField is not set', async () => {
      const { url, calls } = await start({}, (res) => res.set('Cache-Control', 'no-store').set('App-Cache-Control', 'max-age=300'));
      await send(url, '/t');
      const b = await send(url, '/t');
      expect([b.xCache, b.text, b.headers['app-cache-control'], calls()]).toEqual(['MISS', 'call 2', 'max-age=300', 2]);
    });
  });

  describe('when the option is invalid', () => {
    it.each<[unknown]>([['Cache-Control'], ['cache-control'], ['App Cache'], [''], [5]])('should throw a TypeError naming targetedField for %j', (value) => {
      expect(() => createCache({ targetedField: value as string })).toThrow(TypeError);
      expect(() => createCache({ targetedField: value as string })).toThrow('targetedField');
    });

    it('should throw a TypeError naming forwardTargetedField for a non-boolean', () => {
      expect(() => createCache({ targetedField: 'CDN-Cache-Control', forwardTargetedField: 'yes' as unknown as boolean })).toThrow(/forwardTargetedField/);
    });
  });
});
