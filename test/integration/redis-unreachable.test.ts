/**
 * An unreachable Redis, as a newcomer meets it (issue 23): the app answers, and what is
 * printed names the URL and the refused connection, at start and at the first request.
 */

import { createServer } from 'node:net';
import { createCache } from '../../middleware';
import { forEachExpress } from '../helpers/express';
import { closeAfterEach, send, serve, track, until } from '../helpers/http';

closeAfterEach();

/** A port nothing listens on. */
async function deadPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as { port: number };
  await new Promise((resolve) => s.close(resolve));
  return port;
}

forEachExpress((express) => {
  describe('when createCache({ redis }) cannot reach Redis', () => {
    it('should answer from the app and say, at start and at the first request, which URL refused the connection', async () => {
      const warn = jest.spyOn(console, 'warn').mockImplementation(() => {});
      try {
        const port = await deadPort();
        const cache = track(createCache({ redis: `redis://127.0.0.1:${port}` }));
        const refused = `cannot reach Redis at redis://127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port}`;
        // At start, before any request.
        await until(() => warn.mock.calls.length >= 1, 5_000);
        expect(String(warn.mock.calls[0][0])).toContain(`express-response-cache: ${refused}; retrying`);

        let calls = 0;
        const app = express();
        app.get('/products', cache.middleware(), (_req, res) => res.send(`list ${++calls}`));
        const { url } = await serve(app);
        const first = await send(url, '/products');
        const second = await send(url, '/products');
        expect([first.status, first.body.toString(), first.headers['x-cache']]).toEqual([200, 'list 1', 'BYPASS']);
        expect([second.status, second.body.toString(), second.headers['x-cache']]).toEqual([200, 'list 2', 'BYPASS']);
        // The first request's store error names the URL too, never ioredis's words alone.
        const printed = warn.mock.calls.map((c) => String(c[0]));
        expect(printed.slice(1).some((m) => m.includes(refused))).toBe(true);
        expect(printed.some((m) => /Stream isn't writeable/.test(m))).toBe(false);
        expect(printed.filter((m) => m.includes('; retrying'))).toHaveLength(1);
      } finally {
        warn.mockRestore();
      }
    });
  });
});
