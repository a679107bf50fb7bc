/**
 * A small shop API that uses every feature of express-response-cache. Each route says in
 * a comment which feature it shows; README.md has curl lines for all of them.
 *
 * The cache is mounted per route, not app-wide: every route picks its own options, and
 * routes that must never be cached (/stats, /health/cache, the mutations) simply do not
 * mount it. (An app-wide `app.use(cache.middleware())` would work too: a route-level
 * middleware of the same cache takes over from it, so the route's options still win.)
 */

import express, { type ErrorRequestHandler, type Express, type Response } from 'express';
import { CounterUnavailableError, getRequestCache, type ExpressResponseCache, type InvalidateTarget } from '../middleware';
import { SlowDb, type Category, type Product, type ProductPatch } from './db';

export interface AppOptions {
  cache: ExpressResponseCache;
  /** Simulated latency of every database call, in ms. @default 50 */
  dbDelayMs?: number;
}

/** Reviews one user may post in a minute (a fixed window, cache.counters). */
export const REVIEWS_PER_MINUTE = 3;

const GREETINGS: Record<string, string> = {
  en: 'Welcome to the shop!',
  fr: 'Bienvenue dans la boutique !',
  de: 'Willkommen im Shop!',
};

export function createApp({ cache, dbDelayMs = 50 }: AppOptions): Express {
  const db = new SlowDb(dbDelayMs);
  const app = express();
  app.disable('x-powered-by');
  app.locals.db = db; // for tests: db.calls counts what the cache did not save
  app.use(express.json());

  // The value cache: data, not responses, on the same store, tags and invalidation.
  // The category list rarely changes: one entry, an hour, dropped with the 'categories' tag.
  const categoryValues = cache.values<Category[]>('categories', { ttl: 3600 });
  const allCategories = (): Promise<Category[]> => categoryValues.getOrSet('all', () => db.listCategories(), { tags: ['categories'] });
  // Product rows, as a handler reads them: one value per product, tagged like its pages, so
  // the PUT that drops /products/7 drops the row too. A product that does not exist (undefined)
  // is never cached.
  const productRows = cache.values<Product>('products', { ttl: 600 });
  const productRow = (id: number): Promise<Product | undefined> => productRows.getOrSet(String(id), () => db.get(id), { tags: [`product:${id}`] });
  // A cached function: a category's picks, by argument, tagged like the catalog pages, so the
  // same PUT that drops the pages drops these too.
  const picksFor = cache.cached(async (category: string): Promise<Product[]> => (await db.list({ category, limit: 3 })).items, {
    namespace: 'picks',
    key: (category) => category,
    ttl: 300,
    tags: (category) => ['catalog', `category:${category}`],
  });

  // Paged, filtered list. Tagged 'catalog' so any product change drops every page at once.
  // Tracking parameters (utm_*, fbclid) are left out of the key: ?utm_source=x is a HIT too.
  // For 30 s past expiry a stale page is served (X-Cache: STALE) while one request refreshes it.
  app.get('/products', cache.middleware({ tags: () => ['catalog'], query: { ignore: ['utm_*', 'fbclid'] }, staleWhileRevalidate: 30 }), async (req, res) => {
    const page = intParam(req.query.page, 1);
    const limit = intParam(req.query.limit, 20);
    if (page === undefined || limit === undefined) return badRequest(res, 'page and limit must be positive whole numbers');
    res.json(await db.list({ page, limit, category: strParam(req.query.category), q: strParam(req.query.q) }));
  });

  // Per-route options: details stay fresh 15 minutes and carry a product tag, so a change
  // to one product drops just its own entries. Every hit has an ETag: send it back in
  // If-None-Match and the answer is a 304 with no body.
  app.get('/products/:id', cache.middleware({ ttl: 900, tags: (req) => [`product:${req.params.id}`] }), async (req, res) => {
    const id = parseId(req.params.id);
    const product = id && (await productRow(id));
    if (!product) return notFound(res); // a 404 is not stored
    res.json(product);
  });

  // res.locals.cache.skip(): stock changes outside this API too (the warehouse restocks),
  // so a "sold out" answer is never stored: the restock shows on the very next request.
  // In-stock answers are cached for 10 s.
  app.get('/products/:id/stock', cache.middleware({ ttl: 10, tags: (req) => [`product:${req.params.id}`] }), async (req, res) => {
    const id = parseId(req.params.id);
    const product = id && (await db.get(id));
    if (!product) return notFound(res);
    if (product.stock === 0) getRequestCache(res).skip();
    res.json({ id: product.id, inStock: product.stock > 0, stock: product.stock });
  });

  // cache.invalidates(): on a 2xx answer the product's entries and every catalog page are
  // gone *before* the client sees the answer, so its next GET reads the new data. A 400 or
  // 404 invalidates nothing.
  const dropProduct = cache.invalidates((req): InvalidateTarget => ({ tags: [`product:${req.params.id}`, 'catalog'] }));

  app.put('/products/:id', dropProduct, async (req, res) => {
    const id = parseId(req.params.id);
    if (!id) return notFound(res);
    const patch = parsePatch(req.body);
    if (typeof patch === 'string') return badRequest(res, patch);
    const product = await db.update(id, patch);
    if (!product) return notFound(res);
    res.json(product);
  });

  app.delete('/products/:id', dropProduct, async (req, res) => {
    const id = parseId(req.params.id);
    if (!id || !(await db.remove(id))) return notFound(res);
    res.status(204).end();
  });

  // Freshness stated by the response itself: Cache-Control: max-age=3600 is kept as the
  // entry's TTL (the cache's default ttl is only for responses that say nothing).
  app.get('/categories', cache.middleware({ tags: () => ['categories'] }), async (_req, res) => {
    res.set('Cache-Control', 'public, max-age=3600');
    res.json(await db.listCategories());
  });

  // res.locals.cache.ttl() and .tag(): what only the handler knows. Featured categories are
  // cached longer; the page is tagged with every product it lists (known only after the
  // query), so updating one of them drops this page too.
  app.get('/categories/:slug', cache.middleware(), async (req, res) => {
    const slug = strParam(req.params.slug);
    const category = (await allCategories()).find((c) => c.slug === slug);
    if (!category) return notFound(res);
    const { items } = await db.list({ category: category.slug, limit: 50 });
    getRequestCache(res).ttl(category.featured ? 600 : 120);
    getRequestCache(res).tag(`category:${category.slug}`, ...items.map((p) => `product:${p.id}`));
    res.json({ category, products: items });
  });

  // Response Vary: one entry per Accept-Language, so a French client never gets the
  // English greeting from the cache.
  app.get('/greeting', cache.middleware({ ttl: 3600 }), (req, res) => {
    const language = req.acceptsLanguages('en', 'fr', 'de') || 'en';
    res.set('Vary', 'Accept-Language');
    res.set('Content-Language', language);
    res.json({ language, message: GREETINGS[language] });
  });

  // Personalised: the answer is the user's alone, so no response cache here (and
  // Cache-Control: private would keep it out of a shared cache anyway). What it is built
  // from is the same for everyone: cached as values (cache.values, cache.cached).
  app.get('/recommendations', async (req, res) => {
    const user = req.get('x-user-id');
    if (!user) return badRequest(res, 'send an X-User-Id header');
    const categories = await allCategories();
    const favourite = categories[hashOf(user) % categories.length];
    res.set('Cache-Control', 'private, no-store');
    res.json({ user, category: favourite.slug, products: await picksFor(favourite.slug) });
  });

  // A fixed-window rate limit on the same store (cache.counters): 3 reviews a minute per
  // user. The first review opens the window and later ones never push its end forward.
  // With the store down an increment rejects: this route fails open (a review is harmless);
  // a login route would fail closed with a 503 instead.
  const reviewRate = cache.counters('review-rate', { ttl: 60 });
  app.post('/products/:id/reviews', async (req, res) => {
    const user = req.get('x-user-id');
    if (!user) return badRequest(res, 'send an X-User-Id header');
    const id = parseId(req.params.id);
    if (id === undefined || !(await productRow(id))) return notFound(res);
    let used: number | undefined;
    try {
      used = await reviewRate.increment(user);
    } catch (err) {
      if (!(err instanceof CounterUnavailableError)) throw err;
    }
    if (used !== undefined && used > REVIEWS_PER_MINUTE) {
      res
        .status(429)
        .set('Retry-After', '60')
        .json({ error: `at most ${REVIEWS_PER_MINUTE} reviews a minute` });
      return;
    }
    res.status(201).json({ product: id, user, remaining: used === undefined ? null : REVIEWS_PER_MINUTE - used });
  });

  // Manual invalidation, e.g. from a back office: { tags?, paths?, prefixes?, keys? }.
  // Protect such a route in a real app.
  app.post('/admin/cache/invalidate', async (req, res) => {
    try {
      res.json({ removed: await cache.invalidate(req.body ?? {}) });
    } catch (err) {
      if (err instanceof TypeError) return badRequest(res, err.message);
      throw err;
    }
  });

  // The cache's counters: hits, misses, stale, bypasses, stores, invalidations, errors, hitRatio.
  app.get('/stats', (_req, res) => {
    // Indented and ending in a newline: curl's output does not run into the next command's.
    res
      .set('Cache-Control', 'no-store')
      .type('json')
      .send(`${JSON.stringify(cache.stats(), null, 2)}\n`);
  });

  // The same counters in Prometheus text format, for a scraper.
  app.get('/metrics', (_req, res) => {
    res.set('Cache-Control', 'no-store').type('text/plain; version=0.0.4').send(cache.prometheus());
  });

  // For a load balancer or an orchestrator: isAvailable is false while the circuit breaker
  // keeps a failing store out; ping() asks the store now (true or false, never throws).
  // The app keeps answering either way (X-Cache: BYPASS): this reports, it does not gate.
  app.get('/health/cache', async (_req, res) => {
    const ping = await cache.ping();
    res
      .status(ping ? 200 : 503)
      .set('Cache-Control', 'no-store')
      .json({ available: cache.isAvailable, ping });
  });

  app.use((_req, res) => notFound(res));
  app.use(((err, _req, res, _next) => {
    const status = typeof err?.status === 'number' && err.status >= 400 && err.status < 600 ? err.status : 500;
    if (status >= 500) console.error(err);
    res.status(status).json({ error: status >= 500 ? 'internal error' : String(err?.message ?? err) });
  }) as ErrorRequestHandler);

  return app;
}

