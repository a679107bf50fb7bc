/**
 * express-session mounted before the cache sets its cookie from an on-headers hook, after
 * the handler has finished: a response that starts or changes a session must still not be
 * stored (its body is that visitor's), and a route that leaves the session alone is.
 */

import session from 'express-session';
import { createCache } from '../../middleware';
import { forEachExpress } from '../helpers/express';
import { closeAfterEach, send, serve, track } from '../helpers/http';

closeAfterEach();

declare module 'express-session' {
  interface SessionData {
    views: number;
  }
}

forEachExpress((express) => {
  async function start(saveUninitialized = false) {
    const cache = track(createCache({ jitter: 0 }));
    const app = express();
    const calls = { visit: 0, page: 0 };
    app.use(session({ secret: 'integration', resave: false, saveUninitialized, store: new session.MemoryStore() }));
    app.use(cache.middleware());
    app.get('/visit', (req, res) => {
      calls.visit++;
      req.session.views = (req.session.views ?? 0) + 1;
      res.send(`views ${req.session.views} for ${req.sessionID}`);
    });
    app.get('/page', (_req, res) => {
      calls.page++;
      res.send('the same for everyone');
    });
    const { url } = await serve(app);
    return { url, calls };
  }

  describe('when a response starts a session (express-session sets its cookie)', () => {
    it('should not store it, so the next visitor gets their own session and body', async () => {
      const { url, calls } = await start();
      const alice = await send(url, '/visit');
      const bob = await send(url, '/visit');
      expect(alice.headers['set-cookie']).toHaveLength(1);
      expect(bob.headers['set-cookie']).toHaveLength(1);
      expect(bob.headers['set-cookie']).not.toEqual(alice.headers['set-cookie']);
      expect(bob.text).not.toBe(alice.text);
      expect(bob.headers['x-cache']).toBe('MISS');
      expect(calls.visit).toBe(2);
    });

    it('should not store any response while saveUninitialized gives every new visitor a cookie', async () => {
      const { url, calls } = await start(true);
      const a = await send(url, '/page');
      const b = await send(url, '/page');
      expect(a.headers['set-cookie']).toHaveLength(1);
      expect(b.headers['set-cookie']).toHaveLength(1);
      expect(b.headers['set-cookie']).not.toEqual(a.headers['set-cookie']);
      expect(calls.page).toBe(2);
    });
  });

  describe('when a route leaves the session alone', () => {
    it('should store it and replay it without any cookie', async () => {
      const { url, calls } = await start();
      const a = await send(url, '/page');
      const b = await send(url, '/page');
      expect([a.headers['set-cookie'], b.headers['set-cookie']]).toEqual([undefined, undefined]);
      expect([b.text, b.headers['x-cache']]).toEqual(['the same for everyone', 'HIT']);
      expect(calls.page).toBe(1);
    });
  });
});
