/**
 * The soak's application: a small in-memory "database" of rows with version numbers,
 * shared in-process by every app instance (as two servers share one real database), and
 * the routes that read and write it through the cache's public API only.
 *
 * Every read handler takes its snapshot first, then sleeps a few ms, then answers the
 * snapshot, so reads race writes exactly as slow queries do. No handler ever fails: any
 * 5xx or dropped connection the clients see is the cache's doing.
 */

import type { Request, Response } from 'express';
import { createCache, type ExpressCacheOptions } from '../../middleware';
import { engineOf } from '../../src/cache';
import type { ExpressFactory } from '../helpers/express';
import { listen, type Instance } from '../redis/instances';
import { sleep } from '../helpers/wait';

export const PAGE_SIZE = 10;
const jitterMs = (min: number, max: number): number => min + Math.floor(Math.random() * (max - min + 1));

/** The database: row id → version (starts at 1, bumped by every PUT). */
export class Db {
  readonly versions = new Map<number, number>();
  /** How long a row or list read sleeps after taking its snapshot, ms (min, max). */
  readDelay: [number, number] = [1, 5];
  /** Handler runs per route, counted to compare with X-Cache. */
  readonly calls = new Map<string, number>();

  constructor(rows: number) {
    for (let id = 1; id <= rows; id++) this.versions.set(id, 1);
  }

  get total(): number {
    return this.versions.size;
  }

  /** One page of the list as it is now: ids (page-1)*PAGE_SIZE+1 … that exist. */
  page(page: number): Array<{ id: number; version: number }> {
    const out: Array<{ id: number; version: number }> = [];
    for (let id = (page - 1) * PAGE_SIZE + 1; id <= page * PAGE_SIZE; id++) {
      const version = this.versions.get(id);
      if (version !== undefined) out.push({ id, version });
    }
    return out;
  }

  count(route: string): void {
    this.calls.set(route, (this.calls.get(route) ?? 0) + 1);
  }
}

/** Ids a list page shows (the tags the page carries, known from the request alone). */
export function pageIds(page: number): number[] {
  return Array.from({ length: PAGE_SIZE }, (_, i) => (page - 1) * PAGE_SIZE + 1 + i);
}

/** The user a request is made for: `Authorization: Bearer <u>`, else cookie `sid=<u>`. */
export function userOf(req: Request): string | undefined {
  const auth = req.headers.authorization;
  if (auth?.startsWith('Bearer ')) return auth.slice(7);
  const m = /(?:^|;\s*)sid=([^;]+)/.exec(req.headers.cookie ?? '');
  return m?.[1];
}

/** Tags of a cached GET, from its path (app-level middleware: no req.params yet). */
function tagsOf(req: Request): string[] {
  const row = /^\/rows\/(\d+)$/.exec(req.path);
  if (row) return [`row:${row[1]}`];
  if (req.path === '/rows') {
    const page = Number(req.query.page ?? 1);
    return ['rows', ...(Number.isInteger(page) && page > 0 ? pageIds(page).map((id) => `row:${id}`) : [])];
  }
  return [];
}

/** The options both instances share (the store part is given by the run). */
export function cacheOptions(namespace: string, store: ExpressCacheOptions): ExpressCacheOptions {
  return {
    namespace,
    // Short enough that entries expire and go stale during a run; stale copies are then
    // served while one request refreshes them, which the oracle checks too.
    ttl: 4,
    staleWhileRevalidate: 2,
    jitter: 0.2,
    tags: tagsOf,
    ...store,
  };
}

export interface SoakInstance extends Instance {
  /** Error codes the cache reported to onError, counted. */
  readonly errors: Map<string, number>;
  /** Invalidations kept for a store the cache could not reach, not yet applied. */
  readonly kept: () => number;
}