/**
 * Only canonical ids ("7", not "007"): each product has one URL and so one set of entries
 * (the detail's tag is built from the raw param).
 */
function parseId(raw: unknown): number | undefined {
  return typeof raw === 'string' && /^[1-9][0-9]{0,8}$/.test(raw) ? Number(raw) : undefined;
}

/** A small stable hash (FNV-1a), to give each user a favourite category. */
function hashOf(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

function intParam(v: unknown, fallback: number): number | undefined {
  if (v === undefined) return fallback;
  return typeof v === 'string' && /^[1-9][0-9]{0,5}$/.test(v) ? Number(v) : undefined;
}

function strParam(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function parsePatch(body: unknown): ProductPatch | string {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return 'send a JSON object';
  const patch: ProductPatch = {};
  for (const [name, value] of Object.entries(body)) {
    if (name === 'name' || name === 'description') {
      if (typeof value !== 'string' || value.trim() === '') return `${name} must be a non-empty string`;
      patch[name] = value;
    } else if (name === 'price' || name === 'stock') {
      if (!Number.isSafeInteger(value) || (value as number) < 0) return `${name} must be a whole number >= 0`;
      patch[name] = value as number;
    } else {
      return `unknown field "${name}" (name, description, price and stock can change)`;
    }
  }
  return patch;
}

function notFound(res: Response): void {
  res.status(404).json({ error: 'not found' });
}

function badRequest(res: Response, message: string): void {
  res.status(400).json({ error: message });
}
