/**
 * A Vary added after the handler (a middleware mounted before the cache, from an
 * on-headers hook) decides what the entry is stored under: bob never gets the body made
 * for alice (issue: the late re-check covered Set-Cookie, private and no-store, not Vary).
 */

import onHeaders from 'on-headers';
import { createCache } from '../../middleware';
import { forEachExpress } from '../helpers/express';
import { closeAfterEach, send, serve, track, until } from '../helpers/http';

closeAfterEach();

forEachExpress((express) => {
  async function start() {
    const cache = track(createCache({ jitter: 0 }));
    const app = express();
    let calls = 0;
    // Mounted before the cache: it adds Vary: Cookie when the headers go out.
    app.use((_req, res, next) => {
      onHeaders(res, () => res.setHeader('Vary', 'Cookie'));
      next();
    });
    app.use(cache.middleware());
    app.get('/greeting', (req, res) => {
      calls++;
      const user = /u=(\w+)/.exec(req.headers.cookie ?? '')?.[1] ?? 'nobody';
      res.send(`for u=${user}`);
    });
    const { url } = await serve(app);
    return { url, cache, calls: () => calls };
  }

  describe('when a middleware before the cache adds Vary after the handler', () => {
    it('should store the response under the variant the final Vary picks', async () => {
      const { url, cache, calls } = await start();
      const alice = await send(url, '/greeting', { headers: { Cookie: 'u=alice' } });
      expect(alice.text).toBe('for u=alice');
      await until(() => cache.stats().stores === 1);
      const bob = await send(url, '/greeting', { headers: { Cookie: 'u=bob' } });
      expect([bob.text, bob.headers['x-cache']]).toEqual(['for u=bob', 'MISS']);
      const aliceAgain = await send(url, '/greeting', { headers: { Cookie: 'u=alice' } });
      expect([aliceAgain.text, aliceAgain.headers['x-cache']]).toEqual(['for u=alice', 'HIT']);
      expect(aliceAgain.headers.vary).toBe('Cookie');
      expect(calls()).toBe(2);
    });
  });
});