/** One app instance: its own cache (on the given options) and its own server on 127.0.0.1. */
export async function startInstance(name: string, express: ExpressFactory, db: Db, options: ExpressCacheOptions): Promise<SoakInstance> {
  const errors = new Map<string, number>();
  const cache = createCache({ ...options, onError: (err) => errors.set(err.code, (errors.get(err.code) ?? 0) + 1) });
  const app = express();
  // Behind a proxy: req.protocol follows X-Forwarded-Proto, as on most deployments.
  app.set('trust proxy', true);
  // A session and cookie layer before the cache (express-session, cookie-parser): what it
  // sets is per user, but reading it there does not count; a handler reading it does.
  app.use((req: Request, _res: Response, next: () => void) => {
    const sid = /(?:^|;\s*)sid=([^;]+)/.exec(req.headers.cookie ?? '')?.[1];
    // Set as plain properties (express-session's types are in scope and want a whole Session).
    Object.assign(req, { cookies: sid === undefined ? {} : { sid }, session: { user: sid } });
    next();
  });
  app.use(cache.middleware());

  app.get('/rows/:id', async (req: Request, res: Response) => {
    db.count('GET /rows/:id');
    const id = Number(req.params.id);
    const version = db.versions.get(id);
    await sleep(jitterMs(...db.readDelay));
    if (version === undefined) res.status(404).json({ kind: 'row', id, missing: true });
    else res.json({ kind: 'row', id, version });
  });

  app.get('/rows', async (req: Request, res: Response) => {
    db.count('GET /rows');
    const page = Number(req.query.page ?? 1);
    const snapshot = { kind: 'list', page, total: db.total, rows: db.page(page) };
    await sleep(jitterMs(...db.readDelay));
    res.json(snapshot);
  });

  // Tags for the row and every list page showing it; the §4.4 unsafe-method rule adds the
  // path /rows/:id itself. Both complete before the 200 is sent (read-your-writes).
  app.put(
    '/rows/:id',
    cache.invalidates((req) => ({ tags: [`row:${req.params.id}`] })),
    async (req: Request, res: Response) => {
      db.count('PUT /rows/:id');
      const id = Number(req.params.id);
      await sleep(jitterMs(0, 2));
      const version = (db.versions.get(id) ?? 0) + 1;
      db.versions.set(id, version);
      res.json({ id, version });
    },
  );

  // No explicit invalidation: RFC 9111 §4.4 alone must drop every variant of /rows.
  app.post('/rows', async (_req: Request, res: Response) => {
    db.count('POST /rows');
    await sleep(jitterMs(0, 2));
    const id = db.total + 1;
    db.versions.set(id, 1);
    res.json({ id, version: 1, total: db.total });
  });

  // Per user, said so: `private` (cookie) or the request's Authorization keeps it out.
  app.get('/me', async (req: Request, res: Response) => {
    db.count('GET /me');
    const user = userOf(req);
    await sleep(jitterMs(1, 3));
    res.set('Cache-Control', 'private').json({ kind: 'me', user });
  });

  // Per user and shared: stored once per cookie value through Vary (RFC 9111 §4.1).
  app.get('/me/vary', async (req: Request, res: Response) => {
    db.count('GET /me/vary');
    const user = userOf(req);
    await sleep(jitterMs(1, 3));
    res.vary('Cookie').json({ kind: 'me', user });
  });

  // Built from the Host the app sees (absolute links, tenants): must never cross hosts.
  app.get('/host', async (req: Request, res: Response) => {
    db.count('GET /host');
    const host = req.hostname;
    await sleep(jitterMs(1, 3));
    res.json({ kind: 'host', host, link: `http://${host}/reset` });
  });

  // Per user without saying so (no private, no Vary): the cache must notice the read.
  app.get('/whoami/session', async (req: Request, res: Response) => {
    db.count('GET /whoami');
    const user = (req as unknown as { session?: { user?: string } }).session?.user;
    await sleep(jitterMs(1, 3));
    res.json({ kind: 'me', user });
  });
  app.get('/whoami/cookies', async (req: Request, res: Response) => {
    db.count('GET /whoami');
    const user = (req as unknown as { cookies?: Record<string, string> }).cookies?.sid;
    await sleep(jitterMs(1, 3));
    res.json({ kind: 'me', user });
  });
  // shareAuthorized: requests with Authorization read the cache; the answer reads it, so it is per user.
  app.get('/whoami/auth', cache.middleware({ shareAuthorized: true }), async (req: Request, res: Response) => {
    db.count('GET /whoami');
    const user = req.headers.authorization?.replace(/^Bearer /, '');
    await sleep(jitterMs(1, 3));
    res.json({ kind: 'me', user });
  });

  // Built from the scheme the app sees (absolute links): never across schemes.
  app.get('/scheme', async (req: Request, res: Response) => {
    db.count('GET /scheme');
    await sleep(jitterMs(1, 3));
    res.json({ kind: 'scheme', protocol: req.protocol, link: `${req.protocol}://${req.hostname}/` });
  });

  // Reflects the request target as the app sees it (absolute form, fragment and all).
  app.get('/reflect', async (req: Request, res: Response) => {
    db.count('GET /reflect');
    await sleep(jitterMs(1, 3));
    res.json({ kind: 'reflect', url: req.originalUrl });
  });

  const instance = await listen(name, app, cache);
  const guarded = engineOf(cache).guarded;
  return { ...instance, errors, kept: () => guarded.pendingInvalidations };
}
