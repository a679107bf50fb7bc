/**
 * DEBUG=express-response-cache says once why a response was not stored (issue 23: a second
 * line, always "not kept (not storable, or over maxEntryBytes)", followed every first one).
 */

import { format } from 'node:util';
import createDebug from 'debug';
import { createCache } from '../../middleware';
import { forEachExpress } from '../helpers/express';
import { closeAfterEach, send, serve, track, until } from '../helpers/http';

closeAfterEach();

let lines: string[] = [];
const originalLog = createDebug.log;
let enabled: string;

beforeAll(() => {
  enabled = createDebug.disable();
  createDebug.enable('express-response-cache');
  createDebug.log = (...args: unknown[]) => void lines.push(format(...args));
});

afterAll(() => {
  createDebug.log = originalLog;
  createDebug.disable();
  if (enabled) createDebug.enable(enabled);
});

beforeEach(() => (lines = []));

forEachExpress((express) => {
  describe('when a response is not stored', () => {
    it.each([
      ['no-store', '/nostore', /not stored \S+\/nostore: Cache-Control: no-store$/],
      ['a 500', '/500', /not stored \S+\/500: status 500 is not stored without explicit freshness$/],
      ['a declared body over maxEntryBytes', '/big', /not stored \S+\/big: body of 100 bytes exceeds maxEntryBytes/],
      ['a streamed body over maxEntryBytes', '/stream', /not stored \S+\/stream: body over maxEntryBytes \(10 bytes\)$/],
    ])('should log one line for %s, with the reason', async (_name, path, reason) => {
      const cache = track(createCache());
      const app = express();
      app.get('/nostore', cache.middleware(), (_req, res) => res.set('Cache-Control', 'no-store').send('x'));
      app.get('/500', cache.middleware(), (_req, res) => res.status(500).send('x'));
      app.get('/big', cache.middleware({ maxEntryBytes: 10 }), (_req, res) => res.send('x'.repeat(100)));
      app.get('/stream', cache.middleware({ maxEntryBytes: 10 }), (_req, res) => {
        res.write('x'.repeat(8));
        res.end('y'.repeat(8));
      });
      const { url } = await serve(app);
      const reply = await send(url, path);
      expect(reply.headers['x-cache']).toBe('MISS');
      await until(() => lines.some((l) => l.includes('not stored')), 2_000);
      // The response's end and close both settle the capture: give a second line its chance.
      await send(url, '/none');
      const said = lines.filter((l) => l.includes('not stored'));
      expect(said).toHaveLength(1);
      expect(said[0]).toMatch(reason);
    });
  });
});
